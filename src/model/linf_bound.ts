/**
 * Certified Lipschitz bounds from L-infinity to L-infinity (per sample) of layers and models:
 * `lip.lipschitzBound(model, {norm: 'linf'})` and the radius of `lip.certify(model, x, {norm:
 * 'linf'})`. Derivations: docs/linf_layers.md.
 *
 * Layers: a layer with an `lInfLipschitzBound()` method (`LInfProjectedDense`,
 * `LInfProjectedConv2D`) gives it; the other tfjs-lip kernel layers get the largest L1 norm of
 * their cached W-bar's output channels; the tfjs-lip activations that act coordinate by
 * coordinate, or sort, max or min within groups, are as Lipschitz in L-infinity as in L2 (the
 * i-th smallest entry of a group moves by at most the largest change of an entry), Householder
 * by sqrt(2) more (each 2x2 piece has row L1 norms |cos| + |sin| <= sqrt(2)); the scaled average
 * poolings by their scale; built-ins follow `core/linf_rules.ts`; anything else is Infinity.
 *
 * Graph: a model input has bound 1 (several inputs: with respect to their concatenation, whose
 * L-infinity norm is the largest of theirs); a one-input layer multiplies its input's bound by its
 * own; `Add`/`Subtract` sum the inbound bounds, `Average` takes their mean, `Concatenate`,
 * `Maximum` and `Minimum` their largest (the L-infinity norm of a concatenation is the largest
 * part's; |max(a, b) - max(a', b')| <= max(|a - a'|, |b - b'|)); `Multiply`, `Dot` and unknown
 * merges give Infinity; several outputs combine as their concatenation (the largest bound).
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { activationLipschitz } from '../core/activations';
import { multiplyBounds } from '../core/builtin_rules';
import { isLipschitzLayer } from '../core/contracts';
import { evaluateGraph, isContainer, type GraphNode } from '../core/graph';
import { LINF_BUILTIN_RULES } from '../core/linf_rules';
import { maxSliceL1Norm } from '../linalg/linf_norm';
import { InferenceGroupSort } from '../inference';
import { LipschitzKernelLayer, SpectralConv2DTranspose } from '../layers';

type Layer = tfl.layers.Layer;

/** tfjs-lip activations whose L-infinity bound is their (L2) `lipschitzBound()`, and by what factor. */
const SAME_AS_L2: Readonly<Record<string, number>> = {
  GroupSort: 1,
  GroupSort2: 1,
  FullSort: 1,
  MaxMin: 1,
  MaxOut: 1,
  LNetsMaxMin: 1,
  ClippedReLU: 1,
  ClampedMaxMin: 1,
  PReLULip: 1,
  Householder: Math.SQRT2,
};

/** Average poolings times `kCoefLip` times their corrective coefficient: the mean is 1-Lipschitz in L-infinity. */
const SCALED_AVERAGES: ReadonlySet<string> = new Set(['ScaledAveragePooling2D', 'ScaledGlobalAveragePooling2D']);

/** Merge layers: how the L-infinity bounds of their inputs combine. */
const LINF_MERGE_RULES: Readonly<Record<string, (bounds: number[]) => number>> = {
  Add: (b) => b.reduce((s, x) => s + x, 0),
  Subtract: (b) => b.reduce((s, x) => s + x, 0),
  Average: (b) => b.reduce((s, x) => s + x, 0) / b.length,
  Concatenate: (b) => Math.max(...b),
  Maximum: (b) => Math.max(...b),
  Minimum: (b) => Math.max(...b),
  Multiply: () => Infinity,
  Dot: () => Infinity,
};

/** A layer that states its own L-infinity bound. */
interface LInfBounded {
  lInfLipschitzBound(): number;
}

function hasLInfBound(layer: unknown): layer is LInfBounded {
  return typeof (layer as Partial<LInfBounded>).lInfLipschitzBound === 'function';
}

