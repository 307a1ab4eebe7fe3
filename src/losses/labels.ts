/**
 * The label formats of the tfjs-lip losses, and the check `makeLoss` runs on every call.
 *
 * The losses read labels through `y > 0` (hinge and KR) or as weights (cross-entropies), so a
 * label that is NaN, out of range or not one-hot gives a finite, wrong loss instead of an error:
 * `multiclassHKR` with a NaN label treats it as "not this class", with a label 2 as "this class".
 * The check reads the labels once per call (`yTrue.dataSync()`, a [batch, classes] array: under
 * 0.02 ms for 128 x 10 labels on wasm, against a 50-90 ms training step of the README MLP; see
 * docs/activations_losses.md), and can be turned off per loss with `checkLabels: false`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { configError, LipschitzConfigError } from '../core/errors';

/**
 * - `signs`: every label in {0, 1} or {-1, 1} (binary and multilabel losses, `multiclassKR`);
 * - `oneHot`: the same values, exactly one positive (> 0) label per row;
 * - `distribution`: each row a probability distribution (one-hot, or smoothed labels);
 * - `sparse`: one integer class index in [0, classes) per sample.
 */
export type LabelRule = 'signs' | 'oneHot' | 'distribution' | 'sparse';

/** The label format of each tfjs-lip loss, by DEEL-LIP class name (`makeLoss`'s `defaultName`). */
export const LABEL_RULES: Readonly<Record<string, LabelRule>> = {
  KR: 'signs',
  HingeMargin: 'signs',
  HKR: 'signs',
  MulticlassKR: 'signs',
  MulticlassHinge: 'oneHot',
  MulticlassHKR: 'oneHot',
  MultiMargin: 'oneHot',
  CategoricalHinge: 'oneHot',
  MulticlassSoftHKR: 'oneHot',
  TauCategoricalCrossentropy: 'distribution',
  TauSparseCategoricalCrossentropy: 'sparse',
  TauBinaryCrossentropy: 'signs',
};

/** The label rule of a loss class name, or undefined (custom losses made with `makeLoss`). */
export function labelRuleOf(className: string): LabelRule | undefined {
  return Object.prototype.hasOwnProperty.call(LABEL_RULES, className) ? LABEL_RULES[className] : undefined;
}

const EXPECTED: Readonly<Record<LabelRule, string>> = {
  signs: 'labels in {0, 1} or {-1, 1}',
  oneHot: 'one-hot labels (values 0/1 or -1/1, exactly one positive class per row)',
  distribution: 'one-hot or probability labels (values in [0, 1], each row summing to 1)',
  sparse: 'integer class indices in [0, classes)',
};

/** Tolerance on a row sum of `distribution` labels (float32 smoothing rounds to about 1e-7). */
const ROW_SUM_TOLERANCE = 1e-3;

/** Number of outputs per sample: the last dimension of `yPred` (1 for a rank-1 `yPred`). */
function classesOf(yPred: tf.Tensor): number {
  return yPred.rank <= 1 ? 1 : (yPred.shape[yPred.rank - 1] as number);
}

/**
 * The checks that read no data, always run: both arguments are tensors, and `yTrue` has one
 * label per output (or, for `sparse`, one per sample). Throws `LipschitzConfigError` naming the
 * loss (`name`).
 */
export function checkLossArguments(name: string, rule: LabelRule | undefined, yTrue: unknown, yPred: unknown): void {
  if (!(yTrue instanceof tf.Tensor)) argumentError(`${name} yTrue`, 'a tf.Tensor of labels', yTrue);
  if (!(yPred instanceof tf.Tensor)) argumentError(`${name} yPred`, 'a tf.Tensor of predictions', yPred);
  if (rule !== undefined && (yPred.rank > 2 || yPred.rank < (rule === 'sparse' ? 2 : 1))) {
    argumentError(`${name} yPred`, rule === 'sparse' ? 'a tensor of rank 2 (batch, classes)' : 'a tensor of rank 2 (batch, outputs) or 1 (batch)', yPred);
  }
  if (rule === 'sparse') {
    const batch = yPred.rank === 0 ? 1 : (yPred.shape[0] as number);
    if (yTrue.size !== batch) argumentError(`${name} yTrue`, `${batch} class indices (one per sample of yPred ${JSON.stringify(yPred.shape)})`, yTrue);
  } else if (yTrue.size !== yPred.size) {
    argumentError(`${name} yTrue`, `labels with the shape of yPred ${JSON.stringify(yPred.shape)}`, yTrue);
  }
}

