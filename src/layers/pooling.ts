/**
 * Scaled poolings (DEEL-LIP `deel/lip/layers/pooling.py`): average and L2-norm poolings rescaled
 * so that their Lipschitz constant (L2 to L2) is exactly `kCoefLip`. This file has the average
 * poolings and re-exports the L2-norm ones (`l2_pooling.ts`); `pooling_base.ts` what they share.
 *
 * - `ScaledAveragePooling2D`: `kCoefLip * sqrt(ph*pw) * avgPool(x)`; non-overlapping windows, so
 *   the operator is a block-diagonal matrix of rows `1/sqrt(n)` (norm 1) times `kCoefLip`.
 * - `ScaledL2NormPooling2D`: `kCoefLip * sqrt(sum of x^2 over each window)` (Boureau et al.);
 *   1-Lipschitz because the Euclidean norm is.
 * - `ScaledGlobalAveragePooling2D`: `kCoefLip * sqrt(H*W) * mean_{H,W}(x)`.
 * - `ScaledGlobalL2NormPooling2D`: `kCoefLip * ||x[:, :, c]||_2` per channel.
 *
 * The L2 norms use a square root whose gradient is `dy / (2 * (sqrt(y) + epsGradSqrt))`
 * (DEEL-LIP's `eps_grad_sqrt`), which is finite at 0 and never exceeds the true one.
 *
 * References: Y.-L. Boureau, J. Ponce, Y. LeCun, "A Theoretical Analysis of Feature Pooling in
 * Visual Recognition", ICML 2010; Serrurier et al., "Achieving robustness in classification
 * using optimal transport with hinge regularization", CVPR 2021 (DEEL-LIP).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { STANDALONE_EXPORT } from '../core/channel_map';
import type { ExportContext } from '../core/contracts';
import { checkKnownKeys } from '../core/validation';
import {
  inNhwc,
  SCALED_GLOBAL_POOLING_OPTIONS,
  SCALED_POOLING_OPTIONS,
  ScaledGlobalPoolingBase,
  ScaledWindowPoolingBase,
  single,
  staticDims,
  type Kwargs,
  type ScaledGlobalPooling2DArgs,
  type ScaledPooling2DArgs,
} from './pooling_base';

export type {
  PoolingDataFormat,
  ScaledPooling2DArgs,
  ScaledL2NormPooling2DArgs,
  ScaledGlobalPooling2DArgs,
  ScaledGlobalL2NormPooling2DArgs,
} from './pooling_base';
export {
  L2_EXPORT_OFFSET,
  helmertColumns,
  ScaledL2NormPooling2D,
  ScaledGlobalL2NormPooling2D,
  scaledL2NormPooling2d,
  scaledGlobalL2NormPooling2d,
} from './l2_pooling';

/**
 * Average pooling times `sqrt(ph*pw) * kCoefLip` (DEEL-LIP `ScaledAveragePooling2D`): with
 * non-overlapping windows its Lipschitz constant is exactly `kCoefLip`.
 */
export class ScaledAveragePooling2D extends ScaledWindowPoolingBase {
  static className = 'ScaledAveragePooling2D';

  constructor(args: ScaledPooling2DArgs = {}) {
    if (new.target === ScaledAveragePooling2D) checkKnownKeys('scaledAveragePooling2d', args, SCALED_POOLING_OPTIONS);
    super(args);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const scale = this.correctiveCoefficient() * this.kCoefLip;
      return inNhwc(single(inputs), this.dataFormat, (x) =>
        tf.mul(tf.avgPool(x, this.poolSize, this.poolSize, 'valid'), tf.scalar(scale)),
      );
    });
  }

  /**
   * `averagePooling2d`, then the scale `sqrt(ph*pw) * kCoefLip`: folded by `lip.vanillaExport`
   * into the next Dense/convolution kernel when it can, else a `rescaling` (`${name}_scale`).
   */
  vanillaExport(input: tfl.SymbolicTensor, context: ExportContext = STANDALONE_EXPORT): tfl.SymbolicTensor {
    const pooled = tfl.layers
      .averagePooling2d({
        name: this.name,
        poolSize: [...this.poolSize],
        strides: [...this.poolSize],
        padding: 'valid',
        dataFormat: this.dataFormat,
      })
      .apply(input) as tfl.SymbolicTensor;
    const scale = this.correctiveCoefficient() * this.kCoefLip;
    // A channel map acts on the last axis: channels-first output gets its rescaling at once.
    const target = this.dataFormat === 'channelsLast' ? context : STANDALONE_EXPORT;
    return target.defer(pooled, { scale, pair: null }, this.name);
  }
}
tf.serialization.registerClass(ScaledAveragePooling2D);

/**
 * Global average pooling times `sqrt(H*W) * kCoefLip` (DEEL-LIP `ScaledGlobalAveragePooling2D`):
 * each channel's averaging row `1/(HW)` has norm `1/sqrt(HW)`, so the layer is `kCoefLip`-Lipschitz.
 */
export class ScaledGlobalAveragePooling2D extends ScaledGlobalPoolingBase {
  static className = 'ScaledGlobalAveragePooling2D';

  constructor(args: ScaledGlobalPooling2DArgs = {}) {
    if (new.target === ScaledGlobalAveragePooling2D) {
      checkKnownKeys('scaledGlobalAveragePooling2d', args, SCALED_GLOBAL_POOLING_OPTIONS);
    }
    super(args);
  }

  /** sqrt(H*W); valid once built. */
  correctiveCoefficient(): number {
    this.requireBuilt();
    return Math.sqrt(this.area as number);
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const scale = this.correctiveCoefficient() * this.kCoefLip;
      return tf.mul(tf.mean(single(inputs), this.spatialAxes()), tf.scalar(scale));
    });
  }

  /**
   * `globalAveragePooling2d`, then the scale `sqrt(H*W) * kCoefLip`: folded by
   * `lip.vanillaExport` into the next Dense kernel when it can, else a `rescaling`.
   */
  vanillaExport(input: tfl.SymbolicTensor, context: ExportContext = STANDALONE_EXPORT): tfl.SymbolicTensor {
    const [h, w] = staticDims(this, input, this.dataFormat);
    const pooled = tfl.layers
      .globalAveragePooling2d({ name: this.name, dataFormat: this.dataFormat })
      .apply(input) as tfl.SymbolicTensor;
    return context.defer(pooled, { scale: Math.sqrt(h * w) * this.kCoefLip, pair: null }, this.name);
  }
}
tf.serialization.registerClass(ScaledGlobalAveragePooling2D);

/** Average pooling scaled to be `kCoefLip`-Lipschitz (strides = poolSize, padding 'valid'). */
export function scaledAveragePooling2d(args: ScaledPooling2DArgs = {}): ScaledAveragePooling2D {
  return new ScaledAveragePooling2D(args);
}

/** Global average pooling times `sqrt(H*W) * kCoefLip`. */
export function scaledGlobalAveragePooling2d(args: ScaledGlobalPooling2DArgs = {}): ScaledGlobalAveragePooling2D {
  return new ScaledGlobalAveragePooling2D(args);
}
