/**
 * The Björck loop itself, off the gradient tape, in four named steps (see bjorck.ts for the
 * method and its gradient):
 *
 * 1. `startFactor`: the small-side Gram matrix `G` and the start (a warm start `P0`, rescaled when
 *    that removes its scalar error and with part of its rotation removed when the kernel moved, or
 *    a cold start);
 * 2. `iterateOnSmallSide`: a polynomial finish from a warm start close to convergence, else
 *    Björck iterations on the factor `P` alone (`k x k` products), planned from the predicted
 *    convergence so that most need no read-back;
 * 3. `checkOnFullMatrix`: `z = w P`, checked by a random probe (or the real Gram matrix), and
 *    finished by the classical iteration on `z` when rounding left it short;
 * 4. the warm start to keep: the factor `P` itself (see `warmCandidates` for why not its
 *    symmetric part).
 */
import * as tf from '@tensorflow/tfjs-core';
import { frobeniusNorm, matMul } from '../../power_iteration';
import { stepMatrix } from './orders';
import { inverseSqrtPolynomial } from './polynomial';
import { conditionEstimate, gramResiduals, gramStats, predictedSteps, probeFactorResidual, probeResidual } from './residuals';

/** Settings of one run of the loop. */
export interface BjorckRunOptions {
  /** Stop once the change of an iteration (about `beta ||Y - I||_F`) is below `eps`. */
  eps: number;
  /** Step size in (0, 0.5] (0.5 for orders above 1). */
  beta: number;
  /** Maximum number of iterations. */
  maxIter: number;
  /** Taylor order of the step, 1 to 4 (orders.ts; default 1, DEEL-LIP's update). */
  order?: number;
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
  /** The warm start to pass next time (a copy of `p`). */
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
 * The share `alpha` of a warm start's rotation error removed per call at condition number `kappa`
 * (see {@link withoutRotation}), on the device: between two singular directions of ratio `rho`,
 * damping by `alpha` multiplies the error by `1 - alpha mu` with `mu = (rho + 1)^2 / (4 rho)` in
 * `[1, m]`, `m = (kappa + 1)^2 / (4 kappa)`; `alpha = 2 / (1 + m)` makes the largest factor
 * `(m - 1) / (m + 1)` (0 at kappa 1, 0.69 at 20), always below 1. Full symmetrization (`alpha = 1`,
 * what the warm start did before) multiplies it by `-(rho - 1)^2 / (4 rho)`, above 1 in magnitude
 * past `kappa = 3 + 2 sqrt(2)`, where the state diverged. 0 (no damping) when `kappa` is not a
 * finite number >= 1. Exported for tests.
 */
export function rotationDamping(kappa: tf.Scalar): tf.Scalar {
  return tf.tidy(() => {
    const valid = tf.logicalAnd(tf.greaterEqual(kappa, 1), tf.isFinite(kappa));
    const m = tf.div(tf.square(tf.add(kappa, 1)), tf.mul(kappa, 4));
    return tf.where(valid, tf.div(2, tf.add(m, 1)), tf.scalar(0)) as tf.Scalar;
  });
}

/**
 * A change of `w` smaller than this (`beta ||Y - I||_F < eps * MOVED_FRACTION` for the warm start's
 * Gram matrix `Y`) is rounding, not a moved kernel: the rotation is left alone, so that repeated
 * calls with the same kernel give the same result.
 */
const MOVED_FRACTION = 0.05;

/**
 * The rotation error `A` of the warm start (see {@link startFactor}) is removed in part when
 * `||P - P^T||_F` exceeds this: `P - P^T = G^(-1/2) A + A G^(-1/2)` (tall) bounds `2 ||A||_F`,
 * which is the Frobenius distance of the result from `polar(w)`; below it the start is used as
 * it is (what the removal costs, two `k x k` products, is then saved).
 */
const ROTATION_LIMIT = 2e-2;

/**
 * The warm start `P0` and its rescaled form `P0 / sqrt(c)` (`c` the mean diagonal of its Gram
 * matrix: the scalar part of its error, mostly the change of sigma between calls), with the
 * residuals of both and the size `||P - P^T||_F` of the rescaled form's rotation error, in one
 * read-back.
 */
function warmCandidates(side: SmallSide, p0: tf.Tensor2D): { plain: Iterate; scaled: Iterate; skew: number } {
  const [y0, ps, ys, stats] = tf.tidy(() => {
    const y = side.gramOfFactor(p0);
    const c = tf.div(tf.sum(tf.mul(y, tf.eye(side.k))), side.k);
    const pScaled = tf.div(p0, tf.sqrt(c)) as tf.Tensor2D;
    const yScaled = tf.div(y, c) as tf.Tensor2D;
    const skew = tf.reshape(frobeniusNorm(tf.sub(pScaled, tf.transpose(pScaled))), [1]);
    return [y, pScaled, yScaled, tf.concat([gramResiduals(y), gramResiduals(yScaled), skew])];
  }) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
  const [r0, m0, rs, ms, skew] = Array.from(stats.dataSync()) as number[];
  stats.dispose();
  return {
    plain: { p: tf.clone(p0), y: y0, r: r0!, rowMax: m0! },
    scaled: { p: ps, y: ys, r: rs!, rowMax: ms! },
    skew: skew!,
  };
}

/**
 * `p` with part of its rotation error removed, `p + alpha / 2 (p^T - p)` with the `alpha` of
 * {@link rotationDamping} for the estimated condition number, and its Gram matrix and residuals.
 *
 * Why: `P = G^(-1/2) (I + A)` (tall; `A` skew, small) gives the same orthonormal
 * `w P = polar(w) (I + A)` for any `A`, and every kernel change adds to `A`. The symmetric part of
 * `P` would drop `A`, but the next call's projection back onto `P^T G P = I` turns the error
 * between singular directions of ratio `rho` into `-(rho - 1)^2 / (4 rho)` times what it was,
 * which diverges past a condition number of 5.83; the damped step shrinks it at every condition
 * number, so that the state stays near `(w^T w)^(-1/2)` and the result near `polar(w)`.
 */
function withoutRotation(side: SmallSide, p: tf.Tensor2D, seed: number): Iterate {
  const [pd, yd, stats] = tf.tidy(() => {
    const halfAlpha = tf.div(rotationDamping(conditionEstimate(p, side.g, seed)), 2);
    const damped = tf.add(p, tf.mul(tf.sub(tf.transpose(p), p), halfAlpha)) as tf.Tensor2D;
    const y = side.gramOfFactor(damped);
    return [damped, y, gramResiduals(y)];
  }) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
  const [r, rowMax] = Array.from(stats.dataSync()) as number[];
  stats.dispose();
  return { p: pd, y: yd, r: r!, rowMax: rowMax! };
}

/**
 * The start: the warm start `P0` when its Gram matrix is close enough to `I`
 * (`WARM_START_LIMIT`), rescaled when that lowers the bound on `max |s^2 - 1|`, and with part of
 * its rotation removed when the kernel moved and the rotation is above `ROTATION_LIMIT` (see
 * {@link withoutRotation}); else a cold start.
 */
function startFactor(side: SmallSide, p0: tf.Tensor2D | null, moved: number, seed: number): Iterate {
  if (p0 != null && p0.shape[0] === side.k && p0.shape[1] === side.k) {
    const { plain, scaled, skew } = warmCandidates(side, p0);
    const usable = (it: Iterate) => Number.isFinite(it.r) && it.rowMax < WARM_START_LIMIT;
    const [base, other] = Number.isFinite(scaled.r) && scaled.rowMax < plain.rowMax ? [scaled, plain] : [plain, scaled];
    tf.dispose([other.p!, other.y]);
    if (usable(base) && base.r >= moved && skew > ROTATION_LIMIT) {
      const damped = withoutRotation(side, base.p!, seed);
      if (usable(damped)) {
        tf.dispose([base.p!, base.y]);
        return damped;
      }
      tf.dispose([damped.p!, damped.y]);
    }
    if (usable(base)) return base;
    tf.dispose([base.p!, base.y]);
  }
  const y = tf.clone(side.g);
  const [r, rowMax] = gramStats(y);
  return { p: null, y, r, rowMax };
}

/**
 * Björck iterations on the factor alone (`P <- P q(Y)`, `q` the step of the order (orders.ts),
 * `(1 + beta) I - beta Y` for order 1; `Y = Gram(w P)` from `G`), or one polynomial step from a
 * warm start close to convergence. Read-backs: none within a trusted plan (at most 4 predicted
 * steps), else every `checkEvery` iterations. Returns the factor (null when nothing was done from
 * a cold start) and the iteration count; disposes `it.y`.
 */
function iterateOnSmallSide(side: SmallSide, it: Iterate, opts: Required<Pick<BjorckRunOptions, 'eps' | 'beta' | 'maxIter' | 'checkEvery' | 'order'>>): {
  p: tf.Tensor2D | null;
  iterations: number;
} {
  const { eps, beta, maxIter, checkEvery, order } = opts;
  let { p, y, r, rowMax } = it;
  let iterations = 0;
  let budget = 0;
  let trusted = false;
  const plan = () => {
    const steps = predictedSteps(r, Math.min(r, rowMax), beta, eps, order);
    trusted = steps <= 4;
    budget = trusted ? steps : checkEvery;
  };
  let converged = beta * r < eps * 1e-2;
  if (!converged && Number.isFinite(r)) plan();
  if (!converged && p != null && Number.isFinite(r) && maxIter > 0 && budget >= 2 && Math.min(r, rowMax) <= 0.5) {
    const poly = inverseSqrtPolynomial(y, trusted ? budget : Infinity, order);
    if (poly != null) {
      const pNext = side.times(p, poly.q);
      tf.dispose([p, poly.q, y]);
      return { p: pNext, iterations: 1 };
    }
  }
  while (!converged && iterations < maxIter && budget > 0) {
    const step = stepMatrix(y, beta, order);
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
  opts: Required<Pick<BjorckRunOptions, 'eps' | 'beta' | 'maxIter' | 'formZ' | 'seed' | 'order'>>,
): { p: tf.Tensor2D | null; z: tf.Tensor2D | null; iterations: number; residual: number } {
  const { eps, beta, maxIter, formZ, seed, order } = opts;
  let { p, iterations } = start;
  // Without a factor (cold start, nothing to do) z is w itself.
  let z: tf.Tensor2D | null = p == null ? tf.clone(w) : formZ || !side.tall ? side.times(w, p) : null;
  if (p == null) return { p, z, iterations, residual: NaN };
  const probed = z == null ? probeFactorResidual(w, p, seed) : probeResidual(z, side.tall, seed);
  if (Number.isFinite(probed) && beta * probed < eps * PROBE_MARGIN) return { p, z, iterations, residual: probed };
  z ??= side.times(w, p);
  let y = side.gram(z);
  let [r] = gramStats(y);
  while (!(beta * r < eps) && Number.isFinite(r) && iterations < maxIter) {
    const step = stepMatrix(y, beta, order);
    const zNext = side.times(z, step);
    const pNext: tf.Tensor2D = side.times(p, step);
    tf.dispose([p, step, z, y]);
    z = zNext;
    p = pNext;
    iterations += 1;
    y = side.gram(z);
    [r] = gramStats(y);
  }
  y.dispose();
  return { p, z, iterations, residual: r };
}

/**
 * One run of the loop on `w` (tall or wide) from the optional warm start `p0` (call it off the
 * tape). The iterations run on the small side only: with `G = w^T w` (tall) or `w w^T` (wide),
 * the Gram matrix of the iterate `z = w p` is `p^T G p` (tall; `p G p^T` wide), so each iteration
 * costs a few `k x k` products instead of products with the large side; `z` is formed once.
 */
export function runBjorck(w: tf.Tensor2D, p0: tf.Tensor2D | null, options: BjorckRunOptions): BjorckRunResult {
  const opts = { checkEvery: 3, formZ: true, seed: 1, ...options, order: options.order ?? 1 };
  const side = smallSideOf(w, options.gramOfW ?? null);
  const start = startFactor(side, p0, (opts.eps * MOVED_FRACTION) / opts.beta, opts.seed);
  const r0 = start.r;
  const small = iterateOnSmallSide(side, start, opts);
  side.g.dispose();
  const checked = checkOnFullMatrix(w, side, small, opts);
  const p = checked.p ?? (tf.eye(side.k) as tf.Tensor2D);
  const residual = small.p == null && checked.p == null ? r0 : checked.residual;
  return { p, state: tf.clone(p), z: checked.z, iterations: checked.iterations, residual };
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
  order = 1,
): BjorckRunResult & { z: tf.Tensor2D } {
  const res = runBjorck(w, p0, { eps, beta, maxIter, checkEvery, formZ: true, seed, order });
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
