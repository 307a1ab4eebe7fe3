/**
 * The Björck loop itself, off the gradient tape, in four named steps (see bjorck.ts for the
 * method and its gradient):
 *
 * 1. `startFactor`: the small-side Gram matrix `G` and the start (a warm start `P0`, rescaled when
 *    that removes its scalar error, or a cold start);
 * 2. `iterateOnSmallSide`: a polynomial finish from a warm start close to convergence, else
 *    Björck iterations on the factor `P` alone (`k x k` products), planned from the predicted
 *    convergence so that most need no read-back;
 * 3. `checkOnFullMatrix`: `z = w P`, checked by a random probe (or the real Gram matrix), and
 *    finished by the classical iteration on `z` when rounding left it short;
 * 4. `symmetricState`: the warm start to keep.
 */
import * as tf from '@tensorflow/tfjs-core';
import { matMul } from '../../power_iteration';
import { inverseSqrtPolynomial } from './polynomial';
import { gramStats, predictedSteps, probeFactorResidual, probeResidual, warmStartStats } from './residuals';

/** Settings of one run of the loop. */
export interface BjorckRunOptions {
  /** Stop once the change of an iteration (about `beta ||Y - I||_F`) is below `eps`. */
  eps: number;
  /** Step size in (0, 0.5]. */
  beta: number;
  /** Maximum number of iterations. */
  maxIter: number;
  /** Iterations between two read-backs when the convergence cannot be predicted (default 3). */
  checkEvery?: number;
  /** Form `z = w P` even when a probe can check `P` without it (default true). */
  formZ?: boolean;
  /** `w^T w` (tall `w`) computed by the caller, or null (not taken over). */
  gramOfW?: tf.Tensor2D | null;
  /** Seed of the random probe's Gaussian columns (default 1). */
  seed?: number;
}

/** What a run returns. */
export interface BjorckRunResult {
  /** The factor with `z = w p` (tall) or `z = p w` (wide). */
  p: tf.Tensor2D;
  /** Symmetric part of `p`: the warm start to pass next time. */
  state: tf.Tensor2D;
  /** The orthonormalized matrix, or `null` when it was not needed (`formZ: false`). */
  z: tf.Tensor2D | null;
  iterations: number;
  /** `||Gram - I||_F` at the last check. */
  residual: number;
}

/** The warm start is used only if `||Y - I||_inf < 0.9` (every squared singular value of the start in (0.1, 1.9)). */
const WARM_START_LIMIT = 0.9;
/** The probe alone is trusted when it is below this fraction of the tolerance. */
const PROBE_MARGIN = 0.1;

/** The small side of `w` and the products that stay on it. */
interface SmallSide {
  tall: boolean;
  k: number;
  /** Gram matrix of `w` on the small side. */
  g: tf.Tensor2D;
  gram(z: tf.Tensor2D): tf.Tensor2D;
  /** `a s` (tall) or `s a` (wide), `s` small-side square. */
  times(a: tf.Tensor2D, s: tf.Tensor2D): tf.Tensor2D;
  /** Gram matrix of `w p` (tall) or `p w` (wide), from `G` alone. */
  gramOfFactor(p: tf.Tensor2D): tf.Tensor2D;
}

function smallSideOf(w: tf.Tensor2D, gramOfW: tf.Tensor2D | null): SmallSide {
  const [m, n] = w.shape;
  const tall = m >= n;
  const gram = (z: tf.Tensor2D) => (tall ? matMul(z, z, true, false) : matMul(z, z, false, true));
  const g = gramOfW == null ? gram(w) : tf.clone(gramOfW);
  return {
    tall,
    k: Math.min(m, n),
    g,
    gram,
    times: (a, s) => (tall ? matMul(a, s) : matMul(s, a)),
    gramOfFactor: (p) =>
      tf.tidy(() => (tall ? matMul(p, matMul(g, p), true, false) : matMul(p, matMul(g, p, false, true)))) as tf.Tensor2D,
  };
}

/** The current iterate of the small-side loop: factor (null: the identity), its Gram matrix and residuals. */
interface Iterate {
  p: tf.Tensor2D | null;
  y: tf.Tensor2D;
  r: number;
  rowMax: number;
}

/**
 * The start: `P0` when its Gram matrix is close enough to `I` (`WARM_START_LIMIT`), rescaled by
 * `1/sqrt(c)` (`c` the mean diagonal of its Gram matrix: the scalar part of its error, mostly the
 * change of sigma between calls) when that lowers the bound on `max |s^2 - 1|`; else a cold start.
 */
