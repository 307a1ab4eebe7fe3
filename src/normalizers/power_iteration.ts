/**
 * Power iteration over a linear operator and its adjoint, run outside the gradient tape, plus the
 * small matrix helpers shared by the normalizers.
 *
 * References: DEEL-LIP `deel/lip/normalizers.py` (`_power_iteration`); Miyato et al., "Spectral
 * Normalization for Generative Adversarial Networks", ICLR 2018.
 */
import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_EPS_SPECTRAL, DEFAULT_MAX_ITER_SPECTRAL } from '../core/defaults';

/** A linear map on tensors (no bias). */
export type LinearOperator = (x: tf.Tensor) => tf.Tensor;

/** Options of {@link powerIteration}. */
export interface PowerIterationOptions {
  /** Maximum number of iterations (default 10). */
  maxIter?: number;
  /** Stop once `||u_k - u_{k-1}||_2 < eps` (default 1e-3). */
  eps?: number;
  /**
   * The convergence test reads a scalar back from the device; it is done only every
   * `checkEvery` iterations (default 3), so most iterations cost no synchronization.
   */
  checkEvery?: number;
}

/** Result of {@link powerIteration}; every tensor is detached from the gradient tape. */
export interface PowerIterationResult {
  /** Unit right singular vector estimate (shape of `u0`). */
  u: tf.Tensor;
  /** Unit left singular vector estimate: `op(u) / ||op(u)||` (shape of `op(u0)`). */
  v: tf.Tensor;
  /** Largest singular value estimate `<v, op(u)>` (a scalar, detached). */
  sigma: tf.Scalar;
  /** Number of iterations performed. */
  iterations: number;
}

/** Smallest norm used when normalizing, so that a zero vector gives zeros rather than NaN. */
const TINY = 1e-12;

/**
 * `||x||_2` over all elements, as `sqrt(sum(x^2))`: `tf.norm` goes through the `Pow` kernel, which
 * tfjs-backend-wasm runs element by element through `powf` (a 256x256 norm took 0.4 ms there).
 */
export function frobeniusNorm(x: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.sqrt(tf.sum(tf.square(x)))) as tf.Scalar;
}

/** `x / max(||x||_2, 1e-12)` over all elements. */
export function l2Normalize(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.div(x, tf.maximum(frobeniusNorm(x), TINY)));
}

/**
 * Runs `fn` with the gradient tape off: nothing it computes is recorded, so no gradient flows
 * through its results and none of its intermediates is kept for back-propagation. The returned
 * tensors belong to the caller's scope. (tfjs-core has no `stopGradient`; a custom-gradient
 * kernel runs its forward function off the tape, which is what this uses.)
 */
export function untaped<T extends tf.Tensor[]>(fn: () => T): T {
  let kept: tf.Tensor[] = [];
  const marker = tf.customGrad(() => {
    kept = fn().map((t) => tf.keep(t));
    return { value: tf.zeros([]), gradFunc: () => [] };
  })();
  marker.dispose();
  const out = kept.map((t) => {
    const copy = tf.clone(t);
    t.dispose();
    return copy;
  });
  return out as T;
}

/**
 * Power iteration for the largest singular value of the linear operator `op` with adjoint
 * `adjoint`, started from `u0` (warm start: pass the vector kept from the previous call).
 * Each iteration computes `v = op(u)/||op(u)||`, `u = adjoint(v)/||adjoint(v)||`; the loop stops
 * after `maxIter` iterations or once `||u_k - u_{k-1}|| < eps`, tested every `checkEvery`
 * iterations. Nothing is recorded on the gradient tape (the vectors are state, as in DEEL-LIP
 * with `STOP_GRAD_SPECTRAL`).
 */
