/**
 * What every attack shares (internal to `src/attacks/`): the model as a function of a batch, the
 * labels as one-hot rows, the option checks, per-sample norms, the box, the default loss, the
 * seeds and the `Attack` object itself. docs/attacks.md holds the formulas.
 */
import * as tf from '@tensorflow/tfjs-core';
import { configError } from '../core/errors';
import { isContainer } from '../core/graph';
import { checkBoolean } from '../core/validation';
import type { Attack, AttackTarget } from './types';

/** A per-sample loss of the attacks: `(yTrueOneHot [n, classes], logits [n, classes]) => [n]`. */
export type AttackLoss = (yTrueOneHot: tf.Tensor, logits: tf.Tensor) => tf.Tensor;

/** The norms of the threat models: `linf` (max |.|), `l2` (Euclidean), `l1` (sum |.|). */
export type AttackNorm = 'linf' | 'l2' | 'l1';

/**
 * The model as a function of a batch: a LayersModel with one output through
 * `model.apply(x, {training: false})` (differentiable, inference mode), or the function itself.
 */
export function targetFunction(owner: string, model: unknown): (x: tf.Tensor) => tf.Tensor {
  if (typeof model === 'function') {
    return (x) => {
      const y = (model as (x: tf.Tensor) => unknown)(x);
      if (!(y instanceof tf.Tensor)) configError(`${owner} model`, 'a function returning one tensor of logits', y);
      return y;
    };
  }
  if (!isContainer(model)) configError(`${owner} model`, 'a tfjs LayersModel with one output or a function (x) => logits', model);
  if (model.outputs.length !== 1 || model.inputs.length !== 1) {
    configError(`${owner} model`, 'a model with one input and one output', `a model with ${model.inputs.length} input(s) and ${model.outputs.length} outputs`);
  }
  return (x) => model.apply(x, { training: false }) as tf.Tensor;
}

/** The logits of a batch, checked to be [n, classes >= 2]. */
export function logitsOf(owner: string, f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor): tf.Tensor2D {
  const logits = f(x);
  const n = x.shape[0] as number;
  if (logits.rank !== 2 || logits.shape[0] !== n || (logits.shape[1] as number) < 2) {
    const shape = logits.shape;
    logits.dispose();
    configError(`${owner} model`, `logits of shape [${n}, classes >= 2] for a batch of ${n}`, `logits of shape ${JSON.stringify(shape)}`);
  }
  return logits as tf.Tensor2D;
}

/** A batch tensor: rank >= 2 (`[n, d]` or `[n, h, w, c]`), n >= 1, float. */
export function checkBatch(owner: string, name: string, x: unknown): tf.Tensor {
  if (!(x instanceof tf.Tensor) || x.rank < 2 || (x.shape[0] as number) < 1) {
    configError(`${owner} ${name}`, 'a tensor [n, ...inputShape] with n >= 1', x);
  }
  return x;
}

/**
 * Class indices from `labels` (the argument `name`, e.g. `fgsm labels`): `[n]` integers in [0, classes), or `[n, classes]` one-hot rows
 * (exactly one 1, the rest 0). `classes` unknown (undefined) accepts any non-negative integer.
 */
