/**
 * `lip.train.fit` against independent oracles: `model.fit` itself (same losses, metrics, events,
 * log keys, validation, stopTraining), analytic SGD updates (a penalty's gradient), training on
 * shifted data (a constant-shift attack), `model.evaluate` (validationSplit), and the contracts
 * (NaN stop, constraints after each step, onStep numbering, no tensor leak, argument errors).
 * The test penalties and attacks are tiny ones written here to the contracts of src/train/types.ts
 * and src/attacks/types.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as lip from '../src';
import { NonFiniteLossError } from '../src/callbacks/terminate_on_nan';
import { LipschitzConfigError } from '../src/core/errors';
import type { Attack } from '../src/attacks/types';
import type { Penalty, PenaltyContext, PenaltyStepContext } from '../src/train/types';
import { lcg } from './helpers/random';

const N = 64;
const FEATURES = 6;
const CLASSES = 3;

/** Deterministic data: `n` samples, one-hot labels of a linear rule. */
function dataset(n = N, seed = 3): { x: tf.Tensor2D; y: tf.Tensor2D } {
  const r = lcg(seed);
  const xs = Array.from({ length: n }, () => Array.from({ length: FEATURES }, () => r()));
  const labels = xs.map((row) => (row[0]! + row[1]! > 0.3 ? 0 : row[2]! > 0 ? 1 : 2));
  return { x: tf.tensor2d(xs), y: tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), CLASSES), 'float32')) as tf.Tensor2D };
}

type Maker = () => tfl.LayersModel;

const plainMlp: Maker = () =>
  tfl.sequential({
    layers: [
      tfl.layers.dense({ units: 8, activation: 'relu', inputShape: [FEATURES], kernelRegularizer: tfl.regularizers.l2({ l2: 1e-3 }) }),
      tfl.layers.dense({ units: CLASSES, activation: 'softmax' }),
    ],
  });

const lipMlp: Maker = () =>
  lip.sequential({
    layers: [
      lip.layers.spectralDense({ units: 8, inputShape: [FEATURES] }),
      lip.activations.groupSort2(),
      lip.layers.spectralDense({ units: CLASSES }),
    ],
  });

/** Two compiled copies of one model with identical weights (state weights included), SGD. */
function twins(make: Maker, lr = 0.1, loss: tfl.ModelCompileArgs['loss'] = 'categoricalCrossentropy'): [tfl.LayersModel, tfl.LayersModel] {
  const a = make();
  const b = make();
  b.setWeights(a.getWeights());
  for (const m of [a, b]) m.compile({ optimizer: tf.train.sgd(lr), loss, metrics: ['accuracy'] });
  return [a, b];
}

interface Event {
  name: string;
  index?: number;
  keys: string[];
}

/** CustomCallbackArgs recording every event with the log keys present when it fires. */
function recorder(events: Event[], extra: (name: string, index: number | undefined) => void = () => undefined): tfl.CustomCallbackArgs {
  const rec = (name: string) => async (a?: unknown, b?: unknown) => {
    const index = typeof a === 'number' ? a : undefined;
    const logs = (typeof a === 'number' ? b : a) as Record<string, unknown> | undefined;
    events.push({ name, index, keys: Object.keys(logs ?? {}) });
    extra(name, index);
  };
  return {
    onTrainBegin: rec('trainBegin'),
    onEpochBegin: rec('epochBegin'),
    onBatchBegin: rec('batchBegin'),
    onBatchEnd: rec('batchEnd'),
    onEpochEnd: rec('epochEnd'),
    onTrainEnd: rec('trainEnd'),
  };
}

function expectClose(actual: number[], expected: number[], tol: number): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((v, i) => expect(Math.abs(v - expected[i]!)).toBeLessThanOrEqual(tol));
}

function maxWeightGap(a: tfl.LayersModel, b: tfl.LayersModel): number {
  const wa = a.getWeights().map((w) => Array.from(w.dataSync()));
  const wb = b.getWeights().map((w) => Array.from(w.dataSync()));
  return Math.max(...wa.flatMap((w, i) => w.map((v, j) => Math.abs(v - wb[i]![j]!))));
}

