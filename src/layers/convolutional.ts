/**
 * Lipschitz convolutions (DEEL-LIP `deel/lip/layers/convolutional.py`):
 *
 * - `SpectralConv2D`: reshaped kernel orthogonalization (spectral normalization then the
 *   orthogonalizer, Björck by default) of `reshape(kernel, [kh*kw*cin, filters])`, times the
 *   certified corrective factor (`computeConvLipFactor`) and `kCoefLip`;
 * - `FrobeniusConv2D`: the kernel divided by its Frobenius norm (an upper bound of the spectral
 *   norm of the reshaped kernel, equal to it for a single filter), times the same factor;
 * - `SpectralConv2DTranspose`: reshaped kernel orthogonalization in DEEL-LIP's orientation
 *   (`reshape(transpose(kernel, [0,1,3,2]), [kh*kw*cin, filters])`) times the transposed factor
 *   (`computeConvTransposeLipFactor`).
 *
 * SpectralConv2D and FrobeniusConv2D also take the explicit paddings of `padding.ts` ('constant',
 * 'circular', 'reflect', 'symmetric': pad, then a 'valid' convolution, with the factor of that mode).
 *
 * All three sit on the shared kernel-layer base (`kernel_layer.ts`), which owns W-bar (recomputed
 * in training, cached in inference), the bias, the activation and the export; this file gives
 * their geometry: kernel shape, corrective factor, convolution and built-in counterpart.
 *
 * The corrective factor is the *certified* one (largest window coverage): the bound
 * `||layer||_2 <= kCoefLip` holds for every kernel, which DEEL-LIP's stride-1 heuristic does not
 * guarantee (see `docs/convolutions.md`).
 *
 * References: Serrurier et al., "Achieving robustness in classification using optimal transport
 * with hinge regularization", CVPR 2021; Anil, Lucas, Grosse, "Sorting out Lipschitz function
 * approximation", ICML 2019; Li et al., "Preventing gradient attenuation in Lipschitz constrained
 * convolutional networks", NeurIPS 2019 (RKO and the convolution bound).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { configError, LipschitzConfigError } from '../core/errors';
import { NORMALIZATION_OPTION_FLAGS, type LipschitzNormalizationArgs } from '../core/normalization_args';
import { checkKnownKeys, checkOneOf, checkPositiveInt, layerOptionNames } from '../core/validation';
import { computeConvLipFactor, computeConvTransposeLipFactor, convGeometry, toPair, type ConvPadding } from '../normalizers/conv';
import { resolveSpectralSettings } from '../normalizers/settings';
import { FrobeniusKernelNormalization, SpectralKernelNormalization, type KernelNormalization } from './kernel_normalization';
import { KERNEL_LAYER_OPTION_FLAGS, LipschitzKernelLayer, rejectNormalizationOptions, type KernelLayerArgs } from './kernel_layer';
import { isExplicitPadding, padExplicit, paddedConvLipFactor, padWidth, PADDED_CONV_PADDINGS, unexportablePadding } from './padding';
import type { ExplicitPadding, PaddedConvPadding } from './padding';

type ConfigDict = tf.serialization.ConfigDict;

/** Options shared by the three Lipschitz convolutions (tfjs `conv2d` names). */
export interface LipschitzConvBaseArgs extends KernelLayerArgs {
  /** Number of output channels. */
  filters: number;
  /** Kernel height and width (a number means square). */
  kernelSize: number | number[];
  /** Strides along height and width (default 1). */
  strides?: number | number[];
  /** `'same'` (default, as DEEL-LIP) or `'valid'`; other modes are rejected. */
  padding?: ConvPadding;
  /** Only `'channelsLast'` is supported. */
  dataFormat?: 'channelsLast';
  /** Only 1 is supported (the corrective factor does not cover dilated kernels). */
  dilationRate?: number | [number, number];
}

/** Base options with any padding (each layer says which paddings it accepts). */
type AnyPaddingConvArgs = Omit<LipschitzConvBaseArgs, 'padding'> & { padding?: PaddedConvPadding };

