/**
 * LipResidual, LayerCentering, BatchCentering and BatchLipNorm against independent oracles:
 * plain-JS float64 outputs and bounds from the layers' weights over 1,000 random pairs, a
 * gradient ascent (tf.grad) on ||f(x) - f(y)|| / ||x - y|| that must stay under the certified
 * bound of a 3-block residual network, running statistics recomputed in plain JS, exports that
 * contain only built-in layers and predict the same, save/load round trips, tensor leaks and
 * bad arguments.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as lip from '../src';
import { mulberry32 } from './helpers/random';
import { thrownConfigError } from './helpers/thrown';

/** Deterministic uniform numbers in [-1, 1). */
function rng(seed: number): () => number {
  const uniform = mulberry32(seed);
  return () => uniform() * 2 - 1;
}

function randomArray(n: number, rand: () => number, scale = 1): Float64Array {
  return Float64Array.from({ length: n }, () => Math.fround(rand() * scale));
}

/** A float32 tensor of a float64 array (tfjs takes no Float64Array). */
function tensorOf(values: ArrayLike<number>, shape: number[]): tf.Tensor {
  return tf.tensor(Float32Array.from(values), shape);
}

function distance(a: ArrayLike<number>, b: ArrayLike<number>, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s);
}

/** Row-wise ratios ||f(x_i) - f(y_i)|| / ||x_i - y_i|| of flat arrays (rows of `din` and `dout` values). */
function ratios(x: ArrayLike<number>, y: ArrayLike<number>, fx: ArrayLike<number>, fy: ArrayLike<number>, din: number, dout: number): number[] {
  const rows = x.length / din;
  return Array.from({ length: rows }, (_, r) => distance(fx, fy, r * dout, (r + 1) * dout) / distance(x, y, r * din, (r + 1) * din));
}

function predictValues(model: tfl.LayersModel | tfl.layers.Layer, x: tf.Tensor | tf.Tensor[]): Float32Array {
  return tf.tidy(() => {
    const out = model instanceof tfl.LayersModel ? (model.predict(x) as tf.Tensor) : (model.apply(x) as tf.Tensor);
    return out.dataSync() as Float32Array;
  });
}

const sigmoid64 = (a: number): number => 1 / (1 + Math.exp(-a));
function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

async function saveAndLoad(model: tfl.LayersModel): Promise<tfl.LayersModel> {
  let saved: tf.io.ModelArtifacts | undefined;
  const info = { dateSaved: new Date(), modelTopologyType: 'JSON' as const };
  await model.save(tf.io.withSaveHandler(async (artifacts) => ((saved = artifacts), { modelArtifactsInfo: info })));
  return tfl.loadLayersModel(tf.io.fromMemory(saved!));
}

function onlyBuiltins(model: tfl.LayersModel): string[] {
  return model.layers.map((l) => l.getClassName()).filter((c) => !lip.TFJS_BUILTIN_CLASS_NAMES.has(c));
}

