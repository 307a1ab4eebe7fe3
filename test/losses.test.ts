/**
 * lip.losses against (1) the hard-coded values of DEEL-LIP's own test suite (tests/test_losses.py),
 * (2) float64 plain-JS references of the formulas (test/helpers/losses_reference.ts), including the
 * reductions and label formats, (3) central finite differences of those references for the
 * gradients, and (4) tfjs `model.fit` logging the same value as the standalone loss.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { LipschitzConfigError } from '../src/core/errors';
import * as losses from '../src/losses';
import { finiteDifferenceGradient } from './helpers/oracles';
import { mulberry32 } from './helpers/random';
import {
  categoricalHingeRef,
  hingeRef,
  hkrRef,
  krRef,
  Matrix,
  multiclassHingeRef,
  multiclassHKRRef,
  multiMarginRef,
  reduceRef,
  softHKRRef,
  tauBinaryRef,
  tauCategoricalRef,
  tauSparseRef,
} from './helpers/losses_reference';

const rng = mulberry32;

function gaussianMatrix(r: () => number, rows: number, cols: number, scale = 1): Matrix {
  return Array.from({ length: rows }, () =>
    Array.from({ length: cols }, () => scale * Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r())),
  );
}

function binaryLabels(r: () => number, rows: number, cols: number, negative: 0 | -1): Matrix {
  return Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, () => (i < 2 ? (i === 0 ? 1 : negative) : r() < 0.5 ? 1 : negative)),
  );
}

function classLabels(r: () => number, rows: number, classes: number): number[] {
  // Every class appears at least once when rows >= classes.
  return Array.from({ length: rows }, (_, i) => (i < classes ? i : Math.floor(r() * classes)));
}

function oneHot(labels: number[], classes: number, negative: 0 | -1): Matrix {
  return labels.map((t) => Array.from({ length: classes }, (_, j) => (j === t ? 1 : negative)));
}

function expectClose(actual: number | number[], expected: number | number[], rel = 1e-5): void {
  const a = Array.isArray(actual) ? actual : [actual];
  const e = Array.isArray(expected) ? expected : [expected];
  expect(a.length).toBe(e.length);
  a.forEach((v, i) => {
    const tol = rel * Math.max(1, Math.abs(e[i]!));
    if (!(Math.abs(v - e[i]!) <= tol)) {
      throw new Error(`entry ${i}: got ${v}, expected ${e[i]} (tolerance ${tol})`);
    }
  });
}

function run(loss: losses.LipschitzLoss, yTrue: tf.Tensor, yPred: tf.Tensor): number | number[] {
  const out = loss(yTrue, yPred);
  const value = out.rank === 0 ? (out.dataSync()[0] as number) : Array.from(out.dataSync());
  out.dispose();
  return value;
}

type Case = {
  name: string;
  make: (reduction: losses.LossReduction) => losses.LipschitzLoss;
  ref: (yTrue: Matrix, yPred: Matrix) => number[];
  kind: 'binary' | 'multiclass';
  /** Whether labels in {-1, 1} are accepted (all but the categorical cross-entropy, as in DEEL-LIP). */
  signedLabels?: false;
};

