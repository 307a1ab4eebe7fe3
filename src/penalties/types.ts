/**
 * The penalty contract, defined here once: `penalties/` sits below `train/` in the folder order,
 * and `src/train/types.ts` re-exports these under the names the loop uses (`Penalty`,
 * `PenaltyContext`, `PenaltyStepContext`, `PerSampleLoss`; `lip.train.*`).
 */
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

/** A per-sample loss: `(yTrue, yPred) => [n]`. */
export type PenaltyLoss = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;

/** What a penalty sees inside the training step (on the gradient tape). */
export interface PenaltyCallContext {
  model: tfl.LayersModel;
  /** The batch as trained on. */
  x: tf.Tensor;
  y: tf.Tensor;
  /** The model's output on `x` in this step. */
  yPred: tf.Tensor;
  /** The per-sample training loss. */
  loss: PenaltyLoss;
  /** Epoch of the step (set by `lip.train.fit`). */
  epoch?: number;
  /** Batch of the step within its epoch (set by `lip.train.fit`). */
  batch?: number;
  /** Batches per epoch (set by `lip.train.fit`): with `epoch` and `batch`, the schedule position. */
  batches?: number;
  /** Positions of the batch's samples in the training set (set by `lip.train.fit`; the clean half with adversarial batches). */
  indices?: Int32Array;
}

/** What a penalty sees after the optimizer step (off the tape). */
export interface PenaltyBatchEndContext {
  model: tfl.LayersModel;
  x: tf.Tensor;
  y: tf.Tensor;
  /** The model's output on `x` in the step just taken (detached). */
  yPred: tf.Tensor;
  epoch: number;
  batch: number;
  step: number;
}

/** The members of a penalty besides its call (see `Penalty` in src/train/types.ts for their timing). */
export interface PenaltyMembers {
  readonly penaltyName: string;
  onTrainBegin?(model: tfl.LayersModel): void | Promise<void>;
  onBatchEnd?(ctx: PenaltyBatchEndContext): void | Promise<void>;
  onEpochEnd?(epoch: number, logs: Record<string, number>): void | Promise<void>;
  logs?(): Record<string, number>;
  dispose?(): void;
  config(): Record<string, unknown>;
}

/** A penalty made by `lip.penalties.*`: `lambda * term`, differentiable w.r.t. the weights. */
export interface PenaltyFunction extends PenaltyMembers {
  (ctx: PenaltyCallContext): tf.Scalar;
}

/**
 * A training loss that sees the model and the batch (`lip.losses.localLipschitzCertified`): given
 * as `lip.train.fit`'s `loss`, it replaces the compiled loss in the training steps (validation and
 * `model.evaluate` keep the compiled one). Its hooks run as a penalty's do.
 */
export interface TrainingLossFunction extends Omit<PenaltyMembers, 'penaltyName'> {
  (ctx: PenaltyCallContext): tf.Scalar;
  readonly lossName: string;
}
