/** Deterministic pseudo-random generators and random orthogonal matrices for the tests (float64). */

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Deterministic pseudo-random values in [-1, 1) (linear congruential generator). */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (1664525 * s + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  };
}

/**
 * An orthogonal n x n matrix in float64: the identity times `rotationsPerRow * n` Givens rotations
 * of pseudo-random planes and angles (`lcg(seed)`).
 */
export function givensOrthogonal(n: number, seed: number, rotationsPerRow: number): number[][] {
  const q: number[][] = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  const r = lcg(seed);
  for (let t = 0; t < rotationsPerRow * n; t++) {
    const i = Math.floor(((r() + 1) / 2) * n) % n;
    const j = (i + 1 + (Math.floor(((r() + 1) / 2) * (n - 1)) % (n - 1))) % n;
    const th = r() * Math.PI;
    const [co, si] = [Math.cos(th), Math.sin(th)];
    for (let row = 0; row < n; row++) {
      const a = q[row]![i]!;
      const b = q[row]![j]!;
      q[row]![i] = co * a - si * b;
      q[row]![j] = si * a + co * b;
    }
  }
  return q;
}
