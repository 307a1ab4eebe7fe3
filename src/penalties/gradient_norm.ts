/**
 * Tulip's Lipschitz penalty (Finlay, Oberman & Abbasi, 2018): `lambda * max_i ||grad_x loss(x_i)||_*^2`
 * over the batch (or the mean), by double back-propagation or by finite differences along the
 * gradient's direction. Formula, the dual norms, defaults and sources: docs/training_methods.md#gradient-norm.
 *
 * References: C. Finlay, A. Oberman, B. Abbasi, "Improved robustness to adversarial examples using
 * Lipschitz regularization of the loss", arXiv:1810.00953; github.com/cfinlay/tulip.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { configError } from '../core/errors';
import { checkKnownKeys, checkOneOf, checkPositiveFinite, optionNames } from '../core/validation';
import { flatRows, makePenalty, modelFunction, squaredRowNorms, stopGradient, type PenaltyNorm } from './common';
import { checkSecondOrder } from './second_order';
import type { PenaltyCallContext, PenaltyFunction } from './types';

/** Options of `lip.penalties.gradientNorm` (Tulip's flags in brackets). */
export interface GradientNormArgs {
  /** Weight of the term (`--lip`); default 0.1 (Tulip's best models, its README). */
  lambda?: number;
  /**
   * Norm of the input gradient: the dual of the threat model's norm (`--norm`): 'l2' (default) for
   * l2 attacks, 'l1' for linf attacks (FGSM, PGD-linf), 'linf' for l1 attacks.
   */
  norm?: PenaltyNorm;
  /** Over the batch: 'max' (default: the Lipschitz estimate of the seed) or 'mean'. */
  reduce?: 'max' | 'mean';
  /** 'finiteDifference' (default, Tulip's code) or 'exact' (double back-propagation, checked). */
  method?: 'exact' | 'finiteDifference';
  /** Finite-difference step (`--h`), an l2 length in input units; default 1e-2. */
  h?: number;
}

const GRADIENT_NORM_OPTIONS = optionNames<GradientNormArgs>({ lambda: true, norm: true, reduce: true, method: true, h: true });

/** The defaults (docs/training_methods.md gives the source of each). */
export const GRADIENT_NORM_DEFAULTS: Readonly<Required<GradientNormArgs>> = Object.freeze({
  lambda: 0.1,
  norm: 'l2',
  reduce: 'max',
  method: 'finiteDifference',
  h: 1e-2,
});

const OWNER = 'lip.penalties.gradientNorm';

/** `loss` as `[n]`, refusing a reduced loss (a mean over the batch has no per-sample gradient). */
function perSample(loss: tf.Tensor, n: number): tf.Tensor {
  if (loss.size !== n) configError(`${OWNER} loss`, `per-sample values [${n}] (an unreduced loss)`, loss);
  return tf.reshape(loss, [n]);
}

/** The per-sample losses `[n]` of a batch `x` against labels `y` (the step's labels by default). */
type LossRows = (x: tf.Tensor, y?: tf.Tensor) => tf.Tensor;

function resolveArgs(args: GradientNormArgs | undefined): Required<GradientNormArgs> {
  checkKnownKeys(OWNER, args, GRADIENT_NORM_OPTIONS);
  const a = { ...GRADIENT_NORM_DEFAULTS, ...Object.fromEntries(Object.entries(args ?? {}).filter(([, v]) => v !== undefined)) } as Required<GradientNormArgs>;
  checkPositiveFinite('lambda', a.lambda);
  checkOneOf('norm', a.norm, ['l2', 'l1', 'linf']);
  checkOneOf('reduce', a.reduce, ['max', 'mean']);
  checkOneOf('method', a.method, ['exact', 'finiteDifference']);
  checkPositiveFinite('h', a.h);
  return a;
}

/**
 * Per row of the (detached) gradient `g` [n, d]: the unit-l2 step direction `v` and the factor `s`
 * with `s * (g . v) = ||g||_*`: l2: v = g / ||g||_2, s = 1; l1: v = sign(g) / ||sign(g)||_2,
 * s = ||sign(g)||_2; linf: v = sign(g_j) e_j at j = argmax |g_j|, s = 1. Zero rows give v = 0.
 */
