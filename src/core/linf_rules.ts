/**
 * The table of tfjs built-in layers for L-infinity bounds, `LINF_BUILTIN_RULES`: for each
 * className a certified upper bound of the layer's Lipschitz constant from L-infinity to
 * L-infinity (per sample), for its current weights and settings. `lip.lipschitzBound(model,
 * {norm: 'linf'})` walks the graph with it (`model/linf_bound.ts`). Why each rule holds:
 *
 * - elementwise maps (activations, ReLU, LeakyReLU, ELU, PReLU, Rescaling, Masking) and diagonal
 *   ones (BatchNormalization in inference): a scalar map with slope <= c moves each coordinate by
 *   at most c |dx_i|, so their L2 rule (`builtin_rules.ts`, the same constant c) holds here too;
 * - Softmax: row i of its Jacobian diag(p) - p p^T has L1 norm 2 p_i (1 - p_i) <= 1/2, its L2 rule;
 * - coordinate maps (Flatten, Reshape, Permute, padding, cropping, RepeatVector, nearest
 *   UpSampling2D): every output is one input or a zero, so 1 (copies cost nothing in L-infinity);
 * - max and average pooling, global or not: each output is a max or a mean of inputs of one
 *   window, which moves by at most max |dx_i|, so 1 whatever the overlap and padding;
 * - Dense, convolutions, transposed convolutions: the largest L1 norm over output channels of the
 *   kernel (`linalg/linf_norm.ts`), times the activation's constant; depthwise: per channel and
 *   multiplier; separable: depthwise times pointwise.
 *
 * A className missing here has no L-infinity bound (Infinity). Derivations: docs/linf_layers.md.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { maxSliceL1Norm } from '../linalg/linf_norm';
import { activationLipschitz } from './activations';
import { BUILTIN_RULES, multiplyBounds, type BoundRule } from './builtin_rules';

type Layer = tfl.layers.Layer;
type Config = Record<string, unknown>;

/** An L-infinity rule: the bound of a layer (context: the L-infinity bound of a wrapped layer). */
export interface LInfBoundRule {
  bound(layer: Layer, config: Config, context: { layerBound(layer: Layer): number }): number;
}

const ONE: LInfBoundRule = { bound: () => 1 };

/** The L2 rule of an elementwise or diagonal layer, which holds unchanged in L-infinity. */
function sameAsL2(className: string): LInfBoundRule {
  const rule = BUILTIN_RULES[className] as BoundRule;
  return { bound: (layer, config) => rule.bound(layer, config, undefined, { layerBound: () => Infinity, layerRisk: () => null }) };
}

/** Largest L1 norm of a kernel's output-channel slices (`outAxis` counted from the end), times the activation. */
function kernelRule(outAxisFromEnd: number): LInfBoundRule {
  return {
    bound: (layer, config) => {
      const kernel = layer.getWeights()[0];
      if (kernel === undefined) return Infinity;
      const norm = maxSliceL1Norm(kernel.dataSync(), kernel.shape, kernel.rank - outAxisFromEnd);
      return multiplyBounds(norm, activationLipschitz(config.activation));
    },
  };
}

/** Depthwise kernel `[kh, kw, channels, multiplier]`: each output reads one channel's window. */
function depthwiseLInf(kernel: { dataSync(): ArrayLike<number>; shape: number[] }): number {
  const [kh, kw, channels, mult] = kernel.shape as [number, number, number, number];
  return maxSliceL1Norm(kernel.dataSync(), [kh * kw, channels * mult], 1);
}

/** The L-infinity rules of the tfjs built-in layers, by className (see the module comment). */
export const LINF_BUILTIN_RULES: Readonly<Record<string, LInfBoundRule>> = {
  InputLayer: ONE,
  Flatten: ONE,
  Reshape: ONE,
  Permute: ONE,
  ZeroPadding2D: ONE,
  Cropping2D: ONE,
  CenterCrop: ONE,
  RepeatVector: ONE,
  // The identity in inference (the bound certifies predict).
  Dropout: ONE,
  SpatialDropout1D: ONE,
  GaussianNoise: ONE,
  GaussianDropout: ONE,
  AlphaDropout: ONE,
  MaxPooling1D: ONE,
  MaxPooling2D: ONE,
  MaxPooling3D: ONE,
  AveragePooling1D: ONE,
  AveragePooling2D: ONE,
  AveragePooling3D: ONE,
  GlobalMaxPooling1D: ONE,
  GlobalMaxPooling2D: ONE,
  GlobalAveragePooling1D: ONE,
  GlobalAveragePooling2D: ONE,
  UpSampling2D: { bound: (_l, config) => (config.interpolation === 'bilinear' ? Infinity : 1) },
  Activation: sameAsL2('Activation'),
  ReLU: sameAsL2('ReLU'),
  Softmax: sameAsL2('Softmax'),
  LeakyReLU: sameAsL2('LeakyReLU'),
  ELU: sameAsL2('ELU'),
  ThresholdedReLU: sameAsL2('ThresholdedReLU'),
  PReLU: sameAsL2('PReLU'),
  Masking: sameAsL2('Masking'),
  Rescaling: sameAsL2('Rescaling'),
  BatchNormalization: sameAsL2('BatchNormalization'),
  // Kernels [in, out], [...kernel, in, out] (output channels last), or [...kernel, out, in] (transposed).
  Dense: kernelRule(1),
  Conv1D: kernelRule(1),
  Conv2D: kernelRule(1),
  Conv3D: kernelRule(1),
  Conv2DTranspose: kernelRule(2),
  Conv3DTranspose: kernelRule(2),
  DepthwiseConv2D: {
    bound: (layer, config) => {
      const kernel = layer.getWeights()[0];
      return kernel === undefined ? Infinity : multiplyBounds(depthwiseLInf(kernel), activationLipschitz(config.activation));
    },
  },
  SeparableConv2D: {
    bound: (layer, config) => {
      const [depthwise, pointwise] = layer.getWeights();
      if (depthwise === undefined || pointwise === undefined) return Infinity;
      const p = maxSliceL1Norm(pointwise.dataSync(), pointwise.shape, 3);
      return multiplyBounds(depthwiseLInf(depthwise) * p, activationLipschitz(config.activation));
    },
  },
  TimeDistributed: {
    // Applying g to every time step separately: the largest change over steps is bounded by g's.
    bound: (layer, _config, context) => {
      const inner = (layer as unknown as { layer?: Layer }).layer;
      return inner === undefined ? Infinity : context.layerBound(inner);
    },
  },
};
