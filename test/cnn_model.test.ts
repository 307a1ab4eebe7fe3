/**
 * A CNN mixing every convolution, pooling and resampling layer with SpectralDense: certified
 * bound, save/load round trip, vanilla export equality, training on the current backend.
 */
import * as os from 'os';
import * as path from 'path';
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { groupSort2 } from '../src/activations';
import { vanillaExport } from '../src/export';
import { loadModel, saveModel } from '../src/io';
import { frobeniusConv2d, spectralConv2d, spectralConv2dTranspose } from '../src/layers/convolutional';
import { spectralDense } from '../src/layers/dense';
import {
  scaledAveragePooling2d,
  scaledGlobalAveragePooling2d,
  scaledGlobalL2NormPooling2d,
  scaledL2NormPooling2d,
} from '../src/layers/pooling';
import { invertibleDownSampling, invertibleUpSampling } from '../src/layers/resampling';
import { lipschitzBound, sequential, TFJS_BUILTIN_CLASS_NAMES } from '../src/model';
import { flat, lipschitzRatioAscent, randomNormal, relativeMaxDiff } from './helpers/pooling';

const INPUT = [8, 8, 2];

/** Every conv/pool/resampling layer; `l2` picks the L2-norm poolings, else the average ones. */
function buildCnn(l2: boolean, kCoefLip = 1): tfl.Sequential {
  return sequential({
    kCoefLip,
    layers: [
      spectralConv2d({ inputShape: INPUT, filters: 4, kernelSize: 3, padding: 'same', name: 'conv' }), // 8x8x4
      groupSort2({ name: 'gs1' }),
      invertibleDownSampling({ poolSize: 2, name: 'down' }), // 4x4x16
      frobeniusConv2d({ filters: 8, kernelSize: 3, padding: 'same', name: 'frob' }), // 4x4x8
      invertibleUpSampling({ poolSize: 2, name: 'up' }), // 8x8x2
      spectralConv2dTranspose({ filters: 4, kernelSize: 3, padding: 'same', name: 'convT' }), // 8x8x4
      groupSort2({ name: 'gs2' }),
      l2 ? scaledL2NormPooling2d({ poolSize: 2, name: 'pool' }) : scaledAveragePooling2d({ poolSize: 2, name: 'pool' }), // 4x4x4
      l2 ? scaledGlobalL2NormPooling2d({ name: 'gpool' }) : scaledGlobalAveragePooling2d({ name: 'gpool' }), // 4
      spectralDense({ units: 3, name: 'dense' }),
    ],
  });
}

function sampleInputs(n: number, seed: number): tf.Tensor {
  return tf.tensor(randomNormal(n * 128, seed), [n, ...INPUT]);
}

describe.each([
  ['L2-norm poolings', true],
  ['average poolings', false],
])('CNN with %s', (_label, l2) => {
  it('trains with fit (finite, decreasing loss) and keeps its certified bound', async () => {
    const model = buildCnn(l2);
    model.compile({ optimizer: tf.train.adam(0.01), loss: 'meanSquaredError' });
    const x = sampleInputs(32, 3);
    const y = tf.tidy(() => tf.tile(tf.reshape(tf.mean(x, [1, 2, 3]), [32, 1]), [1, 3]));
    const history = await model.fit(x, y, { epochs: 5, batchSize: 16, verbose: 0, shuffle: false });
    const losses = history.history.loss as number[];
    losses.forEach((l) => expect(Number.isFinite(l)).toBe(true));
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]!);
    // Certified from the layers' W-bars: at most the requested 1 (Björck tolerance), and it covers
    // what gradient ascent finds.
    const bound = lipschitzBound(model);
    expect(bound).toBeLessThanOrEqual(1 + 1e-3);
    const ratio = lipschitzRatioAscent((t) => model.predict(t) as tf.Tensor, INPUT, { pairs: 4, steps: 15 });
    expect(ratio).toBeLessThanOrEqual(bound);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('saves and loads (lip.io) with the same predictions', async () => {
    const model = buildCnn(l2, 2);
    const x = sampleInputs(4, 5);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-lip-cnn-'));
    try {
      const before = model.predict(x) as tf.Tensor;
      await saveModel(model, dir);
      const loaded = await loadModel(dir);
      expect(loaded.layers.map((l) => l.getClassName())).toEqual(model.layers.map((l) => l.getClassName()));
      const after = loaded.predict(x) as tf.Tensor;
      expect(relativeMaxDiff(flat(before), flat(after))).toBeLessThan(1e-6);
      // The loaded state certifies exactly what the original does, at most the requested 2.
      expect(lipschitzBound(loaded)).toBeCloseTo(lipschitzBound(model), 9);
      expect(lipschitzBound(loaded)).toBeLessThanOrEqual(2 * (1 + 1e-3));
      tf.dispose([before, after]);
      loaded.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      x.dispose();
      model.dispose();
    }
  });

  it('exports to tfjs built-in layers only, predicting the same (1e-5)', () => {
    const model = buildCnn(l2, 1.5);
    const x = sampleInputs(4, 7);
    const exported = vanillaExport(model);
    exported.layers.forEach((layer) => expect(TFJS_BUILTIN_CLASS_NAMES.has(layer.getClassName())).toBe(true));
    const a = model.predict(x) as tf.Tensor;
    const b = exported.predict(x) as tf.Tensor;
    expect(relativeMaxDiff(flat(a), flat(b))).toBeLessThan(1e-5);
    tf.dispose([x, a, b]);
    exported.dispose();
    model.dispose();
  });
});
