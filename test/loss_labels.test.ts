/**
 * Label checks of the losses: every loss accepts its documented label formats and rejects NaN,
 * out-of-range and not one-hot labels with a message naming the loss, the format expected, the
 * bad label and its place, standalone and inside model.fit (the rejection of fit carries it);
 * `checkLabels: false` turns the value check off; arguments that are not tensors or have the wrong
 * size are named whatever the option.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as lip from '../src';
import { LipschitzConfigError } from '../src/core/errors';
import type { LipschitzLoss } from '../src/losses';
import { thrown } from './helpers/thrown';

const PRED = [
  [0.3, -0.2, 0.5],
  [0.1, 0.4, -0.6],
];

/** Calls `loss(labels, PRED)` (or `pred`) and returns the value, disposing every tensor. */
function call(loss: LipschitzLoss, labels: number[] | number[][], pred: number[][] = PRED): number {
  return tf.tidy(() => loss(tf.tensor(labels), tf.tensor2d(pred)).dataSync()[0] as number);
}

const ONE_HOT = 'one-hot labels (values 0/1 or -1/1, exactly one positive class per row)';
const SIGNS = 'labels in {0, 1} or {-1, 1}';

describe('label formats accepted', () => {
  it.each<[string, () => LipschitzLoss, Array<number[] | number[][]>]>([
    ['multiclassHKR', () => lip.losses.multiclassHKR(), [[[0, 0, 1], [1, 0, 0]], [[-1, -1, 1], [1, -1, -1]]]],
    ['multiclassHinge', () => lip.losses.multiclassHinge(), [[[0, 1, 0], [0, 0, 1]]]],
    ['multiMargin', () => lip.losses.multiMargin(), [[[0, 1, 0], [0, 0, 1]]]],
    ['categoricalHinge', () => lip.losses.categoricalHinge({ minMargin: 1 }), [[[0, 1, 0], [0, 0, 1]]]],
    ['multiclassSoftHKR', () => lip.losses.multiclassSoftHKR(), [[[0, 1, 0], [0, 0, 1]]]],
    ['multiclassKR (multilabel allowed)', () => lip.losses.multiclassKR(), [[[1, 1, 0], [0, 0, 1]]]],
    ['hkr (multilabel, both sign conventions)', () => lip.losses.hkr({ alpha: 5 }), [[[1, 0, 1], [0, 1, 0]], [[1, -1, 1], [-1, 1, -1]]]],
    ['tauCategoricalCrossentropy (one-hot and smoothed)', () => lip.losses.tauCategoricalCrossentropy({ tau: 5 }), [[[0, 1, 0], [0, 0, 1]], [[0.05, 0.9, 0.05], [0.1, 0.1, 0.8]]]],
    ['tauSparseCategoricalCrossentropy', () => lip.losses.tauSparseCategoricalCrossentropy({ tau: 5 }), [[2, 0], [[1], [2]]]],
  ])('%s', (_name, make, labelSets) => {
    const loss = make();
    for (const labels of labelSets) expect(Number.isFinite(call(loss, labels))).toBe(true);
  });
});

