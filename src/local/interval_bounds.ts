/**
 * Per-sample bounds of every layer output of a chain model over the L2 ball of radius `epsilon`
 * around each input (the box-constrained propagation, BCP, of Local-Lip):
 *
 * - a box `[lower, upper]` starts as `x +- epsilon` and moves through each layer: an affine layer
 *   in center/radius form (`c' = W c + b`, `r' = |W| r`), every other supported layer as the
 *   non-decreasing map it is (`[f(lower), f(upper)]`, `rules.ts`);
 * - an L2 ball moves beside it: its center is the image of `x`, its radius `epsilon` times the
 *   product of the certified Lipschitz bounds of the layers so far (`lip.lipschitzBound`'s per-layer
 *   bounds; Infinity where one is unknown). At an affine layer the ball gives the exact interval
 *   `W mu + b +- radius * ||w_i||_2`; at any other layer `[f(mu - radius), f(mu + radius)]` and
 *   `f(mu) +- radius_out`. Each layer's box is intersected with these.
 *
 * At the first affine layer the ball is the input ball itself, so its bounds are the exact L2-ball
 * interval (attained by `x +- epsilon * w_i / ||w_i||`); later ones are sound, not exact. With
 * `lipschitzBall: false` the ball is dropped after the first layer that is not a reshape: the
 * first affine layer stays exact, and plain interval propagation follows.
 *
 * References: Y. Huang, H. Zhang, Y. Shi, J. Z. Kolter, A. Anandkumar, "Training Certifiably
 * Robust Neural Networks with Efficient Local Lipschitz Bounds", NeurIPS 2021 (Local_bound.py,
 * `bcp_linear`, `bcp_conv2d`, `bcp_relu`, `bcp_maxmin`).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { multiplyBounds } from '../core/builtin_rules';
import { checkBoolean, checkKnownKeys, checkPositiveFinite, optionNames } from '../core/validation';
import { layerLipschitzBound } from '../model/bound';
import { applyAbsolute, applyAffine, rowNorms, type AffineParams } from './affine';
import { checkBatch, modelChain, type ChainLink } from './chain';
import { layerRule, type LayerRule } from './rules';
import { applyOneLipschitzActivation } from '../core/activations';

/** Options of `intervalBounds`. */
export interface IntervalBoundsOptions {
  /**
   * Intersect every layer's box with the bounds of the Lipschitz ball (default true); false keeps
   * the ball only up to the first layer that is not a reshape.
   */
  lipschitzBall?: boolean;
}

const OPTIONS = optionNames<IntervalBoundsOptions>({ lipschitzBall: true });

/** Per-sample elementwise bounds, batch axis first (tensors the caller owns). */
export interface Box {
  lower: tf.Tensor;
  upper: tf.Tensor;
}

/** The bounds of one layer's output over the input ball. */
export interface LayerBounds extends Box {
  /** The layer's name. */
  name: string;
  /** The layer's class name. */
  className: string;
  /**
   * The bounds in front of the layer's nonlinearity: the `W x + b` bounds of an affine layer with a
   * fused activation other than linear, the input bounds of an activation layer; null otherwise.
   */
  preActivation: Box | null;
  /**
   * Certified L2 radius around the layer's output at `x` that holds every output over the ball
   * (`epsilon` times the product of the layer bounds so far); Infinity when not tracked.
   */
  ballRadius: number;
}

/**
 * The L2 ball beside the box: its center (the image of x) and radius (a number, Infinity when not
 * tracked; or a scalar tensor, the training pass's differentiable estimate).
 */
export interface Ball {
  center: tf.Tensor;
  radius: number | tf.Scalar;
}

/** True when the radius bounds anything (a tensor radius always does). */
function tracked(radius: number | tf.Scalar): boolean {
  return typeof radius !== 'number' || Number.isFinite(radius);
}

/** `[max(a.lower, b.lower), min(a.upper, b.upper)]`. */
function intersect(a: [tf.Tensor, tf.Tensor], b: [tf.Tensor, tf.Tensor]): [tf.Tensor, tf.Tensor] {
  return [tf.maximum(a[0], b[0]), tf.minimum(a[1], b[1])];
}

/**
 * One affine layer: the pre-activation box (interval propagation intersected with the ball's exact
 * interval), the output box, the new center. Runs inside a tidy; returns
 * `[lower, upper, center, preLower?, preUpper?]`.
 */
export function affineStep(p: AffineParams, box: Box, ball: Ball): tf.Tensor[] {
  const c = tf.div(tf.add(box.lower, box.upper), 2);
  const r = tf.div(tf.sub(box.upper, box.lower), 2);
  const mid = applyAffine(p, c);
  const rad = applyAbsolute(p, r);
  let pre: [tf.Tensor, tf.Tensor] = [tf.sub(mid, rad), tf.add(mid, rad)];
  const mu = applyAffine(p, ball.center);
  if (tracked(ball.radius)) {
    const reach = tf.mul(rowNorms(p, ball.center.shape), ball.radius);
    pre = intersect(pre, [tf.sub(mu, reach), tf.add(mu, reach)]);
  }
  if (p.activation === 'linear') return [pre[0], pre[1], mu];
  const act = (t: tf.Tensor) => applyOneLipschitzActivation(p.activation, t);
  return [act(pre[0]), act(pre[1]), act(mu), pre[0], pre[1]];
}