const N_PAIRS = 1000;
describe('LipResidual', () => {
  it('computes s x + (1 - s) fx and is sqrt(s^2 + (1 - s)^2)-Lipschitz in [x; fx] over 1,000 random pairs (float64 oracle)', () => {
    const d = 6;
    const layer = lip.layers.lipResidual({ initialAlpha: 0.7 });
    const rand = rng(1);
    const [ux, uf, vx, vf] = [0, 1, 2, 3].map(() => randomArray(N_PAIRS * d, rand, 3)) as [Float64Array, Float64Array, Float64Array, Float64Array];
    const apply = (x: Float64Array, f: Float64Array) => predictValues(layer, [tensorOf(x, [N_PAIRS, d]), tensorOf(f, [N_PAIRS, d])]);
    const [outU, outV] = [apply(ux, uf), apply(vx, vf)];
    const s = sigmoid64(layer.getWeights()[0]!.dataSync()[0]!);
    const bound = Math.hypot(s, 1 - s);
    expect(layer.lipschitzBound()).toBeCloseTo(bound, 6);
    const mix = (x: Float64Array, f: Float64Array) => Float64Array.from(x, (xi, i) => s * xi + (1 - s) * f[i]!);
    const [oracleU, oracleV] = [mix(ux, uf), mix(vx, vf)];
    expect(maxAbsDiff(outU, oracleU)).toBeLessThan(1e-5);
    for (const [a, b, tolerance] of [[oracleU, oracleV, 1e-12], [outU, outV, 1e-5]] as const) {
      const r = Array.from({ length: N_PAIRS }, (_, i) => {
        const [from, to] = [i * d, (i + 1) * d];
        return distance(a, b, from, to) / Math.hypot(distance(ux, vx, from, to), distance(uf, vf, from, to));
      });
      expect(Math.max(...r)).toBeLessThanOrEqual(bound * (1 + tolerance));
    }
    // The graph rule: x 1-Lipschitz and fx 3-Lipschitz in a common input give s + 3 (1 - s).
    expect(layer.mergeLipschitzBound([1, 3])).toBeCloseTo(s + 3 * (1 - s), 6);
  });

  /** A 3-block residual network x <- mix(x, W2 sort(W1 x)), the branch (kCoefLip 1.5)^2-Lipschitz. */
  function residualNetwork(): { model: tfl.LayersModel; alphas: number[] } {
    const d = 8;
    const alphas = [-1, 0.5, 2];
    const input = tfl.input({ shape: [d], name: 'x' });
    let x: tfl.SymbolicTensor = input;
    alphas.forEach((alpha, i) => {
      let h = lip.layers.spectralDense({ units: d, kCoefLip: 1.5, name: `b${i}_d1` }).apply(x) as tfl.SymbolicTensor;
      h = lip.activations.groupSort2({ name: `b${i}_sort` }).apply(h) as tfl.SymbolicTensor;
      h = lip.layers.spectralDense({ units: d, kCoefLip: 1.5, name: `b${i}_d2` }).apply(h) as tfl.SymbolicTensor;
      x = lip.layers.lipResidual({ initialAlpha: alpha, name: `b${i}_mix` }).apply([x, h]) as tfl.SymbolicTensor;
    });
    const out = lip.layers.spectralDense({ units: 3, name: 'head' }).apply(x) as tfl.SymbolicTensor;
    return { model: tfl.model({ inputs: input, outputs: out }), alphas };
  }

  it('lip.lipschitzBound certifies a 3-block residual network: the product of s + (1 - s) L, never exceeded by gradient ascent', () => {
    const { model, alphas } = residualNetwork();
    expect(lip.checkModel(model).ok).toBe(true);
    const expected = alphas.reduce((p, a) => p * (sigmoid64(a) + (1 - sigmoid64(a)) * 1.5 * 1.5), 1);
    const bound = lip.lipschitzBound(model);
    expect(bound).toBeCloseTo(expected, 5);

    const rand = rng(7);
    const rows = 16;
    let x = tensorOf(randomArray(rows * 8, rand), [rows, 8]);
    let y = tensorOf(randomArray(rows * 8, rand), [rows, 8]);
    const ratioOf = (a: tf.Tensor, b: tf.Tensor): tf.Tensor1D =>
      tf.div(tf.norm(tf.sub(model.apply(a) as tf.Tensor, model.apply(b) as tf.Tensor), 'euclidean', 1), tf.norm(tf.sub(a, b), 'euclidean', 1)) as tf.Tensor1D;
    const start = tf.tidy(() => tf.max(ratioOf(x, y)).dataSync()[0]!);
    const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(ratioOf(a, b)));
    let best = start;
    for (let step = 0; step < 120; step++) {
      const [nx, ny, r] = tf.tidy(() => {
        const [gx, gy] = grads([x, y]);
        const unit = (g: tf.Tensor) => tf.div(g, tf.add(tf.norm(g, 'euclidean', 1, true), 1e-12));
        const stepSize = 0.05;
        const ax = tf.add(x, tf.mul(unit(gx!), stepSize));
        const ay = tf.add(y, tf.mul(unit(gy!), stepSize));
        return [ax, ay, tf.max(ratioOf(ax, ay))];
      });
      tf.dispose([x, y]);
      x = nx as tf.Tensor2D;
      y = ny as tf.Tensor2D;
      best = Math.max(best, r.dataSync()[0]!);
      r.dispose();
    }
    tf.dispose([x, y]);
    // The ascent climbs from about 0.8 to about 0.7 of the bound (3.24): it must climb, never pass it.
    expect(best).toBeGreaterThan(Math.max(start, 0.5 * bound));
    expect(best).toBeLessThanOrEqual(bound * (1 + 1e-5));
    model.dispose();
  });

  it('exports to built-in Rescaling and Add layers that predict the same, with the same certified bound', async () => {
    const { model } = residualNetwork();
    const exported = lip.vanillaExport(model);
    expect(onlyBuiltins(exported)).toEqual([]);
    expect(exported.layers.map((l) => l.getClassName())).toContain('Add');
    const x = tensorOf(randomArray(20 * 8, rng(3)), [20, 8]);
    expect(maxAbsDiff(predictValues(model, x), predictValues(exported, x))).toBeLessThan(1e-5);
    expect(lip.lipschitzBound(exported)).toBeCloseTo(lip.lipschitzBound(model), 4);
    const loaded = await saveAndLoad(model);
    expect(maxAbsDiff(predictValues(model, x), predictValues(loaded, x))).toBe(0);
    expect(lip.lipschitzBound(loaded)).toBe(lip.lipschitzBound(model));
    tf.dispose(x);
    [model, exported, loaded].forEach((m) => m.dispose());
  });

  it('trains alpha in fit without leaking tensors', async () => {
    const input = tfl.input({ shape: [4] });
    const branch = lip.layers.spectralDense({ units: 4 }).apply(input) as tfl.SymbolicTensor;
    const mixLayer = lip.layers.lipResidual();
    const model = tfl.model({ inputs: input, outputs: mixLayer.apply([input, branch]) as tfl.SymbolicTensor });
    model.compile({ optimizer: tf.train.sgd(0.5), loss: 'meanSquaredError' });
    const x = tensorOf(randomArray(32 * 4, rng(5)), [32, 4]);
    await model.fit(x, x, { epochs: 1, batchSize: 8, verbose: 0 });
    const before = tf.memory().numTensors;
    await model.fit(x, x, { epochs: 2, batchSize: 8, verbose: 0 });
    predictValues(model, x);
    expect(tf.memory().numTensors).toBe(before);
    // Fitting the identity pushes the weight toward the skip branch.
    expect(mixLayer.mixingWeights()[0]).toBeGreaterThan(0.5);
    x.dispose();
    model.dispose();
  });

  it('refuses bad arguments and inputs with LipschitzConfigError', () => {
    expect(thrownConfigError(() => lip.layers.lipResidual({ initialAlpha: NaN })).message).toBe('initialAlpha expected a finite number, but got NaN.');
    expect(thrownConfigError(() => lip.layers.lipResidual({ initial_alpha: 1 } as never)).message).toBe(
      "lipResidual: unknown option 'initial_alpha' (did you mean 'initialAlpha'?).",
    );
    expect(thrownConfigError(() => (lip.layers.lipResidual().kCoefLip = 2)).message).toMatch(/^kCoefLip expected 1 .*but got 2\.$/);
    const a = tfl.input({ shape: [4] });
    const b = tfl.input({ shape: [5] });
    expect(thrownConfigError(() => lip.layers.lipResidual({ name: 'bad_mix' }).apply([a, b])).message).toMatch(/^lipResidual 'bad_mix' inputs expected two tensors/);
    expect(thrownConfigError(() => lip.layers.lipResidual().apply([a, a, a])).message).toMatch(/inputs expected two tensors \[x, fx\]/);
  });
});

