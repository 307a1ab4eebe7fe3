/**
 * `lip.local.intervalBounds` against independent oracles:
 * (a) soundness: every intermediate output (and every fused pre-activation) of points sampled in the
 *     L2 ball (inside, on the sphere, and the worst-case direction of each first-layer unit) lies
 *     within the bounds, for a dense and a convolutional chain of every supported layer kind;
 * (b) tightness where it is exact: a single Dense gives `W x + b +- epsilon ||w_i||` (float64) and
 *     its worst-case points attain it; a single 'same'-padded Conv2D's per-unit radius is the float64
 *     norm of the taps that reach the unit (loop oracle and impulse-response rows); the tfjs-lip
 *     layers' bounds match their own outputs (center and impulse response);
 * (c) Dense-ReLU-Dense against a float64 plain-JS propagation, with and without the Lipschitz ball;
 * (e) bad arguments throw `LipschitzConfigError` naming the argument and value (or the layer);
 * and no tensor leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as acts from '../src/activations';
import * as layers from '../src/layers';
import * as local from '../src/local';
import { impulseResponseMatrix, singularValues } from './helpers/oracles';
import { convMatrix } from './helpers/conv';
import { mulberry32 } from './helpers/random';
import { thrownConfigError } from './helpers/thrown';

const size = (shape: number[]) => shape.reduce((p, d) => p * d, 1);
const norm = (v: number[]) => Math.sqrt(v.reduce((s, u) => s + u * u, 0));

function gaussian(r: () => number, n: number): number[] {
  return Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r()));
}

/** Seeded initializers: kernels N(0, std^2), biases U(-0.3, 0.3). */
const init = (seed: number, std = 0.6) => ({
  kernelInitializer: tfl.initializers.randomNormal({ mean: 0, stddev: std, seed }),
  biasInitializer: tfl.initializers.randomUniform({ minval: -0.3, maxval: 0.3, seed: seed + 1 }),
});

/** Writes uniform random values in [lo, hi] into every weight of an (activation) layer. */
function randomizeWeights(layer: tfl.layers.Layer, seed: number, lo: number, hi: number): void {
  const r = mulberry32(seed);
  layer.setWeights(layer.getWeights().map((w) => tf.tensor(Array.from({ length: w.size }, () => lo + (hi - lo) * r()), w.shape)));
}

/** Per-sample flat values of a batched tensor. */
function perSample(t: tf.Tensor): number[][] {
  const flat = Array.from(t.dataSync());
  const per = flat.length / t.shape[0]!;
  return Array.from({ length: t.shape[0]! }, (_, i) => flat.slice(i * per, (i + 1) * per));
}

/** The pre-activation of a built-in Dense/Conv2D with a fused activation (from its own weights), else null. */
function builtinPre(layer: tfl.layers.Layer, x: tf.Tensor): tf.Tensor | null {
  const config = layer.getConfig() as Record<string, unknown>;
  if (config['activation'] === 'linear') return null;
  const [k, b] = layer.getWeights() as [tf.Tensor, tf.Tensor];
  if (layer.getClassName() === 'Dense') return tf.add(tf.matMul(x as tf.Tensor2D, k as tf.Tensor2D), b);
  if (layer.getClassName() === 'Conv2D') {
    return tf.add(tf.conv2d(x as tf.Tensor4D, k as tf.Tensor4D, config['strides'] as [number, number], config['padding'] as 'same'), b);
  }
  return null;
}

/** Each layer's output (and built-in fused pre-activation) for a batch of points, per point. */
function chainValues(model: tfl.LayersModel, points: number[][]): Array<{ out: number[][]; pre: number[][] | null }> {
  const values: Array<{ out: number[][]; pre: number[][] | null }> = [];
  tf.tidy(() => {
    let y: tf.Tensor = tf.tensor(points.flat(), [points.length, ...(model.inputs[0]!.shape.slice(1) as number[])]);
    for (const layer of model.layers) {
      const pre = builtinPre(layer, y);
      y = layer.apply(y) as tf.Tensor;
      values.push({ out: perSample(y), pre: pre === null ? null : perSample(pre) });
    }
  });
  return values;
}

