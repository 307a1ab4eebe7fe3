/**
 * lip.lipschitzBound and the built-in bound table, against independent oracles: float64
 * singular values of impulse-response matrices (linear layers), activation slopes measured by
 * autodiff on a fine grid, hand-computed graph bounds, and the largest input-gradient norm found
 * on a trained model (random search + gradient ascent).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  ACTIVATION_LIPSCHITZ,
  builtinLipschitzBound,
  certifiedSpectralNorm,
  lipschitzBound,
  lipschitzRisk,
  sequential,
} from '../src/model';
import { impulseResponseMatrix, singularValues } from './helpers/oracles';
import { vanillaExport } from '../src/export';
import { spectralDense } from '../src/layers/dense';
import { seededValues, testFrobeniusDense, TestTriple } from './helpers/model_fixtures';

/** A linear Lipschitz layer with a given constant, for the hand-computed graph bounds. */
const lipDense = testFrobeniusDense;

/** Largest singular value (float64) of the linear part of a layer on inputs of `shape`. */
function linearNorm(layer: tfl.layers.Layer, shape: number[]): number {
  const f = (x: tf.Tensor) => {
    const zero = tf.zerosLike(x);
    return tf.sub(layer.apply(x) as tf.Tensor, layer.apply(zero) as tf.Tensor);
  };
  return singularValues(impulseResponseMatrix(f, shape))[0]!;
}

/** Builds a layer on `shape` and randomizes all its weights (deterministically). */
function built(layer: tfl.layers.Layer, shape: number[], seed = 1): tfl.layers.Layer {
  layer.apply(tfl.input({ shape }));
  layer.setWeights(
    layer.getWeights().map((w, i) => {
      const values = seededValues(w.size, seed * 31 + i);
      return tf.tensor(values, w.shape);
    }),
  );
  return layer;
}

describe('certifiedSpectralNorm', () => {
  it.each([
    [5, 3],
    [3, 7],
    [12, 12],
    [1, 6],
    [40, 9],
  ])('%p x %p random matrix: sigma_max <= bound <= sigma_max (1 + 1e-6)', (rows, cols) => {
    const values = Array.from(seededValues(rows * cols, rows * 100 + cols));
    const matrix = Array.from({ length: rows }, (_, r) => values.slice(r * cols, (r + 1) * cols));
    const sigma = singularValues(matrix)[0]!;
    const bound = certifiedSpectralNorm(values, rows, cols);
    expect(bound).toBeGreaterThanOrEqual(sigma * (1 - 1e-12));
    expect(bound).toBeLessThanOrEqual(sigma * (1 + 1e-6));
  });

  it('an orthogonal matrix (all singular values equal, the hardest case for the certificate)', () => {
    const c = Math.cos(0.3);
    const s = Math.sin(0.3);
    // Kronecker product of two rotations, scaled by 2.5: every singular value is 2.5.
    const r = [
      [c, -s],
      [s, c],
    ];
    const m: number[] = [];
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) m.push(2.5 * r[i >> 1]![j >> 1]! * r[i & 1]![j & 1]!);
    const bound = certifiedSpectralNorm(m, 4, 4);
    expect(bound).toBeGreaterThanOrEqual(2.5 * (1 - 1e-12));
    expect(bound).toBeLessThanOrEqual(2.5 * (1 + 1e-6));
  });

  it('clustered top singular values: within 1e-8 of sigma_max, and the same bound for W and W Q (Q orthogonal)', () => {
    // W = diag(1 - 1e-6 i) on 48 x 48 (the power iteration cannot separate them), then W Q with
    // Q a product of Givens rotations: same singular values, another iteration path.
    const k = 48;
    const w = Array.from({ length: k * k }, (_, i) => (i % (k + 1) === 0 ? 1 - 1e-6 * (i / (k + 1)) : 0));
    const rotated = [...w];
    for (let j = 0; j + 1 < k; j++) {
      const [c, s] = [Math.cos(0.7 + j), Math.sin(0.7 + j)];
      for (let r = 0; r < k; r++) {
        const [a, b] = [rotated[r * k + j]!, rotated[r * k + j + 1]!];
        rotated[r * k + j] = c * a - s * b;
        rotated[r * k + j + 1] = s * a + c * b;
      }
    }
    const bounds = [certifiedSpectralNorm(w, k, k), certifiedSpectralNorm(rotated, k, k)];
    bounds.forEach((b) => {
      expect(b).toBeGreaterThanOrEqual(1 - 1e-12);
      expect(b).toBeLessThanOrEqual(1 + 1e-8);
    });
    expect(Math.abs(bounds[0]! - bounds[1]!)).toBeLessThan(1e-8);
  });

  it('zero and non-finite matrices', () => {
    expect(certifiedSpectralNorm([0, 0, 0, 0], 2, 2)).toBe(0);
    expect(certifiedSpectralNorm([1, NaN], 1, 2)).toBe(Infinity);
  });
});

