/** Construction-time checks shared by every layer; each throws `LipschitzConfigError`. */
import { configError } from './errors';

/** A finite number > 0 (kCoefLip, epsSpectral, ...). */
export function checkPositiveFinite(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    configError(name, 'a finite number > 0', value);
  }
  return value;
}

/** An integer >= 1 (units, filters, maxIterSpectral, ...). */
export function checkPositiveInt(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    configError(name, 'a positive integer', value);
  }
  return value;
}

/** One positive integer (used twice) or a pair of positive integers (poolSize, strides, ...). */
export function checkPositiveIntPair(name: string, value: unknown): [number, number] {
  if (typeof value === 'number') {
    checkPositiveInt(name, value);
    return [value, value];
  }
  if (
    Array.isArray(value) &&
    value.length === 2 &&
    value.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 1)
  ) {
    return [value[0] as number, value[1] as number];
  }
  return configError(name, 'a positive integer or a pair of positive integers', value);
}

/** A number in the half-open interval (low, high]. */
export function checkInLeftOpenRange(name: string, value: unknown, low: number, high: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= low || value > high) {
    configError(name, `a number in (${low}, ${high}]`, value);
  }
  return value;
}

/** One of a fixed set of string values. */
export function checkOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    configError(name, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value);
  }
  return value as T;
}

/** A boolean. */
export function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') configError(name, 'a boolean', value);
  return value;
}

/**
 * tfjs activation identifiers whose Lipschitz constant is at most 1 (so composing them with a
 * k-Lipschitz linear map keeps the bound k). `softmax` is 1/2-Lipschitz in L2; `hardSigmoid` has
 * slope 0.2; `relu6` and `elu` (alpha 1) have slopes in [0, 1].
 */
export const ONE_LIPSCHITZ_ACTIVATIONS = [
  'linear',
  'relu',
  'relu6',
  'sigmoid',
  'tanh',
  'softsign',
  'softplus',
  'softmax',
  'hardSigmoid',
  'elu',
] as const;

/**
 * Returns the activation identifier if it is 1-Lipschitz (undefined/null mean linear), else
 * throws. `selu` (slope 1.76), `exponential`, `swish` (1.1), `gelu` (1.13) and `mish` (1.09)
 * are rejected.
 */
export function checkActivation(name: string, value: unknown): string {
  if (value === undefined || value === null) return 'linear';
  if (typeof value !== 'string' || !(ONE_LIPSCHITZ_ACTIVATIONS as readonly string[]).includes(value)) {
    configError(
      name,
      `a 1-Lipschitz activation (${ONE_LIPSCHITZ_ACTIVATIONS.map((a) => `'${a}'`).join(', ')})`,
      value,
    );
  }
  return value;
}