const CASES: Case[] = [
  { name: 'kr', make: (reduction) => losses.kr({ reduction }), ref: krRef, kind: 'binary' },
  {
    name: 'hingeMargin',
    make: (reduction) => losses.hingeMargin({ minMargin: 1.4, reduction }),
    ref: (t, p) => hingeRef(t, p, 1.4),
    kind: 'binary',
  },
  {
    name: 'hkr',
    make: (reduction) => losses.hkr({ alpha: 50, minMargin: 1, reduction }),
    ref: (t, p) => hkrRef(t, p, 50, 1),
    kind: 'binary',
  },
  {
    name: 'hkr (alpha Infinity)',
    make: (reduction) => losses.hkr({ alpha: Infinity, minMargin: 0.5, reduction }),
    ref: (t, p) => hkrRef(t, p, Infinity, 0.5),
    kind: 'binary',
  },
  {
    name: 'tauBinaryCrossentropy',
    make: (reduction) => losses.tauBinaryCrossentropy({ tau: 3, reduction }),
    ref: (t, p) => tauBinaryRef(t, p, 3),
    kind: 'binary',
  },
  { name: 'multiclassKR', make: (reduction) => losses.multiclassKR({ reduction }), ref: krRef, kind: 'multiclass' },
  {
    name: 'multiclassHinge',
    make: (reduction) => losses.multiclassHinge({ minMargin: 2, reduction }),
    ref: (t, p) => multiclassHingeRef(t, p, 2),
    kind: 'multiclass',
  },
  {
    name: 'multiclassHKR',
    make: (reduction) => losses.multiclassHKR({ alpha: 2.5, minMargin: 1, reduction }),
    ref: (t, p) => multiclassHKRRef(t, p, 2.5, 1),
    kind: 'multiclass',
  },
  {
    name: 'multiMargin',
    make: (reduction) => losses.multiMargin({ minMargin: 0.7, reduction }),
    ref: (t, p) => multiMarginRef(t, p, 0.7),
    kind: 'multiclass',
  },
  {
    name: 'categoricalHinge',
    make: (reduction) => losses.categoricalHinge({ minMargin: 1.1, reduction }),
    ref: (t, p) => categoricalHingeRef(t, p, 1.1),
    kind: 'multiclass',
  },
  {
    name: 'tauCategoricalCrossentropy',
    make: (reduction) => losses.tauCategoricalCrossentropy({ tau: 2, reduction }),
    ref: (t, p) => tauCategoricalRef(t, p, 2),
    kind: 'multiclass',
    signedLabels: false,
  },
];

/** A few batches of (labels in {0,1}, labels in {-1,1}, predictions). */
function batches(kind: 'binary' | 'multiclass'): Array<{ y01: Matrix; ypm: Matrix; pred: Matrix }> {
  const r = rng(kind === 'binary' ? 11 : 23);
  const shapes = kind === 'binary' ? [[8, 1], [13, 1], [6, 3]] : [[8, 3], [12, 5], [20, 4]];
  return shapes.map(([rows, cols]) => {
    const pred = gaussianMatrix(r, rows!, cols!, 1.5);
    if (kind === 'binary') {
      const y01 = binaryLabels(r, rows!, cols!, 0);
      return { y01, ypm: y01.map((row) => row.map((v) => (v > 0 ? 1 : -1))), pred };
    }
    const labels = classLabels(r, rows!, cols!);
    return { y01: oneHot(labels, cols!, 0), ypm: oneHot(labels, cols!, -1), pred };
  });
}

