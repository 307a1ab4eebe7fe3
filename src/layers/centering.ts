/**
 * Centering layers (deel-torchlip `LayerCentering`, `BatchCentering`), channels on the last axis:
 *
 * - `LayerCentering`: `kCoefLip (x - mean over axis) + bias`, per sample. Subtracting the mean
 *   of each group of coordinates is the orthogonal projection onto the vectors of zero group
 *   mean, of norm 1, so the layer is `kCoefLip`-Lipschitz.
 * - `BatchCentering`: `kCoefLip (x - mu) + bias`, mu the batch mean per channel in training and a
 *   running mean (`momentum`, torchlip's convention: `mu <- (1 - m) mu + m mean`, the first batch
 *   sets it) in inference, where it is a translation times `kCoefLip`: `kCoefLip`-Lipschitz.
 *   The certificate is for inference; a training step depends on the batch.
 *
 * Derivations and exports: docs/residual_centering.md. References: deel-torchlip
 * `deel/torchlip/modules/normalization.py`.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { configError, LipschitzConfigError } from '../core/errors';
import { checkBoolean, checkInLeftOpenRange, checkKnownKeys, layerOptionNames } from '../core/validation';
import { ScaledLipschitzLayer, type BaseLayerArgs } from './scaled_layer';

export type Kwargs = Record<string, unknown>;

/** Default momentum of the running statistics (deel-torchlip's 0.05). */
export const DEFAULT_CENTERING_MOMENTUM = 0.05;

/** Options of {@link layerCentering}. */
export interface LayerCenteringArgs extends BaseLayerArgs {
  /** Feature axis or axes the mean is taken over, per sample (default -1; never the batch axis 0). */
  axis?: number | number[];
  /** Whether a learnable bias (one per channel, last axis) is added after centering (default true). */
  useBias?: boolean;
  /** Output scale, the layer's Lipschitz constant (default 1). */
  kCoefLip?: number;
}

/** Options of {@link batchCentering}. */
export interface BatchCenteringArgs extends BaseLayerArgs {
  /** Weight of a new batch in the running mean, in (0, 1] (default 0.05). */
  momentum?: number;
  /** Whether a learnable bias (one per channel, last axis) is added after centering (default true). */
  useBias?: boolean;
  /** Output scale, the layer's Lipschitz constant (default 1). */
  kCoefLip?: number;
}

const LAYER_CENTERING_OPTIONS = layerOptionNames<LayerCenteringArgs>({ axis: true, useBias: true, kCoefLip: true });
const BATCH_CENTERING_OPTIONS = layerOptionNames<BatchCenteringArgs>({ momentum: true, useBias: true, kCoefLip: true });

/** Returns the only input tensor of a call. */
export function singleInput(owner: string, inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  const x = Array.isArray(inputs) ? inputs[0] : inputs;
  if (x === undefined || (Array.isArray(inputs) && inputs.length !== 1)) {
    throw new LipschitzConfigError(`${owner} expects exactly one input tensor.`);
  }
  return x;
}

/** The only shape of a build. */
export function singleShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
  return Array.isArray(inputShape[0]) ? (inputShape[0] as tfl.Shape) : (inputShape as tfl.Shape);
}

/** Static size of the last axis (the channels) of a rank >= 2 shape, or a `LipschitzConfigError`. */
export function channelCount(owner: string, shape: tfl.Shape): number {
  const c = shape[shape.length - 1];
  if (shape.length < 2 || c == null) configError(`${owner} input shape`, 'a known channel count on the last axis', shape);
  return c;
}

/** Momentum in (0, 1]. */
export function checkMomentum(value: unknown): number {
  return checkInLeftOpenRange('momentum', value, 0, 1);
}

/** Every axis but the last (batch and positions): the axes batch statistics reduce. */
export function nonChannelAxes(rank: number): number[] {
  return Array.from({ length: rank - 1 }, (_, i) => i);
}

/**
 * Writes the running statistic `running <- (1 - m) running + m batch`, or `batch` itself when
 * `count` (batches seen so far, a weight) is 0. `countBatch` increments `count` afterwards.
 */
