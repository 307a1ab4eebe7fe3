/**
 * `lip.attacks.robustAccuracy`: the fraction of samples still classified correctly after an
 * attack, (1 / n) sum_i [argmax f(attack(x)_i) = y_i], batch by batch.
 */
import * as tf from '@tensorflow/tfjs-core';
import { configError } from '../core/errors';
import { checkKnownKeys, checkPositiveInt, optionNames } from '../core/validation';
import { checkBatch, labelIndices, logitsOf, targetFunction } from './common';
import type { Attack, AttackTarget } from './types';

/** Options of `robustAccuracy`. */
export interface RobustAccuracyArgs {
  /** Samples attacked at once. Default 128. */
  batchSize?: number;
}

const ROBUST_ACCURACY_OPTIONS = optionNames<RobustAccuracyArgs>({ batchSize: true });

/** Rows [start, start + size) of a batch tensor. */
export function sliceRows(t: tf.Tensor, start: number, size: number): tf.Tensor {
  return tf.slice(t, [start, ...t.shape.slice(1).map(() => 0)], [size, ...t.shape.slice(1).map(() => -1)]);
}

/** Number of samples of `xAdv` whose prediction is `indices[offset + i]`. */
function countCorrect(f: (x: tf.Tensor) => tf.Tensor, xAdv: tf.Tensor, indices: Int32Array, offset: number): number {
  const argMax = tf.tidy(() => tf.argMax(logitsOf('robustAccuracy', f, xAdv), 1));
  const predicted = argMax.dataSync();
  argMax.dispose();
  let correct = 0;
  predicted.forEach((p, i) => {
    if (p === indices[offset + i]) correct++;
  });
  return correct;
}

/**
 * Accuracy of `model` on `attack(model, x, labels)`, computed `batchSize` samples at a time
 * (each batch attacked, predicted, then freed). `labels`: class indices [n] or one-hot
 * [n, classes]. With `lip.attacks.pgd` this is an upper bound of the robust accuracy at its
 * epsilon; `lip.certify` gives the matching certified lower bound.
 * Cost: the attack's cost plus one forward pass per batch.
 *
 * References: Madry et al., Towards deep learning models resistant to adversarial attacks (ICLR 2018).
 */
export function robustAccuracy(model: AttackTarget, x: tf.Tensor, labels: tf.Tensor, attack: Attack | ((model: AttackTarget, x: tf.Tensor, labels: tf.Tensor) => tf.Tensor), args: RobustAccuracyArgs = {}): number {
  checkKnownKeys('robustAccuracy', args, ROBUST_ACCURACY_OPTIONS);
  const batchSize = checkPositiveInt('robustAccuracy batchSize', args.batchSize ?? 128);
  if (typeof attack !== 'function') configError('robustAccuracy attack', 'an attack (model, x, labels) => xAdv (lip.attacks.fgsm(), pgd(), ...)', attack);
  const f = targetFunction('robustAccuracy', model);
  const batch = checkBatch('robustAccuracy', 'x', x);
  const n = batch.shape[0] as number;
  const classes = tf.tidy(() => logitsOf('robustAccuracy', f, sliceRows(batch, 0, 1)).shape[1] as number);
  const indices = labelIndices('robustAccuracy labels', labels, n, classes);
  let correct = 0;
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    const [xb, lb] = [sliceRows(batch, start, size), sliceRows(labels, start, size)];
    try {
      const xAdv = attack(model, xb, lb);
      if (!(xAdv instanceof tf.Tensor) || !tf.util.arraysEqual(xAdv.shape, xb.shape)) {
        if (xAdv instanceof tf.Tensor) xAdv.dispose();
        configError('robustAccuracy attack', `a function returning a batch of shape ${JSON.stringify(xb.shape)}`, xAdv);
      }
      correct += countCorrect(f, xAdv, indices, start);
      xAdv.dispose();
    } finally {
      tf.dispose([xb, lb]);
    }
  }
  return correct / n;
}
