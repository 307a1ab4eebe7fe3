/**
 * Björck orthonormalization: `W <- (1 + beta) W - beta W W^T W`, which drives every singular
 * value of `W` to 1 when they all start in (0, 1] (the fixed point is the orthogonal polar factor
 * of `W`).
 *
 * How this implementation differs from a plain loop (less work; see below for what the warm start
 * changes):
 * - the product order follows the shape: `W (W^T W)` when `W` is tall, `(W W^T) W` when wide, so
 *   every square product has the size of the smaller side;
 * - it tracks the accumulated right (tall) or left (wide) factor `P` with `W_k = W_0 P` (tall) or
 *   `W_k = P W_0` (wide); `P` can be kept and passed back as a warm start, so that once the kernel
 *   moves only a little between training steps, one or two iterations suffice;
 * - the stopping test reads one number back from the device, then predicts from the known
 *   convergence rate how many more iterations are needed, so most iterations need no sync;
 * - a warm start `P0` close to convergence is finished by one polynomial step (a Taylor polynomial
 *   of `Y^(-1/2)`, see `inverseSqrtPolynomial`) instead of two or three iterations;
 * - the iterations run off the gradient tape; the gradient is the tangent projection on the
 *   Stiefel manifold: for `Z = W_0 P` (tall) and an upstream gradient `G`,
 *   `dW_0 = (G - Z sym(Z^T G)) P^T`.
 *
 * What the result and the gradient are, exactly. From a warm start `P0` (symmetric) the iterations
 * converge to `P = P0 (P0 W^T W P0)^(-1/2)`, so `Z = W P = polar(W P0)`: an orthonormal matrix (the
 * Lipschitz guarantee only needs that), equal to `polar(W)` up to a rotation of the order of the
 * change of `W` since `P0` was made, times the spread of its singular values (DEEL-LIP computes
 * `polar(W)` from a cold start every step). The gradient above is the exact derivative of
 * `W -> polar(W P0)` (with `P0` fixed) when `W P0` has orthonormal columns up to scale, and is
 * within a relative `O(||P0 W^T W P0 - I||)` of it otherwise: about the per-step change of the
 * kernel once training runs, i.e. a few percent; the same holds from a cold start where `W` is
 * orthonormal up to scale (the spectral initializer). It is also the limit of back-propagating
 * through Björck iterations once they have converged. Both the value and the gradient are
 * scale-invariant (`<dW_0, W_0> = 0`), so the gradient through a spectral normalization `W / sigma`
 * in front is the same with or without the path through `sigma`. Tests: the finite-difference
 * check of `orthogonalMatMul` and the scaled-orthogonal check in `normalizers.test.ts`.
 *
 * References: Björck & Bowie, "An iterative algorithm for computing the best estimate of an
 * orthogonal matrix", SIAM J. Numer. Anal. 1971; Anil, Lucas & Grosse, "Sorting out Lipschitz
 * function approximation", ICML 2019; DEEL-LIP `deel/lip/normalizers.py` (`bjorck_normalization`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_BETA_BJORCK, DEFAULT_EPS_BJORCK, DEFAULT_MAX_ITER_BJORCK } from '../core/defaults';
import { frobeniusNorm, matMul } from './power_iteration';

/** Options of {@link bjorckNormalization}. */
export interface BjorckOptions {
  /** Stop once `||W_k - W_{k-1}||_F < epsBjorck` (default 1e-3). */
  epsBjorck?: number;
  /** Step size in (0, 0.5] (default 0.5). */
  betaBjorck?: number;
  /** Maximum number of iterations (default 15). */
  maxIterBjorck?: number;
}

/** Result of {@link bjorckOrthogonalize}. */
export interface BjorckResult {
  /** The orthonormalized matrix (differentiable with respect to the input). */
  wBar: tf.Tensor2D;
  /**
   * Warm start for the next call (pass it as `p0`): the symmetric part of the accumulated factor
   * `P` (`wBar = w P` when `w` is tall, `wBar = P w` when wide), min(rows, cols) squared. Detached.
   */
  p: tf.Tensor2D;
  /** Number of iterations performed. */
  iterations: number;
  /** `||Y - I||_F` at the last test, `Y` the Gram matrix (small side) of the iterate. */
  residual: number;
}

