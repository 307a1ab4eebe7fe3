/**
 * Kantorovich-Rubinstein and hinge losses (DEEL-LIP `deel/lip/losses.py`, TensorFlow version
 * 1.5: `KR`, `HingeMargin`, `HKR`, `MulticlassKR`, `MulticlassHinge`, `MulticlassHKR`,
 * `MultiMargin`, `CategoricalHinge`). With `B` the batch size, `C` the number of outputs,
 * `S = [y > 0]`, `sign = 2S - 1`, `n_c = sum_b S_bc` and `eps = 1e-7`, the per-sample values are:
 *
 * - KR (binary and multiclass): `mean_c B * f_bc * (S_bc / (n_c + eps) - (1 - S_bc) / (B - n_c + eps))`;
 *   its batch mean is `mean_c (E[f | class c] - E[f | not c])`, the Wasserstein-1 estimate.
 * - HingeMargin: `mean_c relu(m/2 - sign_bc f_bc)`.
 * - HKR: `-KR + alpha * HingeMargin` (`alpha = Infinity`: hinge only; `0`: `-KR` only).
 * - MulticlassHinge: `mean_c w_bc relu(m/2 - sign_bc f_bc)` with `w = C - 1` on the true class,
 *   1 elsewhere (equal to the older `sum_{c != t} [relu(m/2 - f_t) + relu(m/2 + f_c)] / C`).
 * - MulticlassHKR: `-MulticlassKR + alpha * MulticlassHinge`.
 * - MultiMargin: `mean_c (1 - S_bc) relu(m - f_bt + f_bc)` (PyTorch's multi_margin_loss).
 * - CategoricalHinge: `relu(m - (f_bt - max_{c != t} f_bc))`.
 *
 * Labels: binary losses take `(batch, 1)` (or multilabel `(batch, C)`) labels in {0, 1} or
 * {-1, 1}; multiclass losses take one-hot labels (0/1 or -1/1).
 *
 * References: M. Serrurier, F. Mamalet, A. Gonzalez-Sanz, T. Boissin, J.-M. Loubes, E. del Barrio,
 * "Achieving robustness in classification using optimal transport with hinge regularization",
 * CVPR 2021 (https://arxiv.org/abs/2006.06520).
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkPositiveFinite } from '../core/validation';
import {
  asMatrices,
  checkNonNegative,
  LipschitzLoss,
  LossOptions,
  LossParamDef,
  labelSign,
  makeLoss,
  ParamCheck,
  positiveMask,
} from './common';

/** DEEL-LIP's epsilon in the KR class-size denominators. */
export const KR_EPSILON = 1e-7;

/** Options of the hinge losses. */
export interface HingeOptions extends LossOptions {
  /** Margin `m` (> 0; default 1). The binary and multiclass hinges use `m/2` on each side. */
  minMargin?: number;
}

/** Options of the HKR losses. */
export interface HKROptions extends HingeOptions {
  /** Weight of the hinge term (>= 0; `Infinity` keeps only the hinge). */
  alpha?: number;
}

