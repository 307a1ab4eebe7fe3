/**
 * The library's one seeded random source, for what must repeat exactly on every backend (tfjs'
 * seeded ops differ between backends and cost a kernel launch per draw): the per-sample start
 * vectors of the local bound's training loss, the Wasserstein tasks' samples, the `tfjs-lip`
 * command's runs.
 */

/** Uniform numbers in [0, 1). */
export type Uniform = () => number;

/**
 * A uniform generator on [0, 1) from a 32-bit seed (mulberry32: each call adds a Weyl increment
 * to the state and returns a xor-shift-multiply scramble of it; period 2^32).
 */
export function uniformGenerator(seed: number): Uniform {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal number (Box-Muller; `1 - u` keeps the logarithm finite). */
export function normal(uniform: Uniform): number {
  const u = 1 - uniform();
  const v = uniform();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
