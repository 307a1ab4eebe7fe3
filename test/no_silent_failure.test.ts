/**
 * No silent failure: a NaN in the inputs stops training with an error naming the epoch and the
 * batch (`lip.callbacks.terminateOnNaN`); a model with non-finite weights is refused by
 * `vanillaExport`, `saveModel` and `certify` with an error naming the layer and the weight;
 * `certify` names a NaN sample; the obvious argument mistakes get `name expected X, but got V.`
 * messages instead of tfjs internals or dumps of layer fields.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as lip from '../src';
import { LipschitzConfigError } from '../src/core/errors';
import { assertFiniteWeights, findNonFiniteWeight } from '../src/model/finite';
import { seededValues } from './helpers/model_fixtures';
import { thrown } from './helpers/thrown';

function mlp(): tfl.Sequential {
  const model = lip.sequential({
    layers: [
      lip.layers.spectralDense({ units: 8, activation: 'relu', inputShape: [4], name: 'l1' }),
      lip.layers.spectralDense({ units: 3, name: 'l2' }),
    ],
  });
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'meanSquaredError' });
  return model;
}

function weightValues(model: tfl.LayersModel): number[][] {
  return model.weights.map((w) => Array.from(w.read().dataSync()));
}

/** 32 samples of 4 features, sample `nanAt` (if any) holding one NaN feature; targets 32 x 3. */
function data(nanAt?: number): { x: tf.Tensor2D; y: tf.Tensor2D } {
  const values = seededValues(32 * 4, 11);
  if (nanAt !== undefined) values[nanAt * 4 + 1] = NaN;
  return { x: tf.tensor2d(values, [32, 4]), y: tf.tensor2d(seededValues(32 * 3, 12), [32, 3]) };
}

/** Records every batch end (and the weights then) and every epoch start. */
class Spy extends tfl.Callback {
  batches: Array<{ epoch: number; batch: number; weights: number[][] }> = [];
  epochs: number[] = [];
  private epoch = 0;
  override async onEpochBegin(epoch: number): Promise<void> {
    this.epoch = epoch;
    this.epochs.push(epoch);
  }
  override async onBatchEnd(batch: number): Promise<void> {
    this.batches.push({ epoch: this.epoch, batch, weights: weightValues(this.model) });
  }
}

/** A model trained into NaN weights (one NaN input feature, no terminateOnNaN). */
async function nanModel(): Promise<tfl.Sequential> {
  const model = mlp();
  const { x, y } = data(5);
  await model.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
  tf.dispose([x, y]);
  return model;
}

describe('lip.callbacks.terminateOnNaN', () => {
  it('makes fit reject at the first NaN batch loss, naming epoch and batch; no batch runs after it; no tensor leaks', async () => {
    const model = mlp();
    const clean = data();
    await model.fit(clean.x, clean.y, { epochs: 1, batchSize: 8, verbose: 0 }); // creates the optimizer state
    const { x, y } = data(20); // sample 20 lies in the third batch of 8
    const spy = new Spy();
    const callback = lip.callbacks.terminateOnNaN();
    const before = tf.memory().numTensors;
    const error = await model
      .fit(x, y, { epochs: 3, batchSize: 8, shuffle: false, verbose: 0, callbacks: [callback, spy] })
      .then(() => null, (e: Error) => e);
    expect(tf.memory().numTensors).toBe(before);
    expect(error).toBeInstanceOf(lip.callbacks.NonFiniteLossError);
    expect(error?.message).toMatch(
      /^Training stopped: the loss is NaN at epoch 1\/3, batch 3\/4\. Check the inputs and the labels for NaN\/Infinity .*lower the learning rate\./,
    );
    expect(callback.stopped).toBe(error);
    expect([(error as lip.callbacks.NonFiniteLossError).epoch, (error as lip.callbacks.NonFiniteLossError).batch]).toEqual([0, 2]);
    // The spy (after the callback) saw the bad batch, and nothing ran after it.
    expect(spy.batches.map((b) => b.batch)).toEqual([0, 1, 2]);
    expect(spy.epochs).toEqual([0]);
    expect(weightValues(model)).toEqual(spy.batches[2]!.weights);
    expect(spy.batches[1]!.weights.flat().every(Number.isFinite)).toBe(true);
    expect(spy.batches[2]!.weights.flat().some(Number.isNaN)).toBe(true);
    expect((model as unknown as { isTraining: boolean }).isTraining).toBe(false); // fit can run again
    tf.dispose([x, y, clean.x, clean.y]);
    model.dispose();
  });

  it('with throwError: false fit resolves, warns with the same message and stops; a clean fit passes untouched', async () => {
    const model = mlp();
    const { x, y } = data(9);
    const callback = lip.callbacks.terminateOnNaN({ throwError: false });
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const history = await model.fit(x, y, { epochs: 2, batchSize: 8, shuffle: false, verbose: 0, callbacks: [callback] });
      expect(history.epoch).toEqual([0]);
      expect(Number.isNaN(history.history.loss?.[0] as number)).toBe(true);
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/^Training stopped: the loss is NaN at epoch 1\/2, batch 2\/4\./));
    } finally {
      warn.mockRestore();
    }
    expect(callback.stopped?.batch).toBe(1);

    const fresh = mlp();
    const clean = data();
    const history = await fresh.fit(clean.x, clean.y, { epochs: 2, batchSize: 8, verbose: 0, callbacks: [lip.callbacks.terminateOnNaN()] });
    expect(history.epoch).toEqual([0, 1]);
    expect(() => lip.callbacks.terminateOnNaN({ throwErrors: true } as never)).toThrow(/throwErrors/);
    expect(() => lip.callbacks.terminateOnNaN({ throwError: 1 } as never)).toThrow(/^throwError expected a boolean, but got 1\.$/);
    tf.dispose([x, y, clean.x, clean.y]);
    model.dispose();
    fresh.dispose();
  });
});

