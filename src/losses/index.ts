/**
 * Losses for Lipschitz networks (`lip.losses`), following DEEL-LIP's `deel/lip/losses.py`
 * (TensorFlow, 1.5) and, for `multiclassSoftHKR`, deel-torchlip. Each factory returns a function
 * `loss(yTrue, yPred)` usable standalone or in `model.compile({loss})`, named after DEEL-LIP's
 * class (`'HKR'`, ...), with a `reduction` of `'mean'` (default, Keras' sum over batch size),
 * `'sum'` or `'none'`.
 */
export { makeLoss } from './common';
export type { LipschitzLoss, LossOptions, LossParamDef, LossReduction, ParamCheck, PerSampleLoss } from './common';
export {
  kr,
  hkr,
  hingeMargin,
  multiclassKR,
  multiclassHinge,
  multiclassHKR,
  multiMargin,
  categoricalHinge,
} from './wasserstein';
export type { HingeOptions, HKROptions } from './wasserstein';
export { tauCategoricalCrossentropy, tauSparseCategoricalCrossentropy, tauBinaryCrossentropy } from './crossentropy';
export type { TauOptions } from './crossentropy';
export { multiclassSoftHKR } from './soft_hkr';
export type { SoftHKROptions, SoftHKRLoss } from './soft_hkr';
