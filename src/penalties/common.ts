/**
 * What the penalties share (internal to `src/penalties/`): the model as a differentiable function
 * of a batch, the stop-gradient, per-sample norms, the penalty object and the accuracy count.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { configError } from '../core/errors';
import { isContainer } from '../core/graph';
import type { PenaltyCallContext, PenaltyFunction, PenaltyMembers } from './types';

/** The norms of the gradient penalty: `l2` (Euclidean), `l1` (sum |.|), `linf` (max |.|). */
export type PenaltyNorm = 'l2' | 'l1' | 'linf';

/**
 * The model as a function of a batch, in inference mode (`apply(x, {training: false})`: the
 * penalties measure the network, not one dropout draw). Refuses a model with several inputs or
 * outputs.
 */
export function modelFunction(owner: string, model: unknown): (x: tf.Tensor) => tf.Tensor {
  if (!isContainer(model)) configError(`${owner} model`, 'a tfjs LayersModel with one input and one output', model);
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    configError(`${owner} model`, 'a model with one input and one output', `a model with ${model.inputs.length} input(s) and ${model.outputs.length} output(s)`);
  }
  return (x) => model.apply(x, { training: false }) as tf.Tensor;
}

export { stopGradient } from '../ops/stop_gradient';

/** `[n, ...]` as `[n, d]`. */
export function flatRows(t: tf.Tensor): tf.Tensor2D {
  return tf.reshape(t, [t.shape[0] as number, -1]);
}

/** The squared `norm` of each row of `[n, ...]`: `[n]` (squared so that its gradient exists at 0). */
export function squaredRowNorms(t: tf.Tensor, norm: PenaltyNorm): tf.Tensor1D {
  const rows = flatRows(t);
  if (norm === 'l2') return tf.sum(tf.square(rows), 1) as tf.Tensor1D;
  if (norm === 'l1') return tf.square(tf.sum(tf.abs(rows), 1)) as tf.Tensor1D;
  return tf.square(tf.max(tf.abs(rows), 1)) as tf.Tensor1D;
}

/** Attaches the penalty's name and methods to its function. */
export function makePenalty(fn: (ctx: PenaltyCallContext) => tf.Scalar, props: PenaltyMembers): PenaltyFunction {
  return Object.assign(fn, props) as PenaltyFunction;
}

/**
 * How many rows of `yPred` [n, classes >= 2] have their largest entry at the label's class
 * (`y`: one-hot or probabilities [n, classes], or class indices [n] or [n, 1]); null when `yPred` has one
 * column (no argmax accuracy).
 */
export function countCorrect(y: tf.Tensor, yPred: tf.Tensor): number | null {
  if (yPred.rank !== 2 || (yPred.shape[1] as number) < 2) return null;
  return tf.tidy(() => {
    const predicted = tf.argMax(yPred, 1);
    const indices = y.rank === 1 || (y.rank === 2 && y.shape[1] === 1);
    const truth = indices ? tf.cast(tf.reshape(y, [-1]), 'int32') : tf.argMax(y, 1);
    return tf.sum(tf.cast(tf.equal(predicted, truth), 'float32')).dataSync()[0] as number;
  });
}