export function updateRunning(running: tfl.LayerVariable, batch: tf.Tensor, count: tfl.LayerVariable, momentum: number): void {
  tf.tidy(() => {
    const first = tf.cast(tf.equal(count.read(), tf.scalar(0)), 'float32');
    // w = 1 on the first batch, m afterwards: (1 - w) running + w batch.
    const w = tf.add(tf.scalar(momentum), tf.mul(first, tf.scalar(1 - momentum)));
    running.write(tf.add(tf.mul(tf.sub(tf.scalar(1), w), running.read()), tf.mul(w, batch)));
  });
}

/** Increments the batch counter. */
export function countBatch(count: tfl.LayerVariable): void {
  tf.tidy(() => {
    count.write(tf.add(count.read(), tf.scalar(1)));
  });
}

/** Values of a weight as a plain array. */
export function valuesOf(weight: tfl.LayerVariable): Float32Array {
  return tf.tidy(() => {
    const value = weight.read();
    return value.dataSync() as Float32Array;
  });
}

/**
 * A built-in `BatchNormalization` (epsilon 0, moving variance 1) computing
 * `scale (x - mean) + bias` per channel of the last axis: an exact per-channel affine map, O(C)
 * (a Dense with a diagonal kernel would cost O(C^2)). Its certified bound is `|scale|`.
 */
export function exportChannelAffine(
  input: tfl.SymbolicTensor,
  spec: { name: string; scale: number; mean: Float32Array; bias: Float32Array | null },
): tfl.SymbolicTensor {
  const channels = spec.mean.length;
  const useScale = spec.scale !== 1;
  const bn = tfl.layers.batchNormalization({ axis: -1, epsilon: 0, center: spec.bias !== null, scale: useScale, name: spec.name });
  const output = bn.apply(input) as tfl.SymbolicTensor;
  const values: Record<string, Float32Array> = {
    gamma: new Float32Array(channels).fill(spec.scale),
    beta: spec.bias ?? new Float32Array(channels),
    moving_mean: spec.mean,
    moving_variance: new Float32Array(channels).fill(1),
  };
  const tensors = bn.weights.map((w) => {
    const key = Object.keys(values).find((k) => w.originalName.endsWith(k));
    if (key === undefined) throw new Error(`exportChannelAffine: unexpected BatchNormalization weight '${w.originalName}'.`);
    return tf.tensor1d(values[key]!);
  });
  bn.setWeights(tensors);
  tf.dispose(tensors);
  return output;
}

/** A namer for the layers of one export: the first gets `name`, the others `${name}_${suffix}`. */
export function exportNamer(name: string): (suffix: string) => string {
  let first = true;
  return (suffix) => {
    if (!first) return `${name}_${suffix}`;
    first = false;
    return name;
  };
}

/** Static feature sizes (no batch) of an exported input, or a `LipschitzConfigError` naming the layer. */
export function staticFeatureDims(layer: tfl.layers.Layer, input: tfl.SymbolicTensor): number[] {
  const dims = input.shape.slice(1);
  if (dims.some((d) => d == null)) {
    throw new LipschitzConfigError(
      `${layer.getClassName()} '${layer.name}': vanillaExport needs a static input shape, but got ${JSON.stringify(input.shape)}.`,
    );
  }
  return dims as number[];
}

/** `axis` as given: a non-zero integer or a non-empty array of distinct non-zero integers. */
function checkAxisArg(value: unknown): number | number[] {
  const ok = (a: unknown) => typeof a === 'number' && Number.isInteger(a) && a !== 0;
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0 || !list.every(ok) || new Set(list).size !== list.length) {
    configError('axis', 'a non-zero integer or a non-empty array of distinct non-zero integers (feature axes)', value);
  }
  return Array.isArray(value) ? [...(value as number[])] : (value as number);
}

/** `axis` resolved against an input of rank `rank`: sorted positive feature axes. */
export function resolveAxes(owner: string, axis: number | number[], rank: number): number[] {
  const list = (Array.isArray(axis) ? axis : [axis]).map((a) => (a < 0 ? a + rank : a));
  if (list.some((a) => a < 1 || a >= rank) || new Set(list).size !== list.length) {
    configError(`${owner} axis`, `feature axes (1 to ${rank - 1}, or -1 to ${1 - rank}) of an input of rank ${rank}`, axis);
  }
  return list.sort((a, b) => a - b);
}

