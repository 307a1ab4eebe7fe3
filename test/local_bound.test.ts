/**
 * `lip.local.lipschitzBound` against independent oracles:
 * (1) Dense-ReLU-Dense(-ReLU-Dense): the certified bound equals (within 1e-4, above) the product of
 *     the float64 spectral norms of the masked matrices (plain-JS SVD, masks from the exact interval
 *     of the first layer or from `intervalBounds`);
 * (2) soundness: the bound is >= every difference quotient over random pairs in each ball and >= the
 *     input-Jacobian norm at random points of the ball, for dense, conv, max-pooling and clipped /
 *     clamped activation chains;
 * (3) <= the global bound, strictly below it with many dead units; as epsilon -> 0 it is the norm of
 *     the masked matrices of the activation pattern at x (the Jacobian norm for one layer);
 * (4) a conv-relu-flatten-dense chain against the conv's impulse-response matrix;
 * (5) a warm start brings a 1-iteration estimate closer to the converged one than a cold start;
 * (6) no tensor leaks; (7) bad arguments throw `LipschitzConfigError` naming argument and value.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as acts from '../src/activations';
import * as local from '../src/local';
import { singularValuesOf } from '../src/linalg/svd';
import { gramLines, gramNormBound } from '../src/local/gram_bound';
import { lipschitzBound as globalBound } from '../src/model';
import { impulseResponseMatrix } from './helpers/oracles';
import { mulberry32 } from './helpers/random';
import { thrownConfigError } from './helpers/thrown';

const init = (seed: number, std = 0.5, bias = 0.3) => ({
  kernelInitializer: tfl.initializers.randomNormal({ mean: 0, stddev: std, seed }),
  biasInitializer: tfl.initializers.randomUniform({ minval: -bias, maxval: bias, seed: seed + 1 }),
});

function gaussian(r: () => number, n: number): number[] {
  return Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r()));
}
const norm = (v: number[]) => Math.sqrt(v.reduce((s, u) => s + u * u, 0));

/** A point drawn uniformly-ish in the L2 ball of radius eps around c. */
function inBall(r: () => number, c: number[], eps: number): number[] {
  const d = gaussian(r, c.length);
  const scale = (eps * Math.pow(r(), 1 / 4)) / norm(d);
  return c.map((v, i) => v + scale * d[i]!);
}

/** Dense kernel as float64 rows (outputs x inputs). */
function denseRows(layer: tfl.layers.Layer): number[][] {
  const k = layer.getWeights()[0]!;
  const [n, m] = k.shape as [number, number];
  const v = k.dataSync();
  return Array.from({ length: m }, (_, o) => Array.from({ length: n }, (_, i) => v[i * m + o]!));
}
const biasOf = (layer: tfl.layers.Layer) => Array.from(layer.getWeights()[1]!.dataSync());

/** Largest singular value of `rows` restricted to the kept rows / columns. */
function maskedNorm(rows: number[][], keepRows: boolean[] | null, keepCols: boolean[] | null): number {
  const sub = rows.filter((_, o) => keepRows === null || keepRows[o]).map((row) => row.filter((_, i) => keepCols === null || keepCols[i]));
  if (sub.length === 0 || sub[0]!.length === 0) return 0;
  return singularValuesOf(sub)[0]!;
}

/** Exact pre-activation upper bound of a first Dense over the ball: W x + b + eps ||w_o|| > 0. */
function firstMask(rows: number[][], bias: number[], x: number[], eps: number): boolean[] {
  return rows.map((w, o) => w.reduce((s, wi, i) => s + wi * x[i]!, bias[o]!) + eps * norm(w) > 0);
}

function denseReluDense(seed: number, sizes: number[], bias = 0.3): tfl.Sequential {
  const ls = sizes.slice(1).map((units, i) =>
    tfl.layers.dense({ units, activation: i < sizes.length - 2 ? 'relu' : 'linear', ...init(seed + 10 * i, 0.5, bias), ...(i === 0 ? { inputShape: [sizes[0]!] } : {}) }),
  );
  return tfl.sequential({ layers: ls });
}

