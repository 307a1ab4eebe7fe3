/**
 * The attack contract shared by `lip.attacks`, `lip.train.fit({adversarial})` and the penalties.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

/** What an attack (or a penalty) evaluates: a tfjs model with one output, or a function of a batch. */
export type AttackTarget = tfl.LayersModel | ((x: tf.Tensor) => tf.Tensor);

/**
 * An attack: `(model, x, labels) => xAdv`, batch-wise, same shape as `x`, no tensor leaked (the
 * caller owns the result). `labels` are class indices `[n]` (int32) or one-hot `[n, classes]`.
 */
export interface Attack {
  (model: AttackTarget, x: tf.Tensor, labels: tf.Tensor): tf.Tensor;
  /** The factory's name (`'fgsm'`, `'pgd'`, ...), for logs and errors. */
  readonly attackName: string;
  /** The resolved options (defaults filled in). */
  config(): Record<string, unknown>;
}
