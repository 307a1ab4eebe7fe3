/**
 * computeLayerSV / computeModelSV against float64 singular values computed here (known
 * constructions, mathjs on impulse-response matrices), and evaluateLipConst against known
 * Lipschitz constants and the certified bound.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as lip from '../src';
import { LipschitzConfigError } from '../src/core/errors';
import { impulseResponseMatrix, singularValues } from './helpers/oracles';
import { givensOrthogonal } from './helpers/random';
import { readWeight } from './helpers/toolkit';

/** An orthogonal n x n matrix in float64 (product of Givens rotations). */
const orthogonal = (n: number, seed: number): number[][] => givensOrthogonal(n, seed, 4);

/** W = U[:, :k] diag(s) V[:, :k]^T, an [nIn, nOut] kernel with singular values s (k = min). */
function kernelWithSingularValues(nIn: number, nOut: number, s: number[], seed: number): number[][] {
  const u = orthogonal(nIn, seed);
  const v = orthogonal(nOut, seed + 1);
  return Array.from({ length: nIn }, (_, i) =>
    Array.from({ length: nOut }, (_, j) => s.reduce((acc, sk, k) => acc + u[i]![k]! * sk * v[j]![k]!, 0)),
  );
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe('computeLayerSV / computeModelSV', () => {
  it('dense kernels with known singular values (1e-6 relative)', () => {
    const s1 = [2.5, 1.25, 0.75, 0.5];
    const s2 = [1.0, 0.3, 0.2];
    const model = tfl.sequential({
      layers: [
        tfl.layers.dense({ units: 6, inputShape: [4], activation: 'relu', name: 'd1' }),
        tfl.layers.dense({ units: 3, name: 'd2' }),
        tfl.layers.activation({ activation: 'relu', name: 'act' }),
        tfl.layers.dense({ units: 5, useBias: false, name: 'diag' }),
      ],
    });
    model.layers[0]!.setWeights([tf.tensor2d(kernelWithSingularValues(4, 6, s1, 3)), tf.randomNormal([6])]);
    model.layers[1]!.setWeights([tf.tensor2d(kernelWithSingularValues(6, 3, s2, 9)), tf.randomNormal([3])]);
    // Rectangular "diagonal" kernel [3, 5] with entries 3, -0.5, 0.25.
    const diag = [
      [3, 0, 0, 0, 0],
      [0, -0.5, 0, 0, 0],
      [0, 0, 0.25, 0, 0],
    ];
    model.layers[3]!.setWeights([tf.tensor2d(diag)]);
    const sv = lip.computeModelSV(model);
    expect(sv.map((r) => r.name)).toEqual(['d1', 'd2', 'act', 'diag']);
    expect(rel(sv[0]!.max!, 2.5)).toBeLessThan(1e-6);
    expect(rel(sv[0]!.min!, 0.5)).toBeLessThan(1e-6);
    expect(rel(sv[1]!.max!, 1.0)).toBeLessThan(1e-6);
    expect(rel(sv[1]!.min!, 0.2)).toBeLessThan(1e-6);
    expect(sv[2]).toEqual({ name: 'act', min: 0, max: 1 });
    expect(rel(sv[3]!.max!, 3)).toBeLessThan(1e-6);
    expect(rel(sv[3]!.min!, 0.25)).toBeLessThan(1e-6);
    model.dispose();
  });

  it('plain Conv2D: impulse-response singular values for its input size, bias and activation ignored', () => {
    const conv = tfl.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same', strides: 1, activation: 'relu', inputShape: [5, 5, 2] });
    const model = tfl.sequential({ layers: [conv] });
    const kernel = tf.randomNormal([3, 3, 2, 2], 0, 0.5, 'float32', 5);
    conv.setWeights([kernel, tf.ones([2])]);
    // Oracle: the linear map x -> conv(x, K) without bias/activation, through tf.conv2d directly.
    const oracle = singularValues(impulseResponseMatrix((x) => tf.conv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, 1, 'same'), [5, 5, 2]));
    const got = lip.computeLayerSV(conv);
    expect(rel(got.max!, oracle[0]!)).toBeLessThan(1e-5);
    expect(Math.abs(got.min! - oracle[oracle.length - 1]!)).toBeLessThan(1e-5 * oracle[0]!);
    // Strided, valid padding, explicit input shape.
    const strided = tfl.layers.conv2d({ filters: 3, kernelSize: 3, strides: 2, padding: 'valid', useBias: false });
    strided.build([null, 7, 7, 1]);
    const k2 = tf.randomNormal([3, 3, 1, 3], 0, 0.5, 'float32', 8);
    strided.setWeights([k2]);
    const oracle2 = singularValues(impulseResponseMatrix((x) => tf.conv2d(x as tf.Tensor4D, k2 as tf.Tensor4D, 2, 'valid'), [7, 7, 1]));
    const got2 = lip.computeLayerSV(strided, { inputShape: [7, 7, 1] });
    expect(rel(got2.max!, oracle2[0]!)).toBeLessThan(1e-5);
    expect(Math.abs(got2.min! - oracle2[oracle2.length - 1]!)).toBeLessThan(1e-5 * oracle2[0]!);
    expect(() => lip.computeLayerSV(conv, { maxGramSize: 10 })).toThrow(LipschitzConfigError);
    model.dispose();
    tf.dispose([kernel, k2]);
  });

  it('SpectralConv2D: singular values of the operator it computes (impulse response of the layer)', () => {
    const layer = lip.layers.spectralConv2d({ filters: 2, kernelSize: 3, padding: 'same', useBias: false } as never);
    const model = tfl.sequential({ layers: [tfl.layers.inputLayer({ inputShape: [4, 4, 2] }), layer] });
    model.predict(tf.zeros([1, 4, 4, 2]));
    const oracle = singularValues(impulseResponseMatrix((x) => model.predict(x) as tf.Tensor, [4, 4, 2]));
    const got = lip.computeLayerSV(layer);
    expect(rel(got.max!, oracle[0]!)).toBeLessThan(1e-5);
    expect(Math.abs(got.min! - oracle[oracle.length - 1]!)).toBeLessThan(1e-5 * oracle[0]!);
    // A spectrally normalized convolution is at most 1-Lipschitz (up to the power iteration).
    expect(got.max!).toBeLessThanOrEqual(1 + 1e-3);
    model.dispose();
  });

  it('SpectralDense model: computeModelSV equals the float64 singular values of each W-bar', async () => {
    const model = lip.sequential({
      layers: [
        lip.layers.spectralDense({ units: 8, inputShape: [5], activation: 'relu' } as never),
        lip.layers.spectralDense({ units: 3 } as never),
      ] as unknown as tfl.layers.Layer[],
    });
    model.compile({ optimizer: 'adam', loss: 'meanSquaredError' });
    await model.fit(tf.randomNormal([16, 5], 0, 1, 'float32', 1), tf.randomNormal([16, 3], 0, 1, 'float32', 2), { epochs: 2, batchSize: 8, verbose: 0 });
    const sv = lip.computeModelSV(model);
    expect(sv).toHaveLength(2);
    model.layers.forEach((layer, i) => {
      const oracle = singularValues(readWeight(layer, 'w_bar') as tf.Tensor2D);
      expect(rel(sv[i]!.max!, oracle[0]!)).toBeLessThan(1e-5);
      expect(Math.abs(sv[i]!.min! - oracle[oracle.length - 1]!)).toBeLessThan(1e-5 * oracle[0]!);
      expect(sv[i]!.max!).toBeLessThanOrEqual(1 + 1e-3);
    });
    // Linear 1-Lipschitz model (one SpectralDense, no activation): the true constant is
    // sigma_max(W-bar) ~ 1; the estimate stays below the certified bound and reaches it.
    const linear = lip.sequential({ layers: [lip.layers.spectralDense({ units: 4, inputShape: [6] } as never)] as unknown as tfl.layers.Layer[] });
    const x = tf.randomNormal([10, 6], 0, 1, 'float32', 3);
    linear.predict(x);
    const exact = lip.computeLayerSV(linear.layers[0]!).max!;
    const est = lip.evaluateLipConst(linear, x, { numSteps: 1 });
    expect(est.value).toBeLessThanOrEqual(lip.lipschitzBound(linear) * (1 + 1e-4));
    expect(est.value).toBeGreaterThanOrEqual(0.5 * lip.lipschitzBound(linear));
    expect(rel(est.gradient!, exact)).toBeLessThan(1e-4);
    x.dispose();
    linear.dispose();
    model.dispose();
  });

  it('known constants of other layers', () => {
    const flatten = tfl.layers.flatten();
    const relu = tfl.layers.reLU();
    const softmax = tfl.layers.activation({ activation: 'softmax' });
    expect(lip.computeLayerSV(flatten)).toEqual({ min: 1, max: 1 });
    expect(lip.computeLayerSV(relu)).toEqual({ min: 0, max: 1 });
    expect(lip.computeLayerSV(softmax)).toEqual({ min: null, max: null });
  });
});

