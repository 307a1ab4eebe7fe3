/**
 * The graph rewrite behind `lip.vanillaExport`: each node of the source model becomes tfjs
 * built-in layers (a tfjs-lip layer's own export, or a copy of a built-in layer), and the channel
 * maps that layers defer are folded into neighbouring kernels, passed through layers that commute
 * with them, or emitted (docs/export.md, "Folding").
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { LipschitzConfigError } from '../core/errors';
import { isCondensable, isLipschitzLayer, type ExportContext } from '../core/contracts';
import { isLipschitzMerge } from '../core/merge_contract';
import { TFJS_ACTIVATIONS } from '../core/activations';
import { TFJS_BUILTIN_CLASS_NAMES } from '../core/builtin_rules';
import { evaluateGraph, isContainer, type GraphNode } from '../core/graph';
import {
  composeChannelMaps,
  foldIntoInput,
  foldIntoOutput,
  hasLinearActivation,
  isFoldableLinear,
  isIdentityMap,
  materializeChannelMap,
  type ChannelMap,
} from '../core/channel_map';

type Layer = tfl.layers.Layer;
type Config = Record<string, unknown>;

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

/**
 * Whether an exported linear layer reads `input`, directly or through the `zeroPadding2d` a
 * convolution with `padding: 'constant'` exports before it (zero padding commutes with any
 * channel map, so the map still folds into the kernel).
 */
function readsThroughZeroPadding(linear: Layer, input: tfl.SymbolicTensor): boolean {
  const direct = linear.inboundNodes[0]?.inputTensors[0];
  if (direct === input) return true;
  const pad = direct?.sourceLayer;
  return pad?.getClassName() === 'ZeroPadding2D' && pad.inboundNodes.length === 1 && pad.inboundNodes[0]?.inputTensors[0] === input;
}

/**
 * tfjs-lip layers whose export is one built-in Dense/convolution applied to the layer's input:
 * a channel map waiting on that input folds into the exported kernel's input channels.
 */
const LIP_LINEAR_CLASS_NAMES: ReadonlySet<string> = new Set([
  'SpectralDense',
  'FrobeniusDense',
  'SpectralConv2D',
  'FrobeniusConv2D',
  'SpectralConv2DTranspose',
]);

/**
 * Layers that commute with a channel map on their input (they act on every channel alike, or
 * are the identity in inference), so the map can wait until after them. `pairs` says whether a
 * pair map also commutes (it needs channels on the last axis of input and output).
 */
function commutesWith(layer: Layer, map: ChannelMap): boolean {
  const config = layer.getConfig() as Config;
  const channelsLast = config.dataFormat === undefined || config.dataFormat === 'channelsLast';
  switch (layer.getClassName()) {
    case 'Dropout':
    case 'SpatialDropout1D':
    case 'GaussianNoise':
    case 'GaussianDropout':
    case 'AlphaDropout':
      return true;
    case 'AveragePooling1D':
    case 'AveragePooling2D':
    case 'AveragePooling3D':
    case 'GlobalAveragePooling1D':
    case 'GlobalAveragePooling2D':
    case 'ScaledAveragePooling2D':
    case 'ScaledGlobalAveragePooling2D':
    case 'ZeroPadding2D':
    case 'Cropping2D':
    case 'Flatten':
      return channelsLast;
    case 'MaxPooling1D':
    case 'MaxPooling2D':
    case 'MaxPooling3D':
    case 'GlobalMaxPooling1D':
    case 'GlobalMaxPooling2D':
      return channelsLast && map.pair === null && map.scale > 0;
    case 'Reshape': {
      // Flat order is kept: pairs stay pairs when the new last axis has even length.
      const target = config.targetShape as number[] | undefined;
      const last = target?.[target.length - 1];
      return map.pair === null || (typeof last === 'number' && last % 2 === 0);
    }
    default:
      return false;
  }
}

/** A channel map waiting on an exported tensor, and the name its layers get if emitted. */
interface Deferred {
  map: ChannelMap;
  owner: string;
}

/** How a node treats the channel map waiting on its (single) input. */
type MapAction = 'absorb' | 'commute' | 'emit';

/** Number of uses of each symbolic tensor of `model`, by id (nested models included; outputs count). */
function countUses(model: tfl.LayersModel): Map<number, number> {
  const uses = new Map<number, number>();
  const add = (t: tfl.SymbolicTensor) => uses.set(t.id, (uses.get(t.id) ?? 0) + 1);
  const seen = new Set<number>();
  const walk = (container: tfl.LayersModel): void => {
    container.outputs.forEach(add);
    for (const layer of container.layers) {
      if (seen.has(layer.id)) continue;
      seen.add(layer.id);
      for (const node of layer.inboundNodes) node.inputTensors.forEach(add);
      if (isContainer(layer)) walk(layer);
    }
  };
  walk(model);
  return uses;
}

/**
 * Maps the nodes of a model onto new tensors built from tfjs built-in layers. Channel maps that
 * layers defer (GroupSort2's output rotation, the poolings' scales) wait on their tensor until a
 * Dense/convolution takes them into its kernel; layers that commute with them let them through;
 * anything else gets them emitted as layers first.
 */
