/**
 * Pairs of distributions whose Wasserstein-1 distance and optimal dual potential are known in
 * closed form (LNets' `MultiSphericalShell` experiments): `p1` puts mass `1/k` on each of `k`
 * centers, `p2` spreads mass `1/k` uniformly over the sphere of radius `r` around each center.
 *
 * When every two centers are at least `2r` apart, `W1(p1, p2) = r` and `f*(x) = -min_i |x - c_i|`
 * attains it (derivation in docs/wasserstein.md): sending each sphere onto its own center costs
 * exactly `r`, so `W1 <= r`; `f*` is 1-Lipschitz, is 0 on the centers and `-r` on every sphere (no
 * other center is closer than `|c_i - c_j| - r >= r`), so `E_p1 f* - E_p2 f* = r <= W1`.
 *
 * References: C. Anil, J. Lucas, R. Grosse, "Sorting out Lipschitz function approximation",
 * ICML 2019 (https://arxiv.org/abs/1811.05381), section 6.1 and github.com/cemanil/LNets.
 */
import * as tf from '@tensorflow/tfjs-core';
import { configError } from '../../core/errors';
import { checkKnownKeys, checkPositiveFinite, checkPositiveInt, optionNames } from '../../core/validation';
import { index, mixSeed, normal, uniformGenerator, type Uniform } from './random';

/** Samples of the two distributions, each `[n, dim]` float32 (the caller disposes them). */
export interface WassersteinSample {
  p1: tf.Tensor2D;
  p2: tf.Tensor2D;
}

/** Two distributions with their exact Wasserstein-1 distance and an optimal dual potential. */
export interface WassersteinPair {
  /** The factory that made the pair (`'absoluteValue'`, `'threeCones'`, ...). */
  readonly name: string;
  /** Dimension of the samples. */
  readonly dim: number;
  /** Radius `r` of the spheres of `p2`. */
  readonly radius: number;
  /** The `k` centers, each of length `dim` (copies; editing them changes nothing). */
  readonly centers: readonly (readonly number[])[];
  /** The exact distance `W1(p1, p2) = r`. */
  readonly w1: number;
  /**
   * `n` samples of `p1` and `n` of `p2`; the same `(n, seed)` gives the same samples. Row `i` of
   * both comes from the same center (a coupling: each distribution is unchanged, and the center
   * proportions, equal in both, add no noise to `mean f(p1) - mean f(p2)`).
   */
  sample(n: number, seed: number): WassersteinSample;
  /** `f*(x) = -min_i |x - c_i|` for `x` of shape `[m, dim]`, as `[m, 1]`: `E_p1 f* - E_p2 f* = W1`. */
  dualSurface(x: tf.Tensor): tf.Tensor2D;
}

/** Options of {@link multiSphericalShells}. */
export interface MultiSphericalShellsOptions {
  /** Dimension `d` of the space (a positive integer). */
  dim: number;
  /** Radius `r` of the spheres of `p2` (> 0; default 1). */
  radius?: number;
  /** The centers, each a list of `dim` finite numbers, pairwise at least `2r` apart (default: the origin). */
  centers?: number[][];
}

/** Options of {@link absoluteValue}. */
export interface AbsoluteValueOptions {
  /** `p2` is `±radius` with probability 1/2 each (> 0; default 1). */
  radius?: number;
}

/** Options of {@link threeCones}. */
export interface ThreeConesOptions {
  /** Radius of the three circles of `p2` (> 0; default 1). */
  radius?: number;
  /** The centers are `(-spacing, 0)`, `(0, 0)`, `(spacing, 0)` (>= 2 radius; default 2 radius, LNets' 2). */
  spacing?: number;
}

/** Options of {@link highDimensionalCone}. */
export interface HighDimensionalConeOptions {
  /** Dimension `d` (a positive integer; default 128, LNets' experiment). */
  dim?: number;
  /** Radius of the sphere of `p2` (> 0; default 1). */
  radius?: number;
}

