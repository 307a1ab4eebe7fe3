/**
 * `lip.train.fit(model, x, y, args)`: `model.fit`'s training loop (tfjs-layers' `fit` /
 * `fitLoop`: same events in the same order, same log keys, a `History`, `model.stopTraining`
 * honoured after the batch and the epoch) plus what `model.fit` cannot express: penalties added
 * to the loss and logged under their names, adversarial batches, every weight constraint applied
 * after each step (`applyModelConstraints`), `onStep` schedules, and a stop at the first
 * non-finite loss that rejects with `NonFiniteLossError` (epoch and batch in the message).
 *
 * Logs: `loss` is the total that was minimized (mean loss + regularizer losses + penalties, as
 * `model.fit`'s includes the regularizers); each metric is on the batch as trained on; each
 * penalty's value under its `penaltyName`, with its `logs()` extras. Every batch's values are read
 * back once (one download of one small vector), so the batch logs hold numbers.
 *
 * Order within a batch: callbacks' `onBatchBegin`; the attack (if any); the step; the constraints;
 * the penalties' `onBatchEnd`; at the last batch of the epoch the validation (`model.evaluate`);
 * the NaN check; `onStep(step, logs)`; callbacks' `onBatchEnd`. At the epoch end: the averaged
 * logs, the penalties' `onEpochEnd`, callbacks' `onEpochEnd`. The weight update itself is
 * `optimizer.minimize(loss, true, trainable variables)`, exactly `model.fit`'s (which is
 * `variableGrads` + `applyGradients`), so a plain model trains identically.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { applyModelConstraints } from '../callbacks/apply_constraints';
import { NonFiniteLossError } from '../callbacks/terminate_on_nan';
import { configError, LipschitzConfigError } from '../core/errors';
import { resolveFitArgs, type ResolvedFitArgs, type TrainFitArgs } from './args';
import { configureCallbacks } from './callbacks';
import { trainStep, type StepPlan, type StepResult } from './step';
import type { Penalty, PerSampleLoss, TrainingLoss } from './types';

/** The state of one `fit` call. */
interface Loop {
  model: tfl.LayersModel;
  /** The model holding the training state: a `Sequential`'s inner model (as `model.fit` uses it). */
  engine: tfl.LayersModel;
  opts: ResolvedFitArgs;
  plan: StepPlan;
  list: tfl.CallbackList;
  x: tf.Tensor;
  y: tf.Tensor;
  val: [tf.Tensor, tf.Tensor] | null;
  /** `model.metricsNames`, deduplicated as `model.fit` does (`loss`, then the metrics). */
  metricNames: string[];
  /** Log keys of the stacked step values: the metric names, then the penalty names. */
  labels: string[];
  samples: number;
  step: number;
  stopped: NonFiniteLossError | null;
}

/** `model.metricsNames` with repeated names numbered (`acc`, `acc_1`), as `model.fit` logs them. */
function dedupedNames(names: string[]): string[] {
  return names.map((name, i) => {
    const before = names.slice(0, i).filter((n) => n === name).length;
    return names.filter((n) => n === name).length > 1 ? `${name}_${before}` : name;
  });
}

/** The model holding the compiled state: a `Sequential` delegates compile and fit to an inner model. */
function engineOf(model: tfl.LayersModel): tfl.LayersModel {
  const inner = model instanceof tfl.Sequential ? (model as unknown as { model?: unknown }).model : undefined;
  return inner instanceof tfl.LayersModel ? inner : model;
}

/** The compiled loss and metrics of `model`; throws unless compiled with one input and output. */
function compiledParts(model: tfl.LayersModel): { lossFn: PerSampleLoss; metrics: PerSampleLoss[]; names: string[] } {
  if (!(model instanceof tfl.LayersModel)) configError('model', 'a tfjs LayersModel', model);
  const engine = engineOf(model);
  const lossFn = engine.lossFunctions?.[0];
  if (engine.optimizer == null || lossFn === undefined) {
    throw new LipschitzConfigError(`lip.train.fit: model '${model.name}' must be compiled first (model.compile({optimizer, loss})).`);
  }
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new LipschitzConfigError(
      `lip.train.fit supports models with one input and one output, but model '${model.name}' has ` +
        `${model.inputs.length} inputs and ${model.outputs.length} outputs.`,
    );
  }
  return { lossFn, metrics: engine.metricsTensors.map(([fn]) => fn), names: dedupedNames(engine.metricsNames) };
}

