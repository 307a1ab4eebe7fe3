/**
 * `lip.attacks.pgd`: projected gradient ascent of the loss over the ball of radius epsilon (l2 or
 * linf) around x, intersected with the box `clip`:
 *
 *     x_{t+1} = P(x_t + stepSize * d(grad L(x_t)))
 *
 * with d the steepest-ascent unit step of the norm (g / ||g||_2 for l2, sign(g) for linf) and P
 * the projection: delta = x_{t+1} - x rescaled (l2) or clipped (linf) into the ball, then the
 * coordinates clamped to the box (which keeps the ball: it only shrinks |delta_i|).
 *
 * Per sample, the result is the first iterate (over steps and restarts, start points included)
 * that the model misclassifies; when none does, the iterate of highest loss. A misclassified
 * sample is frozen (as in CLIP's `pgd`), so the result is the strongest evidence found.
 *
 * Differences from CLIP's reference: the l2 step uses g / ||g||_2 (CLIP adds alpha * sign(g)),
 * the l2 projection is onto the ball (CLIP rescales onto the sphere), and linf uses stepSize
 * (CLIP's default overwrote epsilon instead). Defaults follow CLIP: l2 epsilon 2, linf epsilon
 * 0.3, 7 steps, stepSize epsilon / 4, one restart, random start.
 *
 * References: Madry, Makelov, Schmidt, Tsipras, Vladu, Towards deep learning models resistant to
 * adversarial attacks (ICLR 2018); CLIP (Bungert et al., SSVM 2021), https://github.com/TimRoith/CLIP.
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkKnownKeys, checkOneOf, checkPositiveFinite, checkPositiveInt, optionNames } from '../core/validation';
import {
  booleanOption,
  clampToBox,
  logitsOf,
  makeAttack,
  perSample,
  perSampleLoss,
  prepareCall,
  projectBall,
  resolveClip,
  resolveLoss,
  resolveSeed,
  seedCounter,
  unitL2,
  type AttackLoss,
} from './common';
import type { Attack } from './types';

/** Options of `pgd`. */
export interface PgdArgs {
  /** Radius of the ball. Default 2 for 'l2', 0.3 for 'linf' (CLIP's defaults). */
  epsilon?: number;
  /** Threat model: 'l2' (default) or 'linf'. */
  norm?: 'l2' | 'linf';
  /** Gradient steps per restart (CLIP's `attack_iters`). Default 7. */
  steps?: number;
  /** Length of one step in the norm `norm` (CLIP's `alpha`). Default epsilon / 4. */
  stepSize?: number;
  /** Runs from new start points (CLIP's `restarts`). Default 1. */
  restarts?: number;
  /** Start at a uniform random point of the ball (default true); false: the first run starts at x. */
  randomStart?: boolean;
  /** Box [low, high] the iterates stay in, or null for none. Default [0, 1]. */
  clip?: [number, number] | null;
  /** Per-sample loss to increase, `(yTrueOneHot, logits) => [n]`. Default softmax cross-entropy. */
  loss?: AttackLoss;
  /** Seed of the random starts (two attacks with the same seed return the same sequence). */
  seed?: number;
}

const PGD_OPTIONS = optionNames<PgdArgs>({
  epsilon: true,
  norm: true,
  steps: true,
  stepSize: true,
  restarts: true,
  randomStart: true,
  clip: true,
  loss: true,
  seed: true,
});

interface PgdSettings {
  epsilon: number;
  norm: 'l2' | 'linf';
  steps: number;
  stepSize: number;
  restarts: number;
  randomStart: boolean;
  clip: [number, number] | null;
  loss: AttackLoss;
}

/** The best iterate so far, per sample: point, its loss, and whether it is misclassified (frozen). */
interface Best {
  x: tf.Tensor;
  loss: tf.Tensor1D;
  done: tf.Tensor1D;
}

/** A uniform random point of the ball around x (linf: the cube; l2: radius epsilon u^(1/D)), in the box. */
function randomStartPoint(x: tf.Tensor, s: PgdSettings, seed: number | undefined): tf.Tensor {
  return tf.tidy(() => {
    if (s.norm === 'linf') return clampToBox(tf.add(x, tf.randomUniform(x.shape, -s.epsilon, s.epsilon, 'float32', seed)), x, s.clip);
    const n = x.shape[0] as number;
    const dims = x.size / n;
    const direction = unitL2(tf.randomNormal(x.shape, 0, 1, 'float32', seed));
    const radius = tf.mul(tf.pow(tf.randomUniform([n], 0, 1, 'float32', seed === undefined ? undefined : seed + 1), 1 / dims), s.epsilon);
    return clampToBox(tf.add(x, tf.mul(direction, perSample(radius, x.rank))), x, s.clip);
  });
}

/** Loss per sample, its gradient, and which samples are misclassified, at the iterate `xa`. */
function evaluate(f: (x: tf.Tensor) => tf.Tensor, s: PgdSettings, xa: tf.Tensor, y: tf.Tensor): { loss: tf.Tensor1D; grad: tf.Tensor; wrong: tf.Tensor1D } {
  const holder: { logits?: tf.Tensor } = {};
  try {
    return tf.tidy(() => {
      const { grad } = tf.valueAndGrad((z: tf.Tensor) => {
        const logits = logitsOf('pgd', f, z);
        holder.logits = tf.keep(logits);
        return tf.sum(perSampleLoss('pgd', s.loss, y, logits));
      })(xa);
      const logits = holder.logits as tf.Tensor;
      const wrong = tf.cast(tf.notEqual(tf.argMax(logits, 1), tf.argMax(y, 1)), 'float32') as tf.Tensor1D;
      return { loss: perSampleLoss('pgd', s.loss, y, logits), grad, wrong };
    });
  } finally {
    holder.logits?.dispose();
  }
}

