/**
 * `lip.vanillaExport` and `lip.condense`, after DEEL-LIP's `Model.vanilla_export`: a new model
 * made only of tfjs built-in layers, computing what the original computes in inference.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { configError, LipschitzConfigError } from '../errors';
import { isCondensable, isLipschitzLayer } from '../layers/base';
import { ACTIVATION_LIPSCHITZ, TFJS_BUILTIN_CLASS_NAMES } from '../model/bound';
import { evaluateGraph, isContainer, type GraphNode } from '../model/graph';

type Layer = tfl.layers.Layer;
type Config = Record<string, unknown>;

/** tfjs activation identifiers (all of them, Lipschitz or not). */
const TFJS_ACTIVATIONS = new Set([...Object.keys(ACTIVATION_LIPSCHITZ), 'exponential', 'logSoftmax']);

/** Config keys whose (non built-in) values only matter for training, dropped from the export. */
const TRAINING_ONLY_SUFFIXES = ['Constraint', 'Regularizer', 'Initializer'];

function layerLabel(layer: Layer): string {
  return `layer '${layer.name}' (${layer.getClassName()})`;
}

/**
 * Copies a built-in layer's config, replacing training-only settings that name a non built-in
 * class (a tfjs-lip constraint on a plain Dense, say) by tfjs defaults, and rejecting any other
 * non built-in class or activation.
 */
function builtinConfig(layer: Layer): Config {
  const config = structuredClone(layer.getConfig()) as Config;
  const check = (value: unknown, key: string, owner: Config | unknown[]): void => {
    if (Array.isArray(value)) {
      value.forEach((v, i) => check(v, String(i), value));
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const obj = value as Config;
    const className = obj.className;
    if (typeof className === 'string' && !TFJS_BUILTIN_CLASS_NAMES.has(className)) {
      const suffix = TRAINING_ONLY_SUFFIXES.find((s) => key.endsWith(s));
      if (suffix !== undefined && !Array.isArray(owner)) {
        owner[key] = suffix === 'Initializer' ? { className: 'Zeros', config: {} } : null;
        return;
      }
      throw new LipschitzConfigError(
        `vanillaExport: ${layerLabel(layer)} uses '${className}' in '${key}', which is not a tfjs built-in class.`,
      );
    }
    for (const [k, v] of Object.entries(obj)) check(v, k, obj);
  };
  for (const [k, v] of Object.entries(config)) check(v, k, config);
  for (const key of ['activation', 'recurrentActivation']) {
    const a = config[key];
    if (typeof a === 'string' && !TFJS_ACTIVATIONS.has(a)) {
      throw new LipschitzConfigError(`vanillaExport: ${layerLabel(layer)} uses activation '${a}', which is not a tfjs built-in.`);
    }
  }
  return config;
}

/** A fresh instance of a built-in layer with the same config (weights are copied after build). */
function cloneBuiltin(layer: Layer): Layer {
  const className = layer.getClassName();
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className];
  if (entry === undefined) throw new LipschitzConfigError(`vanillaExport: ${layerLabel(layer)} is not registered for serialization.`);
  const [cls, fromConfig] = entry;
  return fromConfig(cls, builtinConfig(layer) as tf.serialization.ConfigDict) as Layer;
}

/** Copies the weight values of `from` into `to` (fresh tensors: the two stay independent). */
function copyWeights(from: Layer, to: Layer): void {
  const values = tf.tidy(() => from.getWeights().map((w) => tf.clone(w)));
  try {
    to.setWeights(values);
  } finally {
    tf.dispose(values);
  }
}

function unwrap(output: tfl.SymbolicTensor | tfl.SymbolicTensor[]): tfl.SymbolicTensor[] {
  return Array.isArray(output) ? output : [output];
}

/** Maps the nodes of a model onto new tensors built from tfjs built-in layers. */
class Exporter {
  /** Built-in clones by original layer id (a shared layer stays shared). */
  private readonly clones = new Map<number, Layer>();
  /** tfjs-lip layers already exported (their export cannot be re-applied to a second input). */
  private readonly exported = new Set<number>();

