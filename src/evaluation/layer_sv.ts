/**
 * Exact smallest and largest singular values of a layer's linear part (DEEL-LIP's
 * `compute_layer_sv` / `compute_model_sv`), in float64.
 *
 * - built-in `Dense`: the kernel [in, out];
 * - built-in convolutions (`Conv2D`, `Conv2DTranspose`, `DepthwiseConv2D`, `SeparableConv2D`,
 *   `Conv1D`): the impulse-response matrix of the convolution (no bias, no activation) for the
 *   layer's input size (so padding and stride effects are exact);
 * - Condensable tfjs-lip layers (SpectralDense, SpectralConv2D, ...): the linear part of their
 *   `vanillaExport()` (the effective kernel W-bar times the corrective coefficient, as used in
 *   inference), through the impulse response; the layer is not modified;
 * - other tfjs-lip Lipschitz layers (poolings, resampling): impulse response when the layer is
 *   linear (checked numerically), else `{min: null, max: lipschitzBound()}`;
 * - `ReLU` / `Activation('relu')`: {0, 1}; `Activation('linear')`, `Flatten`, `Reshape`,
 *   `Dropout`: {1, 1}; GroupSort-type activations: {1, 1} (gradient-norm preserving); `Add`:
 *   {n, n} (DEEL-LIP's convention); `BatchNormalization`: min/max of |gamma / sqrt(var + eps)|;
 * - anything else: {min: null, max: null}.
 *
 * Singular values come from the eigenvalues of the smaller Gram matrix (cyclic Jacobi, float64,
 * `linalg/svd.ts`);
 * the cost grows as min(rows, cols)^3, capped by `maxGramSize`.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { configError } from '../core/errors';
import { isCondensable, isLipschitzLayer } from '../core/contracts';
import { checkKnownKeys, checkPositiveInt, optionNames } from '../core/validation';
import { singularValueRange, type SingularValueRange } from '../linalg/svd';
import { impulseMatrix } from '../ops/impulse_matrix';

/** Options of `computeLayerSV`. */
export interface ComputeLayerSVArgs {
  /** Input shape without the batch dimension; default the shape the layer was built/called with. */
  inputShape?: number[];
  /** Largest side of the Gram matrix to diagonalize (min(rows, cols) of the layer matrix). Default 256. */
  maxGramSize?: number;
}

const LAYER_SV_OPTIONS = optionNames<ComputeLayerSVArgs>({ inputShape: true, maxGramSize: true });
const MODEL_SV_OPTIONS = optionNames<Omit<ComputeLayerSVArgs, 'inputShape'>>({ maxGramSize: true });

/** Singular values of one layer: `{min, max}`, `null` when unknown. */
export type LayerSV = SingularValueRange;

const CONV_CLASSES = ['Conv2D', 'Conv2DTranspose', 'DepthwiseConv2D', 'SeparableConv2D', 'Conv1D', 'Conv3D'];
const ISOMETRIC_CLASSES = ['Flatten', 'Reshape', 'Dropout', 'SpatialDropout1D', 'Permute'];
const GROUP_SORT_CLASSES = ['GroupSort', 'GroupSort2', 'MaxMin', 'FullSort', 'Householder'];

/** Input shape (without batch) of a layer: from its first inbound node or its batchInputShape. */
function layerInputShape(layer: tfl.layers.Layer): number[] | undefined {
  const nodes = (layer as unknown as { inboundNodes?: Array<{ inputShapes?: unknown }> }).inboundNodes;
  const fromNode = nodes?.[0]?.inputShapes;
  let shape: unknown = fromNode;
  if (Array.isArray(shape) && Array.isArray(shape[0])) shape = shape.length === 1 ? shape[0] : undefined;
  if (!Array.isArray(shape)) shape = (layer as unknown as { batchInputShape?: unknown }).batchInputShape;
  if (!Array.isArray(shape)) return undefined;
  const dims = shape.slice(1);
  return dims.every((d) => typeof d === 'number' && d > 0) ? (dims as number[]) : undefined;
}

type LinearFn = (x: tf.Tensor) => tf.Tensor;

/** A copy of a built-in layer without bias and activation, holding the same kernel(s). */
function linearizedClone(layer: tfl.layers.Layer, inputShape: number[]): LinearFn {
  const className = layer.getClassName();
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className];
  if (entry === undefined) configError('layer', 'a registered layer class', className);
  const config = { ...layer.getConfig() } as tf.serialization.ConfigDict;
  const hadBias = config['useBias'] === true;
  config['activation'] = 'linear';
  config['useBias'] = false;
  delete config['name'];
  delete config['batchInputShape'];
  delete config['inputShape'];
  const [cls, fromConfig] = entry;
  const clone = fromConfig(cls, config) as unknown as tfl.layers.Layer;
  clone.build([null, ...inputShape]);
  const weights = layer.getWeights();
  clone.setWeights(hadBias ? weights.slice(0, -1) : weights);
  return (x) => clone.apply(x) as tf.Tensor;
}

