/**
 * Scaled poolings (DEEL-LIP `deel/lip/layers/pooling.py`): average and L2-norm poolings rescaled
 * so that their Lipschitz constant (L2 to L2) is exactly `kCoefLip`.
 *
 * - `ScaledAveragePooling2D`: `kCoefLip * sqrt(ph*pw) * avgPool(x)`; non-overlapping windows, so
 *   the operator is a block-diagonal matrix of rows `1/sqrt(n)` (norm 1) times `kCoefLip`.
 * - `ScaledL2NormPooling2D`: `kCoefLip * sqrt(sum of x^2 over each window)` (Boureau et al.);
 *   1-Lipschitz because the Euclidean norm is.
 * - `ScaledGlobalAveragePooling2D`: `kCoefLip * sqrt(H*W) * mean_{H,W}(x)`.
 * - `ScaledGlobalL2NormPooling2D`: `kCoefLip * ||x[:, :, c]||_2` per channel.
 *
 * The L2 norms use a square root whose gradient is `dy / (2 * (sqrt(y) + epsGradSqrt))`
 * (DEEL-LIP's `eps_grad_sqrt`), which is finite at 0 and never exceeds the true one.
 *
 * References: Y.-L. Boureau, J. Ponce, Y. LeCun, "A Theoretical Analysis of Feature Pooling in
 * Visual Recognition", ICML 2010; Serrurier et al., "Achieving robustness in classification
 * using optimal transport with hinge regularization", CVPR 2021 (DEEL-LIP).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { DEFAULT_EPS_GRAD_SQRT, DEFAULT_K_COEF_LIP } from '../core/defaults';
import { configError, LipschitzConfigError } from '../core/errors';
import { checkKnownKeys, checkOneOf, checkPositiveFinite, checkPositiveIntPair, layerOptionNames } from '../core/validation';
import { STANDALONE_EXPORT } from '../core/channel_map';
import { InferenceL2NormPooling2D } from '../inference';
import type { Condensable, ExportContext, LipschitzLayer } from '../core/contracts';
import { noteGivenKCoefLip } from '../core/normalization_args';
import { checkLayerShapeArgs } from '../core/input_shape';

/** Options every tfjs layer accepts (name, inputShape, dtype, trainable, ...). */
type BaseLayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;
type Kwargs = Record<string, unknown>;

/** Image layout: `channelsLast` is (batch, height, width, channels). */
export type PoolingDataFormat = 'channelsLast' | 'channelsFirst';

const DATA_FORMATS: readonly PoolingDataFormat[] = ['channelsLast', 'channelsFirst'];

/** Options of the windowed scaled poolings (`ScaledAveragePooling2D`, `ScaledL2NormPooling2D`). */
export interface ScaledPooling2DArgs extends BaseLayerArgs {
  /** Window (height, width); one integer means a square window (default [2, 2]). */
  poolSize?: number | [number, number];
  /** Must be null/undefined or equal to `poolSize`: windows may not overlap (default poolSize). */
  strides?: number | [number, number] | null;
  /** Only `'valid'`: a padded window would break the norm computation (default 'valid'). */
  padding?: 'valid';
  /** Image layout (default 'channelsLast'). */
  dataFormat?: PoolingDataFormat;
  /** Lipschitz constant of the layer (default 1). */
  kCoefLip?: number;
}

/** Options of `ScaledL2NormPooling2D`. */
export interface ScaledL2NormPooling2DArgs extends ScaledPooling2DArgs {
  /** Offset in the square root's gradient `dy / (2 (sqrt(y) + eps))`, > 0 (default 1e-6). */
  epsGradSqrt?: number;
}

/** Options of `ScaledGlobalAveragePooling2D`. */
export interface ScaledGlobalPooling2DArgs extends BaseLayerArgs {
  /** Image layout (default 'channelsLast'). */
  dataFormat?: PoolingDataFormat;
  /** Lipschitz constant of the layer (default 1). */
  kCoefLip?: number;
}

/** Options of `ScaledGlobalL2NormPooling2D`. */
export interface ScaledGlobalL2NormPooling2DArgs extends ScaledGlobalPooling2DArgs {
  /** Offset in the square root's gradient `dy / (2 (sqrt(y) + eps))`, > 0 (default 1e-6). */
  epsGradSqrt?: number;
}

