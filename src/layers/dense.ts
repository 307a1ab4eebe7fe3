/**
 * Lipschitz dense layers: `SpectralDense` (every singular value of the kernel equal to `kCoefLip`,
 * by spectral normalization and Björck orthonormalization) and `FrobeniusDense` (kernel, or each
 * neuron's weight vector, of Frobenius norm `kCoefLip`).
 *
 * In training (`fit`) the normalized kernel W-bar is recomputed from the trainable kernel and the
 * gradient flows through the normalization; in inference (`predict`) the cached W-bar weight is
 * used, at the cost of a plain dense layer.
 *
 * References: DEEL-LIP `deel/lip/layers/dense.py`; Anil et al., "Sorting out Lipschitz function
 * approximation", ICML 2019; Serrurier et al., CVPR 2021.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { configError } from '../core/errors';
import { serializeObject, spectral as spectralInitializer, toInitializer, toRegularizer } from '../initializers';
import type { TflInitializer, TflRegularizer } from '../initializers';
import { orthogonalMatMul, orthogonalMatMulPays } from '../normalizers/orthogonal_matmul';
import { reshapedKernelOrthogonalization } from '../normalizers/reshaped';
import { checkActivation, checkBoolean, checkKnownKeys, checkPositiveFinite, checkPositiveInt, layerOptionNames } from '../core/validation';
import type { TfjsLayerArgs } from '../core/validation';
import type { Condensable, LipschitzLayer } from '../core/contracts';
import { addSpectralStateWeights, addWBarWeight, KernelState } from './kernel_state';
import type { LayerVariable } from './kernel_state';
import { NORMALIZATION_OPTION_FLAGS, noteGivenKCoefLip, rejectKernelConstraint, resolveNormalizationArgs } from '../core/normalization_args';
import type { LipschitzNormalizationArgs, ResolvedNormalizationArgs } from '../core/normalization_args';
import { checkLayerShapeArgs } from '../core/input_shape';
import { requireBackend } from '../backend/require_backend';

type BaseLayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;
type Kwargs = Parameters<tfl.layers.Layer['call']>[1];
type TflConstraint = ReturnType<typeof tfl.constraints.nonNeg>;

/** Arguments shared by the Lipschitz dense layers (tfjs `dense` arguments, minus the kernel constraint). */
export interface LipschitzDenseArgs extends BaseLayerArgs {
  /** Positive integer, dimensionality of the output space. */
  units: number;
  /** A 1-Lipschitz activation identifier (`'linear'` when absent). */
  activation?: string | null;
  /** Whether the layer uses a bias vector (default true). */
  useBias?: boolean;
  /** Initializer of the kernel (default `lip.initializers.spectral()`). */
  kernelInitializer?: unknown;
  /** Initializer of the bias (default `'zeros'`). */
  biasInitializer?: unknown;
  /** Regularizer of the kernel. */
  kernelRegularizer?: unknown;
  /** Regularizer of the bias. */
  biasRegularizer?: unknown;
  /** Regularizer of the output. */
  activityRegularizer?: unknown;
  /** Constraint of the bias (a bias does not change the Lipschitz constant). */
  biasConstraint?: unknown;
  /** Not allowed: the layer normalizes its own kernel (throws `LipschitzConfigError`). */
  kernelConstraint?: unknown;
  /** Size of the input (shortcut for `inputShape: [inputDim]`). */
  inputDim?: number;
}

/** Arguments of {@link SpectralDense}. */
export interface SpectralDenseArgs extends LipschitzDenseArgs, LipschitzNormalizationArgs {}

/** Arguments of {@link FrobeniusDense}. */
export interface FrobeniusDenseArgs extends LipschitzDenseArgs {
  /** Lipschitz constant of the layer (default 1). */
  kCoefLip?: number;
  /**
   * true (default, as DEEL-LIP): each output neuron's weight vector has norm `kCoefLip` (each
   * output is `kCoefLip`-Lipschitz); false: the whole kernel has Frobenius norm `kCoefLip`.
   */
  disjointNeurons?: boolean;
}

