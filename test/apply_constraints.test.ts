/**
 * lip.callbacks.applyConstraints(): tfjs-layers never applies a weight constraint inside `fit`
 * (shown here as the control), the callback makes it hold after every batch. Oracles: the clip
 * value itself, and float64 singular values of the trained kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as lip from '../src';
import { singularValues } from './helpers/oracles';
import { lcg } from './helpers/random';

/** A regression batch that pulls the kernel far from its constraint at a large learning rate. */
function data(n: number, inputs: number, outputs: number, seed: number): { x: tf.Tensor2D; y: tf.Tensor2D } {
  const r = lcg(seed);
  const x = tf.tensor2d(Array.from({ length: n * inputs }, () => r()), [n, inputs]);
  const y = tf.tensor2d(Array.from({ length: n * outputs }, () => 50 * r()), [n, outputs]);
  return { x, y };
}

function denseModel(layer: tfl.layers.Layer, lr: number): tfl.Sequential {
  const model = tfl.sequential({ layers: [layer] });
  model.compile({ optimizer: tf.train.sgd(lr), loss: 'meanSquaredError' });
  return model;
}

function maxAbs(t: tf.Tensor): number {
  return Math.max(...Array.from(t.dataSync()).map(Math.abs));
}

describe('applyConstraints', () => {
  it('weightClip on a plain dense: ignored by fit alone (control), max |w| <= c after every batch with the callback', async () => {
    const c = 0.01;
    const { x, y } = data(64, 6, 3, 1);
    const make = () =>
      denseModel(tfl.layers.dense({ units: 3, inputShape: [6], kernelConstraint: lip.constraints.weightClip({ cValue: c }), biasConstraint: lip.constraints.weightClip({ cValue: c }) }), 0.5);
    const control = make();
    await control.fit(x, y, { epochs: 1, batchSize: 16, verbose: 0 });
    expect(maxAbs(control.layers[0]!.getWeights()[0]!)).toBeGreaterThan(10 * c);

    const model = make();
    const seen: number[] = [];
    const probe = new (class extends tfl.Callback {
      override async onBatchEnd(): Promise<void> {
        for (const w of model.layers[0]!.getWeights()) seen.push(maxAbs(w));
      }
    })();
    const callback = lip.callbacks.applyConstraints();
    await model.fit(x, y, { epochs: 2, batchSize: 16, verbose: 0, callbacks: [callback, probe] });
    expect(seen).toHaveLength(2 * 4 * 2);
    for (const m of seen) expect(m).toBeLessThanOrEqual(Math.fround(c));
    expect(callback.lastCount).toBe(2);
    // The clip is reached (the gradient pushes every weight to the boundary), not merely respected.
    expect(maxAbs(model.layers[0]!.getWeights()[0]!)).toBeCloseTo(c, 7);
    tf.dispose([x, y]);
    control.dispose();
    model.dispose();
  });

  it('spectral constraint on a plain dense: sigma_max within 1e-3 of k after 20 steps (float64 singular values)', async () => {
    const k = 2;
    const { x, y } = data(40, 7, 5, 2);
    const model = denseModel(tfl.layers.dense({ units: 5, inputShape: [7], kernelConstraint: lip.constraints.spectral({ kCoefLip: k }) }), 0.05);
    await model.fit(x, y, { epochs: 20, batchSize: 40, verbose: 0, callbacks: [lip.callbacks.applyConstraints()] });
    const sigma = singularValues(model.layers[0]!.getWeights()[0]!);
    expect(Math.abs(sigma[0]! - k)).toBeLessThan(1e-3);
    // Björck sets every singular value to k, not only the largest.
    for (const s of sigma) expect(Math.abs(s - k)).toBeLessThan(1e-3);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('reaches nested models and reads nothing back for weightClip; no tensor is leaked', async () => {
    const inner = tfl.sequential({ layers: [tfl.layers.dense({ units: 4, inputShape: [3], kernelConstraint: lip.constraints.weightClip({ cValue: 0.05 }) })] });
    const outer = tfl.sequential({ layers: [inner, tfl.layers.dense({ units: 2, kernelConstraint: tfl.constraints.maxNorm({ maxValue: 0.5, axis: 0 }) })] });
    outer.compile({ optimizer: tf.train.sgd(1), loss: 'meanSquaredError' });
    const { x, y } = data(8, 3, 2, 3);
    const callback = lip.callbacks.applyConstraints();
    await outer.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0, callbacks: [callback] });
    expect(callback.lastCount).toBe(2);
    expect(maxAbs(inner.layers[0]!.getWeights()[0]!)).toBeLessThanOrEqual(Math.fround(0.05));
    const columnNorms = tf.tidy(() => tf.sqrt(tf.sum(tf.square(outer.layers[1]!.getWeights()[0]!), 0)));
    expect(maxAbs(columnNorms)).toBeLessThanOrEqual(0.5 + 1e-6);
    columnNorms.dispose();

    const reads = [jest.spyOn(tf.Tensor.prototype, 'dataSync'), jest.spyOn(tf.Tensor.prototype, 'data'), jest.spyOn(tf.Tensor.prototype, 'arraySync')];
    const before = tf.memory().numTensors;
    await callback.onBatchEnd(0);
    await callback.onBatchEnd(1);
    expect(tf.memory().numTensors).toBe(before);
    for (const spy of reads) expect(spy).not.toHaveBeenCalled();
    reads.forEach((spy) => spy.mockRestore());
    tf.dispose([x, y]);
    outer.dispose();
  });

  it('takes no option: any key is a LipschitzConfigError naming it', () => {
    expect(() => lip.callbacks.applyConstraints({ every: 2 } as never)).toThrow(lip.LipschitzConfigError);
    expect(() => lip.callbacks.applyConstraints({ every: 2 } as never)).toThrow(/every/);
  });
});
