/**
 * `lip.losses.localLipschitzCertified` (Local-Lip's certified training loss) against independent
 * oracles:
 * (a) the training pass equals the float64 certificate when its power iterations converge: the
 *     bounds of `z_j - z_y` match `lip.local.worstCaseLogits` (local and global head radius);
 * (b) on one Dense layer, the loss and its GloRo form equal the float64 formulas;
 * (c) its gradient in the weights matches central differences (built-in Dense + ReLU, and a
 *     tfjs-lip frobeniusDense, whose training-mode W-bar carries the gradient to its kernel);
 * (d) the schedules of epsilon and kappa, and the warm-up (plain cross-entropy);
 * (e) `lip.train.fit` with `loss`: schedule position and sample indices reach the loss and the
 *     penalties, training with the local bound certifies more than plain training, no leaks;
 * (f) bad options, models and combinations throw `LipschitzConfigError`.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as lip from '../src';
import { modelHead } from '../src/local/certify';
import { trainingPass } from '../src/local/training_pass';
import { mulberry32 } from './helpers/random';
import { thrownConfigError } from './helpers/thrown';

const seeded = (seed: number, std = 0.6) => ({
  kernelInitializer: tfl.initializers.randomNormal({ mean: 0, stddev: std, seed }),
  biasInitializer: tfl.initializers.randomUniform({ minval: -0.3, maxval: 0.3, seed: seed + 1 }),
});

function randomBatch(seed: number, n: number, d: number, scale = 1): tf.Tensor2D {
  const r = mulberry32(seed);
  return tf.tensor2d(Array.from({ length: n * d }, () => scale * (2 * r() - 1)), [n, d]);
}

function oneHot(labels: number[], classes: number): tf.Tensor2D {
  return tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), classes), 'float32') as tf.Tensor2D);
}

function denseRelu(): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ units: 10, activation: 'relu', inputShape: [4], ...seeded(21) }),
      tfl.layers.dense({ units: 10, activation: 'relu', ...seeded(23) }),
      tfl.layers.dense({ units: 3, ...seeded(25) }),
    ],
  });
}

/** The pass with `iterations` power steps, after `warm` calls that let the per-layer vectors converge. */
function convergedPass(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor, eps: number, bound: 'local' | 'global'): Float32Array {
  const head = modelHead('test', model);
  const layerVectors = new Map<tfl.layers.Layer, tf.Tensor>();
  // The per-layer vectors advance one step per call; the pieces' vectors run 300 steps at the end.
  const opts = { bound, iterations: 1, start: null, seed: 3, layerVectors };
  for (let k = 0; k < 200; k++) tf.tidy(() => tf.dispose(trainingPass('test', head, x, y, eps, opts).vectors));
  const out = tf.tidy(() => {
    const pass = trainingPass('test', head, x, y, eps, { ...opts, iterations: 300 });
    tf.dispose(pass.vectors);
    return pass.bound.dataSync() as Float32Array;
  });
  tf.dispose([...layerVectors.values()]);
  return out;
}

describe('(a) the training pass equals the certificate when its power iterations converge', () => {
  let model: tfl.LayersModel;
  let x: tf.Tensor2D;
  let y: tf.Tensor2D;
  let yIdx: tf.Tensor1D;
  beforeAll(() => {
    model = denseRelu();
    x = randomBatch(5, 24, 4);
    const labels = [...Array(24)].map((_, i) => i % 3);
    y = oneHot(labels, 3);
    yIdx = tf.tensor1d(labels, 'int32');
  });
  afterAll(() => tf.dispose([x, y, yIdx]));

  for (const [radius, eps] of [['local', 0.15], ['global', 0.15], ['local', 0.4]] as const) {
    it(`${radius} head radius, epsilon ${eps}`, () => {
      const trained = convergedPass(model, x, y, eps, radius);
      const certified = tf.tidy(() => lip.local.worstCaseLogits(model, x, yIdx, eps, { radius }).dataSync() as Float32Array);
      let worst = 0;
      for (let i = 0; i < trained.length; i++) worst = Math.max(worst, Math.abs(trained[i]! - certified[i]!) / (1 + Math.abs(certified[i]!)));
      expect(worst).toBeLessThan(2e-3);
    });
  }

  it('the local head radius gives bounds below the global one, strictly for some sample', () => {
    const local = convergedPass(model, x, y, 0.15, 'local');
    const global = convergedPass(model, x, y, 0.15, 'global');
    expect(local.every((v, i) => v <= global[i]! + 1e-5)).toBe(true);
    expect(local.some((v, i) => v < global[i]! - 1e-3)).toBe(true);
  });
});

