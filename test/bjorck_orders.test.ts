/**
 * Björck orders (LNets' `bjorck_orthonormalize(w, beta, iters, order)`, issue 15):
 * - every order 1..4 brings a matrix of condition number up to 10 (largest singular value 1)
 *   to orthonormality, checked in float64 (`||ZᵀZ - I||` on the float64 Gram matrix of the float32
 *   result, and every float64 singular value within 1e-5 of 1), tall, wide and square, from a
 *   cold start; the iteration counts are those of docs/normalizers.md ("Björck orders"), asserted
 *   loosely (a higher order never needs more iterations than a lower one);
 * - the step polynomials are LNets' (coefficients in `Y = WᵀW` recovered from `stepMatrix` on
 *   scalar matrices, against the closed forms);
 * - order 1 is the library's previous update: bit for bit the same result as without the option;
 * - `bjorckOrder` on the layers: validated (LipschitzConfigError naming argument and value),
 *   written by getConfig and restored by fromConfig, the order reaching the orthogonalizer;
 * - LNets' per-update / per-epoch projections (`lip.constraints.projection`,
 *   `lip.callbacks.perEpochProjection`) on a built-in Dense kernel trained by `lip.train.fit`:
 *   float64 singular values (or column L1 norms for 'linf') after training against before, and
 *   against the same training without the projection;
 * - no tensor leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { LipschitzConfigError } from '../src/core/errors';
import { spectralConv2d } from '../src/layers/convolutional';
import { frobeniusDense, spectralDense, SpectralDense } from '../src/layers/dense';
import { projection, ProjectionConstraint, spectral as spectralConstraint } from '../src/constraints';
import { perEpochProjection } from '../src/callbacks';
import { fit } from '../src/train';
import { spectral as spectralInitializer } from '../src/initializers';
import { bjorckOrthogonalize } from '../src/normalizers/orthogonalizers/bjorck/bjorck';
import { stepMatrix, stepRate } from '../src/normalizers/orthogonalizers/bjorck/orders';
import { createOrthogonalizer } from '../src/normalizers/orthogonalizers';
import { singularValuesOf } from '../src/linalg/svd';
import { matmul, transpose } from './helpers/dense';
import { givensOrthogonal } from './helpers/random';
import { toRows } from './helpers/oracles';

/** `U diag(s) Vᵀ` (float64) with singular values from 1 down to `1 / kappa` (geometric). */
function conditioned(rows: number, cols: number, kappa: number, seed: number): number[][] {
  const k = Math.min(rows, cols);
  const u = givensOrthogonal(rows, seed, 4).map((row) => row.slice(0, k));
  const v = givensOrthogonal(cols, seed + 1, 4).map((row) => row.slice(0, k));
  const s = Array.from({ length: k }, (_, i) => kappa ** (-i / (k - 1)));
  return matmul(u.map((row) => row.map((x, j) => x * s[j]!)), transpose(v));
}

/** Float64 `||G - I||_F` of the small-side Gram matrix and `max |s_i - 1|` of a float32 result. */
function orthonormalityError(z: number[][]): { gram: number; singular: number } {
  const tall = z.length >= z[0]!.length;
  const g = tall ? matmul(transpose(z), z) : matmul(z, transpose(z));
  let sum = 0;
  g.forEach((row, i) => row.forEach((x, j) => (sum += (x - (i === j ? 1 : 0)) ** 2)));
  const sv = singularValuesOf(z);
  return { gram: Math.sqrt(sum), singular: Math.max(...sv.map((s) => Math.abs(s - 1))) };
}

/** Iterations of each order to the tolerance `eps` from a cold start (`maxIterBjorck` 200). */
function runOrder(w: number[][], order: number, eps: number): { iterations: number; z: number[][] } {
  const wt = tf.tensor2d(w);
  const res = bjorckOrthogonalize(wt, null, { bjorckOrder: order, epsBjorck: eps, maxIterBjorck: 200 });
  const z = toRows(res.wBar);
  tf.dispose([wt, res.wBar, res.p]);
  return { iterations: res.iterations, z };
}

