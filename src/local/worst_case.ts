/**
 * The worst case of the logit differences `z_j - z_y` over the sets that hold the head's input `h`
 * (the last layer is the dense head `z = W^T h + b`): a box `[lower, upper]` (center `c`, radius
 * `r`) and an L2 ball around `h(x)` of radius `rho`. The largest value of the affine function
 * `(w_j - w_y) . h + (b_j - b_y)` over each set is exact (`d = w_j - w_y`):
 *
 *     box:  d . c + |d| . r + (b_j - b_y)
 *     ball: z_j(x) - z_y(x) + rho ||d||_2
 *
 * and both are sound, so their minimum is. Plain tensor operations: differentiable in `W`, `b`, the
 * box, the logits and `rho`, which the certified training loss relies on (`certified_loss.ts`).
 * Derivation and the seed's iterative variant: docs/local_lipschitz.md#certification.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The sets that hold the head's input over the input ball, and the logits at the sample. */
export interface HeadSets {
  lower: tf.Tensor;
  upper: tf.Tensor;
  /** The logits at the samples themselves, [n, classes] (needed with a finite `rho`). */
  logits: tf.Tensor | null;
  /** Radius of the L2 ball around `h(x)`: a number (Infinity: no ball) or per-sample [n]. */
  rho: number | tf.Tensor;
}

/** `m[y_n]` for every sample: the rows of `[classes, k]` picked by the one-hot `y` (exact: products by 1 and 0). */
function pick(y: tf.Tensor, m: tf.Tensor): tf.Tensor {
  return tf.matMul(y as tf.Tensor2D, m as tf.Tensor2D);
}

/**
 * Upper bounds of `z_j - z_y` for every sample and class, [n, classes], label column 0; `kernel`
 * [hidden, classes], `bias` [classes] or null, `y` one-hot [n, classes]. Runs in the caller's tidy.
 * The pairs `w_j - w_y` are formed once per class pair ([classes, classes, hidden]), not per
 * sample: `d . c = (c W)_j - (c W)_y`, and `|d| . r` is one product of `r` with the `classes^2`
 * pair rows, from which each sample keeps its label's block.
 */
export function headBounds(kernel: tf.Tensor, bias: tf.Tensor | null, y: tf.Tensor, sets: HeadSets): tf.Tensor2D {
  const classes = kernel.shape[1]!;
  const wT = tf.transpose(kernel); // [classes, hidden]: row j is w_j
  const pairs = tf.sub(tf.expandDims(wT, 0), tf.expandDims(wT, 1)); // [y, j, hidden]: w_j - w_y
  const center = tf.div(tf.add(sets.lower, sets.upper), 2);
  const radius = tf.div(tf.sub(sets.upper, sets.lower), 2);
  const cw = tf.matMul(center as tf.Tensor2D, kernel as tf.Tensor2D);
  let bound = tf.sub(cw, tf.sum(tf.mul(y, cw), 1, true));
  const spread = tf.matMul(radius as tf.Tensor2D, tf.reshape(tf.abs(pairs), [classes * classes, -1]) as tf.Tensor2D, false, true);
  bound = tf.add(bound, tf.sum(tf.mul(tf.reshape(spread, [-1, classes, classes]), tf.expandDims(y, 2)), 1));
  if (bias !== null) {
    const b = tf.expandDims(bias, 0);
    bound = tf.add(bound, tf.sub(b, tf.sum(tf.mul(y, b), 1, true)));
  }
  const ball = typeof sets.rho !== 'number' || Number.isFinite(sets.rho);
  if (ball && sets.logits !== null) {
    const z = sets.logits;
    const rho = typeof sets.rho === 'number' ? sets.rho : tf.reshape(sets.rho, [-1, 1]);
    // ||w_j - w_y|| is 0 for j = y; the floor keeps its gradient finite (and only raises the bound).
    const norms = pick(y, tf.sqrt(tf.maximum(tf.sum(tf.square(pairs), 2), 1e-30)));
    bound = tf.minimum(bound, tf.add(tf.sub(z, tf.sum(tf.mul(y, z), 1, true)), tf.mul(norms, rho)));
  }
  return tf.where(tf.greater(y, 0), tf.zerosLike(bound), bound) as tf.Tensor2D;
}

/**
 * The largest bound of `z_j - z_y` over the classes `j != y` ([n], or [n, 1] with `keepDims`):
 * negative exactly when the sample is certified; the label column is left out, not read as 0.
 */
export function largestOther(bound: tf.Tensor, y: tf.Tensor, keepDims = false): tf.Tensor {
  return tf.max(tf.where(tf.greater(y, 0), tf.fill(bound.shape, -Infinity), bound), 1, keepDims);
}
