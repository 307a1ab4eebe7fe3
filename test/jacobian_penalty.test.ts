/**
 * lip.penalties.jacobianSpectral (LNets' spec_jac) against float64 plain-JS oracles: the top
 * singular value of a linear map's matrix (power iteration on A^T A, cross-checked with mathjs),
 * central differences of lambda * sigma_max(A)^p in the weights, the spectral norm of a ReLU
 * network's finite-difference Jacobian (a plain-JS forward pass from its weights), LNets' batch
 * fixed point max_|u|=1 mean_i ||J_i^T u|| by a grid over the circle, then lip.train.fit, leaks,
 * the second-order refusal and bad input.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { LipschitzConfigError } from '../src/core/errors';
import { jacobianSpectral, type JacobianSpectralArgs } from '../src/penalties';
import type { PenaltyCallContext, PenaltyFunction } from '../src/penalties/types';
import { fit } from '../src/train';
import { normals } from './helpers/linear_classifier';
import { singularValues } from './helpers/oracles';

type Matrix = number[][];
const mse = (yt: tf.Tensor, yp: tf.Tensor) => tf.mean(tf.square(tf.sub(yt, yp)), -1);

/** A Dense network with seeded weights: `sizes` = [input, hidden..., output]. */
function mlp(sizes: number[], activation: 'relu' | 'tanh' | 'linear', seed: number, useBias = true): tfl.LayersModel {
  const model = tfl.sequential();
  for (let i = 1; i < sizes.length; i++) {
    const last = i === sizes.length - 1;
    model.add(tfl.layers.dense({ units: sizes[i]!, inputShape: i === 1 ? [sizes[0]!] : undefined, activation: last ? 'linear' : activation, useBias }));
  }
  model.setWeights(model.getWeights().map((w, k) => tf.tensor(normals(w.size, seed + 17 * k, w.rank === 2 ? 1 / Math.sqrt(w.shape[0]!) : 0.3), w.shape)));
  return model;
}

function context(model: tfl.LayersModel, x: tf.Tensor): PenaltyCallContext {
  const yPred = model.apply(x) as tf.Tensor;
  return { model, x, y: tf.zerosLike(yPred), yPred, loss: mse };
}

/** `steps` penalty calls off the tape; the last value. */
function run(penalty: PenaltyFunction, ctx: PenaltyCallContext, steps: number): number {
  let last = NaN;
  for (let s = 0; s < steps; s++) last = tf.tidy(() => penalty(ctx).dataSync()[0] as number);
  return last;
}

/** Largest singular value in float64: power iteration on A^T A (A: rows x cols). */
function sigmaMax(a: Matrix): number {
  const cols = a[0]!.length;
  let v = Array.from({ length: cols }, (_, j) => 1 + 0.1 * j);
  let sigma = 0;
  for (let it = 0; it < 2000; it++) {
    const av = a.map((row) => row.reduce((s, x, j) => s + x * v[j]!, 0));
    const atav = v.map((_, j) => a.reduce((s, row, i) => s + row[j]! * av[i]!, 0));
    const norm = Math.sqrt(atav.reduce((s, x) => s + x * x, 0));
    sigma = Math.sqrt(norm);
    v = atav.map((x) => x / norm);
  }
  return sigma;
}

/** The Dense stack as a float64 function of one sample, from each layer's [kernel, [bias]?]. */
function forward64(weights: Matrix[][], activation: (z: number) => number): (x: number[]) => number[] {
  return (x) => {
    let h = x;
    for (let l = 0; l < weights.length; l++) {
      const [kernel, bias] = weights[l]!;
      const z = kernel![0]!.map((_, j) => h.reduce((s, hi, i) => s + hi * kernel![i]![j]!, 0) + (bias?.[0]?.[j] ?? 0));
      h = l === weights.length - 1 ? z : z.map(activation);
    }
    return h;
  };
}

function layerWeights(model: tfl.LayersModel): Matrix[][] {
  return model.layers.map((layer) => layer.getWeights().map((w) => (w.rank === 2 ? (w.arraySync() as Matrix) : [Array.from(w.dataSync())])));
}

/** Jacobian (outputs x inputs) of `f` at `x` by central differences, float64. */
function fdJacobian(f: (x: number[]) => number[], x: number[], h = 1e-6): Matrix {
  const columns = x.map((_, j) => {
    const plus = x.slice();
    const minus = x.slice();
    plus[j] = x[j]! + h;
    minus[j] = x[j]! - h;
    const fp = f(plus);
    const fm = f(minus);
    return fp.map((v, i) => (v - fm[i]!) / (2 * h));
  });
  return columns[0]!.map((_, i) => columns.map((c) => c[i]!));
}

