/**
 * `x W-bar` for a tall kernel `K` (`[n, m]`, `n >= m`) with `W-bar = kCoefLip * bjorck(K / (sigma +
 * epsSpectral))`, the reshaped-kernel orthogonalization of SpectralDense, computed in the order
 * that costs least when the batch is smaller than `n`.
 *
 * With `Wn = K / c` (`c = sigma + epsSpectral`) and the Björck factor `P` (`Wn P` orthonormal,
 * found on the `m x m` Gram matrix), `W-bar = K P'` with `P' = (kCoefLip / c) P`, so
 *
 *     y = (x K) P'
 *
 * costs `B n m + B m m` multiply-adds for a batch of `B`, where forming `W-bar` first costs
 * `n m m + B n m`. `W-bar` itself is not needed in training.
 *
 * The gradient is the same as `reshapedKernelOrthogonalization`'s (the tangent projection
 * of `bjorck.ts`, which also says how close it is to the exact derivative), rearranged so that
 * only one product has two `n`-sized sides: for the upstream gradient `dY` of `y`,
 *
 *     dK = x^T (dY P'^T) - K (P~ sym(M) P~^T),    M = y^T dY,  P~ = P / c,
 *
 * where the first term is what the tape gives for `(x K) P'` with `P'` held fixed, and the second
 * (the projection of the polar-factor derivative, which needs `Z^T (kCoefLip x^T dY) = y^T dY` for
 * `Z = Wn P`) is added by a custom gradient. The path through `sigma` is left out: its
 * contribution is exactly zero, because the result does not change when the kernel is scaled
 * (`<dL/dWn, Wn> = tr(Z^T G) - tr(sym(Z^T G)) = 0` for `Z^T Z = I`).
 *
 * References: DEEL-LIP `deel/lip/normalizers.py` (`reshaped_kernel_orthogonalization`); Björck &
 * Bowie 1971; Anil, Lucas & Grosse, ICML 2019.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  DEFAULT_BETA_BJORCK,
  DEFAULT_BJORCK_ORDER,
  DEFAULT_EPS_BJORCK,
  DEFAULT_EPS_SPECTRAL,
  DEFAULT_MAX_ITER_BJORCK,
  DEFAULT_MAX_ITER_SPECTRAL,
} from '../../../core/defaults';
import { bjorckFactor } from './iterate';
import { gramPowerIteration, l2Normalize, matMul, untaped } from '../../power_iteration';

/** Options of {@link orthogonalMatMul}. */
export interface OrthogonalMatMulOptions {
  /** Power-iteration tolerance, also added to sigma (default 1e-3). */
  epsSpectral?: number;
  /** Maximum number of power iterations (default 10). */
  maxIterSpectral?: number;
  /** Björck tolerance (default 1e-3). */
  epsBjorck?: number;
  /** Björck step size in (0, 0.5] (default 0.5). */
  betaBjorck?: number;
  /** Maximum number of Björck iterations (default 15). */
  maxIterBjorck?: number;
  /** Björck's Taylor order, 1 to 4 (default 1; orders.ts). */
  bjorckOrder?: number;
  /** Björck warm start from the previous call (`[m, m]`), or `null`. */
  bjorckState?: tf.Tensor2D | null;
  /** Seed of Björck's random convergence probe (default 1). */
  seed?: number;
}

/** Result of {@link orthogonalMatMul}. */
export interface OrthogonalMatMulResult {
  /** `x W-bar`, `[B, m]`, differentiable with respect to `x` and the kernel. */
  y: tf.Tensor2D;
  /** The kernel as it was used (a detached handle on the same data, `[n, m]`). */
  kernel: tf.Tensor2D;
  /** `P'` with `W-bar = kernel P'` (`[m, m]`, detached). */
  factor: tf.Tensor2D;
  /** Power-iteration vector for the next call (`[1, m]`, detached). */
  u: tf.Tensor2D;
  /** Largest singular value of the kernel (detached). */
  sigma: tf.Scalar;
  /** Björck warm start for the next call (`[m, m]`, detached). */
  bjorckState: tf.Tensor2D;
  /** Björck iterations performed. */
  bjorckIterations: number;
}

/**
 * True when {@link orthogonalMatMul} is the cheaper way to apply a tall `[n, m]` kernel to a batch
 * of `batch` in training. Counting multiply-adds of the step, forward and backward: the fused path
 * pays `2 B n m + 3 B m^2 + 2 m^3 + n m^2` (`x K`, `x^T (dY P'^T)`, three `B x m x m` products,
 * `P~ sym(M) P~^T`, `K N`), the unfused one `2 B n m + 4 n m^2` (`W P`, `x Z`, `x^T dY`, and
 * three `n x m x m` products in the polar gradient); the fused one wins when `3 B + 2 m < 3 n`.
 */
