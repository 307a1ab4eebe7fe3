/**
 * The masked linear operators of the local Lipschitz bound, `A = D_out L D_in`, one per sample: `L`
 * is a linear piece of the chain (the affine maps without bias, reshapes and average poolings
 * between two nonlinearities), `D_in`/`D_out` the 0/1 masks of the nonlinearities around it
 * (`masks.ts`). Two tools on them:
 * - a batched power iteration (one vector per sample, all samples at once, matrix-free: `A` with
 *   the layers' own forward maps, `A^T` as the gradient of `<A u, v>` in `u`), a lower estimate of
 *   each sample's `||A||`;
 * - a certified upper bound of `||A||` per sample (`certifyPiece`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { certifiedSpectralNorm } from '../linalg/spectral_norm';
import { impulseMatrix, type ImpulseMatrix } from '../ops/impulse_matrix';
import { gramLines, gramNormBound } from './gram_bound';
import type { LinearStep } from './masks';

/** A linear piece between two nonlinearities, with its masks (null = all ones). */
export interface MaskedPiece {
  steps: LinearStep[];
  /** Per-sample input shape of the piece. */
  inputShape: number[];
  inMask: tf.Tensor | null;
  outMask: tf.Tensor | null;
}

/** Largest `min(kept rows, kept columns)` certified by a Cholesky factorization (O(k^3) per sample). */
export const MAX_CERTIFIED_SIZE = 128;
/** Largest matrix (rows x columns) read from impulse responses to certify a piece. */
export const MAX_MATRIX_ENTRIES = 1 << 24;
/** Basis vectors pushed through a piece at once when reading its matrix. */
const IMPULSE_CHUNK = 256;
const TINY = 1e-30;

/** `D_out L (D_in u)` on a batch. */
export function applyPiece(piece: MaskedPiece, u: tf.Tensor): tf.Tensor {
  let y = piece.inMask === null ? u : tf.mul(u, piece.inMask);
  for (const step of piece.steps) y = step.apply(y);
  return piece.outMask === null ? y : tf.mul(y, piece.outMask);
}

/** The L2 norm of each sample of a batch, shape [batch]. */
export function sampleNorms(t: tf.Tensor): tf.Tensor1D {
  return tf.sqrt(tf.sum(tf.square(tf.reshape(t, [t.shape[0]!, -1])), 1)) as tf.Tensor1D;
}

/** `t` with each sample multiplied by `s[i]`. */
function scaleSamples(t: tf.Tensor, s: tf.Tensor1D): tf.Tensor {
  return tf.mul(t, tf.reshape(s, [t.shape[0]!, ...t.shape.slice(1).map(() => 1)]));
}

/** `u / ||u||` per sample, and `fallback` for the samples where `u` is zero. */
function normalizeOr(u: tf.Tensor, fallback: tf.Tensor): tf.Tensor {
  const n = sampleNorms(u);
  const zero = tf.cast(tf.lessEqual(n, 0), 'float32') as tf.Tensor1D;
  return tf.add(scaleSamples(u, tf.div(1, tf.add(n, TINY)) as tf.Tensor1D), scaleSamples(fallback, zero));
}

/**
 * `iterations` steps of power iteration on every sample's `A^T A` from `u0`: the new unit vectors
 * (a tensor the caller owns; `u0` normalized when `iterations` is 0).
 */
export function powerVectors(piece: MaskedPiece, u0: tf.Tensor, iterations: number): tf.Tensor {
  let u = tf.tidy(() => normalizeOr(u0, u0));
  for (let it = 0; it < iterations; it++) {
    const next = tf.tidy(() => {
      const w = applyPiece(piece, u);
      const v = scaleSamples(w, tf.div(1, tf.add(sampleNorms(w), TINY)) as tf.Tensor1D);
      const adjoint = tf.grad((z: tf.Tensor) => tf.sum(tf.mul(applyPiece(piece, z), v)))(u);
      return normalizeOr(adjoint, u);
    });
    u.dispose();
    u = next;
  }
  return u;
}

