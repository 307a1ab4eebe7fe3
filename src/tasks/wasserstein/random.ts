/**
 * The seeded random numbers of the Wasserstein tasks: a 32-bit generator small enough to carry in
 * a closure, so that `pair.sample(n, seed)` and `trainDual`'s batches repeat exactly on every
 * backend (tfjs' own seeded ops differ between backends and cost a kernel launch per draw).
 */

import { normal, uniformGenerator, type Uniform } from '../../core/random';

export { normal, uniformGenerator };
export type { Uniform };

/**
 * Mixes a seed and a stream index into one 32-bit state (an integer hash: multiply by odd
 * constants, xor-shift), so that `(seed, 1)` and `(seed, 2)` give unrelated sequences.
 */
export function mixSeed(seed: number, stream: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(stream >>> 0, 0x85ebca77)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** An integer in `[0, k)`. */
export function index(uniform: Uniform, k: number): number {
  return Math.min(k - 1, Math.floor(uniform() * k));
}