function batchOf(r: () => number, batch: number, n: number, scale = 1): { x: tf.Tensor; rows: number[][] } {
  const rows = Array.from({ length: batch }, () => gaussian(r, n).map((v) => v * scale));
  return { x: tf.tensor(rows.flat(), [batch, n]), rows };
}

/** Output of `model` at flat points. */
function outputs(model: tfl.LayersModel, points: number[][]): number[][] {
  const shape = model.inputs[0]!.shape.slice(1) as number[];
  return tf.tidy(() => (model.predict(tf.tensor(points.flat(), [points.length, ...shape])) as tf.Tensor).arraySync() as number[][]);
}

/** Spectral norm of the input Jacobian of `model` at flat point p (tf.grad per output). */
function jacobianNorm(model: tfl.LayersModel, p: number[]): number {
  const shape = model.inputs[0]!.shape.slice(1) as number[];
  const m = (model.outputs[0]!.shape[1] as number);
  const rows = Array.from({ length: m }, (_, j) =>
    tf.tidy(() => {
      const f = (z: tf.Tensor) => tf.sum(tf.slice(model.apply(z) as tf.Tensor, [0, j], [1, 1]));
      return Array.from(tf.grad(f)(tf.tensor(p, [1, ...shape])).dataSync());
    }),
  );
  return singularValuesOf(rows)[0]!;
}

/** Checks bound >= quotients over random pairs and >= Jacobian norms at random points, per sample. */
function expectSound(model: tfl.LayersModel, rows: number[][], eps: number, bound: Float64Array, seed: number): void {
  const r = mulberry32(seed);
  rows.forEach((c, s) => {
    const us = Array.from({ length: 60 }, () => inBall(r, c, eps));
    const vs = us.map((u) => u.map((ui) => ui + 1e-3 * eps * gaussian(r, 1)[0]!)).map((v) => (norm(v.map((vi, i) => vi - c[i]!)) <= eps ? v : c));
    const fu = outputs(model, us);
    const fv = outputs(model, vs);
    const far = outputs(model, [...us.slice(30), ...us.slice(0, 30)]);
    us.forEach((u, k) => {
      const v = vs[k]!;
      const w = k < 30 ? us[k + 30]! : us[k - 30]!;
      const d1 = norm(u.map((ui, i) => ui - v[i]!));
      if (d1 > 0) expect(norm(fu[k]!.map((a, i) => a - fv[k]![i]!)) / d1).toBeLessThanOrEqual(bound[s]! * (1 + 1e-3));
      const d2 = norm(u.map((ui, i) => ui - w[i]!));
      expect(norm(fu[k]!.map((a, i) => a - far[k]![i]!)) / d2).toBeLessThanOrEqual(bound[s]! * (1 + 1e-5));
    });
    for (const p of us.slice(0, 5)) expect(jacobianNorm(model, p)).toBeLessThanOrEqual(bound[s]! * (1 + 1e-5));
  });
}

