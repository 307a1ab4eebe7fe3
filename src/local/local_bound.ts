/**
 * The local Lipschitz bound of Local-Lip: for each sample x, an upper bound of the Lipschitz
 * constant (L2 to L2) of the model over the L2 ball of radius epsilon around x,
 *
 *     L(x) = prod_pieces ||D_out L D_in|| * prod_nonlinearities lipschitz,
 *
 * where each piece `L` is the linear map between two nonlinearities (an affine layer without its
 * bias, with the reshapes and average poolings around it), and `D_in`/`D_out` the 0/1 masks of the
 * units whose activation is not constant over the ball (from `intervalBounds`, see `masks.ts`).
 * Any generalized Jacobian of the model on the ball factors as `L_n J_{n-1} ... J_1 L_1` with
 * `J_k = post_k J_k pre_k`, so its norm is at most that product; a segment between two points of
 * the ball then gives `||f(u) - f(v)|| <= L(x) ||u - v||` (Clarke's mean value theorem).
 *
 * The norms are estimated by a batched matrix-free power iteration (`estimate`, what the
 * reference trains with; a lower estimate) and certified per sample (`bound`): the masked matrix of
 * a piece made of one affine layer (dense, or a convolution whose matrix has at most
 * `MAX_MATRIX_ENTRIES` entries) is certified in float64 (Cholesky, `certifiedSpectralNorm`, when
 * its smaller kept side is at most `MAX_CERTIFIED_SIZE`, else its Frobenius norm); every piece's
 * bound is capped by its layers' global bounds (`||D W D'|| <= ||W||`), which is all a piece with
 * pooling or several affine layers gets, and the product by the model's global bound (the product
 * of its layers' bounds, as `lip.lipschitzBound`). So the bound never exceeds the global one.
 *
 * References: Y. Huang, H. Zhang, Y. Shi, J. Z. Kolter, A. Anandkumar, "Training Certifiably
 * Robust Neural Networks with Efficient Local Lipschitz Bounds", NeurIPS 2021 (Local_bound.py,
 * `local_linear`).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { configError } from '../core/errors';
import { checkKnownKeys, checkPositiveFinite, checkPositiveInt, optionNames } from '../core/validation';
import { multiplyBounds } from '../core/builtin_rules';
import { layerLipschitzBound } from '../model/bound';
import { checkBatch, modelChain, type ChainLink } from './chain';
import { disposeBounds, intervalBounds, type LayerBounds } from './interval_bounds';
import { chainSteps, disposeSteps, type LinearStep, type Step } from './masks';
import { applyPiece, certifyMasked, exactPieceMatrix, maskOf, powerIterate, type MaskedPiece } from './masked_operator';
import { layerRule, type LayerRule } from './rules';

/** Default number of power-iteration steps per call. */
export const DEFAULT_LOCAL_ITERATIONS = 10;

/**
 * Power-iteration vectors kept between calls: one tensor per linear piece, of shape
 * [batch, ...piece input shape]. A call reads `vectors` when set and replaces them (disposing the
 * old ones); `disposeWarmStart` frees them. Keep one per fixed batch of samples.
 */
export interface LocalWarmStart {
  vectors?: tf.Tensor[];
}

/** Options of `lipschitzBound`. */
export interface LocalLipschitzOptions {
  /** Power-iteration steps per piece (a positive integer, default 10). */
  iterations?: number;
  /** Vectors of a previous call on the same samples, read and updated. */
  warmStart?: LocalWarmStart;
}

const OPTIONS = optionNames<LocalLipschitzOptions>({ iterations: true, warmStart: true });

/** One linear piece's per-sample norms. */
export interface LocalPieceBound {
  /** Names of the layers of the piece. */
  layers: string[];
  /** Certified upper bound of `||D_out L D_in||` per sample. */
  bound: Float64Array;
  /** Power-iteration estimate of it per sample (a lower estimate). */
  estimate: Float64Array;
}

