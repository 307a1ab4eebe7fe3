/**
 * The L2-norm poolings: `ScaledL2NormPooling2D` (`kCoefLip * sqrt(sum of x^2 over each window)`,
 * Boureau et al.) and `ScaledGlobalL2NormPooling2D` (`kCoefLip * ||x[:, :, c]||_2` per channel),
 * 1-Lipschitz because the Euclidean norm is. Their square root has the gradient
 * `dy / (2 * (sqrt(y) + epsGradSqrt))` (DEEL-LIP's `eps_grad_sqrt`), finite at 0 and never above
 * the true one. Their built-in export is the layer-normalization construction below
 * (docs/pooling.md), or with inference layers `TfjsLipInferenceL2NormPooling2D`.
 *
 * References: Y.-L. Boureau, J. Ponce, Y. LeCun, "A Theoretical Analysis of Feature Pooling in
 * Visual Recognition", ICML 2010; DEEL-LIP `deel/lip/layers/pooling.py`.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { STANDALONE_EXPORT } from '../core/channel_map';
import type { ExportContext } from '../core/contracts';
import { DEFAULT_EPS_GRAD_SQRT } from '../core/defaults';
import { checkKnownKeys } from '../core/validation';
import {
  inNhwc,
  resolveEpsGradSqrt,
  SCALED_GLOBAL_L2_NORM_POOLING_OPTIONS,
  SCALED_L2_NORM_POOLING_OPTIONS,
  ScaledGlobalPoolingBase,
  ScaledWindowPoolingBase,
  single,
  staticDims,
  type Kwargs,
  type ScaledGlobalL2NormPooling2DArgs,
  type ScaledL2NormPooling2DArgs,
} from './pooling_base';

/**
 * Square root with the gradient `dy / (2 (sqrt(y) + eps))` (DEEL-LIP's `eps_grad_sqrt`): finite
 * at 0, and never larger than the exact derivative, so the Lipschitz bound is untouched.
 */
function safeSqrt(y: tf.Tensor, epsGradSqrt: number = DEFAULT_EPS_GRAD_SQRT): tf.Tensor {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const t = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    const root = tf.sqrt(t);
    save([root]);
    return {
      value: root,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.div(dy, tf.mul(tf.scalar(2), tf.add(saved[0] as tf.Tensor, tf.scalar(epsGradSqrt)))),
    };
  });
  return op(y);
}

/**
 * Offset c of the exported norm `sqrt(||x||^2 + c^2) - c`: it keeps the layer normalization's
 * variance positive (an all-zero window stays exactly 0), changes the output by less than c, and
 * leaves the map 1-Lipschitz (docs/pooling.md).
 */
export const L2_EXPORT_OFFSET = 1e-12;

/**
 * The `n + 1` Helmert columns of length `n + 2`: orthonormal and orthogonal to the all-ones
 * vector, so `v = Q (x, c)` has mean 0 and `||v|| = ||(x, c)||`. Column `i` is
 * `(1, ..., 1, -(i+1), 0, ..., 0) / sqrt((i+1)(i+2))` with i+1 ones.
 */
export function helmertColumns(n: number): Float64Array[] {
  const m = n + 2;
  return Array.from({ length: n + 1 }, (_, i) => {
    const k = i + 1;
    const column = new Float64Array(m);
    const norm = Math.sqrt(k * (k + 1));
    for (let j = 0; j < k; j++) column[j] = 1 / norm;
    column[k] = -k / norm;
    return column;
  });
}

/**
 * Built-in composition of `kCoefLip * (sqrt(||x||^2 + c^2) - c)` per group, from `v = Q (x, c)`
 * on the last axis (m = n + 2 entries, see `helmertColumns`): a layer normalization without
 * epsilon, centre or scale gives `v / sqrt(var)` with `var = ||v||^2 / m`; multiplying by `v`
 * and summing with a constant `dense` kernel `k / sqrt(m)` gives `k ||(x, c)||`, and its bias
 * `-k c`. `lip.lipschitzBound` recognizes the pattern: `k` times the bound of `v`.
 */