describe('LayerCentering', () => {
  it('is x - mean(x) (times kCoefLip, plus bias) and kCoefLip-Lipschitz over 1,000 random pairs (float64 oracle)', () => {
    const d = 7;
    const k = 1.7;
    const layer = lip.layers.layerCentering({ kCoefLip: k });
    const rand = rng(11);
    const u = randomArray(N_PAIRS * d, rand, 2);
    const v = randomArray(N_PAIRS * d, rand, 2);
    predictValues(layer, tf.zeros([1, d]));
    const bias = Float64Array.from({ length: d }, (_, i) => 0.1 * i - 0.3);
    layer.setWeights([tensorOf(bias, [d])]);
    const oracle = (a: Float64Array) =>
      a.map((xi, i) => {
        const r = Math.floor(i / d);
        let m = 0;
        for (let j = 0; j < d; j++) m += a[r * d + j]! / d;
        return k * (xi - m) + bias[i % d]!;
      });
    const outU = predictValues(layer, tensorOf(u, [N_PAIRS, d]));
    const outV = predictValues(layer, tensorOf(v, [N_PAIRS, d]));
    expect(maxAbsDiff(outU, oracle(u))).toBeLessThan(1e-5);
    expect(Math.max(...ratios(u, v, oracle(u), oracle(v), d, d))).toBeLessThanOrEqual(k * (1 + 1e-12));
    expect(Math.max(...ratios(u, v, outU, outV, d, d))).toBeLessThanOrEqual(k * (1 + 1e-5));
    expect(layer.lipschitzBound()).toBe(k);
  });

  it.each([
    ['the last axis', -1, [3, 4]],
    ['the spatial axes of an image', [1, 2], [3, 3, 2]],
    ['every feature axis', [1, 2, 3], [2, 2, 3]],
  ])('over %s exports to built-in layers (Dense I - 11^T/n) that predict the same, bound kCoefLip', async (_what, axis, shape) => {
    const input = tfl.input({ shape: shape as number[] });
    const layer = lip.layers.layerCentering({ axis: axis as number | number[], kCoefLip: 2, name: 'center' });
    const model = tfl.model({ inputs: input, outputs: layer.apply(input) as tfl.SymbolicTensor });
    const c = (shape as number[])[(shape as number[]).length - 1]!;
    layer.setWeights([tf.tensor1d(Array.from({ length: c }, (_, i) => i - 0.5))]);
    const x = tensorOf(randomArray(5 * (shape as number[]).reduce((p, s) => p * s, 1), rng(2), 3), [5, ...(shape as number[])]);
    const exported = lip.vanillaExport(model);
    expect(onlyBuiltins(exported)).toEqual([]);
    expect(exported.layers.map((l) => l.name)).toContain('center');
    expect(maxAbsDiff(predictValues(model, x), predictValues(exported, x))).toBeLessThan(1e-5);
    expect(lip.lipschitzBound(exported)).toBeGreaterThanOrEqual(2 * (1 - 1e-6));
    expect(lip.lipschitzBound(exported)).toBeLessThanOrEqual(2 * (1 + 1e-4));
    const loaded = await saveAndLoad(model);
    expect(maxAbsDiff(predictValues(model, x), predictValues(loaded, x))).toBe(0);
    tf.dispose(x);
    [model, exported, loaded].forEach((m) => m.dispose());
  });

  it('refuses bad axes and unknown keys', () => {
    for (const axis of [0, [], 1.5, [1, 1], 'x']) {
      expect(thrownConfigError(() => lip.layers.layerCentering({ axis } as never)).message).toMatch(/^axis expected a non-zero integer/);
    }
    expect(thrownConfigError(() => lip.layers.layerCentering({ axis: 3, name: 'c3' }).apply(tfl.input({ shape: [4] }))).message).toBe(
      "layerCentering 'c3' axis expected feature axes (1 to 1, or -1 to -1) of an input of rank 2, but got 3.",
    );
    expect(thrownConfigError(() => lip.layers.layerCentering({ use_bias: false } as never)).message).toBe(
      "layerCentering: unknown option 'use_bias' (did you mean 'useBias'?).",
    );
    expect(thrownConfigError(() => lip.layers.layerCentering({ kCoefLip: -1 })).message).toBe('kCoefLip expected a finite number > 0, but got -1.');
  });
});

