/**
 * The options of `lip.train.fit` and their resolution: `model.fit`'s (`ModelFitArgs`) that apply to
 * tensors, plus penalties, adversarial batches, constraints after every step, `onStep` schedules
 * and the NaN stop. Every bad value throws `LipschitzConfigError` naming the option and the value.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { configError, LipschitzConfigError } from '../core/errors';
import {
  checkBoolean,
  checkInLeftOpenRange,
  checkKnownKeys,
  checkNonNegativeInt,
  checkPositiveInt,
  optionNames,
} from '../core/validation';
import type { AdversarialTraining, Penalty, TrainingLoss } from './types';

/** Batch logs as `onStep` sees them: `batch`, `size`, `loss`, the metrics and the penalties. */
export type StepLogs = Record<string, number>;

/** Options of `lip.train.fit`. */
export interface TrainFitArgs {
  /** Epoch index at which training stops (as in `model.fit`); default 1. */
  epochs?: number;
  /** Samples per step; default 32. */
  batchSize?: number;
  /** Shuffles the training samples before each epoch (`tf.util.shuffle`); default true. */
  shuffle?: boolean;
  /** 1 (default): a progress bar in a Node terminal, one line per epoch elsewhere; 0: silent. */
  verbose?: 0 | 1;
  /** Epoch to start at (resuming); default 0. */
  initialEpoch?: number;
  /** `[x, y]` evaluated (`model.evaluate`) at each epoch end: `val_loss`, `val_<metric>`. */
  validationData?: [tf.Tensor, tf.Tensor];
  /** Fraction in (0, 1) of the last samples (before shuffling) held out for validation. */
  validationSplit?: number;
  /** tfjs callbacks or `CustomCallbackArgs` objects, as in `model.fit`. */
  callbacks?: tfl.ModelFitArgs['callbacks'];
  /** How often `CustomCallbackArgs` callbacks yield (`model.fit`'s `yieldEvery`); default 'auto'. */
  yieldEvery?: tfl.ModelFitArgs['yieldEvery'];
  /**
   * A loss that sees the model and the batch (`lip.losses.localLipschitzCertified`), used in the
   * training steps instead of the compiled loss (validation keeps the compiled one).
   */
  loss?: TrainingLoss;
  /** Terms added to the training loss, each logged under its `penaltyName` (`lip.penalties.*`). */
  penalties?: Penalty[];
  /** An attack replacing (weight 1) or mixed with (weight < 1) each batch (`lip.attacks.*`). */
  adversarial?: AdversarialTraining;
  /** Called after each step with the step number (1, 2, ...) and the batch logs: schedules. */
  onStep?: (step: number, logs: StepLogs) => void | Promise<void>;
  /** Projects every constrained weight onto its constraint after each step; default true. */
  applyConstraints?: boolean;
  /** Stops at the first non-finite batch loss and rejects with `NonFiniteLossError`; default true. */
  terminateOnNaN?: boolean;
}

const FIT_OPTIONS = optionNames<TrainFitArgs>({
  epochs: true,
  batchSize: true,
  shuffle: true,
  verbose: true,
  initialEpoch: true,
  validationData: true,
  validationSplit: true,
  callbacks: true,
  yieldEvery: true,
  loss: true,
  penalties: true,
  adversarial: true,
  onStep: true,
  applyConstraints: true,
  terminateOnNaN: true,
});

/** `model.fit` options `lip.train.fit` refuses, with the reason. */
const REFUSED: Record<string, string> = {
  classWeight: 'class weights are not supported: weight the classes inside the loss function instead',
  sampleWeight: 'sample weights are not supported: weight the samples inside the loss function instead',
  stepsPerEpoch: 'stepsPerEpoch is not supported: the epoch is one pass over x',
  validationSteps: 'validationSteps is not supported: validation covers all of validationData',
};

/** The resolved options (defaults filled in, everything checked). */
export interface ResolvedFitArgs {
  epochs: number;
  batchSize: number;
  shuffle: boolean;
  verbose: 0 | 1;
  initialEpoch: number;
  validationData: [tf.Tensor, tf.Tensor] | null;
  validationSplit: number;
  callbacks: TrainFitArgs['callbacks'];
  yieldEvery: TrainFitArgs['yieldEvery'];
  loss: TrainingLoss | null;
  penalties: Penalty[];
  adversarial: { attack: AdversarialTraining['attack']; weight: number } | null;
  onStep: TrainFitArgs['onStep'] | null;
  applyConstraints: boolean;
  terminateOnNaN: boolean;
}

