/**
 * `lip.callbacks.lossParamScheduler`: changes a parameter of the loss (alpha, tau, minMargin, ...)
 * by epoch or by step (DEEL-LIP's `LossParamScheduler`), through the `TunableLoss` contract
 * (`setLossParam` / `getLossParam`).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { configError } from '../core/errors';
import { checkKnownKeys, optionNames } from '../core/validation';

type Logs = tfl.Logs;

/**
 * How a loss exposes a tunable parameter (any one suffices, tried in this order):
 * 1. a method `setParam(name, value)`;
 * 2. a property `name` holding a `tf.Variable` (assigned a new scalar);
 * 3. a writable number property `name`.
 */
export interface TunableLoss {
  setParam?(name: string, value: number): void;
  getParam?(name: string): number;
  [key: string]: unknown;
}

/** Sets `param` of `loss` to `value` following the `TunableLoss` contract; throws if impossible. */
export function setLossParam(loss: unknown, param: string, value: number): void {
  if (loss == null || (typeof loss !== 'object' && typeof loss !== 'function')) {
    configError('loss', `a loss object exposing '${param}'`, loss);
  }
  const target = loss as TunableLoss;
  if (typeof target.setParam === 'function') {
    target.setParam(param, value);
    return;
  }
  const current = target[param];
  if (current instanceof tf.Variable) {
    tf.tidy(() => current.assign(tf.scalar(value, current.dtype)));
    return;
  }
  if (typeof current === 'number') {
    target[param] = value;
    return;
  }
  configError('param', `a parameter the loss exposes (setParam, a tf.Variable or a number property '${param}')`, param);
}

/** Reads `param` of a loss following the `TunableLoss` contract (undefined if not readable). */
export function getLossParam(loss: unknown, param: string): number | undefined {
  if (loss == null || (typeof loss !== 'object' && typeof loss !== 'function')) return undefined;
  const target = loss as TunableLoss;
  if (typeof target.getParam === 'function') return target.getParam(param);
  const current = target[param];
  if (current instanceof tf.Variable) return (current.dataSync() as Float32Array)[0];
  return typeof current === 'number' ? current : undefined;
}

/** Per-epoch schedule: a function of the epoch, or a map {firstEpoch: value} (piecewise constant). */
export type EpochSchedule = ((epoch: number) => number) | Record<number, number>;

/** Options of `lossParamScheduler`. */
export interface LossParamSchedulerArgs {
  /** Name of the loss parameter ('alpha', 'tau', 'minMargin', ...). */
  param: string;
  /**
   * Value by epoch (set at the start of each epoch): a function `epoch => value`, or a map
   * `{epoch: value}` holding from that epoch on (epochs before the first key keep the loss's value).
   */
  schedule?: EpochSchedule;
  /** DEEL-LIP style per-step schedule: steps (batches since training start), increasing. */
  xp?: number[];
  /** Values at the steps `xp`; linear interpolation between, clamped outside (numpy.interp). */
  fp?: number[];
  /** Starting step for `xp`/`fp` (DEEL-LIP's `step`). Default 0. */
  step?: number;
  /** The loss object to tune; default the model's compiled loss (`model.loss`, first that exposes `param`). */
  loss?: unknown;
}

const LOSS_PARAM_SCHEDULER_OPTIONS = optionNames<LossParamSchedulerArgs>({
  param: true,
  schedule: true,
  xp: true,
  fp: true,
  step: true,
  loss: true,
});

/** Linear interpolation of (xp, fp) at x, clamped to the end values (numpy.interp). */
function interpolate(x: number, xp: number[], fp: number[]): number {
  const n = xp.length;
  if (x <= (xp[0] as number)) return fp[0] as number;
  if (x >= (xp[n - 1] as number)) return fp[n - 1] as number;
  for (let i = 1; i < n; i++) {
    const x1 = xp[i] as number;
    if (x <= x1) {
      const x0 = xp[i - 1] as number;
      const f0 = fp[i - 1] as number;
      const f1 = fp[i] as number;
      return x1 === x0 ? f1 : f0 + ((f1 - f0) * (x - x0)) / (x1 - x0);
    }
  }
  return fp[n - 1] as number;
}

/** Value of a per-epoch schedule at `epoch` (undefined when the map has no key <= epoch). */
function scheduleValue(schedule: EpochSchedule, epoch: number): number | undefined {
  if (typeof schedule === 'function') return schedule(epoch);
  let best: number | undefined;
  let bestKey = -Infinity;
  for (const [key, value] of Object.entries(schedule)) {
    const k = Number(key);
    if (k <= epoch && k > bestKey) {
      bestKey = k;
      best = value;
    }
  }
  return best;
}