describe('losses: DEEL-LIP hard-coded values (tests/test_losses.py)', () => {
  let yBin: tf.Tensor;
  let pBin: tf.Tensor;
  let yMulti: tf.Tensor;
  let pMulti: tf.Tensor;
  beforeAll(() => {
    yBin = tf.tensor2d([1, 1, 1, 1, 0, 0, 0, 0], [8, 1]);
    pBin = tf.tensor2d([0.5, 1.1, -0.1, 0.7, -1.3, -0.4, 0.2, -0.9], [8, 1]);
    yMulti = tf.oneHot(tf.tensor1d([0, 0, 0, 1, 1, 1, 2, 2], 'int32'), 3);
    pMulti = tf.tensor2d([
      [1.5, 0.2, -0.5],
      [1, -1.2, 0.3],
      [0.8, 2, -2],
      [0, 1, -0.5],
      [-0.8, 2, 0],
      [2.4, -0.4, -1.1],
      [-0.1, -1.7, 0.6],
      [1.2, 1.3, 2.5],
    ]);
  });
  afterAll(() => tf.dispose([yBin, pBin, yMulti, pMulti]));

  it('binary losses without reduction', () => {
    expectClose(run(losses.kr({ reduction: 'none' }), yBin, pBin), [1.0, 2.2, -0.2, 1.4, 2.6, 0.8, -0.4, 1.8]);
    expectClose(run(losses.hingeMargin({ minMargin: 1.4, reduction: 'none' }), yBin, pBin), [0.2, 0, 0.8, 0, 0, 0.3, 0.9, 0]);
    expectClose(
      run(losses.hkr({ alpha: 2.5, minMargin: 2, reduction: 'none' }), yBin, pBin),
      [0.25, -2.2, 2.95, -0.65, -2.6, 0.7, 3.4, -1.55],
    );
    expectClose(
      run(losses.tauBinaryCrossentropy({ tau: 0.5, reduction: 'none' }), yBin, pBin),
      [1.15188, 0.91098, 1.43692, 1.06676, 0.84011, 1.19628, 1.48879, 0.9865],
      1e-5,
    );
  });

  it('binary losses with the mean reduction', () => {
    const y = tf.tensor2d([1, 1, 1, 0, 0, 0], [6, 1]);
    const p = tf.tensor2d([0.5, 1.5, -0.5, -0.5, -1.5, 0.5], [6, 1]);
    expectClose(run(losses.kr(), y, p), 1);
    expectClose(run(losses.hingeMargin({ minMargin: 2 }), y, p), 4 / 6);
    expectClose(run(losses.tauBinaryCrossentropy({ tau: 2 }), y, p), 0.279185);
    tf.dispose([y, p]);
  });

  it('multiclass losses without reduction', () => {
    expectClose(run(losses.multiclassKR({ reduction: 'none' }), yMulti, pMulti), [326, 314, 120, 250, 496, -258, 396, 450].map((v) => v / 225));
    expectClose(
      run(losses.multiclassHinge({ minMargin: 2, reduction: 'none' }), yMulti, pMulti),
      [17, 13, 34, 15, 12, 62, 17, 45].map((v) => v / 30),
    );
    expectClose(run(losses.multiMargin({ minMargin: 0.7, reduction: 'none' }), yMulti, pMulti), [0, 0, 19, 0, 0, 35, 0, 0].map((v) => v / 30));
    expectClose(
      run(losses.multiclassHKR({ alpha: 2.5, minMargin: 1, reduction: 'none' }), yMulti, pMulti),
      [-779, -656, 1395, -625, -1609, 4557, -1284, 825].map((v) => v / 900),
    );
    expectClose(run(losses.categoricalHinge({ minMargin: 1.1, reduction: 'none' }), yMulti, pMulti), [0, 0.4, 2.3, 0.1, 0, 3.9, 0.4, 0]);
    const ce = [0.044275, 0.115109, 1.243572, 0.084923, 0.010887, 2.8023, 0.114224, 0.076357];
    expectClose(run(losses.tauCategoricalCrossentropy({ tau: 2, reduction: 'none' }), yMulti, pMulti), ce, 2e-5);
    const sparse = tf.tensor1d([0, 0, 0, 1, 1, 1, 2, 2], 'int32');
    expectClose(run(losses.tauSparseCategoricalCrossentropy({ tau: 2, reduction: 'none' }), sparse, pMulti), ce, 2e-5);
    sparse.dispose();
  });

  it('multiclass losses with the mean reduction', () => {
    const y = tf.oneHot(tf.tensor1d([0, 0, 0, 1, 1, 2], 'int32'), 3);
    const p = tf.tensor2d([
      [2, 0.2, -0.5],
      [-1, -1.2, 0.3],
      [0.8, 2, 0],
      [0, 1, -0.5],
      [2.4, -0.4, -1.1],
      [-0.1, -1.7, 0.6],
    ]);
    expectClose(run(losses.multiclassKR(), y, p), 761 / 1800);
    expectClose(run(losses.multiclassHKR({ alpha: 5, minMargin: 2 }), y, p), 1071 / 200);
    tf.dispose([y, p]);
  });
});

