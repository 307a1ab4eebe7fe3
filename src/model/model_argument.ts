/**
 * The check behind every `model` argument of the model-level functions (`lipschitzBound`,
 * `certify`, `saveModel`): a tfjs LayersModel, with a pointer to the per-layer method when a
 * single layer was given instead.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { configError, describeValue, LipschitzConfigError } from '../core/errors';
import { isContainer } from '../core/graph';

const MODEL_EXPECTED = 'a tfjs LayersModel (tf.sequential / tf.model / lip.sequential)';

/** True for a tfjs layer object (anything with `getClassName()` and `apply()`). */
function isLayerObject(value: unknown): value is tfl.layers.Layer {
  const v = value as { getClassName?: unknown; apply?: unknown } | null;
  return typeof v === 'object' && v !== null && typeof v.getClassName === 'function' && typeof v.apply === 'function';
}

/**
 * Throws `LipschitzConfigError` `<what> model expected a tfjs LayersModel (...), but got V.`
 * unless `model` is a LayersModel. For a single layer the message adds `layerHint` (how to do
 * the same for one layer), when given.
 */
export function checkModelArgument(what: string, model: unknown, layerHint?: string): asserts model is tfl.LayersModel {
  if (isContainer(model)) return;
  if (isLayerObject(model) && layerHint !== undefined) {
    throw new LipschitzConfigError(`${what} model expected ${MODEL_EXPECTED}, but got ${describeValue(model)}; ${layerHint}.`);
  }
  configError(`${what} model`, MODEL_EXPECTED, model);
}
