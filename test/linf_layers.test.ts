/**
 * L-infinity Lipschitz layers (issue 15): the L1-ball row projection against a float64 bisection
 * oracle (itself checked for optimality) and its gradient against finite differences of that
 * oracle; LInfProjectedDense / LInfProjectedConv2D bounds against the float64 L1 norms of their
 * exported built-in kernels and the full operator matrix; export, save/load; L-infinity
 * certificates never broken by PGD-Linf; bad inputs; no tensor leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as lip from '../src';
import { LipschitzConfigError } from '../src/core/errors';
import { projectRowsOntoL1Ball } from '../src/ops/l1_ball';
import { finiteDifferenceGradient, impulseResponseMatrix, singularValues, toRows } from './helpers/oracles';
import { mulberry32 } from './helpers/random';
import { thrownConfigError } from './helpers/thrown';

/** float64 projection of `v` onto the L1 ball of radius r: threshold found by 200 bisections. */
function projectOracle(v: number[], r: number): number[] {
  const l1 = v.reduce((s, x) => s + Math.abs(x), 0);
  if (l1 <= r) return v.slice();
  let lo = 0;
  let hi = Math.max(...v.map(Math.abs));
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    const s = v.reduce((acc, x) => acc + Math.max(Math.abs(x) - mid, 0), 0);
    if (s > r) lo = mid;
    else hi = mid;
  }
  const theta = (lo + hi) / 2;
  return v.map((x) => Math.sign(x) * Math.max(Math.abs(x) - theta, 0));
}

const dist2 = (a: number[], b: number[]) => a.reduce((s, x, i) => s + (x - b[i]!) ** 2, 0);
const l1 = (a: number[]) => a.reduce((s, x) => s + Math.abs(x), 0);

/** float64 largest L1 norm over the output channels (last axis) of a kernel given as nested arrays. */
function maxColumnL1(kernel: tf.Tensor): number {
  const cols = kernel.shape[kernel.rank - 1]!;
  const rows = toRows(tf.reshape(kernel, [-1, cols]));
  let best = 0;
  for (let c = 0; c < cols; c++) best = Math.max(best, rows.reduce((s, row) => s + Math.abs(row[c]!), 0));
  return best;
}