/** The result of `lipschitzBound`, per sample. */
export interface LocalLipschitzBound {
  /** Certified upper bounds of the local Lipschitz constant, one per sample. */
  bound: Float64Array;
  /** The power-iteration estimate of the same product (not certified, below the product). */
  estimate: Float64Array;
  /** The pieces, in chain order. */
  pieces: LocalPieceBound[];
}

/** The pieces of a chain of steps (empty ones dropped) and the product of the nonlinear constants. */
export function splitPieces(steps: readonly Step[]): { pieces: MaskedPiece[]; factor: number } {
  const pieces: MaskedPiece[] = [];
  let factor = 1;
  let current: LinearStep[] = [];
  let inMask: tf.Tensor | null = null;
  const close = (outMask: tf.Tensor | null) => {
    if (current.length > 0) pieces.push({ steps: current, inputShape: current[0]!.inputShape, inMask, outMask });
    current = [];
  };
  for (const step of steps) {
    if (step.kind === 'linear') {
      current.push(step);
      continue;
    }
    close(step.pre);
    factor *= step.lipschitz;
    inMask = step.post;
  }
  close(null);
  return { pieces, factor };
}

/** Checks `warmStart` and returns its vectors when they fit the pieces (else null). */
function warmVectors(warmStart: unknown, pieces: readonly MaskedPiece[], batch: number): tf.Tensor[] | null {
  if (warmStart === undefined) return null;
  const expected = 'an object { vectors?: tf.Tensor[] } from a previous call on the same samples';
  if (typeof warmStart !== 'object' || warmStart === null || Array.isArray(warmStart)) configError('warmStart', expected, warmStart);
  const vectors = (warmStart as LocalWarmStart).vectors;
  if (vectors === undefined) return null;
  const fits = (v: unknown, i: number) => {
    const t = v as tf.Tensor | null;
    const shape = [batch, ...pieces[i]!.inputShape];
    return typeof t === 'object' && t !== null && t.isDisposed === false && Array.isArray(t.shape) && t.shape.join() === shape.join();
  };
  if (!Array.isArray(vectors) || vectors.length !== pieces.length || !vectors.every(fits)) {
    const shapes = pieces.map((p) => `[${[batch, ...p.inputShape].join(', ')}]`).join(', ');
    configError('warmStart.vectors', `one tensor per linear piece, of shapes ${shapes}`, vectors);
  }
  return vectors;
}

/** The per-sample output size of a piece. */
function outputSize(piece: MaskedPiece): number {
  return tf.tidy(() => applyPiece({ ...piece, inMask: null, outMask: null }, tf.zeros([1, ...piece.inputShape])).size);
}

/** Certified per-sample bound of one piece: the masked matrix when exact, capped by the global bounds. */
function certifyPiece(piece: MaskedPiece, batch: number): Float64Array {
  const global = piece.steps.reduce((p, s) => p * s.bound, 1);
  const result = new Float64Array(batch).fill(global);
  const matrix = exactPieceMatrix(piece, outputSize(piece));
  if (matrix === null) return result;
  const inValues = piece.inMask === null ? null : (piece.inMask.dataSync() as Float32Array);
  const outValues = piece.outMask === null ? null : (piece.outMask.dataSync() as Float32Array);
  for (let i = 0; i < batch; i++) {
    const local = certifyMasked(matrix, maskOf(outValues, i, matrix.rows), maskOf(inValues, i, matrix.cols));
    result[i] = Math.min(local, global);
  }
  return result;
}

