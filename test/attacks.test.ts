/**
 * lip.attacks against independent oracles: on linear classifiers (logits = x W + b) the minimal
 * adversarial L2 perturbation is the distance to the nearest decision boundary, computed in
 * float64 here, and FGSM's step is known in closed form; the PGD constraints are checked on every
 * returned sample; nearestNeighbourDistance against a float64 brute-force loop; no tensor leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as lip from '../src';
import { LipschitzConfigError } from '../src/core/errors';
import {
  argmax,
  boundaryDistance,
  bruteForceNearest,
  column,
  linearFunction,
  linearModel,
  logits64,
  normals,
  randomLinear,
  uniforms,
  type Linear,
} from './helpers/linear_classifier';

const { gaussianNoise, fgsm, pgd, robustAccuracy, nearestNeighbourDistance } = lip.attacks;

/** n samples of dimension d uniform in [low, high), their float64 predictions under m. */
function samples(m: Linear, n: number, seed: number, low = 0.35, high = 0.65): { x: Float32Array; pred: number[] } {
  const x = uniforms(n * m.d, seed, low, high);
  const pred = Array.from({ length: n }, (_, i) => argmax(logits64(m, x.subarray(i * m.d, (i + 1) * m.d))));
  return { x, pred };
}

/** Per-sample distance to the nearest boundary (float64) and the class across it. */
function nearestBoundary(m: Linear, xi: ArrayLike<number>, t: number): { dist: number; j: number } {
  let best = { dist: Infinity, j: -1 };
  for (let j = 0; j < m.classes; j++) {
    if (j === t) continue;
    const dist = boundaryDistance(m, xi, t, j);
    if (dist < best.dist) best = { dist, j };
  }
  return best;
}

/** Margin loss max_{j != t} z_j - z_t (per sample). */
const marginLoss = (y: tf.Tensor, z: tf.Tensor): tf.Tensor => tf.sub(tf.max(tf.sub(z, tf.mul(y, 1e9)), 1), tf.sum(tf.mul(y, z), 1));

/** Float64 predicted class of each row of a [n, d] result. */
function predictions(m: Linear, xAdv: tf.Tensor): number[] {
  const v = xAdv.dataSync();
  const n = xAdv.shape[0] as number;
  return Array.from({ length: n }, (_, i) => argmax(logits64(m, v.subarray(i * m.d, (i + 1) * m.d))));
}

/** Runs `attack` on sample i alone and returns whether the result is misclassified (float64). */
function succeeds(m: Linear, model: lip.attacks.AttackTarget, attack: lip.attacks.Attack, x: Float32Array, i: number, label: number): boolean {
  const xi = tf.tensor2d(x.subarray(i * m.d, (i + 1) * m.d), [1, m.d]);
  const yi = tf.tensor1d([label], 'int32');
  const xAdv = attack(model, xi, yi);
  const wrong = predictions(m, xAdv)[0] !== label;
  tf.dispose([xi, yi, xAdv]);
  return wrong;
}