/**
 * One non-decreasing layer `f`: `[f(lower), f(upper)]` intersected with the ball's
 * `[f(mu - radius), f(mu + radius)]` and `f(mu) +- radiusOut`. Returns `[lower, upper, center]`.
 */
export function monotoneStep(layerApply: (x: tf.Tensor) => tf.Tensor, box: Box, ball: Ball, radiusOut: number | tf.Scalar): tf.Tensor[] {
  // A layer whose call returned its input object itself (an identity) would alias a tensor of the
  // previous layer or the caller's x: copy it, so that the caller can dispose each one separately.
  const apply = (t: tf.Tensor) => {
    const y = layerApply(t);
    return y === t ? tf.clone(y) : y;
  };
  let out: [tf.Tensor, tf.Tensor] = [apply(box.lower), apply(box.upper)];
  const mu = apply(ball.center);
  if (tracked(ball.radius)) {
    out = intersect(out, [apply(tf.sub(ball.center, ball.radius)), apply(tf.add(ball.center, ball.radius))]);
  }
  if (tracked(radiusOut)) out = intersect(out, [tf.sub(mu, radiusOut), tf.add(mu, radiusOut)]);
  return [out[0], out[1], mu];
}

/** The ball radius after `link`: times the layer's certified bound, or Infinity once dropped. */
function nextRadius(radius: number, link: ChainLink, rule: LayerRule, lipschitzBall: boolean): number {
  if (rule.kind === 'monotone' && rule.reshape) return radius;
  if (!lipschitzBall || !Number.isFinite(radius)) return Infinity;
  return multiplyBounds(radius, layerLipschitzBound(link.layer, link.inputShape));
}

/** One layer's bounds, computed in a tidy (only the returned tensors survive). */
function layerStep(link: ChainLink, rule: LayerRule, box: Box, ball: Ball, lipschitzBall: boolean): [LayerBounds, tf.Tensor] {
  const radius = nextRadius(ball.radius as number, link, rule, lipschitzBall);
  const out = tf.tidy(() => {
    if (rule.kind === 'affine') return affineStep(rule.params, box, ball);
    const res = monotoneStep(rule.apply, box, ball, radius);
    return rule.activation ? [...res, tf.clone(box.lower), tf.clone(box.upper)] : res;
  });
  const [lower, upper, center, preLower, preUpper] = out as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor?, tf.Tensor?];
  const preActivation = preLower !== undefined && preUpper !== undefined ? { lower: preLower, upper: preUpper } : null;
  const bounds = { name: link.layer.name, className: link.layer.getClassName(), lower, upper, preActivation, ballRadius: radius };
  return [bounds, center];
}

/**
 * Bounds of every layer output of `model` (a chain of supported layers) over the L2 balls of
 * radius `epsilon` around the samples of `x`: one entry per layer, in order, with per-sample
 * `lower`/`upper` tensors of the layer's output shape (batch first) that the caller owns
 * (`disposeBounds`). Throws `LipschitzConfigError` for an unsupported layer (naming it), a model
 * that is not a chain, an `x` that does not fit the model input, or an `epsilon` that is not a
 * finite number > 0.
 */
export function intervalBounds(model: tfl.LayersModel, x: tf.Tensor, epsilon: number, options: IntervalBoundsOptions = {}): LayerBounds[] {
  const what = 'lip.local.intervalBounds';
  const links = modelChain(what, model);
  const input = checkBatch(model, x);
  const eps = checkPositiveFinite('epsilon', epsilon);
  checkKnownKeys('intervalBounds', options, OPTIONS);
  const lipschitzBall = checkBoolean('lipschitzBall', options?.lipschitzBall ?? true);
  const rules = links.map((link) => layerRule(what, link.layer));
  const results: LayerBounds[] = [];
  const [lower0, upper0] = tf.tidy(() => [tf.sub(input, eps), tf.add(input, eps)]);
  let box: Box = { lower: lower0!, upper: upper0! };
  let ball: Ball = { center: input, radius: eps };
  try {
    links.forEach((link, i) => {
      const [bounds, center] = layerStep(link, rules[i]!, box, ball, lipschitzBall);
      if (i === 0) tf.dispose([lower0!, upper0!]);
      if (ball.center !== input) ball.center.dispose();
      results.push(bounds);
      box = bounds;
      ball = { center, radius: bounds.ballRadius };
    });
  } catch (e) {
    disposeBounds(results);
    tf.dispose([lower0!, upper0!]);
    if (ball.center !== input) ball.center.dispose();
    throw e;
  }
  if (ball.center !== input) ball.center.dispose();
  if (links.length === 0) tf.dispose([lower0!, upper0!]);
  return results;
}

/** Disposes every tensor of `intervalBounds`' result. */
export function disposeBounds(bounds: readonly LayerBounds[]): void {
  for (const b of bounds) {
    tf.dispose([b.lower, b.upper]);
    if (b.preActivation !== null) tf.dispose([b.preActivation.lower, b.preActivation.upper]);
  }
}
