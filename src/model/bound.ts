/**
 * Certified Lipschitz bounds (L2 to L2, per sample) of layers and models.
 *
 * The table `BUILTIN_RULES` is the one place that knows the tfjs built-in layers: for each
 * className it gives a certified upper bound for the layer's current weights and settings, and
 * says whether the layer can break a 1-Lipschitz budget (a plain `Dense` can: its kernel is free).
 * `lip.sequential` uses the second part to reject such layers, `lip.lipschitzBound` the first.
 *
 * Graph rules for `lipschitzBound(model)`: a model input has bound 1 (with several inputs, with
 * respect to their concatenation); a one-input layer multiplies its input's bound by its own;
 * `Add`/`Subtract` sum the inbound bounds, `Average` takes their mean, `Concatenate`, `Maximum`
 * and `Minimum` take sqrt(sum of squares); `Multiply`, `Dot` and unknown merges give Infinity;
 * a nested model is walked with its inbound bounds; several model outputs combine as a
 * concatenation. A layer whose bound is unknown makes the bound Infinity.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { InferenceGroupSort, InferenceL2NormPooling2D } from '../inference';
import { isLipschitzLayer } from '../core/contracts';
import { warnIfUnchecked } from './check_hook';
import { evaluateGraph, isContainer, nodeInputShapes, type GraphNode, type ShapeLike } from '../core/graph';
import { patternBound } from './patterns';
import { checkModelArgument } from './model_argument';
import { certifiedSpectralNorm } from '../linalg/spectral_norm';

type Layer = tfl.layers.Layer;
type Config = Record<string, unknown>;

/**
 * Every class tfjs 4.22 registers for serialization (layers, containers, activations,
 * initializers, constraints, regularizers, optimizers). A model whose JSON names only these
 * loads with plain tfjs.
 */
export const TFJS_BUILTIN_CLASS_NAMES: ReadonlySet<string> = new Set(
  (
    'Adadelta Adagrad Adam Adamax Momentum RMSProp SGD Zeros Ones Constant RandomUniform RandomNormal ' +
    'TruncatedNormal Identity VarianceScaling GlorotUniform GlorotNormal HeNormal HeUniform LeCunNormal ' +
    'LeCunUniform Orthogonal InputLayer MaxNorm UnitNorm NonNeg MinMaxNorm Model Functional Sequential ' +
    'elu selu relu relu6 linear sigmoid hardSigmoid softplus softsign tanh softmax logSoftmax gelu gelu_new ' +
    'mish swish L1L2 ReLU LeakyReLU PReLU ELU ThresholdedReLU Softmax Conv2D Conv3D Conv2DTranspose ' +
    'Conv3DTranspose SeparableConv2D Conv1D Cropping2D UpSampling2D DepthwiseConv2D RNN SimpleRNNCell ' +
    'SimpleRNN GRUCell GRU LSTMCell LSTM StackedRNNCells ConvLSTM2DCell ConvLSTM2D Dropout SpatialDropout1D ' +
    'Dense Flatten Activation RepeatVector Reshape Permute Masking Embedding Add Multiply Average Maximum ' +
    'Minimum Concatenate Dot GaussianNoise GaussianDropout AlphaDropout BatchNormalization ' +
    'LayerNormalization ZeroPadding2D MaxPooling1D AveragePooling1D MaxPooling2D AveragePooling2D ' +
    'MaxPooling3D AveragePooling3D GlobalAveragePooling1D GlobalMaxPooling1D GlobalAveragePooling2D ' +
    'GlobalMaxPooling2D TimeDistributed Bidirectional Rescaling CenterCrop CategoryEncoding Resizing RandomWidth'
  ).split(' '),
);

