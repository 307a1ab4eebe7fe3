/**
 * Callbacks in model.fit: condenseCallback writes W-bar into the kernel, monitorCallback records
 * the float64 singular values of the monitored weights (checked against mathjs), and
 * lossParamScheduler changes a loss parameter on schedule (checked through the logged loss).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as lip from '../src';
import { LipschitzConfigError } from '../src/core/errors';
import { singularValues } from './helpers/oracles';
import { readWeight, weightByName } from './helpers/toolkit';


function convModel(): { model: tfl.Sequential; conv: tfl.layers.Layer } {
  const conv = lip.layers.spectralConv2d({ filters: 3, kernelSize: 3, padding: 'same', useBias: false } as never) as unknown as tfl.layers.Layer;
  const model = tfl.sequential({ layers: [tfl.layers.inputLayer({ inputShape: [4, 4, 2] }), conv, tfl.layers.flatten()] });
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  return { model, conv };
}

// After condense, W-bar is recomputed from the new kernel (itself W-bar): one normalization pass
// over an orthonormal float32 kernel, which moves entries by float32 rounding (seen up to 1.1e-6
// on wasm). The controls below show the gap is above 1e-2 without condensing.
const CONDENSED_TOL = 1e-5;

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

describe('condenseCallback', () => {
  let x: tf.Tensor;
  let y: tf.Tensor;
  beforeAll(() => {
    x = tf.randomNormal([8, 4, 4, 2], 0, 1, 'float32', 1);
    y = tf.randomNormal([8, 48], 0, 1, 'float32', 2);
  });
  afterAll(() => tf.dispose([x, y]));

  it('makes kernel == W-bar after the epoch (and not without it)', async () => {
    const { model, conv } = convModel();
    // Scale the kernel so that W-bar differs from it a lot.
    weightByName(conv, 'kernel').write(tf.tidy(() => tf.mul(readWeight(conv, 'kernel'), 3)));
    await model.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
    const gap = maxAbsDiff(readWeight(conv, 'kernel'), readWeight(conv, 'w_bar'));
    expect(gap).toBeGreaterThan(1e-2); // control: training alone leaves them apart
    await model.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0, callbacks: [lip.callbacks.condenseCallback()] });
    expect(maxAbsDiff(readWeight(conv, 'kernel'), readWeight(conv, 'w_bar'))).toBeLessThan(CONDENSED_TOL);
    model.dispose();
  });

  it('SpectralDense in lip.sequential: kernel == W-bar after the epoch', async () => {
    const dense = lip.layers.spectralDense({ units: 4, inputShape: [6] } as never) as unknown as tfl.layers.Layer;
    const model = lip.sequential({ layers: [dense] as unknown as tfl.layers.Layer[] });
    model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    const xd = tf.randomNormal([8, 6], 0, 1, 'float32', 5);
    const yd = tf.randomNormal([8, 4], 0, 1, 'float32', 6);
    weightByName(dense, 'kernel').write(tf.tidy(() => tf.mul(readWeight(dense, 'kernel'), 3)));
    await model.fit(xd, yd, { epochs: 1, batchSize: 4, verbose: 0 });
    expect(maxAbsDiff(readWeight(dense, 'kernel'), readWeight(dense, 'w_bar'))).toBeGreaterThan(1e-2);
    await model.fit(xd, yd, { epochs: 1, batchSize: 4, verbose: 0, callbacks: [lip.callbacks.condenseCallback()] });
    expect(maxAbsDiff(readWeight(dense, 'kernel'), readWeight(dense, 'w_bar'))).toBeLessThan(CONDENSED_TOL);
    tf.dispose([xd, yd]);
    model.dispose();
  });

  it('onBatch condenses after every batch; onEpoch false skips epochs', async () => {
    const { model, conv } = convModel();
    weightByName(conv, 'kernel').write(tf.tidy(() => tf.mul(readWeight(conv, 'kernel'), 3)));
    const seen: number[] = [];
    const probe = new (class extends tfl.Callback {
      override async onBatchEnd(): Promise<void> {
        seen.push(maxAbsDiff(readWeight(conv, 'kernel'), readWeight(conv, 'w_bar')));
      }
    })();
    await model.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0, callbacks: [lip.callbacks.condenseCallback({ onBatch: true, onEpoch: false }), probe] });
    expect(seen).toHaveLength(2);
    seen.forEach((g) => expect(g).toBeLessThan(CONDENSED_TOL));
    expect(lip.callbacks.condenseCallback({ onBatch: true, onEpoch: false }).getConfig()).toEqual({ onEpoch: false, onBatch: true });
    expect(() => lip.callbacks.condenseCallback({ onBatch: 1 as unknown as boolean })).toThrow(LipschitzConfigError);
    model.dispose();
  });
});

describe('monitorCallback', () => {
  let x: tf.Tensor;
  let y: tf.Tensor;
  beforeAll(() => {
    x = tf.randomNormal([8, 4, 4, 2], 0, 1, 'float32', 3);
    y = tf.randomNormal([8, 48], 0, 1, 'float32', 4);
  });
  afterAll(() => tf.dispose([x, y]));

  it('records min/max singular values of W-bar (reshaped [-1, filters]) equal to a float64 SVD', async () => {
    const { model, conv } = convModel();
    const monitor = lip.callbacks.monitorCallback({ layerNames: [conv.name] });
    const snapshots: number[][][] = [];
    const grab = new (class extends tfl.Callback {
      override async onEpochEnd(): Promise<void> {
        snapshots.push(tf.tidy(() => tf.reshape(readWeight(conv, 'w_bar'), [-1, 3]).arraySync() as number[][]));
      }
    })();
    const h = await model.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0, callbacks: [monitor, grab] });
    expect(monitor.history.map((r) => [r.epoch, r.layer, r.target])).toEqual([
      [0, conv.name, 'wbar'],
      [1, conv.name, 'wbar'],
    ]);
    monitor.history.forEach((r, i) => {
      const sv = singularValues(snapshots[i]!);
      expect(Math.abs(r.max - sv[0]!)).toBeLessThan(1e-6 * sv[0]!);
      expect(Math.abs(r.min - sv[sv.length - 1]!)).toBeLessThan(1e-6 * sv[0]!);
    });
    // The values also land in fit's history.
    expect(h.history[`${conv.name}_wbar_sv_max`]).toEqual(monitor.history.map((r) => r.max));
    model.dispose();
  });

  it("target 'kernel' monitors the raw kernel; layers without it are skipped", async () => {
    const { model, conv } = convModel();
    const monitor = lip.callbacks.monitorCallback({ target: 'kernel' });
    await model.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0, callbacks: [monitor] });
    expect(monitor.history).toHaveLength(1); // the flatten layer has no kernel
    const sv = singularValues(tf.tidy(() => tf.reshape(readWeight(conv, 'kernel'), [-1, 3])) as tf.Tensor2D);
    expect(Math.abs(monitor.history[0]!.max - sv[0]!)).toBeLessThan(1e-6 * sv[0]!);
    expect(() => lip.callbacks.monitorCallback({ target: 'bias' as never })).toThrow(LipschitzConfigError);
    model.dispose();
  });
});

/** A loss whose weight `alpha` is a tf.Variable: alpha * mse. */
function scaledMse(alpha0: number) {
  const alpha = tf.variable(tf.scalar(alpha0), false);
  const loss = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.mul(alpha, tf.losses.meanSquaredError(yTrue, yPred));
  return Object.assign(loss, { alpha });
}