describe('pgd finds the minimal adversarial L2 perturbation of a linear classifier (float64 oracle)', () => {
  it('2 classes, cross-entropy: succeeds at 1.01 x the boundary distance, never at 0.99 x', () => {
    const m = randomLinear(6, 2, 11);
    const model = linearModel(m);
    const { x, pred } = samples(m, 24, 12, 0, 1);
    let checked = 0;
    for (let i = 0; i < 24; i++) {
      const t = pred[i] as number;
      const { dist } = nearestBoundary(m, x.subarray(i * 6, (i + 1) * 6), t);
      if (dist < 1e-3) continue; // float32 logits cannot resolve 1% of a tiny margin
      checked++;
      const run = (scale: number, randomStart: boolean) =>
        succeeds(m, model, pgd({ epsilon: scale * dist, norm: 'l2', clip: null, randomStart, steps: randomStart ? 40 : 7 }), x, i, t);
      expect(`${i}: ${run(1.01, false)}`).toBe(`${i}: true`);
      expect(`${i}: ${run(1.01, true)}`).toBe(`${i}: true`);
      expect(`${i}: ${run(0.99, false)}`).toBe(`${i}: false`);
      expect(`${i}: ${run(0.99, true)}`).toBe(`${i}: false`);
    }
    expect(checked).toBeGreaterThanOrEqual(20);
    model.dispose();
  });

  it('3 classes with equal ||w_t - w_j||, margin loss: the nearest of the two boundaries, within 1%', () => {
    // Columns on an equilateral triangle of a random plane: the nearest boundary is the class of
    // the second largest logit, and the margin ascent keeps heading to it.
    const d = 5;
    const [u, v] = [normals(d, 31), normals(d, 32)];
    const un = Math.hypot(...u);
    const uu = Array.from(u, (a) => a / un);
    const dot = Array.from(v).reduce((s, a, k) => s + a * (uu[k] as number), 0);
    const vv = Array.from(v, (a, k) => a - dot * (uu[k] as number));
    const vn = Math.hypot(...vv);
    const w = new Float32Array(d * 3);
    for (let j = 0; j < 3; j++) for (let k = 0; k < d; k++) w[k * 3 + j] = 1.5 * (Math.cos((2 * Math.PI * j) / 3) * (uu[k] as number) + (Math.sin((2 * Math.PI * j) / 3) * (vv[k] as number)) / vn);
    const m: Linear = { d, classes: 3, w, b: Float32Array.from([0.05, -0.02, 0.01]) };
    const f = linearFunction(m);
    const { x, pred } = samples(m, 30, 33, 0, 1);
    let checked = 0;
    for (let i = 0; i < 30; i++) {
      const t = pred[i] as number;
      const { dist } = nearestBoundary(m, x.subarray(i * d, (i + 1) * d), t);
      if (dist < 1e-3) continue;
      checked++;
      const attack = (scale: number) => pgd({ epsilon: scale * dist, norm: 'l2', clip: null, randomStart: false, loss: marginLoss });
      expect(`${i}: ${succeeds(m, f, attack(1.01), x, i, t)}`).toBe(`${i}: true`);
      expect(`${i}: ${succeeds(m, f, attack(0.99), x, i, t)}`).toBe(`${i}: false`);
    }
    expect(checked).toBeGreaterThanOrEqual(25);
  });
});

