/**
 * Training callbacks (`lip.callbacks.*`, DEEL-LIP's deel/lip/callbacks.py), tfjs `Callback`
 * subclasses for `model.fit({callbacks: [...]})`:
 *
 * - `condenseCallback`: calls `condense()` on every Condensable layer (kernel <- W-bar) after each
 *   epoch and/or batch, keeping the unconstrained kernel from drifting;
 * - `monitorCallback`: records the smallest and largest singular values of each monitored layer's
 *   normalized kernel W-bar (or raw kernel), reshaped to [-1, units], in float64;
 * - `lossParamScheduler`: changes a parameter of the loss (alpha, tau, minMargin, ...) by epoch
 *   or by step;
 * - `terminateOnNaN`: stops training at the first NaN/infinite batch loss and makes `fit` reject
 *   with an error naming the epoch and the batch (terminate_on_nan.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { configError } from '../core/errors';
import { isCondensable } from '../core/contracts';
import { checkBoolean, checkKnownKeys, checkOneOf, optionNames } from '../core/validation';
import { rowsOf, singularValueRange } from '../linalg/svd';

type Logs = tfl.Logs;

/** Every layer of a model, descending into nested models. */
export function flattenLayers(model: { layers: tfl.layers.Layer[] }): tfl.layers.Layer[] {
  const out: tfl.layers.Layer[] = [];
  for (const layer of model.layers) {
    out.push(layer);
    const inner = (layer as unknown as { layers?: unknown }).layers;
    if (Array.isArray(inner)) out.push(...flattenLayers(layer as unknown as { layers: tfl.layers.Layer[] }));
  }
  return out;
}

/** Calls `condense()` on every Condensable layer of the model (nested models included). */
export function condenseModel(model: { layers: tfl.layers.Layer[] }): number {
  let count = 0;
  for (const layer of flattenLayers(model)) {
    if (isCondensable(layer)) {
      layer.condense();
      count++;
    }
  }
  return count;
}

// ---------------------------------------------------------------------------------------------
// CondenseCallback

/** Options of `condenseCallback`. */
export interface CondenseCallbackArgs {
  /** Condense after every epoch. Default true. */
  onEpoch?: boolean;
  /** Condense after every batch. Default false. */
  onBatch?: boolean;
}

const CONDENSE_CALLBACK_OPTIONS = optionNames<CondenseCallbackArgs>({ onEpoch: true, onBatch: true });

/**
 * Overwrites the kernel of every Condensable layer with its normalized weights W-bar.
 * Warning (DEEL-LIP): rewriting the kernel may disturb an optimizer with momentum.
 */
export class CondenseCallback extends tfl.Callback {
  readonly onEpoch: boolean;
  readonly onBatch: boolean;

  constructor(args: CondenseCallbackArgs = {}) {
    super();
    checkKnownKeys('condenseCallback', args, CONDENSE_CALLBACK_OPTIONS);
    this.onEpoch = checkBoolean('onEpoch', args.onEpoch ?? true);
    this.onBatch = checkBoolean('onBatch', args.onBatch ?? false);
  }

  override async onBatchEnd(_batch: number, _logs?: Logs): Promise<void> {
    if (this.onBatch) condenseModel(this.model);
  }

  override async onEpochEnd(_epoch: number, _logs?: Logs): Promise<void> {
    if (this.onEpoch) condenseModel(this.model);
  }

  getConfig(): { onEpoch: boolean; onBatch: boolean } {
    return { onEpoch: this.onEpoch, onBatch: this.onBatch };
  }
}

/** `CondenseCallback` factory (defaults: `onEpoch: true`, `onBatch: false`). */
export function condenseCallback(args: CondenseCallbackArgs = {}): CondenseCallback {
  return new CondenseCallback(args);
}

// ---------------------------------------------------------------------------------------------
// MonitorCallback

/** What `monitorCallback` looks at: the normalized kernel (W-bar) or the raw trainable kernel. */
export type MonitorTarget = 'wbar' | 'kernel';