/** Plain-JS running statistics: per-channel batch mean and unbiased variance, EMA with first-batch init. */
function runningOracle(data: Float64Array, channels: number, batchRows: number, epochs: number, momentum: number) {
  const rows = data.length / channels;
  let mean: number[] | null = null;
  let variance: number[] | null = null;
  for (let e = 0; e < epochs; e++) {
    for (let start = 0; start < rows; start += batchRows) {
      const end = Math.min(rows, start + batchRows);
      const n = end - start;
      const m = Array.from({ length: channels }, (_, c) => {
        let s = 0;
        for (let r = start; r < end; r++) s += data[r * channels + c]!;
        return s / n;
      });
      const v = m.map((mc, c) => {
        let s = 0;
        for (let r = start; r < end; r++) s += (data[r * channels + c]! - mc) ** 2;
        return s / (n - 1);
      });
      mean = mean === null ? m : mean.map((old, c) => (1 - momentum) * old + momentum * m[c]!);
      variance = variance === null ? v : variance.map((old, c) => (1 - momentum) * old + momentum * v[c]!);
    }
  }
  return { mean: mean!, variance: variance! };
}

/** The values of a layer's weight named 'bias'. */
function biasOf(layer: tfl.layers.Layer): Float32Array {
  return tf.tidy(() => layer.weights.find((w) => w.originalName.endsWith('bias'))!.read().dataSync() as Float32Array);
}

