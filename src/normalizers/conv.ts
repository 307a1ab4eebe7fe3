/**
 * Convolution corrective factors and the spectral norm of a convolution operator.
 *
 * A Lipschitz convolution normalizes its *reshaped* kernel (a `(kh*kw*cin) x filters` matrix)
 * to spectral norm 1, but the operator acting on a whole image re-uses every input pixel in
 * several windows, so its norm can be larger. The corrective factor multiplied into the kernel
 * brings the operator back under the bound. Everything here is a pure function.
 */
import * as tf from '@tensorflow/tfjs-core';

import { configError } from '../core/errors';
import { powerIteration } from './power_iteration';

/** Padding modes covered by the corrective factors (those of `tf.conv2d`). */
export type ConvPadding = 'same' | 'valid';

/** The convolution geometry the corrective factor depends on. */
export interface ConvLipFactorArgs {
  /** Kernel height and width (a number means square). */
  kernelSize: number | readonly number[];
  /** Strides along height and width (default 1). */
  strides?: number | readonly number[];
  /**
   * Input spatial size `[H, W]` or `[H, W, C]` (channels last; C is ignored). A missing or
   * `null` dimension gives the bound that holds for every size of that dimension.
   */
  inputShape?: readonly (number | null | undefined)[] | null;
  /** `'same'` (default) or `'valid'`. */
  padding?: ConvPadding;
}

/** Normalizes a kernel size / stride argument to `[h, w]` positive integers (throws otherwise). */
export function toPair(name: string, value: unknown): [number, number] {
  const pair = typeof value === 'number' ? [value, value] : Array.isArray(value) ? value : null;
  if (pair === null || pair.length !== 2 || !pair.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 1)) {
    configError(name, 'a positive integer or an array of 2 positive integers', value);
  }
  return [pair[0] as number, pair[1] as number];
}

function spatialDim(inputShape: ConvLipFactorArgs['inputShape'], axis: 0 | 1): number | null {
  if (inputShape == null) return null;
  const v = inputShape[axis];
  if (v == null) return null;
  if (!Number.isInteger(v) || v < 1) configError('inputShape', 'positive spatial sizes [H, W] or [H, W, C]', inputShape);
  return v;
}

/**
 * Output length and leading padding of a 1-D convolution (TensorFlow's rule: for `'same'`,
 * `out = ceil(n/s)`, total padding `max((out-1)*s + k - n, 0)`, the smaller half before).
 */
export function convGeometry(n: number, k: number, s: number, padding: ConvPadding): { out: number; padBefore: number } {
  if (padding === 'same') {
    const out = Math.ceil(n / s);
    return { out, padBefore: Math.floor(Math.max((out - 1) * s + k - n, 0) / 2) };
  }
  return { out: Math.max(Math.floor((n - k) / s) + 1, 0), padBefore: 0 };
}

/**
 * Largest number of windows of a 1-D convolution (length n, kernel k, stride s) that contain
 * one input position: `max_q #{p : 0 <= q - (p*s - padBefore) < k}`. Without n, the bound
 * `ceil(k/s)` valid for every n (an interval of k integers holds at most ceil(k/s) multiples
 * of s).
 */
export function maxWindowCoverage(n: number | null, k: number, s: number, padding: ConvPadding): number {
  if (n === null) return Math.ceil(k / s);
  const { out, padBefore } = convGeometry(n, k, s, padding);
  const diff = new Array<number>(n + 1).fill(0);
  for (let p = 0; p < out; p++) {
    const start = Math.max(p * s - padBefore, 0);
    const end = Math.min(p * s - padBefore + k, n); // exclusive
    if (start < end) {
      diff[start]! += 1;
      diff[end]! -= 1;
    }
  }
  let run = 0;
  let best = 0;
  for (let q = 0; q < n; q++) {
    run += diff[q]!;
    best = Math.max(best, run);
  }
  return best;
}

/**
 * Largest number of output positions of a 1-D transposed convolution (input length n, kernel
 * k, stride s, tfjs output length `n*s` for `'same'`, `n*s + max(k-s, 0)` for `'valid'`) that
 * one input position writes to. Without n, the bound `k`.
 */
export function maxTransposeReach(n: number | null, k: number, s: number, padding: ConvPadding): number {
  if (n === null) return k;
  const m = padding === 'same' ? n * s : n * s + Math.max(k - s, 0);
  const padBefore = padding === 'same' ? Math.floor(Math.max((n - 1) * s + k - m, 0) / 2) : 0;
  let best = 0;
  for (let q = 0; q < n; q++) {
    const lo = Math.max(q * s - padBefore, 0);
    const hi = Math.min(q * s - padBefore + k, m); // exclusive
    best = Math.max(best, hi - lo);
  }
  return best;
}

