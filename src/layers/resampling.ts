/**
 * Invertible down/up sampling (DEEL-LIP `InvertibleDownSampling` / `InvertibleUpSampling`,
 * `deel/lip/layers/pooling.py`): space-to-depth and its exact inverse depth-to-space. Both only
 * permute entries, so they preserve the norm of every input (times `kCoefLip`, 1 by default).
 *
 * Channel order (DEEL-LIP's): with pool (ph, pw), input pixel (i*ph + a, j*pw + b) of channel c
 * goes to output pixel (i, j), channel `c*ph*pw + a*pw + b` (channel-major, then row offset,
 * then column offset).
 *
 * References: C. Anil, J. Lucas, R. Grosse, "Sorting out Lipschitz function approximation",
 * ICML 2019 (arXiv:1811.05381); the invertible downsampling of Jacobsen et al., i-RevNet (2018).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { DEFAULT_K_COEF_LIP } from '../core/defaults';
import { configError, LipschitzConfigError } from '../core/errors';
import { checkKnownKeys, checkOneOf, checkPositiveIntPair, layerOptionNames } from '../core/validation';
import { ScaledLipschitzLayer } from './scaled_layer';
import type { BaseLayerArgs } from './scaled_layer';

type Kwargs = Record<string, unknown>;

/** Image layout: `channelsLast` is (batch, height, width, channels). */
export type ResamplingDataFormat = 'channelsLast' | 'channelsFirst';

/** Options of `InvertibleDownSampling` and `InvertibleUpSampling`. */
export interface InvertibleResamplingArgs extends BaseLayerArgs {
  /** Pool (height, width); one integer means a square pool. Required, like DEEL-LIP. */
  poolSize: number | [number, number];
  /** Image layout (default 'channelsLast'). */
  dataFormat?: ResamplingDataFormat;
  /** Output scale = Lipschitz constant (default 1: an exact permutation). */
  kCoefLip?: number;
}

const RESAMPLING_OPTIONS = layerOptionNames<InvertibleResamplingArgs>({ poolSize: true, dataFormat: true, kCoefLip: true });

function singleShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
  const shape = Array.isArray(inputShape[0]) ? (inputShape[0] as tfl.Shape) : (inputShape as tfl.Shape);
  if (shape.length !== 4) configError('inputShape', 'a 4-D shape (batch, height, width, channels)', shape);
  return shape;
}

const TO_NHWC = [0, 2, 3, 1];
const TO_NCHW = [0, 3, 1, 2];

/** Space-to-depth on an NHWC tensor, DEEL-LIP channel order. */
function spaceToDepth(x: tf.Tensor, poolSize: [number, number]): tf.Tensor {
  return tf.tidy(() => {
    const [b, h, w, c] = x.shape as [number, number, number, number];
    const [ph, pw] = poolSize;
    const ho = h / ph;
    const wo = w / pw;
    // (b, ho, ph, wo, pw, c) -> (b, ho, wo, c, ph, pw) -> (b, ho, wo, c*ph*pw)
    const blocks = tf.reshape(x, [b, ho, ph, wo, pw, c]);
    return tf.reshape(tf.transpose(blocks, [0, 1, 3, 5, 2, 4]), [b, ho, wo, c * ph * pw]);
  });
}

/** Depth-to-space on an NHWC tensor: the exact inverse of `spaceToDepth`. */
function depthToSpace(x: tf.Tensor, poolSize: [number, number]): tf.Tensor {
  return tf.tidy(() => {
    const [b, ho, wo, cn] = x.shape as [number, number, number, number];
    const [ph, pw] = poolSize;
    const c = cn / (ph * pw);
    // (b, ho, wo, c, ph, pw) -> (b, ho, ph, wo, pw, c) -> (b, ho*ph, wo*pw, c)
    const blocks = tf.reshape(x, [b, ho, wo, c, ph, pw]);
    return tf.reshape(tf.transpose(blocks, [0, 1, 4, 2, 5, 3]), [b, ho * ph, wo * pw, c]);
  });
}

/** Common state of the two resampling layers. */
abstract class InvertibleResamplingBase extends ScaledLipschitzLayer {
  readonly poolSize: [number, number];
  readonly dataFormat: ResamplingDataFormat;

