/**
 * `lip.sequential`: a tfjs Sequential whose Lipschitz layers share a global constant, after
 * DEEL-LIP's `deel.lip.model.Sequential` (each of the n Lipschitz layers gets kCoefLip^(1/n)),
 * with a strict check that no other layer can break the bound.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { DEFAULT_K_COEF_LIP } from '../defaults';
import { configError, LipschitzConfigError } from '../errors';
import { isLipschitzLayer } from '../layers/base';
import { checkBoolean, checkPositiveFinite } from '../validation';
import { lipschitzRisk } from './bound';
import { evaluateGraph, nodeInputShapes } from './graph';

/** Arguments of `lip.sequential`. */
export interface LipschitzSequentialArgs {
  /** The layers, in order; the first one needs an `inputShape` (or `batchInputShape`). */
  layers: tfl.layers.Layer[];
  /** Lipschitz constant of the whole model, split evenly (geometrically) over its Lipschitz layers (default 1). */
  kCoefLip?: number;
  /**
   * `true` (default): a layer that can break the bound (plain Dense/Conv, BatchNormalization,
   * a non-1-Lipschitz activation, an unknown custom layer, ...) throws `LipschitzConfigError`;
   * `false`: it is reported with `console.warn` only.
   */
  strict?: boolean;
  /** Name of the model. */
  name?: string;
}

/**
 * Builds a tfjs `Sequential` from `layers`, after setting `kCoefLip^(1/n)` on each of its n
 * tfjs-lip Lipschitz layers (before they are built), so that the model is kCoefLip-Lipschitz.
 * Throws `LipschitzConfigError` (or warns when `strict` is false) naming every layer that can
 * break the bound and why.
 */
export function sequential(args: LipschitzSequentialArgs): tfl.Sequential {
  if (typeof args !== 'object' || args === null) {
    configError('sequential args', 'an object {layers, kCoefLip?, strict?, name?}', args);
  }
  const kCoefLip = checkPositiveFinite('kCoefLip', args.kCoefLip ?? DEFAULT_K_COEF_LIP);
  const strict = checkBoolean('strict', args.strict ?? true);
  const layers = args.layers;
  if (!Array.isArray(layers) || layers.length === 0) configError('layers', 'a non-empty array of layers', layers);
  layers.forEach((layer, i) => {
    if (!(layer instanceof tfl.layers.Layer)) configError(`layers[${i}]`, 'a tfjs layer', layer);
  });

  const lipschitzLayers = layers.filter(isLipschitzLayer);
  if (lipschitzLayers.length === 0 && kCoefLip !== 1) {
    configError('kCoefLip', '1 when no Lipschitz layer can carry it', kCoefLip);
  }
  const share = lipschitzLayers.length === 0 ? 1 : Math.pow(kCoefLip, 1 / lipschitzLayers.length);
  for (const layer of lipschitzLayers) {
    if (layer.built && layer.kCoefLip !== share) {
      throw new LipschitzConfigError(
        `lip.sequential: layer '${layer.name}' is already built with kCoefLip ${layer.kCoefLip}; ` +
          `pass layers that were not used yet so they can get kCoefLip ${share}.`,
      );
    }
    layer.kCoefLip = share;
  }

  const model = tfl.sequential({ layers, name: args.name });

  const problems: string[] = [];
  evaluateGraph(model, model.inputs.map(() => null), (node) => {
    const layer = node.outboundLayer;
    const risk = lipschitzRisk(layer, nodeInputShapes(node)[0]);
    if (risk !== null) problems.push(`layer '${layer.name}' (${layer.getClassName()}) can break the Lipschitz bound: ${risk}`);
    return node.outputTensors.map(() => null);
  });
  if (problems.length > 0) {
    const message =
      `lip.sequential: ${problems.join('; ')}. ` +
      (strict
        ? 'Replace it with a tfjs-lip layer, or pass strict: false to accept it (lip.lipschitzBound then reports the real bound).'
        : `The model may not be ${kCoefLip}-Lipschitz; lip.lipschitzBound reports the certified bound.`);
    if (strict) throw new LipschitzConfigError(message);
    console.warn(message);
  }
  return model;
}
