/**
 * tfjs objects from what tfjs layers accept as their settings (an instance, an identifier such as
 * `'glorotUniform'` or a registered class name, or `{className, config}`), and back to
 * `{className, config}` for `getConfig()`. Shared by the layers and the initializers; internal
 * (not re-exported by any barrel).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { configError } from './errors';

/** tfjs-layers' Initializer instance type (the class itself is not exported). */
export type TflInitializer = ReturnType<typeof tfl.initializers.ones>;
/** tfjs-layers' Regularizer instance type. */
export type TflRegularizer = ReturnType<typeof tfl.regularizers.l2>;

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
    if (tf.serialization.SerializationMap.getMap().classNameMap[value] == null) {
      configError(name, `${what}: a tfjs identifier or a registered class name`, value);
    }
    return deserializeObject<T>(name, { className: value, config: {} });
  }
  if (isSerializedObject(value)) return deserializeObject<T>(name, value);
  return configError(name, `${what}, its identifier or its {className, config}`, value);
}

/** tfjs-layers' Constraint instance type. */
export type TflConstraint = ReturnType<typeof tfl.constraints.nonNeg>;

/** A Constraint (or null) from an instance, `'nonNeg'`/`'unitNorm'`/..., or `{className, config}`. */
export function toConstraint(name: string, value: unknown): TflConstraint | null {
  if (value == null) return null;
  return fromIdentifier<TflConstraint>(name, value, tfl.constraints, 'a constraint');
}