/**
 * Certified Lipschitz constants of the tfjs activation identifiers (largest |f'|, rounded up):
 * selu = scale * alpha = 1.0507 * 1.6733; gelu, gelu_new, swish and mish peak slightly above 1;
 * softmax is 1/2-Lipschitz (its Jacobian diag(p) - p p^T has eigenvalues <= max 2 p_i (1 - p_i)).
 * `exponential` and `logSoftmax` are not Lipschitz on their whole domain (absent: Infinity).
 */
export const ACTIVATION_LIPSCHITZ: Readonly<Record<string, number>> = {
  linear: 1,
  relu: 1,
  relu6: 1,
  elu: 1,
  tanh: 1,
  softsign: 1,
  softplus: 1,
  sigmoid: 0.25,
  hardSigmoid: 0.2,
  softmax: 0.5,
  selu: 1.7581,
  gelu: 1.1291,
  gelu_new: 1.1291,
  swish: 1.1,
  mish: 1.0886,
};

/** Lipschitz constant of a tfjs activation identifier (undefined/null mean linear); Infinity if unknown. */
export function activationLipschitz(identifier: unknown): number {
  if (identifier === undefined || identifier === null) return 1;
  if (typeof identifier !== 'string') return Infinity;
  return ACTIVATION_LIPSCHITZ[identifier] ?? Infinity;
}

/** Product that treats an unknown factor as unknown (Infinity * 0 is Infinity, not NaN). */
export function multiplyBounds(a: number, b: number): number {
  if (!Number.isFinite(a) || !Number.isFinite(b)) return Infinity;
  return a * b;
}

/** A built-in layer's rule: its current bound, and why it may break a 1-Lipschitz budget. */
interface BoundRule {
  bound(layer: Layer, config: Config, inputShape: ShapeLike | undefined): number;
  /** Why the layer can exceed 1-Lipschitz; by default, its bound when that is above 1. */
  risk?: (layer: Layer, config: Config, inputShape: ShapeLike | undefined) => string | null;
}

const ISOMETRY: BoundRule = { bound: () => 1 };
const INFERENCE_IDENTITY: BoundRule = { bound: () => 1 };

function numbers(value: unknown, rank: number): number[] {
  if (typeof value === 'number') return new Array<number>(rank).fill(value);
  if (Array.isArray(value)) return value.map((v) => Number(v));
  return new Array<number>(rank).fill(NaN);
}

/** Spatial sizes of an input shape (batch first), or undefined where unknown. */
function spatialSizes(inputShape: ShapeLike | undefined, rank: number, dataFormat: unknown): Array<number | undefined> {
  if (inputShape === undefined || inputShape.length !== rank + 2) return new Array<undefined>(rank).fill(undefined);
  const start = dataFormat === 'channelsFirst' ? 2 : 1;
  return inputShape.slice(start, start + rank).map((d) => (typeof d === 'number' ? d : undefined));
}

/**
 * Largest, over the positions of one axis of size n, of the sum over the pooling windows that
 * contain the position of weight(window size); windows placed as TensorFlow does ('same': the
 * output has ceil(n / s) windows, padding split with the smaller half first).
 */
function windowSum(n: number, pool: number, stride: number, padding: unknown, weight: (count: number) => number): number {
  const acc = new Float64Array(n);
  let outputs: number;
  let padBefore = 0;
  if (padding === 'same') {
    outputs = Math.ceil(n / stride);
    padBefore = Math.floor(Math.max((outputs - 1) * stride + pool - n, 0) / 2);
  } else {
    outputs = Math.floor((n - pool) / stride) + 1;
  }
  for (let o = 0; o < outputs; o++) {
    const start = Math.max(o * stride - padBefore, 0);
    const end = Math.min(o * stride - padBefore + pool, n);
    if (end <= start) continue;
    const w = weight(end - start);
    for (let i = start; i < end; i++) acc[i] = acc[i]! + w;
  }
  let best = 0;
  for (let i = 0; i < n; i++) best = Math.max(best, acc[i]!);
  return best;
}