export function labelIndices(name: string, labels: unknown, n: number, classes?: number): Int32Array {
  const expected = `class indices [${n}] (integers in [0, ${classes ?? 'classes'})) or one-hot labels [${n}, ${classes ?? 'classes'}]`;
  if (!(labels instanceof tf.Tensor)) return configError(name, expected, labels);
  const values = labels.dataSync();
  const out = new Int32Array(n);
  if (labels.rank === 1 && labels.shape[0] === n) {
    for (let i = 0; i < n; i++) {
      const v = values[i] as number;
      if (!Number.isInteger(v) || v < 0 || (classes !== undefined && v >= classes)) configError(name, expected, `the value ${v} at index ${i}`);
      out[i] = v;
    }
    return out;
  }
  const width = labels.shape[1] as number;
  if (labels.rank !== 2 || labels.shape[0] !== n || (classes !== undefined && width !== classes) || width < 2) return configError(name, expected, labels);
  for (let i = 0; i < n; i++) {
    let hot = -1;
    for (let j = 0; j < width; j++) {
      const v = values[i * width + j] as number;
      if (v !== 0 && v !== 1) configError(name, expected, `the value ${v} in row ${i}`);
      if (v === 1) hot = hot === -1 ? j : -2;
    }
    if (hot < 0) configError(name, expected, `row ${i} with ${hot === -1 ? 'no' : 'several'} 1`);
    out[i] = hot;
  }
  return out;
}

/** One-hot float32 rows [n, classes] of class indices. */
export function oneHotRows(indices: Int32Array, classes: number): tf.Tensor2D {
  return tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(indices, 'int32'), classes), 'float32') as tf.Tensor2D);
}

/** Softmax cross-entropy per sample, logsumexp(z) - <y, z> ([n]); the default attack loss. */
export function softmaxCrossEntropy(yTrueOneHot: tf.Tensor, logits: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(yTrueOneHot, logits), 1)));
}

/** The `loss` option: a function, or undefined for the softmax cross-entropy. */
export function resolveLoss(owner: string, loss: unknown): AttackLoss {
  if (loss === undefined) return softmaxCrossEntropy;
  if (typeof loss !== 'function') configError(`${owner} loss`, 'a function (yTrueOneHot, logits) => per-sample loss [n]', loss);
  return loss as AttackLoss;
}

/** Per-sample loss values [n] of `loss`, checked to be one value per sample. */
export function perSampleLoss(owner: string, loss: AttackLoss, y: tf.Tensor, logits: tf.Tensor): tf.Tensor1D {
  const value = loss(y, logits);
  const n = logits.shape[0] as number;
  if (!(value instanceof tf.Tensor) || value.size !== n) configError(`${owner} loss`, `a function returning one loss per sample ([${n}])`, value);
  return (value.rank === 1 ? value : tf.reshape(value, [n])) as tf.Tensor1D;
}

/** The `clip` option: `[low, high]` with low < high (both finite), or null (no box). Default [0, 1]. */
export function resolveClip(owner: string, clip: unknown): [number, number] | null {
  if (clip === undefined) return [0, 1];
  if (clip === null) return null;
  const ok = Array.isArray(clip) && clip.length === 2 && clip.every((v) => typeof v === 'number' && Number.isFinite(v)) && (clip[0] as number) < (clip[1] as number);
  if (!ok) configError(`${owner} clip`, 'null or a pair [low, high] of finite numbers with low < high', clip);
  return [clip[0] as number, clip[1] as number];
}

/**
 * `xAdv` put back into the box: clamped to [min(low, x), max(high, x)] coordinate-wise. When x is
 * in the box this is the box; otherwise x itself is never moved, and in every case
 * |xAdv - x| only shrinks coordinate-wise, so the clamp keeps any norm ball around x.
 */
export function clampToBox(xAdv: tf.Tensor, x: tf.Tensor, clip: [number, number] | null): tf.Tensor {
  if (clip === null) return tf.clone(xAdv);
  return tf.tidy(() => tf.minimum(tf.maximum(xAdv, tf.minimum(x, clip[0])), tf.maximum(x, clip[1])));
}

/** `v` [n] reshaped to broadcast over a batch of rank `rank` ([n, 1, ..., 1]). */
export function perSample(v: tf.Tensor, rank: number): tf.Tensor {
  return tf.reshape(v, [-1, ...Array.from({ length: rank - 1 }, () => 1)]);
}

