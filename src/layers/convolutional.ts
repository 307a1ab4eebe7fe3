/**
 * Lipschitz convolutions (DEEL-LIP `deel/lip/layers/convolutional.py`):
 *
 * - `SpectralConv2D`: reshaped kernel orthogonalization (spectral normalization then Björck) of
 *   `reshape(kernel, [kh*kw*cin, filters])`, times the certified corrective factor
 *   (`computeConvLipFactor`) and `kCoefLip`;
 * - `FrobeniusConv2D`: the kernel divided by its Frobenius norm (an upper bound of the spectral
 *   norm of the reshaped kernel, equal to it for a single filter), times the same factor;
 * - `SpectralConv2DTranspose`: reshaped kernel orthogonalization in DEEL-LIP's orientation
 *   (`reshape(transpose(kernel, [0,1,3,2]), [kh*kw*cin, filters])`) times the transposed factor
 *   (`computeConvTransposeLipFactor`).
 *
 * In training (`fit`) the normalized kernel W-bar is recomputed from the trainable kernel at every
 * call (gradients flow through the normalization) and cached in non-trainable weights; in
 * inference (`predict`) the cached W-bar is used. The exported built-in layers carry W-bar.
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
import {
  computeConvLipFactor,
  computeConvTransposeLipFactor,
  convGeometry,
  type ConvPadding,
  toPair,
} from '../normalizers/conv';
import { serializeObject } from '../initializers';
import { reshapedKernelOrthogonalization } from '../normalizers/reshaped';
import { checkActivation, checkBoolean, checkKnownKeys, checkOneOf, checkPositiveInt, layerOptionNames } from '../core/validation';
import type { TfjsLayerArgs } from '../core/validation';
import type { Condensable, LipschitzLayer } from '../core/contracts';
import {
  addWBarWeight,
  KernelState,
  type KernelNormalizerResult,
  type KernelNormalizerState,
  type KernelStateVariables,
} from './kernel_state';
import {
  type LipschitzNormalizationArgs,
  NORMALIZATION_OPTION_FLAGS,
  noteGivenKCoefLip,
  rejectKernelConstraint,
  resolveNormalizationArgs,
  type ResolvedNormalizationArgs,
} from '../core/normalization_args';
import { checkLayerShapeArgs } from '../core/input_shape';
import { requireBackend } from '../backend/require_backend';

/** Options every tfjs layer accepts (name, inputShape, dtype, trainable, ...). */
type BaseLayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;
type Kwargs = Record<string, unknown>;
type ConfigDict = tf.serialization.ConfigDict;
type Initializer = ReturnType<typeof tfl.initializers.zeros>;
type Regularizer = ReturnType<typeof tfl.regularizers.l2>;
type Constraint = ReturnType<typeof tfl.constraints.nonNeg>;
type LayerVariable = tfl.LayerVariable;

/** An initializer, regularizer or constraint: a tfjs identifier, an instance or its serialized form. */
export type SerializableIdentifier = string | tf.serialization.Serializable | { className: string; config: ConfigDict };

/** Options shared by the three Lipschitz convolutions (tfjs `conv2d` names). */
export interface LipschitzConvBaseArgs extends BaseLayerArgs {
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
  /** A 1-Lipschitz activation identifier (default linear). */
  activation?: string;
  /** Whether to add a bias (default true). */
  useBias?: boolean;
  /** Initializer of the unconstrained kernel (default `'glorotUniform'`; tfjs' `'orthogonal'` needs the full tfjs bundle). */
  kernelInitializer?: SerializableIdentifier;
  /** Initializer of the bias (default `'zeros'`). */
  biasInitializer?: SerializableIdentifier;
  /** Regularizer of the unconstrained kernel. */
  kernelRegularizer?: SerializableIdentifier | null;
  /** Regularizer of the bias. */
  biasRegularizer?: SerializableIdentifier | null;
  /** Regularizer of the output. */
  activityRegularizer?: SerializableIdentifier | null;
  /** Constraint of the bias (a bias does not change the Lipschitz constant). */
  biasConstraint?: SerializableIdentifier | null;
  /** Rejected: the layer owns its kernel's normalization. */
  kernelConstraint?: unknown;
  /** Lipschitz constant of the layer (default 1). */
  kCoefLip?: number;
}