/** Options of `SpectralConv2D`: tfjs `conv2d` options plus the normalization settings. */
export interface SpectralConv2DArgs extends Omit<LipschitzConvBaseArgs, 'padding'>, LipschitzNormalizationArgs {
  /**
   * `'same'` (default), `'valid'`, or an explicit padding of `floor(k/2)` cells per side before a
   * `'valid'` convolution: `'constant'` (zeros), `'circular'`, `'reflect'`, `'symmetric'`
   * (DEEL-LIP `PadConv2D`; docs/convolutions.md, "Explicit padding").
   */
  padding?: PaddedConvPadding;
}

/** Options of `FrobeniusConv2D`: tfjs `conv2d` options plus `kCoefLip` (paddings as `SpectralConv2D`). */
export interface FrobeniusConv2DArgs extends Omit<LipschitzConvBaseArgs, 'padding'> {
  /** As `SpectralConv2DArgs.padding`. */
  padding?: PaddedConvPadding;
}

/** Options of `SpectralConv2DTranspose`. */
export interface SpectralConv2DTransposeArgs extends SpectralConv2DArgs {
  /** `'same'` (default) or `'valid'`. */
  padding?: ConvPadding;
  /** Only `null`/absent is supported (tfjs infers the output size). */
  outputPadding?: null;
}

const PADDINGS: readonly ConvPadding[] = ['same', 'valid'];

const CONV_OPTION_FLAGS = {
  filters: true,
  kernelSize: true,
  strides: true,
  padding: true,
  dataFormat: true,
  dilationRate: true,
  ...KERNEL_LAYER_OPTION_FLAGS,
} as const;

const SPECTRAL_CONV2D_OPTIONS = layerOptionNames<SpectralConv2DArgs>({ ...CONV_OPTION_FLAGS, ...NORMALIZATION_OPTION_FLAGS });

/** FrobeniusConv2D also knows the normalization names, to reject them with a specific message. */
const FROBENIUS_CONV2D_OPTIONS = layerOptionNames<FrobeniusConv2DArgs>({ ...CONV_OPTION_FLAGS, ...NORMALIZATION_OPTION_FLAGS });

const SPECTRAL_CONV2D_TRANSPOSE_OPTIONS = layerOptionNames<SpectralConv2DTransposeArgs>({
  ...CONV_OPTION_FLAGS,
  ...NORMALIZATION_OPTION_FLAGS,
  outputPadding: true,
});

/** Validated geometry of the three layers. */
interface ConvGeometryArgs {
  filters: number;
  kernelSize: [number, number];
  strides: [number, number];
  padding: ConvPadding;
  explicitPadding: ExplicitPadding | null;
}

function resolveConvArgs(args: AnyPaddingConvArgs, paddings: readonly PaddedConvPadding[]): ConvGeometryArgs {
  if (args === null || typeof args !== 'object') configError('args', 'an options object', args);
  const filters = checkPositiveInt('filters', args.filters);
  const kernelSize = toPair('kernelSize', args.kernelSize);
  const strides = toPair('strides', args.strides ?? 1);
  const mode = checkOneOf('padding', args.padding ?? 'same', paddings);
  const explicitPadding = isExplicitPadding(mode) ? mode : null;
  const padding: ConvPadding = explicitPadding === null ? (mode as ConvPadding) : 'valid';
  if (args.dataFormat !== undefined && args.dataFormat !== null && args.dataFormat !== 'channelsLast') {
    configError('dataFormat', "'channelsLast' (channelsFirst is not supported)", args.dataFormat);
  }
  if (args.dilationRate !== undefined && args.dilationRate !== null) {
    const d = args.dilationRate;
    const ones = d === 1 || (Array.isArray(d) && d.length === 2 && d[0] === 1 && d[1] === 1);
    if (!ones) configError('dilationRate', '1 (dilated convolutions are not supported)', d);
  }
  return { filters, kernelSize, strides, padding, explicitPadding };
}

