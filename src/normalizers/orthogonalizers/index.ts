/**
 * The orthogonalizer registry: the name a layer gives (`orthogonalizer: 'bjorck' | 'none' |
 * 'polar'`) and the settings that go with it, turned into an {@link Orthogonalizer}. Adding a
 * method: one file implementing `Orthogonalizer`, one line in `REGISTRY` (docs/architecture.md).
 */
import { configError } from '../../core/errors';
import type { Orthogonalizer } from './types';
import { BjorckOrthogonalizer } from './bjorck';
import type { BjorckSettings } from './bjorck';
import { NoOrthogonalizer } from './none';
import { PolarOrthogonalizer } from './polar';

/** What a layer (or `reshapedKernelOrthogonalization`) says about its orthogonalizer. */
export interface OrthogonalizerSettings extends Omit<BjorckSettings, 'epsBjorck'> {
  /** The method: `'bjorck'` (default), `'none'`, `'polar'`. */
  orthogonalizer?: string;
  /** Björck's tolerance; `null` is DEEL-LIP's spelling of `orthogonalizer: 'none'`. */
  epsBjorck?: number | null;
}

const BJORCK_SETTINGS = ['epsBjorck', 'betaBjorck', 'maxIterBjorck', 'bjorckOrder'] as const;

/** Each method's factory; the settings are checked by the method itself. */
const REGISTRY: Readonly<Record<string, (settings: OrthogonalizerSettings) => Orthogonalizer>> = {
  bjorck: (s) =>
    new BjorckOrthogonalizer({ epsBjorck: s.epsBjorck ?? undefined, betaBjorck: s.betaBjorck, maxIterBjorck: s.maxIterBjorck, bjorckOrder: s.bjorckOrder }),
  none: () => new NoOrthogonalizer(),
  polar: () => new PolarOrthogonalizer(),
};

/** The registered method names. */
export const ORTHOGONALIZER_NAMES: readonly string[] = Object.freeze(Object.keys(REGISTRY));

/**
 * The orthogonalizer of `settings`: `orthogonalizer` names it; without it, `epsBjorck: null`
 * means `'none'` and anything else `'bjorck'`. Björck's settings with another method named
 * explicitly are a `LipschitzConfigError` (they would be ignored), except `epsBjorck: null`
 * with `'none'`. Without an explicit name, `betaBjorck`/`maxIterBjorck`/`bjorckOrder` next to `epsBjorck: null`
 * are accepted and unused, as DEEL-LIP does (and as configs saved before the option have them).
 */
export function createOrthogonalizer(settings: OrthogonalizerSettings = {}): Orthogonalizer {
  const named = settings.orthogonalizer;
  if (named === undefined || named === null) return REGISTRY[settings.epsBjorck === null ? 'none' : 'bjorck']!(settings);
  const factory = typeof named === 'string' ? REGISTRY[named] : undefined;
  if (factory === undefined) configError('orthogonalizer', `one of ${ORTHOGONALIZER_NAMES.map((n) => `'${n}'`).join(', ')}`, named);
  if (named !== 'bjorck') {
    const given = BJORCK_SETTINGS.find((key) => settings[key] !== undefined && !(key === 'epsBjorck' && settings[key] === null && named === 'none'));
    if (given !== undefined) configError(given, `to be left out with orthogonalizer '${named}' (it is a setting of 'bjorck')`, settings[given]);
  } else if (settings.epsBjorck === null) {
    configError('epsBjorck', "a number with orthogonalizer 'bjorck' (null means orthogonalizer 'none')", null);
  }
  return factory(settings);
}

export type { FusedProduct, FusedProductResult, Orthogonalizer, OrthogonalizeResult, SpectralSettings } from './types';
export type { BjorckSettings } from './bjorck';
export { BjorckOrthogonalizer } from './bjorck';
export { NoOrthogonalizer } from './none';
export { PolarOrthogonalizer, polarFactor } from './polar';