/** Options of `SpectralConv2D`: tfjs `conv2d` options plus the normalization settings. */
export interface SpectralConv2DArgs extends LipschitzConvBaseArgs, LipschitzNormalizationArgs {}

/** Options of `FrobeniusConv2D`: tfjs `conv2d` options plus `kCoefLip`. */
export type FrobeniusConv2DArgs = LipschitzConvBaseArgs;

/** Options of `SpectralConv2DTranspose`. */
export interface SpectralConv2DTransposeArgs extends SpectralConv2DArgs {
  /** Only `null`/absent is supported (tfjs infers the output size). */
  outputPadding?: null;
}

const PADDINGS: readonly ConvPadding[] = ['same', 'valid'];

/** Own option names of the convolutions (besides tfjs' layer options), checked against the interface. */
const CONV_OPTION_FLAGS: { [K in Exclude<keyof LipschitzConvBaseArgs, keyof TfjsLayerArgs>]: true } = {
  filters: true,
  kernelSize: true,
  strides: true,
  padding: true,
  dataFormat: true,
  dilationRate: true,
  activation: true,
  useBias: true,
  kernelInitializer: true,
  biasInitializer: true,
  kernelRegularizer: true,
  biasRegularizer: true,
  activityRegularizer: true,
  biasConstraint: true,
  kernelConstraint: true,
  kCoefLip: true,
};

const SPECTRAL_CONV2D_OPTIONS = layerOptionNames<SpectralConv2DArgs>({ ...CONV_OPTION_FLAGS, ...NORMALIZATION_OPTION_FLAGS });

/** FrobeniusConv2D also knows the normalization names, to reject them with a specific message. */
const FROBENIUS_CONV2D_OPTIONS = layerOptionNames<FrobeniusConv2DArgs>({ ...CONV_OPTION_FLAGS, ...NORMALIZATION_OPTION_FLAGS });

const SPECTRAL_CONV2D_TRANSPOSE_OPTIONS = layerOptionNames<SpectralConv2DTransposeArgs>({
  ...CONV_OPTION_FLAGS,
  ...NORMALIZATION_OPTION_FLAGS,
  outputPadding: true,
});

const SERIALIZABLE_FACTORIES: Record<'initializer' | 'regularizer' | 'constraint', Record<string, (a: never) => unknown>> = {
  initializer: tfl.initializers as unknown as Record<string, (a: never) => unknown>,
  regularizer: tfl.regularizers as unknown as Record<string, (a: never) => unknown>,
  constraint: tfl.constraints as unknown as Record<string, (a: never) => unknown>,
};

/** Resolves a tfjs identifier, instance or serialized dict into an instance (throws if unknown). */
function resolveSerializable<T>(kind: 'initializer' | 'regularizer' | 'constraint', name: string, value: unknown): T | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') {
    const factory = SERIALIZABLE_FACTORIES[kind][value];
    if (typeof factory !== 'function') configError(name, `a tfjs ${kind} identifier`, value);
    return (factory as (a: unknown) => T)({});
  }
  if (typeof value === 'object' && typeof (value as { getClassName?: unknown }).getClassName === 'function') {
    return value as T;
  }
  const dict = value as { className?: unknown; config?: unknown };
  if (typeof value === 'object' && typeof dict.className === 'string') {
    const entry = tf.serialization.SerializationMap.getMap().classNameMap[dict.className];
    if (entry === undefined) configError(name, `a registered ${kind} class`, dict.className);
    const [cls, fromConfig] = entry;
    return fromConfig(cls, (dict.config ?? {}) as ConfigDict) as unknown as T;
  }
  return configError(name, `a tfjs ${kind} (identifier, instance or {className, config})`, value);
}

/** Validated settings common to the three layers. */
interface ResolvedConvArgs {
  filters: number;
  kernelSize: [number, number];
  strides: [number, number];
  padding: ConvPadding;
  activation: string;
  useBias: boolean;
}