function krPerSample(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor {
  const { yTrue: labels, yPred: pred } = asMatrices(yTrue, yPred);
  const batch = tf.scalar(pred.shape[0]);
  const eps = tf.scalar(KR_EPSILON);
  const s1 = positiveMask(labels);
  const perClass = tf.sum(s1, 0);
  const pos = tf.div(s1, tf.add(perClass, eps));
  const neg = tf.div(tf.sub(tf.scalar(1), s1), tf.add(tf.sub(batch, perClass), eps));
  return tf.mean(tf.mul(tf.mul(batch, pred), tf.sub(pos, neg)), -1);
}

function hingePerSample(yTrue: tf.Tensor, yPred: tf.Tensor, minMargin: number): tf.Tensor {
  const { yTrue: labels, yPred: pred } = asMatrices(yTrue, yPred);
  const hinge = tf.relu(tf.sub(tf.scalar(minMargin / 2), tf.mul(labelSign(labels), pred)));
  return tf.mean(hinge, -1);
}

function multiclassHingePerSample(yTrue: tf.Tensor, yPred: tf.Tensor, minMargin: number): tf.Tensor {
  const { yTrue: labels, yPred: pred } = asMatrices(yTrue, yPred);
  const classes = pred.shape[1];
  const mask = positiveMask(labels);
  const hinge = tf.relu(tf.sub(tf.scalar(minMargin / 2), tf.mul(labelSign(labels), pred)));
  // Weight C - 1 on the true class, 1 elsewhere: w = 1 + (C - 2) * mask.
  const weights = tf.add(tf.scalar(1), tf.mul(mask, tf.scalar(classes - 2)));
  return tf.mean(tf.mul(hinge, weights), -1);
}

function hkrCombination(kr: () => tf.Tensor, hinge: () => tf.Tensor, alpha: number): tf.Tensor {
  if (alpha === Infinity) return hinge();
  if (alpha === 0) return tf.neg(kr());
  return tf.add(tf.neg(kr()), tf.mul(tf.scalar(alpha), hinge()));
}

/** `minMargin`: a finite number > 0. */
const checkMargin: ParamCheck = (value) => checkPositiveFinite('minMargin', value);

/** HKR `alpha`: a number >= 0, `Infinity` allowed (hinge only). */
const checkAlpha: ParamCheck = (value) => checkNonNegative('alpha', value, true);

/** The `minMargin` parameter (default 1, or no default when `required`). */
function marginParam(options: HingeOptions | undefined, required = false): LossParamDef {
  return { value: required ? options?.minMargin : (options?.minMargin ?? 1), check: checkMargin };
}

/**
 * Kantorovich-Rubinstein term (DEEL-LIP `KR`): its batch mean is `E[f | y > 0] - E[f | y <= 0]`, the
 * Wasserstein-1 estimate, which training maximizes (HKR minimizes `-KR`).
 */
export function kr(options: LossOptions = {}): LipschitzLoss {
  return makeLoss('KR', options, {}, krPerSample);
}

/** Binary hinge margin loss (DEEL-LIP `HingeMargin`), margin `m/2` on each side. */
export function hingeMargin(options: HingeOptions = {}): LipschitzLoss {
  return makeLoss('HingeMargin', options, { minMargin: marginParam(options) }, (t, p, params) =>
    hingePerSample(t, p, params.minMargin),
  );
}

/** `-KR + alpha * HingeMargin` (DEEL-LIP `HKR`; `alpha` is required). */
export function hkr(options: HKROptions): LipschitzLoss {
  const params = { alpha: { value: options?.alpha, check: checkAlpha }, minMargin: marginParam(options) };
  return makeLoss('HKR', options, params, (t, p, { alpha, minMargin }) =>
    hkrCombination(() => krPerSample(t, p), () => hingePerSample(t, p, minMargin), alpha),
  );
}

/** KR averaged over the classes (DEEL-LIP `MulticlassKR`); one-hot labels. */
export function multiclassKR(options: LossOptions = {}): LipschitzLoss {
  return makeLoss('MulticlassKR', options, {}, krPerSample);
}

/** Multiclass hinge, the binary hinge applied one-vs-all (DEEL-LIP `MulticlassHinge`). */
export function multiclassHinge(options: HingeOptions = {}): LipschitzLoss {
  return makeLoss('MulticlassHinge', options, { minMargin: marginParam(options) }, (t, p, params) =>
    multiclassHingePerSample(t, p, params.minMargin),
  );
}

/** `-MulticlassKR + alpha * MulticlassHinge` (DEEL-LIP `MulticlassHKR`; alpha 10, margin 1 by default). */
export function multiclassHKR(options: HKROptions = {}): LipschitzLoss {
  const params = { alpha: { value: options.alpha ?? 10, check: checkAlpha }, minMargin: marginParam(options) };
  return makeLoss('MulticlassHKR', options, params, (t, p, { alpha, minMargin }) =>
    hkrCombination(() => krPerSample(t, p), () => multiclassHingePerSample(t, p, minMargin), alpha),
  );
}

/** `mean_c (1 - S_c) relu(m - f_true + f_c)` (DEEL-LIP `MultiMargin`, PyTorch's multi_margin_loss). */
export function multiMargin(options: HingeOptions = {}): LipschitzLoss {
  return makeLoss('MultiMargin', options, { minMargin: marginParam(options) }, (yTrue, yPred, { minMargin }) => {
    const { yTrue: labels, yPred: pred } = asMatrices(yTrue, yPred);
    const mask = positiveMask(labels);
    const trueValue = tf.sum(tf.mul(pred, mask), -1, true);
    const margin = tf.relu(tf.add(tf.sub(tf.scalar(minMargin), trueValue), pred));
    return tf.mean(tf.mul(tf.sub(tf.scalar(1), mask), margin), -1);
  });
}

/** `relu(m - (f_true - max_{c != true} f_c))` (DEEL-LIP `CategoricalHinge`; `minMargin` required). */
export function categoricalHinge(options: HingeOptions): LipschitzLoss {
  return makeLoss('CategoricalHinge', options, { minMargin: marginParam(options, true) }, (yTrue, yPred, { minMargin }) => {
    const { yTrue: labels, yPred: pred } = asMatrices(yTrue, yPred);
    const isTrue = tf.greater(labels, tf.scalar(0));
    const pos = tf.sum(tf.mul(tf.cast(isTrue, 'float32'), pred), -1);
    const lowest = tf.fill(pred.shape, -3.4028234663852886e38);
    const neg = tf.max(tf.where(isTrue, lowest, pred), -1);
    return tf.relu(tf.sub(tf.scalar(minMargin), tf.sub(pos, neg)));
  });
}