describe('losses: float64 references, reductions and label formats', () => {
  for (const c of CASES) {
    it(`${c.name} equals its float64 reference`, () => {
      const before = tf.memory().numTensors;
      for (const { y01, ypm, pred } of batches(c.kind)) {
        const expected = c.ref(y01, pred);
        const p = tf.tensor2d(pred);
        for (const labels of c.signedLabels === false ? [y01] : [y01, ypm]) {
          for (const dtype of ['float32', 'int32'] as const) {
            const y = tf.tensor2d(labels, undefined, dtype);
            for (const reduction of ['mean', 'sum', 'none'] as const) {
              expectClose(run(c.make(reduction), y, p), reduceRef(expected, reduction));
            }
            y.dispose();
          }
        }
        p.dispose();
      }
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('tauSparseCategoricalCrossentropy equals its float64 reference ([batch] and [batch, 1] labels)', () => {
    for (const { y01, pred } of batches('multiclass')) {
      const labels = y01.map((row) => row.indexOf(1));
      const expected = tauSparseRef(labels, pred, 0.7);
      const p = tf.tensor2d(pred);
      for (const y of [tf.tensor1d(labels, 'int32'), tf.tensor2d(labels, [labels.length, 1])]) {
        for (const reduction of ['mean', 'sum', 'none'] as const) {
          expectClose(run(losses.tauSparseCategoricalCrossentropy({ tau: 0.7, reduction }), y, p), reduceRef(expected, reduction));
        }
        y.dispose();
      }
      p.dispose();
    }
  });

  it('losses carry DEEL-LIP names and their reduction', () => {
    const hkr = losses.hkr({ alpha: 50, minMargin: 1 });
    expect(hkr.name).toBe('HKR');
    expect(hkr.lossName).toBe('HKR');
    expect(hkr.reduction).toBe('mean');
    expect(losses.multiclassHKR().name).toBe('MulticlassHKR');
    expect(losses.tauCategoricalCrossentropy({ tau: 1 }).name).toBe('TauCategoricalCrossentropy');
    expect(losses.kr({ name: 'myKR' }).name).toBe('myKR');
  });
});

describe('losses: gradients w.r.t. yPred match finite differences of the float64 references', () => {
  for (const c of CASES) {
    it(`${c.name}`, () => {
      const [{ y01, pred }] = batches(c.kind) as [{ y01: Matrix; ypm: Matrix; pred: Matrix }];
      const rows = pred.length;
      const cols = pred[0]!.length;
      const loss = c.make('mean');
      const y = tf.tensor2d(y01);
      const grad = tf.tidy(() => tf.grad((p: tf.Tensor) => loss(y, p))(tf.tensor2d(pred)).dataSync());
      const refLoss = (flat: number[]) => {
        const m: Matrix = Array.from({ length: rows }, (_, i) => flat.slice(i * cols, (i + 1) * cols));
        return reduceRef(c.ref(y01, m), 'mean') as number;
      };
      const fd = finiteDifferenceGradient(refLoss, pred.flat(), 1e-6);
      expectClose(Array.from(grad), fd, 1e-4);
      y.dispose();
    });
  }

  it('tauSparseCategoricalCrossentropy', () => {
    const [{ y01, pred }] = batches('multiclass') as [{ y01: Matrix; ypm: Matrix; pred: Matrix }];
    const labels = y01.map((row) => row.indexOf(1));
    const cols = pred[0]!.length;
    const loss = losses.tauSparseCategoricalCrossentropy({ tau: 0.7 });
    const y = tf.tensor1d(labels, 'int32');
    const grad = tf.tidy(() => tf.grad((p: tf.Tensor) => loss(y, p))(tf.tensor2d(pred)).dataSync());
    const refLoss = (flat: number[]) =>
      reduceRef(tauSparseRef(labels, pred.map((_, i) => flat.slice(i * cols, (i + 1) * cols)), 0.7), 'mean') as number;
    expectClose(Array.from(grad), finiteDifferenceGradient(refLoss, pred.flat(), 1e-6), 1e-4);
    y.dispose();
  });
});

describe('multiclassSoftHKR (deel-torchlip SoftHKRMulticlassLoss)', () => {
  const opts = { alpha: 0.8, minMargin: 0.5, alphaMean: 0.9, temperature: 2 };

  it('matches the float64 reference over successive calls (running mean)', () => {
    const loss = losses.multiclassSoftHKR({ ...opts, reduction: 'none' });
    let mean = opts.minMargin;
    const before = tf.memory().numTensors;
    for (const { y01, ypm, pred } of batches('multiclass')) {
      for (const labels of [y01, ypm]) {
        const ref = softHKRRef(labels, pred, opts, mean);
        const y = tf.tensor2d(labels);
        const p = tf.tensor2d(pred);
        expectClose(run(loss, y, p), ref.values);
        mean = ref.mean;
        expectClose(loss.currentMean(), mean);
        tf.dispose([y, p]);
      }
    }
    // The running-mean variable was created on the first call, then only updated.
    expect(tf.memory().numTensors).toBe(before + 1);
    loss.resetState();
    expectClose(loss.currentMean(), opts.minMargin);
    loss.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('alpha > 1 means alpha / (1 + alpha); alpha 0 and 1 are KR-only and hinge-only', () => {
    const [{ y01, pred }] = batches('multiclass') as [{ y01: Matrix; ypm: Matrix; pred: Matrix }];
    const y = tf.tensor2d(y01);
    const p = tf.tensor2d(pred);
    for (const [alpha, effective] of [[4, 0.8], [0, 0], [1, 1], [Infinity, 1]] as const) {
      const loss = losses.multiclassSoftHKR({ ...opts, alpha });
      expect(loss.config['alpha']).toBe(effective);
      const ref = softHKRRef(y01, pred, { ...opts, alpha: effective }, opts.minMargin);
      expectClose(run(loss, y, p), reduceRef(ref.values, 'mean'));
      loss.dispose();
    }
    tf.dispose([y, p]);
  });

  it('gradient matches finite differences with the temperature held fixed', () => {
    const [, { y01, pred }] = batches('multiclass') as Array<{ y01: Matrix; ypm: Matrix; pred: Matrix }> as [
      unknown,
      { y01: Matrix; pred: Matrix },
    ];
    const cols = pred[0]!.length;
    const loss = losses.multiclassSoftHKR(opts);
    const y = tf.tensor2d(y01);
    const grad = tf.tidy(() => tf.grad((p: tf.Tensor) => loss(y, p))(tf.tensor2d(pred)).dataSync());
    const { temperature } = softHKRRef(y01, pred, opts, opts.minMargin);
    const refLoss = (flat: number[]) =>
      reduceRef(
        softHKRRef(y01, pred.map((_, i) => flat.slice(i * cols, (i + 1) * cols)), opts, opts.minMargin, temperature).values,
        'mean',
      ) as number;
    expectClose(Array.from(grad), finiteDifferenceGradient(refLoss, pred.flat(), 1e-6), 1e-4);
    loss.dispose();
    y.dispose();
  });
});

describe('losses in model.compile', () => {
  const setups: Array<{ name: string; loss: () => losses.LipschitzLoss; units: number; labels: 'binary' | 'onehot' }> = [
    { name: 'hkr', loss: () => losses.hkr({ alpha: 50, minMargin: 1 }), units: 1, labels: 'binary' },
    { name: 'hkr (sum)', loss: () => losses.hkr({ alpha: 10, minMargin: 1, reduction: 'sum' }), units: 1, labels: 'binary' },
    { name: 'multiclassHKR', loss: () => losses.multiclassHKR({ alpha: 10, minMargin: 1 }), units: 4, labels: 'onehot' },
    {
      name: 'multiclassHKR (none)',
      loss: () => losses.multiclassHKR({ alpha: 10, minMargin: 1, reduction: 'none' }),
      units: 4,
      labels: 'onehot',
    },
    { name: 'tauCategoricalCrossentropy', loss: () => losses.tauCategoricalCrossentropy({ tau: 5 }), units: 4, labels: 'onehot' },
  ];

  for (const s of setups) {
    it(`${s.name}: one epoch, logged loss equals the standalone loss on the batch`, async () => {
      const r = rng(5);
      const n = 32;
      const x = tf.tensor2d(gaussianMatrix(r, n, 6));
      const cls = classLabels(r, n, s.units === 1 ? 2 : s.units);
      const y = s.labels === 'binary' ? tf.tensor2d(cls.map((c) => [c === 1 ? 1 : -1])) : tf.tensor2d(oneHot(cls, s.units, 0));
      const model = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [6], units: s.units, kernelInitializer: 'glorotUniform' })] });
      const loss = s.loss();
      model.compile({ optimizer: tf.train.sgd(0.01), loss });
      const pred = model.predict(x) as tf.Tensor;
      const standalone = loss(y, pred);
      const expected = tf.mean(standalone).dataSync()[0] as number;
      const history = await model.fit(x, y, { epochs: 1, batchSize: n, shuffle: false, verbose: 0 });
      const logged = history.history['loss']?.[0] as number;
      expect(Number.isFinite(logged)).toBe(true);
      expectClose(logged, expected, 1e-5);
      tf.dispose([x, y, pred, standalone]);
      model.dispose();
    });
  }
});