const SCALED_POOLING_OPTIONS = layerOptionNames<ScaledPooling2DArgs>({
  poolSize: true,
  strides: true,
  padding: true,
  dataFormat: true,
  kCoefLip: true,
});
const SCALED_L2_NORM_POOLING_OPTIONS = layerOptionNames<ScaledL2NormPooling2DArgs>({
  poolSize: true,
  strides: true,
  padding: true,
  dataFormat: true,
  kCoefLip: true,
  epsGradSqrt: true,
});
const SCALED_GLOBAL_POOLING_OPTIONS = layerOptionNames<ScaledGlobalPooling2DArgs>({ dataFormat: true, kCoefLip: true });
const SCALED_GLOBAL_L2_NORM_POOLING_OPTIONS = layerOptionNames<ScaledGlobalL2NormPooling2DArgs>({
  dataFormat: true,
  kCoefLip: true,
  epsGradSqrt: true,
});

/** Validates poolSize / strides / padding of the windowed poolings. */
function resolveWindow(args: ScaledPooling2DArgs): [number, number] {
  const poolSize = checkPositiveIntPair('poolSize', args.poolSize ?? [2, 2]);
  if (args.strides !== undefined && args.strides !== null) {
    const strides = checkPositiveIntPair('strides', args.strides);
    if (strides[0] !== poolSize[0] || strides[1] !== poolSize[1]) {
      configError('strides', `null or equal to poolSize ${JSON.stringify(poolSize)} (non-overlapping windows)`, args.strides);
    }
  }
  if (args.padding !== undefined && args.padding !== 'valid') {
    configError('padding', "'valid' (padded windows are not supported)", args.padding);
  }
  return poolSize;
}

function resolveDataFormat(value: unknown): PoolingDataFormat {
  return checkOneOf('dataFormat', value ?? 'channelsLast', DATA_FORMATS);
}

function resolveEpsGradSqrt(value: unknown): number {
  return checkPositiveFinite('epsGradSqrt', value ?? DEFAULT_EPS_GRAD_SQRT);
}

function single(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  const x = Array.isArray(inputs) ? inputs[0] : inputs;
  if (x === undefined) throw new LipschitzConfigError('Pooling layers expect exactly one input tensor.');
  return x;
}

function singleShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
  const shape = Array.isArray(inputShape[0]) ? (inputShape[0] as tfl.Shape) : (inputShape as tfl.Shape);
  if (shape.length !== 4) configError('inputShape', 'a 4-D shape (batch, height, width, channels)', shape);
  return shape;
}

/** Spatial dims and channels of a 4-D shape in the given layout. */
function spatial(shape: tfl.Shape, format: PoolingDataFormat): { h: number | null; w: number | null; c: number | null } {
  return format === 'channelsLast'
    ? { h: shape[1] ?? null, w: shape[2] ?? null, c: shape[3] ?? null }
    : { h: shape[2] ?? null, w: shape[3] ?? null, c: shape[1] ?? null };
}

const TO_NHWC = [0, 2, 3, 1];
const TO_NCHW = [0, 3, 1, 2];

/** Runs `f` on the channels-last view of `x` and returns the result in `format`. */
function inNhwc(x: tf.Tensor, format: PoolingDataFormat, f: (x: tf.Tensor4D) => tf.Tensor): tf.Tensor {
  if (format === 'channelsLast') return f(x as tf.Tensor4D);
  const y = f(tf.transpose(x, TO_NHWC) as tf.Tensor4D);
  return y.rank === 4 ? tf.transpose(y, TO_NCHW) : y;
}

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

/** Common state of the four scaled poolings. */
abstract class ScaledPoolingBase extends tfl.layers.Layer implements LipschitzLayer, Condensable {
  readonly isLipschitzLayer = true as const;
  readonly isCondensable = true as const;
  readonly dataFormat: PoolingDataFormat;
  private kCoef: number;

  constructor(args: ScaledGlobalPooling2DArgs) {
    super(args);
    checkLayerShapeArgs(args);
    this.dataFormat = resolveDataFormat(args.dataFormat);
    this.kCoef = checkPositiveFinite('kCoefLip', args.kCoefLip ?? DEFAULT_K_COEF_LIP);
    noteGivenKCoefLip(this, args.kCoefLip);
    this.inputSpec = [{ ndim: 4 }];
  }

  /** Lipschitz constant of the layer; `lip.sequential` may set it before build. */
  get kCoefLip(): number {
    return this.kCoef;
  }

