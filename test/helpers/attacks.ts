/**
 * PGD-L2 attack on the top-1 margin, written for the certificate tests: projected gradient
 * ascent of max_{j != c} f_j(x') - f_c(x') over x' in the L2 ball of per-sample radius r around
 * x (c the clean prediction), with random starts inside the ball.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface PgdOptions {
  /** Per-sample L2 radius, length n. */
  radii: Float32Array;
  /** Gradient steps per restart. */
  steps: number;
  /** Restarts (the first starts at x, the others at a random point of the ball). */
  restarts: number;
  /** Step length as a fraction of the radius. */
  stepFraction?: number;
  /** Seed of the random starts. */
  seed?: number;
}

/** Per-sample L2 norms of a batch [n, d] -> [n, 1]. */
function norms(t: tf.Tensor2D): tf.Tensor2D {
  return tf.sqrt(tf.sum(tf.square(t), 1, true)) as tf.Tensor2D;
}

/**
 * Runs the attack on flat inputs x [n, d]. Returns, per sample, whether any iterate changed the
 * prediction, and the largest perturbation norm seen relative to the radius (to check that the
 * projection held).
 */
export function pgdL2(f: (x: tf.Tensor2D) => tf.Tensor2D, x: tf.Tensor2D, labels: Int32Array, options: PgdOptions): { flipped: boolean[]; maxRelNorm: number } {
  const n = x.shape[0];
  const flipped = new Array<boolean>(n).fill(false);
  let maxRelNorm = 0;
  const classes = tf.tidy(() => f(tf.slice(x, [0, 0], [1, -1])).shape[1]);
  const onehot = tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), classes), 'float32');
  const r = tf.reshape(tf.tensor1d(options.radii), [n, 1]) as tf.Tensor2D;
  const alpha = tf.mul(r, options.stepFraction ?? 2.5 / options.steps);
  const margin = (xa: tf.Tensor2D): tf.Tensor1D => {
    const out = f(xa);
    const trueScore = tf.sum(tf.mul(out, onehot), 1);
    const other = tf.max(tf.sub(out, tf.mul(onehot, 1e9)), 1);
    return tf.sub(other, trueScore) as tf.Tensor1D; // > 0: prediction changed
  };
  const gradOf = tf.grad((xa: tf.Tensor) => tf.sum(margin(xa as tf.Tensor2D)));
  for (let restart = 0; restart < options.restarts; restart++) {
    let delta = tf.tidy(() => {
      if (restart === 0) return tf.zerosLike(x);
      const d = tf.randomNormal(x.shape, 0, 1, 'float32', (options.seed ?? 0) * 1000 + restart) as tf.Tensor2D;
      const u = tf.randomUniform([n, 1], 0, 1, 'float32', (options.seed ?? 0) * 1000 + restart + 500);
      return tf.mul(tf.div(d, norms(d)), tf.mul(r, u));
    });
    for (let step = 0; step <= options.steps; step++) {
      const next = tf.tidy(() => {
        const xa = tf.add(x, delta) as tf.Tensor2D;
        const m = margin(xa).dataSync();
        const rel = tf.max(tf.div(norms(delta as tf.Tensor2D), r)).dataSync()[0]!;
        maxRelNorm = Math.max(maxRelNorm, rel);
        for (let i = 0; i < n; i++) if (m[i]! > 0) flipped[i] = true;
        if (step === options.steps) return delta;
        const g = gradOf(xa) as tf.Tensor2D;
        const stepped = tf.add(delta, tf.mul(alpha, tf.div(g, tf.maximum(norms(g), 1e-12))));
        // Project onto the ball of radius r (slightly inside, so rounding never leaves it).
        const scale = tf.minimum(1, tf.div(tf.mul(r, 1 - 1e-6), tf.maximum(norms(stepped as tf.Tensor2D), 1e-12)));
        return tf.mul(stepped, scale);
      });
      if (next !== delta) delta.dispose();
      delta = next;
    }
    delta.dispose();
  }
  tf.dispose([onehot, r, alpha]);
  return { flipped, maxRelNorm };
}