/** Spatial size of a channels-last 4-D input shape (null where unknown). */
function spatialOf(shape: tfl.Shape): [number | null, number | null, number] {
  if (shape.length !== 4) configError('inputShape', 'a rank-4 (batch, height, width, channels) shape', shape);
  const c = shape[3];
  if (c == null) configError('inputShape', 'a known number of channels', shape);
  return [shape[1] ?? null, shape[2] ?? null, c];
}

function convOutputSpatial(n: number | null, k: number, s: number, padding: ConvPadding): number | null {
  return n === null ? null : convGeometry(n, k, s, padding).out;
}

/**
 * The convolutions' part of the kernel layer: geometry, the certified corrective factor for the
 * build-time input size, the convolution, the built-in `conv2d` export. Subclasses say how the
 * kernel is shaped (the transposed one also how it is oriented) and which factor applies.
 */
export abstract class LipschitzConv extends LipschitzKernelLayer {
  readonly filters: number;
  readonly kernelSize: [number, number];
  readonly strides: [number, number];
  /** Padding of the convolution itself (`'valid'` after an explicit padding). */
  readonly padding: ConvPadding;
  /** The explicit padding applied before the convolution, or null (see `padding.ts`). */
  readonly explicitPadding: ExplicitPadding | null;
  /** Corrective factor for the build-time input size. */
  protected factor = 1;
  /** Spatial size the factor was computed for. */
  private builtSpatial: [number | null, number | null] = [null, null];

  /** `paddings`: the padding modes the subclass accepts (default `'same'`, `'valid'`). */
  constructor(args: AnyPaddingConvArgs, normalization: KernelNormalization, kCoefLip: number, paddings: readonly PaddedConvPadding[] = PADDINGS) {
    const geometry = resolveConvArgs(args, paddings);
    super(args, normalization, kCoefLip);
    this.filters = geometry.filters;
    this.kernelSize = geometry.kernelSize;
    this.strides = geometry.strides;
    this.padding = geometry.padding;
    this.explicitPadding = geometry.explicitPadding;
  }

  /** Shape of the trainable kernel for `cin` input channels. */
  protected kernelShape(cin: number): number[] {
    return [this.kernelSize[0], this.kernelSize[1], cin, this.filters];
  }

  /** Corrective factor for a spatial input size. */
  protected computeFactor(h: number | null, w: number | null): number {
    if (this.explicitPadding !== null) {
      return paddedConvLipFactor({ kernelSize: this.kernelSize, strides: this.strides, padding: this.explicitPadding, spatial: [h, w] });
    }
    return computeConvLipFactor({ kernelSize: this.kernelSize, strides: this.strides, padding: this.padding, inputShape: [h, w] });
  }

  protected kernelShapeFor(shape: tfl.Shape): number[] {
    const [h, w, cin] = spatialOf(shape);
    this.factor = this.computeFactor(h, w);
    this.builtSpatial = [h, w];
    return this.kernelShape(cin);
  }

  override correctiveCoefficient(): number {
    return this.factor;
  }

  /** Throws when called on a spatial size the build-time factor does not cover. */
  protected override checkInput(x: tf.Tensor): void {
    const [h0, w0] = this.builtSpatial;
    const h = x.shape[1] ?? null;
    const w = x.shape[2] ?? null;
    if ((h0 === null || h0 === h) && (w0 === null || w0 === w)) return;
    const needed = this.computeFactor(h, w);
    if (needed < this.factor * (1 - 1e-12)) {
      throw new LipschitzConfigError(
        `${this.getClassName()} '${this.name}' was built for inputs ${this.builtSpatial[0]}x${this.builtSpatial[1]} ` +
          `(corrective factor ${this.factor}); inputs ${h}x${w} need a smaller factor (${needed}). Build it for this size.`,
      );
    }
  }

