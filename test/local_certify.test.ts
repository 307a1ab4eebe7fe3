/**
 * `lip.local.worstCaseLogits`, `certify`, `certifiedAccuracy`, `certifiedRadius` against
 * independent oracles:
 * (a) one Dense layer: the bound is the float64 `(w_j - w_y).x + (b_j - b_y) + eps ||w_j - w_y||`
 *     and the radius the float64 distance to the decision boundary;
 * (b) soundness on ReLU networks (dense and conv): a strong L2 PGD never flips a certified sample,
 *     and no attacked `z_j - z_y` (targeted PGD per class) exceeds its bound; bounds are
 *     non-decreasing in epsilon (so bisection is valid);
 * (c) never weaker than the global certificate `margin > sqrt(2) L eps`, and strictly stronger on
 *     a trained ReLU network;
 * (d) certifiedAccuracy is the mean of (correct && certified) sample by sample;
 * (e) no tensor leaks; (f) bad arguments throw `LipschitzConfigError` naming argument and value.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as lip from '../src';
import * as acts from '../src/activations';
import * as layers from '../src/layers';
import * as local from '../src/local';
import { mulberry32 } from './helpers/random';
import { thrownConfigError } from './helpers/thrown';

const seeded = (seed: number, std = 0.6) => ({
  kernelInitializer: tfl.initializers.randomNormal({ mean: 0, stddev: std, seed }),
  biasInitializer: tfl.initializers.randomUniform({ minval: -0.3, maxval: 0.3, seed: seed + 1 }),
});

function randomBatch(seed: number, n: number, shape: number[], scale = 1): tf.Tensor {
  const r = mulberry32(seed);
  const size = shape.reduce((p, d) => p * d, 1);
  return tf.tensor(Array.from({ length: n * size }, () => scale * (2 * r() - 1)), [n, ...shape]);
}

/** Predicted classes at x. */
function predicted(model: tfl.LayersModel, x: tf.Tensor): number[] {
  return tf.tidy(() => Array.from(tf.argMax(model.predict(x) as tf.Tensor, 1).dataSync()));
}

function linearModel(): tfl.LayersModel {
  return tfl.sequential({ layers: [tfl.layers.dense({ units: 4, inputShape: [5], ...seeded(11) })] });
}

function denseRelu(): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ units: 12, activation: 'relu', inputShape: [4], ...seeded(21) }),
      tfl.layers.dense({ units: 12, activation: 'relu', ...seeded(23) }),
      tfl.layers.dense({ units: 3, ...seeded(25) }),
    ],
  });
}

function convRelu(): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [5, 5, 1], ...seeded(31, 0.5) }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 3, ...seeded(33, 0.3) }),
    ],
  });
}

describe('(a) one Dense layer: analytic bound and radius', () => {
  let model: tfl.LayersModel;
  let x: tf.Tensor;
  let pred: number[];
  let labels: number[];
  let k: number[][];
  let b: number[];
  let xs: number[][];
  beforeAll(() => {
    model = linearModel();
    x = randomBatch(1, 12, [5]);
    pred = predicted(model, x);
    labels = pred.map((p, i) => (i % 4 === 3 ? (p + 1) % 4 : p)); // every 4th misclassified
    [k, b] = model.getWeights().map((w) => w.arraySync()) as [number[][], number[]];
    xs = x.arraySync() as number[][];
  });
  const col = (j: number) => k.map((row) => row[j]!);
  const z = (i: number, j: number) => xs[i]!.reduce((s, v, h) => s + v * k[h]![j]!, b[j]!);
  const diffNorm = (j: number, y: number) => Math.sqrt(col(j).reduce((s, v, h) => s + (v - col(y)[h]!) ** 2, 0));

  it('worstCaseLogits = (w_j - w_y).x + (b_j - b_y) + eps ||w_j - w_y|| (label column 0)', () => {
    const eps = 0.37;
    const got = local.worstCaseLogits(model, x, tf.tensor1d(labels, 'int32'), eps);
    const values = got.arraySync() as number[][];
    got.dispose();
    labels.forEach((y, i) => {
      for (let j = 0; j < 4; j++) {
        const want = j === y ? 0 : z(i, j) - z(i, y) + eps * diffNorm(j, y);
        expect(Math.abs(values[i]![j]! - want)).toBeLessThan(1e-5 * (1 + Math.abs(want)));
      }
    });
  });

  it('certifiedRadius = min_j (z_y - z_j) / ||w_y - w_j|| within the tolerance (0 when misclassified)', () => {
    const tolerance = 1e-4;
    const oneHot = tf.oneHot(tf.tensor1d(labels, 'int32'), 4);
    const withHigh = local.certifiedRadius(model, x, oneHot, { high: 20, tolerance });
    const doubling = local.certifiedRadius(model, x, oneHot, { tolerance });
    labels.forEach((y, i) => {
      const exact = pred[i] !== y ? 0 : Math.min(...[0, 1, 2, 3].filter((j) => j !== y).map((j) => (z(i, y) - z(i, j)) / diffNorm(j, y)));
      for (const r of [withHigh[i]!, doubling[i]!]) {
        expect(r).toBeLessThanOrEqual(exact + 1e-5 * (1 + exact));
        expect(r).toBeGreaterThanOrEqual(exact - tolerance - 1e-5 * (1 + exact));
      }
      if (pred[i] !== y) expect(withHigh[i]).toBe(0);
    });
    expect(labels.filter((y, i) => y === pred[i]).length).toBeGreaterThan(6);
  });
});

