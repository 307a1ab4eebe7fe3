/**
 * tfjs-lip: Lipschitz-constrained neural networks for TensorFlow.js.
 *
 * Importing this module registers every tfjs-lip class for serialization.
 */
export { LipschitzConfigError } from './core/errors';
export * from './core/defaults';
export { isLipschitzLayer, isCondensable } from './core/contracts';
export type { LipschitzLayer, Condensable } from './core/contracts';
export * as layers from './layers';
export * as normalizers from './normalizers';
export * as initializers from './initializers';
export * as constraints from './constraints';
export * as activations from './activations';
export * as losses from './losses';
export * as metrics from './metrics';
export * as callbacks from './callbacks';
export * as regularizers from './regularizers';
export * as backend from './backend';
export * as io from './io';
export * as data from './data';
export * from './model';
export * from './export';
export * from './evaluation';
export * from './metrics/certify';