describe('lip.local.lipschitzBound: masked-matrix oracle (1)', () => {
  it('Dense-ReLU-Dense equals the product of the float64 masked spectral norms', () => {
    const model = denseReluDense(3, [6, 12, 4]);
    const { x, rows } = batchOf(mulberry32(5), 4, 6);
    const eps = 0.3;
    const res = local.lipschitzBound(model, x, eps);
    const [w1, w2] = [denseRows(model.layers[0]!), denseRows(model.layers[1]!)];
    rows.forEach((xi, s) => {
      const d = firstMask(w1, biasOf(model.layers[0]!), xi, eps);
      const oracle = maskedNorm(w1, d, null) * maskedNorm(w2, null, d);
      expect(res.bound[s]!).toBeGreaterThanOrEqual(oracle * (1 - 1e-12));
      expect(res.bound[s]!).toBeLessThanOrEqual(oracle * (1 + 1e-4));
      expect(res.estimate[s]!).toBeLessThanOrEqual(res.bound[s]! * (1 + 1e-5));
    });
    expect(res.pieces.map((p) => p.layers)).toEqual([[model.layers[0]!.name], [model.layers[1]!.name]]);
    x.dispose();
  });

  it('three layers: the product with the masks of intervalBounds', () => {
    const model = denseReluDense(11, [5, 10, 9, 3]);
    const { x } = batchOf(mulberry32(6), 3, 5);
    const eps = 0.2;
    const res = local.lipschitzBound(model, x, eps);
    const boxes = local.intervalBounds(model, x, eps);
    const masks = boxes.slice(0, 2).map((b) => b.preActivation!.upper.arraySync() as number[][]);
    local.disposeBounds(boxes);
    const w = model.layers.map(denseRows);
    for (let s = 0; s < 3; s++) {
      const [d1, d2] = masks.map((m) => m[s]!.map((u) => u > 0));
      const oracle = maskedNorm(w[0]!, d1!, null) * maskedNorm(w[1]!, d2!, d1!) * maskedNorm(w[2]!, null, d2!);
      expect(res.bound[s]!).toBeGreaterThanOrEqual(oracle * (1 - 1e-12));
      expect(res.bound[s]!).toBeLessThanOrEqual(oracle * (1 + 1e-4));
    }
    x.dispose();
  });

  it('a kept side above MAX_CERTIFIED_SIZE falls back to Frobenius / global, still above the oracle', () => {
    const model = denseReluDense(13, [150, 140, 3], 0.05);
    const w = model.layers[0]!.getWeights();
    model.layers[0]!.setWeights([w[0]!, tf.fill([140], 3)]);
    const { x, rows } = batchOf(mulberry32(4), 2, 150, 0.1);
    const res = local.lipschitzBound(model, x, 0.01);
    const [w1, w2] = [denseRows(model.layers[0]!), denseRows(model.layers[1]!)];
    rows.forEach((xi, s) => {
      const d = firstMask(w1, biasOf(model.layers[0]!), xi, 0.01);
      expect(d.filter((k) => k).length).toBeGreaterThan(local.MAX_CERTIFIED_SIZE);
      expect(res.bound[s]!).toBeGreaterThanOrEqual(maskedNorm(w1, d, null) * maskedNorm(w2, null, d));
      expect(res.bound[s]!).toBeLessThanOrEqual(globalBound(model));
    });
    x.dispose();
  });
});

describe('lip.local.lipschitzBound: soundness (2)', () => {
  it('dense chain with GroupSort2: above every difference quotient and Jacobian norm in the ball, below the global bound', () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.dense({ units: 16, inputShape: [4], activation: 'relu', ...init(21, 0.5, 0.8) }),
        tfl.layers.dense({ units: 16, ...init(23, 0.5, 0.8) }),
        new acts.GroupSort2(),
        tfl.layers.dense({ units: 16, activation: 'relu', ...init(25, 0.5, 0.8) }),
        tfl.layers.dense({ units: 3, ...init(27) }),
      ],
    });
    const { x, rows } = batchOf(mulberry32(7), 3, 4);
    const eps = 0.25;
    const res = local.lipschitzBound(model, x, eps);
    expectSound(model, rows, eps, res.bound, 8);
    res.bound.forEach((b) => expect(b).toBeLessThan(globalBound(model)));
    x.dispose();
  });

  it('ClippedReLU and ClampedMaxMin chain, with thresholds that make units constant', () => {
    const clip = new acts.ClippedReLU({ threshold: 0.3 });
    const clamp = new acts.ClampedMaxMin({ maxThreshold: 0.2, minThreshold: -0.2 });
    const model = tfl.sequential({
      layers: [tfl.layers.dense({ units: 10, inputShape: [4], ...init(31, 0.8) }), clip, tfl.layers.dense({ units: 8, ...init(33, 0.8) }), clamp, tfl.layers.dense({ units: 3, ...init(35) })],
    });
    const { x, rows } = batchOf(mulberry32(9), 3, 4);
    const eps = 0.1;
    const res = local.lipschitzBound(model, x, eps);
    expectSound(model, rows, eps, res.bound, 10);
    res.bound.forEach((b) => expect(b).toBeLessThan(globalBound(model)));
    x.dispose();
  });

  it('conv-maxpool-avgpool chain (max pooling splits the operator and contributes its constant)', () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [6, 6, 2], ...init(41) }),
        tfl.layers.maxPooling2d({ poolSize: 2 }),
        tfl.layers.conv2d({ filters: 2, kernelSize: 2, padding: 'valid', ...init(43) }),
        tfl.layers.activation({ activation: 'relu' }),
        tfl.layers.averagePooling2d({ poolSize: 2, strides: 1 }),
        tfl.layers.flatten(),
        tfl.layers.dense({ units: 2, ...init(45) }),
      ],
    });
    const { x, rows } = batchOf(mulberry32(12), 2, 72);
    const xs = tf.reshape(x, [2, 6, 6, 2]);
    const res = local.lipschitzBound(model, xs, 0.2);
    expectSound(model, rows, 0.2, res.bound, 13);
    res.bound.forEach((b) => expect(b).toBeLessThanOrEqual(globalBound(model)));
    tf.dispose([x, xs]);
  });
});