const SHAPES: Array<[number, number]> = [
  [64, 32],
  [32, 64],
  [48, 48],
];

describe('Björck orders 1..4 converge to float64 orthonormality (condition number 10, ||W|| = 1)', () => {
  const counts: Record<string, number[]> = {};
  it.each(SHAPES)('%i x %i', (rows, cols) => {
    const w = conditioned(rows, cols, 10, rows + 7 * cols);
    const before = tf.memory().numTensors;
    const iterations = [1, 2, 3, 4].map((order) => {
      const { iterations: n, z } = runOrder(w, order, 1e-6);
      const err = orthonormalityError(z);
      expect(err.singular).toBeLessThan(1e-5);
      expect(err.gram).toBeLessThan(1e-4);
      return n;
    });
    expect(tf.memory().numTensors).toBe(before);
    counts[`${rows}x${cols}`] = iterations;
    // The table of docs/normalizers.md, loosely: order 1 takes 10 to 20 iterations, and each
    // higher order at most as many as the order below it (and at least 3).
    expect(iterations[0]!).toBeGreaterThanOrEqual(8);
    expect(iterations[0]!).toBeLessThanOrEqual(20);
    for (let i = 1; i < 4; i++) {
      expect(iterations[i]!).toBeLessThanOrEqual(iterations[i - 1]!);
      expect(iterations[i]!).toBeGreaterThanOrEqual(3);
    }
  });

  afterAll(() => {
    // eslint-disable-next-line no-console
    if (process.env.BJORCK_ORDERS_TABLE === '1') console.log(JSON.stringify(counts));
  });
});

describe('the step polynomials are LNets\' (closed forms in Y = WᵀW)', () => {
  const closed: Record<number, (a: number) => number> = {
    1: (a) => 1.5 - 0.5 * a,
    2: (a) => 15 / 8 - (5 / 4) * a + (3 / 8) * a ** 2,
    3: (a) => 35 / 16 - (35 / 16) * a + (21 / 16) * a ** 2 - (5 / 16) * a ** 3,
    4: (a) => 315 / 128 - (105 / 32) * a + (189 / 64) * a ** 2 - (45 / 32) * a ** 3 + (35 / 128) * a ** 4,
  };
  it.each([1, 2, 3, 4])('order %i: q(a I) = closed form(a) I; one step contracts |s² - 1| as the rate says', (order) => {
    for (const a of [0.01, 0.3, 0.8, 1, 1.2]) {
      const y = tf.mul(tf.eye(3), a) as tf.Tensor2D;
      const q = stepMatrix(y, 0.5, order);
      const values = q.dataSync();
      expect(values[0]!).toBeCloseTo(closed[order]!(a), 5);
      expect(values[1]!).toBe(0);
      tf.dispose([y, q]);
      // Per singular value s = sqrt(a): d' = a q(a)² - 1, bounded by |d| rate(|d|).
      const d = a - 1;
      const next = a * closed[order]!(a) ** 2 - 1;
      expect(Math.abs(next)).toBeLessThanOrEqual(Math.abs(d) * stepRate(Math.abs(d), 0.5, order) + 1e-12);
    }
  });

  it('order 1 keeps betaBjorck: q = (1 + beta) I - beta Y', () => {
    const y = tf.mul(tf.eye(2), 0.6) as tf.Tensor2D;
    const q = stepMatrix(y, 0.25, 1);
    expect(q.dataSync()[0]!).toBeCloseTo(1.25 - 0.25 * 0.6, 6);
    tf.dispose([y, q]);
  });
});

