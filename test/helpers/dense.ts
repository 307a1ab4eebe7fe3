/** Float64 helpers for the dense/normalizer tests (plain JS arrays, mathjs products). */
import * as math from 'mathjs';
import { mulberry32 } from './random';

/** Deterministic pseudo-random matrix (mulberry32 + Box-Muller), entries ~ N(0, scale^2). */
export function randomMatrix(rows: number, cols: number, seed: number, scale = 1): number[][] {
  const next = mulberry32(seed);
  return Array.from({ length: rows }, () =>
    Array.from({ length: cols }, () => {
      const u1 = Math.max(next(), 1e-12);
      const u2 = next();
      return scale * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }),
  );
}

export function transpose(a: number[][]): number[][] {
  return math.transpose(a) as number[][];
}

export function matmul(a: number[][], b: number[][]): number[][] {
  return math.multiply(a, b) as number[][];
}

/** Orthogonal polar factor of `a` in float64, by Björck iterations run to convergence. */
export function polarFactor(a: number[][], iterations = 60): number[][] {
  const fro = Math.sqrt(a.flat().reduce((s, x) => s + x * x, 0));
  let w = a.map((row) => row.map((x) => x / fro));
  const tall = a.length >= (a[0]?.length ?? 0);
  for (let i = 0; i < iterations; i++) {
    const prod = tall ? matmul(w, matmul(transpose(w), w)) : matmul(matmul(w, transpose(w)), w);
    w = w.map((row, r) => row.map((x, c) => 1.5 * x - 0.5 * prod[r]![c]!));
  }
  return w;
}

/** Sum of elementwise products. */
export function dot(a: number[][], b: number[][]): number {
  let s = 0;
  a.forEach((row, r) => row.forEach((x, c) => (s += x * b[r]![c]!)));
  return s;
}

/** Flattens a matrix row-major. */
export function flat(a: number[][]): number[] {
  return a.flat();
}

/** Rebuilds a rows x cols matrix from a flat row-major vector. */
export function unflat(x: number[], rows: number, cols: number): number[][] {
  return Array.from({ length: rows }, (_, r) => x.slice(r * cols, (r + 1) * cols));
}

/**
 * Rigorous float64 bound on `max_i |s_i - k|` over the singular values of `a`:
 * `|s_i^2 - k^2| <= ||G - k^2 I||_2 <= ||G - k^2 I||_F` with `G` the smaller Gram matrix, and
 * `|s_i - k| = |s_i^2 - k^2| / (s_i + k) <= ||G - k^2 I||_F / k`. Fast where an eigen
 * decomposition of a nearly degenerate Gram matrix (all singular values equal) is slow.
 */
export function singularValueDeviationBound(a: number[][], k: number): number {
  const m = a.length;
  const n = a[0]?.length ?? 0;
  const rows = n <= m ? transposeLoop(a) : a; // rows of the factor whose Gram we form
  const size = rows.length;
  let sum = 0;
  for (let i = 0; i < size; i++) {
    const ri = rows[i]!;
    for (let j = i; j < size; j++) {
      const rj = rows[j]!;
      let g = 0;
      for (let t = 0; t < ri.length; t++) g += ri[t]! * rj[t]!;
      const d = i === j ? g - k * k : g;
      sum += i === j ? d * d : 2 * d * d;
    }
  }
  return Math.sqrt(sum) / k;
}

function transposeLoop(a: number[][]): number[][] {
  const m = a.length;
  const n = a[0]?.length ?? 0;
  return Array.from({ length: n }, (_, j) => Array.from({ length: m }, (_, i) => a[i]![j]!));
}
