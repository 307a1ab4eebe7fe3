/**
 * Shared state of the Lipschitz activation layers: the `LipschitzLayer` contract (`kCoefLip`,
 * corrective coefficient 1, bound `kCoefLip`), the `Condensable` contract (nothing to condense,
 * `vanillaExport` refused unless a subclass builds an exact built-in equivalent) and the small
 * helpers every activation needs (single input, static channel count, output scaling).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { DEFAULT_K_COEF_LIP } from '../defaults';
import { configError, LipschitzConfigError } from '../errors';
import { checkPositiveFinite } from '../validation';
import type { Condensable, LipschitzLayer } from '../layers/base';

/** Options every tfjs layer accepts (name, inputShape, dtype, trainable, ...). */
export type BaseLayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;
export type Kwargs = Record<string, unknown>;

/** Options shared by every Lipschitz activation. */
export interface LipschitzActivationArgs extends BaseLayerArgs {
  /**
   * Lipschitz constant of the layer (default 1). The sorting activations multiply their output by
   * it, like DEEL-LIP's `k_coef_lip`; for `PReLULip` it bounds the learnable slopes.
   */
  kCoefLip?: number;
}

/** Returns the only input tensor of a layer call. */
export function single(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  const x = Array.isArray(inputs) ? inputs[0] : inputs;
  if (x === undefined || (Array.isArray(inputs) && inputs.length !== 1)) {
    throw new LipschitzConfigError('Lipschitz activations expect exactly one input tensor.');
  }
  return x;
}

/** Returns the only input shape of a layer build. */
export function singleShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
  return Array.isArray(inputShape[0]) ? (inputShape[0] as tfl.Shape) : (inputShape as tfl.Shape);
}

/** Base class of the activations: `LipschitzLayer` and `Condensable` with nothing to condense. */
export abstract class LipschitzActivation extends tfl.layers.Layer implements LipschitzLayer, Condensable {
  readonly isLipschitzLayer = true as const;
  readonly isCondensable = true as const;
  private kCoef: number;

  constructor(args: LipschitzActivationArgs) {
    super(args);
    this.kCoef = checkPositiveFinite('kCoefLip', args.kCoefLip ?? DEFAULT_K_COEF_LIP);
  }

  /** Lipschitz constant of the layer; `lip.sequential` may set it before build. */
  get kCoefLip(): number {
    return this.kCoef;
  }

  set kCoefLip(value: number) {
    this.kCoef = checkPositiveFinite('kCoefLip', value);
  }

  /** 1: the activations reach their constant without any correction. */
  correctiveCoefficient(): number {
    return 1;
  }

  /** `kCoefLip`: the unscaled activations are 1-Lipschitz (L2 to L2). */
  lipschitzBound(): number {
    return this.kCoef;
  }

  /** Nothing to write back (no normalized weights). */
  condense(): void {}

  /** Refuses by default: subclasses with an exact built-in equivalent override this. */
  vanillaExport(_input: tfl.SymbolicTensor): tfl.SymbolicTensor {
    return this.refuseExport('no tfjs built-in layer computes it exactly');
  }

  protected refuseExport(why: string): never {
    throw new LipschitzConfigError(`${this.getClassName()} '${this.name}' has no vanilla export: ${why}.`);
  }

  /** Multiplies by `kCoefLip` (skipped when it is 1). */
  protected scaled(y: tf.Tensor): tf.Tensor {
    return this.kCoef === 1 ? y : tf.mul(y, tf.scalar(this.kCoef));
  }

  /** Built-in counterpart of `scaled`: a `rescaling` layer, only when `kCoefLip` is not 1. */
  protected exportScaled(y: tfl.SymbolicTensor, name: string): tfl.SymbolicTensor {
    if (this.kCoef === 1) return y;
    return tfl.layers.rescaling({ name, scale: this.kCoef }).apply(y) as tfl.SymbolicTensor;
  }

  /** Static size of the last axis, or a `LipschitzConfigError` naming the shape. */
  protected channelsOf(shape: tfl.Shape): number {
    const c = shape[shape.length - 1];
    if (shape.length < 2 || c == null) {
      configError(`${this.getClassName()} input shape`, 'a known channel count on the last axis', shape);
    }
    return c;
  }

  /** Static sizes of all non-batch axes (for the reshapes of `vanillaExport`). */
  protected staticFeatureShape(input: tfl.SymbolicTensor): number[] {
    const dims = input.shape.slice(1);
    if (dims.some((d) => d == null)) {
      throw new LipschitzConfigError(
        `${this.getClassName()} '${this.name}': vanillaExport needs a static input shape, but got ${JSON.stringify(input.shape)}.`,
      );
    }
    return dims as number[];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { kCoefLip: this.kCoef, ...super.getConfig() };
  }
}