/**
 * Max pooling: |max(x_w) - max(y_w)| <= max over the window of |x_i - y_i|, so the squared
 * output distance is at most sum over windows of ||x_w - y_w||^2 <= K ||x - y||^2, K the
 * largest number of windows holding one input (ceil(pool / stride) per axis).
 */
function maxPoolingRule(rank: number): BoundRule {
  return {
    bound: (_layer, config, inputShape) => {
      const pool = numbers(config.poolSize, rank);
      const strides = numbers(config.strides ?? config.poolSize, rank);
      const sizes = spatialSizes(inputShape, rank, config.dataFormat);
      let k = 1;
      for (let d = 0; d < rank; d++) {
        const p = pool[d]!;
        const s = strides[d]!;
        const n = sizes[d];
        k *= n === undefined ? Math.ceil(p / s) : windowSum(n, p, s, config.padding, () => 1);
      }
      return Number.isFinite(k) ? Math.sqrt(k) : Infinity;
    },
    risk: (layer, config, inputShape) => {
      const b = maxPoolingRule(rank).bound(layer, config, inputShape);
      return b > 1 ? `overlapping windows (strides ${JSON.stringify(config.strides)} < poolSize ${JSON.stringify(config.poolSize)}) give a bound of ${b.toFixed(4)}` : null;
    },
  };
}

/**
 * Average pooling: by Cauchy-Schwarz |mean(x_w)| <= ||x_w|| / sqrt(c_w) (c_w the number of
 * valid cells, tfjs excludes padding), so the squared bound is the largest, over inputs, of the
 * sum of 1 / c_w over the windows holding it: ceil(p/s)/p per axis with 'valid' padding (<= 1),
 * possibly above 1 near the border with 'same' padding and overlapping windows.
 */
function averagePoolingRule(rank: number): BoundRule {
  const rule: BoundRule = {
    bound: (_layer, config, inputShape) => {
      const pool = numbers(config.poolSize, rank);
      const strides = numbers(config.strides ?? config.poolSize, rank);
      const sizes = spatialSizes(inputShape, rank, config.dataFormat);
      let squared = 1;
      for (let d = 0; d < rank; d++) {
        const p = pool[d]!;
        const s = strides[d]!;
        const n = sizes[d];
        if (n !== undefined) squared *= windowSum(n, p, s, config.padding, (count) => 1 / count);
        else squared *= config.padding === 'same' ? Math.ceil(p / s) : Math.ceil(p / s) / p;
      }
      return Number.isFinite(squared) ? Math.sqrt(squared) : Infinity;
    },
    risk: (layer, config, inputShape) => {
      const b = rule.bound(layer, config, inputShape);
      return b > 1
        ? `with padding '${String(config.padding)}' and overlapping windows the border averages over fewer cells (bound ${b.toFixed(4)})`
        : null;
    },
  };
  return rule;
}

/** Global average over N positions: |mean| <= ||x|| / sqrt(N) per channel. */
function globalAveragePoolingRule(rank: number): BoundRule {
  return {
    bound: (_layer, config, inputShape) => {
      const sizes = spatialSizes(inputShape, rank, config.dataFormat);
      if (sizes.some((n) => n === undefined)) return 1;
      return 1 / Math.sqrt(sizes.reduce((p: number, n) => p * n!, 1));
    },
  };
}

/** The kernel of a layer as a row-major matrix with `cols` columns. */
function kernelValues(layer: Layer, index: number): Float32Array | undefined {
  const w = layer.getWeights()[index];
  return w === undefined ? undefined : (w.dataSync() as Float32Array);
}

const UNCONSTRAINED = (className: string, replacement: string) => () =>
  `a plain ${className} kernel is unconstrained during training (use ${replacement})`;

/** Per-axis count of kernel positions that read one input cell. */
function overlapCount(config: Config, rank: number): number {
  const kernel = numbers(config.kernelSize, rank);
  const strides = numbers(config.strides ?? 1, rank);
  const dilation = numbers(config.dilationRate ?? 1, rank);
  let k = 1;
  for (let d = 0; d < rank; d++) k *= dilation[d] === 1 ? Math.ceil(kernel[d]! / strides[d]!) : kernel[d]!;
  return k;
}