describe('projectRowsOntoL1Ball', () => {
  it('the oracle is the projection: no random point of the ball is closer, and it lies on the sphere', () => {
    const rand = mulberry32(7);
    for (let trial = 0; trial < 50; trial++) {
      const v = Array.from({ length: 5 }, () => (rand() * 2 - 1) * 3);
      const w = projectOracle(v, 1);
      expect(Math.abs(l1(w) - 1)).toBeLessThan(1e-12);
      for (let k = 0; k < 200; k++) {
        const z = Array.from({ length: 5 }, () => rand() * 2 - 1);
        const scale = Math.min(1, 1 / l1(z));
        expect(dist2(v, w)).toBeLessThanOrEqual(dist2(v, z.map((x) => x * scale)) + 1e-12);
      }
    }
  });

  it('matches the float64 oracle on 1,000 random rows (sizes 1 to 60, inside and outside the ball)', () => {
    const rand = mulberry32(11);
    let [worst, changedInside, checked] = [0, 0, 0];
    for (let batch = 0; batch < 10; batch++) {
      const d = 1 + Math.floor(rand() * 60);
      const r = 0.1 + rand() * 3;
      const scales = [0.01, 0.1, 1, 10];
      const rows = Array.from({ length: 100 }, (_, i) => Array.from({ length: d }, () => (rand() * 2 - 1) * scales[i % 4]!));
      const v = tf.tensor2d(rows);
      const w = projectRowsOntoL1Ball(v, r);
      const got = w.arraySync();
      const v32 = v.arraySync();
      v32.forEach((row, i) => {
        const expected = projectOracle(row, r);
        const tol = 4e-6 * (Math.max(...row.map(Math.abs)) + r);
          worst = Math.max(worst, ...got[i]!.map((x, j) => Math.abs(x - expected[j]!) / tol));
        if (l1(row) < 0.999 * r && got[i]!.some((x, j) => x !== row[j])) changedInside++;
        checked++;
      });
      tf.dispose([v, w]);
    }
    expect(checked).toBe(1000);
    expect(worst).toBeLessThanOrEqual(1);
    expect(changedInside).toBe(0);
  });

  it('its gradient is the Jacobian of the projection (finite differences of the float64 oracle)', () => {
    const rand = mulberry32(3);
    const n = 40;
    const d = 6;
    const rows = Array.from({ length: n }, (_, i) => Array.from({ length: d }, () => (rand() * 2 - 1) * (i % 4 === 0 ? 0.1 : 1)));
    const c = Array.from({ length: n }, () => Array.from({ length: d }, () => rand() * 2 - 1));
    const r = 1;
    const grad = tf.tidy(() => tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.tensor2d(c), projectRowsOntoL1Ball(v as tf.Tensor2D, r))))(tf.tensor2d(rows)).arraySync() as number[][]);
    rows.forEach((row, i) => {
      const f = (x: number[]) => projectOracle(x, r).reduce((s, y, j) => s + y * c[i]![j]!, 0);
      const fd = finiteDifferenceGradient(f, Array.from(new Float32Array(row)), 1e-6);
      fd.forEach((g, j) => expect(Math.abs(g - grad[i]![j]!)).toBeLessThan(1e-4));
    });
  });

  it('rejects a bad radius or input, naming it and the value', () => {
    const v = tf.zeros([2, 3]) as tf.Tensor2D;
    expect(thrownConfigError(() => projectRowsOntoL1Ball(v, -1)).message).toBe('projectRowsOntoL1Ball radius expected a finite number > 0, but got -1.');
    expect(thrownConfigError(() => projectRowsOntoL1Ball(tf.zeros([3]) as never, 1)).message).toMatch(/^projectRowsOntoL1Ball v expected a 2-D tf.Tensor/);
    v.dispose();
  });
});

/** Trains `model` a few steps on random regression data. */
async function trainBriefly(model: tfl.LayersModel, xShape: number[], outputs: number, seed: number): Promise<void> {
  model.compile({ optimizer: tf.train.adam(5e-2), loss: 'meanSquaredError' });
  const x = tf.randomNormal([16, ...xShape], 0, 1, 'float32', seed);
  const y = tf.randomNormal([16, outputs], 0, 3, 'float32', seed + 1);
  await model.fit(x, y, { epochs: 3, batchSize: 8, verbose: 0 });
  tf.dispose([x, y]);
}

/** True when every layer of `model` is a tfjs built-in (or its input). */
const onlyBuiltins = (model: tfl.LayersModel) => model.layers.every((l) => lip.TFJS_BUILTIN_CLASS_NAMES.has(l.getClassName()));

