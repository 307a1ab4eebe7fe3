/**
 * lip.evaluation.summary on a small ReLU network, each field against an independent float64 computation:
 * the forward pass and the test error by hand, the local Jacobian norms W2^T D(x) W1^T and the
 * product of the kernels' largest singular values (mathjs), the nearest-neighbour distances by
 * a brute-force loop.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as lip from '../src';
import { LipschitzConfigError } from '../src/core/errors';
import { argmax, bruteForceNearest, normals, uniforms } from './helpers/linear_classifier';
import { singularValues } from './helpers/oracles';

const [D, H, C] = [4, 6, 3];
const w1 = normals(D * H, 101, 0.8);
const b1 = normals(H, 102, 0.2);
const w2 = normals(H * C, 103, 0.8);
const b2 = normals(C, 104, 0.2);
const rowsOf = (w: Float32Array, r: number, c: number): number[][] => Array.from({ length: r }, (_, i) => Array.from(w.subarray(i * c, (i + 1) * c)));

/** Float64 forward pass: pre-activations of the hidden layer and the logits. */
function forward(x: ArrayLike<number>): { pre: number[]; z: number[] } {
  const pre = Array.from({ length: H }, (_, j) => Array.from({ length: D }, (_, k) => (x[k] as number) * (w1[k * H + j] as number)).reduce((s, v) => s + v, b1[j] as number));
  const h = pre.map((v) => Math.max(0, v));
  const z = Array.from({ length: C }, (_, j) => h.reduce((s, v, k) => s + v * (w2[k * C + j] as number), b2[j] as number));
  return { pre, z };
}

/** ||J(x)||_2 with J = W2^T diag(pre > 0) W1^T ([C, D]), float64. */
function jacobianNorm(x: ArrayLike<number>): number {
  const { pre } = forward(x);
  const jac = Array.from({ length: C }, (_, c) =>
    Array.from({ length: D }, (_, k) => pre.reduce((s, p, j) => s + (p > 0 ? (w2[j * C + c] as number) * (w1[k * H + j] as number) : 0), 0)),
  );
  return singularValues(jac)[0] as number;
}