describe('lip.local.lipschitzBound: global bound and small balls (3)', () => {
  it('is at most the global bound, far below it with many dead units', () => {
    const model = denseReluDense(51, [8, 40, 6], 0.3);
    const w = model.layers[0]!.getWeights();
    model.layers[0]!.setWeights([w[0]!, tf.fill([40], -1.5)]);
    const { x } = batchOf(mulberry32(14), 5, 8, 0.3);
    const res = local.lipschitzBound(model, x, 0.05);
    const g = globalBound(model);
    res.bound.forEach((b) => expect(b).toBeLessThan(0.7 * g));
    const alive = local.lipschitzBound(denseReluDense(51, [8, 40, 6], 0.3), x, 100);
    alive.bound.forEach((b) => expect(b).toBeLessThanOrEqual(g));
    x.dispose();
  });

  it('as epsilon -> 0: one layer gives the Jacobian norm at x; two give the masked product of the pattern at x', () => {
    const one = tfl.sequential({ layers: [tfl.layers.dense({ units: 7, inputShape: [5], activation: 'relu', ...init(61) })] });
    const two = denseReluDense(63, [5, 9, 3]);
    const { x, rows } = batchOf(mulberry32(15), 3, 5);
    const r1 = local.lipschitzBound(one, x, 1e-6);
    const r2 = local.lipschitzBound(two, x, 1e-6);
    const [w1, w2] = [denseRows(two.layers[0]!), denseRows(two.layers[1]!)];
    rows.forEach((xi, s) => {
      const jac = jacobianNorm(one, xi);
      expect(Math.abs(r1.bound[s]! - jac)).toBeLessThanOrEqual(1e-4 * jac);
      const d = firstMask(w1, biasOf(two.layers[0]!), xi, 0);
      const product = maskedNorm(w1, d, null) * maskedNorm(w2, null, d);
      expect(Math.abs(r2.bound[s]! - product)).toBeLessThanOrEqual(1e-4 * product);
      expect(r2.bound[s]!).toBeGreaterThanOrEqual(jacobianNorm(two, xi) * (1 - 1e-5));
    });
    x.dispose();
  });
});