/** Own option names of the dense layers (besides tfjs' layer options), checked against the interface. */
const DENSE_OPTION_FLAGS: { [K in Exclude<keyof LipschitzDenseArgs, keyof TfjsLayerArgs>]: true } = {
  units: true,
  activation: true,
  useBias: true,
  kernelInitializer: true,
  biasInitializer: true,
  kernelRegularizer: true,
  biasRegularizer: true,
  activityRegularizer: true,
  biasConstraint: true,
  kernelConstraint: true,
  inputDim: true,
};

const SPECTRAL_DENSE_OPTIONS = layerOptionNames<SpectralDenseArgs>({ ...DENSE_OPTION_FLAGS, ...NORMALIZATION_OPTION_FLAGS });

const FROBENIUS_DENSE_OPTIONS = layerOptionNames<FrobeniusDenseArgs>({ ...DENSE_OPTION_FLAGS, kCoefLip: true, disjointNeurons: true });

/** Applies a 1-Lipschitz activation identifier, with tfjs-layers' formulas. */
export function applyActivation(name: string, x: tf.Tensor): tf.Tensor {
  switch (name) {
    case 'linear':
      return x;
    case 'relu':
      return tf.relu(x);
    case 'relu6':
      return tf.clipByValue(x, 0, 6);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'tanh':
      return tf.tanh(x);
    case 'softsign':
      return tf.div(x, tf.add(tf.abs(x), 1));
    case 'softplus':
      return tf.softplus(x);
    case 'softmax':
      return tf.softmax(x, -1);
    case 'hardSigmoid':
      return tf.clipByValue(tf.add(tf.mul(x, 0.2), 0.5), 0, 1);
    case 'elu':
      return tf.elu(x);
    default:
      return configError('activation', 'a 1-Lipschitz activation', name);
  }
}

function toConstraint(name: string, value: unknown): TflConstraint | null {
  if (value == null) return null;
  if (typeof value === 'object' && typeof (value as { apply?: unknown }).apply === 'function') return value as TflConstraint;
  if (typeof value === 'string') {
    const factory = (tfl.constraints as unknown as Record<string, unknown>)[value];
    if (typeof factory === 'function') return (factory as (args: object) => TflConstraint)({});
  }
  if (typeof value === 'object' && typeof (value as { className?: unknown }).className === 'string') {
    const { className, config } = value as { className: string; config?: tf.serialization.ConfigDict };
    const entry = tf.serialization.SerializationMap.getMap().classNameMap[className];
    if (entry != null) return entry[1](entry[0], config ?? {}) as unknown as TflConstraint;
  }
  return configError(name, 'a constraint, its identifier or its {className, config}', value);
}

/** Common part of the two dense layers: arguments, weights, matmul + bias + activation, export. */
abstract class LipschitzDenseBase extends tfl.layers.Layer implements LipschitzLayer, Condensable {
  readonly isLipschitzLayer = true as const;
  readonly isCondensable = true as const;
  readonly units: number;
  readonly activation: string;
  readonly useBias: boolean;
  protected readonly kernelInitializer: TflInitializer;
  protected readonly biasInitializer: TflInitializer;
  protected readonly kernelRegularizer: TflRegularizer | null;
  protected readonly biasRegularizer: TflRegularizer | null;
  protected readonly biasConstraint: TflConstraint | null;
  protected kCoef: number;
  kernel: LayerVariable | null = null;
  bias: LayerVariable | null = null;
  protected kernelState: KernelState | null = null;

