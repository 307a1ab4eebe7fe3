/**
 * The one table of layers the local bounds support, and how each one moves a box. Affine layers
 * (`affine.ts`) move it in center/radius form. Every other supported layer is a non-decreasing map
 * of each output in each input (reshapes, average and max poolings, monotone elementwise
 * activations, sorts of channel groups, LNets' max and min of channel groups, the clipped ReLU
 * and clamped MaxMin), so the box `[lower, upper]` maps to `[f(lower), f(upper)]` with the layer's own `call`: for an average
 * pooling that is the center/radius rule, for a max pooling the max of the lowers and of the
 * uppers, for an activation its monotone map of both ends.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { LipschitzConfigError } from '../core/errors';
import { ClampedMaxMin, ClippedReLU, FullSort, GroupSort, GroupSort2, LNetsMaxMin } from '../activations';
import { ScaledAveragePooling2D, ScaledGlobalAveragePooling2D } from '../layers';
import { isAffineLayer, readAffine, type AffineParams } from './affine';

/**
 * Elementwise activation identifiers that are non-decreasing (and 1-Lipschitz or less), bounded as
 * `[f(lower), f(upper)]`, standalone (`Activation`) or fused into an affine layer.
 */
export const MONOTONE_ACTIVATIONS: readonly string[] = Object.freeze([
  'linear',
  'relu',
  'relu6',
  'elu',
  'sigmoid',
  'hardSigmoid',
  'tanh',
  'softsign',
  'softplus',
]);

/** A supported non-affine layer: whether it is an activation (its input bounds are pre-activation bounds). */
interface MonotoneEntry {
  activation: (config: Record<string, unknown>) => boolean;
  /** Why this layer's settings are not supported, or null. */
  check?: (config: Record<string, unknown>) => string | null;
}

const ACTIVATION: MonotoneEntry = { activation: () => true };
const STRUCTURAL: MonotoneEntry = { activation: () => false };

/** The supported non-affine classes (built-in and tfjs-lip), each non-decreasing. */
const MONOTONE_CLASSES: Readonly<Record<string, MonotoneEntry>> = {
  Flatten: STRUCTURAL,
  Reshape: STRUCTURAL,
  AveragePooling2D: STRUCTURAL,
  MaxPooling2D: STRUCTURAL,
  GlobalAveragePooling2D: STRUCTURAL,
  GlobalMaxPooling2D: STRUCTURAL,
  [ScaledAveragePooling2D.className]: STRUCTURAL,
  [ScaledGlobalAveragePooling2D.className]: STRUCTURAL,
  Activation: {
    activation: (config) => config['activation'] !== 'linear',
    check: (config) => (MONOTONE_ACTIVATIONS.includes(String(config['activation'])) ? null : `activation '${String(config['activation'])}'`),
  },
  ReLU: ACTIVATION,
  [GroupSort.className]: ACTIVATION,
  [GroupSort2.className]: ACTIVATION,
  [FullSort.className]: ACTIVATION,
  [LNetsMaxMin.className]: ACTIVATION,
  [ClippedReLU.className]: ACTIVATION,
  [ClampedMaxMin.className]: ACTIVATION,
};

/** Class names whose output is a reordering of their input (the L2 ball passes unchanged). */
const RESHAPES: ReadonlySet<string> = new Set(['Flatten', 'Reshape']);

/** How the bounds move through one layer. */
export type LayerRule =
  | { kind: 'affine'; params: AffineParams }
  | {
      kind: 'monotone';
      /** The layer's inference map (non-decreasing in every input). */
      apply: (x: tf.Tensor) => tf.Tensor;
      /** True for activations: their input bounds are reported as pre-activation bounds. */
      activation: boolean;
      /** True for Flatten/Reshape (an isometry that keeps the L2 ball). */
      reshape: boolean;
    };

/** The names of every supported class, for error messages. */
function supportedList(): string {
  return ['Dense', 'Conv2D', 'SpectralDense', 'FrobeniusDense', 'SpectralConv2D', 'FrobeniusConv2D', ...Object.keys(MONOTONE_CLASSES)].join(', ');
}

/**
 * The rule of `layer`, or a `LipschitzConfigError` naming it when it is not supported; `training`:
 * an affine layer's kernel as a training step uses it (see `readAffine`).
 */
export function layerRule(what: string, layer: tfl.layers.Layer, training = false): LayerRule {
  if (isAffineLayer(layer)) return { kind: 'affine', params: readAffine(what, layer, MONOTONE_ACTIVATIONS, training) };
  const className = layer.getClassName();
  const entry = MONOTONE_CLASSES[className];
  const config = layer.getConfig() as Record<string, unknown>;
  const why = entry === undefined ? `supported layers: ${supportedList()}` : entry.check?.(config);
  if (entry === undefined || (why !== null && why !== undefined)) {
    throw new LipschitzConfigError(`${what}: layer '${layer.name}' (${className}) is not supported: ${why}.`);
  }
  return {
    kind: 'monotone',
    apply: (x) => layer.apply(x, { training: false }) as tf.Tensor,
    activation: entry.activation(config),
    reshape: RESHAPES.has(className),
  };
}
