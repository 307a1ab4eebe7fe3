/**
 * Plain-JS float64 references for the explicitly padded convolutions: the padding written as
 * list concatenation (independent of `src/layers/padding.ts`'s index map) and a direct
 * convolution loop.
 */
export type Mode = 'constant' | 'circular' | 'reflect' | 'symmetric';

/** Indices (or -1 for a zero) of `[left pad, 0..n-1, right pad]` for `p` cells per side. */
export function referencePadIndices(n: number, p: number, mode: Mode): number[] {
  const body = Array.from({ length: n }, (_, i) => i);
  let left: number[];
  let right: number[];
  if (mode === 'constant') {
    left = new Array<number>(p).fill(-1);
    right = new Array<number>(p).fill(-1);
  } else if (mode === 'circular') {
    left = body.slice(n - p);
    right = body.slice(0, p);
  } else if (mode === 'reflect') {
    left = body.slice(1, p + 1).reverse();
    right = body.slice(n - 1 - p, n - 1).reverse();
  } else {
    left = body.slice(0, p).reverse();
    right = body.slice(n - p).reverse();
  }
  return [...left, ...body, ...right];
}

/**
 * Float64 convolution of `x` (`[h][w][cin]`) with `kernel` (`[kh][kw][cin][f]`) after padding
 * `floor(k/2)` cells per side in `mode`, then a 'valid' window of stride `strides`.
 */
export function referencePaddedConv2d(x: number[][][], kernel: number[][][][], strides: [number, number], mode: Mode): number[][][] {
  const [h, w, cin] = [x.length, x[0]!.length, x[0]![0]!.length];
  const [kh, kw, f] = [kernel.length, kernel[0]!.length, kernel[0]![0]![0]!.length];
  const rows = referencePadIndices(h, Math.floor(kh / 2), mode);
  const cols = referencePadIndices(w, Math.floor(kw / 2), mode);
  const oh = Math.floor((rows.length - kh) / strides[0]) + 1;
  const ow = Math.floor((cols.length - kw) / strides[1]) + 1;
  const out: number[][][] = [];
  for (let i = 0; i < oh; i++) {
    const line: number[][] = [];
    for (let j = 0; j < ow; j++) {
      const acc = new Array<number>(f).fill(0);
      for (let a = 0; a < kh; a++) {
        for (let b = 0; b < kw; b++) {
          const r = rows[i * strides[0] + a]!;
          const c = cols[j * strides[1] + b]!;
          if (r < 0 || c < 0) continue;
          for (let ci = 0; ci < cin; ci++) {
            for (let o = 0; o < f; o++) acc[o]! += x[r]![c]![ci]! * kernel[a]![b]![ci]![o]!;
          }
        }
      }
      line.push(acc);
    }
    out.push(line);
  }
  return out;
}