/**
 * Rows of the first layer's linear map, the worst-case directions: from its kernel for a built-in
 * layer, from its own outputs (impulse response, linear activation) for a tfjs-lip layer.
 */
function firstRows(model: tfl.LayersModel): number[][] {
  const layer = model.layers[0]!;
  const shape = model.inputs[0]!.shape.slice(1) as [number, number, number];
  if (!['Dense', 'Conv2D'].includes(layer.getClassName())) {
    return tf.tidy(() => {
      const offset = layer.apply(tf.zeros([1, ...shape])) as tf.Tensor;
      return impulseResponseMatrix((e) => tf.sub(layer.apply(e) as tf.Tensor, offset), shape);
    });
  }
  const kernel = layer.getWeights()[0]!;
  if (layer.getClassName() === 'Dense') {
    const k = kernel.arraySync() as number[][];
    return k[0]!.map((_, i) => k.map((row) => row[i]!));
  }
  const config = layer.getConfig() as Record<string, unknown>;
  return convMatrix(kernel as tf.Tensor4D, shape, config['strides'] as [number, number], config['padding'] as 'same');
}

/** Points of the ball around `x`: inside, on the sphere, and x +- eps * row / ||row|| for each row. */
function ballPoints(x: number[], eps: number, rows: number[][], r: () => number): number[][] {
  const n = x.length;
  const along = (d: number[], s: number) => x.map((v, i) => v + (s * d[i]!) / norm(d));
  const points = [x.slice()];
  for (let k = 0; k < 30; k++) points.push(along(gaussian(r, n), eps * (k < 15 ? Math.pow(r(), 1 / n) : 1)));
  for (const row of rows) if (norm(row) > 0) points.push(along(row, eps), along(row, -eps));
  return points;
}

/** The two test chains: every supported layer kind, dense and convolutional. */
function denseChain(): tfl.LayersModel {
  const model = tfl.sequential({
    layers: [
      tfl.layers.dense({ units: 8, activation: 'relu', inputShape: [6], ...init(1) }),
      tfl.layers.reshape({ targetShape: [2, 4] }),
      tfl.layers.dense({ units: 6, ...init(3) }),
      tfl.layers.flatten(),
      acts.clippedReLU({ threshold: 0.5 }),
      layers.spectralDense({ units: 8, ...init(5) }),
      acts.groupSort2(),
      layers.frobeniusDense({ units: 6, activation: 'relu', ...init(7) }),
      tfl.layers.activation({ activation: 'tanh' }),
      acts.clampedMaxMin({ maxThreshold: 0.3, minThreshold: -0.2 }),
      tfl.layers.dense({ units: 6, activation: 'relu6', ...init(9, 1.5) }),
      acts.groupSort({ groupSize: 3 }),
      tfl.layers.dense({ units: 3, ...init(11) }),
    ],
  });
  randomizeWeights(model.layers[4]!, 13, 0.05, 0.8);
  randomizeWeights(model.layers[9]!, 14, -0.3, 0.3);
  return model;
}

function convChain(): tfl.LayersModel {
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', inputShape: [8, 8, 2], ...init(21) }),
      tfl.layers.maxPooling2d({ poolSize: 2, strides: 1, padding: 'valid' }),
      layers.spectralConv2d({ filters: 4, kernelSize: 3, ...init(23) }),
      acts.clampedMaxMin({ perUnit: false }),
      tfl.layers.averagePooling2d({ poolSize: 2, strides: 1, padding: 'valid' }),
      layers.frobeniusConv2d({ filters: 4, kernelSize: 2, ...init(25) }),
      tfl.layers.reLU(),
      layers.scaledAveragePooling2d({ poolSize: 2 }),
      tfl.layers.conv2d({ filters: 6, kernelSize: 1, ...init(27) }),
      acts.clippedReLU({ perUnit: false, threshold: 0.4 }),
      tfl.layers.globalMaxPooling2d({}),
      acts.fullSort(),
      tfl.layers.dense({ units: 3, ...init(29) }),
    ],
  });
  return model;
}

