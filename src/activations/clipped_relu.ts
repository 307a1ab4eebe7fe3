/**
 * Clipped ReLU with a learnable threshold (Local-Lip's `ReLU_x`): `kCoefLip * min(max(z, 0),
 * theta)`, with one threshold per unit of the input (default) or one for the whole layer.
 * Per unit it is the composition of two monotone 1-Lipschitz scalar maps, so the layer is
 * 1-Lipschitz (L2) times `kCoefLip` (default 1), whatever the learned thresholds are. A unit is
 * constant on an input box whose upper end is <= 0 or whose lower end is >= theta: that is what
 * the local Lipschitz bound of `lip.local` exploits, and why the threshold is learnable.
 *
 * The threshold is not projected onto `theta >= 0` during training (the reference clamps it after
 * each step); a negative threshold makes the unit the constant `theta`, which keeps the bound.
 *
 * References: Y. Huang, H. Zhang, Y. Shi, J. Z. Kolter, A. Anandkumar, "Training Certifiably
 * Robust Neural Networks with Efficient Local Lipschitz Bounds", NeurIPS 2021.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { configError } from '../core/errors';
import { checkBoolean, checkKnownKeys, checkPositiveFinite, layerOptionNames } from '../core/validation';
import { Kwargs, LipschitzActivation, LipschitzActivationArgs, single, singleShape } from './base';

/** Default initial threshold of `ClippedReLU` (the reference's `init`). */
export const DEFAULT_CLIP_THRESHOLD = 1;

/** Options of `ClippedReLU`. */
export interface ClippedReLUArgs extends LipschitzActivationArgs {
  /** Initial value of every threshold theta: a finite number > 0 (default 1). */
  threshold?: number;
  /** One threshold per unit of the input shape (default true), or a single one for the layer. */
  perUnit?: boolean;
}

const CLIPPED_RELU_OPTIONS = layerOptionNames<ClippedReLUArgs>({ kCoefLip: true, threshold: true, perUnit: true });

/**
 * Shape of a threshold weight: the per-sample input shape (every size known) when `perUnit`,
 * else `[1]` (broadcast over everything).
 */
export function thresholdShape(owner: string, shape: tfl.Shape, perUnit: boolean): number[] {
  if (!perUnit) return [1];
  const dims = shape.slice(1);
  if (dims.length === 0 || dims.some((d) => d == null)) {
    configError(`${owner} input shape`, 'known sizes on every axis but the batch (one threshold per unit)', shape);
  }
  return dims as number[];
}

/** Reads a layer weight that exists once the layer is built. */
export function builtWeight(owner: string, weight: tfl.LayerVariable | null): tf.Tensor {
  if (weight === null) configError(`${owner} thresholds`, 'a built layer', 'unbuilt');
  return weight.read();
}

/**
 * `t` broadcast to `shape` as an op with a gradient: tfjs' `minimum`/`maximum` do not sum their
 * gradient over broadcast axes (a gradient of the wrong shape), so the thresholds are broadcast
 * first, by an addition to zeros: `add`'s gradient sums over the broadcast axes, where
 * `broadcastTo`'s (Tile's) slices and adds once per copy, thousands of kernels for a batch.
 */
export function broadcastThreshold(t: tf.Tensor, shape: number[]): tf.Tensor {
  return tf.add(tf.zeros(shape), t);
}

/** `kCoefLip * min(max(z, 0), theta)` with learnable theta; see the module comment. */
export class ClippedReLU extends LipschitzActivation {
  static className = 'ClippedReLU';
  /** Initial value of the thresholds. */
  readonly threshold: number;
  readonly perUnit: boolean;
  private theta: tfl.LayerVariable | null = null;

  constructor(args: ClippedReLUArgs = {}) {
    if (new.target === ClippedReLU) checkKnownKeys('clippedReLU', args, CLIPPED_RELU_OPTIONS);
    super(args);
    this.threshold = checkPositiveFinite('threshold', args.threshold ?? DEFAULT_CLIP_THRESHOLD);
    this.perUnit = checkBoolean('perUnit', args.perUnit ?? true);
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = thresholdShape(`ClippedReLU '${this.name}'`, singleShape(inputShape), this.perUnit);
    this.theta = this.addWeight('threshold', shape, 'float32', tfl.initializers.constant({ value: this.threshold }));
    super.build(inputShape);
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return singleShape(inputShape);
  }

  /** The thresholds in use (the weight itself, broadcastable to a batch of inputs; do not dispose). */
  thresholds(): tf.Tensor {
    return builtWeight(`ClippedReLU '${this.name}'`, this.theta);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs);
      return this.scaled(tf.minimum(tf.relu(x), broadcastThreshold(this.thresholds(), x.shape)));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { threshold: this.threshold, perUnit: this.perUnit, ...super.getConfig() };
  }
}
tf.serialization.registerClass(ClippedReLU);
