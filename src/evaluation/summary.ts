/**
 * `lip.evaluation.summary`: the robustness figures of a classifier on a test set, as reported by Tulip and
 * CLIP (issue 12):
 *
 * - `testError`: the fraction of test samples whose arg-max prediction is not the label;
 * - `lipschitzEstimate`: the empirical lower bound of the L2 Lipschitz constant around the test
 *   samples, `evaluateLipConst(model, x).value` (largest observed ratio / local Jacobian norm);
 * - `lipschitzBound`: the certified upper bound `lipschitzBound(model)`, the product of the
 *   layers' operator norms along the graph. It is chosen over the product of `computeModelSV`'s
 *   largest singular values because it certifies each norm from the weights in float64 (an upper
 *   bound, not a float32 estimate), follows functional graphs (residual additions,
 *   concatenations) instead of assuming a chain, bounds every tfjs-lip layer and the
 *   non-linear built-ins (`computeModelSV` reports `null` for them), and costs one spectral norm
 *   per layer instead of a Gram-matrix eigendecomposition;
 * - `nearestNeighbour`: when `xTrain`/`yTrain` are given, the mean and median over the test set of
 *   the L2 distance to the nearest training sample of another class
 *   (`lip.attacks.nearestNeighbourDistance`, Tulip's nearest-neighbour attack), a data-only upper
 *   bound on the minimal adversarial distance to compare with `certify`'s radii.
 *
 * lipschitzEstimate <= true constant <= lipschitzBound (up to float32 rounding of the estimate).
 *
 * References: Finlay & Oberman, Scaleable input gradient regularization for adversarial robustness
 * (2019), https://github.com/cfinlay/tulip; Bungert et al., CLIP: Cheap Lipschitz Training of
 * Neural Networks (SSVM 2021).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { configError } from '../core/errors';
import { checkKnownKeys, checkPositiveInt, optionNames } from '../core/validation';
import { checkModelArgument } from '../model/model_argument';
import { lipschitzBound } from '../model/bound';
import { checkBatch, labelIndices, logitsOf, targetFunction } from '../attacks/common';
import { nearestNeighbourDistance } from '../attacks/nearest_neighbour';
import { sliceRows } from '../attacks/robust_accuracy';
import { evaluateLipConst, type EvaluateLipConstArgs } from './lip_const';

/** Options of `summary`. */
export interface SummaryArgs {
  /** Test samples [n, ...inputShape]. */
  x: tf.Tensor;
  /** Test labels: class indices [n] or one-hot [n, classes]. */
  y: tf.Tensor;
  /** Training samples, for the nearest-neighbour distances (with `yTrain`). */
  xTrain?: tf.Tensor;
  /** Training labels (indices or one-hot), with `xTrain`. */
  yTrain?: tf.Tensor;
  /** Samples pushed through the model at once. Default 128. */
  batchSize?: number;
  /** Options of the empirical estimate (`evaluateLipConst`); its `batchSize` defaults to the one above. */
  lipConst?: EvaluateLipConstArgs;
}

/** The result of `summary`: plain numbers. */
export interface EvaluationSummary {
  /** Number of test samples. */
  samples: number;
  /** Fraction of misclassified test samples. */
  testError: number;
  /** Empirical lower bound of the Lipschitz constant around the test samples (`evaluateLipConst`). */
  lipschitzEstimate: number;
  /** Certified upper bound of the Lipschitz constant (`lipschitzBound`). */
  lipschitzBound: number;
  /** Mean and median distance to the nearest training sample of another class; null without training data. */
  nearestNeighbour: { mean: number; median: number } | null;
}

const SUMMARY_OPTIONS = optionNames<SummaryArgs>({ x: true, y: true, xTrain: true, yTrain: true, batchSize: true, lipConst: true });

/** Fraction of samples of `x` whose arg-max prediction differs from `labels`, in batches. */
function errorRate(model: tfl.LayersModel, x: tf.Tensor, labels: Int32Array, batchSize: number): number {
  const f = targetFunction('summary', model);
  const n = x.shape[0] as number;
  let wrong = 0;
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    const predicted = tf.tidy(() => tf.argMax(logitsOf('summary', f, sliceRows(x, start, size)), 1));
    predicted.dataSync().forEach((p, i) => {
      if (p !== labels[start + i]) wrong++;
    });
    predicted.dispose();
  }
  return wrong / n;
}

/** Mean and median of a list of distances. */
function meanAndMedian(values: Float64Array): { mean: number; median: number } {
  const sorted = Float64Array.from(values).sort();
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { mean: values.reduce((s, v) => s + v, 0) / values.length, median };
}

/**
 * Test error, empirical and certified Lipschitz constants, and (with training data) the
 * nearest-neighbour distances of `model` on `x`, `y` (see the module comment for each figure and
 * why the certified bound is `lipschitzBound`). Cost: one forward pass of x, the
 * `evaluateLipConst` run (by default 10 ascent steps with classes vector-Jacobian products each:
 * pass `lipConst: {method: 'random'}` for a cheaper one), one spectral norm per layer, and
 * nTest * nTrain * dim multiply-adds for the nearest neighbours.
 *
 * References: Finlay & Oberman (2019), Tulip; Bungert et al. (SSVM 2021), CLIP.
 */
export function summary(model: tfl.LayersModel, args: SummaryArgs): EvaluationSummary {
  checkModelArgument('summary', model);
  if (args === undefined) configError('summary options', 'an object {x, y, xTrain?, yTrain?, batchSize?, lipConst?}', args);
  checkKnownKeys('summary', args, SUMMARY_OPTIONS);
  const batchSize = checkPositiveInt('summary batchSize', args.batchSize ?? 128);
  const x = checkBatch('summary', 'x', args.x);
  const n = x.shape[0] as number;
  const classes = tf.tidy(() => logitsOf('summary', targetFunction('summary', model), sliceRows(x, 0, 1)).shape[1]);
  const labels = labelIndices('summary y', args.y, n, classes);
  if ((args.xTrain === undefined) !== (args.yTrain === undefined)) {
    configError('summary xTrain/yTrain', 'both or neither', args.xTrain === undefined ? 'yTrain only' : 'xTrain only');
  }
  const nearest = args.xTrain !== undefined && args.yTrain !== undefined ? meanAndMedian(nearestNeighbourDistance(x, args.y, args.xTrain, args.yTrain, { batchSize })) : null;
  return {
    samples: n,
    testError: errorRate(model, x, labels, batchSize),
    lipschitzEstimate: evaluateLipConst(model, x, { batchSize, ...args.lipConst }).value,
    lipschitzBound: lipschitzBound(model),
    nearestNeighbour: nearest,
  };
}