describe('bad labels are named', () => {
  it.each<[string, () => LipschitzLoss, number[] | number[][], string]>([
    ['NaN for multiclassHKR', () => lip.losses.multiclassHKR(), [[0, 0, 1], [NaN, 1, 0]], `multiclassHKR yTrue expected ${ONE_HOT}, but got NaN at row 1, column 0 of the batch.`],
    ['2 for multiclassHinge', () => lip.losses.multiclassHinge(), [[0, 2, 0], [0, 0, 1]], `multiclassHinge yTrue expected ${ONE_HOT}, but got 2 at row 0, column 1 of the batch.`],
    ['two classes in a row', () => lip.losses.multiclassHKR(), [[0, 1, 1], [0, 0, 1]], `multiclassHKR yTrue expected ${ONE_HOT}, but got 2 positive classes in row 0 of the batch.`],
    ['no class in a row', () => lip.losses.categoricalHinge({ minMargin: 1 }), [[0, 1, 0], [0, 0, 0]], `categoricalHinge yTrue expected ${ONE_HOT}, but got 0 positive classes in row 1 of the batch.`],
    ['a smoothed label for multiMargin', () => lip.losses.multiMargin(), [[0.1, 0.8, 0.1], [0, 0, 1]], `multiMargin yTrue expected ${ONE_HOT}, but got 0.10000000149011612 at row 0, column 0 of the batch.`],
    ['Infinity for multiclassSoftHKR', () => lip.losses.multiclassSoftHKR(), [[0, Infinity, 0], [0, 0, 1]], `multiclassSoftHKR yTrue expected ${ONE_HOT}, but got Infinity at row 0, column 1 of the batch.`],
    ['0.5 for hkr', () => lip.losses.hkr({ alpha: 5 }), [[1, 0, 0.5], [0, 1, 0]], `hkr yTrue expected ${SIGNS}, but got 0.5 at row 0, column 2 of the batch.`],
    ['NaN for kr', () => lip.losses.kr(), [[1, 0, 1], [0, NaN, 0]], `kr yTrue expected ${SIGNS}, but got NaN at row 1, column 1 of the batch.`],
    ['3 for tauBinaryCrossentropy', () => lip.losses.tauBinaryCrossentropy({ tau: 2 }), [[1, 0, 3], [0, 1, 0]], `tauBinaryCrossentropy yTrue expected ${SIGNS}, but got 3 at row 0, column 2 of the batch.`],
    ['-1 for tauCategoricalCrossentropy', () => lip.losses.tauCategoricalCrossentropy({ tau: 5 }), [[-1, 1, -1], [0, 0, 1]], 'tauCategoricalCrossentropy yTrue expected one-hot or probability labels (values in [0, 1], each row summing to 1), but got -1 at row 0, column 0 of the batch.'],
    ['a row not summing to 1', () => lip.losses.tauCategoricalCrossentropy({ tau: 5 }), [[0.5, 0.2, 0.2], [0, 0, 1]], 'tauCategoricalCrossentropy yTrue expected one-hot or probability labels (values in [0, 1], each row summing to 1), but got row 0 of the batch summing to 0.9000000059604645.'],
    ['class 3 of 3', () => lip.losses.tauSparseCategoricalCrossentropy({ tau: 5 }), [0, 3], 'tauSparseCategoricalCrossentropy yTrue expected integer class indices in [0, classes), but got 3 at row 1 of the batch (yPred has 3 classes).'],
    ['class 1.5', () => lip.losses.tauSparseCategoricalCrossentropy({ tau: 5 }), [1.5, 0], 'tauSparseCategoricalCrossentropy yTrue expected integer class indices in [0, classes), but got 1.5 at row 0 of the batch (yPred has 3 classes).'],
  ])('%s', (_name, make, labels, message) => {
    const loss = make();
    const before = tf.memory().numTensors;
    const error = thrown(() => call(loss, labels));
    expect(error).toBeInstanceOf(LipschitzConfigError);
    expect(error.message).toBe(message);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('checkLabels: false skips the value check (the old silent behaviour); it must be a boolean', () => {
    const loss = lip.losses.multiclassHKR({ checkLabels: false });
    expect(Number.isNaN(call(loss, [[0, 0, 1], [NaN, 1, 0]]))).toBe(false); // NaN > 0 is false: read as "not this class"
    expect(Number.isFinite(call(loss, [[0, 2, 0], [0, 0, 1]]))).toBe(true);
    expect(thrown(() => lip.losses.hkr({ alpha: 1, checkLabels: 'yes' } as never)).message).toBe("checkLabels expected a boolean, but got 'yes'.");
  });

  it('non-tensors and wrong sizes are named whatever checkLabels says', () => {
    const loss = lip.losses.multiclassHKR({ checkLabels: false });
    const pred = tf.tensor2d(PRED);
    expect(thrown(() => loss([[0, 1, 0]] as never, pred)).message).toBe('multiclassHKR yTrue expected a tf.Tensor of labels, but got [[0,1,0]].');
    expect(thrown(() => loss(pred, undefined as never)).message).toBe('multiclassHKR yPred expected a tf.Tensor of predictions, but got undefined.');
    const labels = tf.tensor2d([[0, 1], [1, 0]]);
    expect(thrown(() => loss(labels, pred)).message).toBe('multiclassHKR yTrue expected labels with the shape of yPred [2,3], but got a float32 tensor of shape [2,2].');
    const cube = tf.ones([2, 2, 2]);
    expect(thrown(() => loss(cube, cube)).message).toBe(
      'multiclassHKR yPred expected a tensor of rank 2 (batch, outputs) or 1 (batch), but got a float32 tensor of shape [2,2,2].',
    );
    tf.dispose(cube);
    const sparse = lip.losses.tauSparseCategoricalCrossentropy({ tau: 5 });
    expect(thrown(() => sparse(labels, pred)).message).toBe(
      'tauSparseCategoricalCrossentropy yTrue expected 2 class indices (one per sample of yPred [2,3]), but got a float32 tensor of shape [2,2].',
    );
    tf.dispose([pred, labels]);
  });
});

describe('inside model.fit', () => {
  it('a NaN label makes fit reject with the loss message before the step of its batch (leaking only what tfjs leaks on any error)', async () => {
    const model = lip.sequential({ layers: [lip.layers.spectralDense({ units: 3, inputShape: [4], name: 'out' })] });
    model.compile({ optimizer: tf.train.sgd(0.1), loss: lip.losses.multiclassHKR({ alpha: 10 }) });
    const x = tf.randomNormal([16, 4], 0, 1, 'float32', 3);
    const labels = Array.from({ length: 16 }, (_, i) => [0, 1, 2].map((c): number => (c === i % 3 ? 1 : 0)));
    const clean = tf.tensor2d(labels);
    await model.fit(x, clean, { epochs: 1, batchSize: 8, verbose: 0 });
    labels[11]![2] = NaN;
    const y = tf.tensor2d(labels);
    const trainable = () => model.trainableWeights.map((w) => Array.from(w.read().dataSync()));
    const seen: number[][][] = [];
    const spy = new (class extends tfl.Callback {
      override async onBatchEnd(): Promise<void> {
        seen.push(trainable());
      }
    })();
    const before = tf.memory().numTensors;
    await expect(model.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0, callbacks: [spy] })).rejects.toThrow(
      `multiclassHKR yTrue expected ${ONE_HOT}, but got NaN at row 3, column 2 of the batch.`,
    );
    // The gradient tape's saved tensors are freed by the loss before it throws (23 without); what
    // remains is tfjs-layers' fit's own: its epoch index tensor and its running loss total, freed
    // only when an epoch ends normally.
    expect(tf.memory().numTensors - before).toBeLessThanOrEqual(2);
    // The first batch (rows 0-7) trained; the second (rows 8-15) was refused before its optimizer
    // step: kernel and bias are those of the first batch (the forward pass of the refused batch
    // did advance the power-iteration state, as any training call does).
    expect(seen).toHaveLength(1);
    const after = trainable();
    expect(after).toEqual(seen[0]);
    expect(after.flat().every(Number.isFinite)).toBe(true);
    expect((model as unknown as { isTraining: boolean }).isTraining).toBe(false); // fit can run again
    tf.dispose([x, y, clean]);
    model.dispose();
  });

  it('one-hot labels train as before (the check adds no tensor)', async () => {
    const model = tfl.sequential({ layers: [lip.layers.spectralDense({ units: 3, inputShape: [4] }) as unknown as tfl.layers.Layer] });
    model.compile({ optimizer: tf.train.sgd(0.1), loss: lip.losses.multiclassHKR({ alpha: 10 }) });
    const x = tf.randomNormal([16, 4], 0, 1, 'float32', 4);
    const y = tf.oneHot(tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 3), 'int32'), 3);
    await model.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0 });
    const before = tf.memory().numTensors;
    const history = await model.fit(x, y, { epochs: 2, batchSize: 8, verbose: 0 });
    expect(history.history.loss?.every((l) => Number.isFinite(l as number))).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
    model.dispose();
  });
});