/** The warm start is used only if `||Y - I||_inf < 0.9` (every squared singular value of the start in (0.1, 1.9)). */
const WARM_START_LIMIT = 0.9;

/**
 * Per singular value, with `d = s^2 - 1`, one step maps `d` to `(1 + d)(1 - beta d)^2 - 1`, whose
 * magnitude is at most `|d| * rate(|d|)`.
 */
function rate(m: number, beta: number): number {
  return Math.abs(1 - 2 * beta) + (2 * beta - beta * beta) * m + beta * beta * m * m;
}

/**
 * Number of steps after which the Frobenius residual `r = ||Y - I||_F` is predicted below
 * `eps / beta`, plus the final step (DEEL-LIP stops after the first step whose change, about
 * `beta * r`, is below `eps`). `m >= max |d|` bounds the per-value rate. Infinity when the
 * prediction is not usable (m >= 1).
 */
function predictedSteps(r: number, m: number, beta: number, eps: number): number {
  if (!(m < 1) || !(r >= 0)) return Infinity;
  let steps = 1;
  while (beta * r >= eps) {
    const c = rate(m, beta);
    if (!(c < 1)) return Infinity;
    r *= c;
    m *= c;
    steps += 1;
    if (steps > 64) return Infinity;
  }
  return steps;
}

/**
 * `||Y - I||_F` and `||Y - I||_inf` (max absolute row sum, an upper bound of the spectral norm of
 * the symmetric `Y - I`), read back in one sync.
 */
function gramStats(y: tf.Tensor2D): [number, number] {
  const values = tf.tidy(() => {
    const d = tf.sub(y, tf.eye(y.shape[0]));
    return tf.stack([frobeniusNorm(d), tf.max(tf.sum(tf.abs(d), 1))]);
  });
  const [r, rowMax] = Array.from(values.dataSync());
  values.dispose();
  return [r!, rowMax!];
}

/**
 * For the warm start's Gram matrix `Y`: `[||Y - I||_F, ||Y - I||_inf, c, ||Y/c - I||_F,
 * ||Y/c - I||_inf]` with `c` the mean of the diagonal of `Y`, in one read-back.
 */
function warmStartStats(y: tf.Tensor2D): [number, number, number, number, number] {
  const values = tf.tidy(() => {
    const k = y.shape[0];
    const eye = tf.eye(k);
    const c = tf.div(tf.sum(tf.mul(y, eye)), k);
    const d = tf.sub(y, eye);
    const ds = tf.sub(tf.div(y, c), eye);
    return tf.stack([frobeniusNorm(d), tf.max(tf.sum(tf.abs(d), 1)), c, frobeniusNorm(ds), tf.max(tf.sum(tf.abs(ds), 1))]);
  });
  const out = Array.from(values.dataSync());
  values.dispose();
  return out as [number, number, number, number, number];
}

/** Taylor coefficients of `(1 + d)^(-1/2)` (binomial(-1/2, i)), up to degree 8. */
const INVERSE_SQRT_TAYLOR = [1, -1 / 2, 3 / 8, -5 / 16, 35 / 128, -63 / 256, 231 / 1024, -429 / 2048, 6435 / 32768];
/** Polynomial degrees tried, cheapest first. */
const POLYNOMIAL_DEGREES = [4, 6, 8];
/**
 * Frobenius residual `||Y' - I||_F` that a polynomial step must provably reach: what the planned
 * Björck iterations reach (the step after `beta r < eps`, from `r = eps / beta`, leaves at most
 * `0.75 r^2` for beta 0.5: 3e-6 at the default tolerance).
 */
const POLYNOMIAL_TOLERANCE = 3e-6;

