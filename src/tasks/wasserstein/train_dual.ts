/**
 * `trainDual`: fits a network `f` to the Kantorovich-Rubinstein dual of a {@link WassersteinPair},
 * maximizing `E_p1 f - E_p2 f` (the batch mean of `lip.losses.kr`), and measures the result on a
 * fresh sample. For a 1-Lipschitz `f` the result is a lower bound of `W1`, reached by an
 * architecture expressive enough to represent `f*` (LNets' dual-network experiments); for an
 * unconstrained network it is no bound at all and grows with training.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { configError } from '../../core/errors';
import { checkKnownKeys, checkPositiveFinite, checkPositiveInt, optionNames } from '../../core/validation';
import { kr } from '../../losses/wasserstein';
import { checkModelArgument } from '../../model/model_argument';
import { mixSeed } from './random';
import { checkSeed, type WassersteinPair } from './shells';

/** Options of {@link trainDual}. */
export interface TrainDualOptions {
  /** Number of gradient steps (a positive integer). */
  steps: number;
  /** Samples of each distribution per step (a positive integer). */
  batchSize: number;
  /** Adam's learning rate when `optimizer` is absent (> 0; default 0.01, LNets' initial rate). */
  learningRate?: number;
  /** The optimizer to use instead of `tf.train.adam(learningRate)` (then leave `learningRate` out). */
  optimizer?: tf.Optimizer;
  /** Seed of the training batches and of the evaluation sample (an integer in [0, 2^32); default 0). */
  seed?: number;
  /** Samples of each distribution in the final evaluation (a positive integer; default 4096). */
  evalSize?: number;
}

/** What {@link trainDual} measured. */
export interface TrainDualResult {
  /** `mean f(p1) - mean f(p2)` on a fresh sample of `evalSize` points of each, in inference mode. */
  estimate: number;
  /** The batch value of `E_p1 f - E_p2 f` at each step, before that step's update. */
  history: number[];
}

const TRAIN_DUAL_OPTIONS = optionNames<TrainDualOptions>({
  steps: true,
  batchSize: true,
  learningRate: true,
  optimizer: true,
  seed: true,
  evalSize: true,
});

/** Stream indices of `mixSeed`: one per step, the evaluation after them. */
const EVAL_STREAM = 0xffffffff;

interface ResolvedTrainDual {
  steps: number;
  batchSize: number;
  learningRate: number;
  optimizer: tf.Optimizer | undefined;
  seed: number;
  evalSize: number;
}

function resolveOptions(options: TrainDualOptions): ResolvedTrainDual {
  if (options === undefined) configError('trainDual options', 'an object with steps and batchSize', options);
  checkKnownKeys('trainDual', options, TRAIN_DUAL_OPTIONS);
  const optimizer = options.optimizer;
  if (optimizer !== undefined && typeof (optimizer as { minimize?: unknown } | null)?.minimize !== 'function') {
    configError('optimizer', 'a tf.Optimizer (tf.train.adam(...), ...)', optimizer);
  }
  if (optimizer !== undefined && options.learningRate !== undefined) {
    configError('learningRate', "nothing when optimizer is given (the optimizer's own rate applies)", options.learningRate);
  }
  return {
    steps: checkPositiveInt('steps', options.steps),
    batchSize: checkPositiveInt('batchSize', options.batchSize),
    learningRate: checkPositiveFinite('learningRate', options.learningRate ?? 0.01),
    optimizer,
    seed: checkSeed('seed', options.seed ?? 0),
    evalSize: checkPositiveInt('evalSize', options.evalSize ?? 4096),
  };
}

/** The model maps `[n, pair.dim]` to `[n, 1]`. */
function checkModelShapes(model: tfl.LayersModel, pair: WassersteinPair): void {
  const input = model.inputs[0]?.shape;
  if (model.inputs.length !== 1 || input === undefined || input.length !== 2 || input[1] !== pair.dim) {
    configError('trainDual model', `one input of shape [null, ${pair.dim}] (the pair's dim)`, model);
  }
  const output = model.outputs[0]?.shape;
  if (model.outputs.length !== 1 || output === undefined || output.length !== 2 || output[1] !== 1) {
    configError('trainDual model', 'one output of shape [null, 1]', model);
  }
}