  constructor(args: LipschitzDenseArgs, kCoefLip: number) {
    if (args == null || typeof args !== 'object') configError('args', 'an object with units', args);
    const layerArgs = { ...args } as BaseLayerArgs & { inputDim?: number };
    if (layerArgs.batchInputShape == null && layerArgs.inputShape == null && args.inputDim != null) {
      checkPositiveInt('inputDim', args.inputDim);
      layerArgs.batchInputShape = [args.batchSize ?? null, args.inputDim];
    }
    super(layerArgs);
    checkLayerShapeArgs(args);
    this.units = checkPositiveInt('units', args.units);
    this.activation = checkActivation('activation', args.activation);
    this.useBias = checkBoolean('useBias', args.useBias ?? true);
    rejectKernelConstraint(args.kernelConstraint);
    this.kCoef = checkPositiveFinite('kCoefLip', kCoefLip);
    noteGivenKCoefLip(this, (args as { kCoefLip?: unknown }).kCoefLip);
    this.kernelInitializer = toInitializer('kernelInitializer', args.kernelInitializer, () => spectralInitializer());
    this.biasInitializer = toInitializer('biasInitializer', args.biasInitializer, () => tfl.initializers.zeros());
    this.kernelRegularizer = toRegularizer('kernelRegularizer', args.kernelRegularizer);
    this.biasRegularizer = toRegularizer('biasRegularizer', args.biasRegularizer);
    this.activityRegularizer = toRegularizer('activityRegularizer', args.activityRegularizer) as TflRegularizer;
    this.biasConstraint = toConstraint('biasConstraint', args.biasConstraint);
    this.supportsMasking = true;
    this.inputSpec = [{ minNDim: 2 }];
  }

  /** Lipschitz constant of the layer; may be changed (e.g. by `lip.sequential`) before or after build. */
  get kCoefLip(): number {
    return this.kCoef;
  }

  set kCoefLip(value: number) {
    this.kCoef = checkPositiveFinite('kCoefLip', value);
    if (this.kernelState != null) this.kernelState.refresh();
  }

  /** 1: a dense layer needs no corrective factor. */
  correctiveCoefficient(): number {
    return 1;
  }

  /**
   * Certified Lipschitz bound of the layer as it predicts: the float64-certified spectral norm of
   * the cached W-bar (within about 1e-4 of `kCoefLip` after training; `kCoefLip` before build).
   */
  lipschitzBound(): number {
    return this.kernelState == null ? this.kCoef : this.kernelState.certifiedWBarNorm();
  }

  /** Builds the kernel's state weights and the normalization. */
  protected abstract createKernelState(kernel: LayerVariable, kernelShape: number[]): KernelState;

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const inputLastDim = shape[shape.length - 1];
    if (inputLastDim == null) configError('inputShape', 'a known last dimension', shape);
    const kernelShape = [inputLastDim, this.units];
    if (this.kernel == null) {
      requireBackend(`${this.getClassName()} '${this.name}' (building its weights)`);
      this.kernel = this.addWeight('kernel', kernelShape, 'float32', this.kernelInitializer, this.kernelRegularizer ?? undefined, true);
      if (this.useBias) {
        this.bias = this.addWeight(
          'bias',
          [this.units],
          'float32',
          this.biasInitializer,
          this.biasRegularizer ?? undefined,
          true,
          this.biasConstraint ?? undefined,
        );
      }
      this.kernelState = this.createKernelState(this.kernel, kernelShape);
      this.kernelState.refresh();
    }
    this.inputSpec = [{ minNDim: 2, axes: { [-1]: inputLastDim } }];
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const out = shape.slice();
    out[out.length - 1] = this.units;
    return out;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      const training = kwargs?.['training'] === true;
      let out: tf.Tensor;
      if (x.rank === 2) {
        out = this.linear(x as tf.Tensor2D, training);
      } else {
        const lead = x.shape.slice(0, -1);
        out = tf.reshape(this.linear(tf.reshape(x, [-1, x.shape[x.rank - 1]!]) as tf.Tensor2D, training), [...lead, this.units]);
      }
      if (this.bias != null) out = tf.add(out, this.bias.read());
      return applyActivation(this.activation, out);
    });
  }

  /** `x W-bar` for a 2-D batch `x` (training: W-bar recomputed on the tape; inference: cached). */
  protected linear(x: tf.Tensor2D, training: boolean): tf.Tensor2D {
    return tf.matMul(x, this.kernelState!.normalizedKernel(training) as tf.Tensor2D);
  }

  override dispose(): ReturnType<tfl.layers.Layer['dispose']> {
    const result = super.dispose();
    if (result.refCountAfterDispose === 0) this.kernelState?.release();
    return result;
  }

  /** Writes the normalized kernel into the kernel (the layer then computes the same, faster to re-normalize). */
  condense(): void {
    if (this.kernelState == null) configError(this.name, 'a built layer before condense()', 'an unbuilt layer');
    this.kernelState.condense();
  }

  /**
   * Builds a tfjs built-in `dense` layer with this layer's name, units, activation and bias,
   * applies it to `input`, and loads it with the normalized kernel and the bias.
   */
  vanillaExport(input: tfl.SymbolicTensor): tfl.SymbolicTensor {
    if (this.kernelState == null) configError(this.name, 'a built layer before vanillaExport()', 'an unbuilt layer');
    const layer = tfl.layers.dense({
      name: this.name,
      units: this.units,
      activation: this.activation as 'linear',
      useBias: this.useBias,
    });
    const output = layer.apply(input) as tfl.SymbolicTensor;
    const weights = [this.kernelState.vars.wBar.read()];
    if (this.bias != null) weights.push(this.bias.read());
    layer.setWeights(weights);
    return output;
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config: tf.serialization.ConfigDict = {
      units: this.units,
      activation: this.activation,
      useBias: this.useBias,
      kernelInitializer: serializeObject(this.kernelInitializer),
      biasInitializer: serializeObject(this.biasInitializer),
      kernelRegularizer: serializeObject(this.kernelRegularizer),
      biasRegularizer: serializeObject(this.biasRegularizer),
      activityRegularizer: serializeObject(this.activityRegularizer),
      biasConstraint: serializeObject(this.biasConstraint),
      kCoefLip: this.kCoef,
    };
    return { ...super.getConfig(), ...config };
  }
}