const relu = (z: number) => Math.max(0, z);

describe('jacobianSpectral on a linear map f(x) = x A', () => {
  let x: tf.Tensor2D;
  beforeAll(() => {
    x = tf.tensor2d(normals(8 * 5, 7), [8, 5]);
  });
  afterAll(() => x.dispose());

  it.each([
    [false, 1],
    [true, 2],
  ])('converges to lambda * sigma_max(A)^p (squared %s)', (squared, p) => {
    const model = mlp([5, 3], 'linear', 21, false);
    const a = model.getWeights()[0]!.arraySync() as Matrix;
    const sigma = sigmaMax(a);
    expect(sigma).toBeCloseTo(singularValues(a)[0]!, 6);
    const penalty = jacobianSpectral({ lambda: 0.3, squared });
    const ctx = context(model, x);
    expect(run(penalty, ctx, 40) / (0.3 * sigma ** p)).toBeCloseTo(1, 4);
    expect(penalty.logs!()['jacobian_spectral_norm']! / sigma).toBeCloseTo(1, 4);
    penalty.dispose!();
    model.dispose();
  });

  it.each([false, true])('has the weight gradient of lambda * sigma_max(A)^p (central differences, squared %s)', (squared) => {
    const model = mlp([5, 3], 'linear', 33, false);
    const kernel = model.trainableWeights[0]!.read() as tf.Variable;
    const a = kernel.arraySync() as Matrix;
    const lambda = 0.7;
    const oracle = (m: Matrix) => lambda * sigmaMax(m) ** (squared ? 2 : 1);
    const h = 1e-5;
    const expected = a.flatMap((row, i) =>
      row.map((_, j) => {
        const shifted = (d: number) => oracle(a.map((r, ii) => r.map((v, jj) => (ii === i && jj === j ? v + d : v))));
        return (shifted(h) - shifted(-h)) / (2 * h);
      }),
    );
    const penalty = jacobianSpectral({ lambda, squared });
    const ctx = context(model, x);
    run(penalty, ctx, 40);
    const actual = tf.tidy(() => Array.from(tf.variableGrads(() => penalty(ctx), [kernel]).grads[kernel.name]!.dataSync()));
    const scale = Math.max(...expected.map(Math.abs));
    actual.forEach((g, i) => expect(Math.abs(g - expected[i]!)).toBeLessThan(2e-3 * scale));
    penalty.dispose!();
    model.dispose();
  });
});

describe('jacobianSpectral on a ReLU network', () => {
  it('converges to the spectral norm of the finite-difference Jacobian (one sample), with its weight gradient', () => {
    const model = mlp([4, 8, 3], 'relu', 5);
    const x0 = Array.from(normals(4, 99));
    const x = tf.tensor2d(x0, [1, 4]);
    const sigmaAt = (weights: Matrix[][]) => sigmaMax(fdJacobian(forward64(weights, relu), x0));
    const weights = layerWeights(model);
    const penalty = jacobianSpectral({ lambda: 1 });
    const ctx = context(model, x);
    expect(run(penalty, ctx, 60) / sigmaAt(weights)).toBeCloseTo(1, 4);
    // d sigma / d W1 (first Dense kernel) against central differences of the float64 oracle.
    const kernel = model.trainableWeights[0]!.read() as tf.Variable;
    const actual = tf.tidy(() => Array.from(tf.variableGrads(() => penalty(ctx), [kernel]).grads[kernel.name]!.dataSync()));
    const w1 = weights[0]![0]!;
    const h = 1e-5;
    const expected = w1.flatMap((row, i) =>
      row.map((_, j) => {
        const shifted = (d: number) => sigmaAt(weights.map((layer, l) => (l === 0 ? [w1.map((r, ii) => r.map((v, jj) => (ii === i && jj === j ? v + d : v))), layer[1]!] : layer)));
        return (shifted(h) - shifted(-h)) / (2 * h);
      }),
    );
    const scale = Math.max(...expected.map(Math.abs));
    actual.forEach((g, i) => expect(Math.abs(g - expected[i]!)).toBeLessThan(2e-3 * scale));
    penalty.dispose!();
    model.dispose();
  });

  it("reaches LNets' batch fixed point max over unit u of mean_i ||J_i^T u|| (two outputs, grid over the circle)", () => {
    const model = mlp([4, 8, 2], 'relu', 12);
    const rows = [0, 1, 2].map((i) => Array.from(normals(4, 300 + i)));
    const f = forward64(layerWeights(model), relu);
    const jacobians = rows.map((r) => fdJacobian(f, r));
    let best = 0;
    for (let t = 0; t < 20000; t++) {
      const u = [Math.cos((Math.PI * t) / 20000), Math.sin((Math.PI * t) / 20000)];
      const mean = jacobians.reduce((s, j) => s + Math.hypot(...j[0]!.map((_, c) => u[0]! * j[0]![c]! + u[1]! * j[1]![c]!)), 0) / 3;
      best = Math.max(best, mean);
    }
    const penalty = jacobianSpectral({ lambda: 1 });
    const ctx = context(model, tf.tensor2d(rows.flat(), [3, 4]));
    expect(run(penalty, ctx, 80) / best).toBeCloseTo(1, 4);
    penalty.dispose!();
    model.dispose();
  });
});