function checkPair(pair: unknown): asserts pair is WassersteinPair {
  const p = pair as Partial<WassersteinPair> | null;
  if (typeof p !== 'object' || p === null || typeof p.sample !== 'function' || typeof p.dim !== 'number') {
    configError('trainDual pair', 'a WassersteinPair (lip.tasks.wasserstein.absoluteValue(), ...)', pair);
  }
}

/** `mean f(p1) - mean f(p2)` in inference mode, on `evalSize` fresh samples of each. */
function evaluate(model: tfl.LayersModel, pair: WassersteinPair, evalSize: number, seed: number): number {
  const { p1, p2 } = pair.sample(evalSize, mixSeed(seed, EVAL_STREAM));
  try {
    const gap = tf.tidy(() => {
      const f1 = model.predict(p1, { batchSize: 1024 }) as tf.Tensor;
      const f2 = model.predict(p2, { batchSize: 1024 }) as tf.Tensor;
      return tf.sub(tf.mean(f1), tf.mean(f2));
    });
    const value = gap.dataSync()[0]!;
    gap.dispose();
    return value;
  } finally {
    tf.dispose([p1, p2]);
  }
}

/** One step: minimizes `-KR`, i.e. maximizes the batch `E_p1 f - E_p2 f`; returns that value (kept). */
function dualStep(
  model: tfl.LayersModel,
  optimizer: tf.Optimizer,
  batch: { x: tf.Tensor; labels: tf.Tensor },
  loss: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor,
): tf.Scalar {
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  return tf.tidy(() => {
    const cost = optimizer.minimize(
      () => tf.neg(loss(batch.labels, model.apply(batch.x, { training: true }) as tf.Tensor)) as tf.Scalar,
      true,
      variables,
    ) as tf.Scalar;
    return tf.neg(cost);
  });
}

/**
 * Trains `model` (input `[null, pair.dim]`, output `[null, 1]`) to maximize `E_p1 f - E_p2 f`
 * with `lip.losses.kr`: `steps` Adam steps (or `optimizer`'s) on fresh batches of `batchSize`
 * samples of each distribution, then returns the estimate on `evalSize` fresh samples and the
 * per-step batch values. Layers run with `training: true` (W-bar recomputed on the tape), as in
 * `model.fit`. Tensors created here are all released; a given optimizer keeps its own state.
 */
export function trainDual(model: tfl.LayersModel, pair: WassersteinPair, options: TrainDualOptions): TrainDualResult {
  checkModelArgument('trainDual', model);
  checkPair(pair);
  const o = resolveOptions(options);
  checkModelShapes(model, pair);
  const optimizer = o.optimizer ?? tf.train.adam(o.learningRate);
  const loss = kr({ checkLabels: false });
  const labels = tf.tidy(() => tf.concat([tf.ones([o.batchSize, 1]), tf.zeros([o.batchSize, 1])]));
  const values: tf.Scalar[] = [];
  try {
    for (let step = 0; step < o.steps; step++) {
      const { p1, p2 } = pair.sample(o.batchSize, mixSeed(o.seed, step));
      const x = tf.concat([p1, p2]);
      tf.dispose([p1, p2]);
      try {
        values.push(dualStep(model, optimizer, { x, labels }, loss));
      } finally {
        x.dispose();
      }
    }
    const stacked = tf.stack(values);
    const history = Array.from(stacked.dataSync());
    stacked.dispose();
    return { estimate: evaluate(model, pair, o.evalSize, o.seed), history };
  } finally {
    tf.dispose([labels, ...values]);
    if (o.optimizer === undefined) optimizer.dispose();
  }
}
