/**
 * What every tfjs-lip loss shares: the reduction, the callable-with-a-name shape tfjs
 * `model.compile` accepts, label helpers and parameter checks.
 *
 * tfjs-layers' `fit`/`evaluate` call a custom loss as `loss(yTrue, yPred)` and take `tf.mean` of
 * what it returns. A loss that returns the scalar `'mean'` (or `'sum'`) reduction therefore logs
 * exactly that value, and `'none'` (per-sample values) logs their mean.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-layers registers tfjs-core's gradients, which `tf.grad` through a loss needs.
import '@tensorflow/tfjs-layers';
import { configError } from '../errors';
import { checkOneOf } from '../validation';

/**
 * How per-sample losses are combined: `'mean'` over the batch (Keras' default
 * `sum_over_batch_size`, DEEL-LIP's `Reduction.AUTO`), `'sum'`, or `'none'` (one value per sample).
 */
export type LossReduction = 'mean' | 'sum' | 'none';

export const LOSS_REDUCTIONS: readonly LossReduction[] = ['mean', 'sum', 'none'];

/** Options every loss accepts. */
export interface LossOptions {
  /** Reduction over the batch (default `'mean'`). */
  reduction?: LossReduction;
  /** Name shown by tfjs (default DEEL-LIP's class name, e.g. `'HKR'`). */
  name?: string;
}

/** A loss usable in `model.compile({loss})` and standalone: `loss(yTrue, yPred)`. */
export interface LipschitzLoss {
  (yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor;
  /** The loss name (also the function's `name`). */
  readonly lossName: string;
  /** The reduction applied to the per-sample values. */
  readonly reduction: LossReduction;
  /** The validated parameters (for logs and tests). */
  readonly config: Readonly<Record<string, number | string | boolean>>;
}

/** Per-sample loss values: shape `[batch]`. */
export type PerSampleLoss = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;

/** Wraps a per-sample loss into a named, reduced `LipschitzLoss`. */
export function makeLoss(
  defaultName: string,
  options: LossOptions,
  config: Record<string, number | string | boolean>,
  perSample: PerSampleLoss,
): LipschitzLoss {
  const reduction = checkOneOf('reduction', options.reduction ?? 'mean', LOSS_REDUCTIONS);
  const name = options.name ?? defaultName;
  if (typeof name !== 'string' || name.length === 0) configError('name', 'a non-empty string', name);
  const loss = (yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor =>
    tf.tidy(() => reduce(perSample(yTrue, yPred), reduction));
  Object.defineProperty(loss, 'name', { value: name });
  return Object.assign(loss, { lossName: name, reduction, config: { ...config, reduction, name } });
}

/** Applies a reduction to per-sample values. */
export function reduce(values: tf.Tensor, reduction: LossReduction): tf.Tensor {
  if (reduction === 'mean') return tf.mean(values);
  if (reduction === 'sum') return tf.sum(values);
  return values;
}

/**
 * Brings predictions to rank 2 `(batch, outputs)` (a rank-1 `[batch]` becomes `[batch, 1]`) and
 * labels to the same shape, as float32.
 */
export function asMatrices(yTrue: tf.Tensor, yPred: tf.Tensor): { yTrue: tf.Tensor2D; yPred: tf.Tensor2D } {
  const pred = (yPred.rank === 1 ? tf.reshape(yPred, [-1, 1]) : yPred) as tf.Tensor2D;
  if (pred.rank !== 2) configError('yPred', 'a tensor of rank 2 (batch, outputs)', yPred.shape);
  if (yTrue.size !== pred.size) {
    configError('yTrue', `labels with the shape of yPred ${JSON.stringify(pred.shape)}`, yTrue.shape);
  }
  const labels = tf.reshape(tf.cast(yTrue, 'float32'), pred.shape) as tf.Tensor2D;
  return { yTrue: labels, yPred: tf.cast(pred, 'float32') as tf.Tensor2D };
}

/** 1 where the label is positive (label formats {0, 1} and {-1, 1}), else 0. */
export function positiveMask(yTrue: tf.Tensor): tf.Tensor {
  return tf.cast(tf.greater(yTrue, tf.scalar(0)), 'float32');
}

/** +1 where the label is positive, -1 elsewhere. */
export function labelSign(yTrue: tf.Tensor): tf.Tensor {
  return tf.sub(tf.mul(positiveMask(yTrue), tf.scalar(2)), tf.scalar(1));
}

/** A number >= 0 (`Infinity` allowed when `allowInfinity`). */
export function checkNonNegative(name: string, value: unknown, allowInfinity = false): number {
  const ok =
    typeof value === 'number' && !Number.isNaN(value) && value >= 0 && (allowInfinity || Number.isFinite(value));
  if (!ok) configError(name, allowInfinity ? 'a number >= 0 (Infinity allowed)' : 'a finite number >= 0', value);
  return value as number;
}