function exportEmbeddedNorm(name: string, embedded: tfl.SymbolicTensor, m: number, kCoefLip: number, outShape: number[]): tfl.SymbolicTensor {
  const normalized = tfl.layers
    .layerNormalization({ name: `${name}_normalize`, axis: -1, epsilon: 0, center: false, scale: false })
    .apply(embedded) as tfl.SymbolicTensor;
  const products = tfl.layers.multiply({ name: `${name}_square` }).apply([embedded, normalized]) as tfl.SymbolicTensor;
  const sum = tfl.layers.dense({ name: `${name}_sum`, units: 1, trainable: false });
  const summed = sum.apply(products) as tfl.SymbolicTensor;
  setConstantWeights(sum, [
    { shape: [m, 1], value: () => kCoefLip / Math.sqrt(m) },
    { shape: [1], value: () => -kCoefLip * L2_EXPORT_OFFSET },
  ]);
  return tfl.layers.reshape({ name: `${name}_restore`, targetShape: outShape }).apply(summed) as tfl.SymbolicTensor;
}

/** Loads a built layer with weights given entry by entry (float64 values rounded once). */
function setConstantWeights(layer: tfl.layers.Layer, specs: Array<{ shape: number[]; value: (index: number) => number }>): void {
  const tensors = specs.map(({ shape, value }) => {
    const size = shape.reduce((p, d) => p * d, 1);
    return tf.tensor(Float32Array.from({ length: size }, (_, i) => value(i)), shape, 'float32');
  });
  try {
    layer.setWeights(tensors);
  } finally {
    tf.dispose(tensors);
  }
}

/**
 * `kCoefLip * sqrt(sum of x^2 over each window)` (DEEL-LIP `ScaledL2NormPooling2D`, computed as
 * `sqrt(ph*pw) * sqrt(avgPool(x^2))`): the Euclidean norm of each window, 1-Lipschitz, with a
 * gradient that stays finite at 0 (`epsGradSqrt`).
 */
export class ScaledL2NormPooling2D extends ScaledWindowPoolingBase {
  static className = 'ScaledL2NormPooling2D';
  readonly epsGradSqrt: number;

  constructor(args: ScaledL2NormPooling2DArgs = {}) {
    if (new.target === ScaledL2NormPooling2D) checkKnownKeys('scaledL2NormPooling2d', args, SCALED_L2_NORM_POOLING_OPTIONS);
    super(args);
    this.epsGradSqrt = resolveEpsGradSqrt(args.epsGradSqrt);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const scale = this.correctiveCoefficient() * this.kCoefLip;
      return inNhwc(single(inputs), this.dataFormat, (x) => {
        const meanSquares = tf.avgPool(tf.square(x) as tf.Tensor4D, this.poolSize, this.poolSize, 'valid');
        return tf.mul(safeSqrt(meanSquares, this.epsGradSqrt), tf.scalar(scale));
      });
    });
  }

  /**
   * Exact built-in composition (no square-root layer exists in tfjs): a `depthwiseConv2d` with
   * window-sized strides embeds each window `x` (n = ph*pw entries) and a constant `c` as
   * `v = Q (x, c)` (`helmertColumns`), then `exportEmbeddedNorm` gives
   * `kCoefLip * (sqrt(||x||^2 + c^2) - c)`, within `kCoefLip * c` (1e-12) of the layer and
   * 1-Lipschitz like it (docs/pooling.md). Needs static input dims.
   */
  vanillaExport(input: tfl.SymbolicTensor, context: ExportContext = STANDALONE_EXPORT): tfl.SymbolicTensor {
    if (context.inferenceLayers) return this.inferenceExport(input, [...this.poolSize]);
    const [, , c] = staticDims(this, input, this.dataFormat);
    const [ph, pw] = this.poolSize;
    const n = ph * pw;
    const m = n + 2;
    let y = input;
    if (this.dataFormat === 'channelsFirst') {
      y = tfl.layers.permute({ name: `${this.name}_to_channels_last`, dims: [2, 3, 1] }).apply(y) as tfl.SymbolicTensor;
    }
    const gather = tfl.layers.depthwiseConv2d({
      name: this.name,
      kernelSize: [ph, pw],
      strides: [ph, pw],
      padding: 'valid',
      depthMultiplier: m,
      useBias: true,
      trainable: false,
    });
    y = gather.apply(y) as tfl.SymbolicTensor;
    const [ho, wo] = [y.shape[1] as number, y.shape[2] as number];
    const q = helmertColumns(n);
    setConstantWeights(gather, [
      // [ph, pw, c, m]: window entry (dy, dx) of channel ch goes to column dy*pw + dx.
      { shape: [ph, pw, c, m], value: (i) => q[Math.floor(i / (c * m))]![i % m]! },
      { shape: [c * m], value: (i) => L2_EXPORT_OFFSET * q[n]![i % m]! },
    ]);
    // Rank 4 with the batch: tfjs layer normalization handles at most rank 4.
    y = tfl.layers.reshape({ name: `${this.name}_groups`, targetShape: [ho * wo, c, m] }).apply(y) as tfl.SymbolicTensor;
    y = exportEmbeddedNorm(this.name, y, m, this.kCoefLip, [ho, wo, c]);
    if (this.dataFormat === 'channelsFirst') {
      y = tfl.layers.permute({ name: `${this.name}_to_channels_first`, dims: [3, 1, 2] }).apply(y) as tfl.SymbolicTensor;
    }
    return y;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { epsGradSqrt: this.epsGradSqrt, ...super.getConfig() };
  }
}
tf.serialization.registerClass(ScaledL2NormPooling2D);

