/**
 * What the four scaled poolings share (`pooling.ts`: average; `l2_pooling.ts`: L2 norm): their
 * options and validation, the channels-first handling, and the base classes (on the scaled-layer
 * base of the weight-free Lipschitz layers, which owns `kCoefLip`).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { DEFAULT_EPS_GRAD_SQRT, DEFAULT_K_COEF_LIP } from '../core/defaults';
import { configError, LipschitzConfigError } from '../core/errors';
import { checkOneOf, checkPositiveFinite, checkPositiveIntPair, layerOptionNames } from '../core/validation';
import { InferenceL2NormPooling2D } from '../inference';
import { ScaledLipschitzLayer } from './scaled_layer';

/** Options every tfjs layer accepts (name, inputShape, dtype, trainable, ...). */
export type BaseLayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;
export type Kwargs = Record<string, unknown>;

/** Image layout: `channelsLast` is (batch, height, width, channels). */
export type PoolingDataFormat = 'channelsLast' | 'channelsFirst';

export const DATA_FORMATS: readonly PoolingDataFormat[] = ['channelsLast', 'channelsFirst'];

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

export const SCALED_POOLING_OPTIONS = layerOptionNames<ScaledPooling2DArgs>({
  poolSize: true,
  strides: true,
  padding: true,
  dataFormat: true,
  kCoefLip: true,
});
export const SCALED_L2_NORM_POOLING_OPTIONS = layerOptionNames<ScaledL2NormPooling2DArgs>({
  poolSize: true,
  strides: true,
  padding: true,
  dataFormat: true,
  kCoefLip: true,
  epsGradSqrt: true,
});
export const SCALED_GLOBAL_POOLING_OPTIONS = layerOptionNames<ScaledGlobalPooling2DArgs>({ dataFormat: true, kCoefLip: true });
export const SCALED_GLOBAL_L2_NORM_POOLING_OPTIONS = layerOptionNames<ScaledGlobalL2NormPooling2DArgs>({
  dataFormat: true,
  kCoefLip: true,
  epsGradSqrt: true,
});

/** Validates poolSize / strides / padding of the windowed poolings. */
export function resolveWindow(args: ScaledPooling2DArgs): [number, number] {
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

export function resolveDataFormat(value: unknown): PoolingDataFormat {
  return checkOneOf('dataFormat', value ?? 'channelsLast', DATA_FORMATS);
}

export function resolveEpsGradSqrt(value: unknown): number {
  return checkPositiveFinite('epsGradSqrt', value ?? DEFAULT_EPS_GRAD_SQRT);
}

export function single(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  const x = Array.isArray(inputs) ? inputs[0] : inputs;
  if (x === undefined) throw new LipschitzConfigError('Pooling layers expect exactly one input tensor.');
  return x;
}

export function singleShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
  const shape = Array.isArray(inputShape[0]) ? (inputShape[0] as tfl.Shape) : (inputShape as tfl.Shape);
  if (shape.length !== 4) configError('inputShape', 'a 4-D shape (batch, height, width, channels)', shape);
  return shape;
}

/** Spatial dims and channels of a 4-D shape in the given layout. */
export function spatial(shape: tfl.Shape, format: PoolingDataFormat): { h: number | null; w: number | null; c: number | null } {
  return format === 'channelsLast'
    ? { h: shape[1] ?? null, w: shape[2] ?? null, c: shape[3] ?? null }
    : { h: shape[2] ?? null, w: shape[3] ?? null, c: shape[1] ?? null };
}

export const TO_NHWC = [0, 2, 3, 1];
export const TO_NCHW = [0, 3, 1, 2];

/** Runs `f` on the channels-last view of `x` and returns the result in `format`. */
export function inNhwc(x: tf.Tensor, format: PoolingDataFormat, f: (x: tf.Tensor4D) => tf.Tensor): tf.Tensor {
  if (format === 'channelsLast') return f(x as tf.Tensor4D);
  const y = f(tf.transpose(x, TO_NHWC) as tf.Tensor4D);
  return y.rank === 4 ? tf.transpose(y, TO_NCHW) : y;
}

export function staticDims(layer: tfl.layers.Layer, input: tfl.SymbolicTensor, format: PoolingDataFormat): [number, number, number] {
  const { h, w, c } = spatial(input.shape, format);
  if (h == null || w == null || c == null) {
    throw new LipschitzConfigError(
      `${layer.getClassName()} '${layer.name}': vanillaExport needs static height, width and channels, but got ${JSON.stringify(input.shape)}.`,
    );
  }
  return [h, w, c];
}

/** Common state of the four scaled poolings: the data format, and `kCoefLip` from the scaled-layer base. */
export abstract class ScaledPoolingBase extends ScaledLipschitzLayer {
  readonly dataFormat: PoolingDataFormat;

  constructor(args: ScaledGlobalPooling2DArgs) {
    super(args);
    this.dataFormat = resolveDataFormat(args.dataFormat);
    this.kCoefLip = args.kCoefLip ?? DEFAULT_K_COEF_LIP;
    this.inputSpec = [{ ndim: 4 }];
  }

  abstract override correctiveCoefficient(): number;

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
    return { dataFormat: this.dataFormat, ...super.getConfig() };
  }
}

/** Windowed pooling state (poolSize, strides = poolSize, padding 'valid'). */
export abstract class ScaledWindowPoolingBase extends ScaledPoolingBase {
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

/** Global pooling state: needs static height and width at build. */
export abstract class ScaledGlobalPoolingBase extends ScaledPoolingBase {
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

