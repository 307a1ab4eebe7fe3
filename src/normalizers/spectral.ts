/**
 * Spectral normalization of a 2-D kernel: `W_bar = W / (sigma + eps)`, `sigma` the largest
 * singular value of `W` estimated by a warm-started power iteration.
 *
 * The singular vectors are state (no gradient flows through them); `sigma = v W u^T` is recomputed
 * on the tape from the converged, fixed `u`, `v`, so the gradient flows through `W` both directly
 * and through `sigma`, as in DEEL-LIP (`spectral_normalization` with `STOP_GRAD_SPECTRAL`).
 *
 * References: Miyato et al., "Spectral Normalization for Generative Adversarial Networks",
 * ICLR 2018; DEEL-LIP `deel/lip/normalizers.py`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_EPS_SPECTRAL, DEFAULT_MAX_ITER_SPECTRAL } from '../core/defaults';
import { l2Normalize, powerIteration } from './power_iteration';

/** Options of {@link spectralNormalization}. */
export interface SpectralNormalizationOptions {
  /** Stopping tolerance of the power iteration, also added to sigma (default 1e-3). */
  epsSpectral?: number;
  /** Maximum number of power iterations (default 10). */
  maxIterSpectral?: number;
}

/** Result of {@link spectralNormalization}. */
export interface SpectralNormalizationResult {
  /** `W / (sigma + epsSpectral)` (differentiable). */
  wBar: tf.Tensor2D;
  /** Converged right singular vector, shape `[1, cols]` (detached; keep it for the next call). */
  u: tf.Tensor2D;
  /** Largest singular value `v W u^T` (differentiable with respect to `W`, `u` and `v` fixed). */
  sigma: tf.Scalar;
}

/** `x W^T` for a row vector `x` of shape [1, cols], without transposing `W`: shape [1, rows]. */
function applyKernel(w: tf.Tensor2D, x: tf.Tensor): tf.Tensor2D {
  const [rows, cols] = w.shape;
  return tf.reshape(tf.matMul(w, tf.reshape(x, [cols, 1])), [1, rows]);
}

/** `y W` for a row vector `y` of shape [1, rows]: shape [1, cols]. */
function applyAdjoint(w: tf.Tensor2D, y: tf.Tensor): tf.Tensor2D {
  return tf.matMul(tf.reshape(y, [1, w.shape[0]]), w);
}

/**
 * Normalizes `kernel` (2-D, `[rows, cols]`) by its largest singular value. `u` (shape
 * `[1, cols]`) warm-starts the power iteration; `null` starts from a random unit vector.
 */
export function spectralNormalization(
  kernel: tf.Tensor2D,
  u: tf.Tensor | null,
  options: SpectralNormalizationOptions = {},
): SpectralNormalizationResult {
  const eps = options.epsSpectral ?? DEFAULT_EPS_SPECTRAL;
  const maxIter = options.maxIterSpectral ?? DEFAULT_MAX_ITER_SPECTRAL;
  const cols = kernel.shape[1];
  const start = u ?? tf.tidy(() => l2Normalize(tf.randomUniform([1, cols])));
  const it = powerIteration(
    (x) => applyKernel(kernel, x),
    (y) => applyAdjoint(kernel, y),
    start,
    { maxIter, eps },
  );
  if (u == null) start.dispose();
  it.sigma.dispose();
  const result = tf.tidy(() => {
    const sigma = tf.sum(tf.mul(it.v, applyKernel(kernel, it.u))) as tf.Scalar;
    const wBar = tf.div(kernel, tf.add(sigma, eps)) as tf.Tensor2D;
    return { wBar, sigma };
  });
  it.v.dispose();
  const uOut = tf.reshape(it.u, [1, cols]) as tf.Tensor2D;
  it.u.dispose();
  return { wBar: result.wBar, u: uOut, sigma: result.sigma };
}
