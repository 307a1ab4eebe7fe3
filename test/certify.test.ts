/**
 * Certified radii: hand-computed values on fixed logits (float64 references), batching, the
 * model's bound as default L, and soundness on a trained 1-Lipschitz MNIST model against a PGD-L2
 * attack written in test/helpers/attacks.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as lip from '../src';
import { LipschitzConfigError } from '../src/core/errors';
import { pgdL2 } from './helpers/attacks';
import { singularValues } from './helpers/oracles';

const LOGITS = [
  [2.0, -0.5, 0.3],
  [0.1, 0.4, 0.35],
  [1.2, 0.2, -1.0],
  [-0.3, -0.3, 0.9],
  [0.7, 0.7, 0.1], // tie: margin 0
];

/** top1 - top2 in float64. */
const refMargin = (row: number[]) => {
  const s = row.slice().sort((a, b) => b - a);
  return s[0]! - s[1]!;
};

describe('certifyLogits', () => {
  it('margin / (sqrt(2) L) by default, margin / (2 L) with disjointNeurons', () => {
    for (const lipConst of [1, 0.5, 3]) {
      for (const disjointNeurons of [false, true]) {
        const got = tf.tidy(() => Array.from(lip.certifyLogits(tf.tensor2d(LOGITS), { lipConst, disjointNeurons }).dataSync()));
        const factor = disjointNeurons ? 2 * lipConst : Math.sqrt(2) * lipConst;
        got.forEach((v, i) => expect(v).toBeCloseTo(refMargin(LOGITS[i]!) / factor, 6));
      }
    }
    // Hand-checked: margin 1.7 -> 1.7 / sqrt(2) = 1.2020815; / 2 = 0.85.
    const first = tf.tidy(() => lip.certifyLogits(tf.tensor2d([LOGITS[0]!])).dataSync()[0]!);
    expect(first).toBeCloseTo(1.2020815, 6);
  });

  it('single output (binary): |f(x)| / L, for [n, 1] and [n]', () => {
    const f = [0.8, -0.3, 0.0, -1.5];
    const a = tf.tidy(() => Array.from(lip.certifyLogits(tf.tensor2d(f.map((v) => [v])), { lipConst: 2 }).dataSync()));
    const b = tf.tidy(() => Array.from(lip.certifyLogits(tf.tensor1d(f), { lipConst: 2 }).dataSync()));
    f.forEach((v, i) => {
      expect(a[i]).toBeCloseTo(Math.abs(v) / 2, 6);
      expect(b[i]).toBeCloseTo(Math.abs(v) / 2, 6);
    });
  });
});

describe('certify(model, x)', () => {
  it('runs the model in batches, returns a Float32Array and leaks nothing', () => {
    // Linear model f(x) = x W with a known kernel.
    const w = [
      [1, 0.5, -0.2],
      [0.3, -1, 0.4],
    ];
    const model = tfl.sequential({ layers: [tfl.layers.dense({ units: 3, inputShape: [2], useBias: false })] });
    model.layers[0]!.setWeights([tf.tensor2d(w)]);
    const xs = Array.from({ length: 7 }, (_, i) => [Math.sin(i + 1), Math.cos(2 * i)]);
    const x = tf.tensor2d(xs);
    const before = tf.memory().numTensors;
    const radii = lip.certify(model, x, { lipConst: 1.5, batchSize: 3 });
    expect(tf.memory().numTensors).toBe(before);
    expect(radii).toBeInstanceOf(Float32Array);
    expect(radii).toHaveLength(7);
    xs.forEach((xi, i) => {
      const logits = [0, 1, 2].map((j) => xi[0]! * w[0]![j]! + xi[1]! * w[1]![j]!);
      expect(radii[i]).toBeCloseTo(refMargin(logits) / (Math.sqrt(2) * 1.5), 5);
    });
    // Default L: the model's certified bound, >= the exact spectral norm of W (float64 oracle).
    const sigma = singularValues(w)[0]!;
    const byBound = lip.certify(model, x);
    const bound = lip.lipschitzBound(model);
    expect(bound).toBeGreaterThanOrEqual(sigma * (1 - 1e-6));
    xs.forEach((xi, i) => {
      const logits = [0, 1, 2].map((j) => xi[0]! * w[0]![j]! + xi[1]! * w[1]![j]!);
      expect(byBound[i]).toBeCloseTo(refMargin(logits) / (Math.sqrt(2) * bound), 5);
      expect(byBound[i]!).toBeLessThanOrEqual(refMargin(logits) / (Math.sqrt(2) * sigma) + 1e-6);
    });
    x.dispose();
    model.dispose();
  });

  it('rejects bad settings', () => {
    const model = tfl.sequential({ layers: [tfl.layers.dense({ units: 3, inputShape: [2] })] });
    const x = tf.zeros([2, 2]);
    expect(() => lip.certify(model, x, { lipConst: -1 })).toThrow(LipschitzConfigError);
    expect(() => lip.certify(model, x, { lipConst: 1, disjointNeurons: 'no' as never })).toThrow(/disjointNeurons expected a boolean/);
    expect(() => lip.certify(model, x, { lipConst: 1, batchSize: 0 })).toThrow(/batchSize expected a positive integer, but got 0/);
    x.dispose();
    model.dispose();
  });
});

