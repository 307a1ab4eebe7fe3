/** Model-level API: `lip.sequential`, `lip.checkModel`, `lip.lipschitzBound` and the bound table of built-in layers. */
export { sequential } from './sequential';
export type { LipschitzSequentialArgs } from './sequential';
export { checkModel } from './check';
export type { CheckModelArgs, ModelCheckResult, ModelProblem } from './check';
export {
  lipschitzBound,
  layerLipschitzBound,
  builtinLipschitzBound,
  lipschitzRisk,
  mergeLipschitzBound,
  activationLipschitz,
  ACTIVATION_LIPSCHITZ,
  TFJS_BUILTIN_CLASS_NAMES,
} from './bound';
export { certifiedSpectralNorm } from '../linalg/spectral_norm';
