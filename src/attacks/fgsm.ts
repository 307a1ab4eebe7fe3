/**
 * `lip.attacks.fgsm`: one steepest-ascent step of the loss for a norm (the fast gradient method).
 *
 * With g = grad_x L(f(x), y) (per sample; L the softmax cross-entropy by default):
 *
 *     linf (FGSM, Tulip's J1):  x_adv = x + epsilon * sign(g)
 *     l2   (Tulip's J2):        x_adv = x + epsilon * g / ||g||_2
 *     l1   (Tulip's Jinf):      x_adv = x + epsilon * sign(g_i) e_i on the coordinate(s) i of
 *                               largest |g_i| (k tied coordinates share it: epsilon / k each)
 *
 * each the maximizer of the first-order model L(x) + <g, delta> over the ball ||delta|| <= epsilon
 * of that norm (the dual norm of g is attained: ||g||_1, ||g||_2, ||g||_inf). The result is then
 * clamped to the box `clip`. A zero gradient gives no move.
 *
 * References: Goodfellow, Shlens, Szegedy, Explaining and harnessing adversarial examples (ICLR
 * 2015); Finlay, Oberman, Scaleable input gradient regularization for adversarial robustness
 * (2019), https://github.com/cfinlay/tulip; CLIP's `fgsm` (https://github.com/TimRoith/CLIP).
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkKnownKeys, checkOneOf, checkPositiveFinite, optionNames } from '../core/validation';
import { clampToBox, logitsOf, makeAttack, perSampleLoss, prepareCall, resolveClip, resolveLoss, unitL2, type AttackLoss, type AttackNorm } from './common';
import type { Attack } from './types';

/** Options of `fgsm`. */
export interface FgsmArgs {
  /** Size of the step, in the norm `norm`. Default 0.3 (CLIP's default). */
  epsilon?: number;
  /** Threat model: 'linf' (default, FGSM), 'l2' or 'l1' (largest-entry step). */
  norm?: AttackNorm;
  /** Box [low, high] the result is clamped to, or null for none. Default [0, 1]. */
  clip?: [number, number] | null;
  /** Per-sample loss to increase, `(yTrueOneHot, logits) => [n]`. Default softmax cross-entropy. */
  loss?: AttackLoss;
}

const FGSM_OPTIONS = optionNames<FgsmArgs>({ epsilon: true, norm: true, clip: true, loss: true });

/**
 * The unit steepest-ascent direction of the first-order model for `norm`: sign(g) (linf),
 * g / ||g||_2 (l2), or sign(g) on the largest |g| entries shared equally (l1). Shaped like g.
 */
export function steepestDirection(g: tf.Tensor, norm: AttackNorm): tf.Tensor {
  if (norm === 'linf') return tf.sign(g);
  if (norm === 'l2') return unitL2(g);
  return tf.tidy(() => {
    const n = g.shape[0] as number;
    const flat = tf.abs(tf.reshape(g, [n, -1]));
    const top = tf.max(flat, 1, true);
    const mask = tf.cast(tf.logicalAnd(tf.equal(flat, top), tf.greater(top, 0)), 'float32');
    const count = tf.maximum(tf.sum(mask, 1, true), 1);
    return tf.reshape(tf.mul(tf.sign(tf.reshape(g, [n, -1])), tf.div(mask, count)), g.shape);
  });
}

/** Gradient of the summed per-sample loss at `x`. */
export function lossGradient(owner: string, f: (x: tf.Tensor) => tf.Tensor, loss: AttackLoss, x: tf.Tensor, y: tf.Tensor): tf.Tensor {
  return tf.grad((z: tf.Tensor) => tf.sum(perSampleLoss(owner, loss, y, logitsOf(owner, f, z))))(x);
}

/**
 * Fast gradient method for the norm `norm` (see the module comment for the three steps).
 * Cost: one forward and one backward pass per call.
 *
 * References: Goodfellow et al. (ICLR 2015); Finlay & Oberman (2019), J1/J2/Jinf.
 */
export function fgsm(args: FgsmArgs = {}): Attack {
  checkKnownKeys('fgsm', args, FGSM_OPTIONS);
  const epsilon = checkPositiveFinite('fgsm epsilon', args.epsilon ?? 0.3);
  const norm = checkOneOf('fgsm norm', args.norm ?? 'linf', ['linf', 'l2', 'l1'] as const);
  const clip = resolveClip('fgsm', args.clip);
  const loss = resolveLoss('fgsm', args.loss);
  const config = { epsilon, norm, clip, loss: args.loss === undefined ? 'softmaxCrossEntropy' : 'custom' };
  return makeAttack('fgsm', config, (model, x, labels) => {
    const call = prepareCall('fgsm', model, x, labels, loss);
    try {
      return tf.tidy(() => {
        const g = lossGradient('fgsm', call.f, loss, call.x, call.y);
        const step = tf.mul(steepestDirection(g, norm), epsilon);
        return clampToBox(tf.add(call.x, step), call.x, clip);
      });
    } finally {
      call.y.dispose();
    }
  });
}
