/**
 * lip.penalties (CLIP and Tulip's gradient norm) against independent oracles: the operator norm of
 * a known linear map (float64 singular values), lip.lipschitzBound of the same ReLU network,
 * input gradients taken sample by sample (float64 norms), central differences of the penalties in
 * the weights, and the lambda schedule computed by hand; then bad input, leaks and dispose().
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { LipschitzConfigError } from '../src/core/errors';
import { lipschitzBound } from '../src/model';
import { clip, gradientNorm } from '../src/penalties';
import type { PenaltyBatchEndContext, PenaltyCallContext, PenaltyFunction } from '../src/penalties/types';
import { normals } from './helpers/linear_classifier';
import { singularValues } from './helpers/oracles';
import { thrownConfigError } from './helpers/thrown';


type Loss = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;
const mse: Loss = (yt, yp) => tf.mean(tf.square(tf.sub(yt, yp)), -1);
const softmaxCE: Loss = (yt, yp) => tf.losses.softmaxCrossEntropy(yt, yp, undefined, undefined, tf.Reduction.NONE);

/** A Dense network with seeded weights: `sizes` = [input, hidden..., output]. */
function mlp(sizes: number[], activation: string, seed: number, useBias = true): tfl.LayersModel {
  const model = tfl.sequential();
  for (let i = 1; i < sizes.length; i++) {
    const last = i === sizes.length - 1;
    model.add(tfl.layers.dense({ units: sizes[i]!, inputShape: i === 1 ? [sizes[0]!] : undefined, activation: (last ? 'linear' : activation) as 'linear', useBias }));
  }
  model.setWeights(model.getWeights().map((w, k) => tf.tensor(normals(w.size, seed + 17 * k, w.rank === 2 ? 1 / Math.sqrt(w.shape[0]!) : 0.1), w.shape)));
  return model;
}

function batch(n: number, d: number, seed: number): tf.Tensor2D {
  return tf.tensor2d(normals(n * d, seed), [n, d]);
}

function oneHot(n: number, classes: number): tf.Tensor2D {
  return tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: n }, (_, i) => i % classes), 'int32'), classes), 'float32') as tf.Tensor2D;
}

function callContext(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor, loss: Loss = mse): PenaltyCallContext {
  return { model, x, y, yPred: model.apply(x) as tf.Tensor, loss };
}

function stepContext(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor, yPred: tf.Tensor, step: number): PenaltyBatchEndContext {
  return { model, x, y, yPred, epoch: 0, batch: step - 1, step };
}

/** The penalty's value as a number. */
function value(penalty: PenaltyFunction, ctx: PenaltyCallContext): number {
  return tf.tidy(() => penalty(ctx).dataSync()[0] as number);
}

/** d penalty / d (every trainable weight), flattened in weight order. */
function weightGradient(penalty: PenaltyFunction, model: tfl.LayersModel, ctx: () => PenaltyCallContext): number[] {
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  return tf.tidy(() => {
    const { grads } = tf.variableGrads(() => penalty(ctx()), vars);
    return vars.flatMap((v) => Array.from(grads[v.name]!.dataSync()));
  });
}

/** Central differences of `f` in every trainable weight (step `eps`), flattened in weight order. */
function centralDifferences(model: tfl.LayersModel, f: () => number, eps: number): number[] {
  const out: number[] = [];
  for (const w of model.trainableWeights) {
    const v = w.read() as tf.Variable;
    const base = Float64Array.from(v.dataSync());
    for (let j = 0; j < base.length; j++) {
      const shifted = (delta: number) => {
        const values = Float32Array.from(base);
        values[j] = (base[j] as number) + delta;
        v.assign(tf.tensor(values, v.shape));
        return f();
      };
      out.push((shifted(eps) - shifted(-eps)) / (2 * eps));
    }
    v.assign(tf.tensor(Float32Array.from(base), v.shape));
  }
  return out;
}

