/**
 * Exact Euclidean projection of each row of a matrix onto the L1 ball of radius r, with its exact
 * Jacobian as the gradient. This is what makes a dense layer's L-infinity operator norm (the
 * largest L1 norm of an output unit's weight vector) at most r (LNets' L-infinity projected
 * layers; `docs/linf_layers.md`).
 *
 * Forward (Duchi et al. 2008, sort and threshold): for a row v outside the ball, the projection is
 * the soft threshold w_i = sign(v_i) max(|v_i| - theta, 0), theta > 0 the value with
 * sum_i max(|v_i| - theta, 0) = r. With u = |v| sorted in decreasing order and c_j = u_1 + ... +
 * u_j, theta = (c_rho - r) / rho, rho the largest j with u_j > (c_j - r) / j (those j form a
 * prefix; j = 1 is always one of them). Rows already inside the ball (||v||_1 <= r) get theta = 0
 * and come back unchanged, bit for bit. In float32 c_rho - r cancels when ||v||_1 >> r; one
 * Newton step on theta (exact once the support is right) recomputes the residual from the
 * soft-thresholded entries alone, which are of the size of r.
 *
 * Gradient. For a row outside the ball with support S = {i : |v_i| > theta} and s_i = sign(v_i),
 * the constraint sum_{i in S} (s_i v_i - theta) = r gives, differentiated, |S| dtheta =
 * sum_{j in S} s_j dv_j, so dw_i = dv_i - s_i dtheta for i in S and dw_i = 0 off S:
 *
 *     J = D_S - s_S s_S^T / |S|        (D_S the 0/1 diagonal of S, s_S the signs on S),
 *
 * the identity on the support minus the signed mean over it (symmetric, so J^T g = J g). For a
 * row strictly inside the ball J = I. Both hold away from the measure-zero set where |v_i| = theta
 * for some i or ||v||_1 = r, where the projection is not differentiable.
 *
 * References: J. Duchi, S. Shalev-Shwartz, Y. Singer, T. Chandra, "Efficient projections onto the
 * l1-ball for learning in high dimensions", ICML 2008; C. Anil, J. Lucas, R. Grosse, "Sorting out
 * Lipschitz function approximation", ICML 2019 (L-infinity projected layers).
 */
import * as tf from '@tensorflow/tfjs-core';
import { configError } from '../core/errors';

/**
 * The soft threshold theta of each row of `a` (entries >= 0) for radius `radius`: 0 for rows with
 * sum <= radius. Returns `[n, 1]`.
 */
export function l1BallThresholds(a: tf.Tensor2D, radius: number): tf.Tensor2D {
  return tf.tidy(() => {
    const d = a.shape[1];
    const sorted = tf.topk(a, d, true).values;
    const cumulative = tf.cumsum(sorted, 1);
    const candidates = tf.div(tf.sub(cumulative, radius), tf.range(1, d + 1, 1, 'float32'));
    const rho = tf.sum(tf.cast(tf.greater(sorted, candidates), 'int32'), 1);
    const pick = tf.oneHot(tf.sub(rho, tf.scalar(1, 'int32')), d);
    const theta = tf.relu(tf.sum(tf.mul(candidates, pick), 1, true)) as tf.Tensor2D;
    // One Newton step on sum_i max(a_i - theta, 0) = radius (see the module comment).
    const residual = tf.sub(tf.sum(tf.relu(tf.sub(a, theta)), 1, true), radius);
    const count = tf.maximum(tf.sum(tf.cast(tf.greater(a, theta), 'float32'), 1, true), 1);
    const refined = tf.relu(tf.add(theta, tf.div(residual, count)));
    return tf.where(tf.greater(theta, 0), refined, theta) as tf.Tensor2D;
  });
}

/** The backward pass: `J g` row by row (see the module comment); `outside` is 1 for rows moved. */
function projectionGradient(dy: tf.Tensor2D, w: tf.Tensor2D, outside: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const signs = tf.sign(w);
    const support = tf.abs(signs);
    const size = tf.maximum(tf.sum(support, 1, true), 1);
    const mean = tf.div(tf.sum(tf.mul(signs, dy), 1, true), size);
    const onSphere = tf.sub(tf.mul(support, dy), tf.mul(signs, mean));
    return tf.where(tf.cast(outside, 'bool'), onSphere, dy) as tf.Tensor2D;
  });
}

/**
 * Each row of `v` (`[n, d]`) projected onto the L1 ball of radius `radius` (rows inside are
 * unchanged); differentiable with the exact Jacobian of the projection. The caller owns the result.
 */
export function projectRowsOntoL1Ball(v: tf.Tensor2D, radius: number): tf.Tensor2D {
  if (!(v instanceof tf.Tensor) || v.rank !== 2) configError('projectRowsOntoL1Ball v', 'a 2-D tf.Tensor', v);
  if (typeof radius !== 'number' || !Number.isFinite(radius) || radius <= 0) {
    configError('projectRowsOntoL1Ball radius', 'a finite number > 0', radius);
  }
  if (v.shape[1] === 0 || v.shape[0] === 0) return tf.clone(v);
  const project = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const rows = args[0] as tf.Tensor2D;
    const save = args[1] as tf.GradSaveFunc;
    const theta = l1BallThresholds(tf.abs(rows), radius);
    const w = tf.mul(tf.sign(rows), tf.relu(tf.sub(tf.abs(rows), theta))) as tf.Tensor2D;
    const outside = tf.cast(tf.greater(theta, 0), 'float32') as tf.Tensor2D;
    save([w, outside]);
    return {
      value: w,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => projectionGradient(dy as tf.Tensor2D, saved[0] as tf.Tensor2D, saved[1] as tf.Tensor2D),
    };
  });
  return project(v) as tf.Tensor2D;
}