function checkData(name: string, x: unknown, y: unknown): void {
  if (!(x instanceof tf.Tensor)) configError(`${name} x`, 'a tensor', x);
  if (!(y instanceof tf.Tensor)) configError(`${name} y`, 'a tensor', y);
  if (x.rank === 0 || y.rank === 0 || x.shape[0] !== y.shape[0] || x.shape[0] === 0) {
    throw new LipschitzConfigError(
      `${name} x and y expected the same number (> 0) of samples, but got shapes ${JSON.stringify(x.shape)} and ${JSON.stringify(y.shape)}.`,
    );
  }
}

/** Training and validation tensors; `owned` are those made here (disposed when fit ends). */
function splitData(x: tf.Tensor, y: tf.Tensor, opts: ResolvedFitArgs): { x: tf.Tensor; y: tf.Tensor; val: [tf.Tensor, tf.Tensor] | null; owned: tf.Tensor[] } {
  if (opts.validationData !== null) {
    checkData('validationData', opts.validationData[0], opts.validationData[1]);
    return { x, y, val: opts.validationData, owned: [] };
  }
  if (opts.validationSplit === 0) return { x, y, val: null, owned: [] };
  const n = x.shape[0];
  const at = Math.floor(n * (1 - opts.validationSplit));
  if (at === 0 || at === n) {
    configError('validationSplit', `a fraction leaving samples on both sides of the ${n} samples`, opts.validationSplit);
  }
  const owned = [tf.slice(x, 0, at), tf.slice(y, 0, at), tf.slice(x, at), tf.slice(y, at)] as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
  return { x: owned[0], y: owned[1], val: [owned[2], owned[3]], owned };
}

/** `val_<name>` logs from `model.evaluate` (what `model.fit` computes: no regularizer, no penalty). */
async function validate(loop: Loop, logs: tfl.Logs): Promise<void> {
  if (loop.val === null) return;
  const out = loop.model.evaluate(loop.val[0], loop.val[1], { batchSize: loop.opts.batchSize });
  const scalars = Array.isArray(out) ? out : [out];
  try {
    const values = await Promise.all(scalars.map((s) => s.data()));
    loop.metricNames.forEach((name, i) => (logs[`val_${name}`] = values[i]![0]!));
  } finally {
    tf.dispose(scalars);
  }
}

/** The objects with penalty hooks: the training loss (if any) and the penalties. */
function hooked(opts: ResolvedFitArgs): (Penalty | TrainingLoss)[] {
  return opts.loss === null ? opts.penalties : [opts.loss, ...opts.penalties];
}

/** One step on the samples `order[start, end)`: the values `[loss, metrics, penalties]`. */
async function runStep(loop: Loop, epoch: number, batch: number, order: tf.Tensor1D, start: number, end: number, indices: number[]): Promise<number[]> {
  const [xb, yb] = tf.tidy(() => {
    const ids = tf.slice(order, start, end - start);
    return [tf.gather(loop.x, ids), tf.gather(loop.y, ids)];
  }) as [tf.Tensor, tf.Tensor];
  let result: StepResult | null = null;
  try {
    const batches = Math.ceil(loop.samples / loop.opts.batchSize);
    result = trainStep(loop.plan, xb, yb, { epoch, batch, batches, indices: Int32Array.from(indices.slice(start, end)) });
    if (loop.opts.applyConstraints) applyModelConstraints(loop.model);
    const values = Array.from(await result.values.data());
    loop.step += 1;
    for (const penalty of hooked(loop.opts)) {
      const ctx = { model: loop.model, x: result.x, y: result.y, yPred: result.yPred!, epoch, batch, step: loop.step };
      if (penalty.onBatchEnd !== undefined) await penalty.onBatchEnd(ctx);
    }
    return values;
  } finally {
    tf.dispose([xb, yb]);
    if (result !== null) tf.dispose([result.values, result.x, result.y, ...(result.yPred === null ? [] : [result.yPred])]);
  }
}

/** Each penalty's `logs()` extras, written into `logs`. */
function penaltyExtras(loop: Loop, logs: tfl.Logs): void {
  for (const penalty of hooked(loop.opts)) Object.assign(logs, penalty.logs?.() ?? {});
}

/** The batch logs, the NaN check, `onStep`; returns the logs for the callbacks. */
async function afterStep(loop: Loop, epoch: number, batch: number, size: number, values: number[]): Promise<tfl.Logs> {
  const logs: tfl.Logs = { batch, size };
  loop.labels.forEach((label, i) => (logs[label] = values[i]!));
  penaltyExtras(loop, logs);
  const loss = values[0]!;
  if (loop.opts.terminateOnNaN && !Number.isFinite(loss) && loop.stopped === null) {
    const batches = Math.ceil(loop.samples / loop.opts.batchSize);
    loop.stopped = new NonFiniteLossError(epoch, batch, loss, { epochs: loop.opts.epochs, batches });
    loop.engine.stopTraining = true;
  }
  if (loop.opts.onStep !== null) await loop.opts.onStep!(loop.step, { ...(logs as Record<string, number>) });
  return logs;
}

