/**
 * Empirical lower bounds of a model's Lipschitz constant (L2 to L2), to compare with the
 * certified upper bound `lipschitzBound(model)`:
 *
 * - 'random' (DEEL-LIP's `evaluate_lip_const`): max over pairs (x, x + d), d a random direction
 *   of norm in [epsilon/4, epsilon], of ||f(x) - f(x + d)|| / ||d||;
 * - 'gradient': max over the samples of the exact local operator norm ||J_f(x)||_2 of the input
 *   Jacobian, sup over unit v of ||J^T v||: J^T v by back-propagation (one vector-Jacobian
 *   product per output), the sup over v by float64 power iteration on J J^T. The inputs are then
 *   moved to increase ||J(x)||_2 for `numSteps` steps by finite-difference ascent along random
 *   directions (x <- x +/- stepSize u, keeping the better; tfjs has no second-order gradients).
 *
 * Both are lower bounds of the true constant (up to float32 rounding in the differences, which
 * is why epsilon defaults to 1e-2 rather than DEEL-LIP's 1e-4).
 */
import * as tf from '@tensorflow/tfjs-core';
import { configError } from '../core/errors';
import { checkKnownKeys, checkOneOf, checkPositiveFinite, checkPositiveInt, optionNames } from '../core/validation';
import { topLeftSingularPair } from '../linalg/svd';

/** A model (anything with a differentiable `apply`, e.g. a tfjs LayersModel) or a function. */
export type Differentiable = { apply(x: tf.Tensor, kwargs?: unknown): tf.Tensor | tf.Tensor[] | unknown } | ((x: tf.Tensor) => tf.Tensor);

/** Options of `evaluateLipConst`. */
export interface EvaluateLipConstArgs {
  /** 'random', 'gradient' or 'both' (default). */
  method?: 'random' | 'gradient' | 'both';
  /** Largest perturbation norm of the random method. Default 1e-2. */
  epsilon?: number;
  /** Random perturbations per sample. Default 10. */
  numSamples?: number;
  /** Ascent steps of the gradient method (0: Jacobian norm at the given points only). Default 10. */
  numSteps?: number;
  /** L2 length of one ascent step in input space. Default 0.05. */
  stepSize?: number;
  /** Samples processed at once. Default 128. */
  batchSize?: number;
  /** Seed of the random directions. Default 0. */
  seed?: number;
}

const EVALUATE_LIP_CONST_OPTIONS = optionNames<EvaluateLipConstArgs>({
  method: true,
  epsilon: true,
  numSamples: true,
  numSteps: true,
  stepSize: true,
  batchSize: true,
  seed: true,
});

/** Result of `evaluateLipConst`: the best lower bound and each method's value (null if not run). */
export interface LipConstEstimate {
  value: number;
  random: number | null;
  gradient: number | null;
}

function asFunction(model: Differentiable): (x: tf.Tensor) => tf.Tensor {
  if (typeof model === 'function') return model as (x: tf.Tensor) => tf.Tensor;
  return (x) => {
    const out = model.apply(x, { training: false });
    const y = Array.isArray(out) ? out[0] : out;
    if (!(y instanceof tf.Tensor)) configError('model', 'a model with one tensor output', out);
    return y;
  };
}

/** Per-sample L2 norms of a batch, [n]. */
function rowNorms(t: tf.Tensor): tf.Tensor1D {
  return tf.sqrt(tf.sum(tf.square(tf.reshape(t, [t.shape[0] as number, -1])), 1)) as tf.Tensor1D;
}

/** Random directions of unit L2 norm per sample, shaped like x. */
function unitDirections(x: tf.Tensor, seed: number): tf.Tensor {
  return tf.tidy(() => {
    const d = tf.randomNormal(x.shape, 0, 1, 'float32', seed);
    const n = tf.reshape(rowNorms(d), [-1, ...x.shape.slice(1).map(() => 1)]);
    return tf.div(d, tf.maximum(n, 1e-12));
  });
}

function sliceBatch(x: tf.Tensor, start: number, size: number): tf.Tensor {
  return tf.slice(x, x.shape.map((_, i) => (i === 0 ? start : 0)), x.shape.map((d, i) => (i === 0 ? size : d)));
}

function randomMethod(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor, eps: number, numSamples: number, seed: number): number {
  let best = 0;
  for (let s = 0; s < numSamples; s++) {
    const ratio = tf.tidy(() => {
      const n = x.shape[0] as number;
      const radius = tf.randomUniform([n], eps / 4, eps, 'float32', seed * 7919 + s * 2 + 1);
      const d = tf.mul(unitDirections(x, seed * 7919 + s * 2), tf.reshape(radius, [-1, ...x.shape.slice(1).map(() => 1)]));
      const df = tf.sub(f(x), f(tf.add(x, d)));
      return tf.max(tf.div(rowNorms(df), rowNorms(d)));
    });
    best = Math.max(best, ratio.dataSync()[0] as number);
    ratio.dispose();
  }
  return best;
}

