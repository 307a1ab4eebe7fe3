/**
 * Cross-entropies with a temperature `tau` (DEEL-LIP `TauCategoricalCrossentropy`,
 * `TauSparseCategoricalCrossentropy`, `TauBinaryCrossentropy`): the usual cross-entropy of the
 * logits `tau * f`, divided by `tau`. For a 1-Lipschitz `f`, a small `tau` favours margins
 * (robustness), a large one accuracy.
 *
 * - categorical: `-sum_c y_c log softmax(tau f)_c / tau` (labels one-hot, or any distribution);
 * - sparse categorical: the same with integer class labels `(batch,)` or `(batch, 1)`;
 * - binary: `mean_c [relu(tau f) - tau f y + log(1 + exp(-|tau f|))] / tau` with `y = [label > 0]`
 *   (labels {0, 1} or {-1, 1}).
 *
 * References: L. Béthune, T. Boissin, M. Serrurier, F. Mamalet, C. Friedrich, A. González-Sanz,
 * "Pay attention to your loss: understanding misconceptions about 1-Lipschitz neural networks",
 * NeurIPS 2022 (https://arxiv.org/abs/2104.05097).
 */
import * as tf from '@tensorflow/tfjs-core';
import { configError } from '../core/errors';
import { checkPositiveFinite } from '../core/validation';
import { asMatrices, LipschitzLoss, LossOptions, LossParamDef, makeLoss, positiveMask } from './common';

/** Options of the tau cross-entropies. */
export interface TauOptions extends LossOptions {
  /** Temperature `tau` (> 0, required). */
  tau: number;
}

/** The `tau` parameter (required, a finite number > 0). */
function tauParam(options: TauOptions | undefined): { tau: LossParamDef } {
  return { tau: { value: options?.tau, check: (value) => checkPositiveFinite('tau', value) } };
}

function tauCategorical(labels: tf.Tensor2D, pred: tf.Tensor2D, tau: number): tf.Tensor {
  const logProbs = tf.logSoftmax(tf.mul(pred, tf.scalar(tau)), -1);
  return tf.div(tf.neg(tf.sum(tf.mul(labels, logProbs), -1)), tf.scalar(tau));
}

/** Softmax cross-entropy of `tau * yPred`, divided by `tau`; one-hot labels. */
export function tauCategoricalCrossentropy(options: TauOptions): LipschitzLoss {
  return makeLoss('TauCategoricalCrossentropy', options, tauParam(options), (yTrue, yPred, { tau }) => {
    const { yTrue: labels, yPred: pred } = asMatrices(yTrue, yPred);
    return tauCategorical(labels, pred, tau);
  });
}

/** Softmax cross-entropy of `tau * yPred`, divided by `tau`; integer class labels. */
export function tauSparseCategoricalCrossentropy(options: TauOptions): LipschitzLoss {
  return makeLoss('TauSparseCategoricalCrossentropy', options, tauParam(options), (yTrue, yPred, { tau }) => {
    if (yPred.rank !== 2) configError('yPred', 'a tensor of rank 2 (batch, classes)', yPred.shape);
    const batch = yPred.shape[0] as number;
    const classes = yPred.shape[1] as number;
    if (yTrue.size !== batch) configError('yTrue', `${batch} integer class labels`, yTrue.shape);
    const indices = tf.cast(tf.reshape(yTrue, [batch]), 'int32') as tf.Tensor1D;
    const labels = tf.cast(tf.oneHot(indices, classes), 'float32') as tf.Tensor2D;
    return tauCategorical(labels, tf.cast(yPred, 'float32') as tf.Tensor2D, tau);
  });
}

/** Sigmoid cross-entropy of `tau * yPred`, divided by `tau`; labels {0, 1} or {-1, 1}. */
export function tauBinaryCrossentropy(options: TauOptions): LipschitzLoss {
  return makeLoss('TauBinaryCrossentropy', options, tauParam(options), (yTrue, yPred, { tau }) => {
    const { yTrue: labels, yPred: pred } = asMatrices(yTrue, yPred);
    const y = positiveMask(labels);
    const z = tf.mul(pred, tf.scalar(tau));
    const perEntry = tf.add(tf.sub(tf.relu(z), tf.mul(z, y)), tf.log1p(tf.exp(tf.neg(tf.abs(z)))));
    return tf.div(tf.mean(perEntry, -1), tf.scalar(tau));
  });
}
