/**
 * The base of every tfjs-lip layer with a normalized kernel (the dense layers and the
 * convolutions): the checked `kCoefLip`, the activation, bias, initializers, regularizers and
 * constraints (one resolver), the kernel state (W-bar cached for inference, recomputed on the
 * gradient tape in training), and the build / call / condense / vanillaExport / getConfig
 * skeleton in tfjs order. A subclass supplies its kernel shape, its linear map, its built-in
 * export layer and its corrective coefficient; the normalization (spectral with an
 * orthogonalizer, or Frobenius) is given to the constructor (docs/architecture.md).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Condensable, LipschitzLayer } from '../core/contracts';
import { configError, LipschitzConfigError } from '../core/errors';
import { applyOneLipschitzActivation } from '../core/activations';
import { checkLayerShapeArgs } from '../core/input_shape';
import { noteGivenKCoefLip, rejectKernelConstraint } from '../core/normalization_args';
import { serializeObject, toConstraint, toInitializer, toRegularizer } from '../core/serialization';
import type { TflConstraint, TflInitializer, TflRegularizer } from '../core/serialization';
import { checkActivation, checkBoolean, checkPositiveFinite, type TfjsLayerArgs } from '../core/validation';
import { requireBackend } from '../backend/require_backend';
import { spectral as spectralInitializer } from '../initializers';
import type { Orthogonalizer } from '../normalizers/orthogonalizers';
import type { KernelNormalization } from './kernel_normalization';
import { KernelState, type KernelNormalizerResult, type KernelNormalizerState, type LayerVariable } from './kernel_state';

type BaseLayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;
export type Kwargs = Record<string, unknown>;

/** Options shared by every kernel layer (tfjs names). */
export interface KernelLayerArgs extends BaseLayerArgs {
  /** A 1-Lipschitz activation identifier (`'linear'` when absent). */
  activation?: string | null;
  /** Whether the layer uses a bias vector (default true). */
  useBias?: boolean;
  /** Initializer of the kernel (default `lip.initializers.spectral()`, as DEEL-LIP). */
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
  /** Lipschitz constant of the layer (default 1). */
  kCoefLip?: number;
}

