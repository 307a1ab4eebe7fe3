/**
 * L-infinity Lipschitz layers (LNets' `l_inf_projected.py` and `l_inf_projected_conv2d.py`):
 * `LInfProjectedDense` and `LInfProjectedConv2D`, whose W-bar has each output unit's weight
 * vector (a dense kernel's column, a convolution's whole filter `[kh, kw, cin]`) projected onto
 * the L1 ball of radius `kCoefLip` (`ops/l1_ball.ts`). The L-infinity operator norm of such a
 * layer is the largest L1 norm of those vectors (`linalg/linf_norm.ts`, for any padding and
 * stride), so the layer is `kCoefLip`-Lipschitz from L-infinity to L-infinity.
 *
 * They sit on the shared kernel-layer base, so W-bar is recomputed on the tape in training (the
 * gradient goes through the projection's Jacobian) and cached for inference, `condense` and
 * `vanillaExport` (to a built-in `Dense` / `Conv2D`) and serialization come from it.
 *
 * Two bounds: `lInfLipschitzBound()` (L-infinity, the certified float64 largest L1 norm of the
 * cached W-bar; what `lip.lipschitzBound(model, {norm: 'linf'})` uses) and `lipschitzBound()`
 * (L2, what `lip.lipschitzBound(model)` uses: the certified spectral norm of W-bar, times
 * sqrt(ceil(kh / sh) ceil(kw / sw)) for the convolution). Derivations: docs/linf_layers.md.
 *
 * References: C. Anil, J. Lucas, R. Grosse, "Sorting out Lipschitz function approximation", ICML
 * 2019; J. Duchi et al., "Efficient projections onto the l1-ball", ICML 2008.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { activationLipschitz } from '../core/activations';
import { NORMALIZATION_OPTION_FLAGS } from '../core/normalization_args';
import { checkKnownKeys, layerOptionNames } from '../core/validation';
import { maxSliceL1Norm } from '../linalg/linf_norm';
import { projectRowsOntoL1Ball } from '../ops/l1_ball';
import { LipschitzConv, type LipschitzConvBaseArgs } from './convolutional';
import { LipschitzDense, type LipschitzDenseArgs } from './dense';
import { KERNEL_LAYER_OPTION_FLAGS, rejectNormalizationOptions } from './kernel_layer';
import type { KernelNormalization } from './kernel_normalization';
import type { AddWeight, KernelNormalizerResult, KernelNormalizerState, KernelStateVariables } from './kernel_state';

/**
 * Relative margin kept below `kCoefLip` by the projection radius: float32 rounding of the soft
 * threshold leaves each row's L1 norm up to a few ulps of its largest entry above the radius
 * (about 1e-6 relative for 784 inputs of size 1), so the float64 norm of W-bar stays <= kCoefLip.
 */
export const LINF_RADIUS_MARGIN = 1e-5;

/**
 * W-bar = the kernel with each output unit's weight vector (the `[-1, lastDim]` matrix's columns)
 * projected onto the L1 ball of radius `target (1 - LINF_RADIUS_MARGIN)`.
 */
export class LInfProjectionNormalization implements KernelNormalization {
  readonly scaleVerified = false;

  addStateWeights(add: AddWeight, kernelShape: number[]): KernelStateVariables {
    return { wBar: add('w_bar', kernelShape, 'float32', tfl.initializers.zeros(), undefined, false) };
  }

  normalize(kernel: tf.Tensor, _state: KernelNormalizerState, target: number): KernelNormalizerResult {
    return {
      wBar: tf.tidy(() => {
        const lastDim = kernel.shape[kernel.rank - 1]!;
        const units = tf.transpose(tf.reshape(kernel, [-1, lastDim])) as tf.Tensor2D;
        const projected = projectRowsOntoL1Ball(units, target * (1 - LINF_RADIUS_MARGIN));
        return tf.reshape(tf.transpose(projected), kernel.shape);
      }),
    };
  }

  config(): tf.serialization.ConfigDict {
    return {};
  }
}

/** Arguments of {@link LInfProjectedDense} (tfjs `dense` arguments, minus the kernel constraint). */
export type LInfProjectedDenseArgs = LipschitzDenseArgs;

/** Arguments of {@link LInfProjectedConv2D} (tfjs `conv2d` arguments, minus the kernel constraint). */
export type LInfProjectedConv2DArgs = LipschitzConvBaseArgs;

const LINF_DENSE_OPTIONS = layerOptionNames<LInfProjectedDenseArgs>({
  units: true,
  ...KERNEL_LAYER_OPTION_FLAGS,
  inputDim: true,
  ...NORMALIZATION_OPTION_FLAGS,
});

const LINF_CONV2D_OPTIONS = layerOptionNames<LInfProjectedConv2DArgs>({
  filters: true,
  kernelSize: true,
  strides: true,
  padding: true,
  dataFormat: true,
  dilationRate: true,
  ...KERNEL_LAYER_OPTION_FLAGS,
  ...NORMALIZATION_OPTION_FLAGS,
});

