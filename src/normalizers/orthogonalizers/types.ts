/**
 * The orthogonalizer seam: what a spectrally normalized layer asks of the method that makes its
 * normalized kernel orthonormal. A layer names its method (`orthogonalizer: 'bjorck' | 'none' |
 * 'polar'`), the registry (`index.ts`) builds it, and the layer never names the method itself:
 * a new method is one new file plus one registry line (docs/architecture.md).
 */
import type * as tf from '@tensorflow/tfjs-core';

/** What {@link Orthogonalizer.orthogonalize} returns. */
export interface OrthogonalizeResult {
  /** The orthonormalized matrix, differentiable with respect to the input. */
  wBar: tf.Tensor2D;
  /** Warm start for the next call (detached), or null for a method without state. */
  state: tf.Tensor2D | null;
  /** Iterations performed (0 for a direct method). */
  iterations: number;
}

/** The spectral-normalization settings a fused product needs. */
export interface SpectralSettings {
  epsSpectral: number;
  maxIterSpectral: number;
}

/** What a fused training product returns (see `bjorck/fused_matmul.ts`). */
export interface FusedProductResult {
  /** `x W-bar`, differentiable with respect to `x` and the kernel. */
  y: tf.Tensor2D;
  /** The kernel as used (detached handle) and the factor with `W-bar = kernel factor` (detached). */
  kernel: tf.Tensor2D;
  factor: tf.Tensor2D;
  /** Power-iteration vector and sigma for the next call (detached). */
  u: tf.Tensor2D;
  sigma: tf.Scalar;
  /** Warm start for the next call (detached), or null. */
  state: tf.Tensor2D | null;
}

/** A training product `x W-bar` computed without forming W-bar, for a tall `[n, m]` kernel. */
export interface FusedProduct {
  /** Whether the fused order is cheaper for an `[n, m]` kernel and a batch of `batch`. */
  pays(n: number, m: number, batch: number): boolean;
  /** `x W-bar`, `W-bar = kCoefLip orth(K / (sigma + epsSpectral))`. */
  apply(x: tf.Tensor2D, kernel: tf.Tensor2D, u: tf.Tensor | null, kCoefLip: number, spectral: SpectralSettings, state: tf.Tensor2D | null): FusedProductResult;
}

/** A method that makes a matrix with singular values in (0, 1] orthonormal (or leaves it as it is). */
export interface Orthogonalizer {
  /** Its registry name (`'bjorck'`, `'none'`, `'polar'`). */
  readonly name: string;
  /**
   * True when every singular value of the result is 1 (to the method's tolerance), so that the
   * result does not depend on the scale sigma set; false when only the largest is at most 1.
   */
  readonly orthonormal: boolean;
  /** The warm-start weight a layer saves for an `[rows, cols]` matrix (name and shape), or null. */
  stateWeight(rows: number, cols: number): { name: string; shape: [number, number] } | null;
  /** Orthonormalizes `w` (singular values in (0, 1], e.g. after spectral normalization). */
  orthogonalize(w: tf.Tensor2D, state: tf.Tensor2D | null): OrthogonalizeResult;
  /**
   * For `condense`: brings every singular value of an already orthonormal `w` to 1 within float32
   * rounding (identity when absent). Off the tape.
   */
  refine?(w: tf.Tensor2D): tf.Tensor2D;
  /** A cheaper training product for tall kernels, when the method has one. */
  readonly fusedProduct?: FusedProduct;
  /** The method's settings as a layer's config writes them (without `orthogonalizer`). */
  config(): Record<string, number | null>;
}
