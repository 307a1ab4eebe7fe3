/**
 * CLIP (Bungert et al., 2021): a penalty `lambda * max_i ||f(u_i) - f(v_i)||^2 / ||u_i - v_i||^2`
 * over a set of input pairs that gradient ascent keeps near the worst case, with lambda adapted to
 * a training-accuracy goal. Formula, defaults and their sources: docs/training_methods.md#clip.
 *
 * References: L. Bungert, R. Raab, T. Roith, L. Schwinn, D. Tenbrinck, "CLIP: Cheap Lipschitz
 * Training of Neural Networks", SSVM 2021 (arXiv:2103.12531); github.com/TimRoith/CLIP.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { configError } from '../core/errors';
import { checkBoolean, checkKnownKeys, checkOneOf, checkPositiveFinite, checkPositiveInt, optionNames } from '../core/validation';
import { ascend, initialPairs, squaredQuotients, type ClipInit, type ClipPairs } from './clip_pairs';
import { countCorrect, makePenalty, modelFunction, stopGradient } from './common';
import type { PenaltyBatchEndContext, PenaltyCallContext, PenaltyFunction } from './types';

/** Options of `lip.penalties.clip` (CLIP's `conf_arg` names in brackets). */
export interface ClipArgs {
  /** Initial weight lambda0 of the term (`lamda`); default 0.1 (the reference's `clip_example`). */
  lambda?: number;
  /** Ascent steps on the pairs after each training step (`reg_iters`); default 1. */
  regIters?: number;
  /** Initial ascent step size of every pair (`reg_lr`); default 1.0. */
  regLr?: number;
  /** Factor >= 1 by which a pair's step size grows after a kept step and shrinks after a refused one (`reg_decay`); default 1.3. */
  regDecay?: number;
  /** The term (and the ascent before it) every `regInterval` steps, 0 in between (`reg_interval`); default 1. */
  regInterval?: number;
  /** A squared quotient above this is left out of that step's loss (`reg_max`); default 5e3. */
  regMax?: number;
  /** How the pairs start (`reg_init`): 'plain' (default), 'partial_random' or 'noise'. */
  regInit?: ClipInit;
  /** true: the mean over all pairs; false (default): the pair with the largest quotient (`reg_all`). */
  regAll?: boolean;
  /** The pairs are drawn afresh from the batch every `regIncremental` steps (`reg_incremental`); default 2000. */
  regIncremental?: number;
  /** Training accuracy in [0, 1] lambda is steered to (`goal_accuracy`); default 0.9. */
  goalAccuracy?: number;
  /** Added to lambda after an epoch above the goal, subtracted otherwise (`lamda_increment`); default 0 (lambda fixed). */
  lambdaIncrement?: number;
  /**
   * Epochs trained with lambda 0 before lambda0 applies (the pairs are still searched), as the
   * reference's `lamda_scheduler(conf, warmup=5, warmup_lamda=0.0)` in main.py; default 0.
   */
  warmupEpochs?: number;
  /**
   * Epochs left out between two lambda updates after the warm-up (the reference's `cooldown`,
   * 1 in main.py: lambda changes every other epoch); default 0.
   */
  cooldown?: number;
  /** Seed of the noise of 'partial_random' and 'noise'; default 0. */
  seed?: number;
}

const CLIP_OPTIONS = optionNames<ClipArgs>({
  lambda: true,
  regIters: true,
  regLr: true,
  regDecay: true,
  regInterval: true,
  regMax: true,
  regInit: true,
  regAll: true,
  regIncremental: true,
  goalAccuracy: true,
  lambdaIncrement: true,
  warmupEpochs: true,
  cooldown: true,
  seed: true,
});

/** The defaults (docs/training_methods.md gives the source of each). */
export const CLIP_DEFAULTS: Readonly<Required<ClipArgs>> = Object.freeze({
  lambda: 0.1,
  regIters: 1,
  regLr: 1.0,
  regDecay: 1.3,
  regInterval: 1,
  regMax: 5e3,
  regInit: 'plain',
  regAll: false,
  regIncremental: 2000,
  goalAccuracy: 0.9,
  lambdaIncrement: 0,
  warmupEpochs: 0,
  cooldown: 0,
  seed: 0,
});