async function fitOn(layer: tfl.layers.Layer, data: Float64Array, channels: number, batchSize: number, epochs: number) {
  const input = tfl.input({ shape: [channels] });
  const model = tfl.model({ inputs: input, outputs: layer.apply(input) as tfl.SymbolicTensor });
  model.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
  const x = tensorOf(data, [data.length / channels, channels]);
  await model.fit(x, tf.zerosLike(x), { epochs, batchSize, shuffle: false, verbose: 0 });
  return { model, x };
}

describe('BatchCentering', () => {
  it('keeps a running mean equal to a plain-JS EMA of the batch means, and subtracts it in inference', async () => {
    const c = 3;
    const data = randomArray(40 * c, rng(21), 2).map((v, i) => v + (i % c));
    const layer = lip.layers.batchCentering({ momentum: 0.3 });
    const { model, x } = await fitOn(layer, data, c, 8, 2);
    const oracle = runningOracle(data, c, 8, 2, 0.3);
    const stats = layer.runningStatistics();
    expect(stats.numBatches).toBe(10);
    expect(maxAbsDiff(stats.mean, oracle.mean)).toBeLessThan(1e-5);
    const bias = biasOf(layer);
    const expected = Float64Array.from(data, (v, i) => v - stats.mean[i % c]! + bias[i % c]!);
    expect(maxAbsDiff(predictValues(model, x), expected)).toBeLessThan(1e-5);
    // Inference is a translation: ||f(u) - f(v)|| = ||u - v|| on 1,000 random pairs.
    const rand = rng(4);
    const u = randomArray(N_PAIRS * c, rand, 3);
    const v = randomArray(N_PAIRS * c, rand, 3);
    const r = ratios(u, v, predictValues(model, tensorOf(u, [N_PAIRS, c])), predictValues(model, tensorOf(v, [N_PAIRS, c])), c, c);
    expect(Math.max(...r)).toBeLessThanOrEqual(1 + 1e-5);
    expect(layer.lipschitzBound()).toBe(1);
    const exported = lip.vanillaExport(model);
    expect(exported.layers.map((l) => l.getClassName())).toEqual(['InputLayer', 'BatchNormalization']);
    expect(maxAbsDiff(predictValues(model, x), predictValues(exported, x))).toBeLessThan(1e-5);
    expect(lip.lipschitzBound(exported)).toBe(1);
    const loaded = await saveAndLoad(model);
    expect(maxAbsDiff(predictValues(model, x), predictValues(loaded, x))).toBe(0);
    tf.dispose(x);
    [model, exported, loaded].forEach((m) => m.dispose());
  });

  it('does not leak tensors in training or inference', async () => {
    const layer = lip.layers.batchCentering({ kCoefLip: 2 });
    const { model, x } = await fitOn(layer, randomArray(24, rng(8)), 2, 4, 1);
    const before = tf.memory().numTensors;
    await model.fit(x, tf.zerosLike(x), { epochs: 2, batchSize: 4, verbose: 0 });
    predictValues(model, x);
    expect(tf.memory().numTensors).toBe(before + 1); // the zerosLike target above
    x.dispose();
    model.dispose();
  });

  it('refuses bad momentum and unknown keys', () => {
    for (const momentum of [0, 1.5, -0.1, 'a', NaN]) {
      expect(thrownConfigError(() => lip.layers.batchCentering({ momentum } as never)).message).toMatch(/^momentum expected a number in \(0, 1\]/);
    }
    expect(thrownConfigError(() => lip.layers.batchCentering({ momentun: 0.1 } as never)).message).toBe(
      "batchCentering: unknown option 'momentun' (did you mean 'momentum'?).",
    );
    expect(thrownConfigError(() => lip.layers.batchCentering({ useBias: 1 } as never)).message).toBe('useBias expected a boolean, but got 1.');
  });
});