/**
 * `iterations` steps of power iteration on every sample's `A^T A` from `u0` (one vector per sample,
 * [batch, ...inputShape]); returns the new unit vectors (a tensor the caller owns) and the
 * per-sample estimates `||A u||`, each at most `||A||` up to float32 rounding.
 */
export function powerIterate(piece: MaskedPiece, u0: tf.Tensor, iterations: number): { u: tf.Tensor; sigma: Float64Array } {
  const u = powerVectors(piece, u0, iterations);
  const sigma = tf.tidy(() => sampleNorms(applyPiece(piece, u)));
  const values = Float64Array.from(sigma.dataSync());
  sigma.dispose();
  return { u, sigma: values };
}

/** A piece's matrix, row-major [rows = outputs, cols = inputs], in float64. */
export type PieceMatrix = ImpulseMatrix;

/** True when `piece` holds exactly one affine layer and otherwise only reshapes (no pooling). */
function isSingleAffine(piece: MaskedPiece): boolean {
  const affine = piece.steps.filter((s) => s.affine).length;
  return affine === 1 && piece.steps.every((s) => s.affine || ['Flatten', 'Reshape', 'Activation'].includes(s.layer.getClassName()));
}

/**
 * The matrix of an unmasked piece that holds exactly one affine layer and otherwise only
 * reshapes, read from impulse responses (column j is `L e_j`): exact in float32, each output of a
 * basis vector being one kernel entry times 1 plus zeros. Null for other pieces, and when the
 * matrix would exceed `MAX_MATRIX_ENTRIES`.
 */
export function exactPieceMatrix(piece: MaskedPiece, outputSize: number): PieceMatrix | null {
  const n = piece.inputShape.reduce((p, d) => p * d, 1);
  if (!isSingleAffine(piece) || n * outputSize > MAX_MATRIX_ENTRIES) return null;
  return impulseMatrix((basis) => piece.steps.reduce((y, step) => step.apply(y), basis), piece.inputShape, IMPULSE_CHUNK);
}

/** Indices where `mask` (a sample's flat values, or null for all ones) is nonzero. */
function kept(mask: ArrayLike<number> | null, size: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < size; i++) if (mask === null || mask[i] !== 0) out.push(i);
  return out;
}

/**
 * Certified upper bound of `||D_out M D_in||` for one sample: the kept rows and columns of `M`
 * (row-major `rows x cols`), then the float64 Cholesky certificate (`certifiedSpectralNorm`) when
 * the smaller side is at most `MAX_CERTIFIED_SIZE`, else the smaller of the Frobenius norm of that
 * submatrix and its sparse Gram bound (`gram_bound.ts`, for convolutions).
 */
export function certifyMasked(
  { values: matrix, rows, cols }: PieceMatrix,
  outMask: ArrayLike<number> | null,
  inMask: ArrayLike<number> | null,
): number {
  const r = kept(outMask, rows);
  const c = kept(inMask, cols);
  if (Math.min(r.length, c.length) > MAX_CERTIFIED_SIZE) {
    let frobenius = 0;
    for (const o of r) {
      for (const j of c) frobenius += matrix[o * cols + j]! * matrix[o * cols + j]!;
    }
    // Rounded up: a float64 sum of squares, with a relative margin for its rounding.
    const { lines, side } = gramLines(matrix, cols, r, c);
    return Math.min(Math.sqrt(frobenius) * (1 + 4 * (r.length * c.length + 2) * Number.EPSILON), gramNormBound(lines, side));
  }
  const sub = new Float64Array(r.length * c.length);
  r.forEach((o, i) => c.forEach((j, k) => (sub[i * c.length + k] = matrix[o * cols + j]!)));
  return certifiedSpectralNorm(sub, r.length, c.length);
}

/** Flat values of sample `i` of a batched mask, or null. */
export function maskOf(values: Float32Array | null, i: number, size: number): Float32Array | null {
  return values === null ? null : values.subarray(i * size, (i + 1) * size);
}