describe('bjorckOrder on the layers, the initializer and the constraint', () => {
  it('order 1 is the default and gives the same W-bar, bit for bit, as before the option', () => {
    expect(createOrthogonalizer({}).config()['bjorckOrder']).toBe(1);
    const w = tf.tensor2d(conditioned(24, 12, 5, 3));
    const plain = bjorckOrthogonalize(w, null, {});
    const first = bjorckOrthogonalize(w, null, { bjorckOrder: 1 });
    expect(Array.from(first.wBar.dataSync())).toEqual(Array.from(plain.wBar.dataSync()));
    expect(first.iterations).toBe(plain.iterations);
    tf.dispose([w, plain.wBar, plain.p, first.wBar, first.p]);
  });

  it.each([
    [{ bjorckOrder: 5 }, 'bjorckOrder expected an integer from 1 to 4, but got 5.'],
    [{ bjorckOrder: 0 }, 'bjorckOrder expected an integer from 1 to 4, but got 0.'],
    [{ bjorckOrder: 2.5 }, 'bjorckOrder expected an integer from 1 to 4, but got 2.5.'],
    [{ bjorckOrder: '2' }, "bjorckOrder expected an integer from 1 to 4, but got '2'."],
    [{ bjorckOrder: 3, betaBjorck: 0.25 }, 'betaBjorck expected 0.5 with bjorckOrder 3 (the Taylor step of an order above 1 fixes the step size), but got 0.25.'],
    [{ orthogonalizer: 'polar', bjorckOrder: 2 }, "bjorckOrder expected to be left out with orthogonalizer 'polar' (it is a setting of 'bjorck'), but got 2."],
  ])('rejects %j', (settings, message) => {
    const error = new LipschitzConfigError(message);
    expect(() => spectralDense({ units: 2, ...(settings as object) })).toThrow(error);
    expect(() => spectralConv2d({ filters: 2, kernelSize: 3, ...(settings as object) })).toThrow(error);
    expect(() => spectralInitializer(settings as never)).toThrow(error);
    expect(() => spectralConstraint(settings as never)).toThrow(error);
  });

  it('a Frobenius layer rejects it (it has no iterative normalization)', () => {
    expect(() => frobeniusDense({ units: 2, bjorckOrder: 2 } as never)).toThrow(
      new LipschitzConfigError('bjorckOrder expected nothing (FrobeniusDense has no iterative normalization), but got 2.'),
    );
  });

  it('getConfig writes it, fromConfig and model JSON restore it; the layer trains with it', async () => {
    const before = tf.memory().numTensors;
    const layer = spectralDense({ units: 6, inputShape: [10], bjorckOrder: 3, maxIterBjorck: 4, name: 'orders_sd' });
    const config = layer.getConfig();
    expect(config['bjorckOrder']).toBe(3);
    expect(config['maxIterBjorck']).toBe(4);
    const copy = new SpectralDense(config as never);
    expect(copy.getConfig()['bjorckOrder']).toBe(3);
    const model = tfl.sequential({ layers: [layer] });
    const restored = await tfl.models.modelFromJSON(model.toJSON(null, false) as never);
    expect(restored.layers[0]!.getConfig()['bjorckOrder']).toBe(3);
    expect(spectralConstraint({ bjorckOrder: 4 }).getConfig()['bjorckOrder']).toBe(4);
    expect(spectralInitializer({ bjorckOrder: 2 }).getConfig()['bjorckOrder']).toBe(2);
    // A config saved before the option (no bjorckOrder) loads as order 1.
    const { bjorckOrder: _dropped, ...old } = config;
    expect(new SpectralDense({ ...old, name: 'orders_old' } as never).getConfig()['bjorckOrder']).toBe(1);
    // Trained with order 3, W-bar stays orthonormal (float64, to the default tolerance).
    const x = tf.randomNormal([32, 10], 0, 1, 'float32', 5);
    const y = tf.randomNormal([32, 6], 0, 1, 'float32', 6);
    const optimizer = tf.train.sgd(0.1);
    model.compile({ optimizer, loss: 'meanSquaredError' });
    await model.fit(x, y, { epochs: 2, batchSize: 16, verbose: 0 });
    const wBar = toRows(layer.weights.find((v) => v.name.endsWith('w_bar'))!.read());
    expect(orthonormalityError(wBar).singular).toBeLessThan(2e-3);
    tf.dispose([x, y]);
    model.dispose();
    restored.dispose();
    optimizer.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

/** A built-in Dense layer 12 -> 6 with small Gaussian weights (singular values about 0.1 to 0.6). */
function builtinModel(kernelConstraint?: ProjectionConstraint): { model: tfl.Sequential; optimizer: tf.Optimizer } {
  const layer = tfl.layers.dense({ units: 6, inputShape: [12], kernelInitializer: tfl.initializers.randomNormal({ stddev: 0.1, seed: 3 }), kernelConstraint });
  const model = tfl.sequential({ layers: [layer] });
  const optimizer = tf.train.sgd(0.01);
  model.compile({ optimizer, loss: 'meanSquaredError' });
  return { model, optimizer };
}

function kernelRows(model: tfl.Sequential): number[][] {
  return toRows(model.layers[0]!.getWeights()[0]!);
}

const maxDeviation = (rows: number[][], k: number) => Math.max(...singularValuesOf(rows).map((s) => Math.abs(s - k)));

describe('higher orders in the fused training product (tall kernel, small batch)', () => {
  it.each([2, 4])('order %i: SpectralDense 64 -> 8 trains through orthogonalMatMul and stays orthonormal', async (order) => {
    const before = tf.memory().numTensors;
    const layer = spectralDense({ units: 8, inputShape: [64], bjorckOrder: order, kernelInitializer: 'glorotUniform' });
    const model = tfl.sequential({ layers: [layer] });
    const optimizer = tf.train.sgd(0.05);
    model.compile({ optimizer, loss: 'meanSquaredError' });
    const x = tf.randomNormal([16, 64], 0, 1, 'float32', 7);
    const y = tf.randomNormal([16, 8], 0, 1, 'float32', 8);
    const history = await model.fit(x, y, { epochs: 3, batchSize: 4, verbose: 0 });
    const losses = history.history['loss'] as number[];
    expect(losses[2]!).toBeLessThan(losses[0]!);
    tf.dispose(model.predict(x));
    const wBar = toRows(layer.weights.find((v) => v.name.endsWith('w_bar'))!.read());
    expect(orthonormalityError(wBar).singular).toBeLessThan(2e-3);
    tf.dispose([x, y]);
    model.dispose();
    optimizer.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('per-update and per-epoch projections (LNets per_update_proj / per_epoch_proj, Parseval)', () => {
  let x: tf.Tensor;
  let y: tf.Tensor;
  beforeAll(() => {
    x = tf.randomNormal([64, 12], 0, 1, 'float32', 11);
    y = tf.randomNormal([64, 6], 0, 1, 'float32', 12);
  });
  afterAll(() => tf.dispose([x, y]));

  it("'l2': one Parseval step after each update of lip.train.fit brings every singular value to k", async () => {
    const before = tf.memory().numTensors;
    const { model, optimizer } = builtinModel(projection({ projection: 'l2', kCoefLip: 1.5 }));
    expect(maxDeviation(kernelRows(model), 1.5)).toBeGreaterThan(0.8);
    await fit(model, x, y, { epochs: 4, batchSize: 16, verbose: 0 });
    expect(maxDeviation(kernelRows(model), 1.5)).toBeLessThan(1e-3);
    model.dispose();
    optimizer.dispose();
    // The same training without applying the constraints leaves them where they were.
    const control = builtinModel(projection({ projection: 'l2', kCoefLip: 1.5 }));
    await fit(control.model, x, y, { epochs: 4, batchSize: 16, verbose: 0, applyConstraints: false });
    expect(maxDeviation(kernelRows(control.model), 1.5)).toBeGreaterThan(0.8);
    control.model.dispose();
    control.optimizer.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each([1, 2, 3, 4])("'l2' LNets projection, order %i, 20 steps: singular values within 1e-5 of 1", (order) => {
    const w = tf.tensor2d(conditioned(12, 6, 10, 5));
    const out = new ProjectionConstraint({ projection: 'l2', bjorckIter: 20, bjorckOrder: order }).apply(w);
    expect(maxDeviation(toRows(out), 1)).toBeLessThan(1e-5);
    tf.dispose([w, out]);
  });

  it("'linf': each unit's L1 norm is at most k after training (float64), and reaches it", async () => {
    const { model, optimizer } = builtinModel(projection({ projection: 'linf', kCoefLip: 0.25 }));
    const columnL1 = () => {
      const rows = kernelRows(model);
      return rows[0]!.map((_, j) => rows.reduce((sum, row) => sum + Math.abs(row[j]!), 0));
    };
    expect(Math.max(...columnL1())).toBeGreaterThan(0.5);
    await fit(model, x, y, { epochs: 2, batchSize: 16, verbose: 0 });
    const norms = columnL1();
    norms.forEach((n) => expect(n).toBeLessThanOrEqual(0.25 * (1 + 1e-5)));
    expect(Math.max(...norms)).toBeGreaterThan(0.25 * (1 - 1e-4));
    model.dispose();
    optimizer.dispose();
  });

  it('perEpochProjection projects every 2nd epoch: not after epoch 1, onto the orthonormal matrices after epoch 2', async () => {
    const before = tf.memory().numTensors;
    const { model, optimizer } = builtinModel();
    const callback = perEpochProjection({ bjorckIter: 20, everyEpochs: 2 });
    await fit(model, x, y, { epochs: 1, batchSize: 16, verbose: 0, callbacks: [callback] });
    expect(callback.lastCount).toBe(0);
    expect(maxDeviation(kernelRows(model), 1)).toBeGreaterThan(0.3);
    await fit(model, x, y, { epochs: 2, initialEpoch: 1, batchSize: 16, verbose: 0, callbacks: [callback] });
    expect(callback.lastCount).toBe(1);
    expect(maxDeviation(kernelRows(model), 1)).toBeLessThan(1e-5);
    model.dispose();
    optimizer.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each([
    [() => projection({ projection: 'l1' as never }), "projection expected one of 'l2', 'linf', but got 'l1'."],
    [() => projection({ bjorckIter: 0 }), 'bjorckIter expected a positive integer, but got 0.'],
    [() => projection({ betaBjorck: 0.7 }), 'betaBjorck expected a number in (0, 0.5], but got 0.7.'],
    [() => projection({ bjorckOrder: 2, betaBjorck: 0.1 }), 'betaBjorck expected 0.5 with bjorckOrder 2 (the Taylor step of an order above 1 fixes the step size), but got 0.1.'],
    [() => projection({ kCoefLip: -1 }), 'kCoefLip expected a finite number > 0, but got -1.'],
    [() => perEpochProjection({ everyEpochs: 1.5 }), 'everyEpochs expected a positive integer, but got 1.5.'],
  ])('rejects bad settings (%#)', (make, message) => {
    expect(make).toThrow(new LipschitzConfigError(message));
  });

  it('the constraint round-trips through the model JSON', async () => {
    const { model, optimizer } = builtinModel(projection({ projection: 'linf', kCoefLip: 2 }));
    const restored = await tfl.models.modelFromJSON(model.toJSON(null, false) as never);
    const config = restored.layers[0]!.getConfig()['kernelConstraint'] as { className: string; config: Record<string, unknown> };
    expect(config.className).toBe('ProjectionConstraint');
    expect(config.config).toEqual({ projection: 'linf', kCoefLip: 2, bjorckIter: 1, betaBjorck: 0.5, bjorckOrder: 1 });
    model.dispose();
    restored.dispose();
    optimizer.dispose();
  });
});
