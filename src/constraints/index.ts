/**
 * Weight constraints (`lip.constraints.*`), usable by tfjs built-in layers (`kernelConstraint`).
 * Semantics of DEEL-LIP `deel/lip/constraints.py`. tfjs-layers applies a constraint only when the
 * weight is set or loaded, never inside `model.fit`: they act after each optimizer step only with
 * `lip.callbacks.applyConstraints()` among `fit`'s callbacks (callbacks/apply_constraints.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { configError } from '../core/errors';
import { NORMALIZATION_OPTIONS } from '../core/normalization_args';
import type { LipschitzNormalizationArgs } from '../core/normalization_args';
import { reshapedKernelOrthogonalization } from '../normalizers/reshaped';
import { resolveSpectralSettings, spectralSettingsConfig, type SpectralNormalizationSettings } from '../normalizers/settings';
import { checkKnownKeys, checkPositiveFinite, serializableOptionNames, TFJS_DESERIALIZATION_OPTIONS } from '../core/validation';

/** tfjs-layers' Constraint instance type (the class itself is not exported). */
export type TflConstraint = ReturnType<typeof tfl.constraints.nonNeg>;

/** tfjs-layers' abstract `Constraint` base, reached through a built-in instance (for `instanceof`). */
const ConstraintBase = Object.getPrototypeOf(tfl.constraints.nonNeg().constructor) as (abstract new () => TflConstraint) &
  Pick<typeof tf.serialization.Serializable, 'fromConfig'>;

const SPECTRAL_CONSTRAINT_OPTIONS: readonly string[] = [...NORMALIZATION_OPTIONS, ...TFJS_DESERIALIZATION_OPTIONS];

/**
 * Sets every singular value of the kernel (reshaped `[-1, lastDim]`) to `kCoefLip`: spectral
 * normalization then the orthogonalizer (Björck by default, cold start each call). With
 * `orthogonalizer: 'none'` (`epsBjorck: null`) only the largest singular value is set.
 * Registered as `'SpectralConstraint'`.
 */
export class SpectralConstraint extends ConstraintBase {
  /** @nocollapse */
  static className = 'SpectralConstraint';
  readonly settings: SpectralNormalizationSettings;

  constructor(args: LipschitzNormalizationArgs = {}) {
    super();
    checkKnownKeys('constraints.spectral', args, SPECTRAL_CONSTRAINT_OPTIONS);
    this.settings = resolveSpectralSettings(args);
  }

  override apply(w: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const { kCoefLip, epsSpectral, maxIterSpectral, orthogonalizer } = this.settings;
      return reshapedKernelOrthogonalization(w, null, kCoefLip, { epsSpectral, maxIterSpectral, orthogonalizer }).wBar;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return spectralSettingsConfig(this.settings);
  }
}
tf.serialization.registerClass(SpectralConstraint);

/** Arguments of {@link FrobeniusConstraint}. */
export interface FrobeniusConstraintArgs {
  /** Added to the norm (default 1e-7). */
  eps?: number;
}

const FROBENIUS_CONSTRAINT_OPTIONS = serializableOptionNames<FrobeniusConstraintArgs>({ eps: true });

/** Divides the kernel by its Frobenius norm (plus `eps`). Registered as `'FrobeniusConstraint'`. */
export class FrobeniusConstraint extends ConstraintBase {
  /** @nocollapse */
  static className = 'FrobeniusConstraint';
  readonly eps: number;

  constructor(args: FrobeniusConstraintArgs = {}) {
    super();
    checkKnownKeys('constraints.frobenius', args, FROBENIUS_CONSTRAINT_OPTIONS);
    this.eps = checkPositiveFinite('eps', args.eps ?? 1e-7);
  }

  override apply(w: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.div(w, tf.add(tf.norm(w), this.eps)));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { eps: this.eps };
  }
}
tf.serialization.registerClass(FrobeniusConstraint);

/** Arguments of {@link WeightClipConstraint}. */
export interface WeightClipConstraintArgs {
  /** Clipping bound: weights are clipped to `[-cValue, cValue]` (default 2; DEEL-LIP's `c`). */
  cValue?: number;
}

const WEIGHT_CLIP_OPTIONS = serializableOptionNames<WeightClipConstraintArgs>({ cValue: true });

/** Clips every weight to `[-cValue, cValue]`. Registered as `'WeightClipConstraint'`. */
export class WeightClipConstraint extends ConstraintBase {
  /** @nocollapse */
  static className = 'WeightClipConstraint';
  readonly cValue: number;

  constructor(args: WeightClipConstraintArgs = {}) {
    super();
    checkKnownKeys('constraints.weightClip', args, WEIGHT_CLIP_OPTIONS);
    this.cValue = checkPositiveFinite('cValue', args.cValue ?? 2);
  }

  override apply(w: tf.Tensor): tf.Tensor {
    return tf.clipByValue(w, -this.cValue, this.cValue);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { cValue: this.cValue };
  }
}
tf.serialization.registerClass(WeightClipConstraint);

/** Arguments of {@link AutoWeightClipConstraint}. */
export interface AutoWeightClipConstraintArgs {
  /** Scaling factor (default 1): the bound is `1 / (scale * sqrt(size))`. */
  scale?: number;
}

const AUTO_WEIGHT_CLIP_OPTIONS = serializableOptionNames<AutoWeightClipConstraintArgs>({ scale: true });

/**
 * Clips every weight to `[-c, c]` with `c = 1 / (scale * sqrt(number of elements))`, as DEEL-LIP's
 * `AutoWeightClipConstraint` (note: a larger `scale` clips tighter). Registered as
 * `'AutoWeightClipConstraint'`.
 */
export class AutoWeightClipConstraint extends ConstraintBase {
  /** @nocollapse */
  static className = 'AutoWeightClipConstraint';
  readonly scale: number;

  constructor(args: AutoWeightClipConstraintArgs = {}) {
    super();
    checkKnownKeys('constraints.autoWeightClip', args, AUTO_WEIGHT_CLIP_OPTIONS);
    this.scale = checkPositiveFinite('scale', args.scale ?? 1);
  }

  /** The clipping bound for a kernel of `size` elements. */
  bound(size: number): number {
    return 1 / (this.scale * Math.sqrt(size));
  }

  override apply(w: tf.Tensor): tf.Tensor {
    const c = this.bound(w.size);
    return tf.clipByValue(w, -c, c);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { scale: this.scale };
  }
}
tf.serialization.registerClass(AutoWeightClipConstraint);

/** Every singular value of the kernel set to `kCoefLip` (spectral normalization + Björck). */
export function spectral(args: LipschitzNormalizationArgs = {}): SpectralConstraint {
  return new SpectralConstraint(args);
}

/** Kernel divided by its Frobenius norm. */
export function frobenius(args: FrobeniusConstraintArgs = {}): FrobeniusConstraint {
  return new FrobeniusConstraint(args);
}

/** Weights clipped to `[-cValue, cValue]`. */
export function weightClip(args: WeightClipConstraintArgs = {}): WeightClipConstraint {
  if (typeof args !== 'object' || args === null) configError('weightClip', 'an object {cValue}', args);
  return new WeightClipConstraint(args);
}

/** Weights clipped to `[-c, c]`, `c = 1 / (scale * sqrt(size))`. */
export function autoWeightClip(args: AutoWeightClipConstraintArgs = {}): AutoWeightClipConstraint {
  return new AutoWeightClipConstraint(args);
}

export { projection, ProjectionConstraint } from './projection';
export type { Projection, ProjectionConstraintArgs } from './projection';