/** float64 `bound_j` of one Dense layer z = W^T x + b over the L2 ball and the box of radius eps. */
function linearBounds(w: number[][], b: number[], x: number[], label: number, eps: number): number[] {
  const classes = b.length;
  const z = (j: number) => x.reduce((s, xi, k) => s + xi * w[k]![j]!, b[j]!);
  return [...Array(classes)].map((_, j) => {
    if (j === label) return 0;
    const d = w.map((row) => row[j]! - row[label]!);
    const l2 = Math.sqrt(d.reduce((s, v) => s + v * v, 0));
    const l1 = d.reduce((s, v) => s + Math.abs(v), 0);
    return Math.min(z(j) - z(label) + eps * l2, z(j) - z(label) + eps * l1);
  });
}

const logSumExp = (v: number[]) => {
  const m = Math.max(...v);
  return m + Math.log(v.reduce((s, a) => s + Math.exp(a - m), 0));
};

describe('(b) one Dense layer: the loss and its GloRo form against float64 formulas', () => {
  const labels = [0, 1, 2, 3, 1, 2];
  let model: tfl.LayersModel;
  let x: tf.Tensor2D;
  let y: tf.Tensor2D;
  let w: number[][];
  let b: number[];
  let xs: number[][];
  beforeAll(() => {
    model = tfl.sequential({ layers: [tfl.layers.dense({ units: 4, inputShape: [5], ...seeded(11) })] });
    x = randomBatch(7, 6, 5);
    y = oneHot(labels, 4);
    [w, b] = model.getWeights().map((t) => t.arraySync()) as [number[][], number[]];
    xs = x.arraySync();
  });
  afterAll(() => tf.dispose([x, y]));
  const eps = 0.3;
  const kappa = 0.25;

  const value = (gloro: boolean) => {
    const loss = lip.losses.localLipschitzCertified({ epsilon: eps, kappa, gloro });
    const v = tf.tidy(() => loss({ model, x, y, yPred: model.apply(x) as tf.Tensor }).dataSync()[0]!);
    loss.dispose();
    return v;
  };

  it('kappa CE(z) + (1 - kappa) CE(worst logits)', () => {
    let expected = 0;
    xs.forEach((xi, i) => {
      const label = labels[i]!;
      const z = b.map((bj, j) => xi.reduce((s, v, k) => s + v * w[k]![j]!, bj));
      const clean = logSumExp(z) - z[label]!;
      const worst = linearBounds(w, b, xi, label, eps);
      expected += kappa * clean + (1 - kappa) * logSumExp(worst);
    });
    expect(value(false)).toBeCloseTo(expected / xs.length, 4);
  });

  it('GloRo: CE([z, z_y + max_{j != y} bound_j]) with the label', () => {
    let expected = 0;
    xs.forEach((xi, i) => {
      const label = labels[i]!;
      const z = b.map((bj, j) => xi.reduce((s, v, k) => s + v * w[k]![j]!, bj));
      const worst = linearBounds(w, b, xi, label, eps).filter((_, j) => j !== label);
      expected += logSumExp([...z, z[label]! + Math.max(...worst)]) - z[label]!;
    });
    expect(value(true)).toBeCloseTo(expected / xs.length, 4);
  });
});

/** The loss keeps one power vector per layer, advanced once per call: let them converge first. */
function warmUp(f: () => tf.Scalar): void {
  for (let k = 0; k < 40; k++) tf.tidy(() => void f());
}

/** Central differences of `f` in a few entries of `variable`, against `tf.variableGrads`. */
function checkGradient(model: tfl.LayersModel, variable: tf.Variable, f: () => tf.Scalar, entries: number[]): void {
  const analytic = tf.tidy(() => tf.variableGrads(f, [variable]).grads[variable.name]!.dataSync() as Float32Array);
  const base = variable.dataSync().slice() as Float32Array;
  const h = 1e-2;
  for (const e of entries) {
    const at = (delta: number) => {
      const v = base.slice();
      v[e] = v[e]! + delta;
      variable.assign(tf.tensor(v, variable.shape));
      return tf.tidy(() => f().dataSync()[0]!);
    };
    const numeric = (at(h) - at(-h)) / (2 * h);
    variable.assign(tf.tensor(base, variable.shape));
    expect(Math.abs(analytic[e]! - numeric)).toBeLessThan(2e-2 * Math.max(1, Math.abs(numeric)));
  }
  void model;
}