function checkVerbose(value: unknown): 0 | 1 {
  if (value !== 0 && value !== 1) configError('verbose', '0 or 1', value);
  return value;
}

function checkTensorPair(name: string, value: unknown): [tf.Tensor, tf.Tensor] {
  if (!Array.isArray(value) || value.length !== 2 || !value.every((t) => t instanceof tf.Tensor)) {
    configError(name, 'a pair [x, y] of tensors (sample weights are not supported)', value);
  }
  return value as [tf.Tensor, tf.Tensor];
}

function checkPenalties(value: unknown, reserved: readonly string[]): Penalty[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) configError('penalties', 'an array of penalties made by lip.penalties.*', value);
  const names = new Set<string>();
  return value.map((p: unknown, i) => {
    const name = (p as Partial<Penalty> | null)?.penaltyName;
    if (typeof p !== 'function' || typeof name !== 'string' || name === '') {
      configError(`penalties[${i}]`, 'a penalty made by lip.penalties.* (a function with a penaltyName)', p);
    }
    if (names.has(name) || reserved.includes(name) || name.startsWith('val_')) {
      configError(`penalties[${i}].penaltyName`, 'a log key not used by another penalty, the loss or a metric', name);
    }
    names.add(name);
    return p as Penalty;
  });
}

function checkLoss(value: unknown): TrainingLoss | null {
  if (value === undefined) return null;
  const name = (value as Partial<TrainingLoss> | null)?.lossName;
  if (typeof value !== 'function' || typeof name !== 'string') {
    configError('loss', 'a training loss made by lip.losses.localLipschitzCertified (a function with a lossName)', value);
  }
  return value as TrainingLoss;
}

function checkAdversarial(value: unknown): ResolvedFitArgs['adversarial'] {
  if (value === undefined) return null;
  checkKnownKeys('adversarial', value, optionNames<AdversarialTraining>({ attack: true, weight: true }));
  const { attack, weight } = value as AdversarialTraining;
  if (typeof attack !== 'function') configError('adversarial.attack', 'an attack made by lip.attacks.*', attack);
  return { attack, weight: weight === undefined ? 1 : checkInLeftOpenRange('adversarial.weight', weight, 0, 1) };
}

/** Checks `args` and fills in the defaults; `reservedLogKeys` are the loss and metric names. */
export function resolveFitArgs(args: TrainFitArgs | undefined, reservedLogKeys: readonly string[]): ResolvedFitArgs {
  const a = (args ?? {}) as TrainFitArgs & Record<string, unknown>;
  for (const [key, reason] of Object.entries(REFUSED)) {
    if (a[key] !== undefined) throw new LipschitzConfigError(`lip.train.fit: ${reason} (got ${key}).`);
  }
  checkKnownKeys('lip.train.fit', args, FIT_OPTIONS);
  const split = a.validationSplit ?? 0;
  if (typeof split !== 'number' || !(split >= 0 && split < 1)) configError('validationSplit', 'a number in [0, 1)', split);
  if (a.onStep !== undefined && typeof a.onStep !== 'function') configError('onStep', 'a function (step, logs)', a.onStep);
  const epochs = checkPositiveInt('epochs', a.epochs ?? 1);
  const loss = checkLoss(a.loss);
  if (loss !== null && a.adversarial !== undefined) {
    throw new LipschitzConfigError(`lip.train.fit: loss '${loss.lossName}' and adversarial cannot be combined (the loss bounds the worst case itself).`);
  }
  return {
    epochs,
    batchSize: checkPositiveInt('batchSize', a.batchSize ?? 32),
    shuffle: checkBoolean('shuffle', a.shuffle ?? true),
    verbose: checkVerbose(a.verbose ?? 1),
    initialEpoch: checkNonNegativeInt('initialEpoch', a.initialEpoch ?? 0),
    validationData: a.validationData === undefined ? null : checkTensorPair('validationData', a.validationData),
    validationSplit: split,
    callbacks: a.callbacks,
    yieldEvery: a.yieldEvery,
    loss,
    penalties: checkPenalties(a.penalties, reservedLogKeys),
    adversarial: checkAdversarial(a.adversarial),
    onStep: a.onStep ?? null,
    applyConstraints: checkBoolean('applyConstraints', a.applyConstraints ?? true),
    terminateOnNaN: checkBoolean('terminateOnNaN', a.terminateOnNaN ?? true),
  };
}