/**
 * Convolution: each output cell is W^T applied to its input patch, and each input cell lies in
 * at most K patches, so ||conv|| <= sqrt(K) ||W reshaped to (patch, filters)||. A transposed
 * convolution is the adjoint of such a convolution and has the same norm.
 */
function convolutionRule(rank: number, className: string): BoundRule {
  return {
    bound: (layer, config) => {
      const kernel = layer.getWeights()[0];
      if (kernel === undefined) return Infinity;
      const shape = kernel.shape;
      // [...kernel, in, out] (or [...kernel, out, in] transposed): the last axis is the columns.
      const cols = shape[shape.length - 1]!;
      const rows = kernel.size / cols;
      const norm = certifiedSpectralNorm(kernel.dataSync(), rows, cols);
      return multiplyBounds(Math.sqrt(overlapCount(config, rank)) * norm, activationLipschitz(config.activation));
    },
    risk: UNCONSTRAINED(className, 'lip.layers.spectralConv2d or another tfjs-lip convolution'),
  };
}

/** Largest norm over channels of a depthwise kernel [kh, kw, channels, multiplier]. */
function depthwiseNorm(values: Float32Array, shape: number[]): number {
  const channels = shape[2]!;
  const mult = shape[3]!;
  const area = shape[0]! * shape[1]!;
  let best = 0;
  for (let c = 0; c < channels; c++) {
    const block = new Float64Array(area * mult);
    for (let a = 0; a < area; a++) {
      for (let m = 0; m < mult; m++) block[a * mult + m] = values[(a * channels + c) * mult + m]!;
    }
    best = Math.max(best, certifiedSpectralNorm(block, area, mult));
  }
  return best;
}

