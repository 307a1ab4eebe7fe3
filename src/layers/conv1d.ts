/**
 * Lipschitz 1-D convolutions (deel-torchlip `SpectralConv1d`; DEEL-LIP has none): inputs
 * `[batch, steps, channels]`, kernel `[k, cin, filters]` normalized as the 2-D ones normalize
 * theirs (RKO or Frobenius norm of `reshape(kernel, [k*cin, filters])`), times the certified 1-D
 * corrective factor `1/sqrt(max_q N(q))` (`padding.ts`; docs/convolutions.md). Every padding of
 * `spectralConv2d` is accepted; the export is a built-in `conv1d` for `'same'`/`'valid'`, a
 * `reshape`, `zeroPadding2d`, `conv2d`, `reshape` chain for `'constant'` (tfjs has no 1-D zero
 * padding layer), and refused for the copying paddings (no built-in computes them).
 *
 * deel-torchlip's 1-D factor is `1/ceil(k/s)` (no square root) for strides or non-zero padding:
 * a valid bound but not a tight one; the certified factor here is tight when `W W^T = I`.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { configError, LipschitzConfigError } from '../core/errors';
import { NORMALIZATION_OPTION_FLAGS, type LipschitzNormalizationArgs } from '../core/normalization_args';
import { checkKnownKeys, checkOneOf, checkPositiveInt, layerOptionNames } from '../core/validation';
import { convGeometry } from '../normalizers/conv';
import { resolveSpectralSettings } from '../normalizers/settings';
import { FrobeniusKernelNormalization, SpectralKernelNormalization, type KernelNormalization } from './kernel_normalization';
import { KERNEL_LAYER_OPTION_FLAGS, LipschitzKernelLayer, rejectNormalizationOptions, type KernelLayerArgs } from './kernel_layer';
import { isExplicitPadding, padExplicit, paddedConvLipFactor, paddedOutputLength, padWidth, PADDED_CONV_PADDINGS, unexportablePadding } from './padding';
import type { ExplicitPadding, PaddedConvPadding } from './padding';

/** Options of the 1-D Lipschitz convolutions (tfjs `conv1d` names). */
export interface LipschitzConv1DArgs extends KernelLayerArgs {
  /** Number of output channels. */
  filters: number;
  /** Kernel length. */
  kernelSize: number | [number];
  /** Stride (default 1). */
  strides?: number | [number];
  /** `'same'` (default), `'valid'`, `'constant'`, `'circular'`, `'reflect'` or `'symmetric'` (as `spectralConv2d`). */
  padding?: PaddedConvPadding;
  /** Only `'channelsLast'` (`[batch, steps, channels]`) is supported. */
  dataFormat?: 'channelsLast';
  /** Only 1 is supported. */
  dilationRate?: number | [number];
}

/** Options of `SpectralConv1D`: tfjs `conv1d` options plus the normalization settings. */
export interface SpectralConv1DArgs extends LipschitzConv1DArgs, LipschitzNormalizationArgs {}

/** Options of `FrobeniusConv1D`: tfjs `conv1d` options plus `kCoefLip`. */
export type FrobeniusConv1DArgs = LipschitzConv1DArgs;

const CONV1D_OPTION_FLAGS = {
  filters: true,
  kernelSize: true,
  strides: true,
  padding: true,
  dataFormat: true,
  dilationRate: true,
  ...KERNEL_LAYER_OPTION_FLAGS,
} as const;

/** Both layers know the normalization names (FrobeniusConv1D to reject them with a specific message). */
const CONV1D_OPTIONS = layerOptionNames<SpectralConv1DArgs>({ ...CONV1D_OPTION_FLAGS, ...NORMALIZATION_OPTION_FLAGS });

/** A positive integer given as a number or a one-element array. */
function toSingle(name: string, value: unknown): number {
  const v = Array.isArray(value) && value.length === 1 ? value[0] : value;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) configError(name, 'a positive integer or an array of 1 positive integer', value);
  return v;
}

interface Conv1DGeometry {
  filters: number;
  kernelSize: number;
  strides: number;
  padding: PaddedConvPadding;
}

