/** Construction-time checks shared by every layer and factory; each throws `LipschitzConfigError`. */
import type * as tfl from '@tensorflow/tfjs-layers';
import { ONE_LIPSCHITZ_ACTIVATIONS } from './activations';
import { configError, LipschitzConfigError } from './errors';

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

/** Checks an integer >= 0 (a count of epochs, an index) and returns it. */
export function checkNonNegativeInt(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) configError(name, 'an integer >= 0', value);
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
 * Returns the activation identifier if it is 1-Lipschitz (undefined/null mean linear), else
 * throws. The list is `ONE_LIPSCHITZ_ACTIVATIONS` of `core/activations.ts`: `selu` (slope 1.76),
 * `exponential`, `swish` (1.1), `gelu` (1.13) and `mish` (1.09) are rejected.
 */
export function checkActivation(name: string, value: unknown): string {
  if (value === undefined || value === null) return 'linear';
  if (typeof value !== 'string' || !ONE_LIPSCHITZ_ACTIVATIONS.includes(value)) {
    configError(
      name,
      `a 1-Lipschitz activation (${ONE_LIPSCHITZ_ACTIVATIONS.map((a) => `'${a}'`).join(', ')})`,
      value,
    );
  }
  return value;
}

/** Options every tfjs layer accepts (`inputShape`, `name`, `trainable`, ...). */
export type TfjsLayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;

/**
 * The names of an options interface `T`, written as an object literal with one `true` per name:
 * the compiler rejects a missing name and an extra one, so the list cannot drift from `T`.
 */
export function optionNames<T extends object>(names: { [K in keyof T]-?: true }): readonly string[] {
  return Object.freeze(Object.keys(names));
}

/** The options every tfjs layer accepts (tfjs-layers' `LayerArgs`), checked against its type. */
export const TFJS_LAYER_OPTIONS: readonly string[] = optionNames<TfjsLayerArgs>({
  inputShape: true,
  batchInputShape: true,
  batchSize: true,
  dtype: true,
  name: true,
  trainable: true,
  weights: true,
  inputDType: true,
});

/**
 * What tfjs' deserialization adds to the config it passes to a registered class's constructor
 * (`customObjects`, the custom classes in scope), so a constructor called by `fromConfig` must
 * accept it besides its own options.
 */
export const TFJS_DESERIALIZATION_OPTIONS: readonly string[] = Object.freeze(['customObjects']);

/**
 * The option names of a registered (serializable) class: `names`, checked by the compiler as in
 * {@link optionNames}, followed by {@link TFJS_DESERIALIZATION_OPTIONS}.
 */
export function serializableOptionNames<T extends object>(names: { [K in keyof T]-?: true }): readonly string[] {
  return Object.freeze([...Object.keys(names), ...TFJS_DESERIALIZATION_OPTIONS]);
}

/**
 * The option names of a layer: its own (those of `T` that tfjs' `LayerArgs` lacks, checked by the
 * compiler as in {@link optionNames}), then {@link TFJS_LAYER_OPTIONS} and
 * {@link TFJS_DESERIALIZATION_OPTIONS}.
 */
export function layerOptionNames<T extends TfjsLayerArgs>(
  own: { [K in Exclude<keyof T, keyof TfjsLayerArgs>]: true },
): readonly string[] {
  return Object.freeze([...Object.keys(own), ...TFJS_LAYER_OPTIONS, ...TFJS_DESERIALIZATION_OPTIONS]);
}

/** Lower case without `_`, `-` or spaces: `k_coef_lip`, `kcoeflip` and `kCoefLip` all give `kcoeflip`. */
function foldName(name: string): string {
  return name.toLowerCase().replace(/[_\-\s]/g, '');
}

/** Levenshtein distance (insertions, deletions, substitutions), two rows. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The known name closest to `name` by edit distance, ignoring case, `_` and `-`; `undefined` when
 * even the closest needs more than max(1, length / 3) edits (nothing is close).
 */
export function closestName(name: string, known: readonly string[]): string | undefined {
  const folded = foldName(name);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = editDistance(folded, foldName(candidate));
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(folded.length / 3)) ? best : undefined;
}

/**
 * Throws `LipschitzConfigError` when the options object `args` of `owner` (a factory name such
 * as `spectralDense`) has a key outside `known` whose value is not `undefined`, with the closest
 * known name: `spectralDense: unknown option 'k_coef_lip' (did you mean 'kCoefLip'?).` When no
 * unknown key has a close known name, the message lists the known ones (less tfjs' internal
 * `customObjects`). `undefined` (no options) passes; anything else that is not a plain object
 * throws `${owner} options expected an object of options, but got 5.`
 */
export function checkKnownKeys(owner: string, args: unknown, known: readonly string[]): void {
  if (args === undefined) return;
  if (typeof args !== 'object' || args === null || Array.isArray(args)) configError(`${owner} options`, 'an object of options', args);
  const record = args as Record<string, unknown>;
  const unknown = Object.keys(record).filter((key) => !known.includes(key) && record[key] !== undefined);
  if (unknown.length === 0) return;
  const suggestions = unknown.map((key) => closestName(key, known));
  const listed = unknown.map((key, i) => {
    const suggestion = suggestions[i];
    return suggestion === undefined ? `'${key}'` : `'${key}' (did you mean '${suggestion}'?)`;
  });
  const shown = known.filter((k) => !TFJS_DESERIALIZATION_OPTIONS.includes(k));
  const knownList = suggestions.every((s) => s === undefined) ? ` Known options: ${shown.map((k) => `'${k}'`).join(', ')}.` : '';
  throw new LipschitzConfigError(
    `${owner}: unknown option${unknown.length > 1 ? 's' : ''} ${listed.join(', ')}.${knownList}`,
  );
}