/** Kernel size, strides, padding ('same' or 'valid') and spatial input size of a factor's arguments. */
function factorArgs(args: ConvLipFactorArgs): {
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  padding: ConvPadding;
  h: number | null;
  w: number | null;
} {
  const [kh, kw] = toPair('kernelSize', args.kernelSize);
  const [sh, sw] = toPair('strides', args.strides ?? 1);
  const padding = args.padding ?? 'same';
  if (padding !== 'same' && padding !== 'valid') configError('padding', "one of 'same', 'valid'", padding);
  return { kh, kw, sh, sw, padding, h: spatialDim(args.inputShape, 0), w: spatialDim(args.inputShape, 1) };
}

/**
 * Certified corrective factor of a 2-D convolution whose reshaped kernel
 * `W = reshape(kernel, [kh*kw*cin, filters])` has spectral norm at most 1:
 *
 *     factor = 1 / sqrt(N_h * N_w),   N = max over input positions of the number of windows
 *                                         that contain it (see `maxWindowCoverage`)
 *
 * so that `||conv(factor * kernel)||_2 <= 1`. Proof: output pixel p is `W^T patch(p)`, hence
 * `||y||^2 <= ||W||^2 sum_p ||patch(p)||^2 = ||W||^2 sum_q N(q) ||x_q||^2 <= N ||x||^2`.
 * The bound is reached when `W W^T = I` (filters >= kh*kw*cin), so it is tight.
 * For large inputs N = ceil(kh/sh) * ceil(kw/sw), which is DEEL-LIP's factor for strides > 1.
 *
 * DEEL-LIP's factor for stride 1 (`deelLipConvLipFactor`) is
 * `sqrt(h*w / ((kh*h - a(a+1)) * (kw*w - b(b+1))))` with `a = (kh-1)/2`, `b = (kw-1)/2`: it
 * divides by the *average* coverage instead of the largest one, which is larger than the
 * certified factor and does not bound the operator (e.g. kernel 3x3, 1 input channel,
 * 9 orthonormal filters, 8x8 input: norm 3 * 8/22 = 1.09). tfjs-lip uses the certified factor.
 *
 * References: Serrurier et al., "Achieving robustness in classification using optimal
 * transport with hinge regularization", CVPR 2021 (DEEL-LIP, `_compute_conv_lip_factor`);
 * Anil, Lucas, Grosse, "Sorting out Lipschitz function approximation", ICML 2019 (RKO).
 */
export function computeConvLipFactor(args: ConvLipFactorArgs): number {
  const { kh, kw, sh, sw, padding, h, w } = factorArgs(args);
  if (padding === 'valid' && ((h !== null && h < kh) || (w !== null && w < kw))) {
    configError('inputShape', `spatial sizes >= kernelSize [${kh},${kw}] for 'valid' padding`, args.inputShape);
  }
  const coverage = maxWindowCoverage(h, kh, sh, padding) * maxWindowCoverage(w, kw, sw, padding);
  return 1 / Math.sqrt(coverage);
}

/**
 * Certified corrective factor of a 2-D transposed convolution (tfjs `conv2dTranspose`, kernel
 * `[kh, kw, filters, cin]`) whose reshaped kernel `reshape(transpose(kernel, [0,1,3,2]),
 * [kh*kw*cin, filters])` (DEEL-LIP's orientation) has spectral norm at most 1:
 *
 *     factor = 1 / sqrt(R_h * R_w),   R = max over input positions of the number of output
 *                                         positions it writes to (see `maxTransposeReach`)
 *
 * Proof: output pixel r is `H_r z_r` with `H_r` a block-submatrix of `[K_o]_o` (norm <= 1)
 * and `z_r` the input pixels reaching r, so `||y||^2 <= sum_r ||z_r||^2 <= R ||x||^2`.
 * R = kh*kw away from the borders whatever the stride; DEEL-LIP's `1/sqrt(ceil(kh/s)ceil(kw/s))`
 * is not a bound here (kernel 2x2, stride 2, 4 filters, 1 channel: the operator is 2x an
 * isometry, and DEEL-LIP's factor is 1).
 */
export function computeConvTransposeLipFactor(args: ConvLipFactorArgs): number {
  const { kh, kw, sh, sw, padding, h, w } = factorArgs(args);
  return 1 / Math.sqrt(maxTransposeReach(h, kh, sh, padding) * maxTransposeReach(w, kw, sw, padding));
}