  constructor(args: InvertibleResamplingArgs) {
    if (args === undefined || args === null || (args as { poolSize?: unknown }).poolSize === undefined) {
      configError('poolSize', 'a positive integer or a pair of positive integers', undefined);
    }
    super(args);
    this.poolSize = checkPositiveIntPair('poolSize', args.poolSize);
    this.dataFormat = checkOneOf('dataFormat', args.dataFormat ?? 'channelsLast', [
      'channelsLast',
      'channelsFirst',
    ] as const);
    this.kCoefLip = args.kCoefLip ?? DEFAULT_K_COEF_LIP;
    this.inputSpec = [{ ndim: 4 }];
  }

  /** The NHWC core (space-to-depth or depth-to-space). */
  protected abstract resample(x: tf.Tensor): tf.Tensor;

  /** The NHWC core as built-in reshape/permute layers, given static (h, w, c) of its input. */
  protected abstract exportCore(
    y: tfl.SymbolicTensor,
    dims: [number, number, number],
    nextName: () => string,
  ): tfl.SymbolicTensor;

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (x === undefined) throw new LipschitzConfigError(`${this.getClassName()} expects one input tensor.`);
      const nhwc = this.dataFormat === 'channelsLast' ? x : tf.transpose(x, TO_NHWC);
      let y = this.resample(nhwc);
      if (this.dataFormat === 'channelsFirst') y = tf.transpose(y, TO_NCHW);
      return this.scaled(y);
    });
  }

  /** Reshape/permute chain (plus `rescaling` when kCoefLip != 1): an exact built-in copy. */
  override vanillaExport(input: tfl.SymbolicTensor): tfl.SymbolicTensor {
    const shape = input.shape;
    const [h, w, c] =
      this.dataFormat === 'channelsLast' ? [shape[1], shape[2], shape[3]] : [shape[2], shape[3], shape[1]];
    if (h == null || w == null || c == null) {
      throw new LipschitzConfigError(
        `${this.getClassName()} '${this.name}': vanillaExport needs static height, width and channels, but got ${JSON.stringify(shape)}.`,
      );
    }
    let count = 0;
    const nextName = (): string => (count++ === 0 ? this.name : `${this.name}_step${count - 1}`);
    let y = input;
    if (this.dataFormat === 'channelsFirst') {
      y = tfl.layers.permute({ name: nextName(), dims: [2, 3, 1] }).apply(y) as tfl.SymbolicTensor;
    }
    y = this.exportCore(y, [h, w, c], nextName);
    if (this.dataFormat === 'channelsFirst') {
      y = tfl.layers.permute({ name: nextName(), dims: [3, 1, 2] }).apply(y) as tfl.SymbolicTensor;
    }
    return this.exportScaled(y, `${this.name}_rescale`);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { poolSize: [...this.poolSize], dataFormat: this.dataFormat, ...super.getConfig() };
  }
}

/**
 * Space-to-depth (DEEL-LIP `InvertibleDownSampling`): (b, h, w, c) -> (b, h/ph, w/pw, c*ph*pw).
 * Height and width must be divisible by the pool.
 */
export class InvertibleDownSampling extends InvertibleResamplingBase {
  static className = 'InvertibleDownSampling';

  constructor(args: InvertibleResamplingArgs) {
    if (new.target === InvertibleDownSampling) checkKnownKeys('invertibleDownSampling', args, RESAMPLING_OPTIONS);
    super(args);
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = singleShape(inputShape);
    const [h, w] = this.dataFormat === 'channelsLast' ? [shape[1], shape[2]] : [shape[2], shape[3]];
    const [ph, pw] = this.poolSize;
    if ((h != null && h % ph !== 0) || (w != null && w % pw !== 0)) {
      configError('poolSize', `a pool dividing the input height ${h} and width ${w}`, this.poolSize);
    }
    super.build(inputShape);
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = singleShape(inputShape);
    const [ph, pw] = this.poolSize;
    const div = (d: number | null | undefined, p: number) => (d == null ? null : d / p);
    const mul = (d: number | null | undefined) => (d == null ? null : d * ph * pw);
    return this.dataFormat === 'channelsLast'
      ? [shape[0] ?? null, div(shape[1], ph), div(shape[2], pw), mul(shape[3])]
      : [shape[0] ?? null, mul(shape[1]), div(shape[2], ph), div(shape[3], pw)];
  }

