/**
 * Shared base of the weight-free Lipschitz layers whose Lipschitz constant is a plain output scale
 * `kCoefLip` (the activations, the invertible resamplings, the scaled poolings): the `LipschitzLayer` contract with
 * corrective coefficient 1 and bound `kCoefLip`, the `Condensable` contract with nothing to
 * condense, and the output scaling with its built-in counterpart for `vanillaExport`.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { DEFAULT_K_COEF_LIP } from '../core/defaults';
import { checkPositiveFinite } from '../core/validation';
import type { Condensable, ExportContext, LipschitzLayer } from '../core/contracts';
import { noteGivenKCoefLip } from '../core/normalization_args';
import { checkLayerShapeArgs } from '../core/input_shape';

/** Options every tfjs layer accepts (name, inputShape, dtype, trainable, ...). */
export type BaseLayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;

/**
 * A layer computing `kCoefLip * f(x)` with `f` 1-Lipschitz and without weights to normalize.
 * Subclasses set `this.kCoefLip` in their constructor (validated by the setter) and implement
 * `vanillaExport`; `getConfig()` carries `kCoefLip`.
 */
export abstract class ScaledLipschitzLayer extends tfl.layers.Layer implements LipschitzLayer, Condensable {
  readonly isLipschitzLayer = true as const;
  readonly isCondensable = true as const;
  private kCoef: number = DEFAULT_K_COEF_LIP;

  constructor(args: BaseLayerArgs & { kCoefLip?: number }) {
    super(args);
    checkLayerShapeArgs(args);
    noteGivenKCoefLip(this, args?.kCoefLip);
  }

  /** Lipschitz constant of the layer (the output scale); `lip.sequential` may set it before build. */
  get kCoefLip(): number {
    return this.kCoef;
  }

  set kCoefLip(value: number) {
    this.kCoef = checkPositiveFinite('kCoefLip', value);
  }

  /** 1: the layer reaches its constant without any correction. */
  correctiveCoefficient(): number {
    return 1;
  }

  /** `kCoefLip`: the unscaled map is 1-Lipschitz (L2 to L2). */
  lipschitzBound(): number {
    return this.kCoef;
  }

  /** Nothing to write back (no normalized weights). */
  condense(): void {}

  abstract vanillaExport(input: tfl.SymbolicTensor, context?: ExportContext): tfl.SymbolicTensor;

  /** Multiplies by `kCoefLip` (skipped when it is 1). */
  protected scaled(y: tf.Tensor): tf.Tensor {
    return this.kCoef === 1 ? y : tf.mul(y, tf.scalar(this.kCoef));
  }

  /** Built-in counterpart of `scaled`: a `rescaling` layer named `name`, only when `kCoefLip` is not 1. */
  protected exportScaled(y: tfl.SymbolicTensor, name: string): tfl.SymbolicTensor {
    if (this.kCoef === 1) return y;
    return tfl.layers.rescaling({ name, scale: this.kCoef }).apply(y) as tfl.SymbolicTensor;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { kCoefLip: this.kCoef, ...super.getConfig() };
  }
}