describe('lip.local.lipschitzBound: convolution against its impulse-response matrix (4)', () => {
  it('conv(relu)-flatten-dense equals the masked float64 product', () => {
    const conv = tfl.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [4, 4, 2], ...init(71, 0.5, 0.5) });
    const dense = tfl.layers.dense({ units: 3, ...init(73) });
    const model = tfl.sequential({ layers: [conv, tfl.layers.flatten(), dense] });
    const { x, rows } = batchOf(mulberry32(16), 3, 32);
    const xs = tf.reshape(x, [3, 4, 4, 2]);
    const eps = 0.4;
    const res = local.lipschitzBound(model, xs, eps);
    const kernel = conv.getWeights()[0]!;
    const c = impulseResponseMatrix((z) => tf.conv2d(z as tf.Tensor4D, kernel as tf.Tensor4D, 1, 'same'), [4, 4, 2]);
    const convBias = biasOf(conv);
    const w2 = denseRows(dense);
    rows.forEach((xi, s) => {
      const d = firstMask(c, c.map((_, o) => convBias[o % 3]!), xi, eps);
      const oracle = maskedNorm(c, d, null) * maskedNorm(w2, null, d);
      expect(d.some((k) => !k)).toBe(true);
      expect(res.bound[s]!).toBeGreaterThanOrEqual(oracle * (1 - 1e-12));
      expect(res.bound[s]!).toBeLessThanOrEqual(oracle * (1 + 1e-4));
    });
    tf.dispose([x, xs]);
  });
});

describe('the sparse Gram bound of large masked operators (4b)', () => {
  it('is above the float64 spectral norm of random sparse matrices, and within 4x of it', () => {
    const r = mulberry32(19);
    for (let trial = 0; trial < 6; trial++) {
      const [m, n] = [30 + trial * 7, 20 + trial * 5];
      const values = new Float64Array(m * n);
      for (let o = 0; o < m; o++) for (let i = 0; i < n; i++) if (r() < 0.2 || Math.abs(o - i) < 2) values[o * n + i] = Math.fround(gaussian(r, 1)[0]! + (trial % 2) * 0.5);
      const keepR = Array.from({ length: m }, (_, o) => o).filter(() => r() < 0.8);
      const keepC = Array.from({ length: n }, (_, i) => i).filter(() => r() < 0.8);
      const sub = keepR.map((o) => keepC.map((i) => values[o * n + i]!));
      const sigma = singularValuesOf(sub)[0]!;
      const { lines, side } = gramLines(values, n, keepR, keepC);
      const b = gramNormBound(lines, side);
      expect(b).toBeGreaterThanOrEqual(sigma);
      expect(b).toBeLessThan(4 * sigma);
    }
  });

  it('a wide conv layer (kept sides > MAX_CERTIFIED_SIZE) stays above the masked oracle, below its Frobenius norm', () => {
    const conv = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [9, 9, 2], ...init(75) });
    const model = tfl.sequential({ layers: [conv, tfl.layers.flatten(), tfl.layers.dense({ units: 2, ...init(77) })] });
    conv.setWeights([conv.getWeights()[0]!, tf.fill([4], 0.6)]);
    const { x, rows } = batchOf(mulberry32(20), 2, 162, 0.3);
    const xs = tf.reshape(x, [2, 9, 9, 2]);
    const eps = 0.05;
    const res = local.lipschitzBound(model, xs, eps);
    const kernel = conv.getWeights()[0]!;
    const c = impulseResponseMatrix((z) => tf.conv2d(z as tf.Tensor4D, kernel as tf.Tensor4D, 1, 'same'), [9, 9, 2]);
    rows.forEach((xi, s) => {
      const d = firstMask(c, c.map(() => 0.6), xi, eps);
      expect(d.filter((k) => k).length).toBeGreaterThan(local.MAX_CERTIFIED_SIZE);
      const oracle = maskedNorm(c, d, null);
      const frobenius = norm(c.filter((_, o) => d[o]).flat());
      expect(res.pieces[0]!.bound[s]!).toBeGreaterThanOrEqual(oracle);
      expect(res.pieces[0]!.bound[s]!).toBeLessThan(0.5 * frobenius);
      expect(res.bound[s]!).toBeLessThanOrEqual(globalBound(model));
    });
    tf.dispose([x, xs]);
  });
});