/** lambda stays within [lambda0 / LAMBDA_FLOOR, LAMBDA_CAP * lambda0] (issue 12). */
const LAMBDA_FLOOR = 1000;
const LAMBDA_CAP = 4;

const OWNER = 'lip.penalties.clip';

function checkNumberIn(name: string, value: unknown, low: number, high: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < low || value > high) configError(name, `a number in [${low}, ${high}]`, value);
  return value;
}

function resolveClipArgs(args: ClipArgs | undefined): Required<ClipArgs> {
  checkKnownKeys(OWNER, args, CLIP_OPTIONS);
  const a = { ...CLIP_DEFAULTS, ...Object.fromEntries(Object.entries(args ?? {}).filter(([, v]) => v !== undefined)) } as Required<ClipArgs>;
  checkPositiveFinite('lambda', a.lambda);
  checkPositiveInt('regIters', a.regIters);
  checkPositiveFinite('regLr', a.regLr);
  if (typeof a.regDecay !== 'number' || !Number.isFinite(a.regDecay) || a.regDecay < 1) configError('regDecay', 'a finite number >= 1', a.regDecay);
  checkPositiveInt('regInterval', a.regInterval);
  checkPositiveFinite('regMax', a.regMax);
  checkOneOf('regInit', a.regInit, ['plain', 'partial_random', 'noise']);
  checkBoolean('regAll', a.regAll);
  checkPositiveInt('regIncremental', a.regIncremental);
  checkNumberIn('goalAccuracy', a.goalAccuracy, 0, 1);
  const inc = a.lambdaIncrement;
  if (typeof inc !== 'number' || !Number.isFinite(inc) || inc < 0) configError('lambdaIncrement', 'a finite number >= 0', inc);
  for (const key of ['warmupEpochs', 'cooldown'] as const) {
    const v = a[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) configError(key, 'an integer >= 0', v);
  }
  if (typeof a.seed !== 'number' || !Number.isInteger(a.seed)) configError('seed', 'an integer', a.seed);
  return a;
}

/** What CLIP keeps between steps. */
interface ClipState {
  pairs: (ClipPairs & { lr: tf.Tensor1D }) | null;
  /** Squared quotients of the pairs after the last ascent (for the logs). */
  best: tf.Tensor1D | null;
  lambda: number;
  /** Penalty calls so far (steps). */
  calls: number;
  /** Steps the current pairs have served. */
  served: number;
  draws: number;
  correct: number;
  seen: number;
  /** Epochs ended so far, and epochs still to skip before the next lambda update. */
  epochs: number;
  cooldownLeft: number;
}

function releasePairs(state: ClipState): void {
  if (state.pairs !== null) tf.dispose([state.pairs.u, state.pairs.v, state.pairs.lr]);
  if (state.best !== null) state.best.dispose();
  state.pairs = null;
  state.best = null;
}

/** Draws the pairs from the batch `x`, keeping the step sizes when the pair count is unchanged. */
function drawPairs(state: ClipState, x: tf.Tensor, o: Required<ClipArgs>): void {
  if ((x.shape[0] as number) < 2) configError(`${OWNER} x`, 'a batch of at least 2 samples (CLIP pairs its two halves)', x);
  const drawn = initialPairs(x, o.regInit, o.seed + 2 * state.draws);
  state.draws++;
  const m = drawn.u.shape[0] as number;
  const old = state.pairs?.lr;
  const lr = old !== undefined && old.shape[0] === m ? tf.clone(old) : tf.fill([m], o.regLr) as tf.Tensor1D;
  releasePairs(state);
  // Kept: the caller's tidy (the training step's) must not dispose the pairs.
  state.pairs = { u: tf.keep(drawn.u), v: tf.keep(drawn.v), lr: tf.keep(lr) };
  state.served = 0;
}

/** The term of one step (on the tape): lambda * (max or mean of the squared quotients), 0 above regMax. */
function clipTerm(state: ClipState, ctx: PenaltyCallContext, o: Required<ClipArgs>): tf.Scalar {
  const f = modelFunction(OWNER, ctx.model);
  if (state.pairs === null) drawPairs(state, ctx.x, o);
  state.calls++;
  const pairs = state.pairs as ClipPairs;
  if ((state.calls - 1) % o.regInterval !== 0) return tf.scalar(0);
  return tf.tidy(() => {
    const q2 = squaredQuotients(f, pairs.u, pairs.v);
    const term = o.regAll ? tf.mean(q2) : tf.max(q2);
    const kept = tf.where(tf.greater(stopGradient(term), o.regMax), tf.zerosLike(term), term);
    return tf.mul(kept, state.lambda) as tf.Scalar;
  });
}