function resolveConvArgs(args: LipschitzConvBaseArgs): ResolvedConvArgs {
  if (args === null || typeof args !== 'object') configError('args', 'an options object', args);
  const filters = checkPositiveInt('filters', args.filters);
  const kernelSize = toPair('kernelSize', args.kernelSize);
  const strides = toPair('strides', args.strides ?? 1);
  const padding = checkOneOf('padding', args.padding ?? 'same', PADDINGS);
  if (args.dataFormat !== undefined && args.dataFormat !== null && args.dataFormat !== 'channelsLast') {
    configError('dataFormat', "'channelsLast' (channelsFirst is not supported)", args.dataFormat);
  }
  if (args.dilationRate !== undefined && args.dilationRate !== null) {
    const d = args.dilationRate;
    const ones = d === 1 || (Array.isArray(d) && d.length === 2 && d[0] === 1 && d[1] === 1);
    if (!ones) configError('dilationRate', '1 (dilated convolutions are not supported)', d);
  }
  const activation = checkActivation('activation', args.activation);
  const useBias = args.useBias === undefined ? true : checkBoolean('useBias', args.useBias);
  rejectKernelConstraint(args.kernelConstraint);
  return { filters, kernelSize, strides, padding, activation, useBias };
}

/** Spatial size of a channels-last 4-D input shape (null where unknown). */
function spatialOf(inputShape: tfl.Shape | tfl.Shape[]): [number | null, number | null, number] {
  const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
  if (shape.length !== 4) configError('inputShape', 'a rank-4 (batch, height, width, channels) shape', shape);
  const c = shape[3];
  if (c == null) configError('inputShape', 'a known number of channels', shape);
  return [shape[1] ?? null, shape[2] ?? null, c];
}

/**
 * Common machinery of the Lipschitz convolutions: weights, W-bar cache, call, config, export.
 * Subclasses say how the kernel is shaped and normalized and which built-in they export to.
 */
abstract class LipschitzConvBase extends tfl.layers.Layer implements LipschitzLayer, Condensable {
  readonly isLipschitzLayer = true as const;
  readonly isCondensable = true as const;
  kCoefLip: number;

  readonly filters: number;
  readonly kernelSize: [number, number];
  readonly strides: [number, number];
  readonly padding: ConvPadding;
  readonly activation: string;
  readonly useBias: boolean;
  protected readonly kernelInitializer: Initializer;
  protected readonly biasInitializer: Initializer;
  protected readonly kernelRegularizer: Regularizer | null;
  protected readonly biasRegularizer: Regularizer | null;
  protected readonly biasConstraint: Constraint | null;
  private readonly activationLayer: tfl.layers.Layer;

  protected kernel: LayerVariable | null = null;
  protected bias: LayerVariable | null = null;
  /** Training/inference W-bar logic (shared with the dense layers); W-bar includes factor and kCoefLip. */
  protected kernelState: KernelState | null = null;
  /** Corrective factor for the build-time input size. */
  protected factor = 1;
  /** Spatial size the factor was computed for. */
  private builtSpatial: [number | null, number | null] = [null, null];

  constructor(args: LipschitzConvBaseArgs) {
    const resolved = resolveConvArgs(args);
    super(args);
    checkLayerShapeArgs(args);
    this.filters = resolved.filters;
    this.kernelSize = resolved.kernelSize;
    this.strides = resolved.strides;
    this.padding = resolved.padding;
    this.activation = resolved.activation;
    this.useBias = resolved.useBias;
    this.kCoefLip = 1;
    noteGivenKCoefLip(this, args.kCoefLip);
    this.kernelInitializer =
      resolveSerializable<Initializer>('initializer', 'kernelInitializer', args.kernelInitializer ?? 'glorotUniform') as Initializer;
    this.biasInitializer =
      resolveSerializable<Initializer>('initializer', 'biasInitializer', args.biasInitializer ?? 'zeros') as Initializer;
    this.kernelRegularizer = resolveSerializable<Regularizer>('regularizer', 'kernelRegularizer', args.kernelRegularizer);
    this.biasRegularizer = resolveSerializable<Regularizer>('regularizer', 'biasRegularizer', args.biasRegularizer);
    this.biasConstraint = resolveSerializable<Constraint>('constraint', 'biasConstraint', args.biasConstraint);
    const activityRegularizer = resolveSerializable<Regularizer>('regularizer', 'activityRegularizer', args.activityRegularizer);
    if (activityRegularizer !== null) this.activityRegularizer = activityRegularizer;
    this.activationLayer = tfl.layers.activation({ activation: this.activation as 'linear' });
  }

