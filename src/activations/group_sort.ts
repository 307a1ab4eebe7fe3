/**
 * Sorting activations (DEEL-LIP `deel/lip/activations.py`, LNets `group_sort.py`): GroupSort sorts
 * each group of `groupSize` contiguous channels in ascending order; GroupSort2 is groups of two
 * (`(min, max)` of each adjacent pair); FullSort sorts all channels. A sort is a permutation on each
 * linear piece, so these are 1-Lipschitz (L2) and preserve the gradient norm; the output is
 * multiplied by `kCoefLip` (DEEL-LIP's `k_coef_lip`, default 1). Channels last only.
 *
 * References: C. Anil, J. Lucas, R. Grosse, "Sorting Out Lipschitz Function Approximation",
 * ICML 2019 (https://arxiv.org/abs/1811.05381).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { configError, LipschitzConfigError } from '../errors';
import { checkOneOf, checkPositiveInt } from '../validation';
import { ChannelGroupActivation, LipschitzActivationArgs, singleShape } from './base';
import { sortGroups } from './sort_ops';

/** Channels-last only, as in DEEL-LIP (which raises for channels_first). */
export type SortDataFormat = 'channelsLast';

/** Options of `GroupSort`. */
export interface GroupSortArgs extends LipschitzActivationArgs {
  /**
   * Number of contiguous channels sorted together; must divide the channel count. `null` sorts
   * all channels (FullSort). Default `null`, as DEEL-LIP's `n=None`.
   */
  groupSize?: number | null;
  /** DEEL-LIP's name for `groupSize` (the group size, not the number of groups). */
  n?: number | null;
  /** Only `'channelsLast'` (default). */
  dataFormat?: SortDataFormat;
}

/** Options of `GroupSort2` and `FullSort` (their group size is fixed). */
export type FixedGroupSortArgs = Omit<GroupSortArgs, 'groupSize' | 'n'>;

function resolveGroupSize(args: GroupSortArgs): number | null {
  const { groupSize, n } = args;
  const hasGroupSize = groupSize !== undefined && groupSize !== null;
  const hasN = n !== undefined && n !== null;
  if (hasGroupSize && hasN && groupSize !== n) {
    configError('n', `to be left out or equal to groupSize ${groupSize} (it is its DEEL-LIP name)`, n);
  }
  if (hasGroupSize) return checkPositiveInt('groupSize', groupSize);
  if (hasN) return checkPositiveInt('n', n);
  return null;
}

/**
 * GroupSort: sorts each group of `groupSize` contiguous channels (last axis) in ascending order,
 * times `kCoefLip`. Groups of 2 use `minimum`/`maximum`; larger groups use `topk` with an exact
 * permutation gradient (only ops the wasm backend implements).
 */
export class GroupSort extends ChannelGroupActivation {
  static className = 'GroupSort';
  /** Requested group size; `null` means the whole channel axis. */
  readonly groupSize: number | null;
  readonly dataFormat: SortDataFormat;

  constructor(args: GroupSortArgs = {}) {
    super(args);
    this.groupSize = resolveGroupSize(args);
    this.dataFormat = checkOneOf('dataFormat', args.dataFormat ?? 'channelsLast', ['channelsLast'] as const);
  }

  /** Group size used on `channels` channels; throws when it does not divide them. */
  protected override groupSizeFor(channels: number): number {
    const g = this.groupSize ?? channels;
    if (channels % g !== 0) {
      throw new LipschitzConfigError(
        `${this.getClassName()} '${this.name}': groupSize ${g} must divide the number of channels ${channels}.`,
      );
    }
    return g;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return singleShape(inputShape);
  }

  protected override applyToGroups(x: tf.Tensor, groupSize: number): tf.Tensor {
    return sortGroups(x, groupSize);
  }

  /**
   * Exact built-in equivalent for groups of 1 (identity) and 2: reshape to `[pairs, 2, 1]`, crop
   * out the first and the second entry of each pair (`cropping2D`), `minimum` and `maximum`
   * merges, `concatenate` as `(min, max)`, reshape back (then `rescaling` by `kCoefLip` if it is
   * not 1). Larger groups have no exact built-in equivalent and are refused.
   */
  override vanillaExport(input: tfl.SymbolicTensor): tfl.SymbolicTensor {
    const dims = this.staticFeatureShape(input);
    const g = this.groupSizeFor(dims[dims.length - 1] as number);
    if (g === 1) {
      return tfl.layers.rescaling({ name: this.name, scale: this.kCoefLip }).apply(input) as tfl.SymbolicTensor;
    }
    if (g !== 2) {
      return this.refuseExport(`sorting groups of ${g} needs a sort, which no tfjs built-in layer computes (only groups of 1 or 2 export)`);
    }
    const size = dims.reduce((p, d) => p * d, 1);
    const pairs = tfl.layers
      .reshape({ name: this.name, targetShape: [size / 2, 2, 1] })
      .apply(input) as tfl.SymbolicTensor;
    const first = tfl.layers
      .cropping2D({ name: `${this.name}_first`, cropping: [[0, 0], [0, 1]] })
      .apply(pairs) as tfl.SymbolicTensor;
    const second = tfl.layers
      .cropping2D({ name: `${this.name}_second`, cropping: [[0, 0], [1, 0]] })
      .apply(pairs) as tfl.SymbolicTensor;
    const low = tfl.layers.minimum({ name: `${this.name}_min` }).apply([first, second]) as tfl.SymbolicTensor;
    const high = tfl.layers.maximum({ name: `${this.name}_max` }).apply([first, second]) as tfl.SymbolicTensor;
    const sorted = tfl.layers
      .concatenate({ name: `${this.name}_concat`, axis: 2 })
      .apply([low, high]) as tfl.SymbolicTensor;
    const restored = tfl.layers
      .reshape({ name: `${this.name}_restore`, targetShape: dims })
      .apply(sorted) as tfl.SymbolicTensor;
    return this.exportScaled(restored, `${this.name}_rescale`);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { groupSize: this.groupSize, dataFormat: this.dataFormat, ...super.getConfig() };
  }
}
tf.serialization.registerClass(GroupSort);

/** GroupSort with groups of two: `(min, max)` of each adjacent channel pair (DEEL-LIP `GroupSort2`). */
export class GroupSort2 extends GroupSort {
  static override className = 'GroupSort2';

  constructor(args: FixedGroupSortArgs = {}) {
    rejectFixedGroupSize(args, 2);
    super({ ...args, groupSize: 2, n: undefined });
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config = super.getConfig();
    delete config['groupSize'];
    return config;
  }
}
tf.serialization.registerClass(GroupSort2);

/** GroupSort over the whole channel axis (DEEL-LIP `FullSort`). Not exportable beyond 2 channels. */
export class FullSort extends GroupSort {
  static override className = 'FullSort';

  constructor(args: FixedGroupSortArgs = {}) {
    rejectFixedGroupSize(args, null);
    super({ ...args, groupSize: null, n: undefined });
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config = super.getConfig();
    delete config['groupSize'];
    return config;
  }
}
tf.serialization.registerClass(FullSort);

/** GroupSort2 / FullSort fix their group size: a different one passed in is a mistake. */
function rejectFixedGroupSize(args: GroupSortArgs, fixed: number | null): void {
  for (const key of ['groupSize', 'n'] as const) {
    const value = args[key];
    if (value !== undefined && value !== fixed) {
      configError(key, `to be left out (fixed to ${fixed === null ? 'all channels' : fixed} by this layer)`, value);
    }
  }
}
