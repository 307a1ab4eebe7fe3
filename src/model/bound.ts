/**
 * Certified Lipschitz bounds (L2 to L2, per sample) of layers and models: the graph propagation.
 * The bounds and risks of the tfjs built-in layers are the table of `core/builtin_rules.ts`; the
 * inference layers of `tfjs-lip/inference` have theirs here (`INFERENCE_RULES`).
 *
 * Graph rules for `lipschitzBound(model)`: a model input has bound 1 (with several inputs, with
 * respect to their concatenation); a one-input layer multiplies its input's bound by its own;
 * `Add`/`Subtract` sum the inbound bounds, `Average` takes their mean, `Concatenate`, `Maximum`
 * and `Minimum` take sqrt(sum of squares); `Multiply`, `Dot` and unknown merges give Infinity;
 * a tfjs-lip merge (`LipschitzMerge`, e.g. `LipResidual`) gives its own rule; a nested model is
 * walked with its inbound bounds; several model outputs combine as a concatenation. A layer
 * whose bound is unknown makes the bound Infinity.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { InferenceGroupSort, InferenceL2NormPooling2D } from '../inference';
import { isLipschitzLayer } from '../core/contracts';
import { isLipschitzMerge } from '../core/merge_contract';
import { BUILTIN_RULES, multiplyBounds, TFJS_BUILTIN_CLASS_NAMES, type BoundRule, type RuleContext } from '../core/builtin_rules';
import { warnIfUnchecked } from './check_hook';
import { evaluateGraph, isContainer, nodeInputShapes, type GraphNode, type ShapeLike } from '../core/graph';
import { patternBound } from './patterns';
import { checkModelArgument } from './model_argument';
import { checkKnownKeys, checkOneOf, optionNames } from '../core/validation';
import { lInfLipschitzBound } from './linf_bound';

export { ACTIVATION_LIPSCHITZ } from '../core/activations';
export { TFJS_BUILTIN_CLASS_NAMES };

type Layer = tfl.layers.Layer;
type Config = Record<string, unknown>;

/**
 * The inference layers of `tfjs-lip/inference` (exports with `inferenceLayers: true`): a sort of
 * channel groups and a non-overlapping L2-norm pooling, 1-Lipschitz times their `scale`; their
 * config is their whole computation.
 */
const INFERENCE_RULES: Readonly<Record<string, BoundRule>> = {
  [InferenceGroupSort.className]: { bound: (_l, config) => Math.abs(Number(config.scale)) },
  [InferenceL2NormPooling2D.className]: { bound: (_l, config) => Math.abs(Number(config.scale)) },
};

/** Merge layers: how the bounds of their inputs combine. */
const MERGE_RULES: Readonly<Record<string, (bounds: number[]) => number>> = {
  Add: (b) => b.reduce((s, x) => s + x, 0),
  Subtract: (b) => b.reduce((s, x) => s + x, 0),
  Average: (b) => b.reduce((s, x) => s + x, 0) / b.length,
  Concatenate: (b) => Math.sqrt(b.reduce((s, x) => s + x * x, 0)),
  // |max(a, b) - max(a', b')| <= max(|a - a'|, |b - b'|), squared <= the sum of both squares.
  Maximum: (b) => Math.sqrt(b.reduce((s, x) => s + x * x, 0)),
  Minimum: (b) => Math.sqrt(b.reduce((s, x) => s + x * x, 0)),
  Multiply: () => Infinity,
  Dot: () => Infinity,
};

function configOf(layer: Layer): Config {
  return layer.getConfig() as Config;
}

/** What the built-in rules ask back: the bounds and risks of wrapped layers. */
const RULE_CONTEXT: RuleContext = {
  layerBound: (layer) => layerLipschitzBound(layer),
  layerRisk: (layer) => lipschitzRisk(layer),
};

/** The input shape of a layer's most recent call, if any (batch first). */
function lastInputShape(layer: Layer): ShapeLike | undefined {
  const node = layer.inboundNodes[layer.inboundNodes.length - 1];
  return node === undefined ? undefined : nodeInputShapes(node)[0];
}

/**
 * Certified Lipschitz bound of a tfjs built-in layer (for its current weights and settings), or
 * of an inference layer of `tfjs-lip/inference`, or `undefined` when the className is in
 * neither of tfjs-lip's tables. `inputShape` (batch first) refines
 * the pooling bounds; it defaults to the layer's most recent call.
 */
export function builtinLipschitzBound(layer: Layer, inputShape?: ShapeLike): number | undefined {
  const rule = BUILTIN_RULES[layer.getClassName()] ?? INFERENCE_RULES[layer.getClassName()];
  if (rule === undefined) return undefined;
  return rule.bound(layer, configOf(layer), inputShape ?? lastInputShape(layer), RULE_CONTEXT);
}

/**
 * Certified Lipschitz bound of any single-input layer: `lipschitzBound()` of a tfjs-lip layer,
 * the table for tfjs built-ins, the graph bound of a nested model, Infinity otherwise.
 */
export function layerLipschitzBound(layer: Layer, inputShape?: ShapeLike): number {
  if (isLipschitzLayer(layer)) return layer.lipschitzBound();
  if (isContainer(layer)) return lipschitzBound(layer);
  return builtinLipschitzBound(layer, inputShape) ?? Infinity;
}

/**
 * Why `layer` can break a 1-Lipschitz budget (a sentence), or `null` when it cannot: tfjs-lip
 * Lipschitz layers carry their own constant; built-ins follow the table; anything else is unknown.
 */