function resolveConv1DArgs(args: LipschitzConv1DArgs): Conv1DGeometry {
  if (args === null || typeof args !== 'object') configError('args', 'an options object', args);
  const filters = checkPositiveInt('filters', args.filters);
  const kernelSize = toSingle('kernelSize', args.kernelSize);
  const strides = toSingle('strides', args.strides ?? 1);
  const padding = checkOneOf('padding', args.padding ?? 'same', PADDED_CONV_PADDINGS);
  if (args.dataFormat !== undefined && args.dataFormat !== null && args.dataFormat !== 'channelsLast') {
    configError('dataFormat', "'channelsLast' (channelsFirst is not supported)", args.dataFormat);
  }
  const d = args.dilationRate;
  if (d !== undefined && d !== null && d !== 1 && !(Array.isArray(d) && d.length === 1 && d[0] === 1)) {
    configError('dilationRate', '1 (dilated convolutions are not supported)', d);
  }
  return { filters, kernelSize, strides, padding };
}

/** Output length of the 1-D convolution for an input length (null when unknown). */
function outputLength(n: number | null, g: Conv1DGeometry): number | null {
  if (n === null) return null;
  return isExplicitPadding(g.padding) ? paddedOutputLength(n, g.kernelSize, g.strides) : convGeometry(n, g.kernelSize, g.strides, g.padding).out;
}

/** The shared 1-D convolution: geometry, certified factor, `conv1d`, export. */
export abstract class LipschitzConv1D extends LipschitzKernelLayer {
  readonly filters: number;
  readonly kernelSize: number;
  readonly strides: number;
  /** The padding mode as given (`'same'`, `'valid'` or an explicit one). */
  readonly padding: PaddedConvPadding;
  /** Corrective factor for the build-time input length. */
  protected factor = 1;
  private builtSteps: number | null = null;

  constructor(args: LipschitzConv1DArgs, normalization: KernelNormalization, kCoefLip: number) {
    const geometry = resolveConv1DArgs(args);
    super(args, normalization, kCoefLip);
    this.filters = geometry.filters;
    this.kernelSize = geometry.kernelSize;
    this.strides = geometry.strides;
    this.padding = geometry.padding;
  }

  private get explicitPadding(): ExplicitPadding | null {
    return isExplicitPadding(this.padding) ? this.padding : null;
  }

  /** Certified corrective factor for an input length (null: every length). */
  protected computeFactor(n: number | null): number {
    return paddedConvLipFactor({ kernelSize: [this.kernelSize], strides: [this.strides], padding: this.padding, spatial: [n] });
  }

  protected kernelShapeFor(shape: tfl.Shape): number[] {
    if (shape.length !== 3) configError('inputShape', 'a rank-3 (batch, steps, channels) shape', shape);
    const cin = shape[2];
    if (cin == null) configError('inputShape', 'a known number of channels', shape);
    this.builtSteps = shape[1] ?? null;
    this.factor = this.computeFactor(this.builtSteps);
    return [this.kernelSize, cin, this.filters];
  }

  override correctiveCoefficient(): number {
    return this.factor;
  }

  /** Throws when called on a length the build-time factor does not cover. */
  protected override checkInput(x: tf.Tensor): void {
    const n = x.shape[1] ?? null;
    if (this.builtSteps === null || this.builtSteps === n) return;
    const needed = this.computeFactor(n);
    if (needed < this.factor * (1 - 1e-12)) {
      throw new LipschitzConfigError(
        `${this.getClassName()} '${this.name}' was built for ${this.builtSteps} steps (corrective factor ${this.factor}); ` +
          `inputs of ${n} steps need a smaller factor (${needed}). Build it for this length.`,
      );
    }
  }

  protected applyKernel(x: tf.Tensor, w: tf.Tensor): tf.Tensor {
    const mode = this.explicitPadding;
    const input = mode === null ? x : padExplicit(x, [1], [this.kernelSize], mode);
    return tf.conv1d(input as tf.Tensor3D, w as tf.Tensor3D, this.strides, mode === null ? (this.padding as 'same' | 'valid') : 'valid');
  }

  protected builtinLayer(): tfl.layers.Layer {
    return tfl.layers.conv1d({
      name: this.name,
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      padding: this.padding as 'same' | 'valid',
      dataFormat: 'channelsLast',
      dilationRate: 1,
      activation: this.activation as 'linear',
      useBias: this.useBias,
    });
  }