/**
 * Frees what the gradient tape holds before an error leaves a loss. In `fit`, the loss runs on
 * tfjs-core's gradient tape, and the tensors each op saves for its gradient (`saved`, kept out of
 * every tidy) are freed only by the backward pass: an exception in the forward pass leaks them
 * all (8 tensors for one Dense layer, 23 for a SpectralDense). Only for a first-order tape, whose
 * backward pass the exception cancels anyway.
 */
function releaseGradientTape(): void {
  const state = tf.engine().state as { gradientDepth?: number; activeTape?: Array<{ saved?: tf.Tensor[] }> | null };
  if (state.gradientDepth !== 1 || !Array.isArray(state.activeTape)) return;
  for (const node of state.activeTape) {
    for (const t of node.saved ?? []) t.dispose();
    node.saved = [];
  }
}

/** Throws `error` from a loss, after {@link releaseGradientTape}. */
function throwFromLoss(error: Error): never {
  releaseGradientTape();
  throw error;
}

/** Throws the argument error `<name> <arg> expected <what>, but got V.` from a loss. */
function argumentError(name: string, expected: string, value: unknown): never {
  try {
    configError(name, expected, value);
  } catch (error) {
    throwFromLoss(error as Error);
  }
}

/** Throws the label error: `<name> yTrue expected <format>, but got <what>.` */
function labelError(name: string, rule: LabelRule, what: string): never {
  throwFromLoss(new LipschitzConfigError(`${name} yTrue expected ${EXPECTED[rule]}, but got ${what}.`));
}

/** Where a label sits: `row r, column c of the batch` (in fit, rows count within the batch). */
function at(index: number, classes: number): string {
  return classes === 1 ? `row ${index} of the batch` : `row ${Math.floor(index / classes)}, column ${index % classes} of the batch`;
}

/**
 * Reads `yTrue` and throws `LipschitzConfigError` naming the loss, the first bad label and its
 * place when the labels do not follow `rule`. Call `checkLossArguments` first.
 */
export function checkLabelValues(name: string, rule: LabelRule, yTrue: tf.Tensor, yPred: tf.Tensor): void {
  const values = yTrue.dataSync() as ArrayLike<number>;
  const classes = classesOf(yPred);
  if (rule === 'sparse') {
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as number;
      if (!(Number.isInteger(v) && v >= 0 && v < classes)) labelError(name, rule, `${v} at ${at(i, 1)} (yPred has ${classes} classes)`);
    }
    return;
  }
  if (rule === 'distribution') {
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as number;
      if (!(v >= 0 && v <= 1)) labelError(name, rule, `${v} at ${at(i, classes)}`);
    }
    for (let row = 0; row * classes < values.length; row++) {
      let sum = 0;
      for (let c = 0; c < classes; c++) sum += values[row * classes + c] as number;
      if (Math.abs(sum - 1) > ROW_SUM_TOLERANCE) labelError(name, rule, `row ${row} of the batch summing to ${sum}`);
    }
    return;
  }
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (v !== 0 && v !== 1 && v !== -1) labelError(name, rule, `${v} at ${at(i, classes)}`);
  }
  if (rule === 'oneHot' && classes > 1) {
    for (let row = 0; row * classes < values.length; row++) {
      let positives = 0;
      for (let c = 0; c < classes; c++) if ((values[row * classes + c] as number) > 0) positives++;
      if (positives !== 1) labelError(name, rule, `${positives} positive classes in row ${row} of the batch`);
    }
  }
}