  set kCoefLip(value: number) {
    this.kCoef = checkPositiveFinite('kCoefLip', value);
  }

  abstract correctiveCoefficient(): number;

  lipschitzBound(): number {
    return this.kCoef;
  }

  /** Poolings have no weights: nothing to condense. */
  condense(): void {}

  abstract vanillaExport(input: tfl.SymbolicTensor, context?: ExportContext): tfl.SymbolicTensor;

  /** The `tfjs-lip/inference` layer computing this L2-norm pooling (`poolSize` null: global). */
  protected inferenceExport(input: tfl.SymbolicTensor, poolSize: [number, number] | null): tfl.SymbolicTensor {
    const layer = new InferenceL2NormPooling2D({ name: this.name, poolSize, scale: this.kCoefLip, dataFormat: this.dataFormat });
    return layer.apply(input) as tfl.SymbolicTensor;
  }

  protected requireBuilt(): void {
    if (!this.built) {
      throw new LipschitzConfigError(`${this.getClassName()} '${this.name}': correctiveCoefficient() is valid once built.`);
    }
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { dataFormat: this.dataFormat, kCoefLip: this.kCoef, ...super.getConfig() };
  }
}

/** Windowed pooling state (poolSize, strides = poolSize, padding 'valid'). */
abstract class ScaledWindowPoolingBase extends ScaledPoolingBase {
  readonly poolSize: [number, number];

  constructor(args: ScaledPooling2DArgs) {
    super(args);
    this.poolSize = resolveWindow(args);
  }

  /** sqrt(ph * pw): the norm of one window's averaging row is 1/sqrt(ph*pw). */
  correctiveCoefficient(): number {
    return Math.sqrt(this.poolSize[0] * this.poolSize[1]);
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = singleShape(inputShape);
    const { h, w } = spatial(shape, this.dataFormat);
    if ((h !== null && h < this.poolSize[0]) || (w !== null && w < this.poolSize[1])) {
      configError('poolSize', `a window no larger than the input (height ${h}, width ${w})`, this.poolSize);
    }
    super.build(inputShape);
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = singleShape(inputShape);
    const [ph, pw] = this.poolSize;
    const down = (d: number | null | undefined, p: number) => (d == null ? null : Math.floor(d / p));
    return this.dataFormat === 'channelsLast'
      ? [shape[0] ?? null, down(shape[1], ph), down(shape[2], pw), shape[3] ?? null]
      : [shape[0] ?? null, shape[1] ?? null, down(shape[2], ph), down(shape[3], pw)];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      poolSize: [...this.poolSize],
      strides: [...this.poolSize],
      padding: 'valid',
      ...super.getConfig(),
    };
  }
}

/**
 * Average pooling times `sqrt(ph*pw) * kCoefLip` (DEEL-LIP `ScaledAveragePooling2D`): with
 * non-overlapping windows its Lipschitz constant is exactly `kCoefLip`.
 */
export class ScaledAveragePooling2D extends ScaledWindowPoolingBase {
  static className = 'ScaledAveragePooling2D';

  constructor(args: ScaledPooling2DArgs = {}) {
    if (new.target === ScaledAveragePooling2D) checkKnownKeys('scaledAveragePooling2d', args, SCALED_POOLING_OPTIONS);
    super(args);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const scale = this.correctiveCoefficient() * this.kCoefLip;
      return inNhwc(single(inputs), this.dataFormat, (x) =>
        tf.mul(tf.avgPool(x, this.poolSize, this.poolSize, 'valid'), tf.scalar(scale)),
      );
    });
  }

  /**
   * `averagePooling2d`, then the scale `sqrt(ph*pw) * kCoefLip`: folded by `lip.vanillaExport`
   * into the next Dense/convolution kernel when it can, else a `rescaling` (`${name}_scale`).
   */
  vanillaExport(input: tfl.SymbolicTensor, context: ExportContext = STANDALONE_EXPORT): tfl.SymbolicTensor {
    const pooled = tfl.layers
      .averagePooling2d({
        name: this.name,
        poolSize: [...this.poolSize],
        strides: [...this.poolSize],
        padding: 'valid',
        dataFormat: this.dataFormat,
      })
      .apply(input) as tfl.SymbolicTensor;
    const scale = this.correctiveCoefficient() * this.kCoefLip;
    // A channel map acts on the last axis: channels-first output gets its rescaling at once.
    const target = this.dataFormat === 'channelsLast' ? context : STANDALONE_EXPORT;
    return target.defer(pooled, { scale, pair: null }, this.name);
  }
}
tf.serialization.registerClass(ScaledAveragePooling2D);

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