describe('fgsm on a linear classifier (2 classes): the closed-form steps', () => {
  const m = randomLinear(8, 2, 21);
  const { x, pred } = samples(m, 16, 22);
  const n = 16;
  let model: tfl.LayersModel;
  beforeAll(() => {
    model = linearModel(m);
  });
  afterAll(() => model.dispose());

  /** The sign of w_other - w_true per coordinate, and that difference. */
  const direction = (t: number): number[] => column(m, 1 - t).map((v, k) => v - (column(m, t)[k] as number));

  it('linf: x + epsilon sign(w_other - w_true), exactly', () => {
    const xAdv = fgsm({ epsilon: 0.3 })(model, tf.tensor2d(x, [n, 8]), tf.tensor1d(pred, 'int32'));
    const got = xAdv.dataSync();
    for (let i = 0; i < n; i++) {
      const dir = direction(pred[i] as number);
      for (let k = 0; k < 8; k++) {
        expect(Math.abs(dir[k] as number)).toBeGreaterThan(1e-3); // the sign is not a rounding accident
        expect(got[i * 8 + k]).toBe(Math.fround((x[i * 8 + k] as number) + Math.fround(0.3) * Math.sign(dir[k] as number)));
      }
    }
    xAdv.dispose();
  });

  it('l2: x + epsilon g / ||g||_2 (1e-6), one-hot labels', () => {
    const labels = tf.oneHot(tf.tensor1d(pred, 'int32'), 2);
    const xAdv = fgsm({ epsilon: 0.25, norm: 'l2' })(model, tf.tensor2d(x, [n, 8]), labels);
    const got = xAdv.dataSync();
    for (let i = 0; i < n; i++) {
      const dir = direction(pred[i] as number);
      const norm = Math.hypot(...dir);
      for (let k = 0; k < 8; k++) expect(Math.abs((got[i * 8 + k] as number) - ((x[i * 8 + k] as number) + (0.25 * (dir[k] as number)) / norm))).toBeLessThan(1e-6);
    }
    tf.dispose([labels, xAdv]);
  });

  it('float class indices and one-hot labels give the int32 result (pgd from x)', () => {
    const xt = tf.tensor2d(x, [n, 8]);
    const attack = pgd({ epsilon: 0.2, randomStart: false, clip: null });
    const labelSets = [tf.tensor1d(pred, 'int32'), tf.tensor1d(pred, 'float32'), tf.oneHot(tf.tensor1d(pred, 'int32'), 2)];
    const [a, b, c] = labelSets.map((labels) => attack(model, xt, labels));
    expect(Array.from(b!.dataSync())).toEqual(Array.from(a!.dataSync()));
    expect(Array.from(c!.dataSync())).toEqual(Array.from(a!.dataSync()));
    expect(Array.from(a!.dataSync())).not.toEqual(Array.from(x));
    tf.dispose([xt, ...labelSets, a!, b!, c!]);
  });

  it('l1 (Tulip Jinf): only the coordinate of largest |w_other - w_true| moves, by epsilon', () => {
    const xAdv = fgsm({ epsilon: 0.2, norm: 'l1' })(model, tf.tensor2d(x, [n, 8]), tf.tensor1d(pred, 'int32'));
    const got = xAdv.dataSync();
    for (let i = 0; i < n; i++) {
      const dir = direction(pred[i] as number);
      const sorted = dir.map(Math.abs).sort((a, b) => b - a);
      expect((sorted[0] as number) - (sorted[1] as number)).toBeGreaterThan(1e-3); // a unique argmax
      const top = dir.map(Math.abs).indexOf(sorted[0] as number);
      for (let k = 0; k < 8; k++) {
        const moved = k === top ? Math.fround((x[i * 8 + k] as number) + Math.fround(0.2) * Math.sign(dir[k] as number)) : x[i * 8 + k];
        expect(got[i * 8 + k]).toBe(moved);
      }
    }
    xAdv.dispose();
  });

  it('l1: tied largest entries share epsilon (the step stays in the l1 ball)', () => {
    // w_0 = 0, w_1 = (1, -1, 0.5): g = p_1 w_1, two entries of equal magnitude.
    const tied: Linear = { d: 3, classes: 2, w: Float32Array.from([0, 1, 0, -1, 0, 0.5]), b: Float32Array.from([0.3, 0]) };
    const f = linearFunction(tied);
    const x0 = tf.tensor2d([[0.5, 0.5, 0.5]]);
    const xAdv = fgsm({ epsilon: 0.2, norm: 'l1' })(f, x0, tf.tensor1d([0], 'int32'));
    expect(Array.from(xAdv.dataSync())).toEqual([Math.fround(0.5 + Math.fround(0.2) / 2), Math.fround(0.5 - Math.fround(0.2) / 2), 0.5]);
    tf.dispose([x0, xAdv]);
  });
});

/** A small MLP on 4 x 4 x 1 images (flatten, dense relu, dense 3). */
function imageModel(seed: number): tfl.LayersModel {
  const model = tfl.sequential({
    layers: [
      tfl.layers.flatten({ inputShape: [4, 4, 1] }),
      tfl.layers.dense({ units: 12, activation: 'relu', kernelInitializer: tfl.initializers.glorotNormal({ seed }) }),
      tfl.layers.dense({ units: 3, kernelInitializer: tfl.initializers.glorotNormal({ seed: seed + 1 }) }),
    ],
  });
  return model;
}

