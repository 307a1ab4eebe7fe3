/**
 * Orthogonality regularizers: value against float64 formulas written here with plain loops,
 * gradient against central finite differences of those formulas, zero on orthogonal kernels,
 * use as kernelRegularizer of tfjs built-in layers, serialization round trip, validation.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as lip from '../src';
import { LipschitzConfigError } from '../src/core/errors';
import { finiteDifferenceGradient } from './helpers/oracles';
import { givensOrthogonal, lcg } from './helpers/random';

const randomArray = (n: number, seed: number, scale = 0.5) => {
  const r = lcg(seed);
  return Array.from({ length: n }, () => r() * scale);
};

/** ||G - I||_F^2 with G the smaller Gram of W [nIn, nOut] given row-major. */
function orthDenseRef(w: number[], nIn: number, nOut: number, lambda: number): number {
  const at = (i: number, j: number) => w[i * nOut + j]!;
  let s = 0;
  if (nIn <= nOut) {
    for (let i = 0; i < nIn; i++)
      for (let k = 0; k < nIn; k++) {
        let g = 0;
        for (let j = 0; j < nOut; j++) g += at(i, j) * at(k, j);
        s += (g - (i === k ? 1 : 0)) ** 2;
      }
  } else {
    for (let i = 0; i < nOut; i++)
      for (let k = 0; k < nOut; k++) {
        let g = 0;
        for (let j = 0; j < nIn; j++) g += at(j, i) * at(j, k);
        s += (g - (i === k ? 1 : 0)) ** 2;
      }
  }
  return lambda * s;
}

/**
 * Lorth in float64 from its definition: cross-correlations of the filters at the offsets
 * -P, -P + s, ..., P (P = floor((R-1)/s) s), minus the identity at offset 0, squared, summed,
 * minus delta, times lambda. Kernel K[i][j][c][m] given flat in [R, R, C, M] order.
 */
function lorthRef(k: number[], r: number, c: number, m: number, stride: number, lambda: number, flagDeconv = false): number {
  const at = (i: number, j: number, ch: number, f: number) =>
    i < 0 || j < 0 || i >= r || j >= r ? 0 : k[((i * r + j) * c + ch) * m + f]!;
  const p = Math.floor((r - 1) / stride) * stride;
  let total = 0;
  for (let dy = -p; dy <= p; dy += stride)
    for (let dx = -p; dx <= p; dx += stride)
      for (let a = 0; a < m; a++)
        for (let b = 0; b < m; b++) {
          let corr = 0;
          for (let i = 0; i < r; i++) for (let j = 0; j < r; j++) for (let ch = 0; ch < c; ch++) corr += at(i + dy, j + dx, ch, a) * at(i, j, ch, b);
          const target = dy === 0 && dx === 0 && a === b ? 1 : 0;
          total += (corr - target) ** 2;
        }
  const delta = Math.max(0, flagDeconv ? c - stride * stride * m : m - stride * stride * c);
  return lambda * (total - delta);
}

/** An orthogonal n x n matrix in float64: product of Givens rotations. */
const orthogonal = (n: number, seed: number): number[][] => givensOrthogonal(n, seed, 3);

function applyValue(reg: { apply(x: tf.Tensor): tf.Scalar }, values: number[], shape: number[]): number {
  return tf.tidy(() => reg.apply(tf.tensor(values, shape)).dataSync()[0]!);
}

function applyGrad(reg: { apply(x: tf.Tensor): tf.Scalar }, values: number[], shape: number[]): number[] {
  return tf.tidy(() => Array.from(tf.grad((x: tf.Tensor) => reg.apply(x))(tf.tensor(values, shape)).dataSync()));
}

function expectClose(actual: number[], expected: number[], rel: number): void {
  const scale = Math.max(1e-6, ...expected.map(Math.abs));
  actual.forEach((v, i) => expect(Math.abs(v - expected[i]!)).toBeLessThanOrEqual(rel * scale));
}