/** The linear part of one built-in layer met inside a vanilla export (null: not linear). */
function linearPartOfBuiltin(layer: tfl.layers.Layer, inputShape: number[]): LinearFn | null {
  const className = layer.getClassName();
  if (className === 'Dense' || CONV_CLASSES.includes(className)) return linearizedClone(layer, inputShape);
  if (className === 'Activation' || className === 'ReLU' || className === 'InputLayer') return (x) => x;
  if (className === 'BatchNormalization' || className === 'Add' || className === 'Concatenate') return null;
  // Padding, reshaping, average pooling...: linear layers without bias, used as they are.
  return (x) => layer.apply(x) as tf.Tensor;
}

/** Linear part of a Condensable layer through its vanilla export (a chain of built-in layers). */
function condensedLinearPart(layer: tfl.layers.Layer & { vanillaExport(i: tfl.SymbolicTensor): tfl.SymbolicTensor }, inputShape: number[]): LinearFn {
  const input = tfl.input({ shape: inputShape });
  const output = layer.vanillaExport(input);
  const sub = tfl.model({ inputs: input, outputs: output });
  const parts: LinearFn[] = [];
  let shape = inputShape;
  for (const l of sub.layers) {
    if (l.getClassName() === 'InputLayer') continue;
    const nodes = (l as unknown as { inboundNodes: Array<{ inboundLayers: unknown[] }> }).inboundNodes;
    if ((nodes[0]?.inboundLayers.length ?? 0) !== 1) configError(layer.name, 'a vanilla export made of a chain of single-input layers', l.getClassName());
    const part = linearPartOfBuiltin(l, shape);
    if (part === null) configError(layer.name, 'a vanilla export with a linear part', l.getClassName());
    parts.push(part);
    shape = (l.outputShape as Array<number | null>).slice(1) as number[];
  }
  return (x) => parts.reduce((t, f) => f(t), x);
}

/** Row-major matrix (rows = outputs) of a linear map on inputs of `inputShape`, as rows (views). */
function impulseRows(f: LinearFn, inputShape: number[]): { rows: Float64Array[]; nCols: number } {
  const { values, rows, cols } = impulseMatrix(f, inputShape);
  return { rows: Array.from({ length: rows }, (_, i) => values.subarray(i * cols, (i + 1) * cols)), nCols: cols };
}

/** Checks numerically that f is linear (f(a x + b y) = a f(x) + b f(y), f(0) = 0). */
function looksLinear(f: LinearFn, inputShape: number[]): boolean {
  return tf.tidy(() => {
    const x = tf.randomNormal([1, ...inputShape], 0, 1, 'float32', 7);
    const y = tf.randomNormal([1, ...inputShape], 0, 1, 'float32', 11);
    const lhs = f(tf.sub(tf.mul(x, 0.7), tf.mul(y, 1.3)));
    const rhs = tf.sub(tf.mul(f(x), 0.7), tf.mul(f(y), 1.3));
    const zero = tf.max(tf.abs(f(tf.zerosLike(x)))).dataSync()[0] as number;
    const err = tf.max(tf.abs(tf.sub(lhs, rhs))).dataSync()[0] as number;
    const scale = tf.max(tf.abs(rhs)).dataSync()[0] as number;
    return tf.scalar(zero <= 1e-6 * Math.max(1, scale) && err <= 1e-4 * Math.max(1, scale) ? 1 : 0);
  }).dataSync()[0] === 1;
}

/**
 * Matrix (rows = outputs, float64) of a layer's linear part on inputs of `inputShape`, or null
 * when the layer has no linear part this module knows.
 */
export function layerLinearMatrix(layer: tfl.layers.Layer, args: ComputeLayerSVArgs = {}): { rows: Float64Array[]; nCols: number } | null {
  checkKnownKeys('layerLinearMatrix', args, LAYER_SV_OPTIONS);
  const className = layer.getClassName();
  if (className === 'Dense' && !isCondensable(layer)) {
    const kernel = layer.getWeights()[0];
    if (kernel === undefined) configError(layer.name, 'a built layer', 'unbuilt');
    const [nIn, nOut] = kernel.shape as [number, number];
    const flat = kernel.dataSync() as Float32Array;
    // Kernel [in, out]: the matrix acting on column vectors is its transpose [out, in].
    const rows = Array.from({ length: nOut }, (_, i) => Float64Array.from({ length: nIn }, (_, j) => flat[j * nOut + i] as number));
    return { rows, nCols: nIn };
  }
  const inputShape = args.inputShape ?? layerInputShape(layer);
  const needShape = (): number[] => {
    if (inputShape === undefined) configError('inputShape', `the input shape of layer ${layer.name} (it was never called)`, undefined);
    return inputShape;
  };
  if (isCondensable(layer)) {
    const shape = needShape();
    let f: LinearFn | null = null;
    try {
      f = condensedLinearPart(layer, shape);
    } catch (e) {
      // No exact built-in export, or an export that is not a chain: no linear part to measure.
      if (!isLipschitzLayer(layer)) throw e;
    }
    // Activations (PReLULip, MaxOut, ...) export to non-linear layers: not a linear map.
    if (f !== null && looksLinear(f, shape)) return impulseRows(f, shape);
    return null;
  }
  if (CONV_CLASSES.includes(className)) {
    const shape = needShape();
    return impulseRows(linearizedClone(layer, shape), shape);
  }
  if (isLipschitzLayer(layer) && inputShape !== undefined) {
    const f: LinearFn = (x) => layer.apply(x) as tf.Tensor;
    if (looksLinear(f, inputShape)) return impulseRows(f, inputShape);
  }
  return null;
}