function relativeError(a: number[], b: number[]): number {
  const scale = Math.max(...b.map(Math.abs));
  return Math.max(...a.map((ai, i) => Math.abs(ai - (b[i] as number)))) / scale;
}

/** The dual norm of each sample's input gradient, taken one sample at a time (float64 norms). */
function perSampleGradientNorms(model: tfl.LayersModel, x: tf.Tensor2D, y: tf.Tensor, loss: Loss, norm: 'l2' | 'l1' | 'linf'): number[] {
  const n = x.shape[0];
  return Array.from({ length: n }, (_, i) => {
    const g = tf.tidy(() => {
      const yi = tf.slice(y, i, 1);
      return Array.from(tf.grad((xi: tf.Tensor) => tf.sum(loss(yi, model.apply(xi) as tf.Tensor)))(tf.slice(x, i, 1)).dataSync(), Number);
    });
    if (norm === 'l2') return Math.sqrt(g.reduce((s, gi) => s + gi * gi, 0));
    if (norm === 'l1') return g.reduce((s, gi) => s + Math.abs(gi), 0);
    return Math.max(...g.map(Math.abs));
  });
}

describe('lip.penalties.clip', () => {
  it('on a linear map f(x) = x A the pair search climbs to the largest singular value of A, from below', () => {
    const model = mlp([6, 4], 'linear', 3, false);
    const a = (model.getWeights()[0] as tf.Tensor2D).arraySync().map((row) => row.map(Number));
    const sigma = singularValues(a)[0]!;
    const x = batch(16, 6, 11);
    const y = tf.zeros([16, 4]);
    const penalty = clip({ lambda: 2, regIters: 1, regIncremental: 1e9 });
    const first = Math.sqrt(value(penalty, callContext(model, x, y)) / 2);
    const estimates = [first];
    for (let step = 1; step <= 60; step++) {
      penalty.onBatchEnd!(stepContext(model, x, y, y, step));
      estimates.push(penalty.logs!()['clip_lipschitz']!);
    }
    const last = estimates[estimates.length - 1]!;
    expect(first).toBeLessThan(0.95 * sigma);
    for (let i = 1; i < estimates.length; i++) expect(estimates[i]!).toBeGreaterThanOrEqual(estimates[i - 1]! * (1 - 1e-6));
    expect(Math.max(...estimates)).toBeLessThanOrEqual(sigma * (1 + 1e-5));
    expect(Math.abs(last - sigma) / sigma).toBeLessThan(1e-3);
    // The penalty now evaluates lambda times the pair set's largest squared quotient.
    expect(value(penalty, callContext(model, x, y)) / 2).toBeCloseTo(last * last, 3);
    penalty.dispose!();
  });

  it('on a ReLU network its estimate rises and never exceeds lip.lipschitzBound of the same network', () => {
    const model = mlp([6, 10, 10, 3], 'relu', 5);
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const bound = lipschitzBound(model);
    warn.mockRestore();
    const x = batch(16, 6, 12);
    const y = tf.zeros([16, 3]);
    const penalty = clip({ regIters: 4, regLr: 0.5 });
    const first = Math.sqrt(value(penalty, callContext(model, x, y)) / 0.1);
    let last = first;
    for (let step = 1; step <= 25; step++) {
      penalty.onBatchEnd!(stepContext(model, x, y, y, step));
      const estimate = penalty.logs!()['clip_lipschitz']!;
      expect(estimate).toBeLessThanOrEqual(bound * (1 + 1e-6));
      expect(estimate).toBeGreaterThanOrEqual(last * (1 - 1e-6));
      last = estimate;
    }
    expect(last).toBeGreaterThan(1.05 * first);
    penalty.dispose!();
  });

  it('its gradient in the weights agrees with central differences (pairs held fixed)', () => {
    const model = mlp([5, 7, 3], 'tanh', 8);
    const x = batch(12, 5, 13);
    const y = tf.zeros([12, 3]);
    for (const regAll of [false, true]) {
      const penalty = clip({ lambda: 0.7, regAll });
      const ctx = () => callContext(model, x, y);
      value(penalty, ctx());
      const analytic = weightGradient(penalty, model, ctx);
      const numeric = centralDifferences(model, () => value(penalty, ctx()), 1e-3);
      expect(relativeError(analytic, numeric)).toBeLessThan(1e-2);
      penalty.dispose!();
    }
  });

  it('leaves out a term above regMax and adds nothing between regInterval steps', () => {
    const model = mlp([5, 7, 3], 'tanh', 8);
    const x = batch(12, 5, 13);
    const y = tf.zeros([12, 3]);
    const capped = clip({ regMax: 1e-6 });
    expect(value(capped, callContext(model, x, y))).toBe(0);
    const spaced = clip({ regInterval: 3 });
    const values = [1, 2, 3, 4].map(() => value(spaced, callContext(model, x, y)));
    expect(values[0]).toBeGreaterThan(0);
    expect(values.slice(1, 3)).toEqual([0, 0]);
    expect(values[3]).toBeCloseTo(values[0]!, 5);
    capped.dispose!();
    spaced.dispose!();
  });

  it('adapts lambda by lambdaIncrement toward goalAccuracy, within [lambda0/1000, 4 lambda0]', () => {
    const model = mlp([4, 3], 'linear', 2);
    const x = batch(8, 4, 9);
    const y = oneHot(8, 3);
    const right = tf.mul(y, 5);
    const wrong = tf.mul(tf.sub(1, y), 5);
    const penalty = clip({ lambda: 1, lambdaIncrement: 0.5, goalAccuracy: 0.5 });
    const term0 = value(penalty, callContext(model, x, y));
    const lambdas: number[] = [];
    const epoch = (yPred: tf.Tensor) => {
      penalty.onBatchEnd!(stepContext(model, x, y, yPred, 1));
      penalty.onEpochEnd!(0, {});
      lambdas.push(penalty.logs!()['clip_lambda']!);
    };
    for (let e = 0; e < 8; e++) epoch(right);
    expect(lambdas).toEqual([1.5, 2, 2.5, 3, 3.5, 4, 4, 4]);
    lambdas.length = 0;
    for (let e = 0; e < 10; e++) epoch(wrong);
    expect(lambdas).toEqual([3.5, 3, 2.5, 2, 1.5, 1, 0.5, 0.001, 0.001, 0.001]);
    // The term is weighted by the adapted lambda (the pairs moved, so compare with the oracle quotient).
    const q2 = penalty.logs!()['clip_lipschitz']! ** 2;
    expect(value(penalty, callContext(model, x, y))).toBeCloseTo(0.001 * q2, 6);
    expect(term0).toBeGreaterThan(0);
    // A single-column model uses the epoch's 'acc' log; lambdaIncrement 0 keeps lambda fixed.
    const binary = clip({ lambda: 1, lambdaIncrement: 0.25, goalAccuracy: 0.9 });
    binary.onEpochEnd!(0, { acc: 0.95 });
    binary.onEpochEnd!(1, { acc: 0.5 });
    binary.onEpochEnd!(2, { acc: 0.5 });
    expect(binary.logs!()['clip_lambda']).toBe(0.75);
    expect(thrownConfigError(() => binary.onEpochEnd!(3, {})).message).toMatch(/lambdaIncrement.*0\.25/);
    const fixed = clip({ lambda: 1 });
    fixed.onEpochEnd!(0, { acc: 1 });
    expect(fixed.logs!()['clip_lambda']).toBe(1);
    penalty.dispose!();
  });

  it("warmupEpochs trains with lambda 0 first, cooldown skips epochs between updates (the reference's lamda_scheduler)", () => {
    const model = mlp([4, 3], 'linear', 2);
    const x = batch(8, 4, 9);
    const y = oneHot(8, 3);
    const right = tf.mul(y, 5);
    const penalty = clip({ lambda: 1, lambdaIncrement: 0.5, goalAccuracy: 0.5, warmupEpochs: 2, cooldown: 1 });
    // Lambda 0 in the warm-up: the term is exactly 0 while the pairs still climb.
    expect(value(penalty, callContext(model, x, y))).toBe(0);
    const lambdas: number[] = [];
    for (let e = 0; e < 7; e++) {
      penalty.onBatchEnd!(stepContext(model, x, y, right, 1));
      penalty.onEpochEnd!(e, {});
      lambdas.push(penalty.logs!()['clip_lambda']!);
    }
    // Epoch 1: still 0; epoch 2 ends the warm-up (lambda0); then an update every other epoch.
    expect(lambdas).toEqual([0, 1, 1.5, 1.5, 2, 2, 2.5]);
    expect(value(penalty, callContext(model, x, y))).toBeGreaterThan(0);
    expect(thrownConfigError(() => clip({ warmupEpochs: -1 })).message).toMatch(/warmupEpochs.*-1/);
    expect(thrownConfigError(() => clip({ cooldown: 0.5 })).message).toMatch(/cooldown.*0\.5/);
    penalty.dispose!();
  });
});

