/**
 * `BatchLipNorm` (after deel-torchlip's `BatchLipNorm`): batch centering followed by one scale
 * shared by every channel, `y = s (x - mu) + bias` with `s = min(kCoefLip, 1 / lambda)` and
 * `lambda = sqrt(max_c var_c + epsilon)`.
 *
 * In training mu and var are the batch mean and (unbiased) variance per channel (last axis);
 * in inference their running values (`momentum`, torchlip's convention, the first batch sets
 * them). torchlip divides by lambda and lets a `SharedLipFactory` multiply the product of the
 * lambdas back at the end of the network; here the scale is instead capped by the layer's
 * Lipschitz budget `kCoefLip`, so each layer is certified on its own: in inference the map is a
 * translation times s, `s <= kCoefLip`-Lipschitz, and `lipschitzBound()` reports s itself.
 *
 * Derivation: docs/residual_centering.md. References: deel-torchlip
 * `deel/torchlip/modules/normalization.py`; S. Ioffe, C. Szegedy, "Batch Normalization", 2015.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { configError, LipschitzConfigError } from '../core/errors';
import { checkBoolean, checkKnownKeys, layerOptionNames } from '../core/validation';
import { ScaledLipschitzLayer, type BaseLayerArgs } from './scaled_layer';
import {
  channelCount,
  checkMomentum,
  countBatch,
  DEFAULT_CENTERING_MOMENTUM,
  exportChannelAffine,
  nonChannelAxes,
  singleInput,
  singleShape,
  updateRunning,
  valuesOf,
  type Kwargs,
} from './centering';

/** Default epsilon added to the largest variance (deel-torchlip's 1e-5). */
export const DEFAULT_BATCH_LIP_NORM_EPSILON = 1e-5;

/** Options of {@link batchLipNorm}. */
export interface BatchLipNormArgs extends BaseLayerArgs {
  /** Weight of a new batch in the running mean and variance, in (0, 1] (default 0.05). */
  momentum?: number;
  /** Added to the largest channel variance before the square root, >= 0 (default 1e-5). */
  epsilon?: number;
  /** Whether a learnable bias (one per channel) is added after the scale (default true). */
  useBias?: boolean;
  /** Largest scale the layer may apply: its Lipschitz budget (default 1). */
  kCoefLip?: number;
}

const BATCH_LIP_NORM_OPTIONS = layerOptionNames<BatchLipNormArgs>({ momentum: true, epsilon: true, useBias: true, kCoefLip: true });

/** `min(kCoefLip, 1 / sqrt(max(variance) + epsilon))` as a float32 scalar. */
function sharedScale(variance: tf.Tensor, epsilon: number, kCoefLip: number): tf.Scalar {
  return tf.tidy(() => tf.minimum(tf.scalar(kCoefLip), tf.rsqrt(tf.add(tf.max(variance), tf.scalar(epsilon)))) as tf.Scalar);
}

/**
 * Batch centering and a shared scale `min(kCoefLip, 1 / sqrt(max_c var_c + epsilon))`:
 * `s`-Lipschitz in inference with `s <= kCoefLip`.
 */
export class BatchLipNorm extends ScaledLipschitzLayer {
  static className = 'BatchLipNorm';
  readonly momentum: number;
  readonly epsilon: number;
  readonly useBias: boolean;
  private runningMean: tfl.LayerVariable | null = null;
  private runningVariance: tfl.LayerVariable | null = null;
  private numBatches: tfl.LayerVariable | null = null;
  private bias: tfl.LayerVariable | null = null;