/**
 * Smallest and largest singular values of a layer's linear part (see the module comment for the
 * rules per layer type). Returns `{min: null, max: null}` for layers it cannot handle.
 */
export function computeLayerSV(layer: tfl.layers.Layer, args: ComputeLayerSVArgs = {}): LayerSV {
  checkKnownKeys('computeLayerSV', args, LAYER_SV_OPTIONS);
  const maxGram = checkPositiveInt('maxGramSize', args.maxGramSize ?? 256);
  const className = layer.getClassName();
  const config = layer.getConfig();
  if (className === 'ReLU') return { min: 0, max: 1 };
  if (className === 'Activation') {
    if (config['activation'] === 'relu') return { min: 0, max: 1 };
    if (config['activation'] === 'linear') return { min: 1, max: 1 };
    return { min: null, max: null };
  }
  if (ISOMETRIC_CLASSES.includes(className)) return { min: 1, max: 1 };
  if (GROUP_SORT_CLASSES.includes(className)) return { min: 1, max: 1 };
  if (className === 'Add') {
    const nodes = (layer as unknown as { inboundNodes?: Array<{ inboundLayers: unknown[] }> }).inboundNodes;
    const n = nodes?.[0]?.inboundLayers.length ?? 0;
    return n > 0 ? { min: n, max: n } : { min: null, max: null };
  }
  if (className === 'BatchNormalization') {
    const eps = (config['epsilon'] as number | undefined) ?? 1e-3;
    const named = new Map(layer.weights.map((w, i) => [w.originalName.split('/').pop() ?? '', layer.getWeights()[i] as tf.Tensor]));
    const gamma = named.get('gamma');
    const variance = named.get('moving_variance');
    if (variance === undefined) return { min: null, max: null };
    const g = gamma === undefined ? null : (gamma.dataSync() as Float32Array);
    const v = variance.dataSync() as Float32Array;
    const values = Array.from(v, (vi, i) => Math.abs((g === null ? 1 : (g[i] as number)) / Math.sqrt(vi + eps)));
    return { min: Math.min(...values), max: Math.max(...values) };
  }
  let matrix: { rows: Float64Array[]; nCols: number } | null = null;
  const matrixBound = (): void => {
    if (matrix === null) return;
    const side = Math.min(matrix.rows.length, matrix.nCols);
    if (side > maxGram) {
      configError('maxGramSize', `at least ${side} for layer ${layer.name} (or a smaller inputShape)`, maxGram);
    }
  };
  matrix = layerLinearMatrix(layer, args);
  if (matrix !== null) {
    matrixBound();
    return singularValueRange(matrix.rows, matrix.nCols);
  }
  if (isLipschitzLayer(layer)) return { min: null, max: layer.lipschitzBound() };
  return { min: null, max: null };
}

/**
 * Singular values of every layer of a model, in order (DEEL-LIP's `compute_model_sv`): a nested
 * model contributes `{name, min: null, max: null}` followed by its own layers. Input layers are
 * listed with nulls.
 */
export function computeModelSV(
  model: { layers: tfl.layers.Layer[] },
  args: Omit<ComputeLayerSVArgs, 'inputShape'> = {},
): Array<{ name: string } & LayerSV> {
  checkKnownKeys('computeModelSV', args, MODEL_SV_OPTIONS);
  const out: Array<{ name: string } & LayerSV> = [];
  for (const layer of model.layers) {
    const inner = (layer as unknown as { layers?: unknown }).layers;
    if (Array.isArray(inner)) {
      out.push({ name: layer.name, min: null, max: null });
      out.push(...computeModelSV(layer as unknown as { layers: tfl.layers.Layer[] }, args));
    } else if (layer.getClassName() === 'InputLayer') {
      out.push({ name: layer.name, min: null, max: null });
    } else {
      out.push({ name: layer.name, ...computeLayerSV(layer, args) });
    }
  }
  return out;
}