  /** `'same'`/`'valid'`: a `conv1d`; `'constant'`: see `exportZeroPadded`; other paddings: refused. */
  override vanillaExport(input: tfl.SymbolicTensor): tfl.SymbolicTensor {
    const mode = this.explicitPadding;
    if (mode === null) return super.vanillaExport(input);
    if (mode !== 'constant') throw unexportablePadding(this, mode);
    return this.exportZeroPadded(input);
  }

  /**
   * Zero padding with built-ins only: `[b, n, c]` reshaped to `[b, n, 1, c]`, `zeroPadding2d` of
   * `floor(k/2)` rows, a `'valid'` `conv2d` with kernel `[k, 1, c, filters]`, reshaped back.
   */
  private exportZeroPadded(input: tfl.SymbolicTensor): tfl.SymbolicTensor {
    const cin = input.shape[2]!;
    const p = padWidth(this.kernelSize);
    const to2d = tfl.layers.reshape({ name: `${this.name}_to2d`, targetShape: [-1, 1, cin] }).apply(input);
    const padded = tfl.layers.zeroPadding2d({ name: `${this.name}_padding`, padding: [[p, p], [0, 0]] }).apply(to2d);
    const conv = tfl.layers.conv2d({
      name: this.name,
      filters: this.filters,
      kernelSize: [this.kernelSize, 1],
      strides: [this.strides, 1],
      padding: 'valid',
      activation: this.activation as 'linear',
      useBias: this.useBias,
    });
    const y = conv.apply(padded) as tfl.SymbolicTensor;
    const kernel = tf.reshape(this.state().vars.wBar.read(), [this.kernelSize, 1, cin, this.filters]);
    try {
      conv.setWeights(this.bias === null ? [kernel] : [kernel, this.bias.read()]);
    } finally {
      kernel.dispose();
    }
    return tfl.layers.reshape({ name: `${this.name}_to1d`, targetShape: [-1, this.filters] }).apply(y) as tfl.SymbolicTensor;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    return [shape[0] ?? null, outputLength(shape[1] ?? null, this), this.filters];
  }

  protected ownConfig(): tf.serialization.ConfigDict {
    return {
      filters: this.filters,
      kernelSize: [this.kernelSize],
      strides: [this.strides],
      padding: this.padding,
      dataFormat: 'channelsLast',
      dilationRate: [1],
    };
  }
}

/**
 * 1-D convolution with Lipschitz constant at most `kCoefLip` (L2 to L2): RKO of the reshaped
 * kernel times the certified 1-D corrective factor. deel-torchlip `SpectralConv1d`.
 */
export class SpectralConv1D extends LipschitzConv1D {
  static className = 'SpectralConv1D';

  constructor(args: SpectralConv1DArgs) {
    if (new.target === SpectralConv1D) checkKnownKeys('spectralConv1d', args, CONV1D_OPTIONS);
    const normalization = new SpectralKernelNormalization(resolveSpectralSettings(args ?? ({} as SpectralConv1DArgs)));
    super(args, normalization, normalization.settings.kCoefLip);
  }
}
tf.serialization.registerClass(SpectralConv1D);

/** 1-D convolution normalized by the Frobenius norm of its kernel, times the certified factor and `kCoefLip`. */
export class FrobeniusConv1D extends LipschitzConv1D {
  static className = 'FrobeniusConv1D';

  constructor(args: FrobeniusConv1DArgs) {
    if (new.target === FrobeniusConv1D) checkKnownKeys('frobeniusConv1d', args, CONV1D_OPTIONS);
    rejectNormalizationOptions('FrobeniusConv1D', args);
    super(args, new FrobeniusKernelNormalization(false), args?.kCoefLip ?? 1);
  }
}
tf.serialization.registerClass(FrobeniusConv1D);

/** `SpectralConv1D` factory. */
export function spectralConv1d(args: SpectralConv1DArgs): SpectralConv1D {
  return new SpectralConv1D(args);
}

/** `FrobeniusConv1D` factory. */
export function frobeniusConv1d(args: FrobeniusConv1DArgs): FrobeniusConv1D {
  return new FrobeniusConv1D(args);
}
