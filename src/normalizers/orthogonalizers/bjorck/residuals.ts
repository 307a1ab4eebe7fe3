/**
 * The measurements behind Björck's stopping decisions: the per-value convergence rate and the
 * number of steps it predicts, the residuals `||Y - I||` of a Gram matrix (one read-back each),
 * and random-probe estimates of that residual that avoid forming the full Gram matrix.
 */
import * as tf from '@tensorflow/tfjs-core';
import { frobeniusNorm, matMul } from '../../power_iteration';
import { stepRate } from './orders';

/**
 * Per singular value, with `d = s^2 - 1`, one step of `order` maps `d` to `(1 + d) q(d)^2 - 1`,
 * whose magnitude is at most `|d| * rate(|d|)` (orders.ts, `stepRate`; order 1:
 * `|1 - 2 beta| + (2 beta - beta^2) m + beta^2 m^2`).
 */
export function rate(m: number, beta: number, order = 1): number {
  return stepRate(m, beta, order);
}

/**
 * Number of steps after which the Frobenius residual `r = ||Y - I||_F` is predicted below
 * `eps / beta`, plus the final step (DEEL-LIP stops after the first step whose change, about
 * `beta * r` at every order, is below `eps`). `m >= max |d|` bounds the per-value rate. Infinity when the
 * prediction is not usable (m >= 1).
 */
export function predictedSteps(r: number, m: number, beta: number, eps: number, order = 1): number {
  if (!(m < 1) || !(r >= 0)) return Infinity;
  let steps = 1;
  while (beta * r >= eps) {
    const c = rate(m, beta, order);
    if (!(c < 1)) return Infinity;
    r *= c;
    m *= c;
    steps += 1;
    if (steps > 64) return Infinity;
  }
  return steps;
}

/**
 * `||Y - I||_F` and `||Y - I||_inf` (max absolute row sum, an upper bound of the spectral norm of
 * the symmetric `Y - I`), read back in one sync.
 */
export function gramStats(y: tf.Tensor2D): [number, number] {
  const values = gramResiduals(y);
  const [r, rowMax] = Array.from(values.dataSync());
  values.dispose();
  return [r!, rowMax!];
}

/** Power-iteration steps of {@link conditionEstimate}. */
const CONDITION_POWER_STEPS = 6;
/** Factor on the power-iteration estimate (which approaches the norm from below). */
const CONDITION_SAFETY = 1.5;

/**
 * Upper estimate of the condition number `kappa = s_max / s_min` of `w` from a warm start `p`
 * with `p^T G p` close to `I` (the singular values of `p` are then `1 / s_i`) and the Gram matrix
 * `G` (top eigenvalue `s_max^2`): `||p||_2 sqrt(||G||_2)`, each norm by power iteration from a
 * fixed random vector, times 1.5 (power iteration approaches a norm from below), and never above
 * the Frobenius bound `||p||_F sqrt(||G||_F)`, which no estimate can exceed. A scalar tensor.
 */
export function conditionEstimate(p: tf.Tensor2D, g: tf.Tensor2D, seed: number): tf.Scalar {
  return tf.tidy(() => {
    const k = p.shape[0];
    const start = tf.randomNormal([k, 1], 0, 1, 'float32', seed) as tf.Tensor2D;
    const pT = tf.transpose(p) as tf.Tensor2D;
    let vp = start;
    let vg = start;
    for (let i = 0; i < CONDITION_POWER_STEPS; i++) {
      vp = tf.div(matMul(pT, matMul(p, vp)), frobeniusNorm(vp)) as tf.Tensor2D;
      vg = tf.div(matMul(g, vg), frobeniusNorm(vg)) as tf.Tensor2D;
    }
    const pNorm = tf.div(frobeniusNorm(matMul(p, vp)), frobeniusNorm(vp));
    const gNorm = tf.div(frobeniusNorm(matMul(g, vg)), frobeniusNorm(vg));
    const estimate = tf.mul(tf.mul(pNorm, tf.sqrt(gNorm)), CONDITION_SAFETY);
    const bound = tf.mul(frobeniusNorm(p), tf.sqrt(frobeniusNorm(g)));
    return tf.minimum(estimate, bound) as tf.Scalar;
  });
}

/**
 * `[||Y - I||_F, ||Y - I||_inf]` of a Gram matrix `Y`, as a tensor (to be read back with others;
 * `gramStats` reads it alone).
 */
export function gramResiduals(y: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const d = tf.sub(y, tf.eye(y.shape[0]));
    return tf.stack([frobeniusNorm(d), tf.max(tf.sum(tf.abs(d), 1))]) as tf.Tensor1D;
  });
}

/** Number of random probe columns of the residual estimates. */
export const PROBES = 4;

/** The next seed of a probe sequence (a Park-Miller step: deterministic, never 0). */
export function nextProbeSeed(seed: number): number {
  return (seed * 16807) % 2147483647;
}

/**
 * Estimate of `||Gram(z) - I||_F` (Gram on the small side) from `PROBES` Gaussian vectors drawn
 * with `seed`: `||E V||_F^2 / PROBES` has expectation `||E||_F^2`; two thin products instead of
 * the full Gram.
 */
export function probeResidual(z: tf.Tensor2D, tall: boolean, seed: number): number {
  const value = tf.tidy(() => {
    const k = tall ? z.shape[1] : z.shape[0];
    const v = tf.randomNormal([k, PROBES], 0, 1, 'float32', seed) as tf.Tensor2D;
    const gv = tall ? matMul(z, matMul(z, v), true, false) : matMul(z, matMul(z, v, true, false));
    return tf.div(frobeniusNorm(tf.sub(gv, v)), Math.sqrt(PROBES));
  });
  const r = value.dataSync()[0]!;
  value.dispose();
  return r;
}

/**
 * The same estimate for the tall `z = w p` without forming `z`: `z^T z V = p^T w^T (w (p V))`,
 * four thin products (the transposes fall on the 4-row side).
 */
export function probeFactorResidual(w: tf.Tensor2D, p: tf.Tensor2D, seed: number): number {
  const value = tf.tidy(() => {
    const k = w.shape[1];
    const v = tf.randomNormal([k, PROBES], 0, 1, 'float32', seed) as tf.Tensor2D;
    const zv = matMul(w, matMul(p, v));
    // (z^T z V)^T = (zV)^T w p, PROBES x k.
    const gvT = matMul(matMul(zv, w, true, false), p);
    return tf.div(frobeniusNorm(tf.sub(gvT, tf.transpose(v))), Math.sqrt(PROBES));
  });
  const r = value.dataSync()[0]!;
  value.dispose();
  return r;
}
