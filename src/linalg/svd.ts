/**
 * Float64 linear algebra for the evaluation tools: singular values of a small matrix through the
 * eigenvalues of its smaller Gram matrix (cyclic Jacobi rotations, float64), and the top singular
 * pair of a short wide matrix by power iteration.
 *
 * (mathjs `eigs` gives the same values but takes seconds on the highly degenerate Gram matrices
 * of convolutions; the tests use it as the independent oracle.)
 */

/** Smallest and largest singular values (`null` when unknown). */
export interface SingularValueRange {
  min: number | null;
  max: number | null;
}

/** J J^T of a matrix given as m rows of n values. */
function rowGram(rows: ArrayLike<number>[], nCols: number): Float64Array[] {
  const m = rows.length;
  const g = Array.from({ length: m }, () => new Float64Array(m));
  for (let i = 0; i < m; i++) {
    const a = rows[i] as ArrayLike<number>;
    for (let j = i; j < m; j++) {
      const b = rows[j] as ArrayLike<number>;
      let s = 0;
      for (let k = 0; k < nCols; k++) s += (a[k] as number) * (b[k] as number);
      (g[i] as Float64Array)[j] = s;
      (g[j] as Float64Array)[i] = s;
    }
  }
  return g;
}

/** Product A^T A (cols <= rows) or A A^T (rows < cols) of a row-major float64 matrix. */
function smallerGram(rows: ArrayLike<number>[], nCols: number): ArrayLike<number>[] {
  const nRows = rows.length;
  if (nCols <= nRows) {
    const g: number[][] = Array.from({ length: nCols }, () => new Array<number>(nCols).fill(0));
    for (const row of rows) {
      for (let i = 0; i < nCols; i++) {
        const ri = row[i] as number;
        if (ri === 0) continue;
        const gi = g[i] as number[];
        for (let j = i; j < nCols; j++) gi[j] = (gi[j] as number) + ri * (row[j] as number);
      }
    }
    for (let i = 0; i < nCols; i++) for (let j = 0; j < i; j++) (g[i] as number[])[j] = (g[j] as number[])[i] as number;
    return g;
  }
  return rowGram(rows, nCols);
}

/**
 * All singular values of a real matrix given as rows (float64), largest first: square roots of
 * the eigenvalues of the smaller Gram matrix. Cost grows as min(rows, cols)^3: keep that side
 * below a few hundred.
 */
export function singularValuesOf(rows: ArrayLike<number>[], nCols?: number): number[] {
  const cols = nCols ?? rows[0]?.length ?? 0;
  if (rows.length === 0 || cols === 0) return [];
  const gram = smallerGram(rows, cols);
  return symmetricEigenvalues(gram)
    .map((v) => Math.sqrt(Math.max(0, v)))
    .sort((a, b) => b - a);
}

/**
 * Eigenvalues of a real symmetric matrix (float64) by cyclic Jacobi rotations, each zeroing one
 * off-diagonal pair (Golub & Van Loan, Matrix Computations, 8.5). The input is not modified.
 */
export function symmetricEigenvalues(matrix: ArrayLike<number>[]): number[] {
  const n = matrix.length;
  const flat = new Float64Array(n * n);
  matrix.forEach((row, i) => flat.set(Array.from(row as ArrayLike<number>).slice(0, n), i * n));
  return Array.from(symmetricEigen(flat, n, false).values);
}

/** Eigenvalues and (optionally) eigenvectors of a symmetric matrix. */
export interface SymmetricEigen {
  /** The eigenvalues, in the order of the Jacobi sweeps (not sorted). */
  values: Float64Array;
  /** Row-major `n x n`: column `i` is the unit eigenvector of `values[i]` (empty without vectors). */
  vectors: Float64Array;
}

/**
 * Eigen-decomposition of the symmetric row-major `n x n` matrix `a` (float64, not modified) by
 * cyclic Jacobi rotations until the off-diagonal mass is below 1e-30 of the total; with
 * `withVectors`, the rotations are accumulated into the eigenvectors.
 */
