/**
 * Float64 plain-JS references of the activations, on one sample flattened in row-major order
 * (channels last unless said otherwise), written from the definitions (DEEL-LIP activations.py,
 * LNets maxout.py), independently of src/activations.
 */

/** Splits a flat channels-last sample into its channel vectors (one per spatial position). */
function positions(x: number[], channels: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < x.length; i += channels) out.push(x.slice(i, i + channels));
  return out;
}

/** Sorts each group of `g` contiguous channels in ascending order (JS sort). */
export function groupSortRef(x: number[], channels: number, g: number): number[] {
  return positions(x, channels).flatMap((v) => {
    const out: number[] = [];
    for (let i = 0; i < v.length; i += g) out.push(...v.slice(i, i + g).sort((a, b) => a - b));
    return out;
  });
}

/** Maximum of each of `units` groups of contiguous channels. */
export function maxOutRef(x: number[], channels: number, units: number): number[] {
  const g = channels / units;
  return positions(x, channels).flatMap((v) => Array.from({ length: units }, (_, u) => Math.max(...v.slice(u * g, (u + 1) * g))));
}

const relu = (v: number): number => Math.max(0, v);

/** DEEL-LIP MaxMin, channels last: per position `[relu(x), relu(-x)]`. */
export function maxMinRef(x: number[], channels: number): number[] {
  return positions(x, channels).flatMap((v) => [...v.map(relu), ...v.map((a) => relu(-a))]);
}

/** DEEL-LIP MaxMin, channels first (axis 1): the whole `relu(x)` block, then `relu(-x)`. */
export function maxMinChannelsFirstRef(x: number[]): number[] {
  return [...x.map(relu), ...x.map((a) => relu(-a))];
}

/** PReLU with per-entry slopes `alpha` (already clipped), same layout as x. */
export function preluRef(x: number[], alpha: number[]): number[] {
  return x.map((v, i) => (v >= 0 ? v : alpha[i % alpha.length]! * v));
}

/** DEEL-LIP Householder: pairs (x_i, x_{i+C/2}) reflected across the line of angle theta_i/2. */
export function householderRef(x: number[], channels: number, theta: number[]): number[] {
  const h = channels / 2;
  return positions(x, channels).flatMap((v) => {
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < h; i++) {
      const z1 = v[i]!;
      const z2 = v[i + h]!;
      const t = theta[i]!;
      const selector = z1 * Math.sin(t / 2) - z2 * Math.cos(t / 2);
      if (selector <= 0) {
        a.push(z1);
        b.push(z2);
      } else {
        a.push(z1 * Math.cos(t) + z2 * Math.sin(t));
        b.push(z1 * Math.sin(t) - z2 * Math.cos(t));
      }
    }
    return [...a, ...b];
  });
}

export function norm(v: number[]): number {
  return Math.sqrt(v.reduce((a, x) => a + x * x, 0));
}

export function sub(a: number[], b: number[]): number[] {
  return a.map((v, i) => v - b[i]!);
}
