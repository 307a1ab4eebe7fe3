/**
 * What every tfjs-lip loss shares: the reduction, the callable-with-a-name shape tfjs
 * `model.compile` accepts, label helpers and parameter checks.
 *
 * tfjs-layers' `fit`/`evaluate` call a custom loss as `loss(yTrue, yPred)` and take `tf.mean` of
 * what it returns. A loss that returns the scalar `'mean'` (or `'sum'`) reduction therefore logs
 * exactly that value, and `'none'` (per-sample values) logs their mean.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-layers registers tfjs-core's gradients, which `tf.grad` through a loss needs.
import '@tensorflow/tfjs-layers';
import { configError } from '../core/errors';
import { checkBoolean, checkKnownKeys, checkOneOf, optionNames } from '../core/validation';
import { checkLabelValues, checkLossArguments, labelRuleOf } from './labels';

/**
 * How per-sample losses are combined: `'mean'` over the batch (Keras' default
 * `sum_over_batch_size`, DEEL-LIP's `Reduction.AUTO`), `'sum'`, or `'none'` (one value per sample).
 */
export type LossReduction = 'mean' | 'sum' | 'none';

export const LOSS_REDUCTIONS: readonly LossReduction[] = ['mean', 'sum', 'none'];

/** Options every loss accepts. */
export interface LossOptions {
  /** Reduction over the batch (default `'mean'`). */
  reduction?: LossReduction;
  /** Name shown by tfjs (default DEEL-LIP's class name, e.g. `'HKR'`). */
  name?: string;
  /**
   * Check the label values on every call (default true): NaN, out-of-range or non one-hot labels
   * throw `LipschitzConfigError` naming the loss, the label and its row (see labels.ts for the
   * cost: one read of the labels per call).
   */
  checkLabels?: boolean;
}

/** The options every loss knows besides its parameters. */
const LOSS_OPTIONS = optionNames<LossOptions>({ reduction: true, name: true, checkLabels: true });

/**
 * A loss usable in `model.compile({loss})` and standalone: `loss(yTrue, yPred)`. Its parameters
 * (`alpha`, `minMargin`, `tau`, ...) can be changed between calls, e.g. during training by
 * `lip.callbacks.lossParamScheduler`: the next call uses the new value.
 */
