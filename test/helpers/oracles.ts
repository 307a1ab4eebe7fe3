/**
 * Independent float64 oracles shared by the tests: singular values through mathjs, the
 * impulse-response matrix of a linear map, central finite differences.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as math from 'mathjs';

/** Reads a 2-D tensor as float64 rows. */
export function toRows(t: tf.Tensor): number[][] {
  if (t.rank !== 2) throw new Error(`toRows expects a 2-D tensor, got rank ${t.rank}`);
  return t.arraySync() as number[][];
}

/**
 * Singular values of a real matrix, in float64, largest first: square roots of the eigenvalues
 * of the smaller Gram matrix (A^T A or A A^T), computed by mathjs.
 */
export function singularValues(a: number[][] | tf.Tensor): number[] {
  const rows = Array.isArray(a) ? a : toRows(a);
  const m = rows.length;
  const n = rows[0]?.length ?? 0;
  const gram = (n <= m
    ? math.multiply(math.transpose(rows), rows)
    : math.multiply(rows, math.transpose(rows))) as number[][];
  const { values } = math.eigs(gram, { eigenvectors: false }) as unknown as { values: number[] | math.Matrix };
  const list = Array.isArray(values) ? values : (values.toArray() as number[]);
  return list.map((v) => Math.sqrt(Math.max(0, v))).sort((x, y) => y - x);
}

/**
 * Full matrix of a linear map `f` (no bias) acting on inputs of `inputShape` (without batch):
 * column j is f(e_j) flattened. Returns rows = output size, cols = input size.
 */
export function impulseResponseMatrix(f: (x: tf.Tensor) => tf.Tensor, inputShape: number[]): number[][] {
  const size = inputShape.reduce((p, d) => p * d, 1);
  const columns = tf.tidy(() => {
    const basis = tf.reshape(tf.eye(size), [size, ...inputShape]);
    const out = f(basis);
    return tf.reshape(out, [size, -1]).arraySync() as number[][];
  });
  const outSize = columns[0]?.length ?? 0;
  const rows: number[][] = Array.from({ length: outSize }, () => new Array<number>(size).fill(0));
  columns.forEach((col, j) => col.forEach((v, i) => (rows[i]![j] = v)));
  return rows;
}

/** Central finite-difference gradient of a scalar function of a flat float64 vector. */
export function finiteDifferenceGradient(f: (x: number[]) => number, x: number[], h = 1e-3): number[] {
  return x.map((_, i) => {
    const plus = x.slice();
    const minus = x.slice();
    plus[i] = x[i]! + h;
    minus[i] = x[i]! - h;
    return (f(plus) - f(minus)) / (2 * h);
  });
}
