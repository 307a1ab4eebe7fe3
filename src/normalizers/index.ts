/**
 * Normalizers: pure functions with no layer state (`lip.normalizers.*`): power iteration,
 * spectral normalization, Björck orthonormalization, reshaped kernel orthogonalization, its fused
 * product with a batch (`orthogonalMatMul`), and the convolution corrective factor (`conv.ts`).
 */
export { powerIteration, gramPowerIteration, untaped, l2Normalize } from './power_iteration';
export type { GramPowerIterationResult, LinearOperator, PowerIterationOptions, PowerIterationResult } from './power_iteration';
export { spectralNormalization } from './spectral';
export type { SpectralNormalizationOptions, SpectralNormalizationResult } from './spectral';
export { bjorckNormalization, bjorckOrthogonalize } from './bjorck';
export type { BjorckOptions, BjorckResult } from './bjorck';
export { reshapedKernelOrthogonalization } from './reshaped';
export type {
  ReshapedKernelOrthogonalizationOptions,
  ReshapedKernelOrthogonalizationResult,
} from './reshaped';
export { orthogonalMatMul, orthogonalMatMulPays } from './orthogonal_matmul';
export type { OrthogonalMatMulOptions, OrthogonalMatMulResult } from './orthogonal_matmul';
export * from './conv';