describe('lip.local.lipschitzBound: warm start (5) and memory (6)', () => {
  it('a warm 1-iteration call is closer to the converged estimate than a cold one', () => {
    const model = denseReluDense(81, [30, 40, 40, 5], 0.5);
    const { x } = batchOf(mulberry32(17), 4, 30);
    const converged = local.lipschitzBound(model, x, 0.1, { iterations: 300 }).estimate;
    const cold = local.lipschitzBound(model, x, 0.1, { iterations: 1 }).estimate;
    const warm: local.LocalWarmStart = {};
    local.lipschitzBound(model, x, 0.1, { iterations: 30, warmStart: warm });
    expect(warm.vectors!.map((v) => v.shape)).toEqual([[4, 30], [4, 40], [4, 40]]);
    const again = local.lipschitzBound(model, x, 0.1, { iterations: 1, warmStart: warm });
    let coldErr = 0;
    let warmErr = 0;
    converged.forEach((c, i) => {
      coldErr += Math.abs(c - cold[i]!) / c;
      warmErr += Math.abs(c - again.estimate[i]!) / c;
    });
    expect(warmErr).toBeLessThan(0.1 * coldErr);
    expect(warmErr / 4).toBeLessThan(1e-3);
    local.disposeWarmStart(warm);
    expect(warm.vectors).toBeUndefined();
    x.dispose();
  });

  it('leaks no tensors, with or without a warm start', () => {
    const model = denseReluDense(91, [6, 8, 3]);
    const { x } = batchOf(mulberry32(18), 2, 6);
    local.lipschitzBound(model, x, 0.1);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) local.lipschitzBound(model, x, 0.1);
    expect(tf.memory().numTensors).toBe(before);
    const warm: local.LocalWarmStart = {};
    local.lipschitzBound(model, x, 0.1, { warmStart: warm });
    const held = tf.memory().numTensors;
    expect(held).toBe(before + 2);
    for (let i = 0; i < 3; i++) local.lipschitzBound(model, x, 0.1, { warmStart: warm });
    expect(tf.memory().numTensors).toBe(held);
    local.disposeWarmStart(warm);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});

describe('lip.local.lipschitzBound: bad arguments (7)', () => {
  let model: tfl.Sequential;
  let x: tf.Tensor;
  beforeAll(() => {
    model = denseReluDense(101, [3, 4, 2]);
    x = tf.ones([2, 3]);
  });
  afterAll(() => x.dispose());

  it.each([
    ['epsilon', () => local.lipschitzBound(model, x, 0), /epsilon.*0/],
    ['epsilon', () => local.lipschitzBound(model, x, NaN), /epsilon.*NaN/],
    ['iterations', () => local.lipschitzBound(model, x, 0.1, { iterations: 2.5 }), /iterations.*2\.5/],
    ['iterations', () => local.lipschitzBound(model, x, 0.1, { iterations: 0 }), /iterations.*0/],
    ['option', () => local.lipschitzBound(model, x, 0.1, { iteration: 3 } as never), /iteration/],
    ['warmStart', () => local.lipschitzBound(model, x, 0.1, { warmStart: 5 as never }), /warmStart.*5/],
    ['warmStart.vectors', () => local.lipschitzBound(model, x, 0.1, { warmStart: { vectors: [] } }), /warmStart\.vectors.*\[2, 3\]/],
    ['x', () => local.lipschitzBound(model, tf.ones([2, 4]) as tf.Tensor, 0.1), /x/],
  ])('%s', (_name, f, message) => {
    const before = tf.memory().numTensors;
    expect(thrownConfigError(f).message).toMatch(message);
    expect(tf.memory().numTensors).toBeLessThanOrEqual(before + 1);
  });

  it('an unsupported layer, named', () => {
    const bad = tfl.sequential({ layers: [tfl.layers.dense({ units: 3, inputShape: [3] }), tfl.layers.dropout({ rate: 0.1 })] });
    expect(thrownConfigError(() => local.lipschitzBound(bad, x, 0.1)).message).toMatch(/lipschitzBound.*Dropout/);
  });
});
