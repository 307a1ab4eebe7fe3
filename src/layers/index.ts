/**
 * Lipschitz layers: `lip.layers.*`: a lower-camel factory per layer (`spectralDense(args)`), the
 * class (for `instanceof` and subclassing) and its arguments interface. The contracts
 * (`LipschitzLayer`, `Condensable`, `isLipschitzLayer`, `isCondensable`) are top-level exports.
 */
export { SpectralDense, FrobeniusDense, spectralDense, frobeniusDense } from './dense';
export type { LipschitzDenseArgs, SpectralDenseArgs, FrobeniusDenseArgs } from './dense';
export {
  SpectralConv2D,
  FrobeniusConv2D,
  SpectralConv2DTranspose,
  spectralConv2d,
  frobeniusConv2d,
  spectralConv2dTranspose,
} from './convolutional';
export type {
  LipschitzConvBaseArgs,
  SpectralConv2DArgs,
  FrobeniusConv2DArgs,
  SpectralConv2DTransposeArgs,
} from './convolutional';
export { SpectralConv1D, FrobeniusConv1D, spectralConv1d, frobeniusConv1d } from './conv1d';
export type { LipschitzConv1DArgs, SpectralConv1DArgs, FrobeniusConv1DArgs } from './conv1d';
export type { ExplicitPadding, PaddedConvPadding } from './padding';
export { LInfProjectedDense, LInfProjectedConv2D, lInfProjectedDense, lInfProjectedConv2d } from './linf_projected';
export type { LInfProjectedDenseArgs, LInfProjectedConv2DArgs } from './linf_projected';
export { LipschitzKernelLayer } from './kernel_layer';
export type { KernelLayerArgs } from './kernel_layer';
export {
  ScaledAveragePooling2D,
  ScaledL2NormPooling2D,
  ScaledGlobalAveragePooling2D,
  ScaledGlobalL2NormPooling2D,
  scaledAveragePooling2d,
  scaledL2NormPooling2d,
  scaledGlobalAveragePooling2d,
  scaledGlobalL2NormPooling2d,
} from './pooling';
export type {
  PoolingDataFormat,
  ScaledPooling2DArgs,
  ScaledL2NormPooling2DArgs,
  ScaledGlobalPooling2DArgs,
  ScaledGlobalL2NormPooling2DArgs,
} from './pooling';
export { InvertibleDownSampling, InvertibleUpSampling, invertibleDownSampling, invertibleUpSampling } from './resampling';
export type { InvertibleResamplingArgs, ResamplingDataFormat } from './resampling';
export { LipResidual, lipResidual } from './residual';
export type { LipResidualArgs } from './residual';
export { LayerCentering, BatchCentering, layerCentering, batchCentering } from './centering';
export type { LayerCenteringArgs, BatchCenteringArgs } from './centering';
export { BatchLipNorm, batchLipNorm } from './batch_lip_norm';
export type { BatchLipNormArgs } from './batch_lip_norm';
