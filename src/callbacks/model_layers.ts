/** The layers of a model as the callbacks see them. */
import type * as tfl from '@tensorflow/tfjs-layers';

/** Every layer of a model, descending into nested models. */
export function flattenLayers(model: { layers: tfl.layers.Layer[] }): tfl.layers.Layer[] {
  const out: tfl.layers.Layer[] = [];
  for (const layer of model.layers) {
    out.push(layer);
    const inner = (layer as unknown as { layers?: unknown }).layers;
    if (Array.isArray(inner)) out.push(...flattenLayers(layer as unknown as { layers: tfl.layers.Layer[] }));
  }
  return out;
}