describe('evaluateLipConst', () => {
  it('on a linear map with known constant 1: <= 1 and the Jacobian method reaches it', () => {
    const kernel = kernelWithSingularValues(8, 5, [1, 0.9, 0.6, 0.4, 0.1], 21);
    const model = tfl.sequential({ layers: [tfl.layers.dense({ units: 5, inputShape: [8] })] });
    model.layers[0]!.setWeights([tf.tensor2d(kernel), tf.randomNormal([5])]);
    const x = tf.randomNormal([16, 8], 0, 1, 'float32', 1);
    const before = tf.memory().numTensors;
    const est = lip.evaluateLipConst(model, x, { numSteps: 2 });
    expect(tf.memory().numTensors).toBe(before);
    expect(est.gradient!).toBeLessThanOrEqual(1 + 1e-4);
    expect(est.gradient!).toBeGreaterThan(0.999);
    expect(est.random!).toBeLessThanOrEqual(1 + 1e-3);
    expect(est.random!).toBeGreaterThan(0.5);
    expect(est.value).toBe(Math.max(est.random!, est.gradient!));
    x.dispose();
    model.dispose();
  });

  it('on a ReLU network: below the certified bound, and close to the exact local norm', () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.dense({ units: 12, inputShape: [6], activation: 'relu' }),
        tfl.layers.dense({ units: 8, activation: 'relu' }),
        tfl.layers.dense({ units: 3 }),
      ],
    });
    const x = tf.randomNormal([20, 6], 0, 1, 'float32', 2);
    const bound = lip.lipschitzBound(model);
    const est = lip.evaluateLipConst(model, x, { method: 'both', numSteps: 5, seed: 3 });
    expect(est.value).toBeLessThanOrEqual(bound * (1 + 1e-3));
    expect(est.value).toBeGreaterThan(0);
    // Oracle for one sample: exact ||J(x)|| from the active ReLU pattern, in float64.
    const ws = model.layers.map((l) => l.getWeights().map((w) => w.arraySync() as number[][] | number[]));
    const x0 = (tf.tidy(() => tf.slice(x, [0, 0], [1, 6]).arraySync()) as number[][])[0]!;
    let h = x0;
    let jac: number[][] = Array.from({ length: 6 }, (_, i) => Array.from({ length: 6 }, (_, j) => (i === j ? 1 : 0))); // d h / d x
    ws.forEach(([k, b], li) => {
      const kernel = k as number[][];
      const bias = b as number[];
      const pre = bias.map((bj, j) => bj + h.reduce((s, hi, i) => s + hi * kernel[i]![j]!, 0));
      const active = pre.map((v) => (li < 2 ? (v > 0 ? 1 : 0) : 1));
      jac = jac.map((row) => kernel[0]!.map((_, j) => active[j]! * row.reduce((s, ri, i) => s + ri * kernel[i]![j]!, 0)));
      h = pre.map((v, j) => v * active[j]!);
    });
    const local = singularValues(jac)[0]!; // rows = inputs here: same singular values
    const one = tf.tidy(() => tf.slice(x, [0, 0], [1, 6]));
    const est0 = lip.evaluateLipConst(model, one, { method: 'gradient', numSteps: 0 });
    expect(rel(est0.gradient!, local)).toBeLessThan(1e-4);
    tf.dispose([x, one]);
    model.dispose();
  });

  it('rejects bad settings', () => {
    const f = (t: tf.Tensor) => t;
    const x = tf.zeros([2, 3]);
    expect(() => lip.evaluateLipConst(f, x, { method: 'exact' as never })).toThrow(LipschitzConfigError);
    expect(() => lip.evaluateLipConst(f, x, { epsilon: 0 })).toThrow(/epsilon expected a finite number > 0, but got 0/);
    expect(() => lip.evaluateLipConst(f, x, { numSteps: -1 })).toThrow(LipschitzConfigError);
    x.dispose();
  });
});
