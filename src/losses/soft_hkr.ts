/**
 * Multiclass HKR with a softmax weighting of the non-true classes (deel-torchlip
 * `SoftHKRMulticlassLoss`; the TensorFlow DEEL-LIP has no such loss). With `sign = 2[y > 0] - 1`,
 * `s = sign * f` and a temperature `T`:
 *
 *   w_c = 1 on the true class, softmax_{c != true}(T f_c) elsewhere,
 *   KR_soft = sum_c w_c (-s_c),   hinge_soft = sum_c w_c relu(m/2 - s_c),
 *   loss = (1 - alpha) KR_soft + alpha hinge_soft.
 *
 * `alpha` lies in [0, 1] (0: KR only, 1: hinge only); as in deel-torchlip, an `alpha > 1` (the
 * older multiplier convention `-KR + alpha hinge`) is replaced by `alpha / (1 + alpha)`, which
 * gives a proportional loss. The temperature adapts to the logits' scale through a running mean
 * kept in a non-trainable variable and updated on every call:
 *
 *   mu <- alphaMean * mu + (1 - alphaMean) * mean|f|   (stored clipped to [0.005, 1000]),
 *   T = clip(temperature * m / clip(mu, m, 20000), 0.005, 250)   (no gradient through T).
 *
 * References: M. Serrurier, F. Mamalet, T. Fel, L. Béthune, T. Boissin, "On the explainable
 * properties of 1-Lipschitz Neural Networks: An Optimal Transport Perspective", NeurIPS 2023.
 */
import * as tf from '@tensorflow/tfjs-core';
import { configError } from '../core/errors';
import { checkPositiveFinite } from '../core/validation';
import { asMatrices, checkNonNegative, LipschitzLoss, LossOptions, labelSign, makeLoss, PerSampleLoss } from './common';
import { stopGradient } from '../ops/stop_gradient';

/** Options of `multiclassSoftHKR`. */
export interface SoftHKROptions extends LossOptions {
  /** Trade-off in [0, 1] between KR (0) and hinge (1); > 1 means `alpha/(1+alpha)` (default 0.9). */
  alpha?: number;
  /** Margin `m` (> 0; default 1). */
  minMargin?: number;
  /** Running-mean factor in [0, 1] (default 0.99). */
  alphaMean?: number;
  /** Temperature factor (> 0; default 1): higher weights the largest wrong logits more. */
  temperature?: number;
}

/** A `LipschitzLoss` with the running mean that sets its temperature. */
export interface SoftHKRLoss extends LipschitzLoss {
  /** The running mean of |logits| (reads the variable). */
  currentMean(): number;
  /** Puts the running mean back to `minMargin` (its initial value). */
  resetState(): void;
  /** Frees the running-mean variable (it is created again on the next call). */
  dispose(): void;
}

/** Soft-HKR `alpha`: >= 0 (Infinity allowed); a value > 1 is stored as `alpha / (1 + alpha)`. */
function checkSoftAlpha(value: unknown): number {
  const raw = checkNonNegative('alpha', value, true);
  return raw <= 1 ? raw : raw === Infinity ? 1 : raw / (raw + 1);
}

/** Running-mean factor: a number in [0, 1]. */
function checkAlphaMean(value: unknown): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) configError('alphaMean', 'a number in [0, 1]', value);
  return value;
}

/**
 * Multiclass soft-HKR (deel-torchlip `SoftHKRMulticlassLoss`); one-hot labels, stateful. Every
 * parameter can be changed with `setParam` (`alpha` > 1 is stored as `alpha/(1+alpha)`); the running
 * mean keeps its value when `minMargin` changes (`resetState` uses the current `minMargin`).
 */
export function multiclassSoftHKR(options: SoftHKROptions = {}): SoftHKRLoss {
  const params = {
    alpha: { value: options.alpha ?? 0.9, check: checkSoftAlpha },
    minMargin: { value: options.minMargin ?? 1, check: (v: unknown) => checkPositiveFinite('minMargin', v) },
    alphaMean: { value: options.alphaMean ?? 0.99, check: checkAlphaMean },
    temperature: { value: options.temperature ?? 1, check: (v: unknown) => checkPositiveFinite('temperature', v) },
  };
  let state: tf.Variable | null = null;
  // Set once makeLoss has checked the parameters; the closures below read it at call time.
  let loss: LipschitzLoss | null = null;
  const current = (name: string): number => (loss as LipschitzLoss).getParam(name);

  const running = (minMargin: number): tf.Variable => {
    if (state === null) state = tf.tidy(() => tf.variable(tf.scalar(minMargin), false));
    return state;
  };

  const perSample: PerSampleLoss<keyof typeof params> = (yTrue, yPred, { alpha, minMargin, alphaMean, temperature }) => {
    const { yTrue: labels, yPred: pred } = asMatrices(yTrue, yPred);
    const mean = running(minMargin);
    const observed = stopGradient(tf.mean(tf.abs(pred)));
    const updated = tf.add(tf.mul(tf.scalar(alphaMean), mean), tf.mul(tf.scalar(1 - alphaMean), observed));
    mean.assign(tf.clipByValue(updated, 0.005, 1000));
    const total = tf.clipByValue(updated, minMargin, 20000);
    const temp = tf.clipByValue(tf.div(tf.scalar(temperature * minMargin), total), 0.005, 250);

    const isTrue = tf.greater(labels, tf.scalar(0));
    const lowest = tf.fill(pred.shape, -3.4028234663852886e38);
    const others = tf.softmax(tf.where(isTrue, lowest, tf.mul(temp, pred)), -1);
    const weights = tf.where(isTrue, tf.onesLike(others), others);
    const signed = tf.mul(labelSign(labels), pred);
    const krSoft = () => tf.sum(tf.mul(weights, tf.neg(signed)), -1);
    const hingeSoft = () => tf.sum(tf.mul(weights, tf.relu(tf.sub(tf.scalar(minMargin / 2), signed))), -1);
    if (alpha === 1) return hingeSoft();
    if (alpha === 0) return krSoft();
    return tf.add(tf.mul(tf.scalar(1 - alpha), krSoft()), tf.mul(tf.scalar(alpha), hingeSoft()));
  };

  loss = makeLoss('MulticlassSoftHKR', options, params, perSample);
  return Object.assign(loss, {
    currentMean: (): number => (state === null ? current('minMargin') : (state.dataSync()[0] as number)),
    resetState: (): void => {
      if (state === null) return;
      const initial = tf.scalar(current('minMargin'));
      state.assign(initial);
      initial.dispose();
    },
    dispose: (): void => {
      state?.dispose();
      state = null;
    },
  });
}