describe('non-finite weights are refused, naming the layer and the weight', () => {
  let model: tfl.Sequential;
  let tmp: string;
  beforeAll(async () => {
    model = await nanModel();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-lip-nsf-'));
  });
  afterAll(() => {
    model.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const named = (what: string) =>
    new RegExp(
      `^${what}: layer 'l1' \\(SpectralDense\\) has a non-finite weight 'l1/kernel' \\(NaN at index 0; all 32 values non-finite\\); ` +
        'a model with non-finite weights predicts NaN and cannot be certified, exported or saved\\..*lip\\.callbacks\\.terminateOnNaN\\(\\)',
    );

  it('vanillaExport, certify and saveModel throw LipschitzConfigError; nothing is written; no tensor leaks', async () => {
    const x = tf.tensor2d(seededValues(4 * 4, 3), [4, 4]);
    const before = tf.memory().numTensors;
    const exportError = thrown(() => lip.vanillaExport(model));
    expect(exportError).toBeInstanceOf(LipschitzConfigError);
    expect(exportError.message).toMatch(named('vanillaExport'));
    expect(thrown(() => lip.certify(model, x)).message).toMatch(named('certify'));
    const target = path.join(tmp, 'nan-model');
    await expect(lip.io.saveModel(model, target)).rejects.toThrow(named('saveModel'));
    expect(fs.existsSync(target)).toBe(false);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(x);
  });

  it('finds the first bad value of any layer, nested models included, and Infinity too', () => {
    const inner = tfl.sequential({ name: 'inner', layers: [tfl.layers.dense({ units: 3, inputShape: [2], name: 'inner_dense' })] });
    const outer = tfl.sequential({ layers: [tfl.layers.dense({ units: 2, inputShape: [4], name: 'first' }), inner] });
    expect(findNonFiniteWeight(outer)).toBeNull();
    expect(() => assertFiniteWeights(outer, 'check')).not.toThrow();
    const bias = inner.layers[0]!.weights[1]!;
    bias.write(tf.tensor1d([0, -Infinity, Infinity]));
    const bad = findNonFiniteWeight(outer);
    expect(bad && { layer: bad.layer.name, weight: bad.weight, index: bad.index, value: bad.value, count: bad.count }).toEqual({
      layer: 'inner_dense',
      weight: bias.originalName,
      index: 1,
      value: -Infinity,
      count: 2,
    });
    expect(thrown(() => assertFiniteWeights(outer, 'check')).message).toMatch(
      new RegExp(`^check: layer 'inner_dense' \\(Dense\\) has a non-finite weight '${bias.originalName}' \\(-Infinity at index 1; 2 of 3 values non-finite\\)`),
    );
    outer.dispose();
  });
});

describe('certify: arguments and NaN samples', () => {
  let model: tfl.Sequential;
  beforeAll(() => {
    model = mlp();
  });
  afterAll(() => model.dispose());

  it('names x and the expected batch shape for one sample, a wrong width, a plain array', () => {
    const one = tf.tensor1d(seededValues(4, 1));
    const wide = tf.zeros([2, 5]);
    const before = tf.memory().numTensors;
    expect(thrown(() => lip.certify(model, one)).message).toBe(
      "certify x expected a batch tensor of shape [batch, 4] (the model's input), but got a float32 tensor of shape [4]; for one sample use tf.expandDims(x, 0).",
    );
    expect(thrown(() => lip.certify(model, wide)).message).toBe(
      "certify x expected a batch tensor of shape [batch, 4] (the model's input), but got a float32 tensor of shape [2,5].",
    );
    expect(thrown(() => lip.certify(model, [[1, 2, 3, 4]] as never)).message).toBe(
      'certify x expected a batch tensor [batch, ...inputShape] (a tf.Tensor; wrap arrays with tf.tensor()), but got [[1,2,3,4]].',
    );
    expect(thrown(() => lip.certifyLogits([[1, 2]] as never)).message).toBe(
      'certifyLogits yPred expected a tf.Tensor of model outputs [batch, classes], but got [[1,2]].',
    );
    expect(thrown(() => lip.certify(model.layers[0] as never, wide)).message).toBe(
      "certify model expected a tfjs LayersModel (tf.sequential / tf.model / lip.sequential) or an object with predict(), but got layer 'l1' (SpectralDense).",
    );
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([one, wide]);
  });

  it('a NaN in x is reported with its sample instead of a NaN radius', () => {
    const values = seededValues(6 * 4, 2);
    values[4 * 4 + 2] = NaN;
    const x = tf.tensor2d(values, [6, 4]);
    expect(thrown(() => lip.certify(model, x, { batchSize: 4 })).message).toMatch(
      /^certify: the prediction for sample 4 of x is not finite \(radius NaN\) although every weight of the model is; x holds NaN or Infinity there/,
    );
    const fine = tf.slice(x, [0, 0], [4, 4]);
    expect(Array.from(lip.certify(model, fine)).every((r) => Number.isFinite(r) && r >= 0)).toBe(true);
    tf.dispose([x, fine]);
  });
});

describe('argument messages name the argument, not tfjs internals', () => {
  it('lipschitzBound(layer) points to layer.lipschitzBound()', () => {
    const layer = lip.layers.spectralDense({ units: 3, inputShape: [2], name: 'lone' });
    const error = thrown(() => lip.lipschitzBound(layer as never));
    expect(error).toBeInstanceOf(LipschitzConfigError);
    expect(error.message).toBe(
      "lipschitzBound model expected a tfjs LayersModel (tf.sequential / tf.model / lip.sequential), but got layer 'lone' (SpectralDense); for one layer use layer.lipschitzBound().",
    );
  });

  it.each([
    ['spectralDense', () => lip.layers.spectralDense({ units: 4, inputShape: '784' } as never)],
    ['frobeniusDense', () => lip.layers.frobeniusDense({ units: 4, inputShape: '784' } as never)],
    ['spectralConv2d', () => lip.layers.spectralConv2d({ filters: 2, kernelSize: 3, inputShape: '784' } as never)],
    ['scaledAveragePooling2d', () => lip.layers.scaledAveragePooling2d({ inputShape: '784' } as never)],
    ['scaledGlobalL2NormPooling2d', () => lip.layers.scaledGlobalL2NormPooling2d({ inputShape: '784' } as never)],
    ['groupSort2', () => lip.activations.groupSort2({ inputShape: '784' } as never)],
    ['invertibleDownSampling', () => lip.layers.invertibleDownSampling({ poolSize: 2, inputShape: '784' } as never)],
  ])('%s rejects a string inputShape at construction', (_name, make) => {
    const error = thrown(make);
    expect(error).toBeInstanceOf(LipschitzConfigError);
    expect(error.message).toBe(
      "inputShape expected an array of positive integers like [784] or [28, 28, 1] (the shape of one sample), but got '784'.",
    );
  });

  it('inputShape and batchInputShape: zero, fractions and numbers are refused, free (null) dimensions accepted', () => {
    expect(thrown(() => lip.layers.spectralDense({ units: 4, inputShape: [0] } as never)).message).toMatch(/^inputShape expected .*, but got \[0\]\.$/);
    expect(thrown(() => lip.layers.spectralDense({ units: 4, inputShape: 784 } as never)).message).toMatch(/^inputShape expected .*, but got 784\.$/);
    expect(thrown(() => lip.layers.spectralDense({ units: 4, batchInputShape: [784] } as never)).message).toBe(
      'batchInputShape expected an array [batchSize or null, ...shape of one sample] like [null, 784], but got [784].',
    );
    expect(() => lip.layers.spectralConv2d({ filters: 2, kernelSize: 3, inputShape: [null, null, 3] } as never)).not.toThrow();
    expect(() => lip.layers.spectralDense({ units: 4, batchInputShape: [null, 784] } as never)).not.toThrow();
  });

  it('loadIdx() names dir; loader options name the loader', async () => {
    await expect(lip.data.loadIdx(undefined as never)).rejects.toThrow(
      /^loadIdx dir expected a folder holding train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte \(each optionally \.gz\), but got undefined\.$/,
    );
    expect(thrown(() => lip.data.loadMnist('flat' as never)).message).toBe(
      "loadMnist options expected an object such as { shape: 'image', trainSize: 1000 }, but got 'flat'.",
    );
  });

  it('tensors, layers and models are described by what they are, not by their fields', () => {
    const t = tf.zeros([2, 3]);
    expect(thrown(() => lip.vanillaExport(t as never)).message).toBe('vanillaExport model expected a tfjs LayersModel, but got a float32 tensor of shape [2,3].');
    const layer = lip.layers.spectralDense({ units: 3, name: 'd' });
    expect(thrown(() => lip.io.fileSystem(layer as never)).message).toBe(
      "fileSystem location expected a directory path or a file:// URL (e.g. './out'), but got layer 'd' (SpectralDense).",
    );
    tf.dispose(t);
  });
});