  protected applyKernel(x: tf.Tensor, w: tf.Tensor): tf.Tensor {
    const input = this.explicitPadding === null ? x : padExplicit(x, [1, 2], this.kernelSize, this.explicitPadding);
    return tf.conv2d(input as tf.Tensor4D, w as tf.Tensor4D, this.strides, this.padding);
  }

  /** Built-in export; zero padding becomes a `zeroPadding2d` first, other explicit paddings are refused. */
  override vanillaExport(input: tfl.SymbolicTensor): tfl.SymbolicTensor {
    if (this.explicitPadding === null) return super.vanillaExport(input);
    if (this.explicitPadding !== 'constant') throw unexportablePadding(this, this.explicitPadding);
    const [ph, pw] = [padWidth(this.kernelSize[0]), padWidth(this.kernelSize[1])];
    const pad = tfl.layers.zeroPadding2d({ name: `${this.name}_padding`, padding: [[ph, ph], [pw, pw]] });
    return super.vanillaExport(pad.apply(input) as tfl.SymbolicTensor);
  }

  protected builtinLayer(): tfl.layers.Layer {
    return tfl.layers.conv2d({ ...(this.builtinArgs() as object), dilationRate: 1 } as Parameters<typeof tfl.layers.conv2d>[0]);
  }

  /** Settings of the built-in conv2d / conv2dTranspose of the export. */
  protected builtinArgs(): ConfigDict {
    return {
      name: this.name,
      filters: this.filters,
      kernelSize: [...this.kernelSize],
      strides: [...this.strides],
      padding: this.padding,
      dataFormat: 'channelsLast',
      activation: this.activation,
      useBias: this.useBias,
    };
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    return [shape[0] ?? null, ...this.outputSpatial(shape[1] ?? null, shape[2] ?? null), this.filters];
  }

  /** Output height and width for an input size. */
  protected outputSpatial(h: number | null, w: number | null): [number | null, number | null] {
    const padded = (n: number | null, k: number): number | null => (n === null || this.explicitPadding === null ? n : n + 2 * padWidth(k));
    return [
      convOutputSpatial(padded(h, this.kernelSize[0]), this.kernelSize[0], this.strides[0], this.padding),
      convOutputSpatial(padded(w, this.kernelSize[1]), this.kernelSize[1], this.strides[1], this.padding),
    ];
  }

  protected ownConfig(): ConfigDict {
    return {
      filters: this.filters,
      kernelSize: [...this.kernelSize],
      strides: [...this.strides],
      padding: this.explicitPadding ?? this.padding,
      dataFormat: 'channelsLast',
      dilationRate: [1, 1],
    };
  }
}

/** The spectral normalization of a convolution's settings. */
function spectralNormalizationOf(args: SpectralConv2DArgs): SpectralKernelNormalization {
  return new SpectralKernelNormalization(resolveSpectralSettings(args ?? ({} as SpectralConv2DArgs)));
}

/**
 * 2-D convolution with Lipschitz constant at most `kCoefLip` (L2 to L2): RKO of the reshaped
 * kernel times the certified corrective factor. DEEL-LIP `SpectralConv2D`.
 */
export class SpectralConv2D extends LipschitzConv {
  static className = 'SpectralConv2D';

  constructor(args: SpectralConv2DArgs) {
    if (new.target === SpectralConv2D) checkKnownKeys('spectralConv2d', args, SPECTRAL_CONV2D_OPTIONS);
    const normalization = spectralNormalizationOf(args);
    super(args, normalization, normalization.settings.kCoefLip, PADDED_CONV_PADDINGS);
  }
}
tf.serialization.registerClass(SpectralConv2D);

/**
 * 2-D convolution normalized by the Frobenius norm of its kernel, times the certified corrective
 * factor and `kCoefLip`. Tight for a single filter (DEEL-LIP `FrobeniusConv2D`); a valid but
 * looser bound otherwise.
 */
export class FrobeniusConv2D extends LipschitzConv {
  static className = 'FrobeniusConv2D';

