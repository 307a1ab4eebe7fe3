/**
 * The Björck orders (Anil, Lucas & Grosse 2019, LNets `bjorck_orthonormalize(w, beta, iters,
 * order)`): one iteration is `W <- W q(WᵀW)` with `q` the Taylor polynomial of `Y^(-1/2)` around
 * `I`, truncated after the power `order` of `D = Y - I`:
 *
 *     order 1: q = I - beta D             = (1 + beta) I - beta Y   (DEEL-LIP's update, any beta)
 *     order 2: q = I - D/2 + 3/8 D²       = 15/8 I - 5/4 Y + 3/8 Y²
 *     order 3: ... - 5/16 D³              = 35/16 I - 35/16 Y + 21/16 Y² - 5/16 Y³
 *     order 4: ... + 35/128 D⁴            = 315/128 I - 105/32 Y + 189/64 Y² - 45/32 Y³ + 35/128 Y⁴
 *
 * Orders above 1 fix `beta = 1/2` (the Taylor coefficient), as LNets requires. Per singular value,
 * with `d = s² - 1`, one step maps `d` to `(1 + d) q(d)² - 1`, which is `O(|d|^(order + 1))` for
 * the Taylor orders (order 1 with beta 1/2: quadratic); `s -> s q(s² - 1)` is increasing on
 * [0, 1] (its derivative is a multiple of `(1 - s²)^order`), so singular values in (0, 1] stay in
 * (0, 1] and rise to 1. See docs/normalizers.md ("Björck orders") for the measured iterations.
 */
import * as tf from '@tensorflow/tfjs-core';
import { configError } from '../../../core/errors';
import { matMul } from '../../power_iteration';

/** The orders LNets implements (1 is DEEL-LIP's and this library's default). */
export const BJORCK_ORDERS: readonly number[] = Object.freeze([1, 2, 3, 4]);

/**
 * Checks `bjorckOrder` (an integer 1 to 4) and that an order above 1 comes with `beta = 0.5` (its
 * step is the Taylor polynomial, whose coefficients fix the step size); throws
 * `LipschitzConfigError` naming the argument and the value.
 */
export function checkBjorckOrder(order: unknown, beta: number): number {
  if (typeof order !== 'number' || !BJORCK_ORDERS.includes(order)) configError('bjorckOrder', 'an integer from 1 to 4', order);
  if (order > 1 && beta !== 0.5) {
    configError('betaBjorck', `0.5 with bjorckOrder ${order} (the Taylor step of an order above 1 fixes the step size)`, beta);
  }
  return order;
}

/** Taylor coefficients of `(1 + d)^(-1/2)`: binomial(-1/2, i), i = 0..4. */
const TAYLOR = [1, -1 / 2, 3 / 8, -5 / 16, 35 / 128];

/** Coefficients (in `D = Y - I`, constant first) of the step polynomial `q` of `order`. */
export function stepCoefficients(beta: number, order: number): number[] {
  return order === 1 ? [1, -beta] : TAYLOR.slice(0, order + 1);
}

/**
 * The step matrix `q(Y)` (small side, `k x k`) of one iteration `P <- P q(Y)`, `Y` the Gram
 * matrix of the current iterate: order 1 `(1 + beta) I - beta Y` (one scaled subtraction), higher
 * orders by Horner's rule in `D = Y - I` (`order - 1` products).
 */
export function stepMatrix(y: tf.Tensor2D, beta: number, order: number): tf.Tensor2D {
  return tf.tidy(() => {
    const eye = tf.eye(y.shape[0]);
    if (order === 1) return tf.sub(tf.mul(eye, 1 + beta), tf.mul(y, beta)) as tf.Tensor2D;
    const c = stepCoefficients(beta, order);
    const d = tf.sub(y, eye) as tf.Tensor2D;
    let q = tf.add(tf.mul(eye, c[order - 1]!), tf.mul(d, c[order]!)) as tf.Tensor2D;
    for (let i = order - 2; i >= 0; i--) q = tf.add(tf.mul(eye, c[i]!), matMul(d, q)) as tf.Tensor2D;
    return q;
  });
}

/** Product of two polynomials given by their coefficients (constant first). */
function polyMul(a: number[], b: number[]): number[] {
  const out = new Array<number>(a.length + b.length - 1).fill(0);
  a.forEach((x, i) => b.forEach((y, j) => (out[i + j]! += x * y)));
  return out;
}

/** Cache of the coefficients of `(1 + d) q(d)² - 1` by `beta` and order. */
const errorCoefficients = new Map<string, number[]>();

/** Coefficients of the one-step error map `d -> (1 + d) q(d)² - 1` (its constant term is 0). */
function errorMap(beta: number, order: number): number[] {
  const key = `${beta}/${order}`;
  let coefficients = errorCoefficients.get(key);
  if (coefficients === undefined) {
    const q = stepCoefficients(beta, order);
    coefficients = polyMul([1, 1], polyMul(q, q));
    coefficients[0]! -= 1;
    errorCoefficients.set(key, coefficients);
  }
  return coefficients;
}

/**
 * Per singular value, one step maps `d = s² - 1` to a `d'` with `|d'| <= |d| * stepRate(m)` for
 * every `|d| <= m`: the sum of `|a_j| m^(j-1)` over the coefficients `a_j` of the error map. For
 * order 1 this is `|1 - 2 beta| + (2 beta - beta²) m + beta² m²`.
 */
export function stepRate(m: number, beta: number, order: number): number {
  const a = errorMap(beta, order);
  let total = 0;
  for (let j = a.length - 1; j >= 1; j--) total = total * m + Math.abs(a[j]!);
  return total;
}

/**
 * Small-side products of one iteration: the Gram matrix of the iterate (two), the step
 * polynomial (`order - 1`) and the update (one).
 */
export function productsPerIteration(order: number): number {
  return order + 2;
}