/**
 * Per-sample centering over `axis` times `kCoefLip`, plus an optional per-channel bias
 * (deel-torchlip `LayerCentering`): an orthogonal projection, `kCoefLip`-Lipschitz.
 */
export class LayerCentering extends ScaledLipschitzLayer {
  static className = 'LayerCentering';
  readonly axis: number | number[];
  readonly useBias: boolean;
  private bias: tfl.LayerVariable | null = null;

  constructor(args: LayerCenteringArgs = {}) {
    if (new.target === LayerCentering) checkKnownKeys('layerCentering', args, LAYER_CENTERING_OPTIONS);
    super(args);
    this.kCoefLip = args.kCoefLip ?? 1;
    this.axis = checkAxisArg(args.axis ?? -1);
    this.useBias = checkBoolean('useBias', args.useBias ?? true);
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = singleShape(inputShape);
    resolveAxes(`layerCentering '${this.name}'`, this.axis, shape.length);
    if (this.useBias) {
      const c = channelCount(`layerCentering '${this.name}'`, shape);
      this.bias = this.addWeight('bias', [c], 'float32', tfl.initializers.zeros(), undefined, true);
    }
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = singleInput(`LayerCentering '${this.name}'`, inputs);
      const axes = resolveAxes(`layerCentering '${this.name}'`, this.axis, x.rank);
      const y = this.scaled(tf.sub(x, tf.mean(x, axes, true)));
      return this.bias === null ? y : tf.add(y, this.bias.read());
    });
  }

  /**
   * Built-in layers: a `Dense` with kernel `kCoefLip (I - 11^T / n)` over the centered
   * coordinates (n of them), preceded and followed by `Permute`/`Reshape` when the centered axes
   * are not just the last one, and a bias-only `BatchNormalization` (`${name}_bias`) when the
   * bias cannot sit in the Dense. Exact up to float32 rounding (a matrix product replaces the
   * mean); the Dense costs n^2 weights.
   */
  vanillaExport(input: tfl.SymbolicTensor): tfl.SymbolicTensor {
    const dims = staticFeatureDims(this, input);
    const rank = dims.length + 1;
    const axes = resolveAxes(`layerCentering '${this.name}'`, this.axis, rank);
    const others = dims.map((_, i) => i + 1).filter((a) => !axes.includes(a));
    const isSuffix = axes.every((a, i) => a === rank - axes.length + i);
    const name = exportNamer(this.name);
    const n = axes.reduce((p, a) => p * dims[a - 1]!, 1);
    const otherDims = others.map((a) => dims[a - 1]!);
    const perm = [...others, ...axes];
    let y = input;
    if (!isSuffix) y = tfl.layers.permute({ dims: perm, name: name('permute') }).apply(y) as tfl.SymbolicTensor;
    if (axes.length > 1) y = tfl.layers.reshape({ targetShape: [...otherDims, n], name: name('flatten') }).apply(y) as tfl.SymbolicTensor;
    const bias = this.bias === null ? null : valuesOf(this.bias);
    const biasInDense = bias !== null && axes.length === 1 && axes[0] === rank - 1;
    y = this.exportDense(y, n, name('dense'), biasInDense ? bias : null);
    if (axes.length > 1) {
      y = tfl.layers.reshape({ targetShape: [...otherDims, ...axes.map((a) => dims[a - 1]!)], name: name('unflatten') }).apply(y) as tfl.SymbolicTensor;
    }
    if (!isSuffix) {
      const inverse = perm.map((_, i) => perm.indexOf(i + 1) + 1);
      y = tfl.layers.permute({ dims: inverse, name: name('unpermute') }).apply(y) as tfl.SymbolicTensor;
    }
    if (bias !== null && !biasInDense) {
      y = exportChannelAffine(y, { name: name('bias'), scale: 1, mean: new Float32Array(bias.length), bias });
    }
    return y;
  }

  private exportDense(y: tfl.SymbolicTensor, n: number, name: string, bias: Float32Array | null): tfl.SymbolicTensor {
    const kernel = new Float32Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) kernel[i * n + j] = this.kCoefLip * ((i === j ? 1 : 0) - 1 / n);
    }
    const dense = tfl.layers.dense({ units: n, useBias: bias !== null, name });
    const out = dense.apply(y) as tfl.SymbolicTensor;
    const weights = [tf.tensor2d(kernel, [n, n]), ...(bias === null ? [] : [tf.tensor1d(bias)])];
    dense.setWeights(weights);
    tf.dispose(weights);
    return out;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { axis: this.axis, useBias: this.useBias, ...super.getConfig() };
  }
}
tf.serialization.registerClass(LayerCentering);