/**
 * One step `P <- P q(Y)` with `q` the Taylor polynomial of `Y^(-1/2)` around `I` of degree 4, 6
 * or 8 (`Y = I + D` the Gram matrix of the current iterate, symmetric), or `null` when no degree
 * is provably precise enough and cheaper than the planned Björck iterations.
 *
 * Precision: each eigenvalue `1 + d` of `Y` becomes `(1 + d) q(d)^2`, and for `|d| <= 0.5`
 * `|(1 + d) q(d)^2 - 1| <= 0.65 |d|^(n+1)` (the Taylor remainder: the ratio is `2 |c_(n+1)|` below
 * 0.5 near 0 and peaks at `d = -0.5`: 0.64, 0.56, 0.50 for n = 4, 6, 8), so the new residual is at
 * most `0.65 ||D^(n+1)||_F <= 0.65 ||D^2||_F^((n+1)/2)` (p-norm monotonicity on the eigenvalues).
 * `||D^2||_F` (one product, one read-back) is a much tighter measure than `||D||_F` because it
 * weighs the largest eigenvalues.
 *
 * Cost: the polynomial is evaluated by Horner's rule in `D^2`, `q = c0 + c1 D + D^2 (c2 + c3 D +
 * D^2 (c4 + c5 D + ...))`, each level one product, so degree `n` costs `n / 2` products (`D^2`
 * included) and the caller's update one more; `bjorckSteps` planned Björck iterations would cost
 * `3 bjorckSteps - 2` (one update and a two-product Gram matrix each, the last without). From a
 * warm start this replaces two to four iterations. Internal; exported for tests.
 */
export function inverseSqrtPolynomial(y: tf.Tensor2D, bjorckSteps: number): { q: tf.Tensor2D; degree: number } | null {
  const k = y.shape[0];
  const eye = tf.eye(k);
  const d = tf.sub(y, eye) as tf.Tensor2D;
  const d2 = matMul(d, d);
  const s2Tensor = frobeniusNorm(d2);
  const s2 = s2Tensor.dataSync()[0]!;
  s2Tensor.dispose();
  const bjorckCost = 3 * bjorckSteps - 2;
  const degree = POLYNOMIAL_DEGREES.find(
    (n) => 0.65 * s2 ** ((n + 1) / 2) <= POLYNOMIAL_TOLERANCE && n / 2 + 1 < bjorckCost,
  );
  if (degree === undefined) {
    tf.dispose([eye, d, d2]);
    return null;
  }
  const c = INVERSE_SQRT_TAYLOR;
  const q = tf.tidy(() => {
    const level = (j: number, rest: tf.Tensor) => tf.add(tf.add(tf.mul(eye, c[j]!), tf.mul(d, c[j + 1]!)), rest);
    let inner = level(degree - 2, tf.mul(d2, c[degree]!));
    for (let j = degree - 4; j >= 0; j -= 2) inner = level(j, matMul(d2, inner as tf.Tensor2D));
    return inner;
  }) as tf.Tensor2D;
  tf.dispose([eye, d, d2]);
  return { q, degree };
}

/** Number of random probe columns of {@link probeResidual}. */
const PROBES = 4;
/** The probe alone is trusted when it is below this fraction of the tolerance. */
const PROBE_MARGIN = 0.1;
let probeSeed = 1;

/**
 * Estimate of `||Gram(z) - I||_F` (Gram on the small side) from `PROBES` Gaussian vectors:
 * `||E V||_F^2 / PROBES` has expectation `||E||_F^2`; two thin products instead of the full Gram.
 */
function probeResidual(z: tf.Tensor2D, tall: boolean): number {
  const value = tf.tidy(() => {
    const k = tall ? z.shape[1] : z.shape[0];
    probeSeed = (probeSeed * 16807) % 2147483647;
    const v = tf.randomNormal([k, PROBES], 0, 1, 'float32', probeSeed) as tf.Tensor2D;
    const gv = tall ? matMul(z, matMul(z, v), true, false) : matMul(z, matMul(z, v, true, false));
    return tf.div(frobeniusNorm(tf.sub(gv, v)), Math.sqrt(PROBES));
  });
  const r = value.dataSync()[0]!;
  value.dispose();
  return r;
}

/**
 * The same estimate for the tall `z = w p` without forming `z`: `z^T z V = p^T w^T (w (p V))`,
 * four thin products (the transposes fall on the 4-row side).
 */