  /** Shape of the trainable kernel for `cin` input channels. */
  protected abstract kernelShape(cin: number): [number, number, number, number];
  /** Corrective factor for a spatial input size. */
  protected abstract computeFactor(h: number | null, w: number | null): number;
  /** Adds the non-trainable state weights (`w_bar`, and `u`, `sigma`, `bjorck` for RKO). */
  protected abstract addStateWeights(kernelShape: [number, number, number, number]): KernelStateVariables;
  /**
   * Normalized kernel (with factor and kCoefLip, in the kernel's shape) and the new normalizer
   * state, from the trainable kernel. Gradients flow to `kernel`.
   */
  protected abstract normalize(kernel: tf.Tensor4D, state: KernelNormalizerState): KernelNormalizerResult;
  /** Applies the linear operator to x (channels last): a convolution (the transposed layer overrides). */
  protected linear(x: tf.Tensor4D, w: tf.Tensor4D): tf.Tensor4D {
    return tf.conv2d(x, w, this.strides, this.padding);
  }

  /** The built-in layer of the export, with this layer's settings. */
  protected builtinLayer(): tfl.layers.Layer {
    return tfl.layers.conv2d({ ...(this.builtinArgs() as object), dilationRate: 1 } as Parameters<typeof tfl.layers.conv2d>[0]);
  }

  correctiveCoefficient(): number {
    return this.factor;
  }

  /**
   * Certified bound as the layer predicts: ||W-bar reshaped to (patch, channels)||_2 (certified
   * in float64) divided by the corrective factor, since each input pixel lies in at most
   * 1/factor^2 patches (||y||^2 <= ||W||^2 sum_q N(q) ||x_q||^2). `kCoefLip` before build.
   */
  lipschitzBound(): number {
    return this.kernelState == null ? this.kCoefLip : this.kernelState.certifiedWBarNorm(this.patchMatrixPerm()) / this.factor;
  }

  /** Axis order that makes W-bar's `[-1, lastDim]` reshape the normalized patch matrix (none: as stored). */
  protected patchMatrixPerm(): number[] | undefined {
    return undefined;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const [h, w, cin] = spatialOf(inputShape);
    this.factor = this.computeFactor(h, w);
    this.builtSpatial = [h, w];
    const shape = this.kernelShape(cin);
    requireBackend(`${this.getClassName()} '${this.name}' (building its weights)`);
    this.kernel = this.addWeight('kernel', shape, 'float32', this.kernelInitializer, this.kernelRegularizer ?? undefined, true);
    if (this.useBias) {
      this.bias = this.addWeight(
        'bias',
        [this.filters],
        'float32',
        this.biasInitializer,
        this.biasRegularizer ?? undefined,
        true,
        this.biasConstraint ?? undefined,
      );
    }
    const vars = this.addStateWeights(shape);
    this.kernelState = new KernelState(this.kernel, vars, (kernel, state) => this.normalize(kernel as tf.Tensor4D, state));
    this.built = true;
    this.kernelState.refresh();
  }

  /** The layer's kernel state (throws when not built). */
  protected state(): KernelState {
    if (this.kernelState === null) throw new LipschitzConfigError(`${this.getClassName()} '${this.name}' is not built.`);
    return this.kernelState;
  }

  /** Throws when called on a spatial size the build-time factor does not cover. */
  private checkSpatial(x: tf.Tensor): void {
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

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      this.checkSpatial(x);
      const w = this.state().normalizedKernel(kwargs['training'] === true) as tf.Tensor4D;
      let y: tf.Tensor = this.linear(x, w);
      if (this.bias !== null) y = tf.add(y, this.bias.read());
      return this.activationLayer.apply(y) as tf.Tensor;
    });
  }

  condense(): void {
    this.state().condense();
  }

  vanillaExport(input: tfl.SymbolicTensor): tfl.SymbolicTensor {
    const wBar = this.state().vars.wBar;
    const layer = this.builtinLayer();
    const output = layer.apply(input) as tfl.SymbolicTensor;
    const weights = [wBar.read()];
    if (this.bias !== null) weights.push(this.bias.read());
    layer.setWeights(weights);
    return output;
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
    return [
      convOutputSpatial(h, this.kernelSize[0], this.strides[0], this.padding),
      convOutputSpatial(w, this.kernelSize[1], this.strides[1], this.padding),
    ];
  }

  override getConfig(): ConfigDict {
    const config: ConfigDict = {
      filters: this.filters,
      kernelSize: [...this.kernelSize],
      strides: [...this.strides],
      padding: this.padding,
      dataFormat: 'channelsLast',
      dilationRate: [1, 1],
      activation: this.activation,
      useBias: this.useBias,
      kernelInitializer: serializeObject(this.kernelInitializer),
      biasInitializer: serializeObject(this.biasInitializer),
      kernelRegularizer: serializeObject(this.kernelRegularizer),
      biasRegularizer: serializeObject(this.biasRegularizer),
      activityRegularizer: serializeObject(this.activityRegularizer ?? null),
      biasConstraint: serializeObject(this.biasConstraint),
      kCoefLip: this.kCoefLip,
    };
    return { ...config, ...super.getConfig() };
  }
}

