/**
 * LNets' MaxMin (`lnets/models/activations/maxout.py`, class `MaxMin`): the channels (last axis)
 * are split into `numUnits` groups of `g = C / numUnits` contiguous channels, and the output holds
 * the maximum of every group followed by the minimum of every group:
 * `[max(G_0), ..., max(G_{n-1}), min(G_0), ..., min(G_{n-1})]` (`2 numUnits` channels), times
 * `kCoefLip`. LNets concatenates on its channel axis (`axis=-1` for dense features); here the
 * channels are always last (a convolution's NHWC output included).
 *
 * Not to be confused with DEEL-LIP's `MaxMin` (`lip.activations.maxMin`: `[relu(x), relu(-x)]`).
 * With groups of 2 this is GroupSort2 up to a fixed permutation of the output channels.
 *
 * Why it is 1-Lipschitz (L2) for every group size g >= 2: sorting a vector is non-expansive,
 * `||sort(a) - sort(b)|| <= ||a - b||` (both sides have the same squared norms and, by the
 * rearrangement inequality, `<sort(a), sort(b)> >= <a, b>`). For g >= 2, `max` and `min` are two
 * *distinct* entries of the sorted group (the last and the first), so keeping only them drops the
 * g - 2 middle terms of that sum of squares: `(max a - max b)^2 + (min a - min b)^2 <=
 * ||sort(a) - sort(b)||^2 <= ||a - b||^2`. Groups are disjoint, so summing over them gives
 * `||F(a) - F(b)|| <= ||a - b||`. For g = 2 it is an equality (a permutation on each linear piece,
 * gradient-norm preserving); for g > 2 the dropped middle entries make it only 1-Lipschitz. A group
 * of one channel would output that channel twice (constant sqrt(2)), so g = 1 is refused.
 *
 * References: C. Anil, J. Lucas, R. Grosse, "Sorting Out Lipschitz Function Approximation",
 * ICML 2019; github.com/cemanil/LNets. Details: docs/activations_losses.md.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { LipschitzConfigError } from '../core/errors';
import { checkKnownKeys, checkPositiveInt, layerOptionNames } from '../core/validation';
import { ChannelGroupActivation, LipschitzActivationArgs, singleShape } from './base';

/** Options of `LNetsMaxMin`. */
export interface LNetsMaxMinArgs extends LipschitzActivationArgs {
  /**
   * Number of groups (LNets' `num_units`): the `C` channels are split into `numUnits` groups of
   * `C / numUnits >= 2` contiguous channels; the output has `2 * numUnits` channels.
   */
  numUnits: number;
}

const LNETS_MAX_MIN_OPTIONS = layerOptionNames<LNetsMaxMinArgs>({ kCoefLip: true, numUnits: true });

/**
 * `[max, min]` of each of `numUnits` groups of `groupSize` contiguous entries of the last axis:
 * the maxima of all groups, then their minima (last axis `2 * numUnits`).
 */
export function maxMinOverGroups(x: tf.Tensor, groupSize: number): tf.Tensor {
  return tf.tidy(() => {
    const channels = x.shape[x.rank - 1] as number;
    const units = channels / groupSize;
    const groups = tf.reshape(x, [-1, units, groupSize]);
    const both = tf.concat([tf.max(groups, 2), tf.min(groups, 2)], 1);
    return tf.reshape(both, [...x.shape.slice(0, -1), 2 * units]);
  });
}

/** LNets' MaxMin: `kCoefLip * [max of each group, min of each group]` (channels last). */
export class LNetsMaxMin extends ChannelGroupActivation {
  static className = 'LNetsMaxMin';
  readonly numUnits: number;

  constructor(args: LNetsMaxMinArgs) {
    if (new.target === LNetsMaxMin) checkKnownKeys('lnetsMaxMin', args, LNETS_MAX_MIN_OPTIONS);
    super(args ?? ({} as LNetsMaxMinArgs));
    this.numUnits = checkPositiveInt('numUnits', args?.numUnits);
  }

  /** Size of each group on `channels` channels; throws unless it is an integer >= 2. */
  protected override groupSizeFor(channels: number): number {
    if (channels % this.numUnits !== 0) {
      throw new LipschitzConfigError(
        `LNetsMaxMin '${this.name}': numUnits ${this.numUnits} must divide the number of channels ${channels}.`,
      );
    }
    const g = channels / this.numUnits;
    if (g < 2) {
      throw new LipschitzConfigError(
        `LNetsMaxMin '${this.name}': numUnits ${this.numUnits} must leave groups of at least 2 of the ${channels} channels ` +
          '(a group of one channel outputs it twice, which is sqrt(2)-Lipschitz).',
      );
    }
    return g;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = [...singleShape(inputShape)];
    shape[shape.length - 1] = 2 * this.numUnits;
    return shape;
  }

  protected override applyToGroups(x: tf.Tensor, groupSize: number): tf.Tensor {
    return maxMinOverGroups(x, groupSize);
  }

  /**
   * Exact built-in equivalent, as `MaxOut`'s: flatten to `[features, 1]` (groups are contiguous in
   * the channels-last order), `maxPooling1d` with window and stride equal to the group size for the
   * maxima; the minima as `-maxPooling1d(-x)` (`rescaling(-1)` on both sides; negation is exact);
   * each reshaped back to `numUnits` channels, `concatenate`d (maxima first), then `rescaling` by
   * `kCoefLip` when it is not 1.
   */
  override vanillaExport(input: tfl.SymbolicTensor): tfl.SymbolicTensor {
    const dims = this.staticFeatureShape(input);
    const g = this.groupSizeFor(dims[dims.length - 1] as number);
    const size = dims.reduce((p, d) => p * d, 1);
    const restoredShape = [...dims.slice(0, -1), this.numUnits];
    const apply = (layer: tfl.layers.Layer, x: tfl.SymbolicTensor | tfl.SymbolicTensor[]) => layer.apply(x) as tfl.SymbolicTensor;
    const pool = (suffix: string) => tfl.layers.maxPooling1d({ name: `${this.name}_${suffix}`, poolSize: g, strides: g, padding: 'valid' });
    const flat = apply(tfl.layers.reshape({ name: this.name, targetShape: [size, 1] }), input);
    const maxima = apply(tfl.layers.reshape({ name: `${this.name}_max_restore`, targetShape: restoredShape }), apply(pool('max'), flat));
    const negated = apply(tfl.layers.rescaling({ name: `${this.name}_negate`, scale: -1 }), flat);
    const negMinima = apply(pool('min'), negated);
    const minimaFlat = apply(tfl.layers.rescaling({ name: `${this.name}_negate_back`, scale: -1 }), negMinima);
    const minima = apply(tfl.layers.reshape({ name: `${this.name}_min_restore`, targetShape: restoredShape }), minimaFlat);
    const both = apply(tfl.layers.concatenate({ name: `${this.name}_concat`, axis: -1 }), [maxima, minima]);
    return this.exportScaled(both, `${this.name}_rescale`);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { numUnits: this.numUnits, ...super.getConfig() };
  }
}
tf.serialization.registerClass(LNetsMaxMin);