describe('lip.penalties.gradientNorm', () => {
  let model: tfl.LayersModel;
  let x: tf.Tensor2D;
  let y: tf.Tensor2D;
  beforeAll(() => {
    model = mlp([6, 8, 3], 'softplus', 21);
    x = batch(10, 6, 22);
    y = tf.tensor2d(normals(30, 23), [10, 3]);
  });

  it("'exact' equals the max (or mean) over the batch of the squared dual norm of each sample's input gradient", () => {
    for (const norm of ['l2', 'l1', 'linf'] as const) {
      const oracle = perSampleGradientNorms(model, x, y, mse, norm).map((g) => g * g);
      const max = Math.max(...oracle);
      const mean = oracle.reduce((s, v) => s + v, 0) / oracle.length;
      const pMax = value(gradientNorm({ lambda: 3, norm, method: 'exact' }), callContext(model, x, y));
      const pMean = value(gradientNorm({ lambda: 3, norm, reduce: 'mean', method: 'exact' }), callContext(model, x, y));
      expect(Math.abs(pMax / 3 - max) / max).toBeLessThan(1e-5);
      expect(Math.abs(pMean / 3 - mean) / mean).toBeLessThan(1e-5);
    }
  });

  it("'finiteDifference' agrees with the per-sample oracle within 1e-2 relative", () => {
    for (const norm of ['l2', 'l1', 'linf'] as const) {
      const oracle = Math.max(...perSampleGradientNorms(model, x, y, mse, norm).map((g) => g * g));
      const fd = value(gradientNorm({ lambda: 1, norm }), callContext(model, x, y));
      expect(Math.abs(fd - oracle) / oracle).toBeLessThan(1e-2);
    }
  });

  it('both forms have weight gradients that agree with central differences', () => {
    const ctx = () => callContext(model, x, y);
    const exact = gradientNorm({ method: 'exact', reduce: 'mean' });
    value(exact, ctx());
    expect(relativeError(weightGradient(exact, model, ctx), centralDifferences(model, () => value(exact, ctx()), 1e-3))).toBeLessThan(1e-2);
    // The finite-difference form on tanh + softmax cross-entropy, where 'exact' is refused. Its step
    // direction is held constant (Tulip detaches it); sign directions (l1, linf) are locally constant.
    const tanhModel = mlp([6, 8, 3], 'tanh', 31);
    const labels = oneHot(10, 3);
    const tctx = () => callContext(tanhModel, x, labels, softmaxCE);
    for (const norm of ['l1', 'linf'] as const) {
      const fd = gradientNorm({ norm, h: 0.1, reduce: 'mean' });
      expect(relativeError(weightGradient(fd, tanhModel, tctx), centralDifferences(tanhModel, () => value(fd, tctx()), 1e-2))).toBeLessThan(1e-2);
    }
  });

  it('tfjs 4 differentiates Dense + tanh twice wrongly and Dense + softplus rightly (why the check exists)', () => {
    // sum_i ||grad_x mse(x_i)||^2 by plain double back-propagation, no check.
    const raw = ((ctx: PenaltyCallContext) =>
      tf.sum(tf.square(tf.grad((xx: tf.Tensor) => tf.sum(ctx.loss(ctx.y, ctx.model.apply(xx) as tf.Tensor)))(ctx.x)))) as unknown as PenaltyFunction;
    const errors = ['tanh', 'softplus'].map((activation) => {
      const m = mlp([6, 8, 3], activation, 51);
      const ctx = () => callContext(m, x, y);
      return relativeError(weightGradient(raw, m, ctx), centralDifferences(m, () => value(raw, ctx()), 1e-3));
    });
    expect(errors[0]).toBeGreaterThan(0.1);
    expect(errors[1]).toBeLessThan(1e-2);
  });

  it("refuses 'exact' where tfjs differentiates twice wrongly or not at all, and accepts it for relu + MSE", () => {
    const cases: [string, Loss, RegExp][] = [
      ['tanh', mse, /method expected 'finiteDifference'.*twice wrongly.*but got 'exact'/],
      ['relu', softmaxCE, /method expected 'finiteDifference'.*twice wrongly.*but got 'exact'/],
      ['elu', mse, /method expected 'finiteDifference'.*no second derivative of the op EluGrad.*but got 'exact'/],
    ];
    for (const [activation, loss, message] of cases) {
      const m = mlp([6, 8, 3], activation, 41);
      const labels = loss === mse ? y : oneHot(10, 3);
      const penalty = gradientNorm({ method: 'exact' });
      expect(thrownConfigError(() => tf.tidy(() => penalty(callContext(m, x, labels, loss)))).message).toMatch(message);
      // The finite-difference form takes first derivatives only (its direction is cut from the tape),
      // so it trains the same models (EluGrad has no gradient: a second derivative would throw).
      const grads = weightGradient(gradientNorm(), m, () => callContext(m, x, labels, loss));
      expect(grads.every(Number.isFinite) && grads.some((g) => g !== 0)).toBe(true);
    }
    const reluModel = mlp([6, 8, 3], 'relu', 41);
    const oracle = Math.max(...perSampleGradientNorms(reluModel, x, y, mse, 'l2').map((g) => g * g));
    expect(value(gradientNorm({ lambda: 1, method: 'exact' }), callContext(reluModel, x, y)) / oracle).toBeCloseTo(1, 5);
  });
});

