/**
 * The affine layers the local bounds support, read as `W x + b` followed by a monotone activation:
 * the built-in `Dense` and `Conv2D`, and the tfjs-lip dense layers and convolutions, whose
 * inference kernel is the `w_bar` weight (W-bar, the corrective coefficient included: the kernel
 * their `call` and `vanillaExport` use; reading it re-syncs it with the trainable kernel, see
 * `layers/kernel_state.ts`). Three maps of one layer: the affine map itself, its absolute kernel
 * `|W| r` (interval propagation), and the L2 norms of the rows of W (the exact interval of `W x + b`
 * over an L2 ball).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { LipschitzConfigError } from '../core/errors';

/** Which kernel weight holds the inference kernel of each supported affine class. */
const AFFINE_CLASSES: Readonly<Record<string, { kind: 'dense' | 'conv2d'; kernel: string }>> = {
  Dense: { kind: 'dense', kernel: 'kernel' },
  Conv2D: { kind: 'conv2d', kernel: 'kernel' },
  SpectralDense: { kind: 'dense', kernel: 'w_bar' },
  FrobeniusDense: { kind: 'dense', kernel: 'w_bar' },
  SpectralConv2D: { kind: 'conv2d', kernel: 'w_bar' },
  FrobeniusConv2D: { kind: 'conv2d', kernel: 'w_bar' },
};

/** An affine layer `act(W x + b)` as the bounds see it. */
export interface AffineParams {
  kind: 'dense' | 'conv2d';
  /** The inference kernel (a layer weight: never dispose it). */
  kernel: tf.Tensor;
  /** The bias, or null (a layer weight). */
  bias: tf.Tensor | null;
  strides: [number, number];
  padding: 'same' | 'valid';
  /** The activation identifier applied after `W x + b` (`'linear'` for none). */
  activation: string;
}

/** True when `layer` is one of the supported affine classes. */
export function isAffineLayer(layer: tfl.layers.Layer): boolean {
  return AFFINE_CLASSES[layer.getClassName()] !== undefined;
}

/** The weight of `layer` created as `name` (tfjs scopes it as `<layer>/<name>`), or undefined. */
function weightNamed(layer: tfl.layers.Layer, name: string): tfl.LayerVariable | undefined {
  return layer.weights.find((w) => w.originalName === name || w.originalName.endsWith(`/${name}`));
}

function unsupported(what: string, layer: tfl.layers.Layer, why: string): never {
  throw new LipschitzConfigError(`${what}: layer '${layer.name}' (${layer.getClassName()}) is not supported: ${why}.`);
}

/** The convolution settings of a config, or a `LipschitzConfigError` naming the layer. */
function convSettings(what: string, layer: tfl.layers.Layer, config: Record<string, unknown>): Pick<AffineParams, 'strides' | 'padding'> {
  const pair = (v: unknown): number[] => (Array.isArray(v) ? (v as number[]) : [v as number, v as number]);
  if ((config['dataFormat'] ?? 'channelsLast') !== 'channelsLast') unsupported(what, layer, `dataFormat '${String(config['dataFormat'])}' (channelsLast only)`);
  if (pair(config['dilationRate'] ?? 1).some((d) => d !== 1)) unsupported(what, layer, 'a dilation rate other than 1');
  const padding = config['padding'];
  if (padding !== 'same' && padding !== 'valid') unsupported(what, layer, `padding '${String(padding)}'`);
  const strides = pair(config['strides'] ?? 1);
  return { strides: [strides[0]!, strides[1]!], padding };
}

/** A tfjs-lip kernel layer's training-mode W-bar (`LipschitzKernelLayer.trainingKernel`). */
interface TrainableKernelLayer {
  trainingKernel(): tf.Tensor;
}

function hasTrainingKernel(layer: tfl.layers.Layer): layer is tfl.layers.Layer & TrainableKernelLayer {
  return typeof (layer as Partial<TrainableKernelLayer>).trainingKernel === 'function';
}

/**
 * Reads the affine parameters of a built supported layer; `activations` lists the activation
 * identifiers the caller can bound. `training`: the kernel as a training step uses it, on the
 * gradient tape (a tfjs-lip layer's W-bar recomputed from its trainable kernel, a tensor the
 * caller's tidy owns; a built-in layer's kernel variable), instead of the inference kernel.
 */
export function readAffine(what: string, layer: tfl.layers.Layer, activations: readonly string[], training = false): AffineParams {
  const entry = AFFINE_CLASSES[layer.getClassName()];
  if (entry === undefined) return unsupported(what, layer, 'not an affine layer');
  const config = layer.getConfig() as Record<string, unknown>;
  const activation = typeof config['activation'] === 'string' ? config['activation'] : 'linear';
  if (!activations.includes(activation)) {
    unsupported(what, layer, `activation '${activation}' (supported: ${activations.map((a) => `'${a}'`).join(', ')})`);
  }
  const kernel = weightNamed(layer, entry.kernel);
  if (kernel === undefined) return unsupported(what, layer, `it has no '${entry.kernel}' weight (is it built?)`);
  const biasWeight = config['useBias'] === false ? undefined : weightNamed(layer, 'bias');
  if (config['useBias'] !== false && biasWeight === undefined) return unsupported(what, layer, "it has no 'bias' weight");
  const conv = entry.kind === 'conv2d' ? convSettings(what, layer, config) : { strides: [1, 1] as [number, number], padding: 'valid' as const };
  const w = training && hasTrainingKernel(layer) ? layer.trainingKernel() : kernel.read();
  return { kind: entry.kind, kernel: w, bias: biasWeight?.read() ?? null, activation, ...conv };
}

/** `x W` on the last axis of `x` (any rank, as tfjs' Dense). */
function denseMap(x: tf.Tensor, w: tf.Tensor): tf.Tensor {
  if (x.rank === 2) return tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D);
  const inner = x.shape[x.rank - 1]!;
  const y = tf.matMul(tf.reshape(x, [-1, inner]) as tf.Tensor2D, w as tf.Tensor2D);
  return tf.reshape(y, [...x.shape.slice(0, -1), w.shape[1]!]);
}

/** The linear map of `p` with kernel `w` (no bias). */
export function linearMap(p: AffineParams, x: tf.Tensor, w: tf.Tensor): tf.Tensor {
  return p.kind === 'dense' ? denseMap(x, w) : tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, p.strides, p.padding);
}

/** `W x + b`. */
export function applyAffine(p: AffineParams, x: tf.Tensor): tf.Tensor {
  const y = linearMap(p, x, p.kernel);
  return p.bias === null ? y : tf.add(y, p.bias);
}

/** `|W| r`: the radius of `W x + b` over the box of radius `r` (entrywise, `r >= 0`). */
export function applyAbsolute(p: AffineParams, r: tf.Tensor): tf.Tensor {
  return linearMap(p, r, tf.abs(p.kernel));
}

/**
 * `||w_i||_2` for each output unit `i`, broadcastable against the output: for a Dense the norm of
 * its kernel column; for a convolution the norm of the taps that reach that output position (the
 * whole filter inside the image; at a 'same'-padded border only the taps that fall inside), i.e.
 * `sqrt(conv2d(ones, W * W))` on the input's spatial size.
 */
export function rowNorms(p: AffineParams, inputShape: number[]): tf.Tensor {
  const squared = tf.square(p.kernel);
  if (p.kind === 'dense') return tf.sqrt(tf.sum(squared, 0));
  const ones = tf.ones([1, ...inputShape.slice(1)]);
  return tf.sqrt(tf.conv2d(ones as tf.Tensor4D, squared as tf.Tensor4D, p.strides, p.padding));
}