describe('lip.evaluation.summary against independent computations', () => {
  const n = 31;
  const nTrain = 45;
  const xv = uniforms(n * D, 105, -1, 1);
  const xTrainV = uniforms(nTrain * D, 106, -1, 1);
  const pred = Array.from({ length: n }, (_, i) => argmax(forward(xv.subarray(i * D, (i + 1) * D)).z));
  // The prediction for most samples, another class for every fourth: a known test error.
  const labels = pred.map((p, i) => (i % 4 === 0 ? (p + 1) % C : p));
  const trainLabels = Array.from({ length: nTrain }, (_, i) => i % C);
  let model: tfl.LayersModel;
  let [x, y, xTrain, yTrain] = [null, null, null, null] as unknown as tf.Tensor[];

  beforeAll(() => {
    model = tfl.sequential({ layers: [tfl.layers.dense({ units: H, inputShape: [D], activation: 'relu' }), tfl.layers.dense({ units: C })] });
    model.setWeights([tf.tensor2d(w1, [D, H]), tf.tensor1d(b1), tf.tensor2d(w2, [H, C]), tf.tensor1d(b2)]);
    [x, y, xTrain, yTrain] = [tf.tensor2d(xv, [n, D]), tf.tensor1d(labels, 'int32'), tf.tensor2d(xTrainV, [nTrain, D]), tf.oneHot(tf.tensor1d(trainLabels, 'int32'), C)] as tf.Tensor[];
  });
  afterAll(() => {
    model.dispose();
    tf.dispose([x, y, xTrain, yTrain] as tf.Tensor[]);
  });

  it('every field', () => {
    const s = lip.evaluation.summary(model, { x: x as tf.Tensor, y: y as tf.Tensor, xTrain, yTrain, batchSize: 8 });
    expect(s.samples).toBe(n);
    // Test error: exactly the relabelled samples (the float32 model agrees with the float64 pass).
    expect(s.testError).toBeCloseTo(labels.filter((l, i) => l !== pred[i]).length / n, 12);
    expect(s.testError).toBeCloseTo(8 / n, 12);
    // Certified bound: the product of the kernels' largest singular values (ReLU is 1-Lipschitz).
    const product = (singularValues(rowsOf(w1, D, H))[0] as number) * (singularValues(rowsOf(w2, H, C))[0] as number);
    expect(s.lipschitzBound).toBeGreaterThanOrEqual(product * (1 - 1e-7));
    expect(s.lipschitzBound / product - 1).toBeLessThan(1e-5);
    // Empirical estimate: at least the largest local Jacobian norm at the samples, at most the bound.
    const local = Math.max(...Array.from({ length: n }, (_, i) => jacobianNorm(xv.subarray(i * D, (i + 1) * D))));
    expect(s.lipschitzEstimate).toBeGreaterThanOrEqual(local * (1 - 1e-5));
    expect(s.lipschitzEstimate).toBeLessThanOrEqual(s.lipschitzBound * (1 + 1e-6));
    // Nearest neighbours of another class: mean and median of the brute-force distances.
    const dist = bruteForceNearest(xv, labels, xTrainV, trainLabels, D);
    const sorted = [...dist].sort((a, b) => a - b);
    expect(s.nearestNeighbour).not.toBeNull();
    expect(Math.abs(s.nearestNeighbour!.mean - dist.reduce((a, b) => a + b, 0) / n)).toBeLessThan(1e-12);
    expect(s.nearestNeighbour!.median).toBe(sorted[(n - 1) / 2]);
  });

  it('lipConst options reach evaluateLipConst: no ascent step gives the largest Jacobian norm at the samples (1e-5)', () => {
    const s = lip.evaluation.summary(model, { x: x as tf.Tensor, y: y as tf.Tensor, lipConst: { method: 'gradient', numSteps: 0 } });
    const local = Math.max(...Array.from({ length: n }, (_, i) => jacobianNorm(xv.subarray(i * D, (i + 1) * D))));
    expect(Math.abs(s.lipschitzEstimate / local - 1)).toBeLessThan(1e-5);
    expect(s.nearestNeighbour).toBeNull();
  });

  it('median of an even number of distances: the mean of the two middle ones', () => {
    const even = tf.slice(x as tf.Tensor, 0, 30);
    const yEven = tf.slice(y as tf.Tensor, 0, 30);
    const s = lip.evaluation.summary(model, { x: even, y: yEven, xTrain, yTrain, lipConst: { method: 'random', numSamples: 1 } });
    const sorted = bruteForceNearest(xv.subarray(0, 30 * D), labels.slice(0, 30), xTrainV, trainLabels, D).sort((a, b) => a - b);
    expect(Math.abs(s.nearestNeighbour!.median - ((sorted[14] as number) + (sorted[15] as number)) / 2)).toBeLessThan(1e-12);
    tf.dispose([even, yEven]);
  });

  it('leaks no tensor', () => {
    lip.evaluation.summary(model, { x: x as tf.Tensor, y: y as tf.Tensor, xTrain, yTrain, lipConst: { numSteps: 1 } });
    const before = tf.memory().numTensors;
    for (let k = 0; k < 5; k++) lip.evaluation.summary(model, { x: x as tf.Tensor, y: y as tf.Tensor, xTrain, yTrain, lipConst: { numSteps: 1 } });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('bad input: LipschitzConfigError naming the argument and the value', () => {
    const args = { x: x as tf.Tensor, y: y as tf.Tensor };
    const expectError = (fn: () => unknown, message: RegExp) => {
      expect(fn).toThrow(LipschitzConfigError);
      expect(fn).toThrow(message);
    };
    expectError(() => lip.evaluation.summary(model, { ...args, xTrain }), /summary xTrain\/yTrain expected both or neither, but got 'xTrain only'/);
    expectError(() => lip.evaluation.summary(model, { ...args, train: xTrain } as never), /summary: unknown option 'train'/);
    expectError(() => lip.evaluation.summary(model, { ...args, batchSize: 0 }), /summary batchSize expected a positive integer, but got 0\./);
    expectError(() => lip.evaluation.summary(model, { ...args, y: tf.zeros([n, 2]) }), /summary y expected class indices \[31\] .*, but got a float32 tensor of shape \[31,2\]/);
    expectError(() => lip.evaluation.summary(model.layers[0] as never, args), /summary model expected a tfjs LayersModel/);
    expectError(() => lip.evaluation.summary(model, undefined as never), /summary options expected an object/);
  });
});
