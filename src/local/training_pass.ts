/**
 * The forward pass of Local-Lip's certified training loss, on the gradient tape: the bounds of
 * `z_j - z_y` over the L2 ball of radius `epsilon` around each sample, computed from the kernels
 * as a training step uses them (a tfjs-lip layer's W-bar recomputed from its trainable kernel), so
 * that the loss trains them. The same construction as the certificate (`certify.ts`), with the
 * seed's differentiable estimates in place of the float64 certificates:
 *
 * - the box moves through every layer before the head as in `intervalBounds` (exact interval
 *   arithmetic, differentiable in the weights), intersected with an L2 ball whose radius is
 *   `epsilon` times the product of each affine layer's norm, estimated by one power step per call
 *   from a vector kept per layer (the seed's `u_list`), times the other layers' constants;
 * - the masks of the units that are constant on the box (no gradient: they are cut from the tape);
 * - the radius at the head's input, `epsilon` times the product of the masked pieces' norms
 *   `||D_out L D_in||` (Local-Lip's `r_tight`; with `bound: 'global'` the masks are dropped), each a
 *   per-sample power-iteration estimate `||A u||` with `u` from `iterations` steps started at the
 *   caller's vectors (the seed keeps one per training sample) and cut from the tape, so that its
 *   gradient is `v u^T`, as in spectral normalization;
 * - `headBounds` at the head (`worst_case.ts`).
 *
 * These are estimates (a power iteration approaches each norm from below), so the loss is not a
 * certificate: `lip.local.certify` certifies the trained model. References: Y. Huang et al.,
 * "Training Certifiably Robust Neural Networks with Efficient Local Lipschitz Bounds", NeurIPS 2021
 * (Local_bound.py, `net_Local_Lip`, `local_linear`, `robust_loss`).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { activationLipschitz } from '../core/activations';
import { layerLipschitzBound } from '../model/bound';
import { stopGradient } from '../ops/stop_gradient';
import { applyAffine, linearMap, type AffineParams } from './affine';
import type { ChainLink } from './chain';
import type { Head } from './certify';
import { affineStep, monotoneStep, type Ball, type Box, type LayerBounds } from './interval_bounds';
import { splitPieces } from './local_bound';
import { chainSteps, type Step } from './masks';
import { applyPiece, powerVectors, sampleNorms, type MaskedPiece } from './masked_operator';
import { layerRule, type LayerRule } from './rules';
import { headBounds } from './worst_case';

/** Which bound sets the head's ball radius: the masked pieces (`'local'`) or the unmasked ones. */
export type TrainingBound = 'local' | 'global';

/** What one pass needs besides the batch. */
export interface TrainingPassOptions {
  bound: TrainingBound;
  /** Power steps per piece and call (>= 1). */
  iterations: number;
  /** Start vectors, one per piece ([n, ...piece input shape]), or null for random ones. */
  start: readonly tf.Tensor[] | null;
  /** Seed of the random start vectors. */
  seed: number;
  /** The per-layer power vectors, kept between calls (read and replaced; tensors kept with `tf.keep`). */
  layerVectors: Map<tfl.layers.Layer, tf.Tensor>;
}

/** The result of a pass (tensors of the caller's tidy, except `vectors`, which are kept). */
export interface TrainingPassResult {
  /** Bounds of `z_j - z_y`, [n, classes], label column 0. */
  bound: tf.Tensor2D;
  /** The logits at the samples, from the same kernels. */
  logits: tf.Tensor2D;
  /** The new per-sample unit vectors, one per piece, cut from the tape and kept (`tf.keep`). */
  vectors: tf.Tensor[];
  /** Per-sample input shape of each piece. */
  shapes: number[][];
}

/** A linear piece of one affine layer (no mask): its global norm's power iteration. */
function layerPiece(layer: tfl.layers.Layer, p: AffineParams, inputShape: number[]): MaskedPiece {
  const step = { kind: 'linear' as const, layer, apply: (x: tf.Tensor) => linearMap(p, x, p.kernel), inputShape, affine: true, bound: Infinity };
  return { steps: [step], inputShape, inMask: null, outMask: null };
}

/** The estimated norm of an affine layer (a scalar on the tape), its vector advanced one step. */
function layerNorm(link: ChainLink, p: AffineParams, opts: TrainingPassOptions, seed: number): tf.Scalar {
  const shape = link.inputShape.slice(1) as number[];
  const piece = layerPiece(link.layer, p, shape);
  const previous = opts.layerVectors.get(link.layer);
  const u0 = previous ?? tf.randomNormal([1, ...shape], 0, 1, 'float32', seed);
  const u = tf.keep(stopGradient(powerVectors(piece, u0, 1)));
  previous?.dispose();
  opts.layerVectors.set(link.layer, u);
  return tf.reshape(sampleNorms(applyPiece(piece, u)), []) as tf.Scalar;
}

