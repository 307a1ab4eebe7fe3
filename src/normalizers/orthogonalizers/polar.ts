/**
 * The exact polar factor (`orthogonalizer: 'polar'`): for a tall `W` (`[m, n]`, `m >= n`),
 * `Z = W (W^T W)^(-1/2)`, the orthonormal matrix nearest to `W` (DEEL-LIP's `polar(W)`, which
 * its Björck approximates), computed from a float64 eigen-decomposition of the small Gram matrix
 * `W^T W = V diag(h^2) V^T` (cyclic Jacobi, `linalg/svd.ts`); a wide `W` is handled through its
 * transpose. No warm start, no tolerance: the result is orthonormal to float32 rounding at every
 * call, at the cost of reading `W^T W` back and an O(n^3) decomposition on the CPU per call (a
 * few ms for n = 64, about a second for n = 256): an exact reference rather than a fast default.
 *
 * Gradient: the exact derivative of the polar factor. With `W = Z H` (`H = V diag(h) V^T`) and an
 * upstream gradient `G`, `dL/dW = (I - Z Z^T) G H^(-1) + 2 Z B`, where the antisymmetric `B`
 * solves `H B + B H = skew(Z^T G)`: in the eigenbasis, `B~_ij = A~_ij / (h_i + h_j)` with
 * `A~ = V^T skew(Z^T G) V` (docs/normalizers.md has the derivation).
 *
 * References: N. J. Higham, "Computing the polar decomposition, with applications", SIAM J. Sci.
 * Stat. Comput. 1986; Anil, Lucas & Grosse, ICML 2019 (the polar factor as the target of Björck).
 */
import * as tf from '@tensorflow/tfjs-core';
import { symmetricEigen } from '../../linalg/svd';
import { matMul } from '../power_iteration';
import type { Orthogonalizer, OrthogonalizeResult } from './types';

/** Eigenvalues of `W^T W` below this fraction of the largest are raised to it (W is nearly rank-deficient). */
const RELATIVE_FLOOR = 1e-12;

/** `V diag(f(h)) V^T` for the eigenvectors `V` (row-major `n x n`) and a function of each `h`. */
function spectralFunction(vectors: Float64Array, h: Float64Array, f: (h: number) => number): Float64Array {
  const n = h.length;
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let l = 0; l < n; l++) s += vectors[i * n + l]! * f(h[l]!) * vectors[j * n + l]!;
      out[i * n + j] = s;
      out[j * n + i] = s;
    }
  }
  return out;
}

/** `V^T X V` (or `V X V^T` with `back`) for row-major `n x n` matrices, in float64. */
function changeBasis(vectors: Float64Array, x: Float64Array, n: number, back: boolean): Float64Array {
  const at = (i: number, j: number) => (back ? vectors[i * n + j]! : vectors[j * n + i]!);
  const tmp = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let l = 0; l < n; l++) s += at(i, l) * x[l * n + j]!;
      tmp[i * n + j] = s;
    }
  }
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let l = 0; l < n; l++) s += tmp[i * n + l]! * at(j, l);
      out[i * n + j] = s;
    }
  }
  return out;
}

/** The polar factor of a tall `w` with its exact gradient (see the module comment). */
function tallPolar(w: tf.Tensor2D): tf.Tensor2D {
  const n = w.shape[1];
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const x = args[0] as tf.Tensor2D;
    const save = args[1] as tf.GradSaveFunc;
    const gram = matMul(x, x, true, false);
    const gramValues = gram.dataSync();
    gram.dispose();
    const { values, vectors } = symmetricEigen(gramValues, n);
    const floor = Math.max(...values) * RELATIVE_FLOOR;
    const h = Float64Array.from(values, (v) => Math.sqrt(Math.max(v, floor)));
    const inverseSqrt = tf.tensor2d(Float32Array.from(spectralFunction(vectors, h, (s) => 1 / s)), [n, n]);
    const z = matMul(x, inverseSqrt);
    save([z, inverseSqrt]);
    return {
      value: z,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [zSaved, hInverse] = saved as [tf.Tensor2D, tf.Tensor2D];
          const g = dy as tf.Tensor2D;
          const ztg = matMul(zSaved, g, true, false);
          const m = ztg.dataSync();
          // skew(Z^T G) in V's basis, divided by h_i + h_j, back: B; then 2 B.
          const skew = Float64Array.from(m, (_, idx) => (m[idx]! - m[(idx % n) * n + Math.floor(idx / n)]!) / 2);
          const inBasis = changeBasis(vectors, skew, n, false);
          for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) inBasis[i * n + j] = inBasis[i * n + j]! / (h[i]! + h[j]!);
          const twoB = tf.tensor2d(Float32Array.from(changeBasis(vectors, inBasis, n, true), (v) => 2 * v), [n, n]);
          const orthogonalPart = tf.sub(g, matMul(zSaved, ztg)) as tf.Tensor2D;
          return tf.add(matMul(orthogonalPart, hInverse), matMul(zSaved, twoB));
        }),
    };
  });
  return op(w) as tf.Tensor2D;
}

/** `W (W^T W)^(-1/2)` (tall) or `(W W^T)^(-1/2) W` (wide), differentiable. */
export function polarFactor(w: tf.Tensor2D): tf.Tensor2D {
  if (w.shape[0] >= w.shape[1]) return tallPolar(w);
  return tf.tidy(() => tf.transpose(tallPolar(tf.transpose(w) as tf.Tensor2D))) as tf.Tensor2D;
}

/** The exact polar factor as an orthogonalizer (no state, no settings). */
export class PolarOrthogonalizer implements Orthogonalizer {
  readonly name = 'polar';
  readonly orthonormal = true;

  stateWeight(): null {
    return null;
  }

  orthogonalize(w: tf.Tensor2D): OrthogonalizeResult {
    return { wBar: polarFactor(w), state: null, iterations: 0 };
  }

  config(): Record<string, number | null> {
    return {};
  }
}