/** The largest `z_j - z_y` a targeted L2 PGD finds for class j (per sample), and the attacked points' distance. */
function attackedDifference(model: tfl.LayersModel, x: tf.Tensor, labels: number[], j: number, eps: number): number[] {
  const attack = lip.attacks.pgd({
    epsilon: eps,
    norm: 'l2',
    steps: 60,
    restarts: 3,
    clip: null,
    seed: 7 + j,
    loss: (y, logits) => tf.sub(tf.gather(logits, j, 1), tf.sum(tf.mul(y, logits), 1)),
  });
  return tf.tidy(() => {
    const xAdv = attack(model, x, tf.tensor1d(labels, 'int32'));
    const dist = tf.sqrt(tf.sum(tf.square(tf.reshape(tf.sub(xAdv, x), [x.shape[0]!, -1])), 1)).dataSync();
    dist.forEach((d) => expect(d).toBeLessThanOrEqual(eps * (1 + 1e-4)));
    const logits = model.predict(xAdv) as tf.Tensor;
    const y = tf.oneHot(tf.tensor1d(labels, 'int32'), logits.shape[1]!);
    return Array.from(tf.sub(tf.gather(logits, j, 1), tf.sum(tf.mul(y, logits), 1)).dataSync());
  });
}

describe.each([
  ['dense ReLU', denseRelu, [4], 2],
  ['conv-ReLU-flatten-dense', convRelu, [5, 5, 1], 1],
])('(b) soundness on a %s network', (_name, make, shape, scale) => {
  let model: tfl.LayersModel;
  let x: tf.Tensor;
  let labels: number[];
  let radii: Float64Array;
  let eps: number;
  const yIdx = () => tf.tensor1d(labels, 'int32');
  beforeAll(() => {
    model = (make as () => tfl.LayersModel)();
    x = randomBatch(5, 16, shape as number[], scale as number);
    labels = predicted(model, x);
    radii = local.certifiedRadius(model, x, yIdx(), { high: 50, tolerance: 1e-3 });
    const sorted = Array.from(radii).sort((p, q) => p - q);
    eps = sorted[Math.floor(sorted.length / 2)]! + 1e-4;
  });

  it('a strong L2 PGD never changes the prediction of a certified sample', () => {
    const certified = local.certify(model, x, yIdx(), eps);
    const count = certified.filter(Boolean).length;
    expect(count).toBeGreaterThan(0);
    expect(count).toBeLessThan(labels.length);
    const attack = lip.attacks.pgd({ epsilon: eps, norm: 'l2', steps: 100, restarts: 5, clip: null, seed: 3 });
    const after = tf.tidy(() => predicted(model, attack(model, x, yIdx())));
    certified.forEach((c, i) => {
      if (c) expect(after[i]).toBe(labels[i]);
    });
    expect(after.some((p, i) => p !== labels[i])).toBe(true); // the attack is strong enough to flip some
  });

  it('every bound is >= the z_j - z_y a targeted PGD reaches', () => {
    const bound = local.worstCaseLogits(model, x, yIdx(), eps);
    const values = bound.arraySync() as number[][];
    bound.dispose();
    for (let j = 0; j < 3; j++) {
      const reached = attackedDifference(model, x, labels, j, eps);
      reached.forEach((v, i) => {
        if (labels[i] !== j) expect(v).toBeLessThanOrEqual(values[i]![j]! + 1e-4);
      });
    }
  });

  it('bounds are non-decreasing in epsilon and certified sets nested (bisection is valid)', () => {
    const grid = [0.01, 0.03, 0.1, 0.2, 0.4, 0.8, 1.6];
    const bounds = grid.map((e) => {
      const t = local.worstCaseLogits(model, x, yIdx(), e);
      const v = t.arraySync() as number[][];
      t.dispose();
      return v;
    });
    for (let g = 1; g < grid.length; g++) {
      bounds[g]!.forEach((row, i) => row.forEach((v, j) => expect(v).toBeGreaterThanOrEqual(bounds[g - 1]![i]![j]! - 1e-5)));
    }
    radii.forEach((r, i) => {
      const cert = grid.map((e) => local.certify(model, tf.slice(x, i, 1), tf.tensor1d([labels[i]!], 'int32'), e)[0]);
      grid.forEach((e, g) => {
        if (e <= r) expect(cert[g]).toBe(true); // r is certified, so is every smaller epsilon
        if (e > r + 1e-3) expect(cert[g]).toBe(false); // bisection left hi <= r + tolerance uncertified
      });
    });
  });
});

