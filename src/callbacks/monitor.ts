/**
 * `lip.callbacks.monitorCallback`: records the smallest and largest singular values of each
 * monitored layer's normalized kernel W-bar (or raw kernel), reshaped to [-1, units], in float64
 * (DEEL-LIP's `MonitorCallback`).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { configError } from '../core/errors';
import { checkBoolean, checkKnownKeys, checkOneOf, optionNames } from '../core/validation';
import { rowsOf, singularValueRange } from '../linalg/svd';
import { flattenLayers } from './model_layers';

type Logs = tfl.Logs;

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
function findLayerWeight(layer: tfl.layers.Layer, props: string[], weightNames: string[] = props): tf.Tensor | null {
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
function readLayerMatrix(layer: tfl.layers.Layer, target: MonitorTarget): { values: Float32Array; shape: number[] } | null {
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
