/**
 * CLIP's Lipschitz set (docs/training_methods.md#clip): pairs (u, v) of inputs, their squared
 * difference quotients ||f(u) - f(v)||^2 / ||u - v||^2 and the gradient ascent that moves them
 * towards a larger quotient. Pure functions of tensors; the caller owns what they return.
 */
import * as tf from '@tensorflow/tfjs-core';
import { flatRows, stopGradient } from './common';

/** How the pairs start (CLIP's `reg_init`). */
export type ClipInit = 'plain' | 'partial_random' | 'noise';

/** The Lipschitz set: `u[i]` and `v[i]` form pair i. */
export interface ClipPairs {
  u: tf.Tensor;
  v: tf.Tensor;
}

/** Floor of ||u - v||^2, so that a pair with u = v has quotient 0 instead of NaN. */
const TINY_SQUARED_DISTANCE = 1e-30;

/** Scale of the uniform noise of `partial_random` and `noise` (CLIP's `torch.rand_like(x) * 1e-1`). */
const INIT_NOISE = 0.1;

/**
 * The pairs from a batch `x` [n >= 2, ...] of which m = floor(n / 2) pairs are made: `plain`: u =
 * the first m samples, v = the next m; `partial_random`: u = samples m..2m-1, v = u + U[0, 0.1);
 * `noise`: u, v ~ U[0, 0.1). Cut from the tape.
 */
export function initialPairs(x: tf.Tensor, init: ClipInit, seed: number): ClipPairs {
  const m = Math.floor((x.shape[0] as number) / 2);
  return tf.tidy(() => {
    const data = stopGradient(x);
    const rest = data.shape.slice(1);
    const first = tf.slice(data, 0, m);
    const second = tf.slice(data, m, m);
    if (init === 'plain') return { u: first, v: second };
    if (init === 'partial_random') return { u: second, v: tf.add(second, tf.randomUniform([m, ...rest], 0, INIT_NOISE, 'float32', seed)) };
    return {
      u: tf.randomUniform([m, ...rest], 0, INIT_NOISE, 'float32', seed),
      v: tf.randomUniform([m, ...rest], 0, INIT_NOISE, 'float32', seed + 1),
    };
  });
}

/** ||f(u_i) - f(v_i)||_2^2 / ||u_i - v_i||_2^2 for each pair: `[m]`, one forward pass of 2m rows. */
export function squaredQuotients(f: (x: tf.Tensor) => tf.Tensor, u: tf.Tensor, v: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const m = u.shape[0] as number;
    const out = f(tf.concat([u, v], 0));
    const dOut = flatRows(tf.sub(tf.slice(out, 0, m), tf.slice(out, m, m)));
    const dIn = flatRows(tf.sub(u, v));
    return tf.div(tf.sum(tf.square(dOut), 1), tf.maximum(tf.sum(tf.square(dIn), 1), TINY_SQUARED_DISTANCE));
  });
}

/** What one ascent returns: the moved pairs, the adapted step sizes and the pairs' quotients. */
export interface AscentResult extends ClipPairs {
  lr: tf.Tensor1D;
  best: tf.Tensor1D;
}

/**
 * `iters` steps of gradient ascent on the sum of the squared quotients, each pair with its own
 * step size `lr[i]`: the step of pair i is kept only when its quotient rises, and then its step
 * size is multiplied by `decay`, otherwise divided by it (CLIP's `adverserial_update`). The
 * quotients of the returned pairs never fall below those of the given ones (same model).
 */
export function ascend(f: (x: tf.Tensor) => tf.Tensor, start: ClipPairs & { lr: tf.Tensor1D }, iters: number, decay: number): AscentResult {
  return tf.tidy(() => {
    let { u, v, lr } = start;
    let best = squaredQuotients(f, u, v);
    const column = [-1, ...u.shape.slice(1).map(() => 1)];
    const sumQuotients = (a: tf.Tensor, b: tf.Tensor) => tf.sum(squaredQuotients(f, a, b));
    for (let i = 0; i < iters; i++) {
      const [gu, gv] = tf.grads(sumQuotients)([u, v]) as [tf.Tensor, tf.Tensor];
      const step = tf.reshape(lr, column);
      const uTry = tf.add(u, tf.mul(step, gu));
      const vTry = tf.add(v, tf.mul(step, gv));
      const tried = squaredQuotients(f, uTry, vTry);
      const better = tf.greater(tried, best);
      const rows = tf.reshape(better, column);
      u = tf.where(tf.broadcastTo(rows, u.shape), uTry, u);
      v = tf.where(tf.broadcastTo(rows, v.shape), vTry, v);
      lr = tf.where(better, tf.mul(lr, decay), tf.div(lr, decay)) as tf.Tensor1D;
      best = tf.where(better, tried, best) as tf.Tensor1D;
    }
    return { u: tf.clone(u), v: tf.clone(v), lr: tf.clone(lr), best };
  });
}
