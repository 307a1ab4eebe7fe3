/**
 * `lip.tasks.wasserstein`: distribution pairs with a known Wasserstein-1 distance and optimal dual
 * potential (LNets' absolute value, three cones and high-dimensional cone), and `trainDual`,
 * which measures how close an architecture's dual estimate comes to the exact distance
 * (docs/wasserstein.md).
 */
export { absoluteValue, threeCones, highDimensionalCone, multiSphericalShells } from './shells';
export type {
  WassersteinPair,
  WassersteinSample,
  AbsoluteValueOptions,
  ThreeConesOptions,
  HighDimensionalConeOptions,
  MultiSphericalShellsOptions,
} from './shells';
export { trainDual } from './train_dual';
export type { TrainDualOptions, TrainDualResult } from './train_dual';