/** Own option names of the kernel layers (besides tfjs' layer options), checked against the interface. */
export const KERNEL_LAYER_OPTION_FLAGS: { [K in Exclude<keyof KernelLayerArgs, keyof TfjsLayerArgs>]: true } = {
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

/**
 * Frobenius layers have no iterative normalization: a spectral setting given to one is a
 * mistake, not something to ignore.
 */
export function rejectNormalizationOptions(className: string, args: object | null | undefined): void {
  const given = (['epsSpectral', 'maxIterSpectral', 'orthogonalizer', 'epsBjorck', 'betaBjorck', 'maxIterBjorck', 'bjorckOrder'] as const).find(
    (key) => (args as Record<string, unknown> | null | undefined)?.[key] !== undefined,
  );
  if (given !== undefined) {
    configError(given, `nothing (${className} has no iterative normalization)`, (args as Record<string, unknown>)[given]);
  }
}


/** Base of the normalized-kernel layers; see the module comment. */
export abstract class LipschitzKernelLayer extends tfl.layers.Layer implements LipschitzLayer, Condensable {
  readonly isLipschitzLayer = true as const;
  readonly isCondensable = true as const;
  readonly activation: string;
  readonly useBias: boolean;
  protected readonly kernelInitializer: TflInitializer;
  protected readonly biasInitializer: TflInitializer;
  protected readonly kernelRegularizer: TflRegularizer | null;
  protected readonly biasRegularizer: TflRegularizer | null;
  protected readonly biasConstraint: TflConstraint | null;
  kernel: LayerVariable | null = null;
  bias: LayerVariable | null = null;
  protected kernelState: KernelState | null = null;
  private kCoef: number;

  constructor(
    args: KernelLayerArgs,
    protected readonly normalization: KernelNormalization,
    kCoefLip: number,
  ) {
    super(args);
    checkLayerShapeArgs(args);
    this.activation = checkActivation('activation', args.activation);
    this.useBias = checkBoolean('useBias', args.useBias ?? true);
    rejectKernelConstraint(args.kernelConstraint);
    this.kCoef = checkPositiveFinite('kCoefLip', kCoefLip);
    noteGivenKCoefLip(this, args.kCoefLip);
    this.kernelInitializer = toInitializer('kernelInitializer', args.kernelInitializer, () => spectralInitializer());
    this.biasInitializer = toInitializer('biasInitializer', args.biasInitializer, () => tfl.initializers.zeros());
    this.kernelRegularizer = toRegularizer('kernelRegularizer', args.kernelRegularizer);
    this.biasRegularizer = toRegularizer('biasRegularizer', args.biasRegularizer);
    const activityRegularizer = toRegularizer('activityRegularizer', args.activityRegularizer);
    if (activityRegularizer !== null) this.activityRegularizer = activityRegularizer;
    this.biasConstraint = toConstraint('biasConstraint', args.biasConstraint);
  }

  /** Lipschitz constant of the layer; may be changed (e.g. by `lip.sequential`) before or after build. */
  get kCoefLip(): number {
    return this.kCoef;
  }

  set kCoefLip(value: number) {
    this.kCoef = checkPositiveFinite('kCoefLip', value);
    if (this.kernelState != null) this.kernelState.refresh();
  }

  /**
   * Replaces the orthogonalizer of a spectral layer by another of the same method (Björck with
   * more iterations, for `lip.train.orthonormalFinetune`) and returns the one replaced; `null`, and
   * nothing changed, for a layer without one (Frobenius). Its settings are then what `getConfig`
   * writes.
   */
  replaceOrthogonalizer(next: Orthogonalizer): Orthogonalizer | null {
    return this.normalization.replaceOrthogonalizer?.(next) ?? null;
  }

  /** The corrective coefficient multiplied into W-bar (1 for dense layers). Valid once built. */
  correctiveCoefficient(): number {
    return 1;
  }

  /**
   * Certified Lipschitz bound as the layer predicts: the float64-certified spectral norm of the
   * cached W-bar (reshaped to its matrix) divided by the corrective coefficient; `kCoefLip`
   * before build.
   */
  lipschitzBound(): number {
    return this.kernelState == null ? this.kCoef : this.kernelState.certifiedWBarNorm() / this.correctiveCoefficient();
  }

  /** The kernel shape for an input shape (a convolution also fixes its corrective coefficient here). */
  protected abstract kernelShapeFor(inputShape: tfl.Shape): number[];
  /** The layer's linear map of `x` with the normalized kernel `w` (before bias and activation). */
  protected abstract applyKernel(x: tf.Tensor, w: tf.Tensor): tf.Tensor;
  /** The unbuilt tfjs built-in layer of the export (this layer's name and settings). */
  protected abstract builtinLayer(): tfl.layers.Layer;
  /** The layer's own settings in its config (besides the kernel-layer ones). */
  protected abstract ownConfig(): tf.serialization.ConfigDict;

  /** Axis order making the kernel's `[-1, lastDim]` reshape the normalized matrix (none: as stored). */
  protected matrixPerm(): number[] | undefined {
    return undefined;
  }

  /** Checks an input before the linear map (a convolution checks its spatial size). */
  protected checkInput(_x: tf.Tensor): void {}

  /** The kernel state (throws the one "not built" error when the layer has no weights yet). */
  protected state(): KernelState {
    if (this.kernelState === null) {
      throw new LipschitzConfigError(`${this.getClassName()} '${this.name}' is not built: call it on an input (or build the model) first.`);
    }
    return this.kernelState;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const kernelShape = this.kernelShapeFor(shape);
    if (this.kernel == null) {
      requireBackend(`${this.getClassName()} '${this.name}' (building its weights)`);
      this.kernel = this.addWeight('kernel', kernelShape, 'float32', this.kernelInitializer, this.kernelRegularizer ?? undefined, true);
      if (this.useBias) {
        const units = kernelShape[this.outputAxis(kernelShape.length)]!;
        this.bias = this.addWeight('bias', [units], 'float32', this.biasInitializer, this.biasRegularizer ?? undefined, true, this.biasConstraint ?? undefined);
      }
      const perm = this.matrixPerm();
      const oriented = perm === undefined ? kernelShape : perm.map((a) => kernelShape[a]!);
      const cols = oriented[oriented.length - 1]!;
      const add = (...a: Parameters<tfl.layers.Layer['addWeight']>) => this.addWeight(...a);
      const vars = this.normalization.addStateWeights(add, kernelShape, [oriented.reduce((p, d) => p * d, 1) / cols, cols]);
      this.kernelState = new KernelState(this.kernel, vars, (kernel, state) => this.normalizeKernel(kernel, state), {
        refine: this.normalization.refine === undefined ? undefined : (w) => this.inMatrixOrientation(w, (m) => this.normalization.refine!(m, this.targetNorm())),
        scaleVerified: this.normalization.scaleVerified,
        targetNorm: () => this.targetNorm(),
        perm,
      });
      this.kernelState.refresh();
    }
    this.built = true;
  }

  /** Axis of the output channels in the kernel (the last one; the transposed convolution overrides). */
  protected outputAxis(rank: number): number {
    return rank - 1;
  }

  /** The norm W-bar's matrix must have: `kCoefLip` times the corrective coefficient. */
  private targetNorm(): number {
    return this.kCoef * this.correctiveCoefficient();
  }

  /** `f` applied to the kernel in matrix orientation (see `matrixPerm`), the result turned back. */
  private inMatrixOrientation(kernel: tf.Tensor, f: (k: tf.Tensor) => tf.Tensor): tf.Tensor {
    const perm = this.matrixPerm();
    if (perm === undefined) return f(kernel);
    return tf.tidy(() => tf.transpose(f(tf.transpose(kernel, perm)), perm));
  }

  private normalizeKernel(kernel: tf.Tensor, state: KernelNormalizerState): KernelNormalizerResult {
    const perm = this.matrixPerm();
    if (perm === undefined) return this.normalization.normalize(kernel, state, this.targetNorm());
    const res = this.normalization.normalize(tf.transpose(kernel, perm), state, this.targetNorm());
    const wBar = tf.transpose(res.wBar, perm);
    res.wBar.dispose();
    return { ...res, wBar };
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      this.checkInput(x);
      let y = this.linear(x, kwargs?.['training'] === true);
      if (this.bias !== null) y = tf.add(y, this.bias.read());
      return applyOneLipschitzActivation(this.activation, y);
    });
  }

  /**
   * W-bar as a training step computes it: recomputed from the trainable kernel on the gradient
   * tape (the normalization state advances as in a training call), so that a loss built from it
   * (`lip.losses.localLipschitzCertified`) trains the kernel. The caller owns the returned tensor.
   */
  trainingKernel(): tf.Tensor {
    return this.state().normalizedKernel(true);
  }

  /** `x` through the normalized kernel: W-bar recomputed on the tape in training, cached otherwise. */
  protected linear(x: tf.Tensor, training: boolean): tf.Tensor {
    return this.applyKernel(x, this.state().normalizedKernel(training));
  }

  override dispose(): ReturnType<tfl.layers.Layer['dispose']> {
    const result = super.dispose();
    if (result.refCountAfterDispose === 0) this.kernelState?.release();
    return result;
  }

  /**
   * Writes W-bar into the kernel (DEEL-LIP's `condense`): the layer computes the same, and its
   * kernel is the constrained one; W-bar's singular values are first brought onto the target by
   * the orthogonalizer's refinement (without one, the power iteration runs to convergence).
   */
  condense(): void {
    this.state().condense();
  }

  /** Applies the built-in layer of the export to `input` and loads it with W-bar and the bias. */
  vanillaExport(input: tfl.SymbolicTensor): tfl.SymbolicTensor {
    const wBar = this.state().vars.wBar.read();
    const layer = this.builtinLayer();
    const output = layer.apply(input) as tfl.SymbolicTensor;
    layer.setWeights(this.bias === null ? [wBar] : [wBar, this.bias.read()]);
    return output;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      ...this.ownConfig(),
      activation: this.activation,
      useBias: this.useBias,
      kernelInitializer: serializeObject(this.kernelInitializer),
      biasInitializer: serializeObject(this.biasInitializer),
      kernelRegularizer: serializeObject(this.kernelRegularizer),
      biasRegularizer: serializeObject(this.biasRegularizer),
      activityRegularizer: serializeObject(this.activityRegularizer ?? null),
      biasConstraint: serializeObject(this.biasConstraint),
      kCoefLip: this.kCoef,
      ...this.normalization.config(),
    };
  }
}