function staticDims(layer: tfl.layers.Layer, input: tfl.SymbolicTensor, format: PoolingDataFormat): [number, number, number] {
  const { h, w, c } = spatial(input.shape, format);
  if (h == null || w == null || c == null) {
    throw new LipschitzConfigError(
      `${layer.getClassName()} '${layer.name}': vanillaExport needs static height, width and channels, but got ${JSON.stringify(input.shape)}.`,
    );
  }
  return [h, w, c];
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

/** Global pooling state: needs static height and width at build. */
abstract class ScaledGlobalPoolingBase extends ScaledPoolingBase {
  protected area: number | null = null;

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const { h, w } = spatial(singleShape(inputShape), this.dataFormat);
    if (h == null || w == null) {
      configError('inputShape', 'static height and width', singleShape(inputShape));
    }
    this.area = h * w;
    super.build(inputShape);
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = singleShape(inputShape);
    return [shape[0] ?? null, spatial(shape, this.dataFormat).c];
  }

  protected spatialAxes(): [number, number] {
    return this.dataFormat === 'channelsLast' ? [1, 2] : [2, 3];
  }
}

/**
 * Global average pooling times `sqrt(H*W) * kCoefLip` (DEEL-LIP `ScaledGlobalAveragePooling2D`):
 * each channel's averaging row `1/(HW)` has norm `1/sqrt(HW)`, so the layer is `kCoefLip`-Lipschitz.
 */
export class ScaledGlobalAveragePooling2D extends ScaledGlobalPoolingBase {
  static className = 'ScaledGlobalAveragePooling2D';

  constructor(args: ScaledGlobalPooling2DArgs = {}) {
    if (new.target === ScaledGlobalAveragePooling2D) {
      checkKnownKeys('scaledGlobalAveragePooling2d', args, SCALED_GLOBAL_POOLING_OPTIONS);
    }
    super(args);
  }

  /** sqrt(H*W); valid once built. */
  correctiveCoefficient(): number {
    this.requireBuilt();
    return Math.sqrt(this.area as number);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const scale = this.correctiveCoefficient() * this.kCoefLip;
      return tf.mul(tf.mean(single(inputs), this.spatialAxes()), tf.scalar(scale));
    });
  }

  /**
   * `globalAveragePooling2d`, then the scale `sqrt(H*W) * kCoefLip`: folded by
   * `lip.vanillaExport` into the next Dense kernel when it can, else a `rescaling`.
   */
  vanillaExport(input: tfl.SymbolicTensor, context: ExportContext = STANDALONE_EXPORT): tfl.SymbolicTensor {
    const [h, w] = staticDims(this, input, this.dataFormat);
    const pooled = tfl.layers
      .globalAveragePooling2d({ name: this.name, dataFormat: this.dataFormat })
      .apply(input) as tfl.SymbolicTensor;
    return context.defer(pooled, { scale: Math.sqrt(h * w) * this.kCoefLip, pair: null }, this.name);
  }
}
tf.serialization.registerClass(ScaledGlobalAveragePooling2D);

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

/** Average pooling scaled to be `kCoefLip`-Lipschitz (strides = poolSize, padding 'valid'). */
export function scaledAveragePooling2d(args: ScaledPooling2DArgs = {}): ScaledAveragePooling2D {
  return new ScaledAveragePooling2D(args);
}

/** Window-wise Euclidean norm times `kCoefLip` (strides = poolSize, padding 'valid'). */
export function scaledL2NormPooling2d(args: ScaledL2NormPooling2DArgs = {}): ScaledL2NormPooling2D {
  return new ScaledL2NormPooling2D(args);
}

/** Global average pooling times `sqrt(H*W) * kCoefLip`. */
export function scaledGlobalAveragePooling2d(args: ScaledGlobalPooling2DArgs = {}): ScaledGlobalAveragePooling2D {
  return new ScaledGlobalAveragePooling2D(args);
}

/** Per-channel Euclidean norm over height and width, times `kCoefLip`. */
export function scaledGlobalL2NormPooling2d(args: ScaledGlobalL2NormPooling2DArgs = {}): ScaledGlobalL2NormPooling2D {
  return new ScaledGlobalL2NormPooling2D(args);
}
