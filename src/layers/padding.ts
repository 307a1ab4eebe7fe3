/**
 * Explicit padding of the Lipschitz convolutions (DEEL-LIP `PadConv2D`, deel-torchlip
 * `padding_mode`): `'constant'` (zeros), `'circular'`, `'reflect'` and `'symmetric'` add
 * `floor(k/2)` cells on both sides of each spatial axis, then a `'valid'` convolution runs.
 *
 * The certified corrective factor of every mode comes from one count (docs/convolutions.md,
 * "Explicit padding"): output cell `p` is `W^T patch(p)` where the patch reads padded cells, each
 * a copy of an input cell (or a zero), so
 *
 *     ||y||^2 <= ||W||^2 sum_p ||patch(p)||^2 = ||W||^2 sum_q N(q) ||x_q||^2,
 *
 * `N(q)` = number of (window, kernel slot) pairs that read input cell `q`, copies included. The
 * padding is separable, so `N` is a product of per-axis counts and `factor = 1/sqrt(prod_axes
 * max_q N_axis(q))` certifies `||conv|| <= ||W||`; equality holds when `W W^T = I`. The pure
 * functions below count `N` from the same index map the padding op uses.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { configError, LipschitzConfigError } from '../core/errors';
import { maxWindowCoverage, type ConvPadding } from '../normalizers/conv';

/** The paddings applied explicitly before a `'valid'` convolution. */
export type ExplicitPadding = 'constant' | 'circular' | 'reflect' | 'symmetric';

/** Every padding of `spectralConv2d`, `frobeniusConv2d` and the 1-D convolutions. */
export type PaddedConvPadding = ConvPadding | ExplicitPadding;

export const EXPLICIT_PADDINGS: readonly ExplicitPadding[] = ['constant', 'circular', 'reflect', 'symmetric'];

export const PADDED_CONV_PADDINGS: readonly PaddedConvPadding[] = ['same', 'valid', ...EXPLICIT_PADDINGS];

/** True for the four explicit modes. */
export function isExplicitPadding(padding: unknown): padding is ExplicitPadding {
  return (EXPLICIT_PADDINGS as readonly unknown[]).includes(padding);
}

/** Cells added on each side of an axis with kernel size `k` (DEEL-LIP: `k // 2`). */
export function padWidth(k: number): number {
  return Math.floor(k / 2);
}

/**
 * Smallest axis length a mode accepts: the window must fit (`n + 2p >= k`), `'reflect'` copies at
 * most `n - 1` cells per side (the border cell is not repeated), `'circular'` and `'symmetric'`
 * at most `n` (as `tf.mirrorPad` and torch's circular padding).
 */
export function minPaddedLength(k: number, mode: ExplicitPadding): number {
  const p = padWidth(k);
  const copies = mode === 'reflect' ? p + 1 : mode === 'constant' ? 0 : p;
  return Math.max(1, k - 2 * p, copies);
}

/**
 * Input index that padded cell `i` (in `[0, n + 2p)`) copies, or -1 for a zero:
 * circular wraps around, reflect mirrors about the border cell (`d c b | a b c d | c b a`),
 * symmetric mirrors about the border edge (`c b a | a b c d | d c b`).
 */
export function paddedSourceIndex(i: number, n: number, p: number, mode: ExplicitPadding): number {
  const j = i - p;
  if (j >= 0 && j < n) return j;
  switch (mode) {
    case 'constant':
      return -1;
    case 'circular':
      return ((j % n) + n) % n;
    case 'reflect':
      return j < 0 ? -j : 2 * (n - 1) - j;
    case 'symmetric':
      return j < 0 ? -j - 1 : 2 * n - 1 - j;
  }
}

/** Output length of an explicit padding of `floor(k/2)` per side then a `'valid'` window. */
export function paddedOutputLength(n: number, k: number, s: number): number {
  return Math.floor((n + 2 * padWidth(k) - k) / s) + 1;
}

/** `max_q N(q)` on one axis of known length (see the module comment). */
function explicitCoverageAt(n: number, k: number, s: number, mode: ExplicitPadding): number {
  const p = padWidth(k);
  const counts = new Array<number>(n).fill(0);
  const out = paddedOutputLength(n, k, s);
  for (let w = 0; w < out; w++) {
    for (let t = 0; t < k; t++) {
      const q = paddedSourceIndex(w * s + t, n, p, mode);
      if (q >= 0) counts[q]! += 1;
    }
  }
  return Math.max(0, ...counts);
}

