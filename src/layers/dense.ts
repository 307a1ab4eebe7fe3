/**
 * Lipschitz dense layers: `SpectralDense` (every singular value of the kernel equal to `kCoefLip`,
 * by spectral normalization and an orthogonalizer, Björck by default) and `FrobeniusDense`
 * (kernel, or each neuron's weight vector, of Frobenius norm `kCoefLip`), on the shared
 * kernel-layer base (`kernel_layer.ts`).
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
import { NORMALIZATION_OPTION_FLAGS, type LipschitzNormalizationArgs } from '../core/normalization_args';
import { checkBoolean, checkKnownKeys, checkPositiveInt, layerOptionNames } from '../core/validation';
import { resolveSpectralSettings } from '../normalizers/settings';
import { FrobeniusKernelNormalization, SpectralKernelNormalization, type KernelNormalization } from './kernel_normalization';
import { KERNEL_LAYER_OPTION_FLAGS, LipschitzKernelLayer, rejectNormalizationOptions, type KernelLayerArgs } from './kernel_layer';

/** Arguments shared by the Lipschitz dense layers (tfjs `dense` arguments, minus the kernel constraint). */
export interface LipschitzDenseArgs extends KernelLayerArgs {
  /** Positive integer, dimensionality of the output space. */
  units: number;
  /** Size of the input (shortcut for `inputShape: [inputDim]`). */
  inputDim?: number;
}

/** Arguments of {@link SpectralDense}. */
export interface SpectralDenseArgs extends LipschitzDenseArgs, LipschitzNormalizationArgs {}

/** Arguments of {@link FrobeniusDense}. */
export interface FrobeniusDenseArgs extends LipschitzDenseArgs {
  /**
   * true (default, as DEEL-LIP): each output neuron's weight vector has norm `kCoefLip` (each
   * output is `kCoefLip`-Lipschitz); false: the whole kernel has Frobenius norm `kCoefLip`.
   */
  disjointNeurons?: boolean;
}

const DENSE_OPTION_FLAGS = { units: true, ...KERNEL_LAYER_OPTION_FLAGS, inputDim: true } as const;

const SPECTRAL_DENSE_OPTIONS = layerOptionNames<SpectralDenseArgs>({ ...DENSE_OPTION_FLAGS, ...NORMALIZATION_OPTION_FLAGS });

/** FrobeniusDense also knows the normalization names, to reject them with a specific message. */
const FROBENIUS_DENSE_OPTIONS = layerOptionNames<FrobeniusDenseArgs>({ ...DENSE_OPTION_FLAGS, ...NORMALIZATION_OPTION_FLAGS, disjointNeurons: true });

/** `inputDim` as tfjs' `batchInputShape`, when no input shape is given otherwise. */
function withInputDim(args: LipschitzDenseArgs): LipschitzDenseArgs {
  if (args == null || typeof args !== 'object') configError('args', 'an object with units', args);
  if (args.batchInputShape != null || args.inputShape != null || args.inputDim == null) return args;
  checkPositiveInt('inputDim', args.inputDim);
  return { ...args, batchInputShape: [args.batchSize ?? null, args.inputDim] };
}

/** Common part of the two dense layers: `units`, the matrix product, the built-in `dense` export. */
export abstract class LipschitzDense extends LipschitzKernelLayer {
  readonly units: number;

  constructor(args: LipschitzDenseArgs, normalization: KernelNormalization, kCoefLip: number) {
    super(withInputDim(args), normalization, kCoefLip);
    this.units = checkPositiveInt('units', args.units);
    this.supportsMasking = true;
    this.inputSpec = [{ minNDim: 2 }];
  }

  protected kernelShapeFor(shape: tfl.Shape): number[] {
    const inputLastDim = shape[shape.length - 1];
    if (inputLastDim == null) configError('inputShape', 'a known last dimension', shape);
    this.inputSpec = [{ minNDim: 2, axes: { [-1]: inputLastDim } }];
    return [inputLastDim, this.units];
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = ((Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape).slice();
    shape[shape.length - 1] = this.units;
    return shape;
  }

  /** `x w` on the last axis (inputs of rank > 2 are flattened to a batch of rows and back). */
  protected applyKernel(x: tf.Tensor, w: tf.Tensor): tf.Tensor {
    if (x.rank === 2) return tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D);
    const rows = tf.reshape(x, [-1, x.shape[x.rank - 1]!]) as tf.Tensor2D;
    return tf.reshape(tf.matMul(rows, w as tf.Tensor2D), [...x.shape.slice(0, -1), this.units]);
  }

