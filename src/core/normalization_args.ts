/**
 * The option names of the spectral normalization shared by every spectral layer (dense and
 * convolutional), the spectral initializer and constraint (resolved by
 * `normalizers/settings.ts`), and the bookkeeping of an explicitly given `kCoefLip`.
 */
import { configError } from './errors';
import { optionNames } from './validation';

/** Options of the spectral normalization and its orthogonalizer, in DEEL-LIP's names. */
export interface LipschitzNormalizationArgs {
  /** Lipschitz constant of the layer (default 1). */
  kCoefLip?: number;
  /** Stopping tolerance of the power iteration (default 1e-3). */
  epsSpectral?: number;
  /** Maximum number of power iterations (default 10). */
  maxIterSpectral?: number;
  /**
   * How the spectrally normalized kernel is made orthonormal: `'bjorck'` (default; DEEL-LIP's
   * method, warm-started), `'polar'` (the exact polar factor), `'none'` (spectral normalization
   * only). See `lip.normalizers` and docs/normalizers.md.
   */
  orthogonalizer?: string;
  /** Björck's stopping tolerance (default 1e-3); `null` is DEEL-LIP's spelling of `orthogonalizer: 'none'`. */
  epsBjorck?: number | null;
  /** Björck's step size, in (0, 0.5] (default 0.5). */
  betaBjorck?: number;
  /** Maximum number of Björck iterations (default 15). */
  maxIterBjorck?: number;
  /**
   * Björck's Taylor order, 1 to 4 (LNets' `bjorck_order`; default 1, DEEL-LIP's update); orders
   * above 1 need `betaBjorck` 0.5. See docs/normalizers.md ("Björck orders").
   */
  bjorckOrder?: number;
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
  maxIterSpectral: true,
  orthogonalizer: true,
  epsBjorck: true,
  betaBjorck: true,
  maxIterBjorck: true,
  bjorckOrder: true,
};

/** The names of {@link LipschitzNormalizationArgs}. */
export const NORMALIZATION_OPTIONS: readonly string[] = optionNames<LipschitzNormalizationArgs>(NORMALIZATION_OPTION_FLAGS);