/**
 * `max_q N(q)` on one axis. For an unknown length, the largest count over every length: beyond
 * `2(k + s)` the two borders no longer interact and the counts repeat with period `s` in `n`,
 * so scanning lengths up to `3(k + s)` covers all cases.
 */
export function explicitCoverage(n: number | null, k: number, s: number, mode: ExplicitPadding): number {
  if (n !== null) return explicitCoverageAt(n, k, s, mode);
  let best = 0;
  for (let m = minPaddedLength(k, mode); m <= 3 * (k + s); m++) best = Math.max(best, explicitCoverageAt(m, k, s, mode));
  return best;
}

/** Per-axis coverage of any padding (`'same'`/`'valid'` through `maxWindowCoverage`). */
function axisCoverage(n: number | null, k: number, s: number, padding: PaddedConvPadding): number {
  return isExplicitPadding(padding) ? explicitCoverage(n, k, s, padding) : maxWindowCoverage(n, k, s, padding);
}

/** Arguments of {@link paddedConvLipFactor}: one entry per spatial axis (1 or 2 axes). */
export interface PaddedConvFactorArgs {
  kernelSize: readonly number[];
  strides: readonly number[];
  padding: PaddedConvPadding;
  /** Spatial input lengths (`null`: unknown, the bound valid for every length). */
  spatial: readonly (number | null)[];
}

/**
 * Certified corrective factor of a convolution with any padding: `1 / sqrt(prod_axes max_q
 * N_axis(q))` (module comment). Throws `LipschitzConfigError` naming `inputShape` when an axis
 * is too short for the padding.
 */
export function paddedConvLipFactor(args: PaddedConvFactorArgs): number {
  const { kernelSize, strides, padding, spatial } = args;
  let coverage = 1;
  kernelSize.forEach((k, axis) => {
    const n = spatial[axis] ?? null;
    const min = isExplicitPadding(padding) ? minPaddedLength(k, padding) : padding === 'valid' ? k : 1;
    if (n !== null && n < min) {
      configError('inputShape', `spatial sizes >= ${min} for '${padding}' padding with kernelSize [${kernelSize.join(',')}]`, spatial);
    }
    coverage *= axisCoverage(n, k, strides[axis] ?? 1, padding);
  });
  return 1 / Math.sqrt(coverage);
}

/**
 * `x` padded explicitly on the given axes (`kernelSize[i]` for `axes[i]`): zeros through
 * `tf.pad`, the copying modes through `tf.gather` with the index map of `paddedSourceIndex`
 * (supported, with gradients, on every backend).
 */
export function padExplicit(x: tf.Tensor, axes: readonly number[], kernelSize: readonly number[], mode: ExplicitPadding): tf.Tensor {
  axes.forEach((axis, i) => {
    const min = minPaddedLength(kernelSize[i]!, mode);
    if (x.shape[axis]! < min) configError('inputShape', `spatial sizes >= ${min} for '${mode}' padding with kernelSize [${kernelSize.join(',')}]`, x.shape);
  });
  return tf.tidy(() => {
    if (mode === 'constant') {
      const paddings = x.shape.map((): [number, number] => [0, 0]);
      axes.forEach((axis, i) => (paddings[axis] = [padWidth(kernelSize[i]!), padWidth(kernelSize[i]!)]));
      return tf.pad(x, paddings);
    }
    let y = x;
    axes.forEach((axis, i) => {
      const p = padWidth(kernelSize[i]!);
      if (p === 0) return;
      const n = x.shape[axis]!;
      const index = Int32Array.from({ length: n + 2 * p }, (_, j) => paddedSourceIndex(j, n, p, mode));
      y = tf.gather(y, tf.tensor1d(index, 'int32'), axis);
    });
    return y;
  });
}

/**
 * The error of `vanillaExport` for a padding no tfjs built-in layer computes: the export must be
 * exact, so it is refused rather than approximated.
 */
export function unexportablePadding(layer: tfl.layers.Layer, mode: ExplicitPadding): LipschitzConfigError {
  return new LipschitzConfigError(
    `vanillaExport: layer '${layer.name}' (${layer.getClassName()}) uses padding '${mode}', which no tfjs built-in layer ` +
      "computes (only zero padding is: use padding 'constant', 'same' or 'valid' for an exportable model).",
  );
}