describe('orthDense', () => {
  it.each([
    [3, 5, 1.0],
    [6, 4, 0.3],
    [4, 4, 2.0],
  ])('value equals lambda ||G - I||_F^2 for W %ix%i (lambda %f)', (nIn, nOut, lambda) => {
    const w = randomArray(nIn * nOut, nIn * 31 + nOut, 0.8);
    const reg = lip.regularizers.orthDense({ lambdaOrth: lambda });
    const expected = orthDenseRef(w, nIn, nOut, lambda);
    expect(expected).toBeGreaterThan(0.1);
    expect(Math.abs(applyValue(reg, w, [nIn, nOut]) - expected)).toBeLessThanOrEqual(1e-5 * expected);
  });

  it('gradient matches finite differences of the float64 formula', () => {
    for (const [nIn, nOut] of [
      [3, 5],
      [5, 2],
    ] as const) {
      const w = randomArray(nIn * nOut, 7 + nIn, 0.8);
      const reg = lip.regularizers.orthDense({ lambdaOrth: 0.7 });
      const fd = finiteDifferenceGradient((v) => orthDenseRef(v, nIn, nOut, 0.7), w, 1e-5);
      expectClose(applyGrad(reg, w, [nIn, nOut]), fd, 1e-4);
    }
  });

  it('is zero for an orthogonal kernel and for orthonormal rows / columns', () => {
    const q = orthogonal(6, 3);
    const reg = lip.regularizers.orthDense();
    expect(applyValue(reg, q.flat(), [6, 6])).toBeLessThan(1e-5);
    // 4 orthonormal rows of length 6 (in <= out: W W^T = I).
    expect(applyValue(reg, q.slice(0, 4).flat(), [4, 6])).toBeLessThan(1e-5);
    // 6 x 3 with orthonormal columns (in > out: W^T W = I).
    expect(applyValue(reg, q.map((row) => row.slice(0, 3)).flat(), [6, 3])).toBeLessThan(1e-5);
    // ...and not for a scaled one: 6 (1.1^2 - 1)^2.
    expect(applyValue(reg, q.flat().map((v) => 1.1 * v), [6, 6])).toBeCloseTo(6 * (1.21 - 1) ** 2, 4);
  });

  it('works as kernelRegularizer of tf.layers.dense: the fit loss includes it, and it round-trips through JSON', async () => {
    const w = randomArray(12, 99, 0.8);
    const model = tfl.sequential({
      layers: [tfl.layers.dense({ units: 4, inputShape: [3], useBias: false, kernelRegularizer: lip.regularizers.orthDense({ lambdaOrth: 0.5 }) })],
    });
    model.layers[0]!.setWeights([tf.tensor2d(w, [3, 4])]);
    model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    // Zero inputs and targets: the data term is 0, the logged loss is the regularizer alone.
    const h = await model.fit(tf.zeros([2, 3]), tf.zeros([2, 4]), { epochs: 1, batchSize: 2, verbose: 0 });
    expect(h.history['loss']![0] as number).toBeCloseTo(orthDenseRef(w, 3, 4, 0.5), 4);
    // tfjs writes Keras-style snake_case keys.
    const json = model.toJSON(undefined, false) as unknown as { config: { layers: Array<{ config: Record<string, unknown> }> } };
    expect(json.config.layers[0]!.config['kernel_regularizer']).toEqual({ class_name: 'OrthDenseRegularizer', config: { lambda_orth: 0.5 } });
    const restored = await tfl.models.modelFromJSON({ modelTopology: model.toJSON(undefined, false) } as never);
    const reg = (restored.layers[0] as unknown as { kernelRegularizer: unknown }).kernelRegularizer;
    expect(reg).toBeInstanceOf(lip.regularizers.OrthDenseRegularizer);
    expect((reg as lip.regularizers.OrthDenseRegularizer).lambdaOrth).toBe(0.5);
    model.dispose();
    restored.dispose();
  });

  it('rejects bad settings', () => {
    expect(() => lip.regularizers.orthDense({ lambdaOrth: -1 })).toThrow(LipschitzConfigError);
    expect(() => lip.regularizers.orthDense({ lambdaOrth: -1 })).toThrow(/lambdaOrth expected a finite number > 0, but got -1/);
  });
});

