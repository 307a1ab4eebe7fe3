/**
 * A certified upper bound of the spectral norm of a dense matrix, computed in float64: a power
 * iteration estimates the top eigenvalue rho of the Gram matrix G, then a Cholesky factorization
 * of c I - G (c slightly above rho) proves that every eigenvalue of G is below c.
 */

/** Largest Gram size for which the Cholesky certificate is attempted (O(k^3 / 3) flops). */
const MAX_CERTIFIED_SIZE = 2048;
/** Relative margins tried above the power-iteration estimate, smallest first. */
const MARGINS = [1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1];

/** True when the symmetric k x k matrix `a` (row-major, overwritten) is positive definite. */
function choleskySucceeds(a: Float64Array, k: number): boolean {
  for (let j = 0; j < k; j++) {
    let diag = a[j * k + j]!;
    for (let p = 0; p < j; p++) diag -= a[j * k + p]! * a[j * k + p]!;
    if (!(diag > 0)) return false;
    const root = Math.sqrt(diag);
    a[j * k + j] = root;
    for (let i = j + 1; i < k; i++) {
      let s = a[i * k + j]!;
      for (let p = 0; p < j; p++) s -= a[i * k + p]! * a[j * k + p]!;
      a[i * k + j] = s / root;
    }
  }
  return true;
}

/** Gram matrix of the smaller side of a row-major `rows x cols` matrix, in float64. */
function smallGram(values: ArrayLike<number>, rows: number, cols: number): { gram: Float64Array; k: number } {
  const k = Math.min(rows, cols);
  const gram = new Float64Array(k * k);
  if (cols <= rows) {
    // W^T W (cols x cols)
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      for (let i = 0; i < cols; i++) {
        const a = values[base + i]!;
        if (a === 0) continue;
        for (let j = i; j < cols; j++) gram[i * k + j] = gram[i * k + j]! + a * values[base + j]!;
      }
    }
  } else {
    // W W^T (rows x rows)
    for (let i = 0; i < rows; i++) {
      for (let j = i; j < rows; j++) {
        let s = 0;
        for (let c = 0; c < cols; c++) s += values[i * cols + c]! * values[j * cols + c]!;
        gram[i * k + j] = s;
      }
    }
  }
  for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) gram[i * k + j] = gram[j * k + i]!;
  return { gram, k };
}

/**
 * Certified upper bound of the largest singular value of the row-major `rows x cols` matrix
 * `values` (float64 arithmetic): a bound proven by a Cholesky factorization, within about 1e-9
 * (relative) of the smallest one the factorization can prove, plus the float64 rounding margin.
 * Falls back to the Frobenius norm (always an upper bound) for Gram matrices above 2048 x 2048.
 */
export function certifiedSpectralNorm(values: ArrayLike<number>, rows: number, cols: number): number {
  if (rows === 0 || cols === 0) return 0;
  for (let i = 0; i < rows * cols; i++) {
    if (!Number.isFinite(values[i]!)) return Infinity;
  }
  const { gram, k } = smallGram(values, rows, cols);
  let trace = 0;
  for (let i = 0; i < k; i++) trace += gram[i * k + i]!;
  if (trace === 0) return 0;
  if (k > MAX_CERTIFIED_SIZE) return Math.sqrt(trace);

  // Power iteration on G from a deterministic start with no special structure.
  let v = new Float64Array(k);
  for (let i = 0; i < k; i++) v[i] = 1 + 0.5 * Math.sin(1 + 7.3 * i);
  let rho = 0;
  for (let it = 0; it < 500; it++) {
    let norm = 0;
    for (let i = 0; i < k; i++) norm += v[i]! * v[i]!;
    norm = Math.sqrt(norm);
    for (let i = 0; i < k; i++) v[i] = v[i]! / norm;
    const w = new Float64Array(k);
    for (let i = 0; i < k; i++) {
      let s = 0;
      for (let j = 0; j < k; j++) s += gram[i * k + j]! * v[j]!;
      w[i] = s;
    }
    let next = 0;
    for (let i = 0; i < k; i++) next += v[i]! * w[i]!;
    const converged = Math.abs(next - rho) <= 1e-13 * next;
    rho = next;
    v = w;
    if (converged) break;
  }

  return Math.min(Math.sqrt(certifiedTopEigenvalue(gram, k, rho, trace)), Math.sqrt(trace));
}

/**
 * Smallest c (to a relative 1e-9) for which a Cholesky factorization proves `c I - G` positive
 * definite, searched above the power-iteration estimate `rho` (a lower bound of the top
 * eigenvalue): margins `MARGINS` up, then bisection between the last failure and the first
 * success, so that two matrices with the same spectrum get the same bound whatever the
 * iteration's luck (clustered top singular values converge slowly). Returns the proven bound
 * `c + rounding` (`rounding` covers the float64 error of the factorization), or `trace`.
 */
function certifiedTopEigenvalue(gram: Float64Array, k: number, rho: number, trace: number): number {
  const rounding = 8 * k * Number.EPSILON * trace;
  const shifted = new Float64Array(k * k);
  const proves = (c: number): boolean => {
    for (let i = 0; i < k * k; i++) shifted[i] = -gram[i]!;
    for (let i = 0; i < k; i++) shifted[i * k + i] = c - gram[i * k + i]!;
    return choleskySucceeds(shifted, k);
  };
  let low = rho;
  let found: number | undefined;
  for (const margin of MARGINS) {
    const c = rho * (1 + margin);
    if (proves(c)) {
      found = c;
      break;
    }
    low = c;
  }
  if (found === undefined) return trace;
  let high: number = found;
  for (let step = 0; step < 40 && high - low > 1e-9 * high; step++) {
    const middle = (low + high) / 2;
    if (proves(middle)) high = middle;
    else low = middle;
  }
  return high + rounding;
}