/** The box, ball center and radius after one layer, and its bounds for the masks (cut from the tape). */
function passLayer(link: ChainLink, rule: LayerRule, box: Box, ball: Ball, opts: TrainingPassOptions, index: number): { bounds: LayerBounds; ball: Ball } {
  const radius = ball.radius as tf.Scalar;
  let out: tf.Tensor[];
  let next: tf.Scalar;
  if (rule.kind === 'affine') {
    out = affineStep(rule.params, box, ball);
    next = tf.mul(radius, tf.mul(layerNorm(link, rule.params, opts, opts.seed + 1000 + index), activationLipschitz(rule.params.activation)));
  } else {
    next = rule.reshape ? radius : tf.mul(radius, layerLipschitzBound(link.layer, link.inputShape));
    out = monotoneStep(rule.apply, box, ball, next);
    if (rule.activation) out.push(box.lower, box.upper);
  }
  const [lower, upper, center, preLower, preUpper] = out as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor?, tf.Tensor?];
  const cut = (t: tf.Tensor | undefined) => (t === undefined ? undefined : stopGradient(t));
  const pre = preLower === undefined ? null : { lower: cut(preLower)!, upper: cut(preUpper)! };
  const bounds: LayerBounds = { name: link.layer.name, className: link.layer.getClassName(), lower, upper, preActivation: pre, ballRadius: NaN };
  return { bounds, ball: { center, radius: next } };
}

/** The per-sample norm estimates of the pieces and their new vectors. */
function pieceNorms(pieces: readonly MaskedPiece[], n: number, opts: TrainingPassOptions): { norms: tf.Tensor[]; vectors: tf.Tensor[] } {
  const norms: tf.Tensor[] = [];
  const vectors: tf.Tensor[] = [];
  pieces.forEach((piece, k) => {
    const masked = opts.bound === 'local' ? piece : { ...piece, inMask: null, outMask: null };
    const u0 = opts.start?.[k] ?? tf.randomNormal([n, ...piece.inputShape], 0, 1, 'float32', opts.seed + k);
    const u = tf.keep(stopGradient(powerVectors(masked, u0, opts.iterations)));
    vectors.push(u);
    norms.push(sampleNorms(applyPiece(masked, u)));
  });
  return { norms, vectors };
}

/**
 * The pass on a batch `x` with one-hot labels `y`, in the caller's tidy (see the module comment).
 * `head` is the checked head of the model's chain (`modelHead`).
 */
export function trainingPass(what: string, head: Head, x: tf.Tensor, y: tf.Tensor, epsilon: number, opts: TrainingPassOptions): TrainingPassResult {
  const links = head.links.slice(0, head.index);
  const rules = links.map((link) => layerRule(what, link.layer, true));
  const headRule = layerRule(what, head.links[head.index]!.layer, true);
  let box: Box = { lower: tf.sub(x, epsilon), upper: tf.add(x, epsilon) };
  let ball: Ball = { center: x, radius: tf.scalar(epsilon) };
  const layerBounds: LayerBounds[] = [];
  links.forEach((link, i) => {
    const step = passLayer(link, rules[i]!, box, ball, opts, i);
    layerBounds.push(step.bounds);
    box = step.bounds;
    ball = step.ball;
  });
  // The masks are left to the caller's tidy: the gradient of the products that use them reads them.
  const steps = cutMasks(chainSteps(links, rules, layerBounds, false));
  const { pieces, factor } = splitPieces(steps);
  const result = pieceNorms(pieces, x.shape[0]!, opts);
  const local = result.norms.reduce((p, s) => tf.mul(p, s), tf.fill([x.shape[0]!], epsilon * factor));
  // Both operands at the full shape: tfjs' Minimum gradient does not reduce a broadcast operand.
  const rho = tf.minimum(local, tf.mul(tf.onesLike(local), ball.radius as tf.Scalar));
  const p = (headRule as Extract<LayerRule, { kind: 'affine' }>).params;
  const logits = applyAffine(p, ball.center) as tf.Tensor2D;
  const bound = headBounds(p.kernel, p.bias, y, { lower: box.lower, upper: box.upper, logits, rho });
  return { bound, logits, vectors: result.vectors, shapes: result.vectors.map((v) => v.shape.slice(1)) };
}

/**
 * The steps with their masks cut from the tape: a mask is a comparison of bounds with thresholds
 * that may be trainable (clipped ReLU, clamped MaxMin), and comparisons have no gradient.
 */
function cutMasks(steps: Step[]): Step[] {
  return steps.map((s) => (s.kind === 'linear' ? s : { ...s, pre: s.pre === null ? null : stopGradient(s.pre), post: s.post === null ? null : stopGradient(s.post) }));
}