function probeFactorResidual(w: tf.Tensor2D, p: tf.Tensor2D): number {
  const value = tf.tidy(() => {
    const k = w.shape[1];
    probeSeed = (probeSeed * 16807) % 2147483647;
    const v = tf.randomNormal([k, PROBES], 0, 1, 'float32', probeSeed) as tf.Tensor2D;
    const zv = matMul(w, matMul(p, v));
    // (z^T z V)^T = (zV)^T w p, PROBES x k.
    const gvT = matMul(matMul(zv, w, true, false), p);
    return tf.div(frobeniusNorm(tf.sub(gvT, tf.transpose(v))), Math.sqrt(PROBES));
  });
  const r = value.dataSync()[0]!;
  value.dispose();
  return r;
}

interface FactorResult {
  /** The factor with `z = w p` (tall) or `z = p w` (wide). */
  p: tf.Tensor2D;
  /** Symmetric part of `p`: the warm start to pass next time. */
  state: tf.Tensor2D;
  iterations: number;
  residual: number;
}

interface IterateResult extends FactorResult {
  /** The orthonormalized matrix. */
  z: tf.Tensor2D;
}

interface CoreResult extends FactorResult {
  /** The orthonormalized matrix, or `null` when it was not needed to check the result. */
  z: tf.Tensor2D | null;
}

/**
 * The Björck loop itself (call it off the tape). `w` is tall or wide; `p0` an optional warm start.
 * Internal; exported for the layers' kernel state and for tests.
 *
 * The iterations run on the small side only: with `G = w^T w` (tall) or `w w^T` (wide), the Gram
 * matrix of the iterate `z = w p` is `p^T G p` (tall; `p G p^T` wide), so each iteration costs a
 * few `k x k` products instead of products with the large side; `z = w p` is formed once at the
 * end. Because `G` is rounded once, the result is then checked against `z` itself: a 4-column
 * random probe of `z^T z - I` (two thin products) when it is 10x below the tolerance, else the
 * real Gram matrix of `z` (one large product); if rounding left it short of the tolerance (an
 * ill-conditioned `w`), the classical iteration on `z` finishes the job. A warm start is first
 * rescaled so that the mean diagonal of its Gram matrix is 1 (removing exactly the scalar part of
 * its error, mostly due to the change of sigma since the last call) when that lowers the error.
 */
export function bjorckIterate(
  w: tf.Tensor2D,
  p0: tf.Tensor2D | null,
  eps: number,
  beta: number,
  maxIter: number,
  checkEvery = 3,
): IterateResult {
  const res = bjorckCore(w, p0, eps, beta, maxIter, checkEvery, true);
  const tall = w.shape[0] >= w.shape[1];
  const z = res.z ?? (tall ? matMul(w, res.p) : matMul(res.p, w));
  return { ...res, z };
}

/**
 * The factor `p` of {@link bjorckIterate} (`w p` orthonormal) for a tall `w`, without forming
 * `w p` when the random probe already shows it converged (the layers that apply `w p` as
 * `(x w) p` never need it). `gram`, when given, is `w^T w` computed by the caller (not taken over).
 * Call it off the tape.
 */
export function bjorckFactor(
  w: tf.Tensor2D,
  p0: tf.Tensor2D | null,
  eps: number,
  beta: number,
  maxIter: number,
  gram: tf.Tensor2D | null = null,
): FactorResult {
  const res = bjorckCore(w, p0, eps, beta, maxIter, 3, false, gram);
  res.z?.dispose();
  return { p: res.p, state: res.state, iterations: res.iterations, residual: res.residual };
}