describe('built-in linear layers: table bound vs float64 operator norm', () => {
  const cases: Array<[string, () => tfl.layers.Layer, number[], boolean]> = [
    ['dense', () => tfl.layers.dense({ units: 4, useBias: true }), [6], true],
    ['conv2d 3x3 stride 1 same', () => tfl.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same' }), [5, 5, 2], false],
    ['conv2d 3x3 stride 2 valid', () => tfl.layers.conv2d({ filters: 2, kernelSize: 3, strides: 2 }), [7, 7, 2], false],
    ['conv1d k3 dilation 2', () => tfl.layers.conv1d({ filters: 2, kernelSize: 3, dilationRate: 2 }), [9, 2], false],
    ['conv2dTranspose stride 2', () => tfl.layers.conv2dTranspose({ filters: 2, kernelSize: 3, strides: 2, padding: 'same' }), [3, 3, 2], false],
    ['depthwiseConv2d x2', () => tfl.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same' }), [4, 4, 2], false],
    ['separableConv2d', () => tfl.layers.separableConv2d({ filters: 3, kernelSize: 2 }), [4, 4, 2], false],
    ['averagePooling2d 2/2 valid', () => tfl.layers.averagePooling2d({ poolSize: 2, strides: 2 }), [4, 4, 1], true],
    ['averagePooling2d 3/1 valid', () => tfl.layers.averagePooling2d({ poolSize: 3, strides: 1 }), [5, 5, 1], false],
    ['averagePooling2d 2/1 same', () => tfl.layers.averagePooling2d({ poolSize: 2, strides: 1, padding: 'same' }), [4, 4, 1], false],
    ['averagePooling2d 3/2 same', () => tfl.layers.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' }), [5, 5, 1], false],
    ['averagePooling1d 3/1 same', () => tfl.layers.averagePooling1d({ poolSize: 3, strides: 1, padding: 'same' }), [6, 1], false],
    ['globalAveragePooling2d', () => tfl.layers.globalAveragePooling2d({}), [3, 4, 2], true],
    ['zeroPadding2d', () => tfl.layers.zeroPadding2d({ padding: 1 }), [3, 3, 1], true],
    ['upSampling2d nearest 2x3', () => tfl.layers.upSampling2d({ size: [2, 3] }), [2, 2, 1], true],
    ['repeatVector 3', () => tfl.layers.repeatVector({ n: 3 }), [4], true],
    ['rescaling -0.7', () => tfl.layers.rescaling({ scale: -0.7, offset: 2 }), [3], true],
    ['batchNormalization (inference)', () => tfl.layers.batchNormalization({}), [5], true],
  ];

  it.each(cases)('%s', (_label, make, shape, tight) => {
    const layer = make();
    built(layer, shape);
    if (layer.getClassName() === 'BatchNormalization') {
      // gamma, beta, moving mean, moving variance (must stay positive).
      const [g, b, m, v] = layer.getWeights();
      layer.setWeights([g!, b!, m!, tf.add(tf.abs(v!), 0.05)]);
    }
    const sigma = linearNorm(layer, shape);
    const bound = builtinLipschitzBound(layer, [null, ...shape]);
    expect(bound).toBeDefined();
    expect(bound!).toBeGreaterThanOrEqual(sigma * (1 - 1e-5));
    if (tight) expect(bound!).toBeLessThanOrEqual(sigma * (1 + 1e-5));
  });

  it('average pooling with same padding and overlapping windows really exceeds 1 (the reason it is rejected)', () => {
    const layer = tfl.layers.averagePooling2d({ poolSize: 2, strides: 1, padding: 'same' });
    layer.apply(tfl.input({ shape: [4, 4, 1] }));
    expect(linearNorm(layer, [4, 4, 1])).toBeGreaterThan(1.01);
    expect(lipschitzRisk(layer, [null, 4, 4, 1])).toMatch(/border/);
    const valid = tfl.layers.averagePooling2d({ poolSize: 3, strides: 1 });
    valid.apply(tfl.input({ shape: [5, 5, 1] }));
    expect(lipschitzRisk(valid, [null, 5, 5, 1])).toBeNull();
  });
});

describe('nonlinear built-ins', () => {
  /** Largest ||f(x) - f(y)|| / ||x - y|| over random close and far pairs. */
  function empiricalRatio(f: (x: tf.Tensor) => tf.Tensor, shape: number[], pairs: number): number {
    return tf.tidy(() => {
      const size = shape.reduce((p, d) => p * d, 1);
      const x = tf.tensor(seededValues(pairs * size, 7), [pairs, ...shape]);
      const scale = tf.reshape(tf.tensor(Array.from({ length: pairs }, (_, i) => (i % 2 === 0 ? 1e-2 : 2))), [pairs, ...shape.map(() => 1)]);
      const y = tf.add(x, tf.mul(scale, tf.tensor(seededValues(pairs * size, 9), [pairs, ...shape])));
      const num = tf.norm(tf.reshape(tf.sub(f(x), f(y)), [pairs, -1]), 'euclidean', 1);
      const den = tf.norm(tf.reshape(tf.sub(x, y), [pairs, -1]), 'euclidean', 1);
      return tf.max(tf.div(num, den)).dataSync()[0]!;
    });
  }

  it.each([
    [3, 1],
    [2, 1],
    [3, 2],
  ])('maxPooling2d pool %p stride %p: empirical ratio <= bound sqrt(ceil(p/s)^2)', (pool, stride) => {
    const layer = tfl.layers.maxPooling2d({ poolSize: pool, strides: stride });
    const shape = [6, 6, 1];
    layer.apply(tfl.input({ shape }));
    const bound = builtinLipschitzBound(layer, [null, ...shape])!;
    expect(bound).toBeCloseTo(Math.ceil(pool / stride), 12);
    const ratio = empiricalRatio((x) => layer.apply(x) as tf.Tensor, shape, 400);
    expect(ratio).toBeLessThanOrEqual(bound * (1 + 1e-5));
    // The overlap is real: a spike at a shared position moves several outputs.
    const spike = tf.buffer([1, ...shape]);
    spike.set(1, 0, 2, 2, 0);
    const out = layer.apply(spike.toTensor()) as tf.Tensor;
    expect(tf.norm(out).dataSync()[0]).toBeGreaterThan(1);
  });

  it.each(Object.keys(ACTIVATION_LIPSCHITZ).filter((a) => a !== 'softmax'))('activation %s: max |f\'| on a grid <= table value (and close to it)', (name) => {
    const slope = tf.tidy(() => {
      const layer = tfl.layers.activation({ activation: name as 'relu' });
      const xs = tf.linspace(-12, 12, 240001);
      const g = tf.grad((z: tf.Tensor) => tf.sum(layer.apply(z) as tf.Tensor))(xs);
      return tf.max(tf.abs(g)).dataSync()[0]!;
    });
    const table = ACTIVATION_LIPSCHITZ[name]!;
    expect(slope).toBeLessThanOrEqual(table * (1 + 1e-6));
    if (name !== 'linear') expect(slope).toBeGreaterThanOrEqual(table * 0.995);
  });

  it('softmax: Jacobian diag(p) - p p^T has norm <= 1/2, reached for two equal logits', () => {
    const layer = tfl.layers.softmax({});
    let worst = 0;
    for (let trial = 0; trial < 30; trial++) {
      const logits = Array.from(seededValues(4, trial + 3)).map((v) => v * (trial % 5));
      if (trial === 0) logits.splice(0, 4, 3, 3, -20, -20);
      // Jacobian rows by autodiff (float32), norm in float64.
      const rows = [0, 1, 2, 3].map((i) =>
        tf.tidy(() => Array.from(tf.grad((z: tf.Tensor) => tf.sum(tf.slice(layer.apply(tf.reshape(z, [1, 4])) as tf.Tensor, [0, i], [1, 1])))(tf.tensor1d(logits)).dataSync())),
      );
      worst = Math.max(worst, singularValues(rows)[0]!);
    }
    expect(worst).toBeLessThanOrEqual(0.5 + 1e-6);
    expect(worst).toBeGreaterThan(0.49);
    expect(builtinLipschitzBound(layer)).toBe(0.5);
  });
});

describe('graph propagation (functional models)', () => {
  /** Linear Lipschitz layers with their constants, on a 4-dim input. */
  function branches() {
    const input = tfl.input({ shape: [4] });
    const a = lipDense({ units: 3, kCoefLip: 2 }).apply(input) as tfl.SymbolicTensor;
    const b = lipDense({ units: 3, kCoefLip: 3 }).apply(input) as tfl.SymbolicTensor;
    return { input, a, b };
  }

  it('add sums, concatenate takes sqrt of the sum of squares, average the mean, maximum like concatenate', () => {
    const { input, a, b } = branches();
    const sum = tfl.layers.add().apply([a, b]) as tfl.SymbolicTensor;
    const cat = tfl.layers.concatenate().apply([a, b]) as tfl.SymbolicTensor;
    const avg = tfl.layers.average().apply([a, b]) as tfl.SymbolicTensor;
    const max = tfl.layers.maximum().apply([a, b]) as tfl.SymbolicTensor;
    const after = lipDense({ units: 2, kCoefLip: 0.5 }).apply(sum) as tfl.SymbolicTensor;
    expect(lipschitzBound(tfl.model({ inputs: input, outputs: sum }))).toBeCloseTo(5, 12);
    expect(lipschitzBound(tfl.model({ inputs: input, outputs: cat }))).toBeCloseTo(Math.sqrt(13), 12);
    expect(lipschitzBound(tfl.model({ inputs: input, outputs: avg }))).toBeCloseTo(2.5, 12);
    expect(lipschitzBound(tfl.model({ inputs: input, outputs: max }))).toBeCloseTo(Math.sqrt(13), 12);
    expect(lipschitzBound(tfl.model({ inputs: input, outputs: after }))).toBeCloseTo(2.5, 12);
    // Two outputs are bounded as their concatenation.
    expect(lipschitzBound(tfl.model({ inputs: input, outputs: [sum, a] }))).toBeCloseTo(Math.sqrt(25 + 4), 12);
  });

  it('a residual block x + f(x) and a chain through a concatenation, by hand', () => {
    const input = tfl.input({ shape: [4] });
    const f = lipDense({ units: 4, kCoefLip: 0.5, activation: 'relu' }).apply(input) as tfl.SymbolicTensor;
    const res = tfl.layers.add().apply([input, f]) as tfl.SymbolicTensor; // 1 + 0.5
    const act = tfl.layers.activation({ activation: 'sigmoid' }).apply(res) as tfl.SymbolicTensor; // x 1/4
    const cat = tfl.layers.concatenate().apply([act, input]) as tfl.SymbolicTensor; // sqrt(0.375^2 + 1)
    const out = lipDense({ units: 2, kCoefLip: 2 }).apply(cat) as tfl.SymbolicTensor; // x 2
    expect(lipschitzBound(tfl.model({ inputs: input, outputs: out }))).toBeCloseTo(2 * Math.sqrt(0.375 ** 2 + 1), 12);
  });

  it('multiply, unknown layers and non-Lipschitz merges give Infinity; a nested model is walked', () => {
    const { input, a, b } = branches();
    const prod = tfl.layers.multiply().apply([a, b]) as tfl.SymbolicTensor;
    expect(lipschitzBound(tfl.model({ inputs: input, outputs: prod }))).toBe(Infinity);
    const inner = tfl.sequential({ layers: [lipDense({ units: 3, kCoefLip: 2, inputShape: [4] }), tfl.layers.activation({ activation: 'tanh' })] });
    const outerInput = tfl.input({ shape: [4] });
    const x = inner.apply(outerInput) as tfl.SymbolicTensor;
    const y = lipDense({ units: 2, kCoefLip: 3 }).apply(x) as tfl.SymbolicTensor;
    expect(lipschitzBound(tfl.model({ inputs: outerInput, outputs: y }))).toBeCloseTo(6, 12);
  });

  it('two inputs: each input has bound 1 w.r.t. the joint input', () => {
    const x1 = tfl.input({ shape: [3] });
    const x2 = tfl.input({ shape: [2] });
    const y = tfl.layers.add().apply([lipDense({ units: 2, kCoefLip: 2 }).apply(x1) as tfl.SymbolicTensor, x2]) as tfl.SymbolicTensor;
    expect(lipschitzBound(tfl.model({ inputs: [x1, x2], outputs: y }))).toBeCloseTo(3, 12);
  });

  it('a plain tf.sequential of Lipschitz and built-in layers: the product, Infinity for an unknown custom layer', () => {
    const model = tfl.sequential({
      layers: [lipDense({ units: 4, kCoefLip: 1.5, inputShape: [3] }), tfl.layers.activation({ activation: 'hardSigmoid' }), lipDense({ units: 2, kCoefLip: 2 })],
    });
    expect(lipschitzBound(model)).toBeCloseTo(1.5 * 0.2 * 2, 12);
    const withCustom = tfl.sequential({ layers: [lipDense({ units: 4, inputShape: [3] }), new TestTriple({})] });
    expect(lipschitzBound(withCustom)).toBe(Infinity);
  });

  it('a plain dense gets its certified spectral norm', () => {
    const dense = tfl.layers.dense({ units: 3, activation: 'tanh' });
    const model = tfl.sequential({ layers: [tfl.layers.inputLayer({ inputShape: [5] }), dense] });
    const kernel = dense.getWeights()[0]!.arraySync() as number[][];
    const sigma = singularValues(kernel)[0]!;
    expect(lipschitzBound(model)).toBeGreaterThanOrEqual(sigma * (1 - 1e-7));
    expect(lipschitzBound(model)).toBeLessThanOrEqual(sigma * (1 + 1e-6));
  });
});

/**
 * Empirical Lipschitz constant of `model` (R^d -> R^m): the largest ||J(x)||_2 over random
 * inputs (J by autodiff, one gradient per output, its norm in float64), then gradient ascent on
 * ||f(x) - f(y)||^2 / ||x - y||^2 from the best pairs.
 */
function empiricalLipschitz(model: tfl.LayersModel, d: number, m: number, samples: number): number {
  const x = tf.tensor2d(seededValues(samples * d, 11), [samples, d]);
  const rows = [];
  for (let i = 0; i < m; i++) {
    const g = tf.grad((z: tf.Tensor) => tf.sum(tf.slice(model.apply(z) as tf.Tensor, [0, i], [samples, 1])))(x);
    rows.push(g.arraySync() as number[][]);
    g.dispose();
  }
  let best = 0;
  const norms: number[] = [];
  for (let n = 0; n < samples; n++) {
    const jac = rows.map((r) => r[n]!);
    const s = singularValues(jac)[0]!;
    norms.push(s);
    best = Math.max(best, s);
  }
  // Gradient ascent on the difference quotient, from the 5 best points.
  const order = norms.map((s, i) => [s, i] as const).sort((p, q) => q[0] - p[0]).slice(0, 5);
  const xs = x.arraySync() as number[][];
  x.dispose();
  for (const [, i] of order) {
    let p: tf.Tensor = tf.tensor2d([xs[i]!]);
    let q: tf.Tensor = tf.add(p, tf.mul(0.05, tf.tensor2d([Array.from(seededValues(d, i + 5))])));
    const quotient = (u: tf.Tensor, v: tf.Tensor) =>
      tf.div(tf.sum(tf.square(tf.sub(model.apply(u) as tf.Tensor, model.apply(v) as tf.Tensor))), tf.sum(tf.square(tf.sub(u, v))));
    for (let step = 0; step < 60; step++) {
      const [gp, gq] = tf.grads((u: tf.Tensor, v: tf.Tensor) => quotient(u, v))([p, q]);
      const scale = tf.tidy(() => tf.div(0.02, tf.add(tf.norm(tf.concat([gp!, gq!], 1)), 1e-12)));
      const np = tf.add(p, tf.mul(scale, gp!));
      const nq = tf.add(q, tf.mul(scale, gq!));
      tf.dispose([gp!, gq!, scale, p, q]);
      p = np;
      q = nq;
      const r = tf.tidy(() => Math.sqrt(quotient(p, q).dataSync()[0]!));
      if (Number.isFinite(r)) best = Math.max(best, r);
    }
    tf.dispose([p, q]);
  }
  return best;
}

describe('trained model: empirical Lipschitz constant <= lipschitzBound <= kCoefLip', () => {
  it.each([1, 2])('3 spectralDense layers with relu, kCoefLip %p', async (k) => {
    const model = sequential({
      layers: [
        spectralDense({ units: 8, activation: 'relu', inputShape: [4] }),
        spectralDense({ units: 8, activation: 'relu' }),
        spectralDense({ units: 3 }),
      ],
      kCoefLip: k,
    });
    model.compile({ optimizer: tf.train.adam(0.01), loss: 'meanSquaredError' });
    const xs = tf.tensor2d(seededValues(64 * 4, 21), [64, 4]);
    const ys = tf.tensor2d(seededValues(64 * 3, 22), [64, 3]);
    const before = model.getWeights()[0]!.dataSync().slice();
    await model.fit(xs, ys, { epochs: 4, batchSize: 16, verbose: 0 });
    expect(Array.from(model.getWeights()[0]!.dataSync()).some((v, i) => Math.abs(v - before[i]!) > 1e-4)).toBe(true);
    tf.dispose([xs, ys]);

    const bound = lipschitzBound(model);
    const empirical = empiricalLipschitz(model, 4, 3, 1000);
    expect(empirical).toBeGreaterThan(0);
        expect(empirical).toBeLessThanOrEqual(bound * (1 + 1e-4));
    expect(bound).toBeLessThanOrEqual(k * (1 + 1e-3));
    // The same certificate recomputed from the weights actually used in inference: the export
    // holds the normalized kernels in plain Dense layers, bounded by their float64 spectral norms.
    const exported = vanillaExport(model);
    const fromWeights = lipschitzBound(exported);
    expect(empirical).toBeLessThanOrEqual(fromWeights * (1 + 1e-4));
    expect(fromWeights).toBeLessThanOrEqual(k * (1 + 1e-3));
    exported.dispose();
    model.dispose();
  });
});