describe('losses: parameter validation', () => {
  it('runs on the backend chosen by TFJS_LIP_TEST_BACKEND', () => {
    expect(tf.getBackend()).toBe(process.env.TFJS_LIP_TEST_BACKEND ?? 'cpu');
  });

  const bad: Array<[string, () => unknown, string]> = [
    ['hkr alpha < 0', () => losses.hkr({ alpha: -1 }), 'alpha'],
    ['hkr alpha missing', () => losses.hkr({} as losses.HKROptions), 'alpha'],
    ['hkr alpha NaN', () => losses.hkr({ alpha: NaN }), 'alpha'],
    ['hkr minMargin 0', () => losses.hkr({ alpha: 1, minMargin: 0 }), 'minMargin'],
    ['hingeMargin minMargin < 0', () => losses.hingeMargin({ minMargin: -2 }), 'minMargin'],
    ['multiclassHKR alpha < 0', () => losses.multiclassHKR({ alpha: -0.1 }), 'alpha'],
    ['multiclassHinge minMargin Infinity', () => losses.multiclassHinge({ minMargin: Infinity }), 'minMargin'],
    ['multiMargin minMargin 0', () => losses.multiMargin({ minMargin: 0 }), 'minMargin'],
    ['categoricalHinge minMargin missing', () => losses.categoricalHinge({}), 'minMargin'],
    ['tauCategoricalCrossentropy tau 0', () => losses.tauCategoricalCrossentropy({ tau: 0 }), 'tau'],
    ['tauSparseCategoricalCrossentropy tau < 0', () => losses.tauSparseCategoricalCrossentropy({ tau: -1 }), 'tau'],
    ['tauBinaryCrossentropy tau missing', () => losses.tauBinaryCrossentropy({} as losses.TauOptions), 'tau'],
    ['multiclassSoftHKR temperature 0', () => losses.multiclassSoftHKR({ temperature: 0 }), 'temperature'],
    ['multiclassSoftHKR alpha < 0', () => losses.multiclassSoftHKR({ alpha: -1 }), 'alpha'],
    ['multiclassSoftHKR alphaMean > 1', () => losses.multiclassSoftHKR({ alphaMean: 1.5 }), 'alphaMean'],
    ['reduction unknown', () => losses.kr({ reduction: 'auto' as losses.LossReduction }), 'reduction'],
  ];
  for (const [label, make, arg] of bad) {
    it(`${label} throws LipschitzConfigError naming ${arg}`, () => {
      expect(make).toThrow(LipschitzConfigError);
      expect(make).toThrow(new RegExp(`^${arg} expected`));
    });
  }
});

