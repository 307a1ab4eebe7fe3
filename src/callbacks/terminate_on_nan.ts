/**
 * `lip.callbacks.terminateOnNaN()`: stops `model.fit` at the first batch whose loss is NaN or
 * infinite, and makes `fit` reject with an error naming the epoch and the batch (Keras'
 * `TerminateOnNaN` only stops, silently for whoever does not read the logs).
 *
 * Why fit rejects at the end of training rather than from the batch itself: tfjs-layers frees a
 * batch's logs, the epoch's index tensor and its `History` only when the callbacks return
 * normally, so an exception thrown from `onBatchEnd` leaks them. The callback therefore sets
 * `model.stopTraining` (no further batch or epoch runs, hence no further weight update), lets fit
 * wind down, syncs the model's `History` (which frees its tensors) and throws from `onTrainEnd`.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { checkBoolean, checkKnownKeys, optionNames } from '../core/validation';

/** Options of `terminateOnNaN`. */
export interface TerminateOnNaNArgs {
  /**
   * `true` (default): `fit` rejects with a `NonFiniteLossError` once stopped. `false`: `fit`
   * resolves as usual (its history ends with the bad loss) after a `console.warn` of the message.
   */
  throwError?: boolean;
}

const TERMINATE_ON_NAN_OPTIONS = optionNames<TerminateOnNaNArgs>({ throwError: true });

/** The error `fit` rejects with when `terminateOnNaN` stopped it. */
export class NonFiniteLossError extends Error {
  /** Epoch of the bad batch, 0-based as in the callbacks (the message counts from 1). */
  readonly epoch: number;
  /** Batch of the bad loss within its epoch, 0-based (the message counts from 1). */
  readonly batch: number;
  /** The loss value: NaN, Infinity or -Infinity. */
  readonly loss: number;

  constructor(epoch: number, batch: number, loss: number, of: { epochs?: number; batches?: number }) {
    const epochText = `epoch ${epoch + 1}${of.epochs === undefined ? '' : `/${of.epochs}`}`;
    const batchText = `batch ${batch + 1}${of.batches === undefined ? '' : `/${of.batches}`}`;
    super(
      `Training stopped: the loss is ${loss} at ${epochText}, ${batchText}. Check the inputs and the labels for ` +
        'NaN/Infinity (one NaN pixel makes every weight NaN in a single step), or lower the learning rate. This ' +
        'batch has already updated the weights, which are likely non-finite now: rebuild or reload the model ' +
        'before certifying, exporting or saving it.',
    );
    this.name = 'NonFiniteLossError';
    this.epoch = epoch;
    this.batch = batch;
    this.loss = loss;
    Object.setPrototypeOf(this, NonFiniteLossError.prototype);
  }
}

/** The value of `logs.loss` (a number, or a scalar tensor in tfjs-layers' batch logs). */
async function lossOf(logs: tfl.Logs | undefined): Promise<number | undefined> {
  const value = (logs as Record<string, unknown> | undefined)?.['loss'];
  if (typeof value === 'number') return value;
  if (value instanceof tf.Tensor && value.size === 1) return (await value.data())[0];
  return undefined;
}

/** A positive integer parameter of `fit` from the callback params, or undefined. */
function countParam(params: Record<string, unknown>, key: string): number | undefined {
  const value = params[key];
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
}

/** Stops training at the first non-finite batch loss; see the module comment. */
export class TerminateOnNaN extends tfl.Callback {
  readonly throwError: boolean;
  /** The error of the last `fit` this callback stopped, or null when it ran to its end. */
  stopped: NonFiniteLossError | null = null;
  private epoch = 0;

  constructor(args: TerminateOnNaNArgs = {}) {
    super();
    checkKnownKeys('terminateOnNaN', args, TERMINATE_ON_NAN_OPTIONS);
    this.throwError = checkBoolean('throwError', args.throwError ?? true);
  }

  override async onTrainBegin(_logs?: tfl.Logs): Promise<void> {
    this.stopped = null;
  }

  override async onEpochBegin(epoch: number, _logs?: tfl.Logs): Promise<void> {
    this.epoch = epoch;
  }

  override async onBatchEnd(batch: number, logs?: tfl.Logs): Promise<void> {
    if (this.stopped !== null) return;
    const loss = await lossOf(logs);
    if (loss === undefined || Number.isFinite(loss)) return;
    const params = (this.params ?? {}) as Record<string, unknown>;
    const samples = countParam(params, 'samples');
    const batchSize = countParam(params, 'batchSize');
    const batches = countParam(params, 'steps') ?? (samples !== undefined && batchSize !== undefined ? Math.ceil(samples / batchSize) : undefined);
    this.stopped = new NonFiniteLossError(this.epoch, batch, loss, { epochs: countParam(params, 'epochs'), batches });
    this.model.stopTraining = true;
    if (!this.throwError) console.warn(this.stopped.message);
  }

  override async onTrainEnd(_logs?: tfl.Logs): Promise<void> {
    if (this.stopped === null || !this.throwError) return;
    // fit syncs (and so frees) its History only after onTrainEnd returns normally.
    await (this.model as { history?: { syncData?: () => Promise<void> } }).history?.syncData?.();
    throw this.stopped;
  }

  getConfig(): { throwError: boolean } {
    return { throwError: this.throwError };
  }
}

/**
 * `TerminateOnNaN` factory: pass it in `model.fit(x, y, {callbacks: [lip.callbacks.terminateOnNaN()]})`
 * (with other callbacks too). It reads the batch loss once per batch (one small download).
 */
export function terminateOnNaN(args: TerminateOnNaNArgs = {}): TerminateOnNaN {
  return new TerminateOnNaN(args);
}