describe('lossParamScheduler', () => {
  let x: tf.Tensor;
  let y: tf.Tensor;
  beforeAll(() => {
    x = tf.tensor2d([[1, 2], [3, 4], [5, 6], [7, 8]]);
    y = tf.zeros([4, 1]);
  });
  afterAll(() => tf.dispose([x, y]));

  function frozenModel(loss: unknown): tfl.Sequential {
    const model = tfl.sequential({ layers: [tfl.layers.dense({ units: 1, inputShape: [2], kernelInitializer: 'ones', useBias: false })] });
    // Learning rate 0: the data term is constant, the logged loss is alpha * constant.
    model.compile({ optimizer: tf.train.sgd(0), loss: loss as never });
    return model;
  }
  // mse of x @ [1, 1] against 0: (9 + 49 + 121 + 225) / 4.
  const MSE = (9 + 49 + 121 + 225) / 4;

  it('changes alpha at the scheduled epochs ({epoch: value} map)', async () => {
    const loss = scaledMse(1);
    const model = frozenModel(loss);
    const scheduler = lip.callbacks.lossParamScheduler({ param: 'alpha', schedule: { 0: 0.5, 2: 2, 3: 0.25 } });
    const h = await model.fit(x, y, { epochs: 4, batchSize: 4, verbose: 0, callbacks: [scheduler] });
    const alphas = [0.5, 0.5, 2, 0.25];
    (h.history['loss'] as number[]).forEach((l, e) => expect(l).toBeCloseTo(alphas[e]! * MSE, 3));
    expect(scheduler.history.map((r) => r.value)).toEqual(alphas);
    expect(loss.alpha.dataSync()[0]).toBe(0.25);
    model.dispose();
  });

  it('takes a function of the epoch, and DEEL-LIP style per-step xp/fp interpolation', async () => {
    const loss = { alpha: 1, fn: null as unknown };
    const tunable = Object.assign((yt: tf.Tensor, yp: tf.Tensor) => tf.mul(loss.alpha, tf.losses.meanSquaredError(yt, yp)), {
      setParam(name: string, value: number) {
        if (name !== 'alpha') throw new Error('unknown');
        loss.alpha = value;
      },
    });
    const model = frozenModel(tunable);
    const byEpoch = lip.callbacks.lossParamScheduler({ param: 'alpha', schedule: (e) => 1 + e });
    let h = await model.fit(x, y, { epochs: 3, batchSize: 4, verbose: 0, callbacks: [byEpoch] });
    (h.history['loss'] as number[]).forEach((l, e) => expect(l).toBeCloseTo((1 + e) * MSE, 3));
    // Per step: batches of 1 -> 4 steps per epoch, 2 epochs = steps 0..7; numpy.interp.
    const bySteps = lip.callbacks.lossParamScheduler({ param: 'alpha', xp: [0, 4, 6], fp: [0, 2, 1] });
    h = await model.fit(x, y, { epochs: 2, batchSize: 1, shuffle: false, verbose: 0, callbacks: [bySteps] });
    const expectedSteps = [0, 0.5, 1, 1.5, 2, 1.5, 1, 1];
    expect(bySteps.history.map((r) => r.value)).toEqual(expectedSteps);
    // Epoch 1: per-sample squared errors 9, 49, 121, 225 weighted by alphas 2, 1.5, 1, 1.
    expect((h.history['loss'] as number[])[1]).toBeCloseTo((2 * 9 + 1.5 * 49 + 121 + 225) / 4, 3);
    model.dispose();
  });

  it('drives lip.losses.multiclassHKR alpha through setParam: logged loss = -KR + alpha * hinge', async () => {
    const hkr = lip.losses.multiclassHKR({ alpha: 10, minMargin: 1 });
    const dense = tfl.layers.dense({ units: 3, inputShape: [2] });
    const model = tfl.sequential({ layers: [dense] });
    model.compile({ optimizer: tf.train.sgd(0), loss: hkr });
    // f(x) = x W: predictions [[.5, -.5, .25], [.25, .5, -.5], [.05, -.5, .4], [-.35, .5, -.3]].
    const weights = [tf.tensor2d([[1, -1, 0.5], [0.5, 1, -1]]), tf.zeros([3])];
    dense.setWeights(weights);
    tf.dispose(weights);
    const xc = tf.tensor2d([[0.5, 0], [0, 0.5], [0.2, -0.3], [-0.4, 0.1]]);
    const yc = tf.tensor2d([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]]);
    // By hand: KR = mean_c (E[f_c | c] - E[f_c | not c]) = (-0.075 + 2/3 + 7/12) / 3 = 47/120;
    // hinge = mean_b mean_c w relu(1/2 - sign f) (w = 2 on the true class) = (3 * 0.25 + 2.9/3) / 4 = 103/240.
    const KR = 47 / 120;
    const HINGE = 103 / 240;
    const scheduler = lip.callbacks.lossParamScheduler({ param: 'alpha', schedule: { 1: 2, 2: 0.5 } });
    const h = await model.fit(xc, yc, { epochs: 4, batchSize: 4, verbose: 0, callbacks: [scheduler] });
    const alphas = [10, 2, 0.5, 0.5]; // epoch 0 keeps the loss's own alpha
    expect(scheduler.history.map((r) => [r.epoch, r.value])).toEqual([[1, 2], [2, 0.5], [3, 0.5]]);
    const logged = h.history['loss'] as number[];
    expect(logged).toHaveLength(4);
    const pred = model.predict(xc) as tf.Tensor;
    logged.forEach((l, e) => {
      const alpha = alphas[e]!;
      expect(Math.abs(l - (-KR + alpha * HINGE))).toBeLessThan(1e-5);
      // The same as a fresh standalone loss built with that alpha.
      const standalone = lip.losses.multiclassHKR({ alpha, minMargin: 1 })(yc, pred);
      expect(Math.abs(l - standalone.dataSync()[0]!)).toBeLessThan(1e-5);
      standalone.dispose();
    });
    expect(lip.callbacks.getLossParam(hkr, 'alpha')).toBe(0.5);
    expect(hkr.config['alpha']).toBe(0.5);
    // A value the loss rejects stops training with the loss's own error.
    const bad = lip.callbacks.lossParamScheduler({ param: 'alpha', schedule: { 0: -1 } });
    await expect(model.fit(xc, yc, { epochs: 1, batchSize: 4, verbose: 0, callbacks: [bad] })).rejects.toThrow(/^alpha expected a number >= 0/);
    tf.dispose([xc, yc, pred]);
    model.dispose();
  });

  it('rejects bad settings', () => {
    expect(() => lip.callbacks.lossParamScheduler({ param: '' })).toThrow(LipschitzConfigError);
    expect(() => lip.callbacks.lossParamScheduler({ param: 'alpha' })).toThrow(/schedule expected exactly one of schedule or xp\/fp/);
    expect(() => lip.callbacks.lossParamScheduler({ param: 'alpha', xp: [0, 2, 1], fp: [1, 2, 3] })).toThrow(LipschitzConfigError);
    expect(() => lip.callbacks.lossParamScheduler({ param: 'alpha', xp: [0, 2], fp: [1] })).toThrow(LipschitzConfigError);
    expect(() => lip.callbacks.lossParamScheduler({ param: 'alpha', schedule: { a: 1 } as never })).toThrow(LipschitzConfigError);
  });
});
