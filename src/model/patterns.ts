/**
 * Compositions of built-in layers whose Lipschitz bound is smaller than the product of their
 * parts' bounds: the shapes `lip.vanillaExport` builds for MaxMin and the L2-norm poolings.
 * `lip.lipschitzBound` recognizes them from the graph and the weights alone: every condition
 * the proof needs is checked on the layers themselves (class, settings, exact weight values), so
 * a model that only looks like an export gets the generic bound. Proofs in docs/export.md.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { producingNode, type GraphNode } from '../core/graph';

type Layer = tfl.layers.Layer;
type Config = Record<string, unknown>;

/** The certified bound of an already visited tensor (undefined if none is known). */
export type TensorBound = (tensor: tfl.SymbolicTensor) => number | undefined;

/** sup of d/dr r^2 / sqrt(r^2 + e) over r >= 0, e > 0: attained at r^2 = 2e (docs/export.md). */
export const NORM_WITH_EPSILON_SLOPE = Math.sqrt(32 / 27);

function configOf(layer: Layer): Config {
  return layer.getConfig() as Config;
}

/** All entries of a layer weight, or undefined if it has no such weight. */
function weightValues(layer: Layer, index: number): Float32Array | undefined {
  const w = layer.getWeights()[index];
  return w === undefined ? undefined : (w.dataSync() as Float32Array);
}

/** The common value of an array whose entries are all equal, else undefined. */
function constantValue(values: ArrayLike<number> | undefined): number | undefined {
  if (values === undefined || values.length === 0) return undefined;
  const first = values[0]!;
  for (let i = 1; i < values.length; i++) if (values[i] !== first) return undefined;
  return Number.isFinite(first) ? first : undefined;
}

/** The node that produced the only input of `node`, or undefined. */
function singleInputNode(node: GraphNode): GraphNode | undefined {
  const inputs = node.inputTensors;
  return inputs.length === 1 ? producingNode(inputs[0]!) : undefined;
}

/** `t` as `scale * z`: through one `Rescaling` without offset, or `t` itself with scale 1. */
function scaledSource(t: tfl.SymbolicTensor): { source: tfl.SymbolicTensor; scale: number } {
  const node = producingNode(t);
  const layer = node.outboundLayer;
  if (layer.getClassName() === 'Rescaling' && node.inputTensors.length === 1) {
    const config = configOf(layer);
    const scale = Number(config.scale);
    if (Number(config.offset ?? 0) === 0 && Number.isFinite(scale)) return { source: node.inputTensors[0]!, scale };
  }
  return { source: t, scale: 1 };
}

function isRelu(layer: Layer): boolean {
  const config = configOf(layer);
  if (layer.getClassName() === 'ReLU') {
    return config.threshold === undefined || Number(config.threshold) === 0;
  }
  return layer.getClassName() === 'Activation' && config.activation === 'relu';
}

/**
 * `relu(concatenate([a z, b z]))` with a > 0 > b (MaxMin's export): each coordinate of z feeds
 * two outputs of which at most one is non-zero, so the map is max(a, |b|)-Lipschitz in z.
 */
function signSplitRelu(node: GraphNode, boundOf: TensorBound): number | undefined {
  if (!isRelu(node.outboundLayer)) return undefined;
  const concat = singleInputNode(node);
  if (concat === undefined || concat.outboundLayer.getClassName() !== 'Concatenate' || concat.inputTensors.length !== 2) {
    return undefined;
  }
  const [p, q] = concat.inputTensors.map(scaledSource) as [ReturnType<typeof scaledSource>, ReturnType<typeof scaledSource>];
  if (p.source !== q.source || p.scale * q.scale >= 0) return undefined;
  const inner = boundOf(p.source);
  return inner === undefined ? undefined : Math.max(Math.abs(p.scale), Math.abs(q.scale)) * inner;
}

/** LayerNormalization over the last axis only, with a constant gamma and a zero beta: its gamma. */
function lastAxisNormalization(layer: Layer, rank: number): { gamma: number; epsilon: number } | undefined {
  if (layer.getClassName() !== 'LayerNormalization') return undefined;
  const config = configOf(layer);
  const axes = (Array.isArray(config.axis) ? config.axis : [config.axis]).map(Number);
  if (axes.length !== 1 || (axes[0] !== -1 && axes[0] !== rank - 1)) return undefined;
  const epsilon = Number(config.epsilon ?? 1e-3);
  if (!(epsilon >= 0) || !Number.isFinite(epsilon)) return undefined;
  let index = 0;
  let gamma = 1;
  if (config.scale !== false) {
    const g = constantValue(weightValues(layer, index++));
    if (g === undefined) return undefined;
    gamma = g;
  }
  if (config.center !== false && constantValue(weightValues(layer, index)) !== 0) return undefined;
  return { gamma, epsilon };
}

/**
 * `dense_1(multiply([v, layerNormalization(v)]))` over the last axis (the L2-norm poolings'
 * export): with m entries per group, gamma g, kernel w and epsilon e, each output is
 * `w g m var / sqrt(var + e) + bias`, `var = ||v - mean(v)||^2 / m`, i.e. `w g sqrt(m) ||P v||`
 * for e = 0 (P the centring projection), so the map is `|w g| sqrt(m)`-Lipschitz in v, times
 * `NORM_WITH_EPSILON_SLOPE` when e > 0.
 */
function embeddedNorm(node: GraphNode, boundOf: TensorBound): number | undefined {
  const dense = node.outboundLayer;
  const config = configOf(dense);
  if (dense.getClassName() !== 'Dense' || Number(config.units) !== 1) return undefined;
  if (config.activation !== undefined && config.activation !== null && config.activation !== 'linear') return undefined;
  const w = constantValue(weightValues(dense, 0));
  const multiply = singleInputNode(node);
  if (w === undefined || multiply === undefined || multiply.outboundLayer.getClassName() !== 'Multiply') return undefined;
  if (multiply.inputTensors.length !== 2) return undefined;
  for (const [v, other] of [multiply.inputTensors, [...multiply.inputTensors].reverse()] as tfl.SymbolicTensor[][]) {
    const normalization = producingNode(other!);
    if (normalization.inputTensors.length !== 1 || normalization.inputTensors[0] !== v) continue;
    const settings = lastAxisNormalization(normalization.outboundLayer, v!.shape.length);
    const m = v!.shape[v!.shape.length - 1];
    const inner = boundOf(v!);
    if (settings === undefined || typeof m !== 'number' || inner === undefined) continue;
    const slope = settings.epsilon > 0 ? NORM_WITH_EPSILON_SLOPE : 1;
    return Math.abs(w * settings.gamma) * Math.sqrt(m) * slope * inner;
  }
  return undefined;
}

/**
 * The certified bound of `node`'s output when it ends one of the recognized compositions, from
 * the bounds of the tensors it starts from; undefined otherwise (the generic rules then apply).
 */
export function patternBound(node: GraphNode, boundOf: TensorBound): number | undefined {
  return signSplitRelu(node, boundOf) ?? embeddedNorm(node, boundOf);
}
