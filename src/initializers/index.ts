/**
 * Initializers (`lip.initializers.*`), usable by tfjs built-in layers too.
 *
 * `spectral()`: DEEL-LIP's `SpectralInitializer`: draws a kernel with a base initializer, then
 * applies the reshaped kernel orthogonalization, so the kernel starts (reshaped to
 * `[-1, lastDim]`) with every singular value equal to `kCoefLip`. With the default Gaussian base
 * the result is a uniformly distributed (Haar) orthogonal matrix: the polar factor of a Gaussian
 * matrix. (tfjs's own `orthogonal` initializer needs the chained tensor methods, which are not
 * registered when only tfjs-core is imported, and its QR is slow on large kernels.)
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { DEFAULT_BETA_BJORCK, DEFAULT_EPS_BJORCK, DEFAULT_EPS_SPECTRAL, DEFAULT_K_COEF_LIP } from '../core/defaults';
import { NORMALIZATION_OPTION_FLAGS, type LipschitzNormalizationArgs } from '../core/normalization_args';
import { resolveSpectralSettings, spectralSettingsConfig, type SpectralNormalizationSettings } from '../normalizers/settings';
import { serializeObject, toInitializer } from '../core/serialization';
import type { TflInitializer } from '../core/serialization';
import { reshapedKernelOrthogonalization } from '../normalizers/reshaped';
import { checkKnownKeys, serializableOptionNames } from '../core/validation';

export type { TflInitializer, TflRegularizer } from '../core/serialization';

/**
 * tfjs-layers' abstract `Initializer` base class, reached through a built-in instance so that
 * `instanceof` checks in tfjs-layers accept tfjs-lip initializers (it has no fields of its own).
 */
const InitializerBase = Object.getPrototypeOf(tfl.initializers.zeros().constructor) as (abstract new () => TflInitializer) &
  Pick<typeof tf.serialization.Serializable, 'fromConfig'>;

/** Björck tolerance of the spectral initializer (it runs once, so it converges fully). */
const INIT_EPS_BJORCK = 1e-6;

/** Arguments of {@link SpectralInitializer} (DEEL-LIP's, in tfjs casing). */
export interface SpectralInitializerArgs extends LipschitzNormalizationArgs {
  /**
   * Björck tolerance (with the default orthogonalizer); `null`: only the largest singular value is
   * set. Default 1e-6, tighter than the layers' 1e-3: initialization runs once, and a square
   * Gaussian draw is badly conditioned, so 1e-3 can stop with singular values 1e-3 away from
   * `kCoefLip`.
   */
  epsBjorck?: number | null;
  /** Maximum power iterations (default 50: initialization runs once, so it converges fully). */
  maxIterSpectral?: number;
  /** Maximum Björck iterations (default 100). */
  maxIterBjorck?: number;
  /** Base initializer drawn before orthogonalization (default random normal, mean 0, stddev 1). */
  baseInitializer?: unknown;
}

const SPECTRAL_INITIALIZER_OPTIONS = serializableOptionNames<SpectralInitializerArgs>({
  ...NORMALIZATION_OPTION_FLAGS,
  baseInitializer: true,
});

/**
 * Orthogonal (all singular values `kCoefLip`) kernel initializer, for kernels of any rank seen as
 * `[-1, lastDim]`: a Gaussian draw, spectrally normalized and orthogonalized (Björck to 1e-6 by
 * default; any orthogonalizer). Registered as `'SpectralInitializer'`.
 */
export class SpectralInitializer extends InitializerBase {
  /** @nocollapse */
  static className = 'SpectralInitializer';
  readonly settings: SpectralNormalizationSettings;
  readonly baseInitializer: TflInitializer;

  constructor(args: SpectralInitializerArgs = {}) {
    super();
    checkKnownKeys('initializers.spectral', args, SPECTRAL_INITIALIZER_OPTIONS);
    const bjorck = args.orthogonalizer === undefined || args.orthogonalizer === 'bjorck';
    this.settings = resolveSpectralSettings({
      ...args,
      maxIterSpectral: args.maxIterSpectral ?? 50,
      ...(bjorck && args.epsBjorck !== null ? { epsBjorck: args.epsBjorck ?? INIT_EPS_BJORCK, maxIterBjorck: args.maxIterBjorck ?? 100 } : {}),
    });
    this.baseInitializer = toInitializer('baseInitializer', args.baseInitializer, () =>
      tfl.initializers.randomNormal({ mean: 0, stddev: 1 }),
    );
  }

  override apply(shape: number[], dtype?: tf.DataType): tf.Tensor {
    return tf.tidy(() => {
      const base = this.baseInitializer.apply(shape, dtype);
      const { kCoefLip, epsSpectral, maxIterSpectral, orthogonalizer } = this.settings;
      return reshapedKernelOrthogonalization(base, null, kCoefLip, { epsSpectral, maxIterSpectral, orthogonalizer }).wBar;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...spectralSettingsConfig(this.settings), baseInitializer: serializeObject(this.baseInitializer) };
  }
}
tf.serialization.registerClass(SpectralInitializer);

/** Orthogonal kernel initializer: every singular value of the `[-1, lastDim]` kernel is `kCoefLip`. */
export function spectral(args: SpectralInitializerArgs = {}): SpectralInitializer {
  return new SpectralInitializer(args);
}
