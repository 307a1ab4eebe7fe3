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
import { configError, LipschitzConfigError } from '../core/errors';
import { materializeChannelMap, PAIR_MIN_MAX, PAIR_SUM_DIFFERENCE, STANDALONE_EXPORT } from '../core/channel_map';
import { InferenceGroupSort } from '../inference';
import type { ExportContext } from '../core/contracts';
import { checkKnownKeys, checkOneOf, checkPositiveInt, layerOptionNames } from '../core/validation';
import { ChannelGroupActivation, LipschitzActivationArgs, singleShape } from './base';
import { sortGroups } from '../ops/sort';

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

/**
 * Option names of the three sorting layers; GroupSort2 and FullSort know `groupSize` and `n` too,
 * to reject a different group size with a specific message.
 */
const GROUP_SORT_OPTIONS = layerOptionNames<GroupSortArgs>({ kCoefLip: true, groupSize: true, n: true, dataFormat: true });

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
    if (new.target === GroupSort) checkKnownKeys('groupSort', args, GROUP_SORT_OPTIONS);
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
   * Exact built-in equivalent for groups of 1 (`rescaling` by `kCoefLip`) and 2. A pair `(a, b)`
   * is sorted as `M |P (a, b)|_alt`: `P = [[1, 1], [1, -1]] / sqrt(2)` gives `(s, d)`, a built-in
   * `prelu` with slopes `(1, -1)` gives `(s, |d|)`, and `M = [[1, -1], [1, 1]] / sqrt(2)` gives
   * `(min, max)`. P and M are orthogonal; `lip.vanillaExport` folds P into the kernel of the
   * Dense/convolution before and `kCoefLip * M` into the one after when it can (docs/export.md),
   * so GroupSort2 between two linear layers costs one `prelu`. Larger groups have no exact
   * built-in equivalent and are refused. With `inferenceLayers`, every group size exports to the
   * inference layer of `tfjs-lip/inference` (the model's own sorting op).
   */
  override vanillaExport(input: tfl.SymbolicTensor, context: ExportContext = STANDALONE_EXPORT): tfl.SymbolicTensor {
    const dims = this.staticFeatureShape(input);
    const g = this.groupSizeFor(dims[dims.length - 1] as number);
    if (g === 1) {
      return tfl.layers.rescaling({ name: this.name, scale: this.kCoefLip }).apply(input) as tfl.SymbolicTensor;
    }
    if (context.inferenceLayers) {
      const layer = new InferenceGroupSort({ name: this.name, groupSize: g, scale: this.kCoefLip });
      return layer.apply(input) as tfl.SymbolicTensor;
    }
    if (g !== 2) {
      return this.refuseExport(
        `sorting groups of ${g} needs a sort, which no tfjs built-in layer computes (only groups of 1 or 2 export; ` +
          'lip.vanillaExport(model, {inferenceLayers: true}) exports it as an inference layer of tfjs-lip/inference)',
      );
    }
    // The first layer built takes this layer's name: the prelu, or the reshape of an emitted P.
    const folded = context.foldIntoProducer(input, PAIR_SUM_DIFFERENCE);
    const sumDifference = folded
      ? input
      : materializeChannelMap(input, { scale: 1, pair: PAIR_SUM_DIFFERENCE }, `${this.name}_sum_difference`, this.name);
    // Slopes per position (no shared axes) up to PER_POSITION_SLOPES entries: tfjs' cpu backend
    // broadcasts a shared slope through a slow generic path (12x slower on a 28x28x16 map).
    const size = dims.reduce((p, d) => p * d, 1);
    const perPosition = size <= PER_POSITION_SLOPES;
    const sharedAxes = perPosition ? [] : dims.slice(0, -1).map((_, i) => i + 1);
    const prelu = tfl.layers.prelu({ name: folded ? this.name : `${this.name}_abs`, ...(sharedAxes.length > 0 ? { sharedAxes } : {}) });
    const signs = prelu.apply(sumDifference) as tfl.SymbolicTensor;
    const slopeShape = perPosition ? dims : [...sharedAxes.map(() => 1), dims[dims.length - 1] as number];
    const slopes = tf.tensor(
      Float32Array.from({ length: slopeShape.reduce((p, d) => p * d, 1) }, (_, i) => (i % 2 === 0 ? 1 : -1)),
      slopeShape,
    );
    try {
      prelu.setWeights([slopes]);
    } finally {
      slopes.dispose();
    }
    return context.defer(signs, { scale: this.kCoefLip, pair: PAIR_MIN_MAX }, this.name);
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
    if (new.target === GroupSort2) checkKnownKeys('groupSort2', args, GROUP_SORT_OPTIONS);
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
    if (new.target === FullSort) checkKnownKeys('fullSort', args, GROUP_SORT_OPTIONS);
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

/**
 * Largest feature map (entries per sample) whose GroupSort2 export gets one prelu slope per
 * entry rather than per channel: 65,536 floats, 256 kB of weights.
 */
const PER_POSITION_SLOPES = 65536;

/** GroupSort2 / FullSort fix their group size: a different one passed in is a mistake. */
function rejectFixedGroupSize(args: GroupSortArgs, fixed: number | null): void {
  for (const key of ['groupSize', 'n'] as const) {
    const value = args[key];
    if (value !== undefined && value !== fixed) {
      configError(key, `to be left out (fixed to ${fixed === null ? 'all channels' : fixed} by this layer)`, value);
    }
  }
}