/** One record of `MonitorCallback.history`. */
export interface SingularValueRecord {
  /** Epoch index (0-based) during which the values were taken. */
  epoch: number;
  /** Batch index for per-batch records, `null` for end-of-epoch records. */
  batch: number | null;
  /** Layer name. */
  layer: string;
  /** What was measured. */
  target: MonitorTarget;
  /** Smallest singular value of the reshaped matrix [-1, units]. */
  min: number;
  /** Largest singular value. */
  max: number;
}

/** Options of `monitorCallback`. */
export interface MonitorCallbackArgs {
  /** Names of the layers to monitor; default every layer that has the target weights. */
  layerNames?: string[];
  /** DEEL-LIP's name for `layerNames`. */
  monitoredLayers?: string[];
  /** 'wbar' (default): the normalized kernel; 'kernel': the unconstrained trainable kernel. */
  target?: MonitorTarget;
  /** Record after every epoch. Default true. */
  onEpoch?: boolean;
  /** Record after every batch. Default false. */
  onBatch?: boolean;
  /** Print each record with console.log. Default false. */
  verbose?: boolean;
  /** Add `<layer>_<target>_sv_min` / `_sv_max` entries to the epoch logs (so to fit's history). Default true. */
  addToLogs?: boolean;
}

const MONITOR_CALLBACK_OPTIONS = optionNames<MonitorCallbackArgs>({
  layerNames: true,
  monitoredLayers: true,
  target: true,
  onEpoch: true,
  onBatch: true,
  verbose: true,
  addToLogs: true,
});

/** Property names, then weight names, under which each target is looked up. */
const TARGET_FIELDS: Record<MonitorTarget, { props: string[]; weights: string[] }> = {
  wbar: { props: ['wBar', 'wbar'], weights: ['w_bar', 'wbar', 'wBar'] },
  kernel: { props: ['kernel'], weights: ['kernel'] },
};

/** The tensor behind a property value: a LayerVariable (`read()`), a tensor, or null. */
function asTensor(value: unknown): tf.Tensor | null {
  if (value instanceof tf.Tensor) return value;
  if (value != null && typeof (value as { read?: unknown }).read === 'function') {
    const t = (value as { read(): unknown }).read();
    return t instanceof tf.Tensor ? t : null;
  }
  return null;
}

/**
 * Finds a weight of a layer: a property holding a LayerVariable or tensor (`props`), the
 * `kernelState.vars` of tfjs-lip's normalized-kernel layers, or a weight whose name (last path
 * segment) is one of `weightNames`. Returns the live tensor (not a copy) or null.
 */
export function findLayerWeight(layer: tfl.layers.Layer, props: string[], weightNames: string[] = props): tf.Tensor | null {
  const record = layer as unknown as Record<string, unknown>;
  for (const prop of props) {
    const t = asTensor(record[prop]);
    if (t !== null) return t;
  }
  const vars = (record['kernelState'] as { vars?: Record<string, unknown> } | null | undefined)?.vars;
  if (vars != null) {
    for (const prop of props) {
      const t = asTensor(vars[prop]);
      if (t !== null) return t;
    }
  }
  for (const w of layer.weights) {
    const last = (w.originalName ?? w.name).split('/').pop() ?? '';
    if (weightNames.includes(last)) return w.read();
  }
  return null;
}

/** Reads a monitored weight as float32 values with its shape, or null when the layer has none. */
export function readLayerMatrix(layer: tfl.layers.Layer, target: MonitorTarget): { values: Float32Array; shape: number[] } | null {
  const { props, weights } = TARGET_FIELDS[target];
  const t = findLayerWeight(layer, props, weights);
  if (t === null) return null;
  return { values: Float32Array.from(t.dataSync() as Float32Array), shape: t.shape.slice() };
}

/** Smallest/largest singular values of a weight reshaped to [-1, lastDim], float64. */
function reshapedRange(values: Float32Array, shape: number[]): { min: number; max: number } {
  const cols = shape.length === 0 ? 1 : (shape[shape.length - 1] as number);
  const rows = values.length / cols;
  const range = singularValueRange(rowsOf(values, rows, cols), cols);
  return { min: range.min ?? 0, max: range.max ?? 0 };
}