/** After the optimizer step: accuracy bookkeeping, the periodic redraw, the ascent. */
function clipBatchEnd(state: ClipState, ctx: PenaltyBatchEndContext, o: Required<ClipArgs>): void {
  const f = modelFunction(OWNER, ctx.model);
  if (o.lambdaIncrement > 0) {
    const correct = countCorrect(ctx.y, ctx.yPred);
    if (correct !== null) {
      state.correct += correct;
      state.seen += ctx.yPred.shape[0] as number;
    }
  }
  if (state.pairs === null) drawPairs(state, ctx.x, o);
  else if (++state.served >= o.regIncremental) drawPairs(state, ctx.x, o);
  if (state.calls % o.regInterval !== 0) return;
  const result = ascend(f, state.pairs as ClipPairs & { lr: tf.Tensor1D }, o.regIters, o.regDecay);
  releasePairs(state);
  state.pairs = { u: tf.keep(result.u), v: tf.keep(result.v), lr: tf.keep(result.lr) };
  state.best = tf.keep(result.best);
}

/**
 * After the warm-up (lambda 0 for `warmupEpochs` epochs, then lambda0), every `cooldown + 1`
 * epochs: lambda +- lambdaIncrement by the epoch's training accuracy, within
 * [lambda0/1000, 4 lambda0].
 */
function clipEpochEnd(state: ClipState, logs: Record<string, number>, o: Required<ClipArgs>): void {
  const counted = state.seen > 0 ? state.correct / state.seen : undefined;
  state.correct = 0;
  state.seen = 0;
  state.epochs++;
  if (state.epochs <= o.warmupEpochs) {
    state.lambda = state.epochs === o.warmupEpochs ? o.lambda : 0;
    return;
  }
  if (o.lambdaIncrement === 0) return;
  if (state.cooldownLeft > 0) {
    state.cooldownLeft--;
    return;
  }
  state.cooldownLeft = o.cooldown;
  const accuracy = counted ?? logs['acc'] ?? logs['accuracy'];
  if (accuracy === undefined || !Number.isFinite(accuracy)) {
    configError(`${OWNER} lambdaIncrement`, "0 for a model whose training accuracy is unknown (an output of >= 2 classes, or an 'acc' metric)", o.lambdaIncrement);
  }
  const next = accuracy > o.goalAccuracy ? state.lambda + o.lambdaIncrement : state.lambda - o.lambdaIncrement;
  state.lambda = Math.min(LAMBDA_CAP * o.lambda, Math.max(o.lambda / LAMBDA_FLOOR, next));
}

/**
 * CLIP's Lipschitz penalty for `lip.train.fit({penalties: [...]})`. Logs `clip` (the term),
 * `clip_lambda` and `clip_lipschitz` (the largest quotient of the pairs: a lower bound of the
 * network's Lipschitz constant). Costs per step: one forward pass of the pairs on the tape, and
 * `regIters` x (one backward + two forwards) of the pairs for the ascent.
 */
export function clip(args?: ClipArgs): PenaltyFunction {
  const o = resolveClipArgs(args);
  const state: ClipState = {
    ...{ pairs: null, best: null, calls: 0, served: 0, draws: 0, correct: 0, seen: 0, epochs: 0, cooldownLeft: 0 },
    lambda: o.warmupEpochs > 0 ? 0 : o.lambda,
  };
  return makePenalty((ctx) => clipTerm(state, ctx, o), {
    penaltyName: 'clip',
    onTrainBegin: (model: tfl.LayersModel) => void modelFunction(OWNER, model),
    onBatchEnd: (ctx) => clipBatchEnd(state, ctx, o),
    onEpochEnd: (_epoch, logs) => clipEpochEnd(state, logs, o),
    logs: () => {
      const out: Record<string, number> = { clip_lambda: state.lambda };
      if (state.best !== null) out['clip_lipschitz'] = Math.sqrt(tf.tidy(() => tf.max(state.best as tf.Tensor1D).dataSync()[0] as number));
      return out;
    },
    dispose: () => releasePairs(state),
    config: () => ({ ...o }),
  });
}
