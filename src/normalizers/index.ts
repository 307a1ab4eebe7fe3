/**
 * Normalizers: pure functions with no layer state (`lip.normalizers.*`): power iteration,
 * spectral normalization, Björck orthonormalization, the orthogonalizer seam (`createOrthogonalizer`
 * from `{orthogonalizer, epsBjorck, ...}`, the `Orthogonalizer` interface, the exact `polarFactor`),
 * reshaped kernel orthogonalization, its fused
 * product with a batch (`orthogonalMatMul`), and the convolution corrective factor (`conv.ts`).
 */
export { powerIteration, gramPowerIteration } from './power_iteration';
export type { GramPowerIterationResult, LinearOperator, PowerIterationOptions, PowerIterationResult } from './power_iteration';
export { spectralNormalization } from './spectral';
export type { SpectralNormalizationOptions, SpectralNormalizationResult } from './spectral';
export { bjorckNormalization, bjorckOrthogonalize } from './orthogonalizers/bjorck/bjorck';
export type { BjorckOptions, BjorckResult } from './orthogonalizers/bjorck/bjorck';
export { createOrthogonalizer, ORTHOGONALIZER_NAMES, polarFactor } from './orthogonalizers';
export type { Orthogonalizer, OrthogonalizeResult, OrthogonalizerSettings } from './orthogonalizers';
export { reshapedKernelOrthogonalization } from './reshaped';
export type {
  ReshapedKernelOrthogonalizationOptions,
  ReshapedKernelOrthogonalizationResult,
} from './reshaped';
export { orthogonalMatMul, orthogonalMatMulPays } from './orthogonalizers/bjorck/fused_matmul';
export type { OrthogonalMatMulOptions, OrthogonalMatMulResult } from './orthogonalizers/bjorck/fused_matmul';
export { computeConvLipFactor, computeConvTransposeLipFactor, deelLipConvLipFactor, spectralNormalizationConv } from './conv';
export type { ConvLipFactorArgs, ConvPadding, SpectralNormalizationConvArgs } from './conv';
