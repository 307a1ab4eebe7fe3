/**
 * The finite-weights check of `vanillaExport`, `saveModel` and `certify`. One NaN pixel in a
 * training batch turns every weight NaN in one optimizer step, and nothing in tfjs says so: the
 * model then predicts NaN, `lipschitzBound` returns NaN, and an export or a save writes the NaN
 * weights out as if they were a model. This check names the first bad weight instead.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { LipschitzConfigError } from '../core/errors';
import { requireBackend } from '../backend/require_backend';

type Layer = tfl.layers.Layer;

/** A weight holding a value that is not finite: where, what and how many. */
export interface NonFiniteWeight {
  /** The (innermost) layer owning the weight. */
  layer: Layer;
  /** The weight's name as saved (`dense_1/kernel`, its `originalName`). */
  weight: string;
  /** Flat index of the first non-finite value. */
  index: number;
  /** That value (NaN, Infinity or -Infinity). */
  value: number;
  /** How many values of the weight are not finite. */
  count: number;
  /** Number of values of the weight. */
  size: number;
}

/** Every (innermost) layer of a model or layer, nested models walked into, each once. */
function leafLayers(root: { layers?: unknown }, out: Layer[] = [], seen = new Set<Layer>()): Layer[] {
  const layers = root.layers;
  if (!Array.isArray(layers)) return out;
  for (const layer of layers as Layer[]) {
    if (seen.has(layer)) continue;
    seen.add(layer);
    if (Array.isArray((layer as { layers?: unknown }).layers)) leafLayers(layer as { layers?: unknown }, out, seen);
    else out.push(layer);
  }
  return out;
}

/** The first non-finite value of one weight, or null (integer and boolean weights are skipped). */
function scanWeight(layer: Layer, weight: tfl.LayerVariable): NonFiniteWeight | null {
  if (weight.dtype !== 'float32') return null;
  const values = weight.read().dataSync() as Float32Array;
  let first = -1;
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    // v - v is 0 for a finite v and NaN for NaN and +-Infinity: one comparison per value.
    const v = values[i] as number;
    if (v - v !== 0) {
      if (first < 0) first = i;
      count++;
    }
  }
  if (first < 0) return null;
  return { layer, weight: weight.originalName ?? weight.name, index: first, value: values[first] as number, count, size: values.length };
}

/**
 * The first weight of `model` (a LayersModel, nested models included, or a single layer) holding
 * a NaN or an infinity, in layer order; null when every weight is finite. Reads each weight once.
 */
export function findNonFiniteWeight(model: unknown): NonFiniteWeight | null {
  if (typeof model !== 'object' || model === null) return null;
  const layers = Array.isArray((model as { layers?: unknown }).layers)
    ? leafLayers(model as { layers?: unknown })
    : typeof (model as { getClassName?: unknown }).getClassName === 'function'
      ? [model as Layer]
      : [];
  const seen = new Set<tfl.LayerVariable>();
  for (const layer of layers) {
    const weights = (layer as { weights?: unknown }).weights;
    if (!Array.isArray(weights)) continue;
    for (const weight of weights as tfl.LayerVariable[]) {
      if (seen.has(weight)) continue;
      seen.add(weight);
      const bad = scanWeight(layer, weight);
      if (bad !== null) return bad;
    }
  }
  return null;
}

/**
 * Throws `LipschitzConfigError` naming `what` (the calling function), the layer, the weight and
 * the first bad value when a weight of `model` is not finite; first checks that a tfjs backend
 * is set (see `requireBackend`). Anything that is neither a model nor a layer passes, for the
 * caller's own argument check to report.
 */
export function assertFiniteWeights(model: unknown, what: string): void {
  requireBackend(what);
  const bad = findNonFiniteWeight(model);
  if (bad === null) return;
  const spread = bad.count === bad.size ? `all ${bad.size} values` : `${bad.count} of ${bad.size} values`;
  throw new LipschitzConfigError(
    `${what}: layer '${bad.layer.name}' (${bad.layer.getClassName()}) has a non-finite weight '${bad.weight}' ` +
      `(${bad.value} at index ${bad.index}; ${spread} non-finite); a model with non-finite weights predicts NaN ` +
      'and cannot be certified, exported or saved. Was it trained on inputs or labels with NaN/Infinity, or with ' +
      'too high a learning rate? lip.callbacks.terminateOnNaN() stops fit at the first non-finite loss.',
  );
}