/** A tfjs-lip kernel layer's bound from its cached W-bar (output channels last, or third for the transposed convolution). */
function kernelLayerLInfBound(layer: LipschitzKernelLayer): number {
  const wBar = layer.weights.find((w) => w.name.endsWith('w_bar'));
  if (wBar === undefined) return Infinity;
  const value = wBar.read();
  const outAxis = layer instanceof SpectralConv2DTranspose ? value.rank - 2 : value.rank - 1;
  return multiplyBounds(maxSliceL1Norm(value.dataSync(), value.shape, outAxis), activationLipschitz(layer.activation));
}

/** L-infinity bound of a tfjs-lip layer, or undefined when this module has no rule for it. */
function lipLayerLInfBound(layer: Layer): number | undefined {
  if (hasLInfBound(layer)) return layer.lInfLipschitzBound();
  if (layer instanceof LipschitzKernelLayer) return kernelLayerLInfBound(layer);
  if (!isLipschitzLayer(layer)) return undefined;
  const className = layer.getClassName();
  const factor = SAME_AS_L2[className];
  if (factor !== undefined) return factor * layer.lipschitzBound();
  if (SCALED_AVERAGES.has(className) && layer.built) return Math.abs(layer.kCoefLip * layer.correctiveCoefficient());
  return undefined;
}

/**
 * Certified L-infinity to L-infinity Lipschitz bound of one single-input layer (see the module
 * comment); Infinity when unknown.
 */
export function layerLInfLipschitzBound(layer: Layer): number {
  const own = lipLayerLInfBound(layer);
  if (own !== undefined) return own;
  if (isContainer(layer)) return lInfLipschitzBound(layer);
  const className = layer.getClassName();
  if (className === InferenceGroupSort.className) return Math.abs(Number((layer.getConfig() as Record<string, unknown>).scale));
  const rule = LINF_BUILTIN_RULES[className];
  if (rule === undefined) return Infinity;
  return rule.bound(layer, layer.getConfig() as Record<string, unknown>, { layerBound: layerLInfLipschitzBound });
}

/** Combination of a merge layer's inbound L-infinity bounds, or undefined if `className` is not a merge. */
function mergeLInfBound(className: string, bounds: number[]): number | undefined {
  const rule = LINF_MERGE_RULES[className];
  if (rule === undefined) return undefined;
  if (bounds.some((b) => !Number.isFinite(b))) return Infinity;
  return rule(bounds);
}

/** The graph visitor: bounds of a node's outputs from those of its inputs (nested models walked with it). */
function visitNode(node: GraphNode, bounds: number[]): number[] {
  const layer = node.outboundLayer;
  const merged = mergeLInfBound(layer.getClassName(), bounds);
  if (merged !== undefined) return node.outputTensors.map(() => merged);
  if (isContainer(layer) && !isLipschitzLayer(layer)) {
    const inner = evaluateGraph(layer, bounds, visitNode);
    return node.outputTensors.map((_, i) => inner[i] ?? Infinity);
  }
  const bound = bounds.length === 1 ? multiplyBounds(bounds[0]!, layerLInfLipschitzBound(layer)) : Infinity;
  return node.outputTensors.map(() => bound);
}

/**
 * Certified upper bound of the Lipschitz constant from L-infinity to L-infinity (per sample) of a
 * tfjs model for its current weights; Infinity when a layer's bound is unknown. The caller checks
 * the argument (`lipschitzBound(model, {norm: 'linf'})`).
 */
export function lInfLipschitzBound(model: tfl.LayersModel): number {
  if (!Array.isArray(model.outputs) || model.outputs.length === 0) {
    return model.layers.reduce((p, layer) => multiplyBounds(p, layerLInfLipschitzBound(layer)), 1);
  }
  const outputs = evaluateGraph(model, model.inputs.map(() => 1), visitNode);
  if (outputs.some((b) => !Number.isFinite(b))) return Infinity;
  return Math.max(...outputs);
}