/** Takes the iterate for the samples not frozen where it misclassifies or raises the loss. */
function updateBest(best: Best, xa: tf.Tensor, loss: tf.Tensor1D, wrong: tf.Tensor1D): Best {
  const next = tf.tidy(() => {
    const open = tf.equal(best.done, 0);
    const take = tf.logicalAnd(open, tf.logicalOr(tf.greater(wrong, 0), tf.greater(loss, best.loss)));
    return {
      x: tf.where(perSample(take, xa.rank), xa, best.x),
      loss: tf.where(take, loss, best.loss) as tf.Tensor1D,
      done: tf.maximum(best.done, tf.mul(tf.cast(take, 'float32'), wrong)) as tf.Tensor1D,
    };
  });
  tf.dispose([best.x, best.loss, best.done]);
  return next;
}

/** One projected step from `xa` along the gradient `g`. */
function projectedStep(x: tf.Tensor, xa: tf.Tensor, g: tf.Tensor, s: PgdSettings): tf.Tensor {
  return tf.tidy(() => {
    const direction = s.norm === 'linf' ? tf.sign(g) : unitL2(g);
    const delta = projectBall(tf.sub(tf.add(xa, tf.mul(direction, s.stepSize)), x), s.epsilon, s.norm);
    return clampToBox(tf.add(x, delta), x, s.clip);
  });
}

/** One run (restart) from `start`; returns true when every sample is misclassified (stop early). */
function run(f: (x: tf.Tensor) => tf.Tensor, s: PgdSettings, x: tf.Tensor, y: tf.Tensor, start: tf.Tensor, best: { current: Best }): boolean {
  let xa = start;
  try {
    for (let t = 0; t <= s.steps; t++) {
      const ev = evaluate(f, s, xa, y);
      best.current = updateBest(best.current, xa, ev.loss, ev.wrong);
      tf.dispose([ev.loss, ev.wrong]);
      const remaining = tf.min(best.current.done);
      const allDone = (remaining.dataSync()[0] as number) === 1;
      remaining.dispose();
      if (allDone || t === s.steps) {
        ev.grad.dispose();
        return allDone;
      }
      const next = projectedStep(x, xa, ev.grad, s);
      ev.grad.dispose();
      xa.dispose();
      xa = next;
    }
    return false;
  } finally {
    xa.dispose();
  }
}

/** Resolves and checks the options of `pgd`. */
function pgdSettings(args: PgdArgs): PgdSettings {
  checkKnownKeys('pgd', args, PGD_OPTIONS);
  const norm = checkOneOf('pgd norm', args.norm ?? 'l2', ['l2', 'linf'] as const);
  const epsilon = checkPositiveFinite('pgd epsilon', args.epsilon ?? (norm === 'l2' ? 2 : 0.3));
  return {
    epsilon,
    norm,
    steps: checkPositiveInt('pgd steps', args.steps ?? 7),
    stepSize: checkPositiveFinite('pgd stepSize', args.stepSize ?? epsilon / 4),
    restarts: checkPositiveInt('pgd restarts', args.restarts ?? 1),
    randomStart: booleanOption('pgd', 'randomStart', args.randomStart, true),
    clip: resolveClip('pgd', args.clip),
    loss: resolveLoss('pgd', args.loss),
  };
}

/**
 * Projected gradient descent on the negative loss (ascent), `restarts` runs of `steps` steps (see
 * the module comment for the update, the projection and which iterate is returned).
 * Cost: up to restarts * (steps + 1) forward and backward passes per call (fewer once every
 * sample is misclassified), and one read of a flag per step.
 *
 * References: Madry et al. (ICLR 2018); CLIP's `pgd` (Bungert et al., SSVM 2021).
 */
export function pgd(args: PgdArgs = {}): Attack {
  const s = pgdSettings(args);
  const seed = resolveSeed('pgd', args.seed);
  const nextSeed = seedCounter(seed);
  const { loss: _loss, ...shown } = s;
  const config = { ...shown, seed: seed ?? null, loss: args.loss === undefined ? 'softmaxCrossEntropy' : 'custom' };
  return makeAttack('pgd', config, (model, x, labels) => {
    const call = prepareCall('pgd', model, x, labels, s.loss);
    const n = call.x.shape[0] as number;
    const best = { current: { x: tf.clone(call.x), loss: tf.fill([n], -Infinity) as tf.Tensor1D, done: tf.zeros([n]) as tf.Tensor1D } };
    let finished = false;
    try {
      for (let r = 0; r < s.restarts; r++) {
        const start = !s.randomStart && r === 0 ? tf.clone(call.x) : randomStartPoint(call.x, s, nextSeed());
        if (run(call.f, s, call.x, call.y, start, best)) break;
      }
      finished = true;
      return best.current.x;
    } finally {
      if (!finished) best.current.x.dispose();
      tf.dispose([call.y, best.current.loss, best.current.done]);
    }
  });
}