/** A 1-Lipschitz chain (orthogonal kernels and sorts): interval propagation loosens with depth, the ball does not. */
function lipChain(): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      layers.spectralDense({ units: 16, inputShape: [16], ...init(81) }),
      acts.groupSort2(),
      layers.spectralDense({ units: 16, ...init(83) }),
      acts.groupSort2(),
      layers.spectralDense({ units: 4, ...init(85) }),
    ],
  });
}

/**
 * Largest relative violation of the bounds by the outputs (and built-in fused pre-activations) of
 * points sampled in each ball, and the largest relative gap between the first layer's upper
 * pre-activation bounds and the best sampled value (0 when the worst-case points attain them).
 */
function violations(model: tfl.LayersModel, bounds: local.LayerBounds[], xs: number[][], eps: number, r: () => number) {
  const rows = firstRows(model);
  let worst = 0;
  let firstGap = -Infinity;
  const check = (samples: number[][], lo: number[], up: number[]) =>
    samples.forEach((v) => v.forEach((u, i) => (worst = Math.max(worst, (lo[i]! - u) / (1 + Math.abs(u)), (u - up[i]!) / (1 + Math.abs(u))))));
  xs.forEach((xb, b) => {
    chainValues(model, ballPoints(xb, eps, rows, r)).forEach(({ out, pre }, k) => {
      check(out, perSample(bounds[k]!.lower)[b]!, perSample(bounds[k]!.upper)[b]!);
      const preBox = bounds[k]!.preActivation;
      if (pre !== null) {
        expect(preBox).not.toBeNull();
        check(pre, perSample(preBox!.lower)[b]!, perSample(preBox!.upper)[b]!);
      }
      if (k > 0) return;
      // The first layer is affine: its pre-activation is `pre`, or `out` when it has no activation.
      const up = perSample((preBox ?? bounds[0]!).upper)[b]!;
      const values = pre ?? out;
      up.forEach((u, i) => (firstGap = Math.max(firstGap, (u - Math.max(...values.map((p) => p[i]!))) / (1 + Math.abs(u)))));
    });
  });
  return { worst, firstGap };
}