/** Adds RKO state (u, sigma) and settings to a convolution. */
abstract class SpectralConvBase extends LipschitzConvBase {
  protected readonly normalization: ResolvedNormalizationArgs;

  constructor(args: SpectralConv2DArgs) {
    super(args);
    this.normalization = resolveNormalizationArgs(args);
    this.kCoefLip = this.normalization.kCoefLip;
  }

  /**
   * RKO state weights for a reshaped matrix `[rows, cols]`: `u` `[1, cols]`, `sigma` `[1, 1]`,
   * `w_bar` (kernel's shape) and, with Björck, its warm start `bjorck` `[k, k]`, k = min(rows, cols).
   */
  protected rkoStateWeights(kernelShape: number[], rows: number, cols: number): KernelStateVariables {
    const add = (name: string, shape: number[], init: ReturnType<typeof tfl.initializers.zeros>): LayerVariable =>
      this.addWeight(name, shape, 'float32', init, undefined, false);
    const k = Math.min(rows, cols);
    return {
      u: add('u', [1, cols], tfl.initializers.randomNormal({ mean: 0, stddev: 1 })),
      sigma: add('sigma', [1, 1], tfl.initializers.ones()),
      wBar: add('w_bar', kernelShape, tfl.initializers.zeros()),
      bjorck: this.normalization.epsBjorck === null ? null : add('bjorck', [k, k], tfl.initializers.zeros()),
    };
  }

  /** RKO of a `[kh, kw, a, b]` kernel (reshaped to `[kh*kw*a, b]`), times `kCoefLip * factor`. */
  protected orthogonalize(kernel4d: tf.Tensor4D, state: KernelNormalizerState): KernelNormalizerResult {
    const res = reshapedKernelOrthogonalization(kernel4d, state.u, this.kCoefLip * this.factor, {
      ...this.normalization,
      bjorckState: state.bjorckState,
    });
    return { wBar: res.wBar, u: res.u, sigma: res.sigma, bjorckState: res.bjorckState };
  }

  override getConfig(): ConfigDict {
    const { epsSpectral, epsBjorck, betaBjorck, maxIterSpectral, maxIterBjorck } = this.normalization;
    return { ...super.getConfig(), epsSpectral, epsBjorck, betaBjorck, maxIterSpectral, maxIterBjorck };
  }
}

function convOutputSpatial(
  n: number | null,
  k: number,
  s: number,
  padding: ConvPadding,
): number | null {
  return n === null ? null : convGeometry(n, k, s, padding).out;
}

/**
 * 2-D convolution with Lipschitz constant at most `kCoefLip` (L2 to L2): RKO of the reshaped
 * kernel times the certified corrective factor. DEEL-LIP `SpectralConv2D`.
 */
export class SpectralConv2D extends SpectralConvBase {
  static className = 'SpectralConv2D';

  constructor(args: SpectralConv2DArgs) {
    if (new.target === SpectralConv2D) checkKnownKeys('spectralConv2d', args, SPECTRAL_CONV2D_OPTIONS);
    super(args);
  }

  protected kernelShape(cin: number): [number, number, number, number] {
    return [this.kernelSize[0], this.kernelSize[1], cin, this.filters];
  }

  protected computeFactor(h: number | null, w: number | null): number {
    return computeConvLipFactor({ kernelSize: this.kernelSize, strides: this.strides, padding: this.padding, inputShape: [h, w] });
  }

  protected addStateWeights(shape: [number, number, number, number]): KernelStateVariables {
    return this.rkoStateWeights(shape, shape[0] * shape[1] * shape[2], shape[3]);
  }

