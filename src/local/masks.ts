/**
 * The chain of a model read as the local Lipschitz bound sees it: linear steps (affine maps without
 * their bias, reshapes, average poolings, the linear activation), which are folded into one linear
 * operator between two nonlinearities; and nonlinear steps, each with its Lipschitz constant and the
 * 0/1 masks of the units that are NOT constant over a sample's input ball (from `intervalBounds`).
 *
 * A nonlinear step with Jacobian J (any generalized Jacobian over the ball) promises
 * `J = post J pre` and `||J|| <= lipschitz`: a unit constant over the box contributes a zero row of
 * J (post) and, for an elementwise map, the matching zero column (pre). The masks:
 * - ReLU, fused or not, and `relu6` / ReLU `maxValue`: constant where `upper <= 0` or
 *   `lower >= maxValue`; pre = post;
 * - `ClippedReLU` (`min(max(z, 0), theta)`): constant where `upper <= 0`, `lower >= theta` or
 *   `theta <= 0`; pre = post;
 * - `ClampedMaxMin`: a max unit `min(max(a, b), maxT)` is constant where `max(lower_a, lower_b) >=
 *   maxT`, a min unit `max(min(a, b), minT)` where `min(upper_a, upper_b) <= minT`; these mask the
 *   output side only (post), the pair swap mixes the input side (pre = ones), as in the reference;
 * - every other supported activation (GroupSort*, FullSort, sigmoid, tanh, ...) and the max
 *   poolings: no mask, the step's global constant (a max pooling is nonlinear: it splits the
 *   operator and contributes its certified Lipschitz bound, `layerLipschitzBound`).
 *
 * References: Y. Huang et al., "Training Certifiably Robust Neural Networks with Efficient Local
 * Lipschitz Bounds", NeurIPS 2021 (Local_bound.py, `bcp_mask*`).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { ClampedMaxMin, ClippedReLU } from '../activations';
import { activationLipschitz } from '../core/activations';
import { layerLipschitzBound } from '../model/bound';
import { linearMap, type AffineParams } from './affine';
import type { ChainLink } from './chain';
import type { Box, LayerBounds } from './interval_bounds';
import type { LayerRule } from './rules';

/** Max poolings: nonlinear, bounded by their global constant. */
const MAX_POOLS: ReadonlySet<string> = new Set(['MaxPooling2D', 'GlobalMaxPooling2D']);

/** A linear piece of the chain (no bias). */
export interface LinearStep {
  kind: 'linear';
  layer: tfl.layers.Layer;
  /** The linear map on a batch. */
  apply: (x: tf.Tensor) => tf.Tensor;
  /** Per-sample input shape. */
  inputShape: number[];
  /** True for an affine layer (a kernel), false for reshapes and poolings. */
  affine: boolean;
  /** Certified bound of the linear map alone (Infinity when not known apart from an activation). */
  bound: number;
}

/** A nonlinearity: masks (1 = unit kept, null = all kept, tensors the caller owns) and constant. */
export interface NonlinearStep {
  kind: 'nonlinear';
  pre: tf.Tensor | null;
  post: tf.Tensor | null;
  lipschitz: number;
}

export type Step = LinearStep | NonlinearStep;

/** 1 where `cond`, else 0 (float32). */
function asMask(cond: tf.Tensor): tf.Tensor {
  return tf.cast(cond, 'float32');
}

/** Mask of a (clipped) ReLU on `box`: kept where `upper > 0` and `lower < ceiling` (and `ceiling > 0`). */
function reluMask(box: Box, ceiling: tf.Tensor | number | null): tf.Tensor {
  return tf.tidy(() => {
    const alive = tf.greater(box.upper, 0);
    if (ceiling === null) return asMask(alive);
    const below = tf.logicalAnd(tf.less(box.lower, ceiling), tf.greater(ceiling, 0));
    return asMask(tf.logicalAnd(alive, below));
  });
}

/** Output-side mask of a `ClampedMaxMin` from its input box (halves on the last axis). */
function clampMask(layer: ClampedMaxMin, box: Box): tf.Tensor {
  return tf.tidy(() => {
    const axis = box.lower.rank - 1;
    const [la, lb] = tf.split(box.lower, 2, axis) as [tf.Tensor, tf.Tensor];
    const [ua, ub] = tf.split(box.upper, 2, axis) as [tf.Tensor, tf.Tensor];
    const { max, min } = layer.thresholds();
    const maxKept = tf.less(tf.maximum(la, lb), max);
    const minKept = tf.greater(tf.minimum(ua, ub), min);
    return asMask(tf.concat([maxKept, minKept], axis));
  });
}