function bjorckCore(
  w: tf.Tensor2D,
  p0: tf.Tensor2D | null,
  eps: number,
  beta: number,
  maxIter: number,
  checkEvery: number,
  formZ: boolean,
  gramOfW: tf.Tensor2D | null = null,
): CoreResult {
  const [m, n] = w.shape;
  const tall = m >= n;
  const k = Math.min(m, n);
  const gram = (z: tf.Tensor2D) => (tall ? matMul(z, z, true, false) : matMul(z, z, false, true));
  // Multiplies by a small-side square matrix on the small side.
  const onSmallSide = (a: tf.Tensor2D, s: tf.Tensor2D) => (tall ? matMul(a, s) : matMul(s, a));
  const g = gramOfW == null ? gram(w) : tf.clone(gramOfW);
  // Gram matrix of w p (tall) or p w (wide), from G alone.
  const gramOfFactor = (p: tf.Tensor2D) =>
    tf.tidy(() => (tall ? matMul(p, matMul(g, p), true, false) : matMul(p, matMul(g, p, false, true)))) as tf.Tensor2D;

  let p: tf.Tensor2D | null = null;
  let y: tf.Tensor2D;
  let r: number;
  let rowMax: number;
  const coldStart = () => {
    y = tf.clone(g);
    [r, rowMax] = gramStats(y);
  };
  if (p0 != null && p0.shape[0] === k && p0.shape[1] === k) {
    const y0 = gramOfFactor(p0);
    // The scalar part of the warm start's error (mostly the change of sigma between calls) is
    // removed exactly by scaling p0 by 1/sqrt(c), c the mean diagonal of Y; kept only when it
    // lowers the bound on max |s^2 - 1|. One read-back for both candidates.
    const [r0, rowMax0, c, rScaled, rowMaxScaled] = warmStartStats(y0);
    const useScaled = Number.isFinite(rScaled) && c > 0 && rowMaxScaled < rowMax0;
    [r, rowMax] = useScaled ? [rScaled, rowMaxScaled] : [r0, rowMax0];
    if (Number.isFinite(r) && rowMax < WARM_START_LIMIT) {
      if (useScaled) {
        p = tf.div(p0, Math.sqrt(c)) as tf.Tensor2D;
        y = tf.div(y0, c) as tf.Tensor2D;
        y0.dispose();
      } else {
        p = tf.clone(p0);
        y = y0;
      }
    } else {
      y0.dispose();
      coldStart();
    }
  } else {
    coldStart();
  }

  let iterations = 0;
  let budget = 0;
  let trusted = false;
  const plan = () => {
    const steps = predictedSteps(r, Math.min(r, rowMax), beta, eps);
    if (steps <= 4) {
      budget = steps;
      trusted = true;
    } else {
      budget = checkEvery;
      trusted = false;
    }
  };
  const eye = tf.tidy(() => tf.mul(tf.eye(k), 1 + beta)) as tf.Tensor2D;
  // (1 + beta) I - beta Y
  const stepOf = (yk: tf.Tensor2D) => tf.tidy(() => tf.sub(eye, tf.mul(yk, beta))) as tf.Tensor2D;
  // Small-side iterations on p.
  let converged = beta * r! < eps * 1e-2;
  if (!converged && Number.isFinite(r!)) plan();
  // A warm start close to convergence takes one polynomial step instead, when that is cheaper than
  // the planned Björck iterations and provably as precise (see inverseSqrtPolynomial).
  if (!converged && p != null && Number.isFinite(r!) && maxIter > 0 && budget >= 2 && Math.min(r!, rowMax!) <= 0.5) {
    const poly = inverseSqrtPolynomial(y!, trusted ? budget : Infinity);
    if (poly != null) {
      const pNext = onSmallSide(p, poly.q);
      tf.dispose([p, poly.q, y!]);
      p = pNext;
      iterations += 1;
      converged = true;
    }
  }
  while (!converged && iterations < maxIter && budget > 0) {
    const step = stepOf(y!);
    const pNext = p == null ? step : onSmallSide(p, step);
    if (p != null) {
      p.dispose();
      step.dispose();
    }
    y!.dispose();
    p = pNext;
    iterations += 1;
    budget -= 1;
    // The last iteration needs no small-side Gram: the check below uses the real one.
    if (iterations >= maxIter || (budget === 0 && trusted)) break;
    y = gramOfFactor(p);
    if (budget === 0) {
      [r, rowMax] = gramStats(y);
      if (!Number.isFinite(r)) break;
      plan();
    }
  }
  if (!y!.isDisposed) y!.dispose();
  g.dispose();
  // Without a factor (cold start, nothing to do) z is w itself.
  let z: tf.Tensor2D | null = p == null ? tf.clone(w) : formZ || !tall ? onSmallSide(w, p) : null;
  // Check on the real Gram matrix of z; finish with the classical iteration if needed. A cheap
  // probe comes first: for E = Gram(z) - I and PROBES Gaussian columns V, ||E V||_F^2 / PROBES
  // estimates ||E||_F^2; far below the tolerance, the full Gram matrix is not formed.
  const probed = p == null ? NaN : z == null ? probeFactorResidual(w, p) : probeResidual(z, tall);
  if (Number.isFinite(probed) && beta * probed < eps * PROBE_MARGIN) {
    r = probed;
  } else if (p != null) {
    z ??= onSmallSide(w, p);
    y = gram(z);
    [r, rowMax] = gramStats(y);
    converged = beta * r < eps;
    while (!converged && Number.isFinite(r) && iterations < maxIter) {
      const step = stepOf(y);
      const zNext = onSmallSide(z, step);
      const pNext = onSmallSide(p, step);
      p.dispose();
      step.dispose();
      z.dispose();
      y.dispose();
      z = zNext;
      p = pNext;
      iterations += 1;
      y = gram(z);
      [r, rowMax] = gramStats(y);
      converged = beta * r < eps;
    }
    y.dispose();
  }
  eye.dispose();
  const pFinal = p ?? (tf.eye(k) as tf.Tensor2D);
  // Warm start for next time: the symmetric part of P. Restarting from a symmetric factor keeps
  // the result the polar factor of W up to the change of W since the last call (the only
  // symmetric P with P W^T W P = I is (W^T W)^(-1/2)); an unsymmetrized P would let the result
  // drift by a rotation that accumulates over training.
  const state = tf.tidy(() => tf.mul(tf.add(pFinal, tf.transpose(pFinal)), 0.5)) as tf.Tensor2D;
  return { z, p: pFinal, state, iterations, residual: r! };
}

