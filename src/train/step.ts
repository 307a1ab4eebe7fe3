/**
 * One training step of `lip.train.fit`: the batch to train on (the attack runs first, off the
 * tape), then `optimizer.minimize` of mean loss + the model's regularizer losses + the penalties,
 * the layers run with `training: true` as in `model.fit` (tfjs-layers' `makeTrainFunction`).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { LipschitzConfigError } from '../core/errors';
import type { ResolvedFitArgs } from './args';
import type { Penalty, PenaltyContext, PerSampleLoss, TrainingLoss } from './types';

/** What a step needs, fixed for one `fit`. */
export interface StepPlan {
  model: tfl.LayersModel;
  /** The compiled loss, unreduced (`model.lossFunctions[0]`). */
  lossFn: PerSampleLoss;
  /** The compiled metrics (`model.metricsTensors`), each averaged over the batch. */
  metrics: PerSampleLoss[];
  penalties: Penalty[];
  /** The loss used instead of `lossFn` in the steps (`lip.train.fit`'s `loss`), or null. */
  trainingLoss: TrainingLoss | null;
  adversarial: ResolvedFitArgs['adversarial'];
  /** Keep the step's output for the penalties' `onBatchEnd`. */
  keepOutput: boolean;
}

/** Where a step is: what the penalties and the training loss see besides the batch. */
export type StepPosition = Pick<PenaltyContext, 'epoch' | 'batch' | 'batches' | 'indices'>;

/** The tensors of one step; the caller disposes them (some may be the batch itself). */
export interface StepResult {
  /** `[loss, ...metrics, ...penalties]`, the loss being the total that was minimized. */
  values: tf.Tensor1D;
  /** The batch as trained on (the adversarial batch, or clean and adversarial concatenated). */
  x: tf.Tensor;
  y: tf.Tensor;
  /** The model's output on `x` (only when `keepOutput`). */
  yPred: tf.Tensor | null;
}

/** The batch to train on: `xb` itself, its attack (weight 1), or both concatenated (weight < 1). */
function batchToTrainOn(plan: StepPlan, xb: tf.Tensor, yb: tf.Tensor): { x: tf.Tensor; y: tf.Tensor } {
  const adv = plan.adversarial;
  if (adv === null) return { x: xb, y: yb };
  const xAdv = adv.attack(plan.model, xb, yb);
  if (!(xAdv instanceof tf.Tensor) || !tf.util.arraysEqual(xAdv.shape, xb.shape)) {
    throw new LipschitzConfigError(
      `adversarial.attack '${adv.attack.attackName}' must return a tensor of the batch's shape ` +
        `${JSON.stringify(xb.shape)}, but returned ${xAdv instanceof tf.Tensor ? JSON.stringify(xAdv.shape) : String(xAdv)}.`,
    );
  }
  if (adv.weight === 1) return { x: xAdv, y: yb };
  return { x: tf.concat([xb, xAdv]), y: tf.concat([yb, yb]) };
}

/** Mean loss, or (1 - w) mean L(clean half) + w mean L(adversarial half) on a mixed batch. */
function dataLoss(plan: StepPlan, y: tf.Tensor, yPred: tf.Tensor, n: number): tf.Scalar {
  const adv = plan.adversarial;
  if (adv === null || adv.weight === 1) return tf.mean(plan.lossFn(y, yPred));
  const clean = tf.mean(plan.lossFn(tf.slice(y, 0, n), tf.slice(yPred, 0, n)));
  const attacked = tf.mean(plan.lossFn(tf.slice(y, n, n), tf.slice(yPred, n, n)));
  return tf.add(tf.mul(clean, 1 - adv.weight), tf.mul(attacked, adv.weight));
}

/**
 * Runs one step on the batch `(xb, yb)`: updates the weights and returns the logged values and the
 * batch as trained on. Constraints are not applied here (the loop does it after the step).
 */
export function trainStep(plan: StepPlan, xb: tf.Tensor, yb: tf.Tensor, position: StepPosition = {}): StepResult {
  const { model } = plan;
  // Kept out of the gradient's tidy; disposed once stacked.
  const kept: tf.Tensor[] = [];
  let yPredKept: tf.Tensor | null = null;
  try {
    const result = tf.tidy(() => {
      const { x, y } = batchToTrainOn(plan, xb, yb);
      const lossFunction = (): tf.Scalar => {
        const yPred = model.apply(x, { training: true }) as tf.Tensor;
        const ctx = { model, x, y, yPred, loss: plan.lossFn, ...position };
        let total = plan.trainingLoss === null ? dataLoss(plan, y, yPred, xb.shape[0]) : plan.trainingLoss(ctx);
        for (const metric of plan.metrics) kept.push(tf.keep(tf.mean(metric(y, yPred))));
        for (const regularizerLoss of model.calculateLosses()) total = tf.add(total, regularizerLoss);
        for (const penalty of plan.penalties) {
          const value = tf.keep(penalty(ctx));
          kept.push(value);
          total = tf.add(total, value);
        }
        if (plan.keepOutput) yPredKept = tf.keep(yPred);
        return total;
      };
      const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const cost = model.optimizer.minimize(lossFunction, true, variables) as tf.Scalar;
      const values = tf.stack([cost, ...kept.map((t) => tf.reshape(t, []))]) as tf.Tensor1D;
      return { values, x, y } as unknown as tf.TensorContainer;
    }) as unknown as Omit<StepResult, 'yPred'>;
    return { ...result, yPred: yPredKept as tf.Tensor | null };
  } catch (error) {
    tf.dispose(yPredKept as tf.Tensor | null ?? []);
    throw error;
  } finally {
    tf.dispose(kept);
  }
}