export function lipschitzRisk(layer: Layer, inputShape?: ShapeLike): string | null {
  if (isLipschitzLayer(layer)) return null;
  const className = layer.getClassName();
  if (isContainer(layer)) {
    return 'a nested model is not distributed kCoefLip nor checked layer by layer (add its layers to lip.sequential directly)';
  }
  const rule = BUILTIN_RULES[className];
  if (rule === undefined) {
    const merge = MERGE_RULES[className];
    if (merge !== undefined) return Number.isFinite(merge([1, 1])) ? null : 'it multiplies its inputs together, which is not Lipschitz';
    return TFJS_BUILTIN_CLASS_NAMES.has(className)
      ? `tfjs-lip has no Lipschitz bound for the built-in ${className}`
      : `${className} is neither a tfjs-lip LipschitzLayer nor a tfjs built-in layer with a known bound`;
  }
  const config = configOf(layer);
  const shape = inputShape ?? lastInputShape(layer);
  if (rule.risk !== undefined) return rule.risk(layer, config, shape, RULE_CONTEXT);
  const b = rule.bound(layer, config, shape, RULE_CONTEXT);
  return b > 1 ? `its Lipschitz bound is ${b}` : null;
}

/** Combination rule of a merge layer's inbound bounds, or undefined if `className` is not a merge. */
export function mergeLipschitzBound(className: string, bounds: number[]): number | undefined {
  const rule = MERGE_RULES[className];
  if (rule === undefined) return undefined;
  if (bounds.some((b) => !Number.isFinite(b))) return Infinity;
  return rule(bounds);
}

/** Options of `lipschitzBound`. */
export interface LipschitzBoundArgs {
  /**
   * The norm on inputs and outputs: `'l2'` (default, L2 to L2) or `'linf'` (L-infinity to
   * L-infinity, `model/linf_bound.ts`, docs/linf_layers.md).
   */
  norm?: 'l2' | 'linf';
}

const LIPSCHITZ_BOUND_OPTIONS = optionNames<LipschitzBoundArgs>({ norm: true });

/**
 * Certified upper bound of the Lipschitz constant (L2 to L2, per sample) of a tfjs model, for
 * its current weights: for a Sequential the product of its layers' bounds; for a functional
 * model the graph rules of this module. Infinity when a layer's bound is unknown. With
 * `{norm: 'linf'}`, the bound from L-infinity to L-infinity instead (`model/linf_bound.ts`).
 */
export function lipschitzBound(model: tfl.LayersModel, args?: LipschitzBoundArgs): number {
  checkModelArgument('lipschitzBound', model, 'for one layer use layer.lipschitzBound()');
  warnIfUnchecked(model, 'lip.lipschitzBound');
  if (args !== undefined) {
    checkKnownKeys('lipschitzBound', args, LIPSCHITZ_BOUND_OPTIONS);
    if (checkOneOf('lipschitzBound norm', args.norm ?? 'l2', ['l2', 'linf'] as const) === 'linf') return lInfLipschitzBound(model);
  }
  if (!Array.isArray(model.outputs) || model.outputs.length === 0) {
    return model.layers.reduce((p, layer) => multiplyBounds(p, layerLipschitzBound(layer)), 1);
  }
  const outputs = evaluateGraph(model, model.inputs.map(() => 1), boundWalker());
  return combineOutputs(outputs);
}

/**
 * The graph visitor of `lipschitzBound`: bounds of a node's outputs from the bounds of its
 * inputs (nested models are walked with the same visitor). It remembers every tensor's bound so
 * that the compositions of `patterns.ts` can start from a tensor a few layers back.
 */
function boundWalker(): (node: GraphNode, bounds: number[]) => number[] {
  const byTensor = new Map<number, number>();
  const boundOf = (t: tfl.SymbolicTensor) => byTensor.get(t.id);
  const visit = (node: GraphNode, bounds: number[]): number[] => {
    node.inputTensors.forEach((t, i) => byTensor.set(t.id, bounds[i] ?? Infinity));
    const outputs = nodeBounds(node, bounds);
    node.outputTensors.forEach((t, i) => byTensor.set(t.id, outputs[i] ?? Infinity));
    return outputs;
  };
  const nodeBounds = (node: GraphNode, bounds: number[]): number[] => {
    const layer = node.outboundLayer;
    const pattern = patternBound(node, boundOf);
    if (pattern !== undefined) return node.outputTensors.map(() => pattern);
    if (isLipschitzMerge(layer)) {
      const merge = bounds.some((b) => !Number.isFinite(b)) ? Infinity : layer.mergeLipschitzBound(bounds);
      return node.outputTensors.map(() => merge);
    }
    const merged = mergeLipschitzBound(layer.getClassName(), bounds);
    if (merged !== undefined) return node.outputTensors.map(() => merged);
    if (isContainer(layer) && !isLipschitzLayer(layer)) {
      const inner = evaluateGraph(layer, bounds, visit);
      return node.outputTensors.map((_, i) => inner[i] ?? Infinity);
    }
    const bound = bounds.length === 1 ? multiplyBounds(bounds[0]!, layerLipschitzBound(layer, nodeInputShapes(node)[0])) : Infinity;
    return node.outputTensors.map(() => bound);
  };
  return visit;
}

/** Several outputs are bounded as their concatenation. */
function combineOutputs(bounds: number[]): number {
  if (bounds.length === 1) return bounds[0]!;
  if (bounds.some((b) => !Number.isFinite(b))) return Infinity;
  return Math.sqrt(bounds.reduce((s, b) => s + b * b, 0));
}