describe('BatchLipNorm', () => {
  it('running mean and variance follow the plain-JS EMA; inference is s (x - mu) + bias with s = min(k, 1 / sqrt(max var + eps))', async () => {
    const c = 4;
    const data = randomArray(48 * c, rng(31), 1).map((v, i) => v * (1 + (i % c)) + 2);
    const layer = lip.layers.batchLipNorm({ momentum: 0.2, kCoefLip: 3, epsilon: 1e-3 });
    const { model, x } = await fitOn(layer, data, c, 12, 2);
    const oracle = runningOracle(data, c, 12, 2, 0.2);
    const stats = layer.runningStatistics();
    expect(stats.numBatches).toBe(8);
    expect(maxAbsDiff(stats.mean, oracle.mean)).toBeLessThan(1e-5);
    expect(maxAbsDiff(stats.variance, oracle.variance)).toBeLessThan(1e-5);
    const s = Math.min(3, 1 / Math.sqrt(Math.max(...oracle.variance) + 1e-3));
    expect(s).toBeLessThan(1); // the largest variance (about 16/3) sets the scale
    expect(layer.lipschitzBound()).toBeCloseTo(s, 5);
    const bias = biasOf(layer);
    const expected = Float64Array.from(data, (v, i) => s * (v - stats.mean[i % c]!) + bias[i % c]!);
    expect(maxAbsDiff(predictValues(model, x), expected)).toBeLessThan(1e-5);
    const rand = rng(9);
    const u = randomArray(N_PAIRS * c, rand, 3);
    const v = randomArray(N_PAIRS * c, rand, 3);
    const r = ratios(u, v, predictValues(model, tensorOf(u, [N_PAIRS, c])), predictValues(model, tensorOf(v, [N_PAIRS, c])), c, c);
    expect(Math.max(...r)).toBeLessThanOrEqual(s * (1 + 1e-5));
    const exported = lip.vanillaExport(model);
    expect(onlyBuiltins(exported)).toEqual([]);
    expect(maxAbsDiff(predictValues(model, x), predictValues(exported, x))).toBeLessThan(1e-5);
    expect(lip.lipschitzBound(exported)).toBeCloseTo(s, 5);
    const loaded = await saveAndLoad(model);
    expect(maxAbsDiff(predictValues(model, x), predictValues(loaded, x))).toBe(0);
    tf.dispose(x);
    [model, exported, loaded].forEach((m) => m.dispose());
  });

  it('caps the scale at kCoefLip for inputs of small variance', () => {
    const layer = lip.layers.batchLipNorm({ kCoefLip: 0.5 });
    predictValues(layer, tf.zeros([2, 3]));
    // Running variance starts at 1: min(0.5, 1 / sqrt(1 + 1e-5)) = 0.5.
    expect(layer.lipschitzBound()).toBe(0.5);
    const xs = tf.tensor2d([[1, 2, 3]]);
    expect(Array.from(predictValues(layer, xs))).toEqual([0.5, 1, 1.5]);
    xs.dispose();
  });

  it('refuses bad epsilon, momentum and unknown keys', () => {
    expect(thrownConfigError(() => lip.layers.batchLipNorm({ epsilon: -1 })).message).toBe('epsilon expected a finite number >= 0, but got -1.');
    expect(thrownConfigError(() => lip.layers.batchLipNorm({ momentum: 2 })).message).toMatch(/^momentum expected/);
    expect(thrownConfigError(() => lip.layers.batchLipNorm({ eps: 1e-3 } as never)).message).toMatch(/^batchLipNorm: unknown option 'eps'/);
  });
});