/** Exact ||J_f(x_b)||_2 for each sample of the batch (m vector-Jacobian products). */
export function jacobianNorms(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor): Float64Array {
  const n = x.shape[0] as number;
  const inSize = x.size / n;
  const outSize = tf.tidy(() => f(sliceBatch(x, 0, 1)).size);
  const jac: Float32Array[] = []; // per output k: [n, inSize]
  for (let k = 0; k < outSize; k++) {
    const g = tf.tidy(() => {
      const mask = tf.cast(tf.oneHot(tf.tensor1d([k], 'int32'), outSize), 'float32');
      return tf.grad((z: tf.Tensor) => tf.sum(tf.mul(tf.reshape(f(z), [n, outSize]), mask)))(x);
    });
    jac.push(g.dataSync() as Float32Array);
    g.dispose();
  }
  const norms = new Float64Array(n);
  for (let b = 0; b < n; b++) {
    const rows = jac.map((gk) => gk.subarray(b * inSize, (b + 1) * inSize));
    norms[b] = topLeftSingularPair(rows, inSize).sigma;
  }
  return norms;
}

function gradientMethod(f: (x: tf.Tensor) => tf.Tensor, x0: tf.Tensor, numSteps: number, stepSize: number, seed: number): number {
  const n = x0.shape[0] as number;
  const bcast = [n, ...x0.shape.slice(1).map(() => 1)];
  let x = tf.clone(x0);
  let current = jacobianNorms(f, x);
  let best = Math.max(...current);
  for (let step = 0; step < numSteps; step++) {
    const u = tf.tidy(() => tf.mul(unitDirections(x, seed * 104729 + step), stepSize));
    const xPlus = tf.add(x, u);
    const xMinus = tf.sub(x, u);
    u.dispose();
    const plus = jacobianNorms(f, xPlus);
    const minus = jacobianNorms(f, xMinus);
    // Per sample, keep the best of x, x + u, x - u.
    const choice = new Float32Array(n * 3);
    for (let b = 0; b < n; b++) {
      const c = current[b] as number;
      const p = plus[b] as number;
      const m = minus[b] as number;
      const pick = p >= m ? (p > c ? 1 : 0) : m > c ? 2 : 0;
      choice[b * 3 + pick] = 1;
      current[b] = Math.max(c, p, m);
      best = Math.max(best, current[b] as number);
    }
    const next = tf.tidy(() => {
      const w = tf.tensor2d(choice, [n, 3]);
      const [w0, w1, w2] = tf.split(w, 3, 1).map((t) => tf.reshape(t, bcast));
      return tf.addN([tf.mul(x, w0 as tf.Tensor), tf.mul(xPlus, w1 as tf.Tensor), tf.mul(xMinus, w2 as tf.Tensor)]);
    });
    x.dispose();
    xPlus.dispose();
    xMinus.dispose();
    x = next;
  }
  x.dispose();
  return best;
}

/**
 * Empirical lower bound of the Lipschitz constant of `model` around the samples `x`
 * ([n, ...input shape]). See the module comment for the methods. Returns plain numbers.
 */
export function evaluateLipConst(model: Differentiable, x: tf.Tensor, args: EvaluateLipConstArgs = {}): LipConstEstimate {
  checkKnownKeys('evaluateLipConst', args, EVALUATE_LIP_CONST_OPTIONS);
  const method = checkOneOf('method', args.method ?? 'both', ['random', 'gradient', 'both'] as const);
  const eps = checkPositiveFinite('epsilon', args.epsilon ?? 1e-2);
  const numSamples = checkPositiveInt('numSamples', args.numSamples ?? 10);
  const numSteps = args.numSteps ?? 10;
  if (!Number.isInteger(numSteps) || numSteps < 0) configError('numSteps', 'an integer >= 0', args.numSteps);
  const stepSize = checkPositiveFinite('stepSize', args.stepSize ?? 0.05);
  const batchSize = checkPositiveInt('batchSize', args.batchSize ?? 128);
  const seed = args.seed ?? 0;
  if (!Number.isInteger(seed)) configError('seed', 'an integer', args.seed);
  if (x.rank < 2 || (x.shape[0] as number) < 1) configError('x', 'a batch [n, ...inputShape] with n >= 1', x.shape);
  const f = asFunction(model);
  const n = x.shape[0] as number;
  let random: number | null = null;
  let gradient: number | null = null;
  for (let start = 0, part = 0; start < n; start += batchSize, part++) {
    const xb = sliceBatch(x, start, Math.min(batchSize, n - start));
    if (method !== 'gradient') random = Math.max(random ?? 0, randomMethod(f, xb, eps, numSamples, seed + part));
    if (method !== 'random') gradient = Math.max(gradient ?? 0, gradientMethod(f, xb, numSteps, stepSize, seed + part));
    xb.dispose();
  }
  return { value: Math.max(random ?? 0, gradient ?? 0), random, gradient };
}