/** Counts of samples certified at eps: [local, global (correct and radius > eps), global ones not local]. */
function compare(model: tfl.LayersModel, x: tf.Tensor, labels: number[], eps: number): [number, number, number] {
  const radii = lip.certify(model, x);
  const pred = predicted(model, x);
  const localCert = local.certify(model, x, tf.tensor1d(labels, 'int32'), eps);
  let global = 0;
  let missed = 0;
  labels.forEach((y, i) => {
    if (pred[i] === y && radii[i]! > eps * (1 + 1e-4)) {
      global++;
      if (!localCert[i]) missed++;
    }
  });
  return [localCert.filter(Boolean).length, global, missed];
}

describe('(c) never weaker than the global certificate', () => {
  it('on 1-Lipschitz tfjs-lip models (spectralDense + groupSort2 / relu)', () => {
    for (const act of [() => acts.groupSort2(), () => tfl.layers.reLU()]) {
      const model = tfl.sequential({
        layers: [layers.spectralDense({ units: 16, inputShape: [4], ...seeded(41) }), act(), layers.spectralDense({ units: 16, ...seeded(43) }), act(), layers.spectralDense({ units: 3, ...seeded(45) })],
      });
      const x = randomBatch(9, 40, [4], 2);
      const labels = predicted(model, x);
      for (const eps of [0.005, 0.02, 0.05, 0.1, 0.2]) {
        const [loc, glob, missed] = compare(model, x, labels, eps);
        expect(missed).toBe(0);
        expect(loc).toBeGreaterThanOrEqual(glob);
      }
    }
  });

  it('on a ReLU network trained a few steps, strictly more samples at some epsilon', async () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.dense({ units: 32, activation: 'relu', inputShape: [4], ...seeded(51, 0.5) }),
        tfl.layers.dense({ units: 32, activation: 'relu', ...seeded(53, 0.3) }),
        tfl.layers.dense({ units: 3, ...seeded(55, 0.3) }),
      ],
    });
    const r = mulberry32(17);
    const centers = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]];
    const n = 60;
    const labels = Array.from({ length: n }, (_, i) => i % 3);
    const x = tf.tensor2d(labels.map((c) => centers[c]!.map((v) => v + 0.3 * (2 * r() - 1))));
    const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 3);
    model.compile({ optimizer: tf.train.adam(0.01), loss: (t: tf.Tensor, p: tf.Tensor) => tf.losses.softmaxCrossEntropy(t, p) });
    await model.fit(x, y, { epochs: 30, batchSize: 20, verbose: 0, shuffle: false });
    const rows: string[] = [];
    let strictlyMore = false;
    let localRadiusHelps = false;
    for (const eps of [0.01, 0.03, 0.05, 0.1, 0.2, 0.3]) {
      const [loc, glob, missed] = compare(model, x, labels, eps);
      // The head's ball from the global bounds only: certifies a subset of the local radius's samples.
      const boxOnly = local.certify(model, x, tf.tensor1d(labels, 'int32'), eps, { radius: 'global' });
      const withLocal = local.certify(model, x, tf.tensor1d(labels, 'int32'), eps);
      expect(boxOnly.filter((c, i) => c && !withLocal[i])).toEqual([]);
      const box = boxOnly.filter(Boolean).length;
      rows.push(`eps ${eps}: local ${loc}, box + global ball ${box}, global ${glob}`);
      expect(missed).toBe(0);
      if (loc > glob) strictlyMore = true;
      if (loc > box) localRadiusHelps = true;
    }
    // docs/local_lipschitz.md records these rows.
    expect({ strictlyMore, localRadiusHelps, rows }).toEqual({ strictlyMore: true, localRadiusHelps: true, rows });
  });
});