describe('LInfProjectedDense and LInfProjectedConv2D', () => {
  it('dense: the exported kernel has float64 column L1 norms <= k, predicts the same, and both bounds hold', async () => {
    const k = 1.5;
    const layer = lip.layers.lInfProjectedDense({ units: 5, kCoefLip: k, activation: 'relu', inputShape: [12] });
    const model = tfl.sequential({ layers: [layer] });
    await trainBriefly(model, [12], 5, 1);
    const exported = lip.vanillaExport(model);
    expect(onlyBuiltins(exported)).toBe(true);
    const kernel = exported.layers.find((l) => l.getClassName() === 'Dense')!.getWeights()[0]!;
    const norm = maxColumnL1(kernel);
    expect(norm).toBeLessThanOrEqual(k);
    expect(norm).toBeGreaterThan(0.99 * k);
    expect(layer.lInfLipschitzBound()).toBeGreaterThanOrEqual(norm);
    expect(layer.lInfLipschitzBound()).toBeLessThanOrEqual(k);
    expect(layer.lipschitzBound()).toBeGreaterThanOrEqual(singularValues(kernel)[0]! * (1 - 1e-6));
    expect(lip.lipschitzBound(exported, { norm: 'linf' })).toBeGreaterThanOrEqual(norm);
    const x = tf.randomNormal([7, 12], 0, 2, 'float32', 9);
    const [a, b] = [model.predict(x) as tf.Tensor, exported.predict(x) as tf.Tensor];
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeLessThan(1e-5);
    tf.dispose([x, a, b]);
  });

  it('conv: the full operator matrix (impulse responses) has row L1 norms <= k for same/valid padding and strides', async () => {
    for (const [padding, strides] of [['same', 2], ['valid', 1]] as const) {
      const k = 2;
      const layer = lip.layers.lInfProjectedConv2d({ filters: 3, kernelSize: 3, strides, padding, kCoefLip: k, useBias: false, inputShape: [5, 5, 2] });
      const model = tfl.sequential({ layers: [layer, tfl.layers.flatten()] });
      await trainBriefly(model, [5, 5, 2], model.outputs[0]!.shape[1] as number, 2);
      const exported = lip.vanillaExport(model);
      expect(onlyBuiltins(exported)).toBe(true);
      const kernel = exported.layers.find((l) => l.getClassName() === 'Conv2D')!.getWeights()[0]!;
      const filterNorm = maxColumnL1(kernel);
      expect(filterNorm).toBeLessThanOrEqual(k);
      expect(filterNorm).toBeGreaterThan(0.99 * k);
      const matrix = impulseResponseMatrix((x) => exported.predict(x) as tf.Tensor, [5, 5, 2]);
      const rowNorm = Math.max(...matrix.map(l1));
      expect(rowNorm).toBeLessThanOrEqual(layer.lInfLipschitzBound());
      expect(layer.lInfLipschitzBound()).toBeLessThanOrEqual(k);
      expect(singularValues(matrix)[0]!).toBeLessThanOrEqual(layer.lipschitzBound() * (1 + 1e-6));
      expect(lip.lipschitzBound(model, { norm: 'linf' })).toBeCloseTo(layer.lInfLipschitzBound(), 12);
      const x = tf.randomNormal([3, 5, 5, 2], 0, 1, 'float32', 4);
      const [a, b] = [model.predict(x) as tf.Tensor, exported.predict(x) as tf.Tensor];
      expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeLessThan(1e-5);
      tf.dispose([x, a, b]);
    }
  });

  it('save/load round trip keeps the class, the config and the predictions', async () => {
    const model = tfl.sequential({
      layers: [
        lip.layers.lInfProjectedConv2d({ filters: 2, kernelSize: [3, 2], kCoefLip: 1.5, inputShape: [4, 4, 1], activation: 'tanh' }),
        tfl.layers.flatten(),
        lip.layers.lInfProjectedDense({ units: 3, kCoefLip: 0.5 }),
      ],
    });
    await trainBriefly(model, [4, 4, 1], 3, 5);
    let saved: tf.io.ModelArtifacts | undefined;
    await model.save(tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(saved!));
    expect(loaded.layers.map((l) => l.getClassName())).toEqual(['LInfProjectedConv2D', 'Flatten', 'LInfProjectedDense']);
    // (kernelInitializer left out: tfjs writes the base initializer's absent seed back as null.)
    const own = (c: tf.serialization.ConfigDict) => ({ ...c, kernelInitializer: undefined });
    for (const i of [0, 2]) expect(own(loaded.layers[i]!.getConfig())).toEqual(own(model.layers[i]!.getConfig()));
    const x = tf.randomNormal([4, 4, 4, 1], 0, 1, 'float32', 6);
    const [a, b] = [model.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor];
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeLessThan(1e-6);
    expect(lip.lipschitzBound(loaded, { norm: 'linf' })).toBeCloseTo(lip.lipschitzBound(model, { norm: 'linf' }), 10);
    tf.dispose([x, a, b]);
  });

  it('bad options throw LipschitzConfigError naming the argument and the value', () => {
    const cases: Array<[() => unknown, string]> = [
      [() => lip.layers.lInfProjectedDense({ units: 0 }), 'units expected a positive integer, but got 0.'],
      [() => lip.layers.lInfProjectedDense({ units: 2, kCoefLip: -1 }), 'kCoefLip expected a finite number > 0, but got -1.'],
      [() => lip.layers.lInfProjectedConv2d({ filters: 2.5, kernelSize: 3 }), 'filters expected a positive integer, but got 2.5.'],
      [() => lip.layers.lInfProjectedDense({ units: 2, epsSpectral: 1e-3 } as never), 'epsSpectral expected nothing (LInfProjectedDense has no iterative normalization), but got 0.001.'],
      [() => lip.layers.lInfProjectedConv2d({ filters: 2, kernelSize: 3, kCoefLp: 2 } as never), "lInfProjectedConv2d: unknown option 'kCoefLp' (did you mean 'kCoefLip'?)."],
      [() => lip.lipschitzBound(tfl.sequential({ layers: [tfl.layers.dense({ units: 1, inputShape: [1] })] }), { norm: 'l1' } as never), "lipschitzBound norm expected one of 'l2', 'linf', but got 'l1'."],
    ];
    for (const [f, message] of cases) {
      const error = thrownConfigError(f);
      expect(error).toBeInstanceOf(LipschitzConfigError);
      expect(error.message).toBe(message);
    }
  });
});