export function orthogonalMatMulPays(n: number, m: number, batch: number): boolean {
  return n >= m && 3 * batch + 2 * m < 3 * n;
}

/** What the fused product needs, computed off the tape (see {@link factorsOf}). */
interface Factors {
  u: tf.Tensor2D;
  sigma: tf.Scalar;
  state: tf.Tensor2D;
  /** `P~ = P / c`. */
  scaledFactor: tf.Tensor2D;
  /** `P' = kCoefLip P~`. */
  factor: tf.Tensor2D;
  /** A detached handle on the kernel as used. */
  kernel: tf.Tensor2D;
  iterations: number;
}

/**
 * Off the tape: sigma by power iteration and the Björck factor, from one Gram matrix
 * (`G = K^T K`, `Gram(K / c) = G / c^2`), and the two `m x m` matrices the products need.
 */
function factorsOf(kernel: tf.Tensor2D, u: tf.Tensor | null, kCoefLip: number, options: OrthogonalMatMulOptions): Factors {
  const m = kernel.shape[1];
  const epsSpectral = options.epsSpectral ?? DEFAULT_EPS_SPECTRAL;
  let iterations = 0;
  const [uOut, sigma, state, scaledFactor, factor, kernelUsed] = untaped(() => {
    const gramK = matMul(kernel, kernel, true, false);
    const start = u ?? tf.tidy(() => l2Normalize(tf.randomUniform([1, m])));
    const spectral = gramPowerIteration(gramK, start, { maxIter: options.maxIterSpectral ?? DEFAULT_MAX_ITER_SPECTRAL, eps: epsSpectral });
    if (u == null) start.dispose();
    const inverseC = tf.div(1, tf.add(spectral.sigma, epsSpectral));
    const wn = tf.mul(kernel, inverseC) as tf.Tensor2D;
    const gramWn = tf.mul(gramK, tf.square(inverseC)) as tf.Tensor2D;
    const res = bjorckFactor(wn, options.bjorckState ?? null, {
      eps: options.epsBjorck ?? DEFAULT_EPS_BJORCK,
      beta: options.betaBjorck ?? DEFAULT_BETA_BJORCK,
      maxIter: options.maxIterBjorck ?? DEFAULT_MAX_ITER_BJORCK,
      order: options.bjorckOrder ?? DEFAULT_BJORCK_ORDER,
      gramOfW: gramWn,
      seed: options.seed ?? 1,
    });
    iterations = res.iterations;
    const pTilde = tf.mul(res.p, inverseC) as tf.Tensor2D;
    const pPrime = (kCoefLip === 1 ? tf.clone(pTilde) : tf.mul(pTilde, kCoefLip)) as tf.Tensor2D;
    const out: [tf.Tensor2D, tf.Scalar, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D] = [
      spectral.u,
      spectral.sigma,
      res.state,
      pTilde,
      pPrime,
      tf.clone(kernel),
    ];
    tf.dispose([gramK, wn, gramWn, res.p, inverseC]);
    return out;
  });
  return { u: uOut, sigma, state, scaledFactor, factor, kernel: kernelUsed, iterations };
}

/**
 * `x W-bar` with the reshaped-kernel orthogonalization of the tall `kernel` (`[n, m]`, `n >= m`)
 * and `u` its power-iteration vector (`[1, m]`, or `null` for a random start); see the module
 * comment for the order of the products and the gradient.
 */
export function orthogonalMatMul(
  x: tf.Tensor2D,
  kernel: tf.Tensor2D,
  u: tf.Tensor | null,
  kCoefLip: number,
  options: OrthogonalMatMulOptions = {},
): OrthogonalMatMulResult {
  const [n, m] = kernel.shape;
  if (n < m) throw new Error(`orthogonalMatMul needs a tall kernel (rows >= columns), but got [${n}, ${m}].`);
  const f = factorsOf(kernel, u, kCoefLip, options);
  const projection = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const yLin = args[0] as tf.Tensor2D;
    const save = args[2] as tf.GradSaveFunc;
    save([yLin, f.kernel, f.scaledFactor]);
    return {
      value: tf.clone(yLin),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [ySaved, k, pTilde] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
        const dK = tf.tidy(() => {
          const mm = matMul(ySaved, dy as tf.Tensor2D, true, false);
          const sym = tf.mul(tf.add(mm, tf.transpose(mm)), 0.5) as tf.Tensor2D;
          const inner = matMul(matMul(pTilde, sym), pTilde, false, true);
          return tf.neg(matMul(k, inner));
        });
        return [tf.clone(dy), dK];
      },
    };
  });
  const y = tf.tidy(() => projection(tf.matMul(tf.matMul(x, kernel), f.factor), kernel)) as tf.Tensor2D;
  f.scaledFactor.dispose();
  return { y, kernel: f.kernel, factor: f.factor, u: f.u, sigma: f.sigma, bjorckState: f.state, bjorckIterations: f.iterations };
}