const BUILTIN_RULES: Readonly<Record<string, BoundRule>> = {
  InputLayer: ISOMETRY,
  Flatten: ISOMETRY,
  Reshape: ISOMETRY,
  Permute: ISOMETRY,
  // Zero padding embeds isometrically; cropping is a coordinate projection.
  ZeroPadding2D: ISOMETRY,
  Cropping2D: ISOMETRY,
  CenterCrop: ISOMETRY,
  // The bound certifies the inference function (predict); these are the identity there. In
  // training Dropout scales kept units by 1 / (1 - rate), which only changes the training signal.
  Dropout: INFERENCE_IDENTITY,
  SpatialDropout1D: INFERENCE_IDENTITY,
  GaussianNoise: INFERENCE_IDENTITY,
  GaussianDropout: INFERENCE_IDENTITY,
  AlphaDropout: INFERENCE_IDENTITY,
  // max over positions of each channel: |max x - max y| <= ||x - y||_inf <= ||x - y||_2.
  GlobalMaxPooling1D: ISOMETRY,
  GlobalMaxPooling2D: ISOMETRY,
  GlobalAveragePooling1D: globalAveragePoolingRule(1),
  GlobalAveragePooling2D: globalAveragePoolingRule(2),
  MaxPooling1D: maxPoolingRule(1),
  MaxPooling2D: maxPoolingRule(2),
  MaxPooling3D: maxPoolingRule(3),
  AveragePooling1D: averagePoolingRule(1),
  AveragePooling2D: averagePoolingRule(2),
  AveragePooling3D: averagePoolingRule(3),
  Activation: {
    bound: (_l, config) => activationLipschitz(config.activation),
    risk: (_l, config) => {
      const b = activationLipschitz(config.activation);
      return b > 1 ? `activation ${JSON.stringify(config.activation)} is not 1-Lipschitz (bound ${b})` : null;
    },
  },
  ReLU: ISOMETRY,
  Softmax: { bound: () => 0.5 },
  LeakyReLU: {
    bound: (_l, config) => Math.max(1, Math.abs(Number(config.alpha ?? 0.3))),
    risk: (_l, config) => (Math.abs(Number(config.alpha ?? 0.3)) > 1 ? `alpha ${String(config.alpha)} > 1 is its slope` : null),
  },
  ELU: {
    bound: (_l, config) => Math.max(1, Math.abs(Number(config.alpha ?? 1))),
    risk: (_l, config) => (Math.abs(Number(config.alpha ?? 1)) > 1 ? `alpha ${String(config.alpha)} > 1 is its slope near 0` : null),
  },
  ThresholdedReLU: {
    bound: (_l, config) => (Number(config.theta ?? 1) > 0 ? Infinity : 1),
    risk: (_l, config) => (Number(config.theta ?? 1) > 0 ? `it is discontinuous at theta ${String(config.theta ?? 1)}` : null),
  },
  PReLU: {
    bound: (layer) => {
      const alpha = kernelValues(layer, 0);
      if (alpha === undefined) return Infinity;
      let best = 1;
      for (const a of alpha) best = Math.max(best, Math.abs(a));
      return best;
    },
    risk: () => 'its slope alpha is learned without constraint',
  },
  Masking: {
    bound: (_l, config) => (Number(config.maskValue ?? 0) === 0 ? 1 : Infinity),
    risk: (_l, config) => (Number(config.maskValue ?? 0) === 0 ? null : 'masking a non-zero value is discontinuous'),
  },
  RepeatVector: { bound: (_l, config) => Math.sqrt(Number(config.n ?? 1)) },
  Rescaling: { bound: (_l, config) => Math.abs(Number(config.scale ?? 1)) },
  UpSampling2D: {
    bound: (_l, config) =>
      config.interpolation === 'bilinear' ? Infinity : Math.sqrt(numbers(config.size ?? 2, 2).reduce((p, s) => p * s, 1)),
    risk: (_l, config) => `up-sampling copies each input ${JSON.stringify(config.size)} times (use lip.layers' invertible up-sampling)`,
  },
  Dense: {
    bound: (layer, config) => {
      const kernel = layer.getWeights()[0];
      if (kernel === undefined) return Infinity;
      const [rows, cols] = kernel.shape as [number, number];
      return multiplyBounds(certifiedSpectralNorm(kernel.dataSync(), rows, cols), activationLipschitz(config.activation));
    },
    risk: UNCONSTRAINED('Dense', 'lip.layers.spectralDense'),
  },
  Conv1D: convolutionRule(1, 'Conv1D'),
  Conv2D: convolutionRule(2, 'Conv2D'),
  Conv3D: convolutionRule(3, 'Conv3D'),
  Conv2DTranspose: convolutionRule(2, 'Conv2DTranspose'),
  Conv3DTranspose: convolutionRule(3, 'Conv3DTranspose'),
  DepthwiseConv2D: {
    bound: (layer, config) => {
      const kernel = layer.getWeights()[0];
      if (kernel === undefined) return Infinity;
      const norm = depthwiseNorm(kernel.dataSync() as Float32Array, kernel.shape);
      return multiplyBounds(Math.sqrt(overlapCount(config, 2)) * norm, activationLipschitz(config.activation));
    },
    risk: UNCONSTRAINED('DepthwiseConv2D', 'a tfjs-lip convolution'),
  },
  SeparableConv2D: {
    bound: (layer, config) => {
      const [depthwise, pointwise] = layer.getWeights();
      if (depthwise === undefined || pointwise === undefined) return Infinity;
      const dNorm = depthwiseNorm(depthwise.dataSync() as Float32Array, depthwise.shape);
      const cols = pointwise.shape[3]!;
      const pNorm = certifiedSpectralNorm(pointwise.dataSync(), pointwise.size / cols, cols);
      return multiplyBounds(Math.sqrt(overlapCount(config, 2)) * dNorm * pNorm, activationLipschitz(config.activation));
    },
    risk: UNCONSTRAINED('SeparableConv2D', 'a tfjs-lip convolution'),
  },
  BatchNormalization: {
    // Inference: gamma * (x - mean) / sqrt(var + eps) + beta, a diagonal map.
    bound: (layer, config) => {
      const find = (suffix: string) => layer.weights.find((w) => w.name.endsWith(suffix));
      const variance = find('moving_variance');
      if (variance === undefined) return Infinity;
      const gamma = find('gamma');
      const v = variance.read().dataSync();
      const g = gamma?.read().dataSync();
      const eps = Number(config.epsilon ?? 1e-3);
      let best = 0;
      for (let i = 0; i < v.length; i++) best = Math.max(best, Math.abs(g ? g[i]! : 1) / Math.sqrt(v[i]! + eps));
      return best;
    },
    risk: () => 'its scale gamma / sqrt(movingVariance + epsilon) is unconstrained',
  },
  LayerNormalization: {
    bound: () => Infinity,
    risk: () => 'dividing by the standard deviation of the sample is not Lipschitz near constant inputs',
  },
  Embedding: { bound: () => Infinity, risk: () => 'its input is a set of integer indices' },
  CategoryEncoding: { bound: () => Infinity, risk: () => 'its input is a set of integer indices' },
  Resizing: { bound: () => Infinity, risk: () => 'image resizing has no tfjs-lip bound' },
  RandomWidth: { bound: () => Infinity, risk: () => 'image resizing has no tfjs-lip bound' },
  SimpleRNN: { bound: () => Infinity, risk: () => 'recurrent layers have no tfjs-lip bound' },
  GRU: { bound: () => Infinity, risk: () => 'recurrent layers have no tfjs-lip bound' },
  LSTM: { bound: () => Infinity, risk: () => 'recurrent layers have no tfjs-lip bound' },
  ConvLSTM2D: { bound: () => Infinity, risk: () => 'recurrent layers have no tfjs-lip bound' },
  RNN: { bound: () => Infinity, risk: () => 'recurrent layers have no tfjs-lip bound' },
  Bidirectional: { bound: () => Infinity, risk: () => 'recurrent layers have no tfjs-lip bound' },
  TimeDistributed: {
    // Applying g to every time step separately is as Lipschitz as g.
    bound: (layer) => {
      const inner = (layer as unknown as { layer?: Layer }).layer;
      return inner === undefined ? Infinity : layerLipschitzBound(inner);
    },
    risk: (layer) => {
      const inner = (layer as unknown as { layer?: Layer }).layer;
      return inner === undefined ? 'its inner layer is missing' : lipschitzRisk(inner);
    },
  },
};

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
  return rule.bound(layer, configOf(layer), inputShape ?? lastInputShape(layer));
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
  if (rule.risk !== undefined) return rule.risk(layer, config, shape);
  const b = rule.bound(layer, config, shape);
  return b > 1 ? `its Lipschitz bound is ${b}` : null;
}

/** Combination rule of a merge layer's inbound bounds, or undefined if `className` is not a merge. */
export function mergeLipschitzBound(className: string, bounds: number[]): number | undefined {
  const rule = MERGE_RULES[className];
  if (rule === undefined) return undefined;
  if (bounds.some((b) => !Number.isFinite(b))) return Infinity;
  return rule(bounds);
}

/**
 * Certified upper bound of the Lipschitz constant (L2 to L2, per sample) of a tfjs model, for
 * its current weights: for a Sequential the product of its layers' bounds; for a functional
 * model the graph rules of this module. Infinity when a layer's bound is unknown.
 */
export function lipschitzBound(model: tfl.LayersModel): number {
  checkModelArgument('lipschitzBound', model, 'for one layer use layer.lipschitzBound()');
  warnIfUnchecked(model, 'lip.lipschitzBound');
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
