/**
 * PReLU with learnable slopes kept in `[-kCoefLip, kCoefLip]` (DEEL-LIP `PReLUlip`, which wraps a
 * Keras PReLU with a `MinMaxNorm(-k, k)` constraint). tfjs-layers does not apply weight
 * constraints inside `fit`, so the slopes are clipped in `call` instead: the slope in use is
 * always `clip(alpha, -k, k)`, whatever the optimizer does to the raw weight. `condense()` writes
 * the clipped slopes back into the weight; `vanillaExport` builds a built-in `prelu` with them.
 *
 * The Lipschitz constant is `max(1, max_i |slope_i|) <= max(1, kCoefLip)`: the positive side
 * keeps slope 1, so a `kCoefLip` below 1 does not make the layer contract more than 1.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { configError } from '../core/errors';
import { checkKnownKeys, layerOptionNames } from '../core/validation';
import { Kwargs, LipschitzActivation, LipschitzActivationArgs, single, singleShape } from './base';

/** Options of `PReLULip`. */
export interface PReLULipArgs extends LipschitzActivationArgs {
  /** Initial value of every slope (default 0, Keras' PReLU default); must lie in [-k, k]. */
  initialAlpha?: number;
  /** Axes (1-based, batch excluded, as in tfjs `prelu`) along which one slope is shared. */
  sharedAxes?: number | number[] | null;
}

const PRELU_LIP_OPTIONS = layerOptionNames<PReLULipArgs>({ kCoefLip: true, initialAlpha: true, sharedAxes: true });

function resolveSharedAxes(value: unknown): number[] | null {
  if (value === undefined || value === null) return null;
  const list = typeof value === 'number' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || !list.every((a) => typeof a === 'number' && Number.isInteger(a) && a >= 1)) {
    return configError('sharedAxes', 'null, a positive integer or a list of positive integers', value);
  }
  return [...(list as number[])];
}

/** `x` for `x >= 0`, `clip(alpha, -k, k) * x` otherwise; one learnable slope per entry. */
export class PReLULip extends LipschitzActivation {
  static className = 'PReLULip';
  readonly initialAlpha: number;
  readonly sharedAxes: number[] | null;
  private alpha: tfl.LayerVariable | null = null;

  constructor(args: PReLULipArgs = {}) {
    if (new.target === PReLULip) checkKnownKeys('pReLULip', args, PRELU_LIP_OPTIONS);
    super(args);
    const initial = args.initialAlpha ?? 0;
    if (typeof initial !== 'number' || !Number.isFinite(initial) || Math.abs(initial) > this.kCoefLip) {
      configError('initialAlpha', `a number in [-kCoefLip, kCoefLip] = [-${this.kCoefLip}, ${this.kCoefLip}]`, initial);
    }
    this.initialAlpha = initial;
    this.sharedAxes = resolveSharedAxes(args.sharedAxes);
  }

  /** The positive side has slope 1 whatever `kCoefLip` is (see `LipschitzLayer.minimumBound`). */
  readonly minimumBound = 1;

  /** `max(1, kCoefLip)`: the positive side has slope 1. */
  override lipschitzBound(): number {
    return Math.max(1, this.kCoefLip);
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = singleShape(inputShape);
    const paramShape = shape.slice(1);
    for (const axis of this.sharedAxes ?? []) {
      if (axis >= shape.length) configError('sharedAxes', `axes within the input rank ${shape.length}`, this.sharedAxes);
      paramShape[axis - 1] = 1;
    }
    if (paramShape.some((d) => d == null)) {
      configError('PReLULip input shape', 'known sizes on every axis that does not share its slope', shape);
    }
    this.alpha = this.addWeight(
      'alpha',
      paramShape as number[],
      'float32',
      tfl.initializers.constant({ value: this.initialAlpha }),
    );
    super.build(inputShape);
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return singleShape(inputShape);
  }

  /** The slopes in use, `clip(alpha, -kCoefLip, kCoefLip)` (a new tensor; dispose it). */
  slopes(): tf.Tensor {
    if (this.alpha === null) configError(`PReLULip '${this.name}' slopes`, 'a built layer', 'unbuilt');
    const alpha = this.alpha.read();
    return tf.clipByValue(alpha, -this.kCoefLip, this.kCoefLip);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => tf.prelu(single(inputs), this.slopes()));
  }

  /** Writes the clipped slopes into the weight. */
  override condense(): void {
    if (this.alpha === null) return;
    const clipped = this.slopes();
    this.alpha.write(clipped);
    clipped.dispose();
  }

  /** A built-in `prelu` with the same shared axes, loaded with the clipped slopes. */
  override vanillaExport(input: tfl.SymbolicTensor): tfl.SymbolicTensor {
    const layer = tfl.layers.prelu({ name: this.name, ...(this.sharedAxes ? { sharedAxes: this.sharedAxes } : {}) });
    const output = layer.apply(input) as tfl.SymbolicTensor;
    const clipped = this.slopes();
    layer.setWeights([clipped]);
    clipped.dispose();
    return output;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { initialAlpha: this.initialAlpha, sharedAxes: this.sharedAxes, ...super.getConfig() };
  }
}
tf.serialization.registerClass(PReLULip);