describe('jacobianSpectral in training and over repeated calls', () => {
  it('is usable with lip.train.fit: logged, and it lowers sigma_max of a linear model', async () => {
    const model = mlp([5, 3], 'linear', 41, false);
    model.compile({ optimizer: tf.train.sgd(0.05), loss: 'meanSquaredError' });
    const before = sigmaMax(model.getWeights()[0]!.arraySync() as Matrix);
    const x = tf.tensor2d(normals(16 * 5, 8), [16, 5]);
    const y = model.predict(x) as tf.Tensor;
    const penalty = jacobianSpectral({ lambda: 1 });
    const history = await fit(model, x, y, { epochs: 10, batchSize: 8, verbose: 0, penalties: [penalty] });
    const after = sigmaMax(model.getWeights()[0]!.arraySync() as Matrix);
    expect(after).toBeLessThan(before - 0.2);
    expect(history.history['jacobian_spectral']).toHaveLength(10);
    const logged = history.history['jacobian_spectral_norm'] as number[];
    expect(logged[logged.length - 1]! / after).toBeCloseTo(1, 1);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('leaks no tensor over repeated calls, on and off the tape, and frees its state on dispose()', () => {
    const model = mlp([4, 6, 3], 'relu', 2);
    const x = tf.tensor2d(normals(5 * 4, 3), [5, 4]);
    const ctx = context(model, x);
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const penalty = jacobianSpectral();
    const base = tf.memory().numTensors;
    const counts: number[] = [];
    for (let s = 0; s < 6; s++) {
      if (s % 2 === 0) run(penalty, ctx, 1);
      else tf.dispose(tf.tidy(() => Object.values(tf.variableGrads(() => penalty(ctx), vars).grads)));
      counts.push(tf.memory().numTensors - base);
    }
    expect(new Set(counts.slice(1)).size).toBe(1);
    expect(counts[5]).toBeLessThanOrEqual(4);
    penalty.dispose!();
    expect(tf.memory().numTensors).toBe(base);
    model.dispose();
  });
});

describe('jacobianSpectral: refusals', () => {
  it('refuses a model that tfjs differentiates twice wrongly (tanh) with a LipschitzConfigError', () => {
    const model = mlp([4, 6, 3], 'tanh', 4);
    const ctx = context(model, tf.tensor2d(normals(4 * 4, 5), [4, 4]));
    const call = () => tf.tidy(() => jacobianSpectral()(ctx));
    expect(call).toThrow(LipschitzConfigError);
    expect(call).toThrow(/^lip\.penalties\.jacobianSpectral model expected a model that tfjs differentiates twice correctly/);
    model.dispose();
  });

  it.each<[string, unknown, RegExp]>([
    ['lambda 0', { lambda: 0 }, /^lambda expected a finite number > 0, but got 0\./],
    ['lambda NaN', { lambda: NaN }, /^lambda expected a finite number > 0, but got NaN\./],
    ['lambda string', { lambda: '1' }, /^lambda expected a finite number > 0, but got '1'\./],
    ['squared string', { squared: 'yes' }, /^squared expected a boolean, but got 'yes'\./],
    ['seed 1.5', { seed: 1.5 }, /^seed expected an integer, but got 1\.5\./],
    ['unknown key', { reg_scale: 1 }, /^lip\.penalties\.jacobianSpectral: unknown option 'reg_scale'/],
    ['not an object', 5, /^lip\.penalties\.jacobianSpectral options expected an object of options, but got 5\./],
  ])('%s throws a LipschitzConfigError naming it', (_name, args, message) => {
    const make = () => jacobianSpectral(args as JacobianSpectralArgs);
    expect(make).toThrow(LipschitzConfigError);
    expect(make).toThrow(message);
  });

  it('refuses a context whose model is not a LayersModel', () => {
    const x = tf.zeros([2, 3]);
    const call = () => jacobianSpectral()({ model: {} as tfl.LayersModel, x, y: x, yPred: x, loss: mse });
    expect(call).toThrow(LipschitzConfigError);
    expect(call).toThrow(/^lip\.penalties\.jacobianSpectral model expected a tfjs LayersModel/);
    x.dispose();
  });
});