  constructor(args: BatchLipNormArgs = {}) {
    if (new.target === BatchLipNorm) checkKnownKeys('batchLipNorm', args, BATCH_LIP_NORM_OPTIONS);
    super(args);
    this.kCoefLip = args.kCoefLip ?? 1;
    this.momentum = checkMomentum(args.momentum ?? DEFAULT_CENTERING_MOMENTUM);
    const epsilon = args.epsilon ?? DEFAULT_BATCH_LIP_NORM_EPSILON;
    if (typeof epsilon !== 'number' || !Number.isFinite(epsilon) || epsilon < 0) configError('epsilon', 'a finite number >= 0', epsilon);
    this.epsilon = epsilon;
    this.useBias = checkBoolean('useBias', args.useBias ?? true);
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const c = channelCount(`batchLipNorm '${this.name}'`, singleShape(inputShape));
    this.runningMean = this.addWeight('running_mean', [c], 'float32', tfl.initializers.zeros(), undefined, false);
    this.runningVariance = this.addWeight('running_variance', [c], 'float32', tfl.initializers.ones(), undefined, false);
    this.numBatches = this.addWeight('num_batches', [1], 'float32', tfl.initializers.zeros(), undefined, false);
    if (this.useBias) this.bias = this.addWeight('bias', [c], 'float32', tfl.initializers.zeros(), undefined, true);
    this.built = true;
  }

  /** Batch mean and unbiased variance per channel (the biased one for a single value per channel). */
  private batchMoments(x: tf.Tensor): { mean: tf.Tensor; variance: tf.Tensor } {
    const axes = nonChannelAxes(x.rank);
    const n = x.size / (x.shape[x.rank - 1] as number);
    const { mean, variance } = tf.moments(x, axes);
    return { mean, variance: n > 1 ? tf.mul(variance, tf.scalar(n / (n - 1))) : variance };
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = singleInput(`BatchLipNorm '${this.name}'`, inputs);
      const state = this.requireState();
      let mean: tf.Tensor = state.mean.read();
      let variance: tf.Tensor = state.variance.read();
      if (kwargs.training === true) {
        ({ mean, variance } = this.batchMoments(x));
        updateRunning(state.mean, mean, state.count, this.momentum);
        updateRunning(state.variance, variance, state.count, this.momentum);
        countBatch(state.count);
      }
      const y = tf.mul(tf.sub(x, mean), sharedScale(variance, this.epsilon, this.kCoefLip));
      return this.bias === null ? y : tf.add(y, this.bias.read());
    });
  }

  private requireState(): { mean: tfl.LayerVariable; variance: tfl.LayerVariable; count: tfl.LayerVariable } {
    if (this.runningMean === null || this.runningVariance === null || this.numBatches === null) {
      throw new LipschitzConfigError(`BatchLipNorm '${this.name}' is not built yet.`);
    }
    return { mean: this.runningMean, variance: this.runningVariance, count: this.numBatches };
  }

  /** The scale s applied in inference (float32, from the running variance); `kCoefLip` before build. */
  inferenceScale(): number {
    if (this.runningVariance === null) return this.kCoefLip;
    const variance = this.runningVariance;
    return tf.tidy(() => {
      const scale = sharedScale(variance.read(), this.epsilon, this.kCoefLip);
      return scale.dataSync()[0]!;
    });
  }

  /** The inference scale s (<= kCoefLip): the layer is a translation times s. */
  override lipschitzBound(): number {
    return this.inferenceScale();
  }

  /** Running mean and variance (what inference uses) and the number of training batches seen. */
  runningStatistics(): { mean: Float32Array; variance: Float32Array; numBatches: number } {
    const state = this.requireState();
    return { mean: valuesOf(state.mean), variance: valuesOf(state.variance), numBatches: valuesOf(state.count)[0]! };
  }

  /** A per-channel affine `BatchNormalization` with scale s and mean mu (exact; bound s). */
  vanillaExport(input: tfl.SymbolicTensor): tfl.SymbolicTensor {
    const { mean } = this.runningStatistics();
    const bias = this.bias === null ? null : valuesOf(this.bias);
    return exportChannelAffine(input, { name: this.name, scale: this.inferenceScale(), mean, bias });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { momentum: this.momentum, epsilon: this.epsilon, useBias: this.useBias, ...super.getConfig() };
  }
}
tf.serialization.registerClass(BatchLipNorm);

/**
 * Batch centering with one shared scale `min(kCoefLip, 1 / sqrt(max_c var_c + epsilon))`
 * (running statistics in inference): at most `kCoefLip`-Lipschitz in inference.
 */
export function batchLipNorm(args: BatchLipNormArgs = {}): BatchLipNorm {
  return new BatchLipNorm(args);
}
