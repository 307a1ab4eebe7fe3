/**
 * Whether tfjs differentiates a model and loss twice correctly, checked on the batch at hand.
 *
 * tfjs 4 records no tape for the copies it saves of a kernel's *outputs*, so the second derivative
 * through an op whose gradient reads its own output (tanh, sigmoid, exp, softmax, logSoftmax,
 * softmaxCrossEntropy) silently misses a term; some ops have no second derivative at all (elu,
 * selu, leakyRelu, relu6, clipByValue). `gradientNorm({method: 'exact'})` therefore compares one
 * Hessian-vector product by double back-propagation with central differences of gradients before
 * it trusts the exact form (docs/training_methods.md#gradient-norm).
 */
import * as tf from '@tensorflow/tfjs-core';
import { configError } from '../core/errors';
import { stopGradient } from './common';

/** Relative disagreement above which the double back-propagation is refused. */
const HVP_TOLERANCE = 2e-2;
/** Central-difference step, relative to the rms of the batch. */
const HVP_STEP = 3e-4;
const PROBE_SEED = 20260;

function l2(t: tf.Tensor): number {
  return tf.tidy(() => Math.sqrt(tf.sum(tf.square(t)).dataSync()[0] as number));
}

/** The disagreement of the two Hessian-vector products (0 when the Hessian is negligible). */
function hvpDisagreement(lossOf: (x: tf.Tensor) => tf.Scalar, x: tf.Tensor): number {
  return tf.tidy(() => {
    const xs = stopGradient(x);
    const gradOf = tf.grad(lossOf);
    const rms = l2(xs) / Math.sqrt(xs.size);
    const t = HVP_STEP * Math.max(rms, 1e-3);
    const r = tf.randomNormal(xs.shape, 0, 1, 'float32', PROBE_SEED);
    const exact = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(gradOf(xx), r)))(xs);
    const fd = tf.div(tf.sub(gradOf(tf.add(xs, tf.mul(r, t))), gradOf(tf.sub(xs, tf.mul(r, t)))), 2 * t);
    const scale = Math.max(l2(exact), l2(fd), (1e-4 * l2(gradOf(xs))) / Math.max(rms, 1e-3));
    return scale > 0 ? l2(tf.sub(exact, fd)) / scale : 0;
  });
}

/**
 * Throws `LipschitzConfigError` (argument `method`, value 'exact') when tfjs cannot differentiate
 * `lossOf` twice or gets its second derivative wrong at `x`.
 */
export function checkSecondOrder(owner: string, lossOf: (x: tf.Tensor) => tf.Scalar, x: tf.Tensor): void {
  let disagreement: number;
  try {
    disagreement = hvpDisagreement(lossOf, x);
  } catch (e) {
    const missing = /gradient function not found for (\w+)/.exec((e as Error).message);
    if (missing === null) throw e;
    return configError(`${owner} method`, `'finiteDifference' for this model and loss: tfjs has no second derivative of the op ${missing[1]}`, 'exact');
  }
  if (!(disagreement <= HVP_TOLERANCE)) {
    const pct = (100 * disagreement).toPrecision(2);
    configError(
      `${owner} method`,
      `'finiteDifference' for this model and loss: tfjs differentiates them twice wrongly (a Hessian-vector product by double back-propagation is off by ${pct}% from finite differences; tfjs treats the saved outputs of tanh, sigmoid, exp, softmax and logSoftmax as constants)`,
      'exact',
    );
  }
}