/** Per-sample L2 and linf norms (float64) of a - b over all non-batch axes. */
function sampleNorms(a: tf.Tensor, b: tf.Tensor): { l2: number[]; linf: number[] } {
  const [va, vb] = [a.dataSync(), b.dataSync()];
  const n = a.shape[0] as number;
  const dim = a.size / n;
  const l2: number[] = [];
  const linf: number[] = [];
  for (let i = 0; i < n; i++) {
    let [s, mx] = [0, 0];
    for (let k = 0; k < dim; k++) {
      const dlt = (va[i * dim + k] as number) - (vb[i * dim + k] as number);
      s += dlt * dlt;
      mx = Math.max(mx, Math.abs(dlt));
    }
    l2.push(Math.sqrt(s));
    linf.push(mx);
  }
  return { l2, linf };
}

describe('pgd stays in the epsilon ball and the [0, 1] box (every returned sample, images)', () => {
  let [model, x, labels] = [null, null, null] as unknown as [tfl.LayersModel, tf.Tensor, tf.Tensor];
  beforeAll(() => {
    model = imageModel(41);
    // Pixels in [0, 1], a third of them exactly on the box faces.
    const values = uniforms(40 * 16, 42, -0.5, 1.5).map((v) => Math.min(1, Math.max(0, v)));
    x = tf.tensor4d(values, [40, 4, 4, 1]);
    labels = tf.tensor1d(Array.from({ length: 40 }, (_, i) => i % 3), 'int32');
  });
  afterAll(() => {
    model.dispose();
    tf.dispose([x, labels]);
  });

  it.each([
    ['l2', 1.2],
    ['linf', 0.15],
  ] as const)('%s, epsilon %s, large steps and restarts', (norm, epsilon) => {
    const xAdv = pgd({ norm, epsilon, steps: 6, stepSize: epsilon, restarts: 3, seed: 3 })(model, x, labels);
    const v = xAdv.dataSync();
    expect(Math.min(...v)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...v)).toBeLessThanOrEqual(1);
    const dist = sampleNorms(xAdv, x)[norm === 'l2' ? 'l2' : 'linf'];
    for (const dd of dist) expect(dd).toBeLessThanOrEqual(epsilon * (1 + 1e-6) + 1e-6);
    // The attack does move (a projection that did nothing would fail above, not pass here).
    expect(Math.max(...dist)).toBeGreaterThan(0.9 * epsilon);
    xAdv.dispose();
  });

  it('each result is misclassified or has a loss at least that of x (randomStart false)', () => {
    const xAdv = pgd({ norm: 'l2', epsilon: 0.3, randomStart: false })(model, x, labels);
    const loss = (z: tf.Tensor) => tf.tidy(() => tf.sub(tf.logSumExp(z, 1), tf.sum(tf.mul(tf.oneHot(labels, 3), z), 1)).dataSync());
    const [z0, z1] = [model.predict(x) as tf.Tensor, model.predict(xAdv) as tf.Tensor];
    const [l0, l1] = [loss(z0), loss(z1)];
    const wrong = tf.tidy(() => tf.notEqual(tf.argMax(z1, 1), labels).dataSync());
    const wrong0 = tf.tidy(() => tf.notEqual(tf.argMax(z0, 1), labels).dataSync());
    const [va, vx] = [xAdv.dataSync(), x.dataSync()];
    let correct = 0;
    for (let i = 0; i < 40; i++) {
      if (wrong0[i] === 1) {
        // Misclassified at the start point x: x itself is returned.
        expect(Array.from(va.subarray(i * 16, (i + 1) * 16))).toEqual(Array.from(vx.subarray(i * 16, (i + 1) * 16)));
      } else {
        correct++;
        expect(`${i}: ${wrong[i] === 1 || (l1[i] as number) > (l0[i] as number)}`).toBe(`${i}: true`);
      }
    }
    expect(correct).toBeGreaterThan(8);
    tf.dispose([z0, z1, xAdv]);
  });

  it('fgsm l2 on images: ||x_adv - x||_2 = epsilon per sample over all axes (no box)', () => {
    const xAdv = fgsm({ norm: 'l2', epsilon: 0.5, clip: null })(model, x, labels);
    for (const dd of sampleNorms(xAdv, x).l2) expect(Math.abs(dd - 0.5)).toBeLessThan(1e-5);
    xAdv.dispose();
  });
});