/** An L2 weight penalty lambda * sum ||W||^2 over the kernels, with hooks that record their calls. */
function l2Penalty(lambda: number, calls: string[] = []): Penalty {
  const penalty = ((ctx: PenaltyContext) =>
    tf.tidy(() => {
      const kernels = ctx.model.trainableWeights.filter((w) => w.name.includes('kernel')).map((w) => tf.sum(tf.square(w.read())));
      return tf.mul(tf.addN(kernels), lambda) as tf.Scalar;
    })) as Penalty & { [k: string]: unknown };
  Object.assign(penalty, {
    penaltyName: 'l2w',
    onTrainBegin: () => void calls.push('trainBegin'),
    onBatchEnd: (ctx: PenaltyStepContext) => void calls.push(`batchEnd ${ctx.epoch}/${ctx.batch}/${ctx.step} ${ctx.yPred.shape.join('x')} ${ctx.x.shape[0]}`),
    onEpochEnd: (epoch: number, logs: Record<string, number>) => void calls.push(`epochEnd ${epoch} ${Object.keys(logs).join(',')}`),
    logs: () => ({ l2w_lambda: lambda }),
    dispose: () => void calls.push('dispose'),
    config: () => ({ lambda }),
  });
  return penalty;
}

/** An attack adding `shift` to every input (gradient-free, so trivially checkable). */
function shiftAttack(shift: number): Attack {
  const attack = ((_model: unknown, x: tf.Tensor) => tf.add(x, shift)) as unknown as Attack & { [k: string]: unknown };
  Object.assign(attack, { attackName: 'shift', config: () => ({ shift }) });
  return attack;
}

describe('lip.train.fit reproduces model.fit', () => {
  it.each([
    ['a plain tfjs MLP with an L2 kernel regularizer, categorical cross-entropy', plainMlp, () => 'categoricalCrossentropy'],
    ['a tfjs-lip MLP (spectralDense + groupSort2), lip.losses.tauCategoricalCrossentropy', lipMlp, () => lip.losses.tauCategoricalCrossentropy({ tau: 8 })],
  ])('%s: losses, accuracies, validation, events and log keys, final weights', async (_name, make, loss) => {
    const { x, y } = dataset();
    const val = dataset(20, 9);
    const [a, b] = twins(make, 0.5, loss() as tfl.ModelCompileArgs['loss']);
    const eventsFit: Event[] = [];
    const eventsLip: Event[] = [];
    const common = { epochs: 25, batchSize: 16, shuffle: false, verbose: 0 as const, validationData: [val.x, val.y] as [tf.Tensor, tf.Tensor] };
    const h1 = await a.fit(x, y, { ...common, callbacks: recorder(eventsFit) });
    const h2 = await lip.train.fit(b, x, y, { ...common, callbacks: recorder(eventsLip) });
    expect(eventsLip).toEqual(eventsFit);
    expect(Object.keys(h2.history)).toEqual(Object.keys(h1.history));
    expect(h2.epoch).toEqual(h1.epoch);
    for (const key of Object.keys(h1.history)) expectClose(h2.history[key] as number[], h1.history[key] as number[], 1e-5);
    expect(maxWeightGap(a, b)).toBeLessThan(1e-5);
    // The classifier actually learnt (the same accuracy as model.fit, and better than chance).
    expect((h2.history['acc'] as number[]).at(-1)).toBeGreaterThan(0.9);
    expect((h2.history['val_acc'] as number[]).at(-1)).toBeGreaterThan(0.8);
    tf.dispose([x, y, val.x, val.y]);
    a.dispose();
    b.dispose();
  });

  it('validationSplit: the last samples are held out; val_loss equals model.evaluate on them and model.fit', async () => {
    const { x, y } = dataset();
    const [a, b] = twins(plainMlp);
    const args = { epochs: 2, batchSize: 10, shuffle: false, verbose: 0 as const, validationSplit: 0.25 };
    const h1 = await a.fit(x, y, args);
    const h2 = await lip.train.fit(b, x, y, args);
    const at = Math.floor(N * 0.75);
    const evaluated = b.evaluate(tf.slice(x, at), tf.slice(y, at)) as tf.Scalar[];
    const [valLoss, valAcc] = evaluated.map((s) => s.dataSync()[0]!);
    expect(Math.abs((h2.history['val_loss'] as number[])[1]! - valLoss!)).toBeLessThan(1e-6);
    expect(Math.abs((h2.history['val_acc'] as number[])[1]! - valAcc!)).toBeLessThan(1e-6);
    for (const key of Object.keys(h1.history)) expectClose(h2.history[key] as number[], h1.history[key] as number[], 1e-5);
    tf.dispose([x, y, ...evaluated]);
  });

  it('honours model.stopTraining set by a callback, with the same events as model.fit', async () => {
    const { x, y } = dataset();
    const [a, b] = twins(plainMlp);
    const run = async (m: tfl.LayersModel, train: (cb: tfl.CustomCallbackArgs) => Promise<unknown>) => {
      const events: Event[] = [];
      await train(recorder(events, (name, index) => {
        if (name === 'batchEnd' && index === 1) m.stopTraining = true;
      }));
      return events;
    };
    const common = { epochs: 3, batchSize: 16, shuffle: false, verbose: 0 as const };
    const fitEvents = await run(a, (cb) => a.fit(x, y, { ...common, callbacks: cb }));
    const lipEvents = await run(b, (cb) => lip.train.fit(b, x, y, { ...common, callbacks: cb }));
    expect(lipEvents).toEqual(fitEvents);
    expect(lipEvents.filter((e) => e.name === 'batchEnd')).toHaveLength(2);
    expect(maxWeightGap(a, b)).toBeLessThan(1e-6);
    tf.dispose([x, y]);
  });

  it('accepts tfjs Callback objects (earlyStopping on val_loss) and shuffles by default', async () => {
    const { x, y } = dataset();
    const [, b] = twins(plainMlp, 0);
    const h = await lip.train.fit(b, x, y, {
      epochs: 20,
      verbose: 0,
      validationSplit: 0.2,
      callbacks: [tfl.callbacks.earlyStopping({ monitor: 'val_loss', patience: 1 })],
    });
    // Learning rate 0: val_loss never improves, so early stopping ends training after 2 epochs.
    expect(h.epoch).toEqual([0, 1]);
    tf.dispose([x, y]);
  });
});

