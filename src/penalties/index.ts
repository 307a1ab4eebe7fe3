/**
 * Penalties (`lip.penalties.*`) for `lip.train.fit`: data-dependent terms added to the training
 * loss (CLIP, Tulip's gradient norm; issue 12; LNets' Jacobian spectral norm, issue 15). Formulas, defaults and costs:
 * docs/training_methods.md.
 */
export { clip } from './clip';
export type { ClipArgs } from './clip';
export type { ClipInit } from './clip_pairs';
export { gradientNorm } from './gradient_norm';
export type { GradientNormArgs } from './gradient_norm';
export type { PenaltyNorm } from './common';
export { jacobianSpectral } from './jacobian_spectral';
export type { JacobianSpectralArgs } from './jacobian_spectral';