describe('no tensor leak over 100 calls', () => {
  let [model, x, labels] = [null, null, null] as unknown as [tfl.LayersModel, tf.Tensor, tf.Tensor];
  beforeAll(() => {
    model = imageModel(51);
    x = tf.tensor4d(uniforms(8 * 16, 52, 0, 1), [8, 4, 4, 1]);
    labels = tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32');
  });
  afterAll(() => {
    model.dispose();
    tf.dispose([x, labels]);
  });
  const attacks: Array<[string, lip.attacks.Attack]> = [
    ['gaussianNoise', gaussianNoise({ stddev: 0.1, seed: 1 })],
    ['fgsm linf', fgsm({ epsilon: 0.1 })],
    ['fgsm l2', fgsm({ epsilon: 0.5, norm: 'l2' })],
    ['fgsm l1', fgsm({ epsilon: 0.5, norm: 'l1' })],
    ['pgd l2', pgd({ epsilon: 0.5, steps: 3, restarts: 2 })],
    ['pgd linf', pgd({ epsilon: 0.1, norm: 'linf', steps: 3 })],
  ];

  it.each(attacks)('%s', (_, attack) => {
    attack(model, x, labels).dispose(); // first call: tfjs-layers' own one-time tensors
    const before = tf.memory().numTensors;
    for (let k = 0; k < 100; k++) attack(model, x, labels).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('robustAccuracy and nearestNeighbourDistance', () => {
    const attack = pgd({ epsilon: 0.5, steps: 2 });
    robustAccuracy(model, x, labels, attack, { batchSize: 3 });
    const before = tf.memory().numTensors;
    for (let k = 0; k < 100; k++) robustAccuracy(model, x, labels, attack, { batchSize: 3 });
    for (let k = 0; k < 100; k++) nearestNeighbourDistance(x, labels, x, labels, { batchSize: 3, trainBatchSize: 5 });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('an error thrown mid-call (a loss of the wrong shape) leaks nothing', () => {
    const bad = pgd({ epsilon: 0.5, steps: 2, loss: (_y, z) => tf.sum(z) });
    const before = tf.memory().numTensors;
    for (let k = 0; k < 5; k++) expect(() => bad(model, x, labels)).toThrow(LipschitzConfigError);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('nearestNeighbourDistance against a float64 brute-force loop', () => {
  it('random data in chunks, one-hot and index labels', () => {
    const [nTest, nTrain, dim] = [23, 57, 6];
    const xTest = normals(nTest * dim, 61);
    const xTrain = normals(nTrain * dim, 62);
    const yTest = Array.from({ length: nTest }, (_, i) => (i * 7) % 3);
    const yTrain = Array.from({ length: nTrain }, (_, i) => (i * 5) % 3);
    const expected = bruteForceNearest(xTest, yTest, xTrain, yTrain, dim);
    const [a, b] = [tf.tensor4d(xTest, [nTest, 2, 3, 1]), tf.tensor4d(xTrain, [nTrain, 2, 3, 1])];
    const [ya, yb] = [tf.tensor1d(yTest, 'int32'), tf.oneHot(tf.tensor1d(yTrain, 'int32'), 3)];
    const got = nearestNeighbourDistance(a, ya, b, yb, { batchSize: 5, trainBatchSize: 11 });
    expect(got).toHaveLength(nTest);
    expected.forEach((e, i) => expect(Math.abs((got[i] as number) - e) / e).toBeLessThan(1e-9));
    // The same-class nearest neighbours are closer for some samples: the class mask matters.
    const anyClass = bruteForceNearest(xTest, yTest.map(() => -1), xTrain, yTrain, dim);
    expect(anyClass.filter((v, i) => v < (expected[i] as number) - 1e-6).length).toBeGreaterThan(5);
    tf.dispose([a, b, ya, yb]);
  });

  it('Infinity when every training sample has the test sample\'s class', () => {
    const [a, b] = [tf.tensor2d([[0, 0], [1, 1]]), tf.tensor2d([[3, 4], [0, 1]])];
    const got = nearestNeighbourDistance(a, tf.tensor1d([0, 1], 'int32'), b, tf.tensor1d([1, 1], 'int32'));
    expect(Array.from(got)).toEqual([1, Infinity]);
    tf.dispose([a, b]);
  });
});

describe('gaussianNoise', () => {
  const f = (x: tf.Tensor) => tf.reshape(tf.slice(tf.reshape(x, [x.shape[0] as number, -1]), [0, 0], [-1, 2]), [-1, 2]);
  let labels: tf.Tensor;
  beforeAll(() => {
    labels = tf.zeros([200], 'int32');
  });

  it('noise mean and standard deviation (no box)', () => {
    const x = tf.fill([200, 50], 0.5);
    const xAdv = gaussianNoise({ stddev: 0.1, clip: null, seed: 4 })(f, x, labels);
    const v = Array.from(xAdv.dataSync(), (a) => a - 0.5);
    const mean = v.reduce((s, a) => s + a, 0) / v.length;
    const std = Math.sqrt(v.reduce((s, a) => s + (a - mean) ** 2, 0) / v.length);
    expect(Math.abs(mean)).toBeLessThan((4 * 0.1) / Math.sqrt(v.length));
    expect(Math.abs(std / 0.1 - 1)).toBeLessThan(0.03);
    tf.dispose([x, xAdv]);
  });

  it('the box is respected (and reached) with the default clip [0, 1]', () => {
    const x = tf.fill([200, 50], 0.5);
    const xAdv = gaussianNoise()(f, x, labels);
    const v = xAdv.dataSync();
    expect(Math.min(...v)).toBe(0);
    expect(Math.max(...v)).toBe(1);
    expect(v.filter((a) => a > 0 && a < 1).length).toBeGreaterThan(1000);
    tf.dispose([x, xAdv]);
  });

  it('deterministic with a seed: same sequence for the same seed, new noise on each call', () => {
    const x = tf.fill([4, 5], 0.5);
    const first4 = tf.slice(labels, 0, 4);
    const [a, b] = [gaussianNoise({ stddev: 0.2, seed: 9 }), gaussianNoise({ stddev: 0.2, seed: 9 })];
    const [a1, a2, b1, b2] = [a(f, x, first4), a(f, x, first4), b(f, x, first4), b(f, x, first4)];
    expect(Array.from(a1.dataSync())).toEqual(Array.from(b1.dataSync()));
    expect(Array.from(a2.dataSync())).toEqual(Array.from(b2.dataSync()));
    expect(Array.from(a1.dataSync())).not.toEqual(Array.from(a2.dataSync()));
    tf.dispose([x, a1, a2, b1, b2]);
  });
});

describe('robustAccuracy', () => {
  it('equals the fraction computed by hand on a linear model (FGSM linf: margin > epsilon ||w_t - w_o||_1)', () => {
    const m = randomLinear(8, 2, 71);
    const model = linearModel(m);
    const n = 60;
    const { x, pred } = samples(m, n, 72, 0, 1);
    // Labels: the prediction for most samples, the other class for every fifth (clean error).
    const labels = pred.map((p, i) => (i % 5 === 0 ? 1 - p : p));
    const epsilon = 0.2;
    let expected = 0;
    labels.forEach((t, i) => {
      const z = logits64(m, x.subarray(i * 8, (i + 1) * 8));
      const l1 = column(m, t).reduce((s, v, k) => s + Math.abs(v - (column(m, 1 - t)[k] as number)), 0);
      const after = (z[t] as number) - (z[1 - t] as number) - epsilon * l1;
      expect(Math.abs(after)).toBeGreaterThan(1e-4); // no sample on the fence
      if (after > 0) expected++;
    });
    expect(expected).toBeGreaterThan(5);
    expect(expected).toBeLessThan(45);
    const attack = fgsm({ epsilon, clip: null });
    const [xt, yt, yh] = [tf.tensor2d(x, [n, 8]), tf.tensor1d(labels, 'int32'), tf.oneHot(tf.tensor1d(labels, 'int32'), 2)];
    expect(robustAccuracy(model, xt, yt, attack, { batchSize: 7 })).toBeCloseTo(expected / n, 12);
    expect(robustAccuracy(model, xt, yh, attack)).toBeCloseTo(expected / n, 12);
    tf.dispose([xt, yt, yh]);
    model.dispose();
  });
});

describe('bad input: LipschitzConfigError naming the argument and the value', () => {
  let [model, x, y] = [null, null, null] as unknown as [tfl.LayersModel, tf.Tensor, tf.Tensor];
  beforeAll(() => {
    model = linearModel(randomLinear(4, 3, 81));
    x = tf.tensor2d(uniforms(12, 82, 0, 1), [3, 4]);
    y = tf.tensor1d([0, 1, 2], 'int32');
  });
  afterAll(() => model.dispose());

  const expectError = (fn: () => unknown, message: RegExp) => {
    expect(fn).toThrow(LipschitzConfigError);
    expect(fn).toThrow(message);
  };

  it('a model with several outputs', () => {
    const input = tfl.input({ shape: [4] });
    const two = tfl.model({ inputs: input, outputs: [tfl.layers.dense({ units: 3 }).apply(input) as tfl.SymbolicTensor, tfl.layers.dense({ units: 2 }).apply(input) as tfl.SymbolicTensor] });
    expectError(() => fgsm()(two, x, y), /fgsm model expected a model with one input and one output, but got 'a model with 1 input\(s\) and 2 outputs'/);
    expectError(() => pgd()(two, x, y), /pgd model expected/);
    expectError(() => robustAccuracy(two, x, y, fgsm()), /robustAccuracy model expected/);
    expectError(() => fgsm()((z: tf.Tensor) => [z, z] as unknown as tf.Tensor, x, y), /fgsm model expected a function returning one tensor of logits/);
    expectError(() => fgsm()((z: tf.Tensor) => tf.sum(z, 1), x, y), /fgsm model expected logits of shape \[2, classes >= 2\] .* but got 'logits of shape \[2\]'/);
    two.dispose();
  });

  it('a non-positive epsilon, stddev or step', () => {
    expectError(() => fgsm({ epsilon: 0 }), /fgsm epsilon expected a finite number > 0, but got 0\./);
    expectError(() => pgd({ epsilon: -0.5 }), /pgd epsilon expected a finite number > 0, but got -0\.5\./);
    expectError(() => pgd({ stepSize: 0 }), /pgd stepSize expected a finite number > 0, but got 0\./);
    expectError(() => gaussianNoise({ stddev: -1 }), /gaussianNoise stddev expected a finite number > 0, but got -1\./);
  });

  it('steps or restarts < 1, a bad box, seed or batch size', () => {
    expectError(() => pgd({ steps: 0 }), /pgd steps expected a positive integer, but got 0\./);
    expectError(() => pgd({ restarts: 1.5 }), /pgd restarts expected a positive integer, but got 1\.5\./);
    expectError(() => pgd({ clip: [1, 0] }), /pgd clip expected null or a pair \[low, high\] .*, but got \[1,0\]\./);
    expectError(() => gaussianNoise({ seed: 0.5 }), /gaussianNoise seed expected an integer, but got 0\.5\./);
    expectError(() => robustAccuracy(model, x, y, fgsm(), { batchSize: 0 }), /robustAccuracy batchSize expected a positive integer, but got 0\./);
  });

  it('labels of the wrong shape or values', () => {
    expectError(() => fgsm()(model, x, tf.tensor1d([0, 1], 'int32')), /fgsm labels expected class indices \[3\] .* or one-hot labels \[3, 3\], but got a int32 tensor of shape \[2\]/);
    expectError(() => fgsm()(model, x, tf.oneHot(tf.tensor1d([0, 1, 1], 'int32'), 2)), /fgsm labels expected .*, but got a int32 tensor of shape \[3,2\]/);
    expectError(() => pgd()(model, x, tf.tensor1d([0, 2.5, 1])), /pgd labels expected .*, but got 'the value 2\.5 at index 1'/);
    expectError(() => pgd()(model, x, tf.tensor1d([0, 3, 1])), /pgd labels expected .*, but got 'the value 3 at index 1'/);
    expectError(() => fgsm()(model, x, tf.tensor2d([[1, 0, 0], [0, 1, 1], [0, 0, 1]])), /fgsm labels expected .*, but got 'row 1 with several 1'/);
    expectError(() => fgsm()(model, x, tf.zeros([3, 1, 3])), /fgsm labels expected .*, but got a float32 tensor of shape \[3,1,3\]/);
    expectError(() => gaussianNoise()(model, x, tf.zeros([2])), /gaussianNoise labels expected one label per sample/);
  });

  it('an unsupported norm', () => {
    expectError(() => pgd({ norm: 'l1' as 'l2' }), /pgd norm expected one of 'l2', 'linf', but got 'l1'\./);
    expectError(() => fgsm({ norm: 'l3' as 'l2' }), /fgsm norm expected one of 'linf', 'l2', 'l1', but got 'l3'\./);
  });

  it('unknown option keys, with the closest known name', () => {
    expectError(() => fgsm({ eps: 0.1 } as never), /fgsm: unknown option 'eps'/);
    expectError(() => pgd({ step: 3 } as never), /pgd: unknown option 'step' \(did you mean 'steps'\?\)/);
    expectError(() => gaussianNoise({ std: 1 } as never), /gaussianNoise: unknown option 'std'/);
    expectError(() => robustAccuracy(model, x, y, fgsm(), { batch: 3 } as never), /robustAccuracy: unknown option 'batch'/);
    expectError(() => nearestNeighbourDistance(x, y, x, y, { k: 1 } as never), /nearestNeighbourDistance: unknown option 'k'/);
  });

  it('a non-tensor batch, a non-function attack, a loss of the wrong shape', () => {
    expectError(() => fgsm()(model, [1, 2] as never, y), /fgsm x expected a tensor \[n, \.\.\.inputShape\] with n >= 1, but got \[1,2\]/);
    expectError(() => robustAccuracy(model, x, y, 'fgsm' as never), /robustAccuracy attack expected an attack .*, but got 'fgsm'/);
    expectError(() => fgsm({ loss: (_y, z) => tf.sum(z) })(model, x, y), /fgsm loss expected a function returning one loss per sample \(\[2\]\), but got a float32 tensor of shape \[\]/);
  });
});

describe('the Attack objects', () => {
  it('carry their name and resolved options (CLIP defaults)', () => {
    expect(fgsm().attackName).toBe('fgsm');
    expect(fgsm().config()).toEqual({ epsilon: 0.3, norm: 'linf', clip: [0, 1], loss: 'softmaxCrossEntropy' });
    expect(pgd().config()).toEqual({ epsilon: 2, norm: 'l2', steps: 7, stepSize: 0.5, restarts: 1, randomStart: true, clip: [0, 1], seed: null, loss: 'softmaxCrossEntropy' });
    expect(pgd({ norm: 'linf' }).config()).toMatchObject({ epsilon: 0.3, stepSize: 0.075 });
    expect(gaussianNoise().config()).toEqual({ stddev: 1, clip: [0, 1], seed: null });
    expect(gaussianNoise().attackName).toBe('gaussianNoise');
    expect(pgd({ loss: (_y, z) => tf.sum(z, 1) }).config()['loss']).toBe('custom');
  });
});