describe('lip.train.fit hooks', () => {
  /** A linear model y = x W (no bias), mean squared error, SGD. */
  function linear(w: number[][], lr: number): tfl.LayersModel {
    const m = tfl.sequential({ layers: [tfl.layers.dense({ units: 1, useBias: false, inputShape: [w.length] })] });
    m.setWeights([tf.tensor2d(w)]);
    m.compile({ optimizer: tf.train.sgd(lr), loss: 'meanSquaredError' });
    return m;
  }

  it('a penalty lambda ||W||^2 adds 2 lambda W to the gradient: the SGD update equals the analytic one', async () => {
    const X = [[1, 2], [0.5, -1], [-1, 0.25], [2, 1]];
    const Y = [1, -0.5, 0.25, 2];
    const W = [0.3, -0.2];
    const lr = 0.05;
    const lambda = 0.7;
    const m = linear(W.map((v) => [v]), lr);
    const calls: string[] = [];
    const h = await lip.train.fit(m, tf.tensor2d(X), tf.tensor2d(Y.map((v) => [v])), { batchSize: 4, verbose: 0, penalties: [l2Penalty(lambda, calls)] });
    // Analytic gradient of mean((XW - Y)^2) + lambda ||W||^2, in float64.
    const residual = X.map((row, i) => row[0]! * W[0]! + row[1]! * W[1]! - Y[i]!);
    const grad = W.map((w, j) => (2 / X.length) * X.reduce((s, row, i) => s + row[j]! * residual[i]!, 0) + 2 * lambda * w);
    const expected = W.map((w, j) => w - lr * grad[j]!);
    expectClose(Array.from(m.getWeights()[0]!.dataSync()), expected, 1e-6);
    // Logged: the penalty's value before the step, the total loss, the extras; hooks in order.
    const penaltyValue = lambda * (W[0]! ** 2 + W[1]! ** 2);
    const mse = residual.reduce((s, r) => s + r * r, 0) / X.length;
    expectClose(h.history['l2w'] as number[], [penaltyValue], 1e-6);
    expectClose(h.history['loss'] as number[], [mse + penaltyValue], 1e-5);
    expect(h.history['l2w_lambda']).toEqual([lambda]);
    expect(calls).toEqual(['trainBegin', 'batchEnd 0/0/1 4x1 4', 'epochEnd 0 loss,l2w,l2w_lambda', 'dispose']);
  });

  it('adversarial weight 1 with a constant-shift attack equals training on the shifted data', async () => {
    const { x, y } = dataset();
    const [a, b] = twins(plainMlp);
    const shifted = tf.add(x, 0.5);
    const common = { epochs: 2, batchSize: 16, shuffle: false, verbose: 0 as const };
    const h1 = await a.fit(shifted, y, common);
    const h2 = await lip.train.fit(b, x, y, { ...common, adversarial: { attack: shiftAttack(0.5) } });
    expectClose(h2.history['loss'] as number[], h1.history['loss'] as number[], 1e-5);
    expect(maxWeightGap(a, b)).toBeLessThan(1e-5);
    tf.dispose([x, y, shifted]);
  });

  it('adversarial weight 0.5 equals training on each batch and its shift concatenated', async () => {
    const { x, y } = dataset(16);
    const [a, b] = twins(plainMlp);
    const both = tf.concat([x, tf.add(x, 0.5)]);
    const yy = tf.concat([y, y]);
    const h1 = await a.fit(both, yy, { epochs: 2, batchSize: 32, shuffle: false, verbose: 0 });
    const h2 = await lip.train.fit(b, x, y, { epochs: 2, batchSize: 16, shuffle: false, verbose: 0, adversarial: { attack: shiftAttack(0.5), weight: 0.5 } });
    expectClose(h2.history['loss'] as number[], h1.history['loss'] as number[], 1e-5);
    expect(maxWeightGap(a, b)).toBeLessThan(1e-5);
    tf.dispose([x, y, both, yy]);
  });

  it('applies every kernel constraint after each step (weightClip), and not with applyConstraints: false', async () => {
    const { x, y } = dataset();
    const make = () => {
      const m = tfl.sequential({ layers: [tfl.layers.dense({ units: CLASSES, inputShape: [FEATURES], kernelConstraint: lip.constraints.weightClip({ cValue: 0.01 }) })] });
      m.compile({ optimizer: tf.train.sgd(1), loss: 'meanSquaredError' });
      return m;
    };
    const maxAbsKernel = (m: tfl.LayersModel) => Math.max(...Array.from(m.getWeights()[0]!.dataSync()).map(Math.abs));
    const clipped = make();
    await lip.train.fit(clipped, x, y, { epochs: 2, verbose: 0 });
    expect(maxAbsKernel(clipped)).toBeLessThanOrEqual(0.01 + 1e-7);
    const free = make();
    await lip.train.fit(free, x, y, { epochs: 2, verbose: 0, applyConstraints: false });
    expect(maxAbsKernel(free)).toBeGreaterThan(0.05);
    tf.dispose([x, y]);
  });

  it('calls onStep after every step with 1..N and the batch logs; a schedule takes effect', async () => {
    const { x, y } = dataset();
    const [, b] = twins(plainMlp);
    const steps: number[] = [];
    const keys: string[][] = [];
    const optimizer = b.optimizer as tf.SGDOptimizer;
    await lip.train.fit(b, x, y, {
      epochs: 2,
      batchSize: 20,
      verbose: 0,
      onStep: (step, logs) => {
        steps.push(step);
        keys.push(Object.keys(logs));
        optimizer.setLearningRate(0.1 / (1 + step));
      },
    });
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    keys.forEach((k) => expect(k).toEqual(['batch', 'size', 'loss', 'acc']));
    expect((optimizer as unknown as { learningRate: number }).learningRate).toBeCloseTo(0.1 / 9, 10);
    tf.dispose([x, y]);
  });

  it('stops at the first NaN loss and rejects with an error naming the epoch and the batch, leaking nothing', async () => {
    const { x, y } = dataset();
    // A NaN label in sample 40 (batch 3 of 4): the loss is NaN there on every backend.
    const bad = tf.tidy(() => tf.concat([tf.slice(y, 0, 40), tf.fill([1, CLASSES], NaN), tf.slice(y, 41)]));
    const [, b] = twins(plainMlp);
    await lip.train.fit(b, x, y, { epochs: 1, verbose: 0 }); // warm-up (optimizer state, if any)
    const before = tf.memory().numTensors;
    const events: Event[] = [];
    const error = await lip.train.fit(b, x, bad, { epochs: 3, batchSize: 16, shuffle: false, verbose: 0, callbacks: recorder(events) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NonFiniteLossError);
    expect((error as Error).message).toMatch(/epoch 1\/3, batch 3\/4/);
    expect([(error as NonFiniteLossError).epoch, (error as NonFiniteLossError).batch]).toEqual([0, 2]);
    expect(events.filter((e) => e.name === 'batchEnd')).toHaveLength(3);
    expect(events.at(-1)!.name).toBe('trainEnd');
    expect(tf.memory().numTensors).toBe(before);
    // terminateOnNaN: false runs to the end and resolves.
    const h = await lip.train.fit(b, x, bad, { epochs: 2, batchSize: 16, shuffle: false, verbose: 0, terminateOnNaN: false });
    expect(Number.isNaN((h.history['loss'] as number[])[1])).toBe(true);
    tf.dispose([x, y, bad]);
  });

  it('leaks no tensor across epochs and calls (penalty, adversarial, validation, shuffle)', async () => {
    const { x, y } = dataset();
    const [, b] = twins(lipMlp);
    const b2 = b;
    b2.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const args = () => ({ epochs: 2, batchSize: 16, verbose: 0 as const, validationSplit: 0.2, penalties: [l2Penalty(1e-3)], adversarial: { attack: shiftAttack(0.1), weight: 0.5 } });
    await lip.train.fit(b2, x, y, args());
    const before = tf.memory().numTensors;
    await lip.train.fit(b2, x, y, args());
    await lip.train.fit(b2, x, y, { ...args(), epochs: 4 });
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
  });

  it('verbose 1 prints one summary line per epoch (or a progress bar in a terminal)', async () => {
    const { x, y } = dataset();
    const [, b] = twins(plainMlp);
    const printed: string[] = [];
    const log = jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void printed.push(a.join(' ')));
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => (printed.push(String(s)), true));
    try {
      await lip.train.fit(b, x, y, { epochs: 2, verbose: 1 });
    } finally {
      log.mockRestore();
      write.mockRestore();
    }
    const lines = printed.join('\n');
    expect(lines).toMatch(/Epoch 1\/2 - [\d.]+s - loss=[\d.]+ acc=[\d.]+/);
    expect(lines).toMatch(/Epoch 2\/2/);
    tf.dispose([x, y]);
  });
});

