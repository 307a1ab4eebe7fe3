/**
 * How a kernel layer normalizes its kernel: the spectral normalization with an orthogonalizer
 * (SpectralDense, SpectralConv2D, SpectralConv2DTranspose) or the Frobenius normalization
 * (FrobeniusDense, FrobeniusConv2D). A normalization adds its state weights, computes W-bar from
 * the kernel (seen as the matrix `[-1, lastDim]`) for a target norm, and says what `condense` and
 * the scale check need. Layers hold one and never name the orthogonalizer themselves.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { configError } from '../core/errors';
import type { Orthogonalizer } from '../normalizers/orthogonalizers';
import { reshapedKernelOrthogonalization } from '../normalizers/reshaped';
import { spectralSettingsConfig, type SpectralNormalizationSettings } from '../normalizers/settings';
import type { AddWeight, KernelNormalizerResult, KernelNormalizerState, KernelStateVariables } from './kernel_state';

/** A kernel normalization (see the module comment). */
export interface KernelNormalization {
  /** Adds `w_bar` (the kernel's shape) and the normalization's state for the `[rows, cols]` matrix. */
  addStateWeights(add: AddWeight, kernelShape: number[], matrix: [number, number]): KernelStateVariables;
  /** W-bar with norm `target` from a kernel whose `[-1, lastDim]` reshape is the matrix. */
  normalize(kernel: tf.Tensor, state: KernelNormalizerState, target: number): KernelNormalizerResult;
  /** For `condense`: W-bar (same orientation, norm `target`) with its singular values brought onto `target`. */
  refine?(wBar: tf.Tensor, target: number): tf.Tensor;
  /** True when W-bar's scale rests on sigma alone (its norm is then verified after training). */
  readonly scaleVerified: boolean;
  /**
   * Replaces the orthogonalizer by another of the same method (same name, so the same state
   * weight and the same `scaleVerified`) and returns the one replaced; absent without one.
   */
  replaceOrthogonalizer?(next: Orthogonalizer): Orthogonalizer;
  /** The settings a layer's config writes. */
  config(): tf.serialization.ConfigDict;
}

/** Spectral normalization of the reshaped kernel, then its orthogonalizer (RKO, DEEL-LIP). */
export class SpectralKernelNormalization implements KernelNormalization {
  readonly scaleVerified: boolean;

  constructor(readonly settings: SpectralNormalizationSettings) {
    this.scaleVerified = !settings.orthogonalizer.orthonormal;
  }

  addStateWeights(add: AddWeight, kernelShape: number[], [rows, cols]: [number, number]): KernelStateVariables {
    const state = this.settings.orthogonalizer.stateWeight(rows, cols);
    return {
      u: add('u', [1, cols], 'float32', tfl.initializers.randomNormal({ mean: 0, stddev: 1 }), undefined, false),
      sigma: add('sigma', [1, 1], 'float32', tfl.initializers.ones(), undefined, false),
      wBar: add('w_bar', kernelShape, 'float32', tfl.initializers.zeros(), undefined, false),
      bjorck: state === null ? null : add(state.name, state.shape, 'float32', tfl.initializers.zeros(), undefined, false),
    };
  }

  normalize(kernel: tf.Tensor, state: KernelNormalizerState, target: number): KernelNormalizerResult {
    const { epsSpectral, maxIterSpectral, orthogonalizer } = this.settings;
    const res = reshapedKernelOrthogonalization(kernel, state.u, target, {
      epsSpectral,
      maxIterSpectral,
      orthogonalizer,
      bjorckState: state.bjorckState,
    });
    return { wBar: res.wBar, u: res.u, sigma: res.sigma, bjorckState: res.bjorckState };
  }

  replaceOrthogonalizer(next: Orthogonalizer): Orthogonalizer {
    const current = this.settings.orthogonalizer;
    if (next.name !== current.name || next.orthonormal !== current.orthonormal) {
      configError('orthogonalizer', `a '${current.name}' orthogonalizer (the layer's state weights are made for it)`, next.name);
    }
    this.settings.orthogonalizer = next;
    return current;
  }

  refine(wBar: tf.Tensor, target: number): tf.Tensor {
    const orthogonalizer = this.settings.orthogonalizer;
    if (orthogonalizer.refine === undefined) return tf.clone(wBar);
    return tf.tidy(() => {
      const lastDim = wBar.shape[wBar.rank - 1]!;
      const unit = tf.reshape(tf.div(wBar, target), [-1, lastDim]) as tf.Tensor2D;
      return tf.reshape(tf.mul(orthogonalizer.refine!(unit), target), wBar.shape);
    });
  }

  config(): tf.serialization.ConfigDict {
    const { kCoefLip: _kCoefLip, ...rest } = spectralSettingsConfig(this.settings);
    return rest;
  }
}

/**
 * The kernel divided by its Frobenius norm (an upper bound of the spectral norm), or with
 * `disjointNeurons` each column (output neuron) by its own norm.
 */
export class FrobeniusKernelNormalization implements KernelNormalization {
  readonly scaleVerified = false;

  constructor(readonly disjointNeurons: boolean) {}

  addStateWeights(add: AddWeight, kernelShape: number[]): KernelStateVariables {
    return { wBar: add('w_bar', kernelShape, 'float32', tfl.initializers.zeros(), undefined, false) };
  }

  normalize(kernel: tf.Tensor, _state: KernelNormalizerState, target: number): KernelNormalizerResult {
    return {
      wBar: tf.tidy(() => {
        const norm = this.disjointNeurons ? tf.norm(kernel, 'euclidean', 0, true) : tf.norm(kernel);
        return tf.mul(tf.div(kernel, norm), target);
      }),
    };
  }

  config(): tf.serialization.ConfigDict {
    return {};
  }
}