/**
 * Dense layer whose kernel has every singular value equal to `kCoefLip` (with `epsBjorck: null`:
 * only the largest one, the layer is then at most `kCoefLip`-Lipschitz). W-bar =
 * `kCoefLip * bjorck(W / (sigma + epsSpectral))`. Weights: `kernel`, `bias`, and the
 * non-trainable `u`, `sigma`, `w_bar`, `bjorck` (Björck warm start). Registered as
 * `'SpectralDense'`.
 */
export class SpectralDense extends LipschitzDenseBase {
  /** @nocollapse */
  static className = 'SpectralDense';
  readonly epsSpectral: number;
  readonly epsBjorck: number | null;
  readonly betaBjorck: number;
  readonly maxIterSpectral: number;
  readonly maxIterBjorck: number;

  constructor(args: SpectralDenseArgs) {
    if (new.target === SpectralDense) checkKnownKeys('spectralDense', args, SPECTRAL_DENSE_OPTIONS);
    const resolved: ResolvedNormalizationArgs = resolveNormalizationArgs(args ?? {});
    super(args, resolved.kCoefLip);
    this.epsSpectral = resolved.epsSpectral;
    this.epsBjorck = resolved.epsBjorck;
    this.betaBjorck = resolved.betaBjorck;
    this.maxIterSpectral = resolved.maxIterSpectral;
    this.maxIterBjorck = resolved.maxIterBjorck;
  }

  protected override createKernelState(kernel: LayerVariable, kernelShape: number[]): KernelState {
    const vars = addSpectralStateWeights(
      (name, shape, dtype, init, reg, trainable) => this.addWeight(name, shape, dtype, init, reg, trainable),
      kernelShape,
      this.epsBjorck !== null,
    );
    return new KernelState(kernel, vars, (w, state) =>
      reshapedKernelOrthogonalization(w, state.u, this.kCoef * this.correctiveCoefficient(), {
        epsSpectral: this.epsSpectral,
        epsBjorck: this.epsBjorck,
        betaBjorck: this.betaBjorck,
        maxIterSpectral: this.maxIterSpectral,
        maxIterBjorck: this.maxIterBjorck,
        bjorckState: state.bjorckState,
      }),
    );
  }

