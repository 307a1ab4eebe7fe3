/**
 * Two more 1-Lipschitz activations.
 *
 * - `MaxMin` (DEEL-LIP `MaxMin`, Blot et al. 2016): `kCoefLip * [relu(x), relu(-x)]` concatenated
 *   on the channel axis, which doubles the channels. Per channel, `(relu(a)-relu(b))^2 +
 *   (relu(-a)-relu(-b))^2 <= (a-b)^2`, so it is 1-Lipschitz, and its Jacobian has orthonormal
 *   columns (`J^T J = I` away from 0): it preserves the norm of input perturbations.
 *   Note that LNets' "MaxMin" is a different operation: it is `LNetsMaxMin` here (lnets_max_min.ts;
 *   with groups of 2, GroupSort2 up to a permutation of the channels).
 * - `MaxOut` (LNets `maxout.py`): the maximum of each of `numUnits` groups of `C / numUnits`
 *   contiguous channels; the channels shrink to `numUnits`. 1-Lipschitz since
 *   `|max(a) - max(b)| <= max|a - b| <= ||a - b||_2` group by group.
 *
 * References: M. Blot, M. Cord, N. Thome, "Max-min convolutional neural networks for image
 * classification", ICIP 2016; C. Anil, J. Lucas, R. Grosse, "Sorting Out Lipschitz Function
 * Approximation", ICML 2019.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { configError, LipschitzConfigError } from '../core/errors';
import { checkKnownKeys, checkOneOf, checkPositiveInt, layerOptionNames } from '../core/validation';
import { ChannelGroupActivation, Kwargs, LipschitzActivation, LipschitzActivationArgs, single, singleShape } from './base';
import { maxOverGroups } from '../ops/sort';

/** Image layout of `MaxMin`: which axis holds the channels. */
export type MaxMinDataFormat = 'channelsLast' | 'channelsFirst';

/** Options of `MaxMin`. */
export interface MaxMinArgs extends LipschitzActivationArgs {
  /** Channel axis: last (default) or 1. */
  dataFormat?: MaxMinDataFormat;
}

const MAX_MIN_OPTIONS = layerOptionNames<MaxMinArgs>({ kCoefLip: true, dataFormat: true });

/** `kCoefLip * concat([relu(x), relu(-x)], channelAxis)`: doubles the channels. */
export class MaxMin extends LipschitzActivation {
  static className = 'MaxMin';
  readonly dataFormat: MaxMinDataFormat;

  constructor(args: MaxMinArgs = {}) {
    if (new.target === MaxMin) checkKnownKeys('maxMin', args, MAX_MIN_OPTIONS);
    super(args);
    this.dataFormat = checkOneOf('dataFormat', args.dataFormat ?? 'channelsLast', ['channelsLast', 'channelsFirst'] as const);
  }

  private channelAxis(rank: number): number {
    return this.dataFormat === 'channelsLast' ? rank - 1 : 1;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = singleShape(inputShape);
    if (shape.length < 2) configError('MaxMin input shape', 'a batch axis and a channel axis', shape);
    super.build(inputShape);
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = [...singleShape(inputShape)];
    const axis = this.channelAxis(shape.length);
    const c = shape[axis];
    shape[axis] = c == null ? null : 2 * c;
    return shape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs);
      const both = tf.concat([tf.relu(x), tf.relu(tf.neg(x))], this.channelAxis(x.rank));
      return this.scaled(both);
    });
  }

  /**
   * Exact built-in equivalent: `relu(concatenate([k x, -k x]))` on the channel axis, as a
   * `rescaling(-k)` (named as this layer; and `rescaling(k)` when k is not 1), a `concatenate`
   * and a `reLU`
   * (`relu(k x) = k relu(x)` exactly for k > 0). `lip.lipschitzBound` recognizes the pattern
   * (bound k, not the sqrt(2) k of its parts).
   */
  override vanillaExport(input: tfl.SymbolicTensor): tfl.SymbolicTensor {
    const axis = this.channelAxis(input.shape.length);
    const k = this.kCoefLip;
    const negative = tfl.layers.rescaling({ name: this.name, scale: -k }).apply(input) as tfl.SymbolicTensor;
    const positive = k === 1 ? input : (tfl.layers.rescaling({ name: `${this.name}_scale`, scale: k }).apply(input) as tfl.SymbolicTensor);
    const both = tfl.layers.concatenate({ name: `${this.name}_concat`, axis }).apply([positive, negative]) as tfl.SymbolicTensor;
    return tfl.layers.reLU({ name: `${this.name}_relu` }).apply(both) as tfl.SymbolicTensor;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { dataFormat: this.dataFormat, ...super.getConfig() };
  }
}
tf.serialization.registerClass(MaxMin);

/** Options of `MaxOut`. */
export interface MaxOutArgs extends LipschitzActivationArgs {
  /** Number of output channels: the channels are split into this many contiguous groups. */
  numUnits: number;
}

const MAX_OUT_OPTIONS = layerOptionNames<MaxOutArgs>({ kCoefLip: true, numUnits: true });

/** `kCoefLip * max` over each of `numUnits` groups of contiguous channels (last axis). */
export class MaxOut extends ChannelGroupActivation {
  static className = 'MaxOut';
  readonly numUnits: number;

  constructor(args: MaxOutArgs) {
    if (new.target === MaxOut) checkKnownKeys('maxOut', args, MAX_OUT_OPTIONS);
    super(args ?? ({} as MaxOutArgs));
    this.numUnits = checkPositiveInt('numUnits', args?.numUnits);
  }

  /** Size of each group on `channels` channels; throws when `numUnits` does not divide them. */
  protected override groupSizeFor(channels: number): number {
    if (channels % this.numUnits !== 0) {
      throw new LipschitzConfigError(
        `MaxOut '${this.name}': numUnits ${this.numUnits} must divide the number of channels ${channels}.`,
      );
    }
    return channels / this.numUnits;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = [...singleShape(inputShape)];
    shape[shape.length - 1] = this.numUnits;
    return shape;
  }

  protected override applyToGroups(x: tf.Tensor, groupSize: number): tf.Tensor {
    return maxOverGroups(x, groupSize);
  }

  /**
   * Exact built-in equivalent: flatten to `[features, 1]`, `maxPooling1d` with window and stride
   * equal to the group size (groups are contiguous in the flattened channels-last order), reshape
   * back with `numUnits` channels, `rescaling` by `kCoefLip` when it is not 1.
   */
  override vanillaExport(input: tfl.SymbolicTensor): tfl.SymbolicTensor {
    const dims = this.staticFeatureShape(input);
    const g = this.groupSizeFor(dims[dims.length - 1] as number);
    const size = dims.reduce((p, d) => p * d, 1);
    const flat = tfl.layers.reshape({ name: this.name, targetShape: [size, 1] }).apply(input) as tfl.SymbolicTensor;
    const pooled = tfl.layers
      .maxPooling1d({ name: `${this.name}_max`, poolSize: g, strides: g, padding: 'valid' })
      .apply(flat) as tfl.SymbolicTensor;
    const restored = tfl.layers
      .reshape({ name: `${this.name}_restore`, targetShape: [...dims.slice(0, -1), this.numUnits] })
      .apply(pooled) as tfl.SymbolicTensor;
    return this.exportScaled(restored, `${this.name}_rescale`);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { numUnits: this.numUnits, ...super.getConfig() };
  }
}
tf.serialization.registerClass(MaxOut);