/** Records the singular values of monitored layers' kernels during training. */
export class MonitorCallback extends tfl.Callback {
  readonly layerNames: string[] | null;
  readonly target: MonitorTarget;
  readonly onEpoch: boolean;
  readonly onBatch: boolean;
  readonly verbose: boolean;
  readonly addToLogs: boolean;
  /** Every record taken, in order. */
  readonly history: SingularValueRecord[] = [];
  private epoch = 0;

  constructor(args: MonitorCallbackArgs = {}) {
    super();
    checkKnownKeys('monitorCallback', args, MONITOR_CALLBACK_OPTIONS);
    const names = args.layerNames ?? args.monitoredLayers;
    if (names !== undefined && (!Array.isArray(names) || !names.every((n) => typeof n === 'string'))) {
      configError('layerNames', 'an array of layer names', names);
    }
    this.layerNames = names === undefined ? null : [...names];
    this.target = checkOneOf('target', args.target ?? 'wbar', ['wbar', 'kernel'] as const);
    this.onEpoch = checkBoolean('onEpoch', args.onEpoch ?? true);
    this.onBatch = checkBoolean('onBatch', args.onBatch ?? false);
    this.verbose = checkBoolean('verbose', args.verbose ?? false);
    this.addToLogs = checkBoolean('addToLogs', args.addToLogs ?? true);
  }

  /** Measures every monitored layer now and returns (and stores) the records. */
  measure(batch: number | null = null): SingularValueRecord[] {
    const layers = this.layerNames === null ? flattenLayers(this.model) : this.layerNames.map((n) => this.model.getLayer(n));
    const records: SingularValueRecord[] = [];
    for (const layer of layers) {
      const w = readLayerMatrix(layer, this.target);
      if (w === null) {
        if (this.layerNames !== null) console.warn(`[MonitorCallback] layer ${layer.name} has no ${this.target} weights`);
        continue;
      }
      const { min, max } = reshapedRange(w.values, w.shape);
      const record: SingularValueRecord = { epoch: this.epoch, batch, layer: layer.name, target: this.target, min, max };
      records.push(record);
      this.history.push(record);
      if (this.verbose) {
        console.log(`[MonitorCallback] epoch ${this.epoch}${batch === null ? '' : ` batch ${batch}`} ${layer.name} ${this.target} sv min ${min.toPrecision(6)} max ${max.toPrecision(6)}`);
      }
    }
    return records;
  }

  override async onEpochBegin(epoch: number, _logs?: Logs): Promise<void> {
    this.epoch = epoch;
  }

  override async onBatchEnd(batch: number, _logs?: Logs): Promise<void> {
    if (this.onBatch) this.measure(batch);
  }

  override async onEpochEnd(epoch: number, logs?: Logs): Promise<void> {
    this.epoch = epoch;
    if (!this.onEpoch) return;
    const records = this.measure(null);
    if (this.addToLogs && logs !== undefined) {
      for (const r of records) {
        logs[`${r.layer}_${r.target}_sv_min`] = r.min;
        logs[`${r.layer}_${r.target}_sv_max`] = r.max;
      }
    }
  }

  getConfig(): Record<string, unknown> {
    return { layerNames: this.layerNames, target: this.target, onEpoch: this.onEpoch, onBatch: this.onBatch };
  }
}

/** `MonitorCallback` factory. Records land in `callback.history` ({epoch, batch, layer, target, min, max}). */
export function monitorCallback(args: MonitorCallbackArgs = {}): MonitorCallback {
  return new MonitorCallback(args);
}

// ---------------------------------------------------------------------------------------------
// LossParamScheduler

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
export function interpolate(x: number, xp: number[], fp: number[]): number {
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
export function scheduleValue(schedule: EpochSchedule, epoch: number): number | undefined {
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

export { terminateOnNaN, TerminateOnNaN, NonFiniteLossError } from './terminate_on_nan';
export type { TerminateOnNaNArgs } from './terminate_on_nan';