  /**
   * In training with Björck and a tall kernel (`inputDim >= units`) applied to a batch small enough
   * (`orthogonalMatMulPays`: `3 batch + 2 units < 3 inputDim`), the product is taken as `(x K) P'`
   * by {@link orthogonalMatMul} (same values and gradient, fewer multiply-adds), and W-bar is formed
   * only when something reads it.
   */
  protected override linear(x: tf.Tensor2D, training: boolean): tf.Tensor2D {
    const state = this.kernelState!;
    const [n, m] = state.kernel.shape as [number, number];
    if (!training || this.epsBjorck === null || !orthogonalMatMulPays(n, m, x.shape[0])) return super.linear(x, training);
    const { u, bjorckState } = state.state();
    const res = orthogonalMatMul(x, state.kernel.read() as tf.Tensor2D, u, this.kCoef * this.correctiveCoefficient(), {
      epsSpectral: this.epsSpectral,
      maxIterSpectral: this.maxIterSpectral,
      epsBjorck: this.epsBjorck,
      betaBjorck: this.betaBjorck,
      maxIterBjorck: this.maxIterBjorck,
      bjorckState,
    });
    state.deferWBar(res.kernel, res.factor, { u: res.u, sigma: res.sigma, bjorckState: res.bjorckState });
    tf.dispose([res.u, res.sigma, res.bjorckState]);
    return res.y;
  }

  /**
   * Writes W-bar into the kernel; with Björck, two extra Björck steps make it orthogonal to float32
   * rounding; without, the power iteration is run until sigma has converged, so that the condensed
   * kernel does not exceed kCoefLip.
   */
  override condense(): void {
    if (this.kernelState == null) configError(this.name, 'a built layer before condense()', 'an unbuilt layer');
    this.kernelState.condense(this.epsBjorck === null ? 0 : 2, this.kCoef);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      epsSpectral: this.epsSpectral,
      epsBjorck: this.epsBjorck,
      betaBjorck: this.betaBjorck,
      maxIterSpectral: this.maxIterSpectral,
      maxIterBjorck: this.maxIterBjorck,
    };
  }
}
tf.serialization.registerClass(SpectralDense);

/**
 * Dense layer whose kernel has Frobenius norm `kCoefLip` (or, with `disjointNeurons` (default),
 * each output neuron's weight vector has norm `kCoefLip`). Weights: `kernel`, `bias`, `w_bar`.
 * Registered as `'FrobeniusDense'`.
 */
export class FrobeniusDense extends LipschitzDenseBase {
  /** @nocollapse */
  static className = 'FrobeniusDense';
  readonly disjointNeurons: boolean;

  constructor(args: FrobeniusDenseArgs) {
    if (new.target === FrobeniusDense) checkKnownKeys('frobeniusDense', args, FROBENIUS_DENSE_OPTIONS);
    super(args, (args ?? ({} as FrobeniusDenseArgs)).kCoefLip ?? 1);
    this.disjointNeurons = checkBoolean('disjointNeurons', args.disjointNeurons ?? true);
  }

  /**
   * Bound of the layer: `kCoefLip` for the Frobenius normalization; with disjoint neurons each
   * output is `kCoefLip`-Lipschitz, and the whole layer at most `kCoefLip * sqrt(units)`.
   */
  override lipschitzBound(): number {
    if (this.kernelState == null) return this.disjointNeurons ? this.kCoef * Math.sqrt(this.units) : this.kCoef;
    return this.kernelState.certifiedWBarNorm();
  }

  protected override createKernelState(kernel: LayerVariable, kernelShape: number[]): KernelState {
    const vars = addWBarWeight(
      (name, shape, dtype, init, reg, trainable) => this.addWeight(name, shape, dtype, init, reg, trainable),
      kernelShape,
    );
    return new KernelState(kernel, vars, (w) => ({
      wBar: tf.tidy(() => {
        const norm = this.disjointNeurons ? tf.norm(w, 'euclidean', 0, true) : tf.norm(w);
        return tf.mul(tf.div(w, norm), this.kCoef);
      }),
    }));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), disjointNeurons: this.disjointNeurons };
  }
}
tf.serialization.registerClass(FrobeniusDense);

/** A {@link SpectralDense} layer. */
export function spectralDense(args: SpectralDenseArgs): SpectralDense {
  return new SpectralDense(args);
}

/** A {@link FrobeniusDense} layer. */
export function frobeniusDense(args: FrobeniusDenseArgs): FrobeniusDense {
  return new FrobeniusDense(args);
}