  protected resample(x: tf.Tensor): tf.Tensor {
    return spaceToDepth(x, this.poolSize);
  }

  protected exportCore(
    y: tfl.SymbolicTensor,
    [h, w, c]: [number, number, number],
    nextName: () => string,
  ): tfl.SymbolicTensor {
    const [ph, pw] = this.poolSize;
    const ho = h / ph;
    const wo = w / pw;
    let z = tfl.layers.reshape({ name: nextName(), targetShape: [ho, ph, wo, pw, c] }).apply(y) as tfl.SymbolicTensor;
    z = tfl.layers.permute({ name: nextName(), dims: [1, 3, 5, 2, 4] }).apply(z) as tfl.SymbolicTensor;
    return tfl.layers.reshape({ name: nextName(), targetShape: [ho, wo, c * ph * pw] }).apply(z) as tfl.SymbolicTensor;
  }
}
tf.serialization.registerClass(InvertibleDownSampling);

/**
 * Depth-to-space (DEEL-LIP `InvertibleUpSampling`): (b, h, w, c*ph*pw) -> (b, h*ph, w*pw, c), the
 * exact inverse of `InvertibleDownSampling` with the same pool. Channels must be divisible by ph*pw.
 */
export class InvertibleUpSampling extends InvertibleResamplingBase {
  static className = 'InvertibleUpSampling';

  constructor(args: InvertibleResamplingArgs) {
    if (new.target === InvertibleUpSampling) checkKnownKeys('invertibleUpSampling', args, RESAMPLING_OPTIONS);
    super(args);
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = singleShape(inputShape);
    const c = this.dataFormat === 'channelsLast' ? shape[3] : shape[1];
    const n = this.poolSize[0] * this.poolSize[1];
    if (c != null && c % n !== 0) {
      configError('poolSize', `a pool whose area divides the input channels ${c}`, this.poolSize);
    }
    super.build(inputShape);
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = singleShape(inputShape);
    const [ph, pw] = this.poolSize;
    const times = (d: number | null | undefined, p: number) => (d == null ? null : d * p);
    const div = (d: number | null | undefined) => (d == null ? null : d / (ph * pw));
    return this.dataFormat === 'channelsLast'
      ? [shape[0] ?? null, times(shape[1], ph), times(shape[2], pw), div(shape[3])]
      : [shape[0] ?? null, div(shape[1]), times(shape[2], ph), times(shape[3], pw)];
  }

  protected resample(x: tf.Tensor): tf.Tensor {
    return depthToSpace(x, this.poolSize);
  }

  protected exportCore(
    y: tfl.SymbolicTensor,
    [ho, wo, cn]: [number, number, number],
    nextName: () => string,
  ): tfl.SymbolicTensor {
    const [ph, pw] = this.poolSize;
    const c = cn / (ph * pw);
    let z = tfl.layers.reshape({ name: nextName(), targetShape: [ho, wo, c, ph, pw] }).apply(y) as tfl.SymbolicTensor;
    z = tfl.layers.permute({ name: nextName(), dims: [1, 4, 2, 5, 3] }).apply(z) as tfl.SymbolicTensor;
    return tfl.layers.reshape({ name: nextName(), targetShape: [ho * ph, wo * pw, c] }).apply(z) as tfl.SymbolicTensor;
  }
}
tf.serialization.registerClass(InvertibleUpSampling);

/** Space-to-depth: (b, h, w, c) -> (b, h/ph, w/pw, c*ph*pw), norm preserving. */
export function invertibleDownSampling(args: InvertibleResamplingArgs): InvertibleDownSampling {
  return new InvertibleDownSampling(args);
}

/** Depth-to-space: (b, h, w, c*ph*pw) -> (b, h*ph, w*pw, c), inverse of `invertibleDownSampling`. */
export function invertibleUpSampling(args: InvertibleResamplingArgs): InvertibleUpSampling {
  return new InvertibleUpSampling(args);
}
