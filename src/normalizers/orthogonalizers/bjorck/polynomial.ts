/**
 * The polynomial finish of a warm-started Björck: one step `P <- P q(Y)` with `q` a Taylor
 * polynomial of `Y^(-1/2)` replaces the last two to four iterations when it is provably as precise.
 */
import * as tf from '@tensorflow/tfjs-core';
import { frobeniusNorm, matMul } from '../../power_iteration';
import { productsPerIteration } from './orders';

/** Taylor coefficients of `(1 + d)^(-1/2)` (binomial(-1/2, i)), up to degree 8. */
const INVERSE_SQRT_TAYLOR = [1, -1 / 2, 3 / 8, -5 / 16, 35 / 128, -63 / 256, 231 / 1024, -429 / 2048, 6435 / 32768];
/** Polynomial degrees tried, cheapest first. */
const POLYNOMIAL_DEGREES = [4, 6, 8];
/**
 * Frobenius residual `||Y' - I||_F` that a polynomial step must provably reach: what the planned
 * Björck iterations reach (the step after `beta r < eps`, from `r = eps / beta`, leaves at most
 * `0.75 r^2` for beta 0.5: 3e-6 at the default tolerance).
 */
const POLYNOMIAL_TOLERANCE = 3e-6;

/**
 * One step `P <- P q(Y)` with `q` the Taylor polynomial of `Y^(-1/2)` around `I` of degree 4, 6
 * or 8 (`Y = I + D` the Gram matrix of the current iterate, symmetric), or `null` when no degree
 * is provably precise enough and cheaper than the planned Björck iterations.
 *
 * Precision: each eigenvalue `1 + d` of `Y` becomes `(1 + d) q(d)^2`, and for `|d| <= 0.5`
 * `|(1 + d) q(d)^2 - 1| <= 0.65 |d|^(n+1)` (the Taylor remainder: the ratio is `2 |c_(n+1)|` below
 * 0.5 near 0 and peaks at `d = -0.5`: 0.64, 0.56, 0.50 for n = 4, 6, 8), so the new residual is at
 * most `0.65 ||D^(n+1)||_F <= 0.65 ||D^2||_F^((n+1)/2)` (p-norm monotonicity on the eigenvalues).
 * `||D^2||_F` (one product, one read-back) is a much tighter measure than `||D||_F` because it
 * weighs the largest eigenvalues.
 *
 * Cost: the polynomial is evaluated by Horner's rule in `D^2`, `q = c0 + c1 D + D^2 (c2 + c3 D +
 * D^2 (c4 + c5 D + ...))`, each level one product, so degree `n` costs `n / 2` products (`D^2`
 * included) and the caller's update one more; `bjorckSteps` planned Björck iterations would cost
 * `3 bjorckSteps - 2` (one update and a two-product Gram matrix each, the last without; an
 * iteration of a higher `order` adds `order - 1` products). From a warm start this replaces two
 * to four iterations. Internal; exported for tests.
 */
export function inverseSqrtPolynomial(y: tf.Tensor2D, bjorckSteps: number, order = 1): { q: tf.Tensor2D; degree: number } | null {
  const k = y.shape[0];
  const eye = tf.eye(k);
  const d = tf.sub(y, eye) as tf.Tensor2D;
  const d2 = matMul(d, d);
  const s2Tensor = frobeniusNorm(d2);
  const s2 = s2Tensor.dataSync()[0]!;
  s2Tensor.dispose();
  const bjorckCost = productsPerIteration(order) * bjorckSteps - 2;
  const degree = POLYNOMIAL_DEGREES.find(
    (n) => 0.65 * s2 ** ((n + 1) / 2) <= POLYNOMIAL_TOLERANCE && n / 2 + 1 < bjorckCost,
  );
  if (degree === undefined) {
    tf.dispose([eye, d, d2]);
    return null;
  }
  const c = INVERSE_SQRT_TAYLOR;
  const q = tf.tidy(() => {
    const level = (j: number, rest: tf.Tensor) => tf.add(tf.add(tf.mul(eye, c[j]!), tf.mul(d, c[j + 1]!)), rest);
    let inner = level(degree - 2, tf.mul(d2, c[degree]!));
    for (let j = degree - 4; j >= 0; j -= 2) inner = level(j, matMul(d2, inner as tf.Tensor2D));
    return inner;
  }) as tf.Tensor2D;
  tf.dispose([eye, d, d2]);
  return { q, degree };
}