/**
 * Per-channel Euclidean norm over height and width, times `kCoefLip` (DEEL-LIP
 * `ScaledGlobalL2NormPooling2D`); gradient finite at 0 through `epsGradSqrt`.
 */
export class ScaledGlobalL2NormPooling2D extends ScaledGlobalPoolingBase {
  static className = 'ScaledGlobalL2NormPooling2D';
  readonly epsGradSqrt: number;

  constructor(args: ScaledGlobalL2NormPooling2DArgs = {}) {
    if (new.target === ScaledGlobalL2NormPooling2D) {
      checkKnownKeys('scaledGlobalL2NormPooling2d', args, SCALED_GLOBAL_L2_NORM_POOLING_OPTIONS);
    }
    super(args);
    this.epsGradSqrt = resolveEpsGradSqrt(args.epsGradSqrt);
  }

  /** 1: the Euclidean norm is already 1-Lipschitz. */
  correctiveCoefficient(): number {
    return 1;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const sumSquares = tf.sum(tf.square(single(inputs)), this.spatialAxes());
      return tf.mul(safeSqrt(sumSquares, this.epsGradSqrt), tf.scalar(this.kCoefLip));
    });
  }

  /**
   * Built-in composition: each channel's H*W values into the last axis (reshape, permute), a
   * `dense` embedding `v = Q (x, c)` (`helmertColumns`), then `exportEmbeddedNorm`.
   */
  vanillaExport(input: tfl.SymbolicTensor, context: ExportContext = STANDALONE_EXPORT): tfl.SymbolicTensor {
    if (context.inferenceLayers) return this.inferenceExport(input, null);
    const [h, w, c] = staticDims(this, input, this.dataFormat);
    const n = h * w;
    const m = n + 2;
    let windows: tfl.SymbolicTensor;
    if (this.dataFormat === 'channelsLast') {
      const flat = tfl.layers.reshape({ name: this.name, targetShape: [n, c] }).apply(input) as tfl.SymbolicTensor;
      windows = tfl.layers.permute({ name: `${this.name}_gather`, dims: [2, 1] }).apply(flat) as tfl.SymbolicTensor;
    } else {
      windows = tfl.layers.reshape({ name: this.name, targetShape: [c, n] }).apply(input) as tfl.SymbolicTensor;
    }
    const embed = tfl.layers.dense({ name: `${this.name}_embed`, units: m, trainable: false });
    const embedded = embed.apply(windows) as tfl.SymbolicTensor;
    const q = helmertColumns(n);
    setConstantWeights(embed, [
      { shape: [n, m], value: (i) => q[Math.floor(i / m)]![i % m]! },
      { shape: [m], value: (j) => L2_EXPORT_OFFSET * q[n]![j]! },
    ]);
    return exportEmbeddedNorm(this.name, embedded, m, this.kCoefLip, [c]);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { epsGradSqrt: this.epsGradSqrt, ...super.getConfig() };
  }
}
tf.serialization.registerClass(ScaledGlobalL2NormPooling2D);

/** Window-wise Euclidean norm times `kCoefLip` (strides = poolSize, padding 'valid'). */
export function scaledL2NormPooling2d(args: ScaledL2NormPooling2DArgs = {}): ScaledL2NormPooling2D {
  return new ScaledL2NormPooling2D(args);
}

/** Per-channel Euclidean norm over height and width, times `kCoefLip`. */
export function scaledGlobalL2NormPooling2d(args: ScaledGlobalL2NormPooling2DArgs = {}): ScaledGlobalL2NormPooling2D {
  return new ScaledGlobalL2NormPooling2D(args);
}

