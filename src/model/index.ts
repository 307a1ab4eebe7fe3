/** Model-level API: `lip.sequential`, `lip.lipschitzBound` and the bound table of built-in layers. */
export { sequential } from './sequential';
export type { LipschitzSequentialArgs } from './sequential';
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
export { certifiedSpectralNorm } from './spectral_bound';