describe('lip.train.fit argument errors', () => {
  let x: tf.Tensor;
  let y: tf.Tensor;
  let model: tfl.LayersModel;
  beforeAll(() => {
    ({ x, y } = dataset(8));
    model = plainMlp();
    model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  });
  afterAll(() => tf.dispose([x, y]));

  it.each([
    [{ epoch: 2 }, /unknown option 'epoch' \(did you mean 'epochs'\?\)/],
    [{ batchSize: 0 }, /batchSize expected a positive integer, but got 0/],
    [{ epochs: 1.5 }, /epochs expected a positive integer, but got 1.5/],
    [{ verbose: 2 }, /verbose expected 0 or 1, but got 2/],
    [{ shuffle: 'yes' }, /shuffle expected a boolean, but got 'yes'/],
    [{ validationSplit: 1 }, /validationSplit expected a number in \[0, 1\), but got 1/],
    [{ classWeight: { 0: 2 } }, /class weights are not supported.*classWeight/],
    [{ penalties: [() => tf.scalar(0)] }, /penalties\[0\] expected a penalty made by lip.penalties/],
    [{ penalties: [l2Penalty(1), l2Penalty(2)] }, /penalties\[1\].penaltyName expected a log key not used.*'l2w'/],
    [{ adversarial: { attack: shiftAttack(1), weight: 0 } }, /adversarial.weight expected a number in \(0, 1\], but got 0/],
    [{ adversarial: { attack: 'fgsm' } }, /adversarial.attack expected an attack made by lip.attacks/],
    [{ onStep: 3 }, /onStep expected a function/],
    [{ callbacks: [{ onEpochEnds: () => undefined }] }, /callbacks\[0\]: unknown option 'onEpochEnds' \(did you mean 'onEpochEnd'\?\)/],
    [{ validationData: [null] }, /validationData expected a pair \[x, y\] of tensors/],
  ])('%j', async (args, message) => {
    const error = await lip.train.fit(model, x, y, args as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LipschitzConfigError);
    expect((error as Error).message).toMatch(message);
  });

  it('refuses an uncompiled model, mismatched x/y and a model with two inputs', async () => {
    const raw = plainMlp();
    await expect(lip.train.fit(raw, x, y)).rejects.toThrow(/must be compiled first/);
    await expect(lip.train.fit(model, x, tf.slice(y, 0, 4))).rejects.toThrow(/same number \(> 0\) of samples, but got shapes \[8,6\] and \[4,3\]/);
    const i1 = tfl.input({ shape: [2] });
    const i2 = tfl.input({ shape: [2] });
    const two = tfl.model({ inputs: [i1, i2], outputs: tfl.layers.dense({ units: 1 }).apply(tfl.layers.concatenate().apply([i1, i2])) as tfl.SymbolicTensor });
    two.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    await expect(lip.train.fit(two, x, y)).rejects.toThrow(/one input and one output.*2 inputs/);
  });
});