  constructor(args: FrobeniusConv2DArgs) {
    if (new.target === FrobeniusConv2D) checkKnownKeys('frobeniusConv2d', args, FROBENIUS_CONV2D_OPTIONS);
    rejectNormalizationOptions('FrobeniusConv2D', args);
    super(args, new FrobeniusKernelNormalization(false), args?.kCoefLip ?? 1, PADDED_CONV_PADDINGS);
  }
}
tf.serialization.registerClass(FrobeniusConv2D);

/** tfjs-layers' output length of a transposed convolution. */
function deconvLength(n: number | null, s: number, k: number, padding: ConvPadding): number | null {
  if (n === null) return null;
  return padding === 'same' ? n * s : n * s + Math.max(k - s, 0);
}

/**
 * Transposed 2-D convolution with Lipschitz constant at most `kCoefLip`: RKO of the kernel in
 * DEEL-LIP's orientation times the certified transposed factor. DEEL-LIP
 * `SpectralConv2DTranspose` (which allows only `'same'`; `'valid'` is allowed here because the
 * factor covers it, as the impulse-response tests show).
 */
export class SpectralConv2DTranspose extends LipschitzConv {
  static className = 'SpectralConv2DTranspose';

  constructor(args: SpectralConv2DTransposeArgs) {
    if (new.target === SpectralConv2DTranspose) {
      checkKnownKeys('spectralConv2dTranspose', args, SPECTRAL_CONV2D_TRANSPOSE_OPTIONS);
    }
    const normalization = spectralNormalizationOf(args);
    super(args, normalization, normalization.settings.kCoefLip);
    if (args.outputPadding !== undefined && args.outputPadding !== null) {
      configError('outputPadding', 'null (the output size is inferred)', args.outputPadding);
    }
  }

  protected override kernelShape(cin: number): number[] {
    return [this.kernelSize[0], this.kernelSize[1], this.filters, cin];
  }

  protected override computeFactor(h: number | null, w: number | null): number {
    return computeConvTransposeLipFactor({ kernelSize: this.kernelSize, strides: this.strides, padding: this.padding, inputShape: [h, w] });
  }

  /** DEEL-LIP's orientation: the normalized matrix is `[kh*kw*cin, filters]`; W-bar keeps the kernel's shape. */
  protected override matrixPerm(): number[] {
    return [0, 1, 3, 2];
  }

  protected override outputAxis(rank: number): number {
    return rank - 2;
  }

  protected override applyKernel(x: tf.Tensor, w: tf.Tensor): tf.Tensor {
    const [oh, ow] = this.outputSpatial(x.shape[1]!, x.shape[2]!);
    return tf.conv2dTranspose(x as tf.Tensor4D, w as tf.Tensor4D, [x.shape[0]!, oh!, ow!, this.filters], this.strides, this.padding);
  }

  protected override outputSpatial(h: number | null, w: number | null): [number | null, number | null] {
    return [
      deconvLength(h, this.strides[0], this.kernelSize[0], this.padding),
      deconvLength(w, this.strides[1], this.kernelSize[1], this.padding),
    ];
  }

  protected override builtinLayer(): tfl.layers.Layer {
    return tfl.layers.conv2dTranspose(this.builtinArgs() as unknown as Parameters<typeof tfl.layers.conv2dTranspose>[0]);
  }

  protected override ownConfig(): ConfigDict {
    const config = super.ownConfig();
    delete config['dilationRate'];
    return config;
  }
}
tf.serialization.registerClass(SpectralConv2DTranspose);

/** `SpectralConv2D` factory (the tfjs-style public API). */
export function spectralConv2d(args: SpectralConv2DArgs): SpectralConv2D {
  return new SpectralConv2D(args);
}

/** `FrobeniusConv2D` factory. */
export function frobeniusConv2d(args: FrobeniusConv2DArgs): FrobeniusConv2D {
  return new FrobeniusConv2D(args);
}

/** `SpectralConv2DTranspose` factory. */
export function spectralConv2dTranspose(args: SpectralConv2DTransposeArgs): SpectralConv2DTranspose {
  return new SpectralConv2DTranspose(args);
}