export class Exporter {
  /** Built-in clones by original layer id (a shared layer stays shared). */
  private readonly clones = new Map<number, Layer>();
  /** tfjs-lip layers already exported (their export cannot be re-applied to a second input). */
  private readonly exported = new Set<number>();
  /** Channel maps waiting on exported tensors, by tensor id. */
  private readonly deferred = new Map<number, Deferred>();
  /** Emitted versions of tensors that had a map waiting, by tensor id. */
  private readonly emitted = new Map<number, tfl.SymbolicTensor>();
  private readonly uses: Map<number, number>;
  /** The node being exported (its source input decides what may fold into its producer). */
  private current: GraphNode | null = null;

  readonly context: ExportContext;

  constructor(model: tfl.LayersModel, inferenceLayers: boolean) {
    this.uses = countUses(model);
    this.context = {
      inferenceLayers,
      foldIntoProducer: (input, pair) => {
        if (!this.canFoldIntoProducer(input)) return false;
        foldIntoOutput(input.sourceLayer, { scale: 1, pair });
        return true;
      },
      defer: (output, map, owner) => {
        if (!isIdentityMap(map)) this.deferred.set(output.id, { map, owner });
        return output;
      },
    };
  }

  /** The exported tensor with any map waiting on it applied (emitted once, then reused). */
  resolve(t: tfl.SymbolicTensor): tfl.SymbolicTensor {
    const waiting = this.deferred.get(t.id);
    if (waiting === undefined) return t;
    let out = this.emitted.get(t.id);
    if (out === undefined) {
      out = materializeChannelMap(t, waiting.map, waiting.owner);
      this.emitted.set(t.id, out);
    }
    return out;
  }

  /** Whether a source tensor feeds exactly one layer call and is not a model output. */
  private soleUse(t: tfl.SymbolicTensor | undefined): t is tfl.SymbolicTensor {
    return t !== undefined && this.uses.get(t.id) === 1;
  }

  private canFoldIntoProducer(input: tfl.SymbolicTensor): boolean {
    const source = this.current?.inputTensors[0];
    const producer = input.sourceLayer;
    if (!this.soleUse(source) || this.deferred.has(input.id)) return false;
    if (source.sourceLayer.inboundNodes.length !== 1 || producer.inboundNodes.length !== 1) return false;
    return isFoldableLinear(producer) && hasLinearActivation(producer);
  }

  /** What a (source) layer called once on a tensor with `channels` last-axis entries does with a map on it. */
  private mapAction(layer: Layer, channels: number | null, map: ChannelMap): MapAction {
    if (layer.inboundNodes.length !== 1) return 'emit';
    const className = layer.getClassName();
    if (LIP_LINEAR_CLASS_NAMES.has(className) || (TFJS_BUILTIN_CLASS_NAMES.has(className) && isFoldableLinear(layer))) {
      return map.pair === null || (channels ?? 1) % 2 === 0 ? 'absorb' : 'emit';
    }
    return commutesWith(layer, map) ? 'commute' : 'emit';
  }

  visit = (node: GraphNode, inputs: tfl.SymbolicTensor[]): tfl.SymbolicTensor[] => {
    this.current = node;
    const waiting = inputs.length === 1 && inputs[0] !== undefined ? this.deferred.get(inputs[0].id) : undefined;
    const source = node.inputTensors[0];
    const action =
      waiting === undefined || !this.soleUse(source)
        ? 'emit'
        : this.mapAction(node.outboundLayer, inputs[0]!.shape[inputs[0]!.shape.length - 1] ?? null, waiting.map);
    const given = action === 'emit' ? inputs.map((t) => this.resolve(t)) : inputs;
    const outputs = this.exportNode(node, given);
    if (waiting === undefined || action === 'emit') return outputs;
    const output = outputs[0]!;
    if (action === 'absorb') {
      const linear = output.sourceLayer;
      if (!isFoldableLinear(linear) || !readsThroughZeroPadding(linear, given[0]!)) {
        throw new Error(`vanillaExport: ${layerLabel(node.outboundLayer)} did not export to one linear layer on its input.`);
      }
      foldIntoInput(linear, waiting.map);
      return outputs;
    }
    const own = this.deferred.get(output.id);
    this.deferred.set(output.id, {
      map: own === undefined ? waiting.map : composeChannelMaps(waiting.map, own.map),
      owner: own?.owner ?? waiting.owner,
    });
    return outputs;
  };

  private exportNode(node: GraphNode, inputs: tfl.SymbolicTensor[]): tfl.SymbolicTensor[] {
    const layer = node.outboundLayer;
    const single = (): tfl.SymbolicTensor => {
      if (inputs.length !== 1 || inputs[0] === undefined) {
        throw new LipschitzConfigError(`vanillaExport: ${layerLabel(layer)} expected one input, but got ${inputs.length}.`);
      }
      return inputs[0];
    };
    if (isLipschitzMerge(layer)) return [layer.vanillaExportMerge(inputs, this.context)];
    if (isCondensable(layer)) {
      if (this.exported.has(layer.id)) {
        throw new LipschitzConfigError(`vanillaExport: ${layerLabel(layer)} is called more than once; shared tfjs-lip layers cannot be exported.`);
      }
      this.exported.add(layer.id);
      return [layer.vanillaExport(single(), this.context)];
    }
    if (isLipschitzLayer(layer)) {
      throw new LipschitzConfigError(`vanillaExport: ${layerLabel(layer)} is a tfjs-lip layer that cannot be condensed into tfjs built-in layers.`);
    }
    if (isContainer(layer)) {
      // A nested model is inlined: its layers join the exported graph.
      return evaluateGraph(layer, inputs, this.visit).map((t) => this.resolve(t));
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
  }
}