describe('(d) certifiedAccuracy', () => {
  it('is the mean of (correct && certified), sample by sample, for any batchSize', () => {
    const model = denseRelu();
    const x = randomBatch(13, 20, [4], 2);
    const pred = predicted(model, x);
    const labels = pred.map((p, i) => (i % 5 === 0 ? (p + 1) % 3 : p));
    const eps = 0.05;
    let hits = 0;
    labels.forEach((y, i) => {
      const xi = tf.slice(x, i, 1);
      const correct = predicted(model, xi)[0] === y;
      if (correct && local.certify(model, xi, tf.tensor1d([y], 'int32'), eps)[0]) hits++;
    });
    const expected = hits / labels.length;
    expect(hits).toBeGreaterThan(0);
    expect(hits).toBeLessThan(labels.length);
    for (const batchSize of [1, 3, 7, 128]) {
      expect(local.certifiedAccuracy(model, x, tf.tensor1d(labels, 'int32'), eps, { batchSize })).toBeCloseTo(expected, 12);
    }
    expect(local.certifiedAccuracy(model, x, tf.oneHot(tf.tensor1d(labels, 'int32'), 3), eps)).toBeCloseTo(expected, 12);
  });
});

describe('the worst-case logits as a loss', () => {
  it('CE(worstCaseLogits) is >= CE(logits) and differentiable in the weights of built-in layers', () => {
    const model = denseRelu();
    const x = randomBatch(19, 8, [4], 2);
    const y = tf.oneHot(tf.tensor1d(predicted(model, x), 'int32'), 3);
    const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, local.worstCaseLogits(model, x, y, 0.1)) as tf.Scalar);
    const clean = tf.losses.softmaxCrossEntropy(y, model.predict(x) as tf.Tensor);
    expect(value.dataSync()[0]!).toBeGreaterThanOrEqual(clean.dataSync()[0]!);
    const kernels = model.layers.map((l) => grads[(l.weights[0]!.read() as tf.Variable).name]);
    kernels.forEach((g) => {
      expect(g).toBeDefined();
      const v = Array.from(g!.dataSync());
      expect(v.every(Number.isFinite)).toBe(true);
      expect(v.some((u) => u !== 0)).toBe(true);
    });
    tf.dispose([value, clean, y, x, ...Object.values(grads)]);
  });
});

describe('(e) no tensor leaks', () => {
  it('worstCaseLogits returns one tensor; certify, certifiedAccuracy, certifiedRadius and failures leave none', () => {
    for (const model of [denseRelu(), linearModel()]) {
      const d = model.inputs[0]!.shape[1] as number;
      const x = randomBatch(3, 5, [d]);
      const labels = tf.tensor1d(predicted(model, x), 'int32');
      const before = tf.memory().numTensors;
      const out = local.worstCaseLogits(model, x, labels, 0.1);
      expect(tf.memory().numTensors).toBe(before + 1);
      out.dispose();
      local.certify(model, x, labels, 0.1, { batchSize: 2 });
      local.certifiedAccuracy(model, x, labels, 0.1, { batchSize: 2 });
      local.certifiedRadius(model, x, labels, { tolerance: 1e-2 });
      thrownConfigError(() => local.certify(model, x, labels, -1));
      thrownConfigError(() => local.certify(model, x, tf.tensor1d([9, 0, 0, 0, 0], 'int32'), 0.1));
      expect(tf.memory().numTensors).toBe(before + 1); // the bad labels tensor above
    }
  });
});

