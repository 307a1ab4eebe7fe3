/**
 * Lipschitz activations as layers (`lip.activations`). tfjs activations are strings, so these are
 * layer factories usable anywhere a layer is (`lip.activations.groupSort2().apply(x)`, or in a
 * `tf.sequential` layer list). Every class keeps the `LipschitzLayer` and `Condensable`
 * contracts and is registered for serialization.
 *
 * | factory        | class         | Lipschitz bound     | vanilla export            |
 * |----------------|---------------|---------------------|---------------------------|
 * | groupSort      | GroupSort     | kCoefLip            | groupSize 1 or 2 only     |
 * | groupSort2     | GroupSort2    | kCoefLip            | yes                       |
 * | fullSort       | FullSort      | kCoefLip            | only with <= 2 channels   |
 * | maxMin         | MaxMin        | kCoefLip            | yes                       |
 * | maxOut         | MaxOut        | kCoefLip            | yes                       |
 * | lnetsMaxMin    | LNetsMaxMin   | kCoefLip            | yes                       |
 * | pReLULip       | PReLULip      | max(1, kCoefLip)    | yes (built-in prelu)      |
 * | householder    | Householder   | kCoefLip            | no                        |
 * | clippedReLU    | ClippedReLU   | kCoefLip            | no                        |
 * | clampedMaxMin  | ClampedMaxMin | kCoefLip            | no                        |
 */
import { FixedGroupSortArgs, FullSort, GroupSort, GroupSort2, GroupSortArgs } from './group_sort';
import { Householder, HouseholderArgs } from './householder';
import { ClippedReLU, ClippedReLUArgs } from './clipped_relu';
import { ClampedMaxMin, ClampedMaxMinArgs } from './clamped_max_min';
import { MaxMin, MaxMinArgs, MaxOut, MaxOutArgs } from './max_min';
import { LNetsMaxMin, LNetsMaxMinArgs } from './lnets_max_min';
import { PReLULip, PReLULipArgs } from './prelu_lip';

export { LipschitzActivation } from './base';
export type { LipschitzActivationArgs } from './base';
export { GroupSort, GroupSort2, FullSort } from './group_sort';
export type { GroupSortArgs, FixedGroupSortArgs, SortDataFormat } from './group_sort';
export { MaxMin, MaxOut } from './max_min';
export type { MaxMinArgs, MaxMinDataFormat, MaxOutArgs } from './max_min';
export { LNetsMaxMin } from './lnets_max_min';
export type { LNetsMaxMinArgs } from './lnets_max_min';
export { PReLULip } from './prelu_lip';
export type { PReLULipArgs } from './prelu_lip';
export { Householder } from './householder';
export type { HouseholderArgs } from './householder';
export { ClippedReLU } from './clipped_relu';
export type { ClippedReLUArgs } from './clipped_relu';
export { ClampedMaxMin } from './clamped_max_min';
export type { ClampedMaxMinArgs, ClampThresholds } from './clamped_max_min';

/** Sorts each group of `groupSize` contiguous channels (default: all channels). */
export function groupSort(args: GroupSortArgs = {}): GroupSort {
  return new GroupSort(args);
}

/** `(min, max)` of each adjacent channel pair. */
export function groupSort2(args: FixedGroupSortArgs = {}): GroupSort2 {
  return new GroupSort2(args);
}

/** Sorts all channels. */
export function fullSort(args: FixedGroupSortArgs = {}): FullSort {
  return new FullSort(args);
}

/** DEEL-LIP's MaxMin: `[relu(x), relu(-x)]` on the channel axis (doubles the channels). */
export function maxMin(args: MaxMinArgs = {}): MaxMin {
  return new MaxMin(args);
}

/** LNets' MaxOut: the maximum of each of `numUnits` groups of contiguous channels. */
export function maxOut(args: MaxOutArgs): MaxOut {
  return new MaxOut(args);
}

/**
 * LNets' MaxMin: the maxima, then the minima, of `numUnits` groups of contiguous channels (output
 * `2 * numUnits` channels). Not DEEL-LIP's `maxMin`.
 */
export function lnetsMaxMin(args: LNetsMaxMinArgs): LNetsMaxMin {
  return new LNetsMaxMin(args);
}

/** PReLU whose learnable slopes stay in `[-kCoefLip, kCoefLip]`. */
export function pReLULip(args: PReLULipArgs = {}): PReLULip {
  return new PReLULip(args);
}

/** Householder reflection of channel pairs across a learnable line (starts as GroupSort2). */
export function householder(args: HouseholderArgs = {}): Householder {
  return new Householder(args);
}

/** Local-Lip's clipped ReLU `min(max(z, 0), theta)` with learnable thresholds theta. */
export function clippedReLU(args: ClippedReLUArgs = {}): ClippedReLU {
  return new ClippedReLU(args);
}

/** Local-Lip's clamped MaxMin of the two channel halves, with learnable clamps. */
export function clampedMaxMin(args: ClampedMaxMinArgs = {}): ClampedMaxMin {
  return new ClampedMaxMin(args);
}