  protected normalize(kernel: tf.Tensor4D, state: KernelNormalizerState): KernelNormalizerResult {
    return this.orthogonalize(kernel, state);
  }
}
tf.serialization.registerClass(SpectralConv2D);

/**
 * 2-D convolution normalized by the Frobenius norm of its kernel, times the certified corrective
 * factor and `kCoefLip`. Tight for a single filter (DEEL-LIP `FrobeniusConv2D`); a valid but
 * looser bound otherwise.
 */
export class FrobeniusConv2D extends LipschitzConvBase {
  static className = 'FrobeniusConv2D';

  constructor(args: FrobeniusConv2DArgs) {
    if (new.target === FrobeniusConv2D) checkKnownKeys('frobeniusConv2d', args, FROBENIUS_CONV2D_OPTIONS);
    super(args);
    const unknown = (['epsSpectral', 'epsBjorck', 'betaBjorck', 'maxIterSpectral', 'maxIterBjorck'] as const).find(
      (key) => (args as unknown as Record<string, unknown>)[key] !== undefined,
    );
    if (unknown !== undefined) {
      configError(unknown, 'nothing (FrobeniusConv2D has no iterative normalization)', (args as unknown as Record<string, unknown>)[unknown]);
    }
    this.kCoefLip = resolveNormalizationArgs({ kCoefLip: args.kCoefLip }).kCoefLip;
  }

  protected kernelShape(cin: number): [number, number, number, number] {
    return [this.kernelSize[0], this.kernelSize[1], cin, this.filters];
  }

  protected computeFactor(h: number | null, w: number | null): number {
    return computeConvLipFactor({ kernelSize: this.kernelSize, strides: this.strides, padding: this.padding, inputShape: [h, w] });
  }

  protected addStateWeights(shape: [number, number, number, number]): KernelStateVariables {
    return addWBarWeight((...a) => this.addWeight(...a), shape);
  }

  protected normalize(kernel: tf.Tensor4D): KernelNormalizerResult {
    return { wBar: tf.mul(kernel, tf.div(this.kCoefLip * this.factor, tf.norm(kernel))) };
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
export class SpectralConv2DTranspose extends SpectralConvBase {
  static className = 'SpectralConv2DTranspose';

  constructor(args: SpectralConv2DTransposeArgs) {
    if (new.target === SpectralConv2DTranspose) {
      checkKnownKeys('spectralConv2dTranspose', args, SPECTRAL_CONV2D_TRANSPOSE_OPTIONS);
    }
    super(args);
    if (args.outputPadding !== undefined && args.outputPadding !== null) {
      configError('outputPadding', 'null (the output size is inferred)', args.outputPadding);
    }
  }

  protected kernelShape(cin: number): [number, number, number, number] {
    return [this.kernelSize[0], this.kernelSize[1], this.filters, cin];
  }

  protected computeFactor(h: number | null, w: number | null): number {
    return computeConvTransposeLipFactor({ kernelSize: this.kernelSize, strides: this.strides, padding: this.padding, inputShape: [h, w] });
  }

  protected addStateWeights(shape: [number, number, number, number]): KernelStateVariables {
    // DEEL-LIP's orientation: the matrix is [kh*kw*cin, filters], w_bar keeps the kernel's shape.
    return this.rkoStateWeights(shape, shape[0] * shape[1] * shape[3], shape[2]);
  }

  /** Each output pixel sums at most `1/factor^2` input pixels through `[kh*kw*cin, filters]`. */
  protected override patchMatrixPerm(): number[] {
    return [0, 1, 3, 2];
  }

  protected normalize(kernel: tf.Tensor4D, state: KernelNormalizerState): KernelNormalizerResult {
    const res = this.orthogonalize(tf.transpose(kernel, [0, 1, 3, 2]) as tf.Tensor4D, state);
    return { ...res, wBar: tf.transpose(res.wBar, [0, 1, 3, 2]) };
  }

  protected override linear(x: tf.Tensor4D, w: tf.Tensor4D): tf.Tensor4D {
    const [oh, ow] = this.outputSpatial(x.shape[1], x.shape[2]);
    return tf.conv2dTranspose(x, w, [x.shape[0], oh!, ow!, this.filters], this.strides, this.padding);
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

  override getConfig(): ConfigDict {
    const config = super.getConfig();
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