/** Per-sample norms [n] over all non-batch axes. */
export function sampleNorms(t: tf.Tensor, norm: AttackNorm): tf.Tensor1D {
  return tf.tidy(() => {
    const flat = tf.reshape(t, [t.shape[0] as number, -1]);
    if (norm === 'linf') return tf.max(tf.abs(flat), 1);
    if (norm === 'l1') return tf.sum(tf.abs(flat), 1);
    return tf.sqrt(tf.sum(tf.square(flat), 1));
  }) as tf.Tensor1D;
}

/** `t / ||t||_2` per sample (0 where t is 0). */
export function unitL2(t: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const norms = perSample(sampleNorms(t, 'l2'), t.rank);
    return tf.div(t, tf.where(tf.greater(norms, 0), norms, tf.onesLike(norms)));
  });
}

/** `delta` projected onto the ball ||delta|| <= epsilon (per sample; l2: rescaled, linf: clipped). */
export function projectBall(delta: tf.Tensor, epsilon: number, norm: 'l2' | 'linf'): tf.Tensor {
  if (norm === 'linf') return tf.clipByValue(delta, -epsilon, epsilon);
  return tf.tidy(() => {
    const norms = perSample(sampleNorms(delta, 'l2'), delta.rank);
    return tf.mul(delta, tf.minimum(1, tf.div(epsilon, tf.maximum(norms, 1e-30))));
  });
}

/** The `seed` option: an integer, or undefined (tfjs' own random state). */
export function resolveSeed(owner: string, seed: unknown): number | undefined {
  if (seed !== undefined && (typeof seed !== 'number' || !Number.isInteger(seed))) configError(`${owner} seed`, 'an integer', seed);
  return seed as number | undefined;
}

/**
 * Seeds for successive calls: with a seed, call k draws from seed-derived streams (two attacks
 * made with the same seed give the same sequence; two calls of one attack differ); without, none.
 */
export function seedCounter(seed: number | undefined): () => number | undefined {
  let calls = 0;
  return () => (seed === undefined ? undefined : seed * 1000003 + 7919 * calls++);
}

/** A boolean option with a default. */
export function booleanOption(owner: string, name: string, value: unknown, fallback: boolean): boolean {
  return value === undefined ? fallback : checkBoolean(`${owner} ${name}`, value);
}

/** The `Attack` object: the function with its name and resolved options. */
export function makeAttack(attackName: string, config: Record<string, unknown>, run: (model: AttackTarget, x: tf.Tensor, labels: tf.Tensor) => tf.Tensor): Attack {
  const attack = (model: AttackTarget, x: tf.Tensor, labels: tf.Tensor): tf.Tensor => run(model, x, labels);
  const frozen = Object.freeze({ ...config });
  return Object.assign(attack, { attackName, config: () => ({ ...frozen }) });
}

/**
 * The checks and conversions every gradient attack runs on a call: the target function, the
 * batch, the labels as one-hot rows [n, classes] (classes read from one forward pass) and the
 * shape of the loss (on the first sample).
 */
export function prepareCall(owner: string, model: unknown, x: unknown, labels: unknown, loss: AttackLoss): { f: (x: tf.Tensor) => tf.Tensor; x: tf.Tensor; y: tf.Tensor2D } {
  const f = targetFunction(owner, model);
  const batch = checkBatch(owner, 'x', x);
  const n = batch.shape[0] as number;
  // One forward pass of the first two samples gives the number of classes; the loss's shape is
  // checked on them here, off the gradient tape (an error thrown on it would leak what it saved).
  const m = Math.min(2, n);
  const first = tf.tidy(() => logitsOf(owner, f, tf.slice(batch, 0, m)));
  try {
    const classes = first.shape[1];
    const indices = labelIndices(`${owner} labels`, labels, n, classes);
    tf.tidy(() => {
      perSampleLoss(owner, loss, oneHotRows(indices.subarray(0, m), classes), first);
    });
    return { f, x: batch, y: oneHotRows(indices, classes) };
  } finally {
    first.dispose();
  }
}