describe('(a) soundness: sampled ball points stay within every layer bound', () => {
  const cases: Array<[string, () => tfl.LayersModel, number, boolean]> = [
    ['dense chain, eps 0.1, with the Lipschitz ball', denseChain, 0.1, true],
    ['dense chain, eps 0.5, interval propagation only', denseChain, 0.5, false],
    ['conv chain, eps 0.2, with the Lipschitz ball', convChain, 0.2, true],
    ['conv chain, eps 0.6, interval propagation only', convChain, 0.6, false],
    ['1-Lipschitz chain, eps 0.3, with the Lipschitz ball (where it decides)', lipChain, 0.3, true],
  ];
  it.each(cases)('%s', (_name, make, eps, lipschitzBall) => {
    const model = make();
    const inShape = model.inputs[0]!.shape.slice(1) as number[];
    const r = mulberry32(101);
    const xs = [gaussian(r, size(inShape)), gaussian(r, size(inShape))];
    const x = tf.tensor(xs.flat(), [2, ...inShape]);
    const before = tf.memory().numTensors;
    const bounds = local.intervalBounds(model, x, eps, { lipschitzBall });
    const held = bounds.reduce((s, b) => s + 2 + (b.preActivation === null ? 0 : 2), 0);
    expect(tf.memory().numTensors).toBe(before + held);
    expect(bounds.map((b) => b.name)).toEqual(model.layers.map((l) => l.name));
    const { worst, firstGap } = violations(model, bounds, xs, eps, r);
    expect(worst).toBeLessThan(2e-6);
    expect(firstGap).toBeLessThan(2e-5);
    local.disposeBounds(bounds);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it.each([['a 1-Lipschitz chain', lipChain, true], ['the dense chain', denseChain, false]] as const)(
    'the Lipschitz ball never loosens the bounds (%s)',
    (name, make, mustTighten) => {
      const model = make();
      const n = model.inputs[0]!.shape[1] as number;
      const x = tf.tensor(gaussian(mulberry32(5), 2 * n), [2, n]);
      const withBall = local.intervalBounds(model, x, 0.5);
      const without = local.intervalBounds(model, x, 0.5, { lipschitzBall: false });
      let tighter = 0;
      withBall.forEach((b, k) => {
        const w = Array.from(tf.sub(b.upper, b.lower).dataSync());
        const o = Array.from(tf.sub(without[k]!.upper, without[k]!.lower).dataSync());
        w.forEach((v, i) => expect(v).toBeLessThanOrEqual(o[i]! + 1e-6));
        tighter += w.filter((v, i) => v < o[i]! - 1e-4).length;
        expect(Number.isFinite(b.ballRadius)).toBe(true);
      });
      if (mustTighten) expect(tighter).toBeGreaterThan(0);
      // The radius is epsilon times the certified bounds so far (1-Lipschitz chain: epsilon, up to the certificate).
      if (name === 'a 1-Lipschitz chain') expect(withBall[withBall.length - 1]!.ballRadius).toBeCloseTo(0.5, 4);
      expect(without[0]!.ballRadius).toBe(Infinity);
      local.disposeBounds(withBall);
      local.disposeBounds(without);
      x.dispose();
    },
  );
});

/** Float64 `x W + b` of one sample, and the column norms of W. */
function denseOracle(x: number[], w: number[][], b: number[]): { mu: number[]; norms: number[] } {
  const mu = b.map((bi, i) => bi + x.reduce((s, xj, j) => s + xj * w[j]![i]!, 0));
  const norms = b.map((_, i) => norm(w.map((row) => row[i]!)));
  return { mu, norms };
}

function expectClose(actual: number[], expected: number[], tol: number): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((v, i) => {
    if (!(Math.abs(v - expected[i]!) <= tol * Math.max(1, Math.abs(expected[i]!)))) throw new Error(`entry ${i}: got ${v}, expected ${expected[i]}`);
  });
}

describe('(b) tightness where the bounds are exact', () => {
  it('a single Dense: W x + b +- eps ||w_i||, attained by x +- eps w_i / ||w_i||', () => {
    const model = tfl.sequential({ layers: [tfl.layers.dense({ units: 5, inputShape: [7], ...init(41) })] });
    const [k, bias] = model.layers[0]!.getWeights().map((t) => t.arraySync()) as [number[][], number[]];
    const r = mulberry32(43);
    const xs = [gaussian(r, 7), gaussian(r, 7), gaussian(r, 7)];
    const eps = 0.37;
    const x = tf.tensor(xs.flat(), [3, 7]);
    const [bounds] = local.intervalBounds(model, x, eps);
    const lower = perSample(bounds!.lower);
    const upper = perSample(bounds!.upper);
    xs.forEach((xb, s) => {
      const { mu, norms } = denseOracle(xb, k, bias);
      expectClose(lower[s]!, mu.map((m, i) => m - eps * norms[i]!), 1e-5);
      expectClose(upper[s]!, mu.map((m, i) => m + eps * norms[i]!), 1e-5);
      mu.forEach((_, i) => {
        const col = k.map((row) => row[i]!);
        const [hi, lo] = chainValues(model, [1, -1].map((sg) => xb.map((v, j) => v + (sg * eps * col[j]!) / norms[i]!)))[0]!.out;
        expect(Math.abs(hi![i]! - upper[s]![i]!)).toBeLessThan(1e-5);
        expect(Math.abs(lo![i]! - lower[s]![i]!)).toBeLessThan(1e-5);
      });
    });
    local.disposeBounds([bounds!]);
    x.dispose();
  });

  /** Float64 norm of the taps of `kernel` [kh, kw, cin, cout] that reach output (oy, ox, o) ('same' or 'valid', tfjs padding). */
  function tapNorm(kernel: number[][][][], inHW: [number, number], outHW: [number, number], strides: [number, number], same: boolean, oy: number, ox: number, o: number): number {
    const [kh, kw] = [kernel.length, kernel[0]!.length];
    const pad = (n: number, out: number, k: number, s: number) => (same ? Math.floor(Math.max((out - 1) * s + k - n, 0) / 2) : 0);
    const [pt, pl] = [pad(inHW[0], outHW[0], kh, strides[0]), pad(inHW[1], outHW[1], kw, strides[1])];
    let sum = 0;
    for (let a = 0; a < kh; a++) {
      for (let b = 0; b < kw; b++) {
        const [iy, ix] = [oy * strides[0] + a - pt, ox * strides[1] + b - pl];
        if (iy < 0 || ix < 0 || iy >= inHW[0] || ix >= inHW[1]) continue;
        kernel[a]![b]!.forEach((perOut) => (sum += perOut[o]! ** 2));
      }
    }
    return Math.sqrt(sum);
  }

  const convCases: Array<[string, number[], number, [number, number], 'same' | 'valid']> = [
    ['3x3, stride 1, same', [5, 6, 3], 3, [1, 1], 'same'],
    ['4x4 (even), stride 2, same', [6, 7, 2], 4, [2, 2], 'same'],
    ['3x3, stride 2, valid', [7, 7, 2], 3, [2, 2], 'valid'],
  ];
  it.each(convCases)('a single Conv2D (%s): radius = eps * norm of the taps that reach each unit', (_n, inShape, ks, strides, padding) => {
    const model = tfl.sequential({
      layers: [tfl.layers.conv2d({ filters: 3, kernelSize: ks, strides, padding, inputShape: inShape, ...init(51) })],
    });
    const kernelT = model.layers[0]!.getWeights()[0] as tf.Tensor4D;
    const kernel = kernelT.arraySync() as number[][][][];
    const r = mulberry32(53);
    const xb = gaussian(r, size(inShape));
    const x = tf.tensor(xb, [1, ...inShape]);
    const eps = 0.29;
    const [bounds] = local.intervalBounds(model, x, eps);
    const [, oh, ow, co] = bounds!.lower.shape as number[];
    const radius = Array.from(tf.div(tf.sub(bounds!.upper, bounds!.lower), 2).dataSync());
    const center = Array.from(tf.div(tf.add(bounds!.upper, bounds!.lower), 2).dataSync());
    const loops: number[] = [];
    for (let oy = 0; oy < oh!; oy++) for (let ox = 0; ox < ow!; ox++) for (let o = 0; o < co!; o++) {
      loops.push(eps * tapNorm(kernel, [inShape[0]!, inShape[1]!], [oh!, ow!], strides, padding === 'same', oy, ox, o));
    }
    expectClose(radius, loops, 1e-5);
    const rows = convMatrix(kernelT, inShape as [number, number, number], strides, padding);
    expectClose(radius, rows.map((row) => eps * norm(row)), 1e-5);
    // Some border units of 'same' padding see fewer taps (the test would fail with the full filter norm).
    const full = Array.from({ length: co! }, (_, o) => eps * norm(kernel.flat(2).map((perOut) => perOut[o]!)));
    const cut = loops.filter((v, i) => v < 0.99 * full[i % co!]!).length;
    expect(cut > 0).toBe(padding === 'same');
    expectClose(center, chainValues(model, [xb])[0]!.out[0]!, 1e-5);
    local.disposeBounds([bounds!]);
    x.dispose();
  });

  const lipCases: Array<[string, () => tfl.layers.Layer, number[]]> = [
    ['SpectralDense', () => layers.spectralDense({ units: 4, inputShape: [6], ...init(61) }), [6]],
    ['FrobeniusDense', () => layers.frobeniusDense({ units: 4, inputShape: [6], ...init(63) }), [6]],
    ['SpectralConv2D (stride 2)', () => layers.spectralConv2d({ filters: 3, kernelSize: 3, strides: 2, inputShape: [6, 6, 2], ...init(65) }), [6, 6, 2]],
    ['FrobeniusConv2D', () => layers.frobeniusConv2d({ filters: 2, kernelSize: 3, inputShape: [5, 5, 2], ...init(67) }), [5, 5, 2]],
  ];
  it.each(lipCases)('%s: center = the layer output at x, radius = eps * rows of its own impulse response', (_n, make, inShape) => {
    const layer = make();
    const model = tfl.sequential({ layers: [layer] });
    const xb = gaussian(mulberry32(69), size(inShape));
    const x = tf.tensor(xb, [1, ...inShape]);
    const eps = 0.41;
    const [bounds] = local.intervalBounds(model, x, eps);
    const zero = tf.zeros([1, ...inShape]);
    const offset = layer.apply(zero) as tf.Tensor;
    const rows = impulseResponseMatrix((e) => tf.sub(layer.apply(e) as tf.Tensor, offset), inShape);
    const radius = Array.from(tf.div(tf.sub(bounds!.upper, bounds!.lower), 2).dataSync());
    expectClose(radius, rows.map((row) => eps * norm(row)), 1e-5);
    const center = Array.from(tf.div(tf.add(bounds!.upper, bounds!.lower), 2).dataSync());
    expectClose(center, chainValues(model, [xb])[0]!.out[0]!, 1e-5);
    expect(bounds!.ballRadius).toBeCloseTo(eps * (layer as layers.SpectralDense).lipschitzBound(), 12);
    tf.dispose([zero, offset, x]);
    local.disposeBounds([bounds!]);
  });
});

/** Float64 Dense-ReLU-Dense propagation of one sample (the same rules, in plain JS). */
function twoLayerOracle(x: number[], p: { w1: number[][]; b1: number[]; w2: number[][]; b2: number[] }, eps: number, ball: boolean) {
  const relu = (v: number) => Math.max(v, 0);
  const first = denseOracle(x, p.w1, p.b1);
  const pre1 = { lo: first.mu.map((m, i) => m - eps * first.norms[i]!), up: first.mu.map((m, i) => m + eps * first.norms[i]!) };
  const post1 = { lo: pre1.lo.map(relu), up: pre1.up.map(relu) };
  const c = post1.lo.map((l, i) => (l + post1.up[i]!) / 2);
  const r = post1.lo.map((l, i) => (post1.up[i]! - l) / 2);
  const mid = denseOracle(c, p.w2, p.b2).mu;
  const abs = p.w2.map((row) => row.map(Math.abs));
  const rad = denseOracle(r, abs, p.b2.map(() => 0)).mu;
  let lo = mid.map((m, i) => m - rad[i]!);
  let up = mid.map((m, i) => m + rad[i]!);
  let ballWins = 0;
  if (ball) {
    const rho = eps * singularValues(p.w1)[0]!;
    const second = denseOracle(first.mu.map(relu), p.w2, p.b2);
    const bLo = second.mu.map((m, i) => m - rho * second.norms[i]!);
    const bUp = second.mu.map((m, i) => m + rho * second.norms[i]!);
    ballWins = bUp.filter((u, i) => u < up[i]!).length;
    lo = lo.map((l, i) => Math.max(l, bLo[i]!));
    up = up.map((u, i) => Math.min(u, bUp[i]!));
  }
  return { pre1, post1, lo, up, ballWins };
}

describe('(c) Dense-ReLU-Dense against a float64 propagation', () => {
  const variants: Array<[string, boolean, boolean]> = [
    ['fused relu, with the ball', true, true],
    ['fused relu, interval only', true, false],
    ['Activation relu, with the ball', false, true],
    ['Activation relu, interval only', false, false],
  ];
  it.each(variants)('%s', (_n, fused, ball) => {
    const d1 = tfl.layers.dense({ units: 9, inputShape: [5], activation: fused ? 'relu' : 'linear', ...init(71) });
    const d2 = tfl.layers.dense({ units: 4, ...init(73) });
    const model = tfl.sequential({ layers: fused ? [d1, d2] : [d1, tfl.layers.activation({ activation: 'relu' }), d2] });
    const [w1, b1] = d1.getWeights().map((t) => t.arraySync()) as [number[][], number[]];
    const [w2, b2] = d2.getWeights().map((t) => t.arraySync()) as [number[][], number[]];
    const r = mulberry32(75);
    const xs = Array.from({ length: 4 }, () => gaussian(r, 5));
    const eps = 0.45;
    const x = tf.tensor(xs.flat(), [4, 5]);
    const bounds = local.intervalBounds(model, x, eps, { lipschitzBall: ball });
    const last = bounds[bounds.length - 1]!;
    const pre = fused ? bounds[0]!.preActivation! : bounds[0]!;
    const post = fused ? bounds[0]! : bounds[1]!;
    let ballWins = 0;
    let ibpWins = 0;
    xs.forEach((xb, s) => {
      const o = twoLayerOracle(xb, { w1, b1, w2, b2 }, eps, ball);
      expectClose(perSample(pre.lower)[s]!, o.pre1.lo, 1e-5);
      expectClose(perSample(pre.upper)[s]!, o.pre1.up, 1e-5);
      expectClose(perSample(post.lower)[s]!, o.post1.lo, 1e-5);
      expectClose(perSample(post.upper)[s]!, o.post1.up, 1e-5);
      expectClose(perSample(last.lower)[s]!, o.lo, 1e-5);
      expectClose(perSample(last.upper)[s]!, o.up, 1e-5);
      ballWins += o.ballWins;
      ibpWins += 4 - o.ballWins;
    });
    // With the ball, both rules decide some units (the oracle exercises the intersection).
    if (ball) expect([ballWins > 0, ibpWins > 0]).toEqual([true, true]);
    if (!fused) expect(bounds[1]!.preActivation).not.toBeNull();
    local.disposeBounds(bounds);
    x.dispose();
  });
});

describe('memory', () => {
  it.each([true, false])('identity layers (linear Activation, Reshape, Flatten) leak nothing and alias nothing (lipschitzBall %s)', (lipschitzBall) => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.dense({ units: 4, inputShape: [3], ...init(91) }),
        tfl.layers.activation({ activation: 'linear' }),
        tfl.layers.reshape({ targetShape: [2, 2] }),
        tfl.layers.flatten(),
        tfl.layers.activation({ activation: 'linear' }),
        tfl.layers.dense({ units: 2, ...init(93) }),
      ],
    });
    const x = tf.tensor([[0.1, -0.2, 0.3]]);
    const before = tf.memory().numTensors;
    const bounds = local.intervalBounds(model, x, 0.2, { lipschitzBall });
    const tensors = bounds.flatMap((b) => [b.lower, b.upper]);
    expect(new Set(tensors).size).toBe(tensors.length);
    expect(tensors.includes(x)).toBe(false);
    // Identity layers keep the bounds of the layer before them.
    expect(Array.from(bounds[4]!.upper.dataSync())).toEqual(Array.from(bounds[0]!.upper.dataSync()));
    local.disposeBounds(bounds);
    expect(tf.memory().numTensors).toBe(before);
    expect(x.isDisposed).toBe(false);
    x.dispose();
  });
});

