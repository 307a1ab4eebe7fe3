/**
 * The normalization settings shared by every spectral layer (dense and convolutional), with
 * their construction-time validation.
 */
import {
  DEFAULT_BETA_BJORCK,
  DEFAULT_EPS_BJORCK,
  DEFAULT_EPS_SPECTRAL,
  DEFAULT_K_COEF_LIP,
  DEFAULT_MAX_ITER_BJORCK,
  DEFAULT_MAX_ITER_SPECTRAL,
} from './defaults';
import { configError } from './errors';
import { checkInLeftOpenRange, checkPositiveFinite, checkPositiveInt, optionNames } from './validation';

/** Options of the spectral/Björck normalization, in DEEL-LIP's names. */
export interface LipschitzNormalizationArgs {
  /** Lipschitz constant of the layer (default 1). */
  kCoefLip?: number;
  /** Stopping tolerance of the power iteration (default 1e-3). */
  epsSpectral?: number;
  /** Stopping tolerance of Björck orthonormalization; `null` disables Björck (default 1e-3). */
  epsBjorck?: number | null;
  /** Björck step size, in (0, 0.5] (default 0.5). */
  betaBjorck?: number;
  /** Maximum number of power iterations (default 10). */
  maxIterSpectral?: number;
  /** Maximum number of Björck iterations (default 15). */
  maxIterBjorck?: number;
}

/** The same settings, validated and with defaults filled in. */
export interface ResolvedNormalizationArgs {
  kCoefLip: number;
  epsSpectral: number;
  epsBjorck: number | null;
  betaBjorck: number;
  maxIterSpectral: number;
  maxIterBjorck: number;
}

/** Validates the normalization settings; throws `LipschitzConfigError` naming the first bad one. */
export function resolveNormalizationArgs(args: LipschitzNormalizationArgs): ResolvedNormalizationArgs {
  const epsBjorck = args.epsBjorck === undefined ? DEFAULT_EPS_BJORCK : args.epsBjorck;
  if (epsBjorck !== null) checkPositiveFinite('epsBjorck', epsBjorck);
  return {
    kCoefLip: checkPositiveFinite('kCoefLip', args.kCoefLip ?? DEFAULT_K_COEF_LIP),
    epsSpectral: checkPositiveFinite('epsSpectral', args.epsSpectral ?? DEFAULT_EPS_SPECTRAL),
    epsBjorck,
    betaBjorck: checkInLeftOpenRange('betaBjorck', args.betaBjorck ?? DEFAULT_BETA_BJORCK, 0, 0.5),
    maxIterSpectral: checkPositiveInt('maxIterSpectral', args.maxIterSpectral ?? DEFAULT_MAX_ITER_SPECTRAL),
    maxIterBjorck: checkPositiveInt('maxIterBjorck', args.maxIterBjorck ?? DEFAULT_MAX_ITER_BJORCK),
  };
}

/** Rejects a kernel constraint: the normalization owns the kernel, a constraint would rewrite it. */
export function rejectKernelConstraint(value: unknown): void {
  if (value !== undefined && value !== null) {
    configError('kernelConstraint', 'none (the layer normalizes its own kernel)', value);
  }
}

/** `kCoefLip` values given explicitly at construction, by layer (see {@link noteGivenKCoefLip}). */
const givenKCoefLip = new WeakMap<object, number>();

/**
 * Records the `kCoefLip` a layer was constructed with, when one was given (`lip.sequential` then
 * requires it to equal the share the model gives the layer). A layer rebuilt from its config
 * (`fromConfig`) counts as given, since `getConfig()` always writes `kCoefLip`.
 */
export function noteGivenKCoefLip(layer: object, value: unknown): void {
  if (typeof value === 'number') givenKCoefLip.set(layer, value);
}

/** The `kCoefLip` a layer was constructed with, or `undefined` when it was left out. */
export function givenKCoefLipOf(layer: object): number | undefined {
  return givenKCoefLip.get(layer);
}

/** The names of {@link LipschitzNormalizationArgs}, as flags (for the layers' option lists). */
export const NORMALIZATION_OPTION_FLAGS: { readonly [K in keyof LipschitzNormalizationArgs]-?: true } = {
  kCoefLip: true,
  epsSpectral: true,
  epsBjorck: true,
  betaBjorck: true,
  maxIterSpectral: true,
  maxIterBjorck: true,
};

/** The names of {@link LipschitzNormalizationArgs}. */
export const NORMALIZATION_OPTIONS: readonly string[] = optionNames<LipschitzNormalizationArgs>(NORMALIZATION_OPTION_FLAGS);
