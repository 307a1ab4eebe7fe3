/**
 * The settings of a spectral normalization (a layer's, the spectral initializer's, the spectral
 * constraint's), validated, with the orthogonalizer built from its name: the one place where
 * `epsSpectral`, `maxIterSpectral`, `kCoefLip` and the orthogonalizer options are resolved.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_EPS_SPECTRAL, DEFAULT_K_COEF_LIP, DEFAULT_MAX_ITER_SPECTRAL } from '../core/defaults';
import type { LipschitzNormalizationArgs } from '../core/normalization_args';
import { checkPositiveFinite, checkPositiveInt } from '../core/validation';
import { createOrthogonalizer, type Orthogonalizer } from './orthogonalizers';

/** Resolved settings of a spectral normalization. */
export interface SpectralNormalizationSettings {
  kCoefLip: number;
  epsSpectral: number;
  maxIterSpectral: number;
  orthogonalizer: Orthogonalizer;
}

/** Validates the settings (defaults: DEEL-LIP's); throws `LipschitzConfigError` naming the first bad one. */
export function resolveSpectralSettings(args: LipschitzNormalizationArgs): SpectralNormalizationSettings {
  return {
    kCoefLip: checkPositiveFinite('kCoefLip', args.kCoefLip ?? DEFAULT_K_COEF_LIP),
    epsSpectral: checkPositiveFinite('epsSpectral', args.epsSpectral ?? DEFAULT_EPS_SPECTRAL),
    maxIterSpectral: checkPositiveInt('maxIterSpectral', args.maxIterSpectral ?? DEFAULT_MAX_ITER_SPECTRAL),
    orthogonalizer: createOrthogonalizer(args),
  };
}

/** The settings as a config writes them (what `resolveSpectralSettings` reads back). */
export function spectralSettingsConfig(settings: SpectralNormalizationSettings): tf.serialization.ConfigDict {
  const { kCoefLip, epsSpectral, maxIterSpectral, orthogonalizer } = settings;
  return { kCoefLip, epsSpectral, maxIterSpectral, orthogonalizer: orthogonalizer.name, ...orthogonalizer.config() };
}