describe('(c) gradients in the weights against central differences', () => {
  let x: tf.Tensor2D;
  let y: tf.Tensor2D;
  const indices = Int32Array.from({ length: 16 }, (_, i) => i);
  beforeAll(() => {
    x = randomBatch(9, 16, 4, 0.5);
    y = oneHot([...Array(16)].map((_, i) => i % 3), 3);
  });
  afterAll(() => tf.dispose([x, y]));

  it('built-in Dense + ReLU: every layer kernel, local bound', () => {
    const model = denseRelu();
    // Sample indices: the per-sample power vectors are kept between calls, so few steps per call suffice.
    const loss = lip.losses.localLipschitzCertified({ epsilon: 0.1, kappa: 0.5, iterations: 3 });
    const f = () => loss({ model, x, y, yPred: model.apply(x, { training: true }) as tf.Tensor, indices });
    warmUp(f);
    for (const layer of model.layers) {
      const kernel = layer.weights[0]!.read() as tf.Variable;
      checkGradient(model, kernel, f, [0, 7, 13]);
    }
    loss.dispose();
  });

  it('tfjs-lip frobeniusDense: the gradient reaches the trainable kernel through W-bar', () => {
    const model = tfl.sequential({
      layers: [
        lip.layers.frobeniusDense({ units: 8, activation: 'relu', inputShape: [4], ...seeded(41) }),
        lip.layers.frobeniusDense({ units: 3, ...seeded(43) }),
      ],
    });
    const loss = lip.losses.localLipschitzCertified({ epsilon: 0.2, kappa: 0, iterations: 3 });
    const f = () => loss({ model, x, y, yPred: model.apply(x, { training: true }) as tf.Tensor, indices });
    const kernel = (model.layers[0] as unknown as { kernel: { read(): tf.Tensor } }).kernel.read() as tf.Variable;
    warmUp(f);
    checkGradient(model, kernel, f, [0, 5, 30]);
    loss.dispose();
  });
});

describe('(d) schedules', () => {
  it('epsilon from startEpsilon and kappa from startKappa, linear over rampEpochs after the warm-up', () => {
    const loss = lip.losses.localLipschitzCertified({ epsilon: 1.5, kappa: 0.2, startEpsilon: 0.5, startKappa: 1, warmupEpochs: 2, rampEpochs: 4 });
    expect(loss.schedule(1.5)).toEqual({ epsilon: 0, kappa: 1 });
    expect(loss.schedule(2)).toEqual({ epsilon: 0.5, kappa: 1 });
    const mid = loss.schedule(4);
    expect(mid.epsilon).toBeCloseTo(1.0, 12);
    expect(mid.kappa).toBeCloseTo(0.6, 12);
    expect(loss.schedule(9).epsilon).toBe(1.5);
    expect(loss.schedule(9).kappa).toBeCloseTo(0.2, 12);
    expect(lip.losses.localLipschitzCertified({ epsilon: 1 }).schedule(0)).toEqual({ epsilon: 1, kappa: 0 });
  });

  it('in the warm-up the loss is the cross-entropy of the logits', () => {
    const model = denseRelu();
    const x = randomBatch(3, 8, 4);
    const y = oneHot([0, 1, 2, 0, 1, 2, 0, 1], 3);
    const loss = lip.losses.localLipschitzCertified({ epsilon: 1, warmupEpochs: 1 });
    const [got, expected] = tf.tidy(() => {
      const yPred = model.apply(x) as tf.Tensor;
      return [loss({ model, x, y, yPred, epoch: 0, batch: 0, batches: 1 }).dataSync()[0]!, tf.losses.softmaxCrossEntropy(y, yPred).dataSync()[0]!];
    });
    expect(got).toBeCloseTo(expected, 5);
    loss.dispose();
    tf.dispose([x, y]);
  });
});

