/** Test helpers of the toolkit tests: weights of a layer by their name. */
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

/** The weight of `layer` whose name (last path segment) is `name` ('kernel', 'w_bar', ...). */
export function weightByName(layer: tfl.layers.Layer, name: string): tfl.LayerVariable {
  const w = layer.weights.find((v) => (v.originalName ?? v.name).split('/').pop() === name);
  if (w === undefined) throw new Error(`layer ${layer.name} has no weight '${name}' (has ${layer.weights.map((v) => v.originalName).join(', ')})`);
  return w;
}

/** Current value of a named weight (a live tensor, do not dispose). */
export function readWeight(layer: tfl.layers.Layer, name: string): tf.Tensor {
  return weightByName(layer, name).read();
}