/** Certified L-infinity bound of W-bar (float64) times the activation's constant. */
function wBarLInfBound(wBar: tf.Tensor, outAxis: number, activation: string): number {
  return maxSliceL1Norm(wBar.dataSync(), wBar.shape, outAxis) * activationLipschitz(activation);
}

/**
 * Dense layer that is `kCoefLip`-Lipschitz from L-infinity to L-infinity: each output unit's
 * weight vector (a column of the `[in, units]` kernel) projected onto the L1 ball of radius
 * `kCoefLip`. Weights: `kernel`, `bias`, `w_bar`. Registered as `'LInfProjectedDense'`.
 */
export class LInfProjectedDense extends LipschitzDense {
  /** @nocollapse */
  static className = 'LInfProjectedDense';

  constructor(args: LInfProjectedDenseArgs) {
    if (new.target === LInfProjectedDense) checkKnownKeys('lInfProjectedDense', args, LINF_DENSE_OPTIONS);
    rejectNormalizationOptions('LInfProjectedDense', args);
    super(args, new LInfProjectionNormalization(), args?.kCoefLip ?? 1);
  }

  /**
   * L-infinity bound: the certified largest L1 norm of W-bar's columns (float64) times the
   * activation's constant; `kCoefLip` before build.
   */
  lInfLipschitzBound(): number {
    if (this.kernelState == null) return this.kCoefLip;
    return wBarLInfBound(this.state().vars.wBar.read(), 1, this.activation);
  }

  /**
   * L2 bound: the certified spectral norm of W-bar once built; before, kCoefLip sqrt(units)
   * (each of the `units` rows of W-bar^T has L2 norm <= its L1 norm <= kCoefLip).
   */
  override lipschitzBound(): number {
    return this.kernelState == null ? this.kCoefLip * Math.sqrt(this.units) : super.lipschitzBound();
  }
}
tf.serialization.registerClass(LInfProjectedDense);

/**
 * 2-D convolution that is `kCoefLip`-Lipschitz from L-infinity to L-infinity, whatever the
 * padding, stride and input size: each filter `[kh, kw, cin]` projected onto the L1 ball of radius
 * `kCoefLip` (no corrective factor). Weights: `kernel`, `bias`, `w_bar`. Registered as
 * `'LInfProjectedConv2D'`.
 */
export class LInfProjectedConv2D extends LipschitzConv {
  /** @nocollapse */
  static className = 'LInfProjectedConv2D';

  constructor(args: LInfProjectedConv2DArgs) {
    if (new.target === LInfProjectedConv2D) checkKnownKeys('lInfProjectedConv2d', args, LINF_CONV2D_OPTIONS);
    rejectNormalizationOptions('LInfProjectedConv2D', args);
    super(args, new LInfProjectionNormalization(), args?.kCoefLip ?? 1);
  }

  /** 1: the L-infinity bound needs no factor (see the module comment). */
  override correctiveCoefficient(): number {
    return 1;
  }

  /** Any input size: neither bound depends on it. */
  protected override checkInput(_x: tf.Tensor): void {}

  /** Largest number of windows holding one input cell: ceil(kh / sh) ceil(kw / sw). */
  private overlapCount(): number {
    return Math.ceil(this.kernelSize[0] / this.strides[0]) * Math.ceil(this.kernelSize[1] / this.strides[1]);
  }

  /** L-infinity bound: the certified largest L1 norm of W-bar's filters (float64) times the activation's constant. */
  lInfLipschitzBound(): number {
    if (this.kernelState == null) return this.kCoefLip;
    return wBarLInfBound(this.state().vars.wBar.read(), 3, this.activation);
  }

  /**
   * L2 bound: sqrt(overlap) times the certified spectral norm of W-bar reshaped to
   * `[kh kw cin, filters]` (each input cell lies in at most `overlap` patches); before build,
   * with kCoefLip sqrt(filters) for that norm (each filter has L2 norm <= kCoefLip).
   */
  override lipschitzBound(): number {
    const matrixNorm = this.kernelState == null ? this.kCoefLip * Math.sqrt(this.filters) : this.kernelState.certifiedWBarNorm();
    return Math.sqrt(this.overlapCount()) * matrixNorm;
  }
}
tf.serialization.registerClass(LInfProjectedConv2D);

/** A {@link LInfProjectedDense} layer. */
export function lInfProjectedDense(args: LInfProjectedDenseArgs): LInfProjectedDense {
  return new LInfProjectedDense(args);
}

/** A {@link LInfProjectedConv2D} layer. */
export function lInfProjectedConv2d(args: LInfProjectedConv2DArgs): LInfProjectedConv2D {
  return new LInfProjectedConv2D(args);
}
