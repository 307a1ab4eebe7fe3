/**
 * `stopGradient` (tfjs-core has none): the same values with no path back to what produced them.
 * The copy runs inside a custom-gradient op whose only input is a constant, so the tape records
 * nothing that leads to `t` (zeroing the gradient of an op taking `t` as input would not do: tfjs
 * still walks back into `t`'s producers, and fails on those without a gradient, such as
 * `Greater` or `EluGrad`).
 */
import * as tf from '@tensorflow/tfjs-core';

/** `t` cut from the gradient tape. */
export function stopGradient<T extends tf.Tensor>(t: T): T {
  const anchor = tf.scalar(0);
  const op = tf.customGrad(() => ({ value: tf.clone(t) as tf.Tensor, gradFunc: () => tf.scalar(0) }));
  const out = op(anchor) as T;
  anchor.dispose();
  return out;
}