/**
 * DEEL-LIP's `_compute_conv_lip_factor`, reproduced for comparison only (it is not a certified
 * bound for stride 1, see `computeConvLipFactor`):
 *
 *     stride 1: sqrt(h*w / ((kh*h - a(a+1)) * (kw*w - b(b+1)))),  a = (kh-1)/2, b = (kw-1)/2
 *     else:     sqrt(1 / (ceil(kh/sh) * ceil(kw/sw)))
 *
 * Requires the input size `[H, W]` when both strides are 1.
 */
export function deelLipConvLipFactor(args: { kernelSize: number | readonly number[]; strides?: number | readonly number[]; inputShape?: readonly (number | null | undefined)[] | null }): number {
  const [kh, kw] = toPair('kernelSize', args.kernelSize);
  const [sh, sw] = toPair('strides', args.strides ?? 1);
  if (sh * sw !== 1) return Math.sqrt(1 / (Math.ceil(kh / sh) * Math.ceil(kw / sw)));
  const h = spatialDim(args.inputShape, 0);
  const w = spatialDim(args.inputShape, 1);
  if (h === null || w === null) configError('inputShape', 'a known spatial size [H, W]', args.inputShape);
  const a = (kh - 1) / 2;
  const b = (kw - 1) / 2;
  return Math.sqrt((h * w) / ((kh * h - a * (a + 1)) * (kw * w - b * (b + 1))));
}

/** Options of `spectralNormalizationConv`. */
export interface SpectralNormalizationConvArgs {
  /** Strides of the convolution (default 1). */
  strides?: number | readonly number[];
  /** `'same'` (default) or `'valid'`. */
  padding?: ConvPadding;
  /** Input size `[H, W]` or `[H, W, C]` (C defaults to the kernel's input channels). */
  inputShape: readonly number[];
  /** Maximum number of power iterations (default 100). */
  maxIter?: number;
  /** Stop when `||u_t - u_{t-1}|| < eps` (default 1e-6). */
  eps?: number;
}

/**
 * Largest singular value of the convolution operator `x -> conv2d(x, kernel)` on inputs of
 * size H x W x C (channels last), by power iteration on `A^T A` with `A = conv2d` and
 * `A^T = conv2dTranspose` (same strides and padding), which is the exact adjoint:
 *
 *     v = A u / ||A u||,  u <- A^T v / ||A^T v||,  sigma = ||A u||
 *
 * `u` is the starting input-space vector `[1, H, W, C]` (`null`: a fixed pseudo-random start).
 * Returns the new `u` (for warm starts) and `sigma`; the caller owns both tensors.
 *
 * References: Miyato et al., "Spectral normalization for generative adversarial networks",
 * ICLR 2018; Gouk et al., "Regularisation of neural networks by enforcing Lipschitz
 * continuity", Machine Learning 2021 (power iteration on the convolution operator).
 */
export function spectralNormalizationConv(
  kernel: tf.Tensor4D,
  u: tf.Tensor4D | null,
  args: SpectralNormalizationConvArgs,
): { sigma: tf.Scalar; u: tf.Tensor4D; iterations: number } {
  const strides = toPair('strides', args.strides ?? 1);
  const padding = args.padding ?? 'same';
  if (padding !== 'same' && padding !== 'valid') configError('padding', "one of 'same', 'valid'", padding);
  const [h, w, cGiven] = args.inputShape;
  const c = cGiven ?? kernel.shape[2];
  if (h === undefined || w === undefined || c !== kernel.shape[2]) {
    configError('inputShape', `[H, W] or [H, W, ${kernel.shape[2]}]`, args.inputShape);
  }
  const shape: [number, number, number, number] = [1, h, w, c];
  const forward = (x: tf.Tensor): tf.Tensor => tf.conv2d(x as tf.Tensor4D, kernel, strides, padding);
  const adjoint = (y: tf.Tensor): tf.Tensor => tf.conv2dTranspose(y as tf.Tensor4D, kernel, shape, strides, padding);
  const start = u === null ? tf.randomUniform(shape, -1, 1, 'float32', 17) : tf.reshape(u, shape);
  const result = powerIteration(forward, adjoint, start, { maxIter: args.maxIter ?? 100, eps: args.eps ?? 1e-6, checkEvery: 1 });
  start.dispose();
  result.v.dispose();
  return { sigma: result.sigma, u: result.u as tf.Tensor4D, iterations: result.iterations };
}
