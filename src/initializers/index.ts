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
import { configError } from '../core/errors';
import { resolveNormalizationArgs } from '../core/normalization_args';
import { reshapedKernelOrthogonalization } from '../normalizers/reshaped';
import { checkKnownKeys, serializableOptionNames } from '../core/validation';

/** tfjs-layers' Initializer instance type (the class itself is not exported). */
export type TflInitializer = ReturnType<typeof tfl.initializers.ones>;
/** tfjs-layers' Regularizer instance type. */
export type TflRegularizer = ReturnType<typeof tfl.regularizers.l2>;

/**
 * tfjs-layers' abstract `Initializer` base class, reached through a built-in instance so that
 * `instanceof` checks in tfjs-layers accept tfjs-lip initializers (it has no fields of its own).
 */
const InitializerBase = Object.getPrototypeOf(tfl.initializers.zeros().constructor) as (abstract new () => TflInitializer) &
  Pick<typeof tf.serialization.Serializable, 'fromConfig'>;

/**
 * A serialized tfjs object: `{className, config}` (a type alias, not an interface, so that it is
 * assignable to tfjs' `ConfigDictValue` in `getConfig()`).
 */
export type SerializedObject = {
  className: string;
  config: tf.serialization.ConfigDict;
};

/** `{className, config}` of a serializable object (null stays null). */
export function serializeObject(obj: tf.serialization.Serializable | null | undefined): SerializedObject | null {
  if (obj == null) return null;
  return { className: obj.getClassName(), config: obj.getConfig() };
}

/** Builds a registered serializable object from `{className, config}`. */
export function deserializeObject<T>(name: string, value: SerializedObject): T {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[value.className];
  if (entry == null) configError(name, 'a registered class name', value.className);
  const [cls, fromConfig] = entry;
  return fromConfig(cls, value.config ?? {}) as unknown as T;
}

function isSerializedObject(value: unknown): value is SerializedObject {
  return typeof value === 'object' && value !== null && typeof (value as { className?: unknown }).className === 'string';
}

/**
 * An Initializer from what tfjs layers accept: an instance, an identifier (`'glorotUniform'`,
 * `'zeros'`, a registered class name such as `'SpectralInitializer'`), or `{className, config}`.
 */
export function toInitializer(name: string, value: unknown, fallback: () => TflInitializer): TflInitializer {
  if (value == null) return fallback();
  return fromIdentifier<TflInitializer>(name, value, tfl.initializers, 'an initializer');
}

/** A Regularizer (or null) from an instance, `'l1'`/`'l2'`/`'l1l2'`, or `{className, config}`. */
export function toRegularizer(name: string, value: unknown): TflRegularizer | null {
  if (value == null) return null;
  return fromIdentifier<TflRegularizer>(name, value, tfl.regularizers, 'a regularizer');
}

/**
 * A tfjs object from a non-null `value`: an instance (it has `apply`), the name of a factory in
 * `factories` (called with `{}`), a registered class name, or `{className, config}`; anything
 * else throws naming `name` and `what` (e.g. 'an initializer').
 */
function fromIdentifier<T>(name: string, value: unknown, factories: object, what: string): T {
  if (typeof value === 'object' && typeof (value as { apply?: unknown }).apply === 'function') return value as T;
  if (typeof value === 'string') {
    const factory = (factories as Record<string, unknown>)[value];
    if (typeof factory === 'function') return (factory as (args: object) => T)({});
    return deserializeObject<T>(name, { className: value, config: {} });
  }
  if (isSerializedObject(value)) return deserializeObject<T>(name, value);
  return configError(name, `${what}, its identifier or its {className, config}`, value);
}

/** Björck tolerance of the spectral initializer (it runs once, so it converges fully). */
const INIT_EPS_BJORCK = 1e-6;

