/**
 * Reshaped kernel orthogonalization (RKO): the kernel of any rank is seen as the matrix
 * `[-1, lastDim]`, spectrally normalized, optionally Björck-orthonormalized, multiplied by a
 * coefficient, and reshaped back. This is the normalization of SpectralDense and of the RKO
 * convolutions.
 *
 * Signature:
 *
 * ```ts
 * reshapedKernelOrthogonalization(kernel, u, kCoefLip, {
 *   epsSpectral, maxIterSpectral, orthogonalizer, bjorckState,   // or epsBjorck, betaBjorck, maxIterBjorck, bjorckOrder
 * }) -> { wBar, u, sigma, bjorckState, bjorckIterations }
 * ```
 *
 * The orthogonalization is the layer's `Orthogonalizer` (`orthogonalizers/`); without one, the
 * DEEL-LIP settings `epsBjorck` (null: none), `betaBjorck`, `maxIterBjorck` choose Björck.
 *
 * References: DEEL-LIP `deel/lip/normalizers.py` (`reshaped_kernel_orthogonalization`);
 * Serrurier et al., "Achieving robustness in classification using optimal transport with hinge
 * regularization", CVPR 2021.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createOrthogonalizer, type Orthogonalizer } from './orthogonalizers';
import { spectralNormalization } from './spectral';

/** Options of {@link reshapedKernelOrthogonalization}. */
export interface ReshapedKernelOrthogonalizationOptions {
  /** Power-iteration tolerance, also added to sigma (default 1e-3). */
  epsSpectral?: number;
  /** Björck tolerance; `null` disables Björck (spectral normalization only). Default 1e-3. */
  epsBjorck?: number | null;
  /** Björck step size in (0, 0.5] (default 0.5). */
  betaBjorck?: number;
  /** Maximum number of power iterations (default 10). */
  maxIterSpectral?: number;
  /** Maximum number of Björck iterations (default 15). */
  maxIterBjorck?: number;
  /** Björck's Taylor order, 1 to 4 (default 1). */
  bjorckOrder?: number;
  /** The orthogonalizer to use (then the three Björck settings above are not read). */
  orthogonalizer?: Orthogonalizer;
  /**
   * Warm start of the orthogonalizer: the `bjorckState` returned by the previous call on the same
   * kernel (for Björck: square, min(rows, cols) of the reshaped kernel). `null`/absent: cold start.
   */
  bjorckState?: tf.Tensor2D | null;
}

/** Result of {@link reshapedKernelOrthogonalization}. */
export interface ReshapedKernelOrthogonalizationResult {
  /** Normalized kernel times `kCoefLip`, in the kernel's shape (differentiable). */
  wBar: tf.Tensor;
  /** Right singular vector `[1, lastDim]` for the next call (detached). */
  u: tf.Tensor2D;
  /** Largest singular value of the reshaped kernel (differentiable). */
  sigma: tf.Scalar;
  /** The orthogonalizer's warm start for the next call (detached), `null` for a method without one. */
  bjorckState: tf.Tensor2D | null;
  /** Orthogonalizer iterations performed (0 for none or a direct method). */
  bjorckIterations: number;
}

/**
 * RKO of `kernel` with power-iteration vector `u` (`[1, lastDim]`, or `null` for a random start):
 * `wBar = reshape(kCoefLip * orthogonalize(W / (sigma + epsSpectral)), kernel.shape)` with
 * `W = reshape(kernel, [-1, lastDim])`.
 */
export function reshapedKernelOrthogonalization(
  kernel: tf.Tensor,
  u: tf.Tensor | null,
  kCoefLip: number,
  options: ReshapedKernelOrthogonalizationOptions = {},
): ReshapedKernelOrthogonalizationResult {
  const lastDim = kernel.shape[kernel.rank - 1]!;
  const { epsBjorck, betaBjorck, maxIterBjorck, bjorckOrder } = options;
  const orthogonalizer = options.orthogonalizer ?? createOrthogonalizer({ epsBjorck, betaBjorck, maxIterBjorck, bjorckOrder });
  const w2d = tf.reshape(kernel, [-1, lastDim]) as tf.Tensor2D;
  const spectral = spectralNormalization(w2d, u, options);
  const orthogonal = orthogonalizer.orthogonalize(spectral.wBar, options.bjorckState ?? null);
  spectral.wBar.dispose();
  const normalized = orthogonal.wBar;
  // (A multiplication by 1 is skipped: it would cost a full pass, and another in the gradient.)
  const wBar = tf.tidy(() => tf.reshape(kCoefLip === 1 ? normalized : tf.mul(normalized, kCoefLip), kernel.shape));
  normalized.dispose();
  if (w2d !== kernel) w2d.dispose();
  return { wBar, u: spectral.u, sigma: spectral.sigma, bjorckState: orthogonal.state, bjorckIterations: orthogonal.iterations };
}
