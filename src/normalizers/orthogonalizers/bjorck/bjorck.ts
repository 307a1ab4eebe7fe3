/**
 * Björck orthonormalization: `W <- (1 + beta) W - beta W W^T W`, which drives every singular
 * value of `W` to 1 when they all start in (0, 1] (the fixed point is the orthogonal polar factor
 * of `W`); `bjorckOrder` 2 to 4 use LNets' higher Taylor orders of the same update (orders.ts).
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
 * What the result and the gradient are, exactly. From a warm start `P0` the iterations
 * converge to `P = P0 (P0^T W^T W P0)^(-1/2)`, so `Z = W P = polar(W P0)`: an orthonormal matrix (the
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
import { DEFAULT_BETA_BJORCK, DEFAULT_BJORCK_ORDER, DEFAULT_EPS_BJORCK, DEFAULT_MAX_ITER_BJORCK } from '../../../core/defaults';
import { matMul } from '../../power_iteration';
import { bjorckIterate } from './iterate';
import { checkBjorckOrder } from './orders';

/** Options of {@link bjorckNormalization}. */
export interface BjorckOptions {
  /** Stop once `||W_k - W_{k-1}||_F < epsBjorck` (default 1e-3). */
  epsBjorck?: number;
  /** Step size in (0, 0.5] (default 0.5). */
  betaBjorck?: number;
  /** Maximum number of iterations (default 15). */
  maxIterBjorck?: number;
  /** Taylor order of the update, 1 to 4 (default 1: `(1 + beta) W - beta W WᵀW`; orders.ts). */
  bjorckOrder?: number;
  /** Seed of the random probe that checks convergence (default 1). */
  seed?: number;
}

/** Result of {@link bjorckOrthogonalize}. */
export interface BjorckResult {
  /** The orthonormalized matrix (differentiable with respect to the input). */
  wBar: tf.Tensor2D;
  /**
   * Warm start for the next call (pass it as `p0`): the accumulated factor `P` (`wBar = w P` when
   * `w` is tall, `wBar = P w` when wide), min(rows, cols) squared; the next call removes part of
   * its rotation when the kernel moved (iterate.ts, `withoutRotation`). Detached.
   */
  p: tf.Tensor2D;
  /** Number of iterations performed. */
  iterations: number;
  /** `||Y - I||_F` at the last test, `Y` the Gram matrix (small side) of the iterate. */
  residual: number;
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
  const order = checkBjorckOrder(options.bjorckOrder ?? DEFAULT_BJORCK_ORDER, beta);
  let pKept: tf.Tensor2D | null = null;
  let iterations = 0;
  let residual = NaN;
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const wIn = args[0] as tf.Tensor2D;
    const save = args[1] as tf.GradSaveFunc;
    const res = bjorckIterate(wIn, p0, eps, beta, maxIter, 3, options.seed ?? 1, order);
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