/** Gradient of the polar factor at the converged point (see the module comment). */
function polarGradient(dy: tf.Tensor2D, z: tf.Tensor2D, p: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const [m, n] = z.shape;
    if (m >= n) {
      const s = matMul(z, dy, true, false);
      const sym = tf.mul(tf.add(s, tf.transpose(s)), 0.5) as tf.Tensor2D;
      const tangent = tf.sub(dy, matMul(z, sym)) as tf.Tensor2D;
      return matMul(tangent, p, false, true);
    }
    const s = matMul(dy, z, false, true);
    const sym = tf.mul(tf.add(s, tf.transpose(s)), 0.5) as tf.Tensor2D;
    const tangent = tf.sub(dy, matMul(sym, z)) as tf.Tensor2D;
    return matMul(p, tangent, true, false);
  });
}

/**
 * Björck orthonormalization of a 2-D `w` (its singular values should be at most 1, e.g. after
 * spectral normalization), optionally warm-started from the factor `p0` returned by a previous
 * call. Differentiable with respect to `w` (see the module comment for the gradient used).
 */
export function bjorckOrthogonalize(
  w: tf.Tensor2D,
  p0: tf.Tensor2D | null,
  options: BjorckOptions = {},
): BjorckResult {
  const eps = options.epsBjorck ?? DEFAULT_EPS_BJORCK;
  const beta = options.betaBjorck ?? DEFAULT_BETA_BJORCK;
  const maxIter = options.maxIterBjorck ?? DEFAULT_MAX_ITER_BJORCK;
  let pKept: tf.Tensor2D | null = null;
  let iterations = 0;
  let residual = NaN;
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const wIn = args[0] as tf.Tensor2D;
    const save = args[1] as tf.GradSaveFunc;
    const res = bjorckIterate(wIn, p0, eps, beta, maxIter);
    pKept = tf.keep(res.state);
    iterations = res.iterations;
    residual = res.residual;
    save([res.z, res.p]);
    return {
      value: res.z,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        polarGradient(dy as tf.Tensor2D, saved[0] as tf.Tensor2D, saved[1] as tf.Tensor2D),
    };
  });
  const wBar = f(w) as tf.Tensor2D;
  const kept = pKept as unknown as tf.Tensor2D;
  const p = tf.clone(kept);
  kept.dispose();
  return { wBar, p, iterations, residual };
}

/**
 * Björck orthonormalization (cold start): every singular value of the returned matrix is 1
 * within the tolerance, provided those of `w` lie in (0, 1]. Differentiable.
 */
export function bjorckNormalization(w: tf.Tensor2D, options: BjorckOptions = {}): tf.Tensor2D {
  const { wBar, p } = bjorckOrthogonalize(w, null, options);
  p.dispose();
  return wBar;
}
