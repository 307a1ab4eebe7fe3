/**
 * tfjs-lip: Lipschitz-constrained neural networks for TensorFlow.js.
 *
 * Importing this module registers every tfjs-lip class for serialization.
 *
 * The public API is exactly what the barrels name (no `export *` of a module): a helper exported by
 * its own file for use elsewhere in `src/` stays internal. `test/public_api.test.ts` lists every
 * public name and fails when one appears or disappears.
 */
export { LipschitzConfigError } from './core/errors';
export {
  DEFAULT_K_COEF_LIP,
  DEFAULT_EPS_SPECTRAL,
  DEFAULT_EPS_BJORCK,
  DEFAULT_BETA_BJORCK,
  DEFAULT_MAX_ITER_SPECTRAL,
  DEFAULT_MAX_ITER_BJORCK,
  DEFAULT_EPS_GRAD_SQRT,
} from './core/defaults';
export { isLipschitzLayer, isCondensable } from './core/contracts';
export type { LipschitzLayer, Condensable, ExportContext } from './core/contracts';
export { isLipschitzMerge } from './core/merge_contract';
export type { LipschitzMerge } from './core/merge_contract';
export * as layers from './layers';
export * as normalizers from './normalizers';
export * as initializers from './initializers';
export * as constraints from './constraints';
export * as activations from './activations';
export * as losses from './losses_api';
export * as metrics from './metrics';
export * as callbacks from './callbacks';
export * as regularizers from './regularizers';
export * as backend from './backend';
export * as io from './io';
export * as data from './data';
export * as attacks from './attacks';
export * as evaluation from './evaluation';
export * as local from './local';
export * as penalties from './penalties';
export * as train from './train';
export * as tasks from './tasks';
export {
  sequential,
  checkModel,
  lipschitzBound,
  builtinLipschitzBound,
  lipschitzRisk,
  ACTIVATION_LIPSCHITZ,
  TFJS_BUILTIN_CLASS_NAMES,
  certifiedSpectralNorm,
} from './model';
export type { LipschitzSequentialArgs, CheckModelArgs, ModelCheckResult, ModelProblem, LipschitzBoundArgs } from './model';
export { vanillaExport, condense } from './export';
export type { VanillaExportOptions, ExportCertificate } from './export';
export { evaluateLipConst, computeLayerSV, computeModelSV } from './evaluation';
export type { EvaluateLipConstArgs, LipConstEstimate, Differentiable, ComputeLayerSVArgs, LayerSV } from './evaluation';
export { certify, certifyLogits } from './metrics/certify';
export type { CertifyArgs, Predictor } from './metrics/certify';