function dualDirection(g: tf.Tensor2D, norm: PenaltyNorm): { v: tf.Tensor2D; s: tf.Tensor1D } {
  return tf.tidy(() => {
    const n = g.shape[0];
    if (norm === 'linf') {
      const hot = tf.oneHot(tf.argMax(tf.abs(g), 1), g.shape[1]);
      return { v: tf.mul(tf.cast(hot, 'float32'), tf.sign(g)) as tf.Tensor2D, s: tf.ones([n]) as tf.Tensor1D };
    }
    const w = norm === 'l2' ? g : tf.sign(g);
    const len = tf.sqrt(tf.sum(tf.square(w), 1, true));
    const v = tf.div(w, tf.maximum(len, 1e-30)) as tf.Tensor2D;
    return { v, s: (norm === 'l2' ? tf.ones([n]) : tf.reshape(len, [n])) as tf.Tensor1D };
  });
}

/** ((l(x + h v) - l(x)) / h * s)^2 per sample, v from the detached gradient: `[n]`. */
function finiteDifferenceTerms(lossRows: LossRows, x: tf.Tensor, y: tf.Tensor, o: Required<GradientNormArgs>): tf.Tensor1D {
  return tf.tidy(() => {
    const n = x.shape[0] as number;
    const g = stopGradient(flatRows(tf.grad((xx: tf.Tensor) => tf.sum(lossRows(xx)))(x)));
    const { v, s } = dualDirection(g, o.norm);
    const xStep = tf.add(x, tf.reshape(tf.mul(v, o.h), x.shape));
    const losses = lossRows(tf.concat([x, xStep], 0), tf.concat([y, y], 0));
    const dl = tf.mul(tf.div(tf.sub(tf.slice(losses, n, n), tf.slice(losses, 0, n)), o.h), s);
    return tf.square(dl) as tf.Tensor1D;
  });
}

/** ||grad_x l(x_i)||_*^2 per sample by double back-propagation: `[n]`. */
function exactTerms(lossRows: LossRows, x: tf.Tensor, o: Required<GradientNormArgs>): tf.Tensor1D {
  return tf.tidy(() => squaredRowNorms(tf.grad((xx: tf.Tensor) => tf.sum(lossRows(xx)))(x), o.norm));
}

/**
 * Tulip's gradient-norm penalty for `lip.train.fit({penalties: [...]})`, logged as
 * `gradient_norm`. Costs per step, besides the training step's: one backward pass for the input
 * gradient and, with 'finiteDifference', one forward pass of 2n rows; with 'exact', the
 * double back-propagation (about two more backward passes) and, once per model, a check of tfjs'
 * second derivatives (docs/training_methods.md).
 */
export function gradientNorm(args?: GradientNormArgs): PenaltyFunction {
  const o = resolveArgs(args);
  const checked = new WeakSet<tfl.LayersModel>();
  const term = (ctx: PenaltyCallContext): tf.Scalar => {
    const f = modelFunction(OWNER, ctx.model);
    const lossRows: LossRows = (xx, yy = ctx.y) => perSample(ctx.loss(yy, f(xx)), xx.shape[0] as number);
    if (o.method === 'exact' && !checked.has(ctx.model)) {
      checkSecondOrder(OWNER, (xx) => tf.sum(lossRows(xx)) as tf.Scalar, ctx.x);
      checked.add(ctx.model);
    }
    return tf.tidy(() => {
      const rows = o.method === 'exact' ? exactTerms(lossRows, ctx.x, o) : finiteDifferenceTerms(lossRows, ctx.x, ctx.y, o);
      return tf.mul(o.reduce === 'max' ? tf.max(rows) : tf.mean(rows), o.lambda) as tf.Scalar;
    });
  };
  return makePenalty(term, {
    penaltyName: 'gradient_norm',
    onTrainBegin: (model: tfl.LayersModel) => void modelFunction(OWNER, model),
    config: () => ({ ...o }),
  });
}