const SHELLS_OPTIONS = optionNames<MultiSphericalShellsOptions>({ dim: true, radius: true, centers: true });
const ABSOLUTE_VALUE_OPTIONS = optionNames<AbsoluteValueOptions>({ radius: true });
const THREE_CONES_OPTIONS = optionNames<ThreeConesOptions>({ radius: true, spacing: true });
const CONE_OPTIONS = optionNames<HighDimensionalConeOptions>({ dim: true, radius: true });

/** A seed: an integer in [0, 2^32). */
export function checkSeed(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value >= 2 ** 32) {
    configError(name, 'an integer in [0, 2^32)', value);
  }
  return value;
}

/** The centers: `k >= 1` lists of `dim` finite numbers, pairwise at least `2 radius` apart. */
function checkCenters(value: unknown, dim: number, radius: number): number[][] {
  const isPoint = (c: unknown): boolean =>
    Array.isArray(c) && c.length === dim && c.every((v) => typeof v === 'number' && Number.isFinite(v));
  if (!Array.isArray(value) || value.length === 0 || !value.every(isPoint)) {
    configError('centers', `a non-empty list of points of ${dim} finite numbers`, value);
  }
  const centers = (value as number[][]).map((c) => [...c]);
  for (let i = 0; i < centers.length; i++) {
    for (let j = i + 1; j < centers.length; j++) {
      const gap = Math.hypot(...centers[i]!.map((v, t) => v - centers[j]![t]!));
      if (gap < 2 * radius) {
        configError('centers', `points at least 2 * radius = ${2 * radius} apart (centers ${i} and ${j} are ${gap} apart)`, value);
      }
    }
  }
  return centers;
}

/** Fills `out[row]` with `center + radius * u`, `u` uniform on the unit sphere (a normalized Gaussian). */
function writeShellPoint(out: Float32Array, row: number, center: readonly number[], radius: number, uniform: Uniform): void {
  const dim = center.length;
  const g = new Float64Array(dim);
  let squares = 0;
  while (squares === 0) {
    for (let t = 0; t < dim; t++) g[t] = normal(uniform);
    squares = g.reduce((sum, v) => sum + v * v, 0);
  }
  const norm = Math.sqrt(squares);
  for (let t = 0; t < dim; t++) out[row * dim + t] = center[t]! + (radius * g[t]!) / norm;
}

/** `n` center indices drawn uniformly. */
function drawCenters(k: number, n: number, seed: number): Int32Array {
  const uniform = uniformGenerator(seed);
  return Int32Array.from({ length: n }, () => index(uniform, k));
}

/** The points `centers[rows[i]]` (`radius` 0: `p1`) or uniform on the spheres around them (`p2`). */
function sampleMixture(centers: readonly (readonly number[])[], radius: number, rows: Int32Array, seed: number): tf.Tensor2D {
  const dim = centers[0]!.length;
  const uniform = uniformGenerator(seed);
  const out = new Float32Array(rows.length * dim);
  rows.forEach((c, row) => {
    if (radius === 0) out.set(centers[c]!, row * dim);
    else writeShellPoint(out, row, centers[c]!, radius, uniform);
  });
  return tf.tensor2d(out, [rows.length, dim]);
}

/** `-min_i |x - c_i|` row by row, `[m, 1]`. */
function negativeDistanceToCenters(x: tf.Tensor, centers: readonly (readonly number[])[], dim: number): tf.Tensor2D {
  if (!(x instanceof tf.Tensor) || x.rank !== 2 || x.shape[1] !== dim) {
    configError('x', `a tensor of shape [m, ${dim}]`, x);
  }
  return tf.tidy(() => {
    const xf = tf.cast(x, 'float32');
    const distances = centers.map((c) => tf.norm(tf.sub(xf, tf.tensor2d([c as number[]], [1, dim])), 'euclidean', 1, true));
    const nearest = distances.length === 1 ? distances[0]! : tf.min(tf.concat(distances, 1), 1, true);
    return tf.neg(nearest) as tf.Tensor2D;
  });
}