describe('losses: setParam / getParam change the parameters for the following calls', () => {
  const [multi] = batches('multiclass') as [{ y01: Matrix; ypm: Matrix; pred: Matrix }];
  const [binary] = batches('binary') as [{ y01: Matrix; ypm: Matrix; pred: Matrix }];
  const mean = (values: number[]) => reduceRef(values, 'mean') as number;

  /** Checks the loss before and after `updates` against the reference, and that the update matters. */
  function checkUpdate(
    loss: losses.LipschitzLoss,
    data: { y01: Matrix; pred: Matrix },
    before: number[],
    updates: Record<string, number>,
    after: number[],
  ): void {
    const y = tf.tensor2d(data.y01);
    const p = tf.tensor2d(data.pred);
    expectClose(run(loss, y, p), mean(before));
    for (const [name, value] of Object.entries(updates)) loss.setParam(name, value);
    for (const [name, value] of Object.entries(updates)) {
      expect(loss.getParam(name)).toBe(value);
      expect(loss.config[name]).toBe(value);
    }
    // The new parameters change the value by far more than the tolerance, so a stale one fails.
    expect(Math.abs(mean(after) - mean(before))).toBeGreaterThan(1e-2 * Math.max(1, Math.abs(mean(after))));
    expectClose(run(loss, y, p), mean(after));
    tf.dispose([y, p]);
  }

  it('hkr: alpha and minMargin', () => {
    const loss = losses.hkr({ alpha: 50, minMargin: 1 });
    expect(loss.paramNames).toEqual(['alpha', 'minMargin']);
    checkUpdate(loss, binary, hkrRef(binary.y01, binary.pred, 50, 1), { alpha: 3, minMargin: 0.6 }, hkrRef(binary.y01, binary.pred, 3, 0.6));
    checkUpdate(loss, binary, hkrRef(binary.y01, binary.pred, 3, 0.6), { alpha: Infinity }, hkrRef(binary.y01, binary.pred, Infinity, 0.6));
  });

  it('multiclassHKR: alpha and minMargin', () => {
    const loss = losses.multiclassHKR({ alpha: 10, minMargin: 1 });
    checkUpdate(loss, multi, multiclassHKRRef(multi.y01, multi.pred, 10, 1), { alpha: 0.5 }, multiclassHKRRef(multi.y01, multi.pred, 0.5, 1));
    checkUpdate(loss, multi, multiclassHKRRef(multi.y01, multi.pred, 0.5, 1), { minMargin: 2.5 }, multiclassHKRRef(multi.y01, multi.pred, 0.5, 2.5));
    checkUpdate(loss, multi, multiclassHKRRef(multi.y01, multi.pred, 0.5, 2.5), { alpha: 0 }, multiclassHKRRef(multi.y01, multi.pred, 0, 2.5));
  });

  it('tauCategoricalCrossentropy: tau', () => {
    const loss = losses.tauCategoricalCrossentropy({ tau: 2 });
    expect(loss.paramNames).toEqual(['tau']);
    checkUpdate(loss, multi, tauCategoricalRef(multi.y01, multi.pred, 2), { tau: 0.25 }, tauCategoricalRef(multi.y01, multi.pred, 0.25));
  });

  it('multiclassSoftHKR: alpha, minMargin, temperature, alphaMean (running mean carried on)', () => {
    const opts = { alpha: 0.8, minMargin: 0.5, alphaMean: 0.9, temperature: 2 };
    const loss = losses.multiclassSoftHKR(opts);
    const first = softHKRRef(multi.y01, multi.pred, opts, opts.minMargin);
    const next = { alpha: 0.2, minMargin: 1.5, alphaMean: 0.5, temperature: 7 };
    const second = softHKRRef(multi.y01, multi.pred, next, first.mean);
    checkUpdate(loss, multi, first.values, next, second.values);
    expectClose(loss.currentMean(), second.mean);
    // alpha > 1 is stored as alpha / (1 + alpha), as at construction.
    loss.setParam('alpha', 4);
    expect(loss.getParam('alpha')).toBe(0.8);
    loss.resetState();
    expectClose(loss.currentMean(), 1.5);
    loss.dispose();
  });

  it('rejects bad values (same rule as at construction) and unknown names, keeping the old value', () => {
    const hkr = losses.hkr({ alpha: 5 });
    const bad: Array<[losses.LipschitzLoss, string, unknown, RegExp]> = [
      [hkr, 'alpha', -1, /^alpha expected a number >= 0 \(Infinity allowed\), but got -1\.$/],
      [hkr, 'alpha', NaN, /^alpha expected .*but got NaN\.$/],
      [hkr, 'alpha', '2', /^alpha expected .*but got '2'\.$/],
      [hkr, 'minMargin', 0, /^minMargin expected a finite number > 0, but got 0\.$/],
      [hkr, 'minMargin', Infinity, /^minMargin expected .*but got Infinity\.$/],
      [hkr, 'tau', 1, /^param expected a parameter of HKR \('alpha', 'minMargin'\), but got 'tau'\.$/],
      [hkr, 'reduction', 1, /^param expected a parameter of HKR/],
      [losses.multiclassHKR(), 'alpha', -0.5, /^alpha expected/],
      [losses.tauCategoricalCrossentropy({ tau: 1 }), 'tau', 0, /^tau expected a finite number > 0, but got 0\.$/],
      [losses.tauCategoricalCrossentropy({ tau: 1 }), 'tau', Infinity, /^tau expected/],
      [losses.multiclassSoftHKR(), 'temperature', 0, /^temperature expected a finite number > 0, but got 0\.$/],
      [losses.multiclassSoftHKR(), 'alphaMean', 1.5, /^alphaMean expected a number in \[0, 1\], but got 1\.5\.$/],
      [losses.multiclassSoftHKR(), 'alpha', -1, /^alpha expected/],
      [losses.kr(), 'alpha', 1, /^param expected a parameter of KR \(none\), but got 'alpha'\.$/],
    ];
    for (const [loss, name, value, message] of bad) {
      const set = () => loss.setParam(name, value as number);
      expect(set).toThrow(LipschitzConfigError);
      expect(set).toThrow(message);
    }
    expect(hkr.getParam('alpha')).toBe(5);
    expect(hkr.getParam('minMargin')).toBe(1);
    expect(() => hkr.getParam('tau')).toThrow(LipschitzConfigError);
  });

  it('model.compile keeps the loss object: setParam changes what evaluate computes', () => {
    const loss = losses.multiclassHKR({ alpha: 10, minMargin: 1 });
    const model = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [2], units: 3, kernelInitializer: 'glorotUniform' })] });
    model.compile({ optimizer: tf.train.sgd(0), loss });
    expect(model.loss).toBe(loss);
    const x = tf.tensor2d([[1, 2], [-1, 0.5], [0.3, -2], [2, 1]]);
    const y = tf.tensor2d(oneHot([0, 1, 2, 0], 3, 0));
    const pred = (model.predict(x) as tf.Tensor).arraySync() as Matrix;
    const y01 = oneHot([0, 1, 2, 0], 3, 0);
    for (const alpha of [10, 0.5, 3]) {
      loss.setParam('alpha', alpha);
      const out = model.evaluate(x, y, { batchSize: 4 }) as tf.Scalar;
      expectClose(out.dataSync()[0] as number, mean(multiclassHKRRef(y01, pred, alpha, 1)));
      out.dispose();
    }
    tf.dispose([x, y]);
    model.dispose();
  });
});
