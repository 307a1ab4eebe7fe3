/**
 * `lip.attacks.nearestNeighbourDistance`: for each test sample, the L2 distance to the nearest
 * training sample of another class,
 *
 *     d(x_i) = min { ||x_i - x'_j||_2 : y'_j != y_i },
 *
 * the "nearest neighbour attack" of Finlay & Oberman (Tulip): moving x_i onto that training sample
 * is an adversarial perturbation whenever the model classifies the training set correctly, so
 * it bounds the minimal adversarial distance from above on the data alone.
 */
import * as tf from '@tensorflow/tfjs-core';
import { configError } from '../core/errors';
import { checkKnownKeys, checkPositiveInt, optionNames } from '../core/validation';
import { checkBatch, labelIndices } from './common';
import { sliceRows } from './robust_accuracy';

/** Options of `nearestNeighbourDistance`. */
export interface NearestNeighbourArgs {
  /** Test samples compared at once. Default 256. */
  batchSize?: number;
  /** Training samples compared at once. Default 4096. */
  trainBatchSize?: number;
}

const NEAREST_NEIGHBOUR_OPTIONS = optionNames<NearestNeighbourArgs>({ batchSize: true, trainBatchSize: true });

/** Per test row of `a`, the index (in `b`) of the nearest row of `b` of another class, or -1. */
function nearestOtherClass(a: tf.Tensor2D, labelsA: Int32Array, b: tf.Tensor2D, labelsB: Int32Array): Int32Array {
  const chunk = b.shape[0];
  const [minD2, argMin] = tf.tidy(() => {
    // ||a||^2 + ||b||^2 - 2 a.b (float32: a ranking only, refined in float64 by the caller).
    const d2 = tf.add(tf.sub(tf.sum(tf.square(a), 1, true), tf.mul(tf.matMul(a, b, false, true), 2)), tf.reshape(tf.sum(tf.square(b), 1), [1, chunk]));
    const same = tf.equal(tf.reshape(tf.tensor1d(labelsA, 'int32'), [-1, 1]), tf.reshape(tf.tensor1d(labelsB, 'int32'), [1, -1]));
    const masked = tf.where(same, tf.fill(d2.shape, Infinity), d2);
    return [tf.min(masked, 1), tf.argMin(masked, 1)];
  });
  const values = minD2.dataSync() as Float32Array;
  const args = argMin.dataSync() as Int32Array;
  tf.dispose([minD2, argMin]);
  return Int32Array.from(args, (j, i) => (Number.isFinite(values[i] as number) ? j : -1));
}

/** Exact float64 distance between row i of `a` and row j of `b` (flat values, `dim` per row). */
function rowDistance(a: Float32Array | Int32Array | Uint8Array, i: number, b: Float32Array | Int32Array | Uint8Array, j: number, dim: number): number {
  let s = 0;
  for (let k = 0; k < dim; k++) {
    const d = (a[i * dim + k] as number) - (b[j * dim + k] as number);
    s += d * d;
  }
  return Math.sqrt(s);
}

/**
 * L2 distance of each test sample to the nearest training sample of another class (Infinity when
 * the training set has none). Labels: class indices [n] or one-hot [n, classes]. The candidates
 * are ranked in float32 (||a||^2 + ||b||^2 - 2 a.b, one matrix product per pair of chunks); the
 * distance to the best candidate of each training chunk is then recomputed in float64 from the
 * float32 inputs. Cost: nTest * nTrain * dim multiply-adds.
 *
 * References: Finlay & Oberman, Scaleable input gradient regularization for adversarial
 * robustness (2019), https://github.com/cfinlay/tulip (nearest-neighbour attack).
 */
export function nearestNeighbourDistance(xTest: tf.Tensor, yTest: tf.Tensor, xTrain: tf.Tensor, yTrain: tf.Tensor, args: NearestNeighbourArgs = {}): Float64Array {
  checkKnownKeys('nearestNeighbourDistance', args, NEAREST_NEIGHBOUR_OPTIONS);
  const batchSize = checkPositiveInt('nearestNeighbourDistance batchSize', args.batchSize ?? 256);
  const trainBatchSize = checkPositiveInt('nearestNeighbourDistance trainBatchSize', args.trainBatchSize ?? 4096);
  const test = checkBatch('nearestNeighbourDistance', 'xTest', xTest);
  const train = checkBatch('nearestNeighbourDistance', 'xTrain', xTrain);
  if (!tf.util.arraysEqual(test.shape.slice(1), train.shape.slice(1))) {
    configError('nearestNeighbourDistance xTrain', `samples of the shape of xTest's, ${JSON.stringify(test.shape.slice(1))}`, train);
  }
  const nTest = test.shape[0] as number;
  const nTrain = train.shape[0] as number;
  const dim = test.size / nTest;
  const labelsTest = labelIndices('nearestNeighbourDistance yTest', yTest, nTest);
  const labelsTrain = labelIndices('nearestNeighbourDistance yTrain', yTrain, nTrain);
  const out = new Float64Array(nTest).fill(Infinity);
  for (let t0 = 0; t0 < nTest; t0 += batchSize) {
    const bt = Math.min(batchSize, nTest - t0);
    const a = tf.tidy(() => tf.reshape(sliceRows(test, t0, bt), [bt, dim]) as tf.Tensor2D);
    const aValues = a.dataSync();
    for (let s0 = 0; s0 < nTrain; s0 += trainBatchSize) {
      const bs = Math.min(trainBatchSize, nTrain - s0);
      const b = tf.tidy(() => tf.reshape(sliceRows(train, s0, bs), [bs, dim]) as tf.Tensor2D);
      const index = nearestOtherClass(a, labelsTest.subarray(t0, t0 + bt), b, labelsTrain.subarray(s0, s0 + bs));
      const bValues = b.dataSync();
      b.dispose();
      index.forEach((j, i) => {
        if (j >= 0) out[t0 + i] = Math.min(out[t0 + i] as number, rowDistance(aValues, i, bValues, j, dim));
      });
    }
    a.dispose();
  }
  return out;
}