export interface LipschitzLoss {
  (yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor;
  /** The loss name (also the function's `name`). */
  readonly lossName: string;
  /** The reduction applied to the per-sample values. */
  readonly reduction: LossReduction;
  /** The current parameters with `reduction` and `name` (a fresh snapshot on every read). */
  readonly config: Readonly<Record<string, number | string | boolean>>;
  /** Names of the parameters `setParam`/`getParam` accept (empty for `kr`, `multiclassKR`). */
  readonly paramNames: readonly string[];
  /**
   * Sets a parameter for the following calls, checked with the rule used at construction;
   * throws `LipschitzConfigError` for a bad value or a name not in `paramNames`.
   */
  setParam(name: string, value: number): void;
  /** The current value of a parameter (throws `LipschitzConfigError` for an unknown name). */
  getParam(name: string): number;
}

/** Checks a parameter value and returns the value to store (throws `LipschitzConfigError`). */
export type ParamCheck = (value: unknown) => number;

/** A tunable parameter: its initial (unchecked) value and the check applied now and on every `setParam`. */
export interface LossParamDef {
  value: unknown;
  check: ParamCheck;
}

/**
 * Per-sample loss values, shape `[batch]`. `params` holds the current parameter values: read them
 * at call time (never copy them into a closure) so that `setParam` takes effect.
 */
export type PerSampleLoss<K extends string = string> = (
  yTrue: tf.Tensor,
  yPred: tf.Tensor,
  params: Readonly<Record<K, number>>,
) => tf.Tensor;

/**
 * Wraps a per-sample loss into a named, reduced `LipschitzLoss` whose parameters `params` are
 * checked here at construction and again by `setParam`, and passed live to `perSample`. The keys
 * of `options` must be those of `LossOptions` or of `params`: any other throws
 * `LipschitzConfigError` naming `factoryName` (default: `defaultName` in lower camel case, the
 * factory's name: `HKR` gives `hkr`) and the closest known key.
 *
 * tfjs-layers' `model.compile({loss})` keeps the function itself (`model.loss` is the object given
 * and `losses.get(fn)` returns `fn`), so `setParam` on the loss changes what `fit` computes.
 */
export function makeLoss<K extends string>(
  defaultName: string,
  options: LossOptions | undefined,
  params: Record<K, LossParamDef>,
  perSample: PerSampleLoss<K>,
  factoryName: string = factoryNameOf(defaultName),
): LipschitzLoss {
  const defs = params as Record<string, LossParamDef>;
  checkKnownKeys(factoryName, options, [...Object.keys(defs), ...LOSS_OPTIONS]);
  const values: Record<string, number> = {};
  for (const [key, def] of Object.entries(defs)) values[key] = def.check(def.value);
  const paramNames = Object.freeze(Object.keys(defs));
  const reduction = checkOneOf('reduction', options?.reduction ?? 'mean', LOSS_REDUCTIONS);
  const name = options?.name ?? defaultName;
  if (typeof name !== 'string' || name.length === 0) configError('name', 'a non-empty string', name);
  const labelRule = labelRuleOf(defaultName);
  const checkLabels = checkBoolean('checkLabels', options?.checkLabels ?? true);

  const definition = (param: string): LossParamDef => {
    const def = typeof param === 'string' && Object.prototype.hasOwnProperty.call(defs, param) ? defs[param] : undefined;
    if (def === undefined) {
      const known = paramNames.length === 0 ? 'none' : paramNames.map((p) => `'${p}'`).join(', ');
      configError('param', `a parameter of ${name} (${known})`, param);
    }
    return def;
  };
  const live = values as Readonly<Record<K, number>>;
  const loss = (yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor => {
    checkLossArguments(factoryName, labelRule, yTrue, yPred);
    if (checkLabels && labelRule !== undefined) checkLabelValues(factoryName, labelRule, yTrue, yPred);
    return tf.tidy(() => reduce(perSample(yTrue, yPred, live), reduction));
  };
  Object.defineProperty(loss, 'name', { value: name });
  Object.defineProperty(loss, 'config', { get: () => ({ ...values, reduction, name }), enumerable: true });
  return Object.assign(loss, {
    lossName: name,
    reduction,
    paramNames,
    setParam(param: string, value: number): void {
      const def = definition(param);
      values[param] = def.check(value);
    },
    getParam(param: string): number {
      definition(param);
      return values[param] as number;
    },
  }) as unknown as LipschitzLoss;
}

/** The factory of a DEEL-LIP loss class: `HKR` -> `hkr`, `MulticlassHKR` -> `multiclassHKR`. */
function factoryNameOf(className: string): string {
  return className === className.toUpperCase() ? className.toLowerCase() : className.charAt(0).toLowerCase() + className.slice(1);
}

/** Applies a reduction to per-sample values. */
export function reduce(values: tf.Tensor, reduction: LossReduction): tf.Tensor {
  if (reduction === 'mean') return tf.mean(values);
  if (reduction === 'sum') return tf.sum(values);
  return values;
}

/**
 * Brings predictions to rank 2 `(batch, outputs)` (a rank-1 `[batch]` becomes `[batch, 1]`) and
 * labels to the same shape, as float32.
 */
export function asMatrices(yTrue: tf.Tensor, yPred: tf.Tensor): { yTrue: tf.Tensor2D; yPred: tf.Tensor2D } {
  const pred = (yPred.rank === 1 ? tf.reshape(yPred, [-1, 1]) : yPred) as tf.Tensor2D;
  if (pred.rank !== 2) configError('yPred', 'a tensor of rank 2 (batch, outputs)', yPred.shape);
  if (yTrue.size !== pred.size) {
    configError('yTrue', `labels with the shape of yPred ${JSON.stringify(pred.shape)}`, yTrue.shape);
  }
  const labels = tf.reshape(tf.cast(yTrue, 'float32'), pred.shape) as tf.Tensor2D;
  return { yTrue: labels, yPred: tf.cast(pred, 'float32') as tf.Tensor2D };
}

/** 1 where the label is positive (label formats {0, 1} and {-1, 1}), else 0. */
export function positiveMask(yTrue: tf.Tensor): tf.Tensor {
  return tf.cast(tf.greater(yTrue, tf.scalar(0)), 'float32');
}

/** +1 where the label is positive, -1 elsewhere. */
export function labelSign(yTrue: tf.Tensor): tf.Tensor {
  return tf.sub(tf.mul(positiveMask(yTrue), tf.scalar(2)), tf.scalar(1));
}

/** A number >= 0 (`Infinity` allowed when `allowInfinity`). */
export function checkNonNegative(name: string, value: unknown, allowInfinity = false): number {
  const ok =
    typeof value === 'number' && !Number.isNaN(value) && value >= 0 && (allowInfinity || Number.isFinite(value));
  if (!ok) configError(name, allowInfinity ? 'a number >= 0 (Infinity allowed)' : 'a finite number >= 0', value);
  return value as number;
}