/** The pair object for validated `centers` and `radius`. */
function makePair(name: string, centers: number[][], radius: number): WassersteinPair {
  const dim = centers[0]!.length;
  const frozen = Object.freeze(centers.map((c) => Object.freeze([...c])));
  return Object.freeze({
    name,
    dim,
    radius,
    get centers() {
      return frozen.map((c) => [...c]);
    },
    w1: radius,
    sample(n: number, seed: number): WassersteinSample {
      checkPositiveInt('n', n);
      checkSeed('seed', seed);
      const rows = drawCenters(frozen.length, n, mixSeed(seed, 1));
      return { p1: sampleMixture(frozen, 0, rows, 0), p2: sampleMixture(frozen, radius, rows, mixSeed(seed, 2)) };
    },
    dualSurface: (x: tf.Tensor) => negativeDistanceToCenters(x, frozen, dim),
  });
}

/** Validates the options object of `owner` and returns it (an empty object when absent). */
function resolveOptions<T extends object>(owner: string, options: T | undefined, known: readonly string[]): Partial<T> {
  checkKnownKeys(owner, options, known);
  return options ?? {};
}

/**
 * `p1`: mass `1/k` on each center; `p2`: mass `1/k` uniform on the sphere of radius `r` around each
 * center (LNets' `MultiSphericalShell`, with exact point masses for `p1`). `W1 = r`.
 */
export function multiSphericalShells(options: MultiSphericalShellsOptions): WassersteinPair {
  if (options === undefined) configError('multiSphericalShells options', 'an object with dim', options);
  const o = resolveOptions('multiSphericalShells', options, SHELLS_OPTIONS);
  const dim = checkPositiveInt('dim', o.dim);
  const radius = checkPositiveFinite('radius', o.radius ?? 1);
  const centers = checkCenters(o.centers ?? [new Array<number>(dim).fill(0)], dim, radius);
  return makePair('multiSphericalShells', centers, radius);
}

/** 1-D: `p1 = δ0`, `p2 = ±r` with probability 1/2 each; `W1 = r`, `f*(x) = -|x|`. */
export function absoluteValue(options?: AbsoluteValueOptions): WassersteinPair {
  const o = resolveOptions('absoluteValue', options, ABSOLUTE_VALUE_OPTIONS);
  const radius = checkPositiveFinite('radius', o.radius ?? 1);
  return makePair('absoluteValue', [[0]], radius);
}

/**
 * 2-D: `p1` uniform on the three points `(-s, 0), (0, 0), (s, 0)`, `p2` uniform on the three
 * circles of radius `r` around them; `W1 = r`, `f*` three inverted cones.
 */
export function threeCones(options?: ThreeConesOptions): WassersteinPair {
  const o = resolveOptions('threeCones', options, THREE_CONES_OPTIONS);
  const radius = checkPositiveFinite('radius', o.radius ?? 1);
  const spacing = checkPositiveFinite('spacing', o.spacing ?? 2 * radius);
  if (spacing < 2 * radius) configError('spacing', `a number >= 2 * radius = ${2 * radius}`, spacing);
  return makePair('threeCones', [[-spacing, 0], [0, 0], [spacing, 0]], radius);
}

/** d-D: `p1 = δ0`, `p2` uniform on the sphere of radius `r`; `W1 = r`, `f*(x) = -|x|`. */
export function highDimensionalCone(options?: HighDimensionalConeOptions): WassersteinPair {
  const o = resolveOptions('highDimensionalCone', options, CONE_OPTIONS);
  const dim = checkPositiveInt('dim', o.dim ?? 128);
  const radius = checkPositiveFinite('radius', o.radius ?? 1);
  return makePair('highDimensionalCone', [new Array<number>(dim).fill(0)], radius);
}