/** Power iteration and certificate of every piece; returns the new vectors (owned by the caller). */
function boundPieces(pieces: readonly MaskedPiece[], batch: number, iterations: number, warm: tf.Tensor[] | null) {
  const vectors: tf.Tensor[] = [];
  const results: LocalPieceBound[] = [];
  try {
    pieces.forEach((piece, k) => {
      const u0 = warm?.[k] ?? tf.randomNormal([batch, ...piece.inputShape], 0, 1, 'float32', 1 + k);
      const { u, sigma } = powerIterate(piece, u0, iterations);
      if (warm === null) u0.dispose();
      vectors.push(u);
      const layers = piece.steps.map((s) => s.layer.name);
      results.push({ layers, bound: certifyPiece(piece, batch), estimate: sigma });
    });
  } catch (e) {
    tf.dispose(vectors);
    throw e;
  }
  return { vectors, results };
}

/**
 * Per-sample local Lipschitz bounds of `model` (a chain of layers `intervalBounds` supports) over
 * the L2 balls of radius `epsilon` around the samples of `x`; see the module comment. Throws
 * `LipschitzConfigError` for an unsupported layer (naming it), a model that is not a chain, an `x`
 * that does not fit the model input, an `epsilon` that is not a finite number > 0, an `iterations`
 * that is not a positive integer, or a `warmStart` whose vectors do not fit.
 */
export function lipschitzBound(model: tfl.LayersModel, x: tf.Tensor, epsilon: number, options: LocalLipschitzOptions = {}): LocalLipschitzBound {
  const what = 'lip.local.lipschitzBound';
  const links = modelChain(what, model);
  const input = checkBatch(model, x);
  checkPositiveFinite('epsilon', epsilon);
  checkKnownKeys('lipschitzBound', options, OPTIONS);
  const iterations = checkPositiveInt('iterations', options.iterations ?? DEFAULT_LOCAL_ITERATIONS);
  const rules = links.map((link) => layerRule(what, link.layer));
  const bounds = intervalBounds(model, input, epsilon);
  try {
    return chainLocalBound(links, rules, bounds, input.shape[0]!, iterations, options.warmStart);
  } finally {
    disposeBounds(bounds);
  }
}

/**
 * The local bound of the chain `links` (a prefix of a model's chain is one) from their rules and
 * interval bounds (aligned with `links`): certified per sample, with the power-iteration estimate
 * (`iterations` steps, 0 allowed: the estimate is then that of the start vectors).
 */
export function chainLocalBound(
  links: readonly ChainLink[],
  rules: readonly LayerRule[],
  bounds: readonly LayerBounds[],
  batch: number,
  iterations: number,
  warmStart?: LocalWarmStart,
): LocalLipschitzBound {
  const steps = chainSteps(links, rules, bounds);
  try {
    const { pieces, factor } = splitPieces(steps);
    const warm = warmVectors(warmStart, pieces, batch);
    const { vectors, results } = boundPieces(pieces, batch, iterations, warm);
    if (warmStart !== undefined) {
      tf.dispose(warm ?? []);
      warmStart.vectors = vectors;
    } else {
      tf.dispose(vectors);
    }
    const global = links.reduce((p, link) => multiplyBounds(p, layerLipschitzBound(link.layer, link.inputShape)), 1);
    return combine(results, factor, global, batch);
  } finally {
    disposeSteps(steps);
  }
}

/** The per-sample products, each certified bound capped by the model's global bound. */
function combine(pieces: LocalPieceBound[], factor: number, global: number, batch: number): LocalLipschitzBound {
  const bound = new Float64Array(batch);
  const estimate = new Float64Array(batch);
  for (let i = 0; i < batch; i++) {
    let b = factor;
    let e = factor;
    for (const p of pieces) {
      b *= p.bound[i]!;
      e *= p.estimate[i]!;
    }
    // A zero piece makes the Jacobian zero on the ball, whatever the other factors (Infinity too).
    bound[i] = pieces.some((p) => p.bound[i] === 0) ? 0 : Math.min(b, global);
    estimate[i] = e;
  }
  return { bound, estimate, pieces };
}

/** Disposes the vectors held by a warm start (it can be reused afterwards, cold). */
export function disposeWarmStart(warmStart: LocalWarmStart): void {
  tf.dispose(warmStart.vectors ?? []);
  delete warmStart.vectors;
}
