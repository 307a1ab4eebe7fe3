/**
 * The table of tfjs built-in layers, `BUILTIN_RULES`: for each className a certified upper bound
 * (L2 to L2, per sample) for the layer's current weights and settings, and the reason the layer can
 * break a 1-Lipschitz budget (a plain `Dense` can: its kernel is free). `lip.lipschitzBound` uses
 * the first part, `lip.sequential` and `lip.checkModel` the second (through `model/bound.ts`,
 * which walks the graph). Weights are read in float64 and their norms certified
 * (`linalg/spectral_norm.ts`). A wrapper (`TimeDistributed`) asks the caller for the bound of its
 * inner layer through the {@link RuleContext}, so that this table needs nothing from `model/`.
 * Derivations: docs/export.md (`lip.lipschitzBound`, "Built-in bounds").
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { certifiedSpectralNorm } from '../linalg/spectral_norm';
import { activationLipschitz } from './activations';
import type { ShapeLike } from './graph';

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

/** Product that treats an unknown factor as unknown (Infinity * 0 is Infinity, not NaN). */
export function multiplyBounds(a: number, b: number): number {
  if (!Number.isFinite(a) || !Number.isFinite(b)) return Infinity;
  return a * b;
}

/** What a rule may ask of its caller: the bound and risk of a layer it wraps. */
export interface RuleContext {
  /** Certified bound of any layer (a tfjs-lip layer, a built-in, a nested model). */
  layerBound(layer: Layer): number;
  /** Why a layer can break a 1-Lipschitz budget, or null (as `lipschitzRisk`). */
  layerRisk(layer: Layer): string | null;
}

/** A built-in layer's rule: its current bound, and why it may break a 1-Lipschitz budget. */
export interface BoundRule {
  bound(layer: Layer, config: Config, inputShape: ShapeLike | undefined, context: RuleContext): number;
  /** Why the layer can exceed 1-Lipschitz; by default, its bound when that is above 1. */
  risk?: (layer: Layer, config: Config, inputShape: ShapeLike | undefined, context: RuleContext) => string | null;
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
 * The square root of the product over the pooled axes of `perAxis(size, pool, stride)` (size
 * undefined when the input shape does not give it); Infinity when that product is not finite.
 */
function sqrtOfProductOverAxes(
  config: Record<string, unknown>,
  inputShape: ShapeLike | undefined,
  rank: number,
  perAxis: (n: number | undefined, pool: number, stride: number) => number,
): number {
  const pool = numbers(config.poolSize, rank);
  const strides = numbers(config.strides ?? config.poolSize, rank);
  const sizes = spatialSizes(inputShape, rank, config.dataFormat);
  let squared = 1;
  for (let d = 0; d < rank; d++) squared *= perAxis(sizes[d], pool[d]!, strides[d]!);
  return Number.isFinite(squared) ? Math.sqrt(squared) : Infinity;
}

/**
 * Max pooling: |max(x_w) - max(y_w)| <= max over the window of |x_i - y_i|, so the squared
 * output distance is at most sum over windows of ||x_w - y_w||^2 <= K ||x - y||^2, K the
 * largest number of windows holding one input (ceil(pool / stride) per axis).
 */
function maxPoolingRule(rank: number): BoundRule {
  return {
    bound: (_layer, config, inputShape) =>
      sqrtOfProductOverAxes(config, inputShape, rank, (n, p, s) =>
        n === undefined ? Math.ceil(p / s) : windowSum(n, p, s, config.padding, () => 1),
      ),
    risk: (layer, config, inputShape, context) => {
      const b = maxPoolingRule(rank).bound(layer, config, inputShape, context);
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
    bound: (_layer, config, inputShape) =>
      sqrtOfProductOverAxes(config, inputShape, rank, (n, p, s) => {
        if (n !== undefined) return windowSum(n, p, s, config.padding, (count) => 1 / count);
        return config.padding === 'same' ? Math.ceil(p / s) : Math.ceil(p / s) / p;
      }),
    risk: (layer, config, inputShape, context) => {
      const b = rule.bound(layer, config, inputShape, context);
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

/** The rules of the tfjs built-in layers, by className. */
export const BUILTIN_RULES: Readonly<Record<string, BoundRule>> = {
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
      const find = (suffix: string) => layer.weights.find((w) => w.originalName.endsWith(suffix));
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
    bound: (layer, _config, _shape, context) => {
      const inner = (layer as unknown as { layer?: Layer }).layer;
      return inner === undefined ? Infinity : context.layerBound(inner);
    },
    risk: (layer, _config, _shape, context) => {
      const inner = (layer as unknown as { layer?: Layer }).layer;
      return inner === undefined ? 'its inner layer is missing' : context.layerRisk(inner);
    },
  },
};