export function symmetricEigen(a: ArrayLike<number>, n: number, withVectors = true): SymmetricEigen {
  const m = Float64Array.from(a);
  const v = withVectors ? new Float64Array(n * n) : new Float64Array(0);
  for (let i = 0; i < n && withVectors; i++) v[i * n + i] = 1;
  let total = 0;
  for (let i = 0; i < n * n; i++) total += m[i]! * m[i]!;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q]! * m[p * n + q]!;
    if (off <= 1e-30 * total || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) jacobiRotation(m, v, n, p, q);
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = m[i * n + i]!;
  return { values, vectors: v };
}

/** One Jacobi rotation zeroing `m[p][q]` (and `m[q][p]`), applied to the columns of `v` too. */
function jacobiRotation(m: Float64Array, v: Float64Array, n: number, p: number, q: number): void {
  const apq = m[p * n + q]!;
  if (apq === 0) return;
  const theta = (m[q * n + q]! - m[p * n + p]!) / (2 * apq);
  const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
  const c = 1 / Math.sqrt(t * t + 1);
  const s = t * c;
  m[p * n + p] = m[p * n + p]! - t * apq;
  m[q * n + q] = m[q * n + q]! + t * apq;
  m[p * n + q] = 0;
  m[q * n + p] = 0;
  for (let r = 0; r < n; r++) {
    if (r === p || r === q) continue;
    const arp = m[r * n + p]!;
    const arq = m[r * n + q]!;
    const np = c * arp - s * arq;
    const nq = s * arp + c * arq;
    m[r * n + p] = np;
    m[r * n + q] = nq;
    m[p * n + r] = np;
    m[q * n + r] = nq;
  }
  if (v.length === 0) return;
  for (let r = 0; r < n; r++) {
    const vrp = v[r * n + p]!;
    const vrq = v[r * n + q]!;
    v[r * n + p] = c * vrp - s * vrq;
    v[r * n + q] = s * vrp + c * vrq;
  }
}

/** Smallest and largest singular values of a row-major float64 matrix. */
export function singularValueRange(rows: ArrayLike<number>[], nCols?: number): SingularValueRange {
  const sv = singularValuesOf(rows, nCols);
  if (sv.length === 0) return { min: null, max: null };
  return { min: sv[sv.length - 1] as number, max: sv[0] as number };
}

/** Splits a flat row-major buffer into `nRows` rows of `nCols` values (views, no copy). */
export function rowsOf(flat: Float32Array | Float64Array, nRows: number, nCols: number): Float64Array[] {
  const out: Float64Array[] = [];
  for (let i = 0; i < nRows; i++) out.push(Float64Array.from(flat.subarray(i * nCols, (i + 1) * nCols)));
  return out;
}

/**
 * Largest singular value of a matrix J (m x n, m small) and its left singular vector, by power
 * iteration on the m x m Gram J J^T in float64.
 */
export function topLeftSingularPair(
  rows: ArrayLike<number>[],
  nCols: number,
  iterations = 200,
): { sigma: number; vector: Float64Array } {
  const m = rows.length;
  const gram = rowGram(rows, nCols);
  let v = new Float64Array(m).fill(1 / Math.sqrt(Math.max(1, m)));
  let lambda = 0;
  for (let it = 0; it < iterations; it++) {
    const w = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      const gi = gram[i] as Float64Array;
      let s = 0;
      for (let j = 0; j < m; j++) s += (gi[j] as number) * (v[j] as number);
      w[i] = s;
    }
    let norm = 0;
    for (let i = 0; i < m; i++) norm += (w[i] as number) ** 2;
    norm = Math.sqrt(norm);
    if (norm === 0) break;
    for (let i = 0; i < m; i++) w[i] = (w[i] as number) / norm;
    // Rayleigh quotient of the new unit vector.
    let rq = 0;
    for (let i = 0; i < m; i++) {
      const gi = gram[i] as Float64Array;
      let s = 0;
      for (let j = 0; j < m; j++) s += (gi[j] as number) * (w[j] as number);
      rq += (w[i] as number) * s;
    }
    v = w;
    if (Math.abs(rq - lambda) <= 1e-15 * Math.max(1, rq)) {
      lambda = rq;
      break;
    }
    lambda = rq;
  }
  return { sigma: Math.sqrt(Math.max(0, lambda)), vector: v };
}