/** Changes a loss parameter during training, by epoch (`schedule`) or by step (`xp`/`fp`). */
export class LossParamScheduler extends tfl.Callback {
  readonly param: string;
  readonly schedule: EpochSchedule | null;
  readonly xp: number[] | null;
  readonly fp: number[] | null;
  /** Steps (batches) seen so far, for `xp`/`fp`. */
  step: number;
  /** Every value set: {epoch, step, value}. */
  readonly history: Array<{ epoch: number; step: number; value: number }> = [];
  private readonly explicitLoss: unknown;
  private epoch = 0;

  constructor(args: LossParamSchedulerArgs) {
    super();
    checkKnownKeys('lossParamScheduler', args, LOSS_PARAM_SCHEDULER_OPTIONS);
    if (args == null || typeof args.param !== 'string' || args.param.length === 0) {
      configError('param', 'the name of a loss parameter', args?.param);
    }
    this.param = args.param;
    const hasSchedule = args.schedule !== undefined;
    const hasSteps = args.xp !== undefined || args.fp !== undefined;
    if (hasSchedule === hasSteps) configError('schedule', 'exactly one of schedule or xp/fp', args.schedule);
    if (hasSchedule) {
      const s = args.schedule;
      const okMap =
        typeof s === 'object' && s !== null && Object.entries(s).length > 0 &&
        Object.entries(s).every(([k, v]) => Number.isFinite(Number(k)) && typeof v === 'number' && Number.isFinite(v));
      if (typeof s !== 'function' && !okMap) configError('schedule', 'a function of the epoch or a map {epoch: value}', s);
      this.schedule = s as EpochSchedule;
      this.xp = null;
      this.fp = null;
    } else {
      const { xp, fp } = args;
      if (!Array.isArray(xp) || xp.length === 0 || !xp.every((v, i) => Number.isFinite(v) && (i === 0 || v >= (xp[i - 1] as number)))) {
        configError('xp', 'a non-empty increasing array of steps', xp);
      }
      if (!Array.isArray(fp) || fp.length !== xp.length || !fp.every((v) => Number.isFinite(v))) {
        configError('fp', `an array of ${xp.length} finite values`, fp);
      }
      this.schedule = null;
      this.xp = [...xp];
      this.fp = [...fp];
    }
    this.step = args.step ?? 0;
    if (!Number.isInteger(this.step) || this.step < 0) configError('step', 'an integer >= 0', args.step);
    this.explicitLoss = args.loss;
  }

  /** The loss object being tuned. */
  lossObject(): unknown {
    if (this.explicitLoss !== undefined) return this.explicitLoss;
    const compiled = (this.model as unknown as { loss?: unknown }).loss;
    const candidates = Array.isArray(compiled)
      ? compiled
      : compiled !== null && typeof compiled === 'object' && !(compiled as TunableLoss).setParam
        ? Object.values(compiled as object)
        : [compiled];
    const found = candidates.find((l) => {
      if (l == null || (typeof l !== 'object' && typeof l !== 'function')) return false;
      const t = l as TunableLoss;
      return typeof t.setParam === 'function' || t[this.param] instanceof tf.Variable || typeof t[this.param] === 'number';
    });
    if (found === undefined) configError('loss', `a compiled loss exposing '${this.param}'`, compiled);
    return found;
  }

  private set(value: number): void {
    setLossParam(this.lossObject(), this.param, value);
    this.history.push({ epoch: this.epoch, step: this.step, value });
  }

  override async onEpochBegin(epoch: number, _logs?: Logs): Promise<void> {
    this.epoch = epoch;
    if (this.schedule === null) return;
    const value = scheduleValue(this.schedule, epoch);
    if (value !== undefined) this.set(value);
  }

  override async onBatchBegin(_batch: number, _logs?: Logs): Promise<void> {
    if (this.xp === null || this.fp === null) return;
    this.set(interpolate(this.step, this.xp, this.fp));
    this.step += 1;
  }

  getConfig(): Record<string, unknown> {
    return { param: this.param, xp: this.xp, fp: this.fp, step: this.step };
  }
}

/** `LossParamScheduler` factory. */
export function lossParamScheduler(args: LossParamSchedulerArgs): LossParamScheduler {
  return new LossParamScheduler(args);
}