export function powerIteration(
  op: LinearOperator,
  adjoint: LinearOperator,
  u0: tf.Tensor,
  options: PowerIterationOptions = {},
): PowerIterationResult {
  const maxIter = options.maxIter ?? DEFAULT_MAX_ITER_SPECTRAL;
  const eps = options.eps ?? DEFAULT_EPS_SPECTRAL;
  const checkEvery = Math.max(1, options.checkEvery ?? 3);
  let iterations = 0;
  const [u, v, sigma] = untaped(() => {
    let uk = l2Normalize(u0);
    let vk: tf.Tensor | null = null;
    while (iterations < maxIter) {
      const uPrev = uk;
      vk?.dispose();
      vk = l2Normalize(op(uk));
      uk = l2Normalize(adjoint(vk));
      iterations += 1;
      const check = iterations % checkEvery === 0 || iterations === maxIter;
      let done = false;
      if (check && iterations < maxIter) {
        const diff = tf.tidy(() => frobeniusNorm(tf.sub(uk, uPrev)));
        done = diff.dataSync()[0]! < eps;
        diff.dispose();
      }
      uPrev.dispose();
      if (done) break;
    }
    const vLast = vk ?? l2Normalize(op(uk));
    const s = tf.tidy(() => tf.sum(tf.mul(vLast, op(uk))));
    return [uk, vLast, s] as [tf.Tensor, tf.Tensor, tf.Tensor];
  });
  return { u, v, sigma: sigma as tf.Scalar, iterations };
}

/** True when explicit transposes beat matMul's transpose flags (tfjs-backend-wasm 4.22). */
function preferExplicitTranspose(): boolean {
  return tf.getBackend() === 'wasm';
}

/**
 * `op(a) @ op(b)` where `op` transposes when asked. On wasm the transposed-operand matMul is
 * 10-20x slower than a plain one, so the transpose is done explicitly there.
 */
export function matMul(a: tf.Tensor2D, b: tf.Tensor2D, transposeA = false, transposeB = false): tf.Tensor2D {
  if (!(transposeA || transposeB) || !preferExplicitTranspose()) return tf.matMul(a, b, transposeA, transposeB);
  return tf.tidy(() => tf.matMul(transposeA ? tf.transpose(a) : a, transposeB ? tf.transpose(b) : b));
}

/** Result of {@link gramPowerIteration}; every tensor is detached from the gradient tape. */
export interface GramPowerIterationResult {
  /** Unit right singular vector estimate `[1, m]`. */
  u: tf.Tensor2D;
  /** Largest singular value estimate `sqrt(u G u^T)` (a scalar). */
  sigma: tf.Scalar;
  /** Number of iterations performed. */
  iterations: number;
}

/**
 * The power iteration of {@link powerIteration} for a matrix `W` known through its Gram matrix
 * `G = W^T W` (`[m, m]`): `u <- u G / ||u G||` is exactly the iterate `v = W u / ||W u||`,
 * `u = W^T v / ||W^T v||` (same stopping rule on `||u_k - u_{k-1}||`), and `sigma = ||W u|| =
 * sqrt(u G u^T)`. When `G` is needed anyway (Björck), each iteration then costs one `m x m`
 * product with a vector instead of two products with `W`.
 */
export function gramPowerIteration(g: tf.Tensor2D, u0: tf.Tensor, options: PowerIterationOptions = {}): GramPowerIterationResult {
  const maxIter = options.maxIter ?? DEFAULT_MAX_ITER_SPECTRAL;
  const eps = options.eps ?? DEFAULT_EPS_SPECTRAL;
  const checkEvery = Math.max(1, options.checkEvery ?? 3);
  const m = g.shape[0];
  let iterations = 0;
  const [u, sigma] = untaped(() => {
    let uk = l2Normalize(tf.reshape(u0, [1, m]));
    while (iterations < maxIter) {
      const uPrev = uk;
      uk = l2Normalize(tf.matMul(uk as tf.Tensor2D, g));
      iterations += 1;
      const check = iterations % checkEvery === 0 || iterations === maxIter;
      let done = false;
      if (check && iterations < maxIter) {
        const diff = tf.tidy(() => frobeniusNorm(tf.sub(uk, uPrev)));
        done = diff.dataSync()[0]! < eps;
        diff.dispose();
      }
      uPrev.dispose();
      if (done) break;
    }
    const s = tf.tidy(() => tf.sqrt(tf.maximum(tf.sum(tf.mul(tf.matMul(uk as tf.Tensor2D, g), uk)), 0)));
    return [uk, s] as [tf.Tensor, tf.Tensor];
  });
  return { u: u as tf.Tensor2D, sigma: sigma as tf.Scalar, iterations };
}