describe('bad input, leaks, dispose', () => {
  it('refuses bad options with LipschitzConfigError naming the argument and the value', () => {
    const bad: [() => unknown, RegExp][] = [
      [() => clip({ lambda: 0 }), /lambda expected a finite number > 0, but got 0/],
      [() => clip({ lambda: -1 }), /lambda .* but got -1/],
      [() => clip({ regIters: 0 }), /regIters expected a positive integer, but got 0/],
      [() => clip({ regIters: 1.5 }), /regIters .* but got 1\.5/],
      [() => clip({ regDecay: 0.5 }), /regDecay expected a finite number >= 1, but got 0\.5/],
      [() => clip({ lambdaIncrement: -0.1 }), /lambdaIncrement expected a finite number >= 0, but got -0\.1/],
      [() => clip({ regInterval: 0 }), /regInterval expected a positive integer, but got 0/],
      [() => clip({ regInit: 'random' as 'plain' }), /regInit expected one of 'plain', 'partial_random', 'noise', but got 'random'/],
      [() => clip({ goalAccuracy: 1.5 }), /goalAccuracy .* but got 1\.5/],
      [() => clip({ lamda: 1 } as never), /unknown option 'lamda' \(did you mean 'lambda'\?\)/],
      [() => gradientNorm({ lambda: Number.NaN }), /lambda .* but got NaN/],
      [() => gradientNorm({ h: 0 }), /h expected a finite number > 0, but got 0/],
      [() => gradientNorm({ h: -0.1 }), /h .* but got -0\.1/],
      [() => gradientNorm({ norm: 'l3' as 'l2' }), /norm expected one of 'l2', 'l1', 'linf', but got 'l3'/],
      [() => gradientNorm({ reduce: 'sum' as 'max' }), /reduce expected one of 'max', 'mean', but got 'sum'/],
      [() => gradientNorm({ method: 'hessian' as 'exact' }), /method expected one of 'exact', 'finiteDifference', but got 'hessian'/],
      [() => gradientNorm({ norms: 'l2' } as never), /unknown option 'norms' \(did you mean 'norm'\?\)/],
    ];
    for (const [f, message] of bad) expect(thrownConfigError(f).message).toMatch(message);
  });

  it('refuses a model with several outputs, and a loss reduced over the batch', () => {
    const input = tfl.input({ shape: [4] });
    const two = tfl.model({ inputs: input, outputs: [tfl.layers.dense({ units: 2 }).apply(input) as tfl.SymbolicTensor, tfl.layers.dense({ units: 3 }).apply(input) as tfl.SymbolicTensor] });
    const x = batch(4, 4, 1);
    const ctx = { model: two, x, y: tf.zeros([4, 2]), yPred: tf.zeros([4, 2]), loss: mse };
    for (const penalty of [clip(), gradientNorm()]) {
      expect(thrownConfigError(() => penalty(ctx)).message).toMatch(/model expected a model with one input and one output, but got 'a model with 1 input\(s\) and 2 output\(s\)'/);
      expect(thrownConfigError(() => penalty.onTrainBegin!(two)).message).toMatch(/2 output/);
    }
    const one = mlp([4, 2], 'linear', 1);
    const reduced = { ...callContext(one, x, tf.zeros([4, 2])), loss: (yt: tf.Tensor, yp: tf.Tensor) => tf.losses.meanSquaredError(yt, yp) };
    expect(thrownConfigError(() => gradientNorm()(reduced)).message).toMatch(/loss expected per-sample values \[4\] \(an unreduced loss\), but got a float32 tensor of shape \[\]/);
  });

  it('keeps no tensor over many steps, and dispose() releases the pairs', () => {
    const x = batch(12, 5, 13);
    const labels = oneHot(12, 3);
    const targets = tf.tensor2d(normals(36, 14), [12, 3]);
    const cases: [() => PenaltyFunction, tfl.LayersModel, tf.Tensor, Loss][] = [
      [() => clip({ regIters: 2, regIncremental: 4, lambdaIncrement: 0.1 }), mlp([5, 7, 3], 'tanh', 8), labels, softmaxCE],
      [() => gradientNorm({ norm: 'l1' }), mlp([5, 7, 3], 'tanh', 8), labels, softmaxCE],
      [() => gradientNorm({ method: 'exact', norm: 'linf' }), mlp([5, 7, 3], 'softplus', 8), targets, mse],
    ];
    for (const [make, model, y, loss] of cases) {
      const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const step = (penalty: PenaltyFunction, i: number) => {
        const { value: v, grads } = tf.variableGrads(() => tf.tidy(() => penalty(callContext(model, x, y, loss))), vars);
        tf.dispose([v, ...Object.values(grads)]);
        const yPred = model.predict(x) as tf.Tensor;
        penalty.onBatchEnd?.(stepContext(model, x, y, yPred, i));
        yPred.dispose();
        penalty.logs?.();
      };
      const before = tf.memory().numTensors;
      const penalty = make();
      for (let i = 1; i <= 3; i++) step(penalty, i);
      const held = tf.memory().numTensors;
      for (let i = 4; i <= 20; i++) step(penalty, i);
      penalty.onEpochEnd?.(0, {});
      expect(tf.memory().numTensors).toBe(held);
      penalty.dispose?.();
      expect(tf.memory().numTensors).toBe(before);
    }
  });
});