describe('certificates are sound on a trained 1-Lipschitz MNIST model', () => {
  const N = 200;
  let model: tfl.Sequential;
  let xTest: tf.Tensor2D;
  let predicted: Int32Array;
  let radii: Float32Array;
  let bound: number;

  beforeAll(async () => {
    const data = lip.data.loadMnist({ trainSize: 2000, testSize: N });
    model = lip.sequential({
      layers: [
        lip.layers.spectralDense({ units: 64, activation: 'relu', inputShape: [784] } as never),
        lip.layers.spectralDense({ units: 32, activation: 'relu' } as never),
        lip.layers.spectralDense({ units: 10 } as never),
      ] as unknown as tfl.layers.Layer[],
    });
    model.compile({ optimizer: tf.train.adam(5e-3), loss: lip.losses.multiclassHKR({ alpha: 10, minMargin: 0.5 }) });
    await model.fit(data.xTrain, data.yTrain, { epochs: 4, batchSize: 100, verbose: 0 });
    xTest = data.xTest as tf.Tensor2D;
    tf.dispose([data.xTrain, data.yTrain, data.yTest]);
    predicted = tf.tidy(() => tf.argMax(model.predict(xTest) as tf.Tensor, 1).dataSync() as Int32Array);
    bound = lip.lipschitzBound(model);
    radii = lip.certify(model, xTest);
  });

  afterAll(() => {
    xTest?.dispose();
    model?.dispose();
  });

  it('the model learned something and certifies non-trivial radii', () => {
    // Certified from the float32 W-bars: within Björck's tolerance of the requested 1.
    expect(bound).toBeLessThanOrEqual(1 + 1e-3);
    const labels = lip.data.loadMnist({ trainSize: 1, testSize: N }).labelsTest;
    const acc = predicted.reduce((s, p, i) => s + (p === labels[i] ? 1 : 0), 0) / N;
    expect(acc).toBeGreaterThan(0.7);
    const mean = radii.reduce((s, r) => s + r, 0) / N;
    expect(mean).toBeGreaterThan(0.05);
  });

  it('PGD-L2 never changes a prediction within the certified radius (200 samples)', () => {
    const f = (x: tf.Tensor2D) => model.apply(x) as tf.Tensor2D;
    const { flipped, maxRelNorm } = pgdL2(f, xTest, predicted, { radii, steps: 12, restarts: 3, seed: 1 });
    expect(maxRelNorm).toBeLessThanOrEqual(1 + 1e-6); // float32 rounding of the norm
    expect(flipped.filter(Boolean)).toHaveLength(0);
  });

  it('the attack is not vacuous: at 3x the certified radius it flips some predictions', () => {
    const f = (x: tf.Tensor2D) => model.apply(x) as tf.Tensor2D;
    const larger = radii.map((r) => 3 * r);
    const { flipped } = pgdL2(f, xTest, predicted, { radii: larger, steps: 10, restarts: 1, seed: 2 });
    expect(flipped.filter(Boolean).length).toBeGreaterThan(0);
  });
});
