/**
 * Clamped MaxMin with learnable thresholds (Local-Lip's `ClampGroupSort`): the channels (last
 * axis) are split into two halves `a` (first) and `b` (second), and the output is
 * `kCoefLip * [min(max(a, b), maxT), max(min(a, b), minT)]`, with one pair of thresholds per unit
 * of a half (default) or one pair for the layer. `(a, b) -> (max, min)` permutes the coordinates of
 * each pair and the clamps are monotone and 1-Lipschitz, so the layer is 1-Lipschitz (L2) times
 * `kCoefLip` whatever the learned thresholds are. A max unit is constant where its lower bound is
 * >= maxT, a min unit where its upper bound is <= minT (the masks of `lip.local`).
 *
 * Unlike `GroupSort2`, which pairs adjacent channels, the pairs here are channel `i` and channel
 * `i + C / 2`, as in the reference.
 *
 * References: Y. Huang, H. Zhang, Y. Shi, J. Z. Kolter, A. Anandkumar, "Training Certifiably
 * Robust Neural Networks with Efficient Local Lipschitz Bounds", NeurIPS 2021.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { configError } from '../core/errors';
import { checkBoolean, checkKnownKeys, layerOptionNames } from '../core/validation';
import { Kwargs, LipschitzActivation, LipschitzActivationArgs, single, singleShape } from './base';
import { broadcastThreshold, builtWeight, thresholdShape } from './clipped_relu';

/** Default initial thresholds of `ClampedMaxMin` (the reference's defaults). */
export const DEFAULT_MAX_THRESHOLD = 0.5;
export const DEFAULT_MIN_THRESHOLD = -0.5;

/** Options of `ClampedMaxMin`. */
export interface ClampedMaxMinArgs extends LipschitzActivationArgs {
  /** Initial upper clamp of the max half: a finite number above `minThreshold` (default 0.5). */
  maxThreshold?: number;
  /** Initial lower clamp of the min half: a finite number below `maxThreshold` (default -0.5). */
  minThreshold?: number;
  /** One pair of thresholds per unit of a half (default true), or one pair for the layer. */
  perUnit?: boolean;
}

const CLAMPED_MAX_MIN_OPTIONS = layerOptionNames<ClampedMaxMinArgs>({
  kCoefLip: true,
  maxThreshold: true,
  minThreshold: true,
  perUnit: true,
});

function checkFinite(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) configError(name, 'a finite number', value);
  return value;
}

/** The learnable thresholds of a `ClampedMaxMin` (the weights themselves; do not dispose). */
export interface ClampThresholds {
  /** Upper clamp of the max half. */
  max: tf.Tensor;
  /** Lower clamp of the min half. */
  min: tf.Tensor;
}

/** `kCoefLip * [min(max(a, b), maxT), max(min(a, b), minT)]`; see the module comment. */
export class ClampedMaxMin extends LipschitzActivation {
  static className = 'ClampedMaxMin';
  /** Initial value of the max-half thresholds. */
  readonly maxThreshold: number;
  /** Initial value of the min-half thresholds. */
  readonly minThreshold: number;
  readonly perUnit: boolean;
  private maxT: tfl.LayerVariable | null = null;
  private minT: tfl.LayerVariable | null = null;

  constructor(args: ClampedMaxMinArgs = {}) {
    if (new.target === ClampedMaxMin) checkKnownKeys('clampedMaxMin', args, CLAMPED_MAX_MIN_OPTIONS);
    super(args);
    this.maxThreshold = checkFinite('maxThreshold', args.maxThreshold ?? DEFAULT_MAX_THRESHOLD);
    this.minThreshold = checkFinite('minThreshold', args.minThreshold ?? DEFAULT_MIN_THRESHOLD);
    if (!(this.minThreshold < this.maxThreshold)) {
      configError('minThreshold', `a number below maxThreshold ${this.maxThreshold}`, this.minThreshold);
    }
    this.perUnit = checkBoolean('perUnit', args.perUnit ?? true);
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = [...singleShape(inputShape)];
    const c = this.channelsOf(shape);
    if (c % 2 !== 0) configError(`ClampedMaxMin '${this.name}' channel count`, 'an even number (two halves)', c);
    shape[shape.length - 1] = c / 2;
    const tShape = thresholdShape(`ClampedMaxMin '${this.name}'`, shape, this.perUnit);
    this.maxT = this.addWeight('max_threshold', tShape, 'float32', tfl.initializers.constant({ value: this.maxThreshold }));
    this.minT = this.addWeight('min_threshold', tShape, 'float32', tfl.initializers.constant({ value: this.minThreshold }));
    super.build(inputShape);
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return singleShape(inputShape);
  }

  /** The thresholds in use (broadcastable to one half of a batch of inputs). */
  thresholds(): ClampThresholds {
    const owner = `ClampedMaxMin '${this.name}'`;
    return { max: builtWeight(owner, this.maxT), min: builtWeight(owner, this.minT) };
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs);
      const [a, b] = tf.split(x, 2, x.rank - 1);
      const { max, min } = this.thresholds();
      const high = tf.minimum(tf.maximum(a!, b!), broadcastThreshold(max, a!.shape));
      const low = tf.maximum(tf.minimum(a!, b!), broadcastThreshold(min, a!.shape));
      return this.scaled(tf.concat([high, low], x.rank - 1));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      maxThreshold: this.maxThreshold,
      minThreshold: this.minThreshold,
      perUnit: this.perUnit,
      ...super.getConfig(),
    };
  }
}
tf.serialization.registerClass(ClampedMaxMin);