function startFactor(side: SmallSide, p0: tf.Tensor2D | null): Iterate {
  if (p0 != null && p0.shape[0] === side.k && p0.shape[1] === side.k) {
    const y0 = side.gramOfFactor(p0);
    const [r0, rowMax0, c, rScaled, rowMaxScaled] = warmStartStats(y0);
    const useScaled = Number.isFinite(rScaled) && c > 0 && rowMaxScaled < rowMax0;
    const [r, rowMax] = useScaled ? [rScaled, rowMaxScaled] : [r0, rowMax0];
    if (Number.isFinite(r) && rowMax < WARM_START_LIMIT) {
      if (!useScaled) return { p: tf.clone(p0), y: y0, r, rowMax };
      const y = tf.div(y0, c) as tf.Tensor2D;
      y0.dispose();
      return { p: tf.div(p0, Math.sqrt(c)) as tf.Tensor2D, y, r, rowMax };
    }
    y0.dispose();
  }
  const y = tf.clone(side.g);
  const [r, rowMax] = gramStats(y);
  return { p: null, y, r, rowMax };
}

/**
 * Björck iterations on the factor alone (`P <- P ((1 + beta) I - beta Y)`, `Y = Gram(w P)` from
 * `G`), or one polynomial step from a warm start close to convergence. Read-backs: none within a
 * trusted plan (at most 4 predicted steps), else every `checkEvery` iterations. Returns the
 * factor (null when nothing was done from a cold start) and the iteration count; disposes `it.y`.
 */
function iterateOnSmallSide(side: SmallSide, it: Iterate, opts: Required<Pick<BjorckRunOptions, 'eps' | 'beta' | 'maxIter' | 'checkEvery'>>): {
  p: tf.Tensor2D | null;
  iterations: number;
} {
  const { eps, beta, maxIter, checkEvery } = opts;
  let { p, y, r, rowMax } = it;
  let iterations = 0;
  let budget = 0;
  let trusted = false;
  const plan = () => {
    const steps = predictedSteps(r, Math.min(r, rowMax), beta, eps);
    trusted = steps <= 4;
    budget = trusted ? steps : checkEvery;
  };
  let converged = beta * r < eps * 1e-2;
  if (!converged && Number.isFinite(r)) plan();
  if (!converged && p != null && Number.isFinite(r) && maxIter > 0 && budget >= 2 && Math.min(r, rowMax) <= 0.5) {
    const poly = inverseSqrtPolynomial(y, trusted ? budget : Infinity);
    if (poly != null) {
      const pNext = side.times(p, poly.q);
      tf.dispose([p, poly.q, y]);
      return { p: pNext, iterations: 1 };
    }
  }
  const eye = tf.tidy(() => tf.mul(tf.eye(side.k), 1 + beta)) as tf.Tensor2D;
  while (!converged && iterations < maxIter && budget > 0) {
    const step = tf.tidy(() => tf.sub(eye, tf.mul(y, beta))) as tf.Tensor2D;
    const pNext = p == null ? step : side.times(p, step);
    if (p != null) tf.dispose([p, step]);
    y.dispose();
    p = pNext;
    iterations += 1;
    budget -= 1;
    // The last iteration needs no small-side Gram: the full check uses the real one.
    if (iterations >= maxIter || (budget === 0 && trusted)) break;
    y = side.gramOfFactor(p);
    if (budget === 0) {
      [r, rowMax] = gramStats(y);
      if (!Number.isFinite(r)) break;
      plan();
    }
  }
  if (!y.isDisposed) y.dispose();
  eye.dispose();
  return { p, iterations };
}

/**
 * `z = w p` checked against itself (the small-side Gram matrix was rounded once): a 4-column
 * random probe of `Gram(z) - I` when it is 10x below the tolerance, else the real Gram matrix;
 * if rounding left it short (an ill-conditioned `w`), classical iterations on `z` finish the job.
 */