describe('(f) bad arguments', () => {
  let model: tfl.LayersModel;
  let x: tf.Tensor;
  let labels: tf.Tensor;
  beforeAll(() => {
    model = denseRelu();
    x = randomBatch(3, 4, [4]);
    labels = tf.tensor1d([0, 1, 2, 0], 'int32');
  });
  const message = (f: () => unknown) => thrownConfigError(f).message;

  it('epsilon, x and labels name the argument and value', () => {
    for (const eps of [0, -1, NaN, Infinity, '0.1' as unknown as number]) expect(message(() => local.worstCaseLogits(model, x, labels, eps))).toMatch(/epsilon/);
    expect(message(() => local.certify(model, x, labels, -2))).toMatch(/epsilon.*-2/);
    expect(message(() => local.certify(model, randomBatch(1, 4, [5]), labels, 0.1))).toMatch(/x.*\[4,5\]/);
    expect(message(() => local.certify(model, [1, 2] as unknown as tf.Tensor, labels, 0.1))).toMatch(/x/);
    expect(message(() => local.certify(model, x, tf.tensor1d([0, 1, 3, 0], 'int32'), 0.1))).toMatch(/labels.*3/);
    expect(message(() => local.certify(model, x, tf.tensor1d([0, 1.5, 2, 0]), 0.1))).toMatch(/labels.*1\.5/);
    expect(message(() => local.certify(model, x, tf.tensor1d([0, 1, 2]), 0.1))).toMatch(/labels/);
    expect(message(() => local.certify(model, x, tf.oneHot(tf.tensor1d([0, 1, 2, 0], 'int32'), 4), 0.1))).toMatch(/labels/);
    expect(message(() => local.certify(model, x, 'a' as unknown as tf.Tensor, 0.1))).toMatch(/labels.*'a'/);
  });

  it('options name the option and value', () => {
    expect(message(() => local.certify(model, x, labels, 0.1, { batchSize: 0 }))).toMatch(/batchSize.*0/);
    expect(message(() => local.certifiedAccuracy(model, x, labels, 0.1, { batchsize: 2 } as never))).toMatch(/batchsize/);
    expect(message(() => local.certifiedRadius(model, x, labels, { low: -1 }))).toMatch(/low.*-1/);
    expect(message(() => local.certifiedRadius(model, x, labels, { low: 2, high: 1 }))).toMatch(/high.*1/);
    expect(message(() => local.certifiedRadius(model, x, labels, { tolerance: 0 }))).toMatch(/tolerance.*0/);
    expect(message(() => local.certifiedRadius(model, x, labels, { maxSteps: 1.5 }))).toMatch(/maxSteps.*1\.5/);
    expect(message(() => local.certify(model, x, labels, 0.1, { radius: 'tight' } as never))).toMatch(/radius.*tight/);
    expect(message(() => local.worstCaseLogits(model, x, labels, 0.1, { radius: 1 } as never))).toMatch(/radius.*1/);
    expect(message(() => local.certifiedRadius(model, x, labels, { radius: 'l2' } as never))).toMatch(/radius.*l2/);
  });

  it('a model without a linear dense head names the layer', () => {
    const reluHead = tfl.sequential({ layers: [tfl.layers.dense({ units: 3, activation: 'relu', inputShape: [4], name: 'head' })] });
    expect(message(() => local.certify(reluHead, x, labels, 0.1))).toMatch(/'head'.*relu/);
    const actHead = tfl.sequential({ layers: [tfl.layers.dense({ units: 3, inputShape: [4] }), tfl.layers.activation({ activation: 'relu', name: 'act' })] });
    expect(message(() => local.worstCaseLogits(actHead, x, labels, 0.1))).toMatch(/'act'.*not a dense/);
    const oneUnit = tfl.sequential({ layers: [tfl.layers.dense({ units: 1, inputShape: [4], name: 'single' })] });
    expect(message(() => local.certifiedAccuracy(oneUnit, x, tf.tensor1d([0, 0, 0, 0], 'int32'), 0.1))).toMatch(/'single'.*2 units/);
    const softmax = tfl.sequential({ layers: [tfl.layers.dense({ units: 3, inputShape: [4], activation: 'softmax', name: 'sm' })] });
    expect(message(() => local.certify(softmax, x, labels, 0.1))).toMatch(/sm/);
  });
});