/** Mask of a tfjs activation identifier on its input box, or null when it has no constant region. */
function identifierMask(activation: string, box: Box): tf.Tensor | null {
  if (activation === 'relu') return reluMask(box, null);
  if (activation === 'relu6') return reluMask(box, 6);
  return null;
}

/** The nonlinear step of an activation layer on its input box. */
function activationStep(layer: tfl.layers.Layer, box: Box, lipschitz: number): NonlinearStep {
  const className = layer.getClassName();
  const config = layer.getConfig() as Record<string, unknown>;
  let pre: tf.Tensor | null = null;
  let post: tf.Tensor | null = null;
  if (layer instanceof ClampedMaxMin) {
    post = clampMask(layer, box);
  } else if (layer instanceof ClippedReLU) {
    pre = reluMask(box, layer.thresholds());
  } else if (className === 'ReLU') {
    const maxValue = config['maxValue'];
    pre = reluMask(box, typeof maxValue === 'number' ? maxValue : null);
  } else if (className === 'Activation') {
    pre = identifierMask(String(config['activation']), box);
  }
  return { kind: 'nonlinear', pre, post: post ?? (pre === null ? null : tf.clone(pre)), lipschitz };
}

/**
 * The linear map of an affine layer and its certified bound apart from the fused activation
 * (Infinity when `certified` is false: the training pass needs no certificate).
 */
function affineSteps(link: ChainLink, p: AffineParams, bounds: LayerBounds, shape: number[], certified: boolean): Step[] {
  const actLip = activationLipschitz(p.activation);
  const layerBound = certified ? layerLipschitzBound(link.layer, link.inputShape) : Infinity;
  const linear: LinearStep = {
    kind: 'linear',
    layer: link.layer,
    apply: (x) => linearMap(p, x, p.kernel),
    inputShape: shape,
    affine: true,
    bound: p.activation === 'linear' || actLip === 1 ? layerBound : Infinity,
  };
  if (p.activation === 'linear' || bounds.preActivation === null) return [linear];
  const pre = identifierMask(p.activation, bounds.preActivation);
  const post = pre === null ? null : tf.clone(pre);
  return [linear, { kind: 'nonlinear', pre, post, lipschitz: actLip }];
}

/**
 * The steps of a chain, from its links, their rules and `intervalBounds`' result. The masks are
 * tensors the caller disposes (`disposeSteps`). `certified` false skips the affine layers' float64
 * bounds (their `bound` is then Infinity).
 */
export function chainSteps(links: readonly ChainLink[], rules: readonly LayerRule[], bounds: readonly LayerBounds[], certified = true): Step[] {
  const steps: Step[] = [];
  try {
    links.forEach((link, i) => {
      const rule = rules[i]!;
      const shape = link.inputShape.slice(1) as number[];
      if (rule.kind === 'affine') {
        steps.push(...affineSteps(link, rule.params, bounds[i]!, shape, certified));
        return;
      }
      const lipschitz = layerLipschitzBound(link.layer, link.inputShape);
      if (rule.activation) {
        const box = bounds[i]!.preActivation ?? { lower: bounds[i]!.lower, upper: bounds[i]!.upper };
        steps.push(activationStep(link.layer, box, lipschitz));
      } else if (MAX_POOLS.has(link.layer.getClassName())) {
        steps.push({ kind: 'nonlinear', pre: null, post: null, lipschitz });
      } else {
        steps.push({ kind: 'linear', layer: link.layer, apply: rule.apply, inputShape: shape, affine: false, bound: lipschitz });
      }
    });
  } catch (e) {
    disposeSteps(steps);
    throw e;
  }
  return steps;
}

/** Disposes the masks of `steps`. */
export function disposeSteps(steps: readonly Step[]): void {
  for (const s of steps) {
    if (s.kind === 'nonlinear') tf.dispose([s.pre, s.post].filter((t): t is tf.Tensor => t !== null));
  }
}
