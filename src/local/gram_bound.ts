/**
 * A certified upper bound of the spectral norm of a large sparse matrix A (a masked convolution,
 * whose Cholesky certificate would cost O(k^3) per sample), from its Gram matrix G = sum_l v_l v_l^T
 * over the lines v_l of A (its rows for G = A^T A, its columns for A A^T), built sparsely in
 * float64 (cost sum_l nnz(v_l)^2):
 *
 *     ||A||^2 = lambda_max(G) <= rho(|G|) <= rho(M) <= max_i (M w)_i / w_i   for any w > 0,
 *
 * with M = |G| + gamma |A|^T |A| an entrywise upper bound of the exact |G| (gamma covers the float64
 * rounding of each sum), the Perron-Frobenius monotonicity of rho on nonnegative matrices, and the
 * Collatz-Wielandt bound; w is a few power-iteration steps on M, which brings the bound to rho(M).
 * The sign cancellations of G are kept (unlike a bound from |A|), so it is close to ||A|| for a
 * convolution whose Gram rows have one dominant sign pattern, and never above the Frobenius norm
 * by more than the rounding margin when G is diagonal.
 */

/** One line of A: the indices (into the Gram side) and values of its nonzero entries. */
export interface SparseLine {
  index: number[];
  value: number[];
}

/** Largest Gram side formed (two dense d x d float64 arrays). */
export const MAX_GRAM_SIDE = 1024;
/** Largest sum of nnz^2 over the lines (the work of forming G). */
export const MAX_GRAM_WORK = 5e7;
const ITERATIONS = 30;

/** The lines of the kept submatrix of row-major `matrix` (`cols` wide) on the smaller side. */
export function gramLines(matrix: Float64Array, cols: number, r: readonly number[], c: readonly number[]): { lines: SparseLine[]; side: number } {
  const lines: SparseLine[] = [];
  const byRows = c.length <= r.length;
  const outer = byRows ? r : c;
  const inner = byRows ? c : r;
  for (const a of outer) {
    const line: SparseLine = { index: [], value: [] };
    inner.forEach((b, k) => {
      const v = byRows ? matrix[a * cols + b]! : matrix[b * cols + a]!;
      if (v !== 0) {
        line.index.push(k);
        line.value.push(v);
      }
    });
    if (line.index.length > 0) lines.push(line);
  }
  return { lines, side: inner.length };
}

/** `M = |G| + gamma H` (row-major d x d), or null above the size limits. */
function majorant(lines: readonly SparseLine[], d: number): Float64Array | null {
  const work = lines.reduce((s, l) => s + l.index.length * l.index.length, 0);
  if (d > MAX_GRAM_SIDE || work > MAX_GRAM_WORK) return null;
  const g = new Float64Array(d * d);
  const h = new Float64Array(d * d);
  for (const { index, value } of lines) {
    for (let p = 0; p < index.length; p++) {
      const row = index[p]! * d;
      const vp = value[p]!;
      for (let q = 0; q < index.length; q++) {
        const t = vp * value[q]!;
        const at = row + index[q]!;
        g[at] = g[at]! + t;
        h[at] = h[at]! + Math.abs(t);
      }
    }
  }
  // Each entry sums at most lines.length products, each exact (float32 inputs in float64).
  const gamma = (lines.length + 2) * Number.EPSILON;
  for (let i = 0; i < d * d; i++) g[i] = Math.abs(g[i]!) + gamma * h[i]!;
  return g;
}

/** `M w` for the row-major d x d `m`. */
function multiply(m: Float64Array, w: Float64Array, d: number): Float64Array {
  const y = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += m[i * d + j]! * w[j]!;
    y[i] = s;
  }
  return y;
}

/**
 * Certified upper bound of the spectral norm of the matrix whose lines are `lines` (Gram side
 * `d`), or Infinity when G is above `MAX_GRAM_SIDE` / `MAX_GRAM_WORK`; see the module comment.
 */
export function gramNormBound(lines: readonly SparseLine[], d: number): number {
  if (lines.length === 0 || d === 0) return 0;
  const m = majorant(lines, d);
  if (m === null) return Infinity;
  let w = new Float64Array(d).fill(1);
  for (let it = 0; it < ITERATIONS; it++) {
    const y = multiply(m, w, d);
    const top = y.reduce((a, b) => Math.max(a, b), 0);
    if (!(top > 0)) return 0;
    // Any w > 0 gives a valid bound; the floor keeps every entry positive.
    w = y.map((v) => v / top + 1e-9);
  }
  const y = multiply(m, w, d);
  let ratio = 0;
  for (let i = 0; i < d; i++) ratio = Math.max(ratio, y[i]! / w[i]!);
  // Rounding of the sums of nonnegative terms and of the division, then of the square root.
  return Math.sqrt(ratio * (1 + (d + 4) * Number.EPSILON)) * (1 + Number.EPSILON);
}