  visit = (node: GraphNode, inputs: tfl.SymbolicTensor[]): tfl.SymbolicTensor[] => {
    const layer = node.outboundLayer;
    const single = (): tfl.SymbolicTensor => {
      if (inputs.length !== 1 || inputs[0] === undefined) {
        throw new LipschitzConfigError(`vanillaExport: ${layerLabel(layer)} expected one input, but got ${inputs.length}.`);
      }
      return inputs[0];
    };
    if (isCondensable(layer)) {
      if (this.exported.has(layer.id)) {
        throw new LipschitzConfigError(`vanillaExport: ${layerLabel(layer)} is called more than once; shared tfjs-lip layers cannot be exported.`);
      }
      this.exported.add(layer.id);
      return [layer.vanillaExport(single())];
    }
    if (isLipschitzLayer(layer)) {
      throw new LipschitzConfigError(`vanillaExport: ${layerLabel(layer)} is a tfjs-lip layer that cannot be condensed into tfjs built-in layers.`);
    }
    if (isContainer(layer)) {
      // A nested model is inlined: its layers join the exported graph.
      return evaluateGraph(layer, inputs, this.visit);
    }
    if (!TFJS_BUILTIN_CLASS_NAMES.has(layer.getClassName())) {
      throw new LipschitzConfigError(`vanillaExport: ${layerLabel(layer)} is neither a tfjs built-in layer nor a condensable tfjs-lip layer.`);
    }
    for (const inner of [(layer as unknown as { layer?: Layer }).layer]) {
      if (inner !== undefined && !TFJS_BUILTIN_CLASS_NAMES.has(inner.getClassName())) {
        throw new LipschitzConfigError(`vanillaExport: ${layerLabel(layer)} wraps ${layerLabel(inner)}, which is not a tfjs built-in layer.`);
      }
    }
    let clone = this.clones.get(layer.id);
    const fresh = clone === undefined;
    if (clone === undefined) {
      clone = cloneBuiltin(layer);
      this.clones.set(layer.id, clone);
    }
    const callArgs = (node.callArgs ?? {}) as Record<string, unknown>;
    const output = clone.apply(inputs.length === 1 ? single() : inputs, callArgs) as tfl.SymbolicTensor | tfl.SymbolicTensor[];
    if (fresh) copyWeights(layer, clone);
    return unwrap(output);
  };
}

/**
 * Returns a new model made only of tfjs built-in layers that predicts what `model` predicts:
 * each tfjs-lip `Condensable` layer is replaced by its `vanillaExport` (its normalized kernel in a
 * plain Dense/Conv2D, ...), each built-in layer by a copy with copied weights; layer names are
 * kept. The result is a functional `tf.LayersModel` (also for a Sequential input, whose export
 * starts with its InputLayer), independent of `model`: disposing or training either leaves the
 * other unchanged. `model` itself is not modified (it is not condensed).
 *
 * Throws `LipschitzConfigError` naming the layer for a tfjs-lip layer that is not condensable,
 * a custom layer that is not a tfjs built-in, or an unbuilt model.
 */
export function vanillaExport(model: tfl.LayersModel): tfl.LayersModel {
  if (!isContainer(model)) configError('vanillaExport model', 'a tfjs LayersModel', model);
  if (!Array.isArray(model.outputs) || model.outputs.length === 0) {
    configError('vanillaExport model', 'a built model (give the first layer an inputShape)', model.name);
  }
  const inputs = model.inputs.map((tensor) => {
    const config = tensor.sourceLayer.getConfig() as { batchInputShape?: Array<number | null>; dtype?: tf.DataType };
    return tfl.input({
      batchShape: config.batchInputShape ?? tensor.shape,
      dtype: config.dtype ?? tensor.dtype,
      name: tensor.sourceLayer.name,
    });
  });
  const outputs = evaluateGraph(model, inputs, new Exporter().visit);
  return tfl.model({ inputs, outputs, name: model.name });
}

/**
 * Calls `condense()` on every Condensable layer of `model` (nested models included): the
 * normalized kernel is written into the trainable kernel, so the model keeps predicting the same
 * while its raw weights become the constrained ones.
 */
export function condense(model: tfl.LayersModel): void {
  if (!isContainer(model)) configError('condense model', 'a tfjs LayersModel', model);
  const seen = new Set<number>();
  const walk = (layers: Layer[]): void => {
    for (const layer of layers) {
      if (seen.has(layer.id)) continue;
      seen.add(layer.id);
      if (isCondensable(layer)) layer.condense();
      else if (isContainer(layer)) walk(layer.layers);
    }
  };
  walk(model.layers);
}
