/**
 * Model-level API: `lip.sequential`, `lip.checkModel`, `lip.lipschitzBound`, the bounds and risks
 * of built-in layers (`builtinLipschitzBound`, `lipschitzRisk`, `ACTIVATION_LIPSCHITZ`,
 * `TFJS_BUILTIN_CLASS_NAMES`) and the float64 certificate they use (`certifiedSpectralNorm`).
 */
export { sequential } from './sequential';
export type { LipschitzSequentialArgs } from './sequential';
export { checkModel } from './check';
export type { CheckModelArgs, ModelCheckResult, ModelProblem } from './check';
export { lipschitzBound, builtinLipschitzBound, lipschitzRisk, ACTIVATION_LIPSCHITZ, TFJS_BUILTIN_CLASS_NAMES } from './bound';
export type { LipschitzBoundArgs } from './bound';
export { certifiedSpectralNorm } from '../linalg/spectral_norm';