/**
 * `kCoefLip (x - mu) + bias` per channel (last axis), mu the batch mean in training and the
 * running mean in inference (deel-torchlip `BatchCentering`): `kCoefLip`-Lipschitz in inference.
 */
export class BatchCentering extends ScaledLipschitzLayer {
  static className = 'BatchCentering';
  readonly momentum: number;
  readonly useBias: boolean;
  private runningMean: tfl.LayerVariable | null = null;
  private numBatches: tfl.LayerVariable | null = null;
  private bias: tfl.LayerVariable | null = null;

  constructor(args: BatchCenteringArgs = {}) {
    if (new.target === BatchCentering) checkKnownKeys('batchCentering', args, BATCH_CENTERING_OPTIONS);
    super(args);
    this.kCoefLip = args.kCoefLip ?? 1;
    this.momentum = checkMomentum(args.momentum ?? DEFAULT_CENTERING_MOMENTUM);
    this.useBias = checkBoolean('useBias', args.useBias ?? true);
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const c = channelCount(`batchCentering '${this.name}'`, singleShape(inputShape));
    this.runningMean = this.addWeight('running_mean', [c], 'float32', tfl.initializers.zeros(), undefined, false);
    this.numBatches = this.addWeight('num_batches', [1], 'float32', tfl.initializers.zeros(), undefined, false);
    if (this.useBias) this.bias = this.addWeight('bias', [c], 'float32', tfl.initializers.zeros(), undefined, true);
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = singleInput(`BatchCentering '${this.name}'`, inputs);
      const running = this.runningMean!;
      let mean: tf.Tensor = running.read();
      if (kwargs.training === true) {
        mean = tf.mean(x, nonChannelAxes(x.rank));
        updateRunning(running, mean, this.numBatches!, this.momentum);
        countBatch(this.numBatches!);
      }
      const y = this.scaled(tf.sub(x, mean));
      return this.bias === null ? y : tf.add(y, this.bias.read());
    });
  }

  /** The running mean (what inference subtracts) and the number of training batches it has seen. */
  runningStatistics(): { mean: Float32Array; numBatches: number } {
    if (this.runningMean === null) throw new LipschitzConfigError(`BatchCentering '${this.name}' is not built yet.`);
    return { mean: valuesOf(this.runningMean), numBatches: valuesOf(this.numBatches!)[0]! };
  }

  /** A per-channel affine `BatchNormalization` (see {@link exportChannelAffine}): scale `kCoefLip`, mean mu. */
  vanillaExport(input: tfl.SymbolicTensor): tfl.SymbolicTensor {
    const { mean } = this.runningStatistics();
    const bias = this.bias === null ? null : valuesOf(this.bias);
    return exportChannelAffine(input, { name: this.name, scale: this.kCoefLip, mean, bias });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { momentum: this.momentum, useBias: this.useBias, ...super.getConfig() };
  }
}
tf.serialization.registerClass(BatchCentering);

/** Per-sample centering over `axis` (default the last), `kCoefLip`-Lipschitz (an orthogonal projection). */
export function layerCentering(args: LayerCenteringArgs = {}): LayerCentering {
  return new LayerCentering(args);
}

/** Batch centering with a running mean for inference (torchlip momentum convention), `kCoefLip`-Lipschitz in inference. */
export function batchCentering(args: BatchCenteringArgs = {}): BatchCentering {
  return new BatchCentering(args);
}