/** One epoch: its batches, the validation at its last batch, the averaged epoch logs. */
async function runEpoch(loop: Loop, epoch: number, indices: number[]): Promise<tfl.Logs> {
  const { batchSize, shuffle } = loop.opts;
  if (shuffle) tf.util.shuffle(indices);
  const order = tf.tensor1d(indices, 'int32');
  const epochLogs: tfl.Logs = {};
  const totals = loop.labels.map(() => 0);
  let seen = 0;
  try {
    const batches = Math.ceil(loop.samples / batchSize);
    for (let batch = 0; batch < batches; batch++) {
      const start = batch * batchSize;
      const end = Math.min(start + batchSize, loop.samples);
      const batchLogs: tfl.Logs = {};
      await loop.list.onBatchBegin(batch, batchLogs);
      const values = await runStep(loop, epoch, batch, order, start, end, indices);
      values.forEach((v, i) => (totals[i]! += v * (end - start)));
      seen += end - start;
      if (batch === batches - 1) await validate(loop, epochLogs);
      Object.assign(batchLogs, await afterStep(loop, epoch, batch, end - start, values));
      await loop.list.onBatchEnd(batch, batchLogs);
      if (loop.engine.stopTraining) break;
    }
  } finally {
    order.dispose();
  }
  loop.labels.forEach((label, i) => (epochLogs[label] = totals[i]! / seen));
  penaltyExtras(loop, epochLogs);
  for (const penalty of hooked(loop.opts)) await penalty.onEpochEnd?.(epoch, epochLogs as Record<string, number>);
  return epochLogs;
}

async function trainLoop(loop: Loop): Promise<tfl.History> {
  const { model, engine, opts } = loop;
  const { list, history } = configureCallbacks(engine, opts.callbacks, opts.yieldEvery, {
    epochs: opts.epochs,
    initialEpoch: opts.initialEpoch,
    samples: loop.samples,
    batchSize: opts.batchSize,
    verbose: opts.verbose,
    doValidation: loop.val !== null,
    metrics: [...loop.labels, ...(loop.val === null ? [] : loop.metricNames.map((n) => `val_${n}`))],
  });
  loop.list = list;
  for (const penalty of hooked(opts)) await penalty.onTrainBegin?.(model);
  await list.onTrainBegin();
  engine.stopTraining = false;
  const indices = Array.from({ length: loop.samples }, (_, i) => i);
  for (let epoch = opts.initialEpoch; epoch < opts.epochs; epoch++) {
    await list.onEpochBegin(epoch);
    const epochLogs = await runEpoch(loop, epoch, indices);
    await list.onEpochEnd(epoch, epochLogs);
    if (engine.stopTraining) break;
  }
  await list.onTrainEnd();
  await history.syncData();
  if (loop.stopped !== null) throw loop.stopped;
  return history;
}

/**
 * Trains `model` (compiled, one input and one output) on `x`, `y` like `model.fit(x, y, args)`,
 * with penalties, adversarial batches, constraints after every step and step schedules (see
 * {@link TrainFitArgs}). Resolves to the `History`; rejects with `NonFiniteLossError` when a batch
 * loss is NaN or infinite (after `onTrainEnd`, the weights then being those after that batch).
 */
export async function fit(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor, args: TrainFitArgs = {}): Promise<tfl.History> {
  const { lossFn, metrics, names } = compiledParts(model);
  const opts = resolveFitArgs(args, ['batch', 'size', ...names]);
  checkData('lip.train.fit', x, y);
  const engine = engineOf(model);
  const guard = engine as unknown as { isTraining: boolean };
  if (guard.isTraining) throw new Error('Cannot start training because another fit() call is ongoing.');
  const data = splitData(x, y, opts);
  guard.isTraining = true;
  try {
    const plan: StepPlan = {
      model,
      lossFn,
      metrics,
      penalties: opts.penalties,
      trainingLoss: opts.loss,
      adversarial: opts.adversarial,
      keepOutput: hooked(opts).some((p) => p.onBatchEnd !== undefined),
    };
    const labels = [...names, ...opts.penalties.map((p) => p.penaltyName)];
    const loop: Loop = { model, engine, opts, plan, list: null!, x: data.x, y: data.y, val: data.val, metricNames: names, labels, samples: data.x.shape[0], step: 0, stopped: null };
    return await trainLoop(loop);
  } finally {
    guard.isTraining = false;
    tf.dispose(data.owned);
    // The training loss keeps its per-sample vectors for the next fit: its owner disposes it.
    for (const penalty of opts.penalties) penalty.dispose?.();
  }
}