describe('(e) bad arguments', () => {
  // Made in beforeAll: the backend is chosen there (test/setup.ts).
  let model: tfl.LayersModel;
  let x: tf.Tensor;
  beforeAll(() => {
    model = tfl.sequential({ layers: [tfl.layers.dense({ units: 2, inputShape: [3] })] });
    x = tf.zeros([2, 3]);
  });
  const cases: Array<[string, () => unknown, string[]]> = [
    ['epsilon 0', () => local.intervalBounds(model, x, 0), ['epsilon', '0']],
    ['epsilon -0.1', () => local.intervalBounds(model, x, -0.1), ['epsilon', '-0.1']],
    ['epsilon NaN', () => local.intervalBounds(model, x, NaN), ['epsilon', 'NaN']],
    ['epsilon Infinity', () => local.intervalBounds(model, x, Infinity), ['epsilon', 'Infinity']],
    ['epsilon string', () => local.intervalBounds(model, x, '0.1' as unknown as number), ['epsilon', "'0.1'"]],
    ['x of the wrong size', () => local.intervalBounds(model, tf.zeros([2, 4]), 0.1), ['x', '[batch, 3]', 'shape [2,4]']],
    ['x without a batch axis', () => local.intervalBounds(model, tf.zeros([3]), 0.1), ['x', 'shape [3]']],
    ['x of int32', () => local.intervalBounds(model, tf.zeros([2, 3], 'int32'), 0.1), ['x', 'int32']],
    ['x an array', () => local.intervalBounds(model, [[1, 2, 3]] as unknown as tf.Tensor, 0.1), ['x', '[[1,2,3]]']],
    ['a layer, not a model', () => local.intervalBounds(model.layers[0] as unknown as tfl.LayersModel, x, 0.1), ['model', 'dense']],
    ['unknown option', () => local.intervalBounds(model, x, 0.1, { ball: true } as never), ["'ball'"]],
    ['lipschitzBall not boolean', () => local.intervalBounds(model, x, 0.1, { lipschitzBall: 1 as unknown as boolean }), ['lipschitzBall', '1']],
  ];
  it.each(cases)('%s', (_n, f, words) => {
    const before = tf.memory().numTensors;
    const e = thrownConfigError(f);
    words.forEach((w) => expect(e.message).toContain(w));
    expect(tf.memory().numTensors - before).toBeLessThanOrEqual(1); // only the bad x of the case itself
  });

  const unsupported: Array<[string, () => tfl.LayersModel, string[]]> = [
    ['a batch normalization', () => tfl.sequential({ layers: [tfl.layers.dense({ units: 2, inputShape: [3] }), tfl.layers.batchNormalization({ name: 'bn' })] }), ["'bn'", 'BatchNormalization']],
    ['a softmax Dense', () => tfl.sequential({ layers: [tfl.layers.dense({ units: 2, inputShape: [3], activation: 'softmax', name: 'out' })] }), ["'out'", "'softmax'"]],
    ['a dilated Conv2D', () => tfl.sequential({ layers: [tfl.layers.conv2d({ filters: 2, kernelSize: 3, dilationRate: 2, inputShape: [6, 6, 1], name: 'dil' })] }), ["'dil'", 'dilation']],
    ['a MaxMin (not monotone)', () => tfl.sequential({ layers: [tfl.layers.dense({ units: 2, inputShape: [3] }), acts.maxMin({ name: 'mm' })] }), ["'mm'", 'MaxMin']],
    ['a merge', () => {
      const input = tfl.input({ shape: [3] });
      const a = tfl.layers.dense({ units: 2 }).apply(input) as tfl.SymbolicTensor;
      const b = tfl.layers.dense({ units: 2 }).apply(input) as tfl.SymbolicTensor;
      return tfl.model({ inputs: input, outputs: tfl.layers.add({ name: 'sum' }).apply([a, b]) as tfl.SymbolicTensor });
    }, ["'sum'", '2 inputs']],
  ];
  it.each(unsupported)('%s is refused, naming the layer, before any tensor is made', (_n, make, words) => {
    const m = make();
    const input = tf.zeros([1, ...(m.inputs[0]!.shape.slice(1) as number[])]);
    const before = tf.memory().numTensors;
    const e = thrownConfigError(() => local.intervalBounds(m, input, 0.1));
    words.forEach((w) => expect(e.message).toContain(w));
    expect(tf.memory().numTensors).toBe(before);
    input.dispose();
  });
});