  protected builtinLayer(): tfl.layers.Layer {
    return tfl.layers.dense({ name: this.name, units: this.units, activation: this.activation as 'linear', useBias: this.useBias });
  }

  protected ownConfig(): tf.serialization.ConfigDict {
    return { units: this.units };
  }
}

/**
 * Dense layer whose kernel has every singular value equal to `kCoefLip` (with `orthogonalizer:
 * 'none'` / `epsBjorck: null`: only the largest one, the layer is then at most `kCoefLip`-
 * Lipschitz). W-bar = `kCoefLip * orthogonalize(W / (sigma + epsSpectral))`. Weights: `kernel`,
 * `bias`, and the non-trainable `u`, `sigma`, `w_bar` and the orthogonalizer's warm start
 * (`bjorck` for Björck). Registered as `'SpectralDense'`.
 */
export class SpectralDense extends LipschitzDense {
  /** @nocollapse */
  static className = 'SpectralDense';
  protected override readonly normalization: SpectralKernelNormalization;

  constructor(args: SpectralDenseArgs) {
    if (new.target === SpectralDense) checkKnownKeys('spectralDense', args, SPECTRAL_DENSE_OPTIONS);
    const settings = resolveSpectralSettings(args ?? {});
    const normalization = new SpectralKernelNormalization(settings);
    super(args, normalization, settings.kCoefLip);
    this.normalization = normalization;
  }

  /** The orthogonalizer's name (`'bjorck'`, `'none'`, `'polar'`). */
  get orthogonalizer(): string {
    return this.normalization.settings.orthogonalizer.name;
  }

  /**
   * In training, with an orthogonalizer that has a fused product (Björck) and a tall kernel
   * applied to a small enough batch, the product is taken as `(x K) P'` (same values and
   * gradient, fewer multiply-adds; `normalizers/orthogonalizers/bjorck/fused_matmul.ts`) and
   * W-bar is formed only when something reads it.
   */
  protected override linear(x: tf.Tensor, training: boolean): tf.Tensor {
    const state = this.state();
    const { epsSpectral, maxIterSpectral, orthogonalizer } = this.normalization.settings;
    const fused = orthogonalizer.fusedProduct;
    const [n, m] = state.kernel.shape as [number, number];
    if (!training || fused === undefined || x.rank !== 2 || !fused.pays(n, m, x.shape[0]!)) return super.linear(x, training);
    const { u, bjorckState } = state.state();
    const res = fused.apply(x as tf.Tensor2D, state.kernel.read() as tf.Tensor2D, u, this.kCoefLip, { epsSpectral, maxIterSpectral }, bjorckState);
    state.deferWBar(res.kernel, res.factor, { u: res.u, sigma: res.sigma, bjorckState: res.state });
    tf.dispose([res.u, res.sigma, res.state ?? []]);
    return res.y;
  }
}
tf.serialization.registerClass(SpectralDense);

/**
 * Dense layer whose kernel has Frobenius norm `kCoefLip` (or, with `disjointNeurons` (default),
 * each output neuron's weight vector has norm `kCoefLip`). Weights: `kernel`, `bias`, `w_bar`.
 * Registered as `'FrobeniusDense'`.
 */
export class FrobeniusDense extends LipschitzDense {
  /** @nocollapse */
  static className = 'FrobeniusDense';
  readonly disjointNeurons: boolean;

  constructor(args: FrobeniusDenseArgs) {
    if (new.target === FrobeniusDense) checkKnownKeys('frobeniusDense', args, FROBENIUS_DENSE_OPTIONS);
    rejectNormalizationOptions('FrobeniusDense', args);
    const disjointNeurons = checkBoolean('disjointNeurons', args?.disjointNeurons ?? true);
    super(args, new FrobeniusKernelNormalization(disjointNeurons), args?.kCoefLip ?? 1);
    this.disjointNeurons = disjointNeurons;
  }

  /**
   * Bound of the layer: `kCoefLip` for the Frobenius normalization; with disjoint neurons each
   * output is `kCoefLip`-Lipschitz, and the whole layer at most `kCoefLip * sqrt(units)`.
   */
  override lipschitzBound(): number {
    if (this.kernelState == null) return this.disjointNeurons ? this.kCoefLip * Math.sqrt(this.units) : this.kCoefLip;
    return super.lipschitzBound();
  }

  protected override ownConfig(): tf.serialization.ConfigDict {
    return { ...super.ownConfig(), disjointNeurons: this.disjointNeurons };
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
