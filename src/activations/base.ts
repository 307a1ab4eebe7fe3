/**
 * Shared state of the Lipschitz activation layers: the `LipschitzLayer` and `Condensable`
 * contracts of `ScaledLipschitzLayer` (`kCoefLip`, corrective coefficient 1, bound `kCoefLip`,
 * nothing to condense, output scaling), `vanillaExport` refused unless a subclass builds an exact
 * built-in equivalent, and the small helpers every activation needs (single input, static channel
 * count, static feature shape).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { DEFAULT_K_COEF_LIP } from '../core/defaults';
import { configError, LipschitzConfigError } from '../core/errors';
import { ScaledLipschitzLayer } from '../layers/scaled_layer';
import type { BaseLayerArgs } from '../layers/scaled_layer';

export type { BaseLayerArgs };
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
export abstract class LipschitzActivation extends ScaledLipschitzLayer {
  constructor(args: LipschitzActivationArgs) {
    super(args);
    this.kCoefLip = args.kCoefLip ?? DEFAULT_K_COEF_LIP;
  }

  /** Refuses by default: subclasses with an exact built-in equivalent override this. */
  override vanillaExport(_input: tfl.SymbolicTensor): tfl.SymbolicTensor {
    return this.refuseExport('no tfjs built-in layer computes it exactly');
  }

  protected refuseExport(why: string): never {
    throw new LipschitzConfigError(`${this.getClassName()} '${this.name}' has no vanilla export: ${why}.`);
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
}

/**
 * An activation acting on groups of contiguous channels of the last axis (`GroupSort`, `MaxOut`):
 * the group size is checked against the channel count at build and at each call, and the output
 * of the unscaled group operation is multiplied by `kCoefLip`.
 */
export abstract class ChannelGroupActivation extends LipschitzActivation {
  /** Group size used on `channels` channels; throws a `LipschitzConfigError` when it does not fit. */
  protected abstract groupSizeFor(channels: number): number;

  /** The unscaled operation on groups of `groupSize` contiguous channels (last axis). */
  protected abstract applyToGroups(x: tf.Tensor, groupSize: number): tf.Tensor;

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    this.groupSizeFor(this.channelsOf(singleShape(inputShape)));
    super.build(inputShape);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs);
      const g = this.groupSizeFor(x.shape[x.rank - 1] as number);
      return this.scaled(this.applyToGroups(x, g));
    });
  }
}