/** Arguments of {@link SpectralInitializer} (DEEL-LIP's, in tfjs casing). */
export interface SpectralInitializerArgs {
  /** Power-iteration tolerance (default 1e-3). */
  epsSpectral?: number;
  /**
   * Björck tolerance; `null` disables Björck (only the largest singular value is set). Default
   * 1e-6, tighter than the layers' 1e-3: initialization runs once, and a square Gaussian draw is
   * badly conditioned, so 1e-3 can stop with singular values 1e-3 away from `kCoefLip`.
   */
  epsBjorck?: number | null;
  /** Björck step size in (0, 0.5] (default 0.5). */
  betaBjorck?: number;
  /** Lipschitz constant of the initial kernel (default 1). */
  kCoefLip?: number;
  /** Maximum power iterations (default 50: initialization runs once, so it converges fully). */
  maxIterSpectral?: number;
  /** Maximum Björck iterations (default 100). */
  maxIterBjorck?: number;
  /** Base initializer drawn before orthogonalization (default random normal, mean 0, stddev 1). */
  baseInitializer?: unknown;
}

const SPECTRAL_INITIALIZER_OPTIONS = serializableOptionNames<SpectralInitializerArgs>({
  epsSpectral: true,
  epsBjorck: true,
  betaBjorck: true,
  kCoefLip: true,
  maxIterSpectral: true,
  maxIterBjorck: true,
  baseInitializer: true,
});

/**
 * Orthogonal (all singular values `kCoefLip`) kernel initializer, for kernels of any rank seen as
 * `[-1, lastDim]`. Registered as `'SpectralInitializer'`.
 */
export class SpectralInitializer extends InitializerBase {
  /** @nocollapse */
  static className = 'SpectralInitializer';
  readonly epsSpectral: number;
  readonly epsBjorck: number | null;
  readonly betaBjorck: number;
  readonly kCoefLip: number;
  readonly maxIterSpectral: number;
  readonly maxIterBjorck: number;
  readonly baseInitializer: TflInitializer;

  constructor(args: SpectralInitializerArgs = {}) {
    super();
    checkKnownKeys('initializers.spectral', args, SPECTRAL_INITIALIZER_OPTIONS);
    const resolved = resolveNormalizationArgs({
      kCoefLip: args.kCoefLip ?? DEFAULT_K_COEF_LIP,
      epsSpectral: args.epsSpectral ?? DEFAULT_EPS_SPECTRAL,
      epsBjorck: args.epsBjorck === undefined ? INIT_EPS_BJORCK : args.epsBjorck,
      betaBjorck: args.betaBjorck ?? DEFAULT_BETA_BJORCK,
      maxIterSpectral: args.maxIterSpectral ?? 50,
      maxIterBjorck: args.maxIterBjorck ?? 100,
    });
    this.epsSpectral = resolved.epsSpectral;
    this.epsBjorck = resolved.epsBjorck;
    this.betaBjorck = resolved.betaBjorck;
    this.kCoefLip = resolved.kCoefLip;
    this.maxIterSpectral = resolved.maxIterSpectral;
    this.maxIterBjorck = resolved.maxIterBjorck;
    this.baseInitializer = toInitializer('baseInitializer', args.baseInitializer, () =>
      tfl.initializers.randomNormal({ mean: 0, stddev: 1 }),
    );
  }

  override apply(shape: number[], dtype?: tf.DataType): tf.Tensor {
    return tf.tidy(() => {
      const base = this.baseInitializer.apply(shape, dtype);
      const res = reshapedKernelOrthogonalization(base, null, this.kCoefLip, {
        epsSpectral: this.epsSpectral,
        epsBjorck: this.epsBjorck,
        betaBjorck: this.betaBjorck,
        maxIterSpectral: this.maxIterSpectral,
        maxIterBjorck: this.maxIterBjorck,
      });
      return res.wBar;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      epsSpectral: this.epsSpectral,
      epsBjorck: this.epsBjorck,
      betaBjorck: this.betaBjorck,
      kCoefLip: this.kCoefLip,
      maxIterSpectral: this.maxIterSpectral,
      maxIterBjorck: this.maxIterBjorck,
      baseInitializer: serializeObject(this.baseInitializer),
    };
  }
}
tf.serialization.registerClass(SpectralInitializer);

/** Orthogonal kernel initializer: every singular value of the `[-1, lastDim]` kernel is `kCoefLip`. */
export function spectral(args: SpectralInitializerArgs = {}): SpectralInitializer {
  return new SpectralInitializer(args);
}
