/**
 * `tfjs-lip/inference`: the inference-only layers of `lip.vanillaExport(model, {inferenceLayers:
 * true})`, for the tfjs-lip layers whose exact built-in composition is slow (the L2-norm
 * poolings, whose square root needs a layer normalization) or impossible (sorting groups of more
 * than 2). Importing this module registers them, so that `tf.loadLayersModel` can read such an
 * export. It imports only tfjs and tfjs-lip's sorting kernel, none of the training code, and
 * computes exactly what the tfjs-lip layers compute in `predict` (docs/export.md).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { sortGroups } from '../ops/sort';

type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;

function invalid(className: string, field: string, expected: string, value: unknown): never {
  throw new Error(`${className}: ${field} expected ${expected}, but got ${JSON.stringify(value)}.`);
}

function finiteScale(className: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) invalid(className, 'scale', 'a finite number', value);
  return value;
}

/** Options of `InferenceGroupSort`. */
export interface InferenceGroupSortArgs extends LayerArgs {
  /** Size of the groups of contiguous channels (last axis) sorted in ascending order; null: all. */
  groupSize: number | null;
  /** Output scale (the source layer's `kCoefLip`). */
  scale: number;
}

/** `scale * sort(each group of groupSize channels)`: GroupSort, GroupSort2 and FullSort in inference. */
export class InferenceGroupSort extends tfl.layers.Layer {
  static className = 'TfjsLipInferenceGroupSort';
  readonly groupSize: number | null;
  readonly scale: number;

  constructor(args: InferenceGroupSortArgs) {
    super(args);
    const g = args.groupSize;
    if (g !== null && (typeof g !== 'number' || !Number.isInteger(g) || g < 1)) {
      invalid(InferenceGroupSort.className, 'groupSize', 'a positive integer or null', g);
    }
    this.groupSize = g;
    this.scale = finiteScale(InferenceGroupSort.className, args.scale);
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      const sorted = sortGroups(x, this.groupSize ?? (x.shape[x.rank - 1] as number));
      return this.scale === 1 ? sorted : tf.mul(sorted, tf.scalar(this.scale));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { groupSize: this.groupSize, scale: this.scale, ...super.getConfig() };
  }
}
tf.serialization.registerClass(InferenceGroupSort);

/** Options of `InferenceL2NormPooling2D`. */
export interface InferenceL2NormPooling2DArgs extends LayerArgs {
  /** Window (strides equal, padding 'valid'); null: the whole image (global pooling). */
  poolSize: [number, number] | null;
  /** Output scale: `kCoefLip` of the source layer. */
  scale: number;
  /** Image layout (default 'channelsLast'). */
  dataFormat?: 'channelsLast' | 'channelsFirst';
}

/**
 * `scale * sqrt(sum of x^2 over each window)` (non-overlapping windows), or over the whole image
 * per channel when `poolSize` is null: ScaledL2NormPooling2D and ScaledGlobalL2NormPooling2D in
 * inference.
 */
export class InferenceL2NormPooling2D extends tfl.layers.Layer {
  static className = 'TfjsLipInferenceL2NormPooling2D';
  readonly poolSize: [number, number] | null;
  readonly scale: number;
  readonly dataFormat: 'channelsLast' | 'channelsFirst';

  constructor(args: InferenceL2NormPooling2DArgs) {
    super(args);
    const p = args.poolSize;
    const isPair = Array.isArray(p) && p.length === 2 && p.every((v) => Number.isInteger(v) && v >= 1);
    if (p !== null && !isPair) invalid(InferenceL2NormPooling2D.className, 'poolSize', 'a pair of positive integers or null', p);
    this.poolSize = p === null ? null : [p[0], p[1]];
    this.scale = finiteScale(InferenceL2NormPooling2D.className, args.scale);
    const format = args.dataFormat ?? 'channelsLast';
    if (format !== 'channelsLast' && format !== 'channelsFirst') {
      invalid(InferenceL2NormPooling2D.className, 'dataFormat', "'channelsLast' or 'channelsFirst'", format);
    }
    this.dataFormat = format;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const [h, w, c] = this.dataFormat === 'channelsLast' ? [shape[1], shape[2], shape[3]] : [shape[2], shape[3], shape[1]];
    if (this.poolSize === null) return [shape[0] ?? null, c ?? null];
    const down = (d: number | null | undefined, p: number) => (d == null ? null : Math.floor(d / p));
    const [oh, ow] = [down(h, this.poolSize[0]), down(w, this.poolSize[1])];
    return this.dataFormat === 'channelsLast' ? [shape[0] ?? null, oh, ow, c ?? null] : [shape[0] ?? null, c ?? null, oh, ow];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      let x = (Array.isArray(inputs) ? inputs[0]! : inputs) as tf.Tensor4D;
      if (this.dataFormat === 'channelsFirst') x = tf.transpose(x, [0, 2, 3, 1]);
      if (this.poolSize === null) return tf.mul(tf.sqrt(tf.sum(tf.square(x), [1, 2])), tf.scalar(this.scale));
      const [ph, pw] = this.poolSize;
      const meanSquares = tf.avgPool(tf.square(x) as tf.Tensor4D, this.poolSize, this.poolSize, 'valid');
      const y = tf.mul(tf.sqrt(meanSquares), tf.scalar(this.scale * Math.sqrt(ph * pw)));
      return this.dataFormat === 'channelsFirst' ? tf.transpose(y, [0, 3, 1, 2]) : y;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { poolSize: this.poolSize, scale: this.scale, dataFormat: this.dataFormat, ...super.getConfig() };
  }
}
tf.serialization.registerClass(InferenceL2NormPooling2D);

/** Class names of the inference layers (what an export made with `inferenceLayers: true` may contain). */
export const INFERENCE_CLASS_NAMES: readonly string[] = [InferenceGroupSort.className, InferenceL2NormPooling2D.className];