/** Three Gaussian blobs in 6 dimensions, `n` samples, and their class indices. */
function blobs(n: number, seed: number): { x: tf.Tensor2D; labels: tf.Tensor1D } {
  const rand = mulberry32(seed);
  const centers = [0, 1, 2].map(() => Array.from({ length: 6 }, () => rand() * 4 - 2));
  const labels = Array.from({ length: n }, (_, i) => i % 3);
  const x = labels.map((c) => centers[c]!.map((m) => m + (rand() - 0.5) * 1.2));
  return { x: tf.tensor2d(x), labels: tf.tensor1d(labels, 'int32') };
}

const init = (seed: number) => tfl.initializers.glorotUniform({ seed });

describe('L-infinity certification', () => {
  let model: tfl.LayersModel;
  let x: tf.Tensor2D;
  let labels: tf.Tensor1D;

  beforeAll(async () => {
    model = tfl.sequential({
      layers: [
        lip.layers.lInfProjectedDense({ units: 16, kCoefLip: 2, inputShape: [6], kernelInitializer: init(1) }),
        lip.activations.groupSort2(),
        lip.layers.lInfProjectedDense({ units: 16, kCoefLip: 2, activation: 'relu', kernelInitializer: init(2) }),
        lip.layers.lInfProjectedDense({ units: 3, kCoefLip: 2, kernelInitializer: init(3) }),
      ],
    });
    ({ x, labels } = blobs(200, 21));
    model.compile({ optimizer: tf.train.adam(2e-2), loss: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.losses.softmaxCrossEntropy(yTrue, yPred) });
    const y = tf.oneHot(labels, 3);
    await model.fit(x, y, { epochs: 40, batchSize: 25, verbose: 0, shuffle: false });
    y.dispose();
  });

  afterAll(() => {
    tf.dispose([x, labels]);
    model.dispose();
  });

  it('the model bound is the product of the W-bar float64 column L1 norms (GroupSort2 and relu 1)', () => {
    const exported = lip.vanillaExport(model);
    const wBars = model.layers.flatMap((l) => l.weights.filter((w) => w.name.endsWith('w_bar')).map((w) => w.read()));
    expect(wBars.length).toBe(3);
    const product = wBars.reduce((p, w) => p * maxColumnL1(w), 1);
    const bound = lip.lipschitzBound(model, { norm: 'linf' });
    expect(bound).toBeGreaterThanOrEqual(product);
    expect(bound).toBeLessThanOrEqual(product * (1 + 1e-12));
    expect(bound).toBeLessThanOrEqual(8);
    expect(lip.lipschitzBound(exported, { norm: 'linf' })).toBeGreaterThanOrEqual(product);
    // An empirical L-infinity ratio of random pairs never exceeds it.
    const [xa, xb] = [tf.randomNormal([200, 6], 0, 1, 'float32', 1), tf.randomNormal([200, 6], 0, 1, 'float32', 2)];
    const ratio = tf.tidy(() => {
      const dy = tf.max(tf.abs(tf.sub(model.predict(xa) as tf.Tensor, model.predict(xb) as tf.Tensor)), 1);
      return tf.max(tf.div(dy, tf.max(tf.abs(tf.sub(xa, xb)), 1))).dataSync()[0]!;
    });
    expect(ratio).toBeLessThanOrEqual(bound);
    tf.dispose([xa, xb]);
  });

  it('radius = margin / (2 L_inf), and PGD-Linf never changes a prediction within it (200 samples)', () => {
    const bound = lip.lipschitzBound(model, { norm: 'linf' });
    const radii = lip.certify(model, x, { norm: 'linf' });
    const logits = model.predict(x) as tf.Tensor2D;
    const rows = logits.arraySync();
    rows.forEach((row, i) => {
      const sorted = row.slice().sort((a, b) => b - a);
      expect(radii[i]!).toBeCloseTo((sorted[0]! - sorted[1]!) / (2 * bound), 5);
    });
    const predicted = tf.argMax(logits, 1) as tf.Tensor1D;
    const clean = predicted.arraySync();
    const truth = labels.arraySync();
    expect(clean.filter((c, i) => c === truth[i]).length).toBeGreaterThan(180);
    // Every sample attacked at (just under) its own certified radius: 200 attacks.
    let attacked = 0;
    const xs = tf.unstack(x);
    xs.forEach((xi, i) => {
      const eps = radii[i]! * 0.999;
      if (!(eps > 0)) return;
      const one = tf.expandDims(xi, 0);
      const target = tf.slice(predicted, i, 1);
      const attack = lip.attacks.pgd({ norm: 'linf', epsilon: eps, steps: 20, restarts: 2, clip: null, seed: 3 + i });
      const adv = attack(model, one, target);
      const [after, moved] = tf.tidy(() => [tf.argMax(model.predict(adv) as tf.Tensor, 1).dataSync()[0]!, tf.max(tf.abs(tf.sub(adv, one))).dataSync()[0]!]);
      expect(moved).toBeLessThanOrEqual(eps * (1 + 1e-5));
      expect(after).toBe(clean[i]);
      attacked++;
      tf.dispose([one, target, adv]);
    });
    tf.dispose(xs);
    expect(attacked).toBe(200);
    // Not vacuous: with a radius of the size of the data, the attack does change predictions.
    const big = lip.attacks.pgd({ norm: 'linf', epsilon: 2, steps: 20, clip: null, seed: 4 });
    const adv = big(model, x, predicted);
    const flipped = tf.tidy(() => tf.sum(tf.cast(tf.notEqual(tf.argMax(model.predict(adv) as tf.Tensor, 1), predicted), 'int32')).dataSync()[0]!);
    expect(flipped).toBeGreaterThan(0);
    tf.dispose([logits, predicted, adv]);
  });

  it('the default L2 certificate and bound are unchanged by the option; a bad norm is rejected', () => {
    expect(lip.lipschitzBound(model)).toBe(lip.lipschitzBound(model, { norm: 'l2' }));
    expect(Array.from(lip.certify(model, x))).toEqual(Array.from(lip.certify(model, x, { norm: 'l2' })));
    expect(thrownConfigError(() => lip.certify(model, x, { norm: 'L1' } as never)).message).toBe("certify norm expected one of 'l2', 'linf', but got 'L1'.");
  });

  it('no tensor leaks: projection gradient, layer calls in training and inference, bounds, certificates', () => {
    const before = tf.memory().numTensors;
    const v = tf.randomNormal([4, 7], 0, 1, 'float32', 1) as tf.Tensor2D;
    tf.grad((t: tf.Tensor) => tf.sum(projectRowsOntoL1Ball(t as tf.Tensor2D, 0.5)))(v).dispose();
    projectRowsOntoL1Ball(v, 0.5).dispose();
    const layer = model.layers[0]!;
    tf.tidy(() => {
      layer.apply(x, { training: true });
    });
    (model.predict(x) as tf.Tensor).dispose();
    lip.lipschitzBound(model, { norm: 'linf' });
    lip.certify(model, x, { norm: 'linf' });
    v.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
