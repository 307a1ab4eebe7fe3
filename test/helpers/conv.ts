/**
 * Test helpers for the convolution family: full matrices of conv2d / conv2dTranspose by
 * impulse response, and float64 reference normalizations of kernels.
 */
import * as tf from '@tensorflow/tfjs-core';

import { impulseResponseMatrix, singularValues } from './oracles';

/** Full matrix (rows = outputs) of `x -> conv2d(x, kernel)` on inputs `[h, w, cin]`. */
export function convMatrix(
  kernel: tf.Tensor4D,
  inputShape: [number, number, number],
  strides: [number, number] | number,
  padding: 'same' | 'valid',
): number[][] {
  return impulseResponseMatrix((x) => tf.conv2d(x as tf.Tensor4D, kernel, strides, padding), inputShape);
}

/** tfjs-layers' output length of a transposed convolution. */
export function deconvLength(n: number, s: number, k: number, padding: 'same' | 'valid'): number {
  return padding === 'same' ? n * s : n * s + Math.max(k - s, 0);
}

/** Full matrix of `x -> conv2dTranspose(x, kernel)` (kernel `[kh, kw, filters, cin]`). */
export function convTransposeMatrix(
  kernel: tf.Tensor4D,
  inputShape: [number, number, number],
  strides: [number, number],
  padding: 'same' | 'valid',
): number[][] {
  const [kh, kw, filters] = kernel.shape;
  const oh = deconvLength(inputShape[0], strides[0], kh, padding);
  const ow = deconvLength(inputShape[1], strides[1], kw, padding);
  return impulseResponseMatrix(
    (x) => tf.conv2dTranspose(x as tf.Tensor4D, kernel, [x.shape[0]!, oh, ow, filters], strides, padding),
    inputShape,
  );
}

/** Largest singular value in float64. */
export function opNorm(matrix: number[][]): number {
  return singularValues(matrix)[0] ?? 0;
}

/** Divides a kernel by the exact (float64) spectral norm of `reshape(kernel, [-1, last])`. */
export function normalizeReshaped(kernel: tf.Tensor4D): tf.Tensor4D {
  const last = kernel.shape[3];
  const rows = tf.tidy(() => tf.reshape(kernel, [-1, last]).arraySync() as number[][]);
  const s = opNorm(rows);
  return tf.tidy(() => tf.div(kernel, s * (1 + 1e-7)) as tf.Tensor4D);
}

/** Kernel `[kh, kw, cin, kh*kw*cin]` whose reshaped matrix is the identity (W W^T = I). */
export function identityKernel(kh: number, kw: number, cin: number): tf.Tensor4D {
  const n = kh * kw * cin;
  return tf.tidy(() => tf.reshape(tf.eye(n), [kh, kw, cin, n]) as tf.Tensor4D);
}

/** Deterministic pseudo-random normal kernel. */
export function randomKernel(shape: [number, number, number, number], seed: number): tf.Tensor4D {
  return tf.randomNormal(shape, 0, 1, 'float32', seed) as tf.Tensor4D;
}

/**
 * Eigenvalues of a symmetric matrix in float64 by the cyclic Jacobi method (rotations until
 * the off-diagonal mass is below 1e-22 of the total). Much faster than mathjs `eigs` on the
 * 50..150-sized Gram matrices of the convolution tests; cross-checked against it in the tests.
 */
export function symmetricEigenvalues(matrix: number[][]): number[] {
  const n = matrix.length;
  const a = new Float64Array(n * n);
  matrix.forEach((row, i) => row.forEach((v, j) => (a[i * n + j] = v)));
  let total = 0;
  for (let i = 0; i < n * n; i++) total += a[i]! * a[i]!;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += a[i * n + j]! * a[i * n + j]!;
    if (off <= 1e-22 * total || off === 0) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        const app = a[p * n + p]!;
        const aqq = a[q * n + q]!;
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!;
          const aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
      }
    }
  }
  return Array.from({ length: n }, (_, i) => a[i * n + i]!).sort((x, y) => y - x);
}

/** Singular values (float64, largest first) through the Jacobi eigenvalues of the smaller Gram. */
export function fastSingularValues(matrix: number[][]): number[] {
  const m = matrix.length;
  const n = matrix[0]?.length ?? 0;
  const small = Math.min(m, n);
  const gram: number[][] = Array.from({ length: small }, () => new Array<number>(small).fill(0));
  for (let i = 0; i < small; i++) {
    for (let j = i; j < small; j++) {
      let acc = 0;
      if (n <= m) for (let k = 0; k < m; k++) acc += matrix[k]![i]! * matrix[k]![j]!;
      else for (let k = 0; k < n; k++) acc += matrix[i]![k]! * matrix[j]![k]!;
      gram[i]![j] = acc;
      gram[j]![i] = acc;
    }
  }
  return symmetricEigenvalues(gram).map((v) => Math.sqrt(Math.max(0, v)));
}

/** Largest singular value in float64 (Jacobi). */
export function fastOpNorm(matrix: number[][]): number {
  return fastSingularValues(matrix)[0] ?? 0;
}