describe('lorth2d', () => {
  it.each([
    [3, 2, 3, 1],
    [3, 3, 2, 1],
    [3, 2, 4, 2],
    [5, 1, 2, 2],
  ])('value equals the float64 definition (R %i, C %i, M %i, stride %i)', (r, c, m, stride) => {
    const k = randomArray(r * r * c * m, r * 100 + c * 10 + m + stride, 0.4);
    const lambda = 0.8;
    const reg = lip.regularizers.lorth2d({ lambdaLorth: lambda, stride });
    const expected = lorthRef(k, r, c, m, stride, lambda);
    expect(Math.abs(applyValue(reg, k, [r, r, c, m]) - expected)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(expected)));
  });

  it('gradient matches finite differences of the float64 definition', () => {
    const [r, c, m] = [3, 2, 2];
    for (const stride of [1, 2]) {
      const k = randomArray(r * r * c * m, 5 + stride, 0.4);
      const reg = lip.regularizers.lorth2d({ stride });
      const fd = finiteDifferenceGradient((v) => lorthRef(v, r, c, m, stride, 1), k, 1e-5);
      expectClose(applyGrad(reg, k, [r, r, c, m]), fd, 2e-4);
    }
  });

  it('is zero for orthogonal convolutions', () => {
    // 1) An orthogonal 1x1 mixing at the centre of a 3x3 kernel.
    const q = orthogonal(3, 11);
    const k1 = new Array(3 * 3 * 3 * 3).fill(0);
    for (let ch = 0; ch < 3; ch++) for (let f = 0; f < 3; f++) k1[((1 * 3 + 1) * 3 + ch) * 3 + f] = q[ch]![f]!;
    expect(applyValue(lip.regularizers.lorth2d(), k1, [3, 3, 3, 3])).toBeLessThan(1e-5);
    // 2) Output channel f copies input channel (f + 1) % 2 shifted by a different offset per
    //    channel (a permutation of shifts: orthogonal, though no tap is at the centre).
    const k2 = new Array(3 * 3 * 2 * 2).fill(0);
    k2[((0 * 3 + 2) * 2 + 1) * 2 + 0] = 1; // f 0 <- c 1 at (0, 2)
    k2[((2 * 3 + 0) * 2 + 0) * 2 + 1] = -1; // f 1 <- c 0 at (2, 0)
    expect(applyValue(lip.regularizers.lorth2d(), k2, [3, 3, 2, 2])).toBeLessThan(1e-6);
    // ... while the same taps on one input channel are not orthogonal (both filters overlap).
    const k3 = k2.slice();
    k3[((2 * 3 + 0) * 2 + 0) * 2 + 1] = 0;
    k3[((2 * 3 + 0) * 2 + 1) * 2 + 1] = -1; // f 1 <- c 1: correlation at offset (2, -2) is -1
    expect(applyValue(lip.regularizers.lorth2d(), k3, [3, 3, 2, 2])).toBeCloseTo(2, 5);
  });

  it('works as kernelRegularizer of tf.layers.conv2d and round-trips through JSON', async () => {
    const k = randomArray(3 * 3 * 2 * 3, 42, 0.4);
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ filters: 3, kernelSize: 3, inputShape: [5, 5, 2], useBias: false, padding: 'same', kernelRegularizer: lip.regularizers.lorth2d({ lambdaLorth: 0.25 }) }),
      ],
    });
    model.layers[0]!.setWeights([tf.tensor4d(k, [3, 3, 2, 3])]);
    model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    const h = await model.fit(tf.zeros([1, 5, 5, 2]), tf.zeros([1, 5, 5, 3]), { epochs: 1, batchSize: 1, verbose: 0 });
    expect(h.history['loss']![0] as number).toBeCloseTo(lorthRef(k, 3, 2, 3, 1, 0.25), 4);
    const restored = await tfl.models.modelFromJSON({ modelTopology: model.toJSON(undefined, false) } as never);
    const reg = (restored.layers[0] as unknown as { kernelRegularizer: unknown }).kernelRegularizer as lip.regularizers.LorthRegularizer;
    expect(reg).toBeInstanceOf(lip.regularizers.LorthRegularizer);
    expect(reg.getConfig()).toEqual({ kernelShape: null, stride: 1, lambdaLorth: 0.25, dim: 2, flagDeconv: false });
    model.dispose();
    restored.dispose();
  });

  it('rejects kernels and settings without an orthogonal convolution', () => {
    const bad = [
      () => lip.regularizers.lorth2d({ kernelShape: [2, 2, 3, 3] }), // even kernel
      () => lip.regularizers.lorth2d({ kernelShape: [1, 1, 1, 4], stride: 2 }), // RO case with M > C R^2
      () => lip.regularizers.lorth2d({ kernelShape: [1, 1, 1, 10], stride: 3 }), // CO case, stride > R
      () => lip.regularizers.lorth2d({ lambdaLorth: 0 }),
      () => lip.regularizers.lorth2d({ stride: 1.5 }),
      () => lip.regularizers.lorth2d({ dim: 1 }),
      () => lip.regularizers.lorth2d().apply(tf.zeros([4, 4, 2, 2])),
    ];
    for (const make of bad) expect(make).toThrow(LipschitzConfigError);
    expect(bad[0]).toThrow(/kernelShape expected an odd kernel size R \(Lorth\), but got \[2,2,3,3\]/);
  });

  it('does not leak tensors', () => {
    const x = tf.tensor4d(randomArray(36, 1), [3, 3, 2, 2]);
    const before = tf.memory().numTensors;
    lip.regularizers.lorth2d().apply(x).dispose();
    const w = tf.tidy(() => tf.reshape(x, [18, 2]));
    lip.regularizers.orthDense().apply(w).dispose();
    w.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});