function checkOnFullMatrix(
  w: tf.Tensor2D,
  side: SmallSide,
  start: { p: tf.Tensor2D | null; iterations: number },
  opts: Required<Pick<BjorckRunOptions, 'eps' | 'beta' | 'maxIter' | 'formZ' | 'seed'>>,
): { p: tf.Tensor2D | null; z: tf.Tensor2D | null; iterations: number; residual: number } {
  const { eps, beta, maxIter, formZ, seed } = opts;
  let { p, iterations } = start;
  // Without a factor (cold start, nothing to do) z is w itself.
  let z: tf.Tensor2D | null = p == null ? tf.clone(w) : formZ || !side.tall ? side.times(w, p) : null;
  if (p == null) return { p, z, iterations, residual: NaN };
  const probed = z == null ? probeFactorResidual(w, p, seed) : probeResidual(z, side.tall, seed);
  if (Number.isFinite(probed) && beta * probed < eps * PROBE_MARGIN) return { p, z, iterations, residual: probed };
  z ??= side.times(w, p);
  let y = side.gram(z);
  let [r] = gramStats(y);
  const eye = tf.tidy(() => tf.mul(tf.eye(side.k), 1 + beta)) as tf.Tensor2D;
  while (!(beta * r < eps) && Number.isFinite(r) && iterations < maxIter) {
    const step = tf.tidy(() => tf.sub(eye, tf.mul(y, beta))) as tf.Tensor2D;
    const zNext = side.times(z, step);
    const pNext: tf.Tensor2D = side.times(p, step);
    tf.dispose([p, step, z, y]);
    z = zNext;
    p = pNext;
    iterations += 1;
    y = side.gram(z);
    [r] = gramStats(y);
  }
  tf.dispose([y, eye]);
  return { p, z, iterations, residual: r };
}

/**
 * The warm start to keep: the symmetric part of `P`. Restarting from a symmetric factor keeps the
 * result the polar factor of W up to the change of W since the last call (the only symmetric P
 * with `P W^T W P = I` is `(W^T W)^(-1/2)`); an unsymmetrized P would let the result drift by a
 * rotation that accumulates over training.
 */
function symmetricState(p: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.mul(tf.add(p, tf.transpose(p)), 0.5)) as tf.Tensor2D;
}

/**
 * One run of the loop on `w` (tall or wide) from the optional warm start `p0` (call it off the
 * tape). The iterations run on the small side only: with `G = w^T w` (tall) or `w w^T` (wide),
 * the Gram matrix of the iterate `z = w p` is `p^T G p` (tall; `p G p^T` wide), so each iteration
 * costs a few `k x k` products instead of products with the large side; `z` is formed once.
 */
export function runBjorck(w: tf.Tensor2D, p0: tf.Tensor2D | null, options: BjorckRunOptions): BjorckRunResult {
  const opts = { checkEvery: 3, formZ: true, seed: 1, ...options };
  const side = smallSideOf(w, options.gramOfW ?? null);
  const start = startFactor(side, p0);
  const r0 = start.r;
  const small = iterateOnSmallSide(side, start, opts);
  side.g.dispose();
  const checked = checkOnFullMatrix(w, side, small, opts);
  const p = checked.p ?? (tf.eye(side.k) as tf.Tensor2D);
  const residual = small.p == null && checked.p == null ? r0 : checked.residual;
  return { p, state: symmetricState(p), z: checked.z, iterations: checked.iterations, residual };
}

/**
 * The orthonormalized `z` (formed) and its factor: `z = w p` (tall) or `p w` (wide). Internal;
 * exported for the kernel state's condense refinement and for tests.
 */
export function bjorckIterate(
  w: tf.Tensor2D,
  p0: tf.Tensor2D | null,
  eps: number,
  beta: number,
  maxIter: number,
  checkEvery = 3,
  seed = 1,
): BjorckRunResult & { z: tf.Tensor2D } {
  const res = runBjorck(w, p0, { eps, beta, maxIter, checkEvery, formZ: true, seed });
  return { ...res, z: res.z ?? (w.shape[0] >= w.shape[1] ? matMul(w, res.p) : matMul(res.p, w)) };
}

/**
 * The factor `p` (`w p` orthonormal) for a tall `w`, without forming `w p` when the random probe
 * already shows it converged (the fused training product applies `w p` as `(x w) p`). `gram`,
 * when given, is `w^T w` computed by the caller (not taken over). Call it off the tape.
 */
export function bjorckFactor(
  w: tf.Tensor2D,
  p0: tf.Tensor2D | null,
  options: BjorckRunOptions,
): Omit<BjorckRunResult, 'z'> {
  const res = runBjorck(w, p0, { ...options, formZ: false });
  res.z?.dispose();
  return { p: res.p, state: res.state, iterations: res.iterations, residual: res.residual };
}