describe('(e) with lip.train.fit', () => {
  /** Two Gaussian blobs per class in 4-D, separable with margin. */
  function blobs(n: number, seed: number): { x: tf.Tensor2D; y: tf.Tensor2D; labels: tf.Tensor1D } {
    const r = mulberry32(seed);
    const centers = [[1, 1, 0, 0], [-1, 1, 0, 0], [0, -1.2, 0, 0]];
    const labels = [...Array(n)].map((_, i) => i % 3);
    const xs = labels.flatMap((c) => centers[c]!.map((m) => m + 0.25 * (2 * r() - 1)));
    return { x: tf.tensor2d(xs, [n, 4]), y: oneHot(labels, 3), labels: tf.tensor1d(labels, 'int32') };
  }

  it('the loss and the penalties see the epoch, the batch and each epoch covers every sample index once', async () => {
    const model = denseRelu();
    model.compile({ optimizer: tf.train.adam(1e-2), loss: 'categoricalCrossentropy' });
    const { x, y, labels } = blobs(30, 1);
    const seen: { epoch?: number; batch?: number; batches?: number; indices?: number[] }[] = [];
    const probe = Object.assign(
      (ctx: lip.train.PenaltyContext) => {
        seen.push({ epoch: ctx.epoch, batch: ctx.batch, batches: ctx.batches, indices: Array.from(ctx.indices ?? []) });
        return tf.scalar(0);
      },
      { penaltyName: 'probe', config: () => ({}) },
    );
    const loss = lip.losses.localLipschitzCertified({ epsilon: 0.1 });
    await lip.train.fit(model, x, y, { epochs: 2, batchSize: 8, loss, penalties: [probe], verbose: 0 });
    expect(seen.map((s) => [s.epoch, s.batch, s.batches])).toEqual([0, 1].flatMap((e) => [0, 1, 2, 3].map((b) => [e, b, 4])));
    for (const epoch of [0, 1]) {
      const all = seen.filter((s) => s.epoch === epoch).flatMap((s) => s.indices!);
      expect(all.sort((a, b) => a - b)).toEqual([...Array(30).keys()]);
    }
    loss.dispose();
    tf.dispose([x, y, labels]);
  });

  it('training with the local bound certifies more samples than plain training from the same weights, without leaks', async () => {
    const { x, y, labels } = blobs(120, 2);
    const eps = 0.35;
    const run = async (certified: boolean) => {
      const model = denseRelu();
      model.compile({ optimizer: tf.train.adam(1e-2), loss: 'categoricalCrossentropy' });
      const loss = certified ? lip.losses.localLipschitzCertified({ epsilon: eps, rampEpochs: 10 }) : undefined;
      await lip.train.fit(model, x, y, { epochs: 2, batchSize: 30, loss, verbose: 0 });
      const before = tf.memory().numTensors;
      const history = await lip.train.fit(model, x, y, { epochs: 30, initialEpoch: 2, batchSize: 30, loss, verbose: 0 });
      expect(tf.memory().numTensors).toBe(before);
      if (certified) expect(history.history['robust_acc']).toBeDefined();
      loss?.dispose();
      const accuracy = lip.local.certifiedAccuracy(model, x, labels, eps);
      model.dispose();
      return accuracy;
    };
    const plain = await run(false);
    const trained = await run(true);
    expect(trained).toBeGreaterThan(plain + 0.2);
    tf.dispose([x, y, labels]);
  });
});

describe('(f) bad input', () => {
  it('options name the option and the value', () => {
    const make = (args: unknown) => () => lip.losses.localLipschitzCertified(args as lip.losses.LocalCertifiedLossArgs);
    expect(thrownConfigError(make({})).message).toMatch(/epsilon.*undefined/);
    expect(thrownConfigError(make({ epsilon: -1 })).message).toMatch(/epsilon.*-1/);
    expect(thrownConfigError(make({ epsilon: 1, kappa: 2 })).message).toMatch(/kappa.*2/);
    expect(thrownConfigError(make({ epsilon: 1, startEpsilon: 3 })).message).toMatch(/startEpsilon.*3/);
    expect(thrownConfigError(make({ epsilon: 1, bound: 'tight' })).message).toMatch(/bound.*tight/);
    expect(thrownConfigError(make({ epsilon: 1, rampEpochs: 1.5 })).message).toMatch(/rampEpochs.*1\.5/);
    expect(thrownConfigError(make({ epsilon: 1, iterations: 0 })).message).toMatch(/iterations.*0/);
    expect(thrownConfigError(make({ epsilon: 1, kapa: 0 })).message).toMatch(/kapa/);
  });

  it('an unsupported layer is named at the first call; fit refuses a loss with adversarial batches', async () => {
    const model = tfl.sequential({ layers: [tfl.layers.dense({ units: 4, inputShape: [3], activation: 'softmax' }), tfl.layers.dense({ units: 2 })] });
    const x = randomBatch(1, 4, 3);
    const y = oneHot([0, 1, 0, 1], 2);
    const loss = lip.losses.localLipschitzCertified({ epsilon: 0.1 });
    const message = thrownConfigError(() => tf.tidy(() => loss({ model, x, y, yPred: model.apply(x) as tf.Tensor }))).message;
    expect(message).toMatch(/dense_Dense\d+/);
    model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
    const attack = lip.attacks.fgsm({ epsilon: 0.1 });
    await expect(lip.train.fit(model, x, y, { loss, adversarial: { attack } })).rejects.toThrow(/adversarial/);
    await expect(lip.train.fit(model, x, y, { loss: (() => 1) as unknown as lip.train.TrainingLoss })).rejects.toThrow(/loss.*lossName/);
    tf.dispose([x, y]);
  });
});
