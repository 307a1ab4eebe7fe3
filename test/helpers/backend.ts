/**
 * Float64 loop oracles for the convolution gradients (NHWC), written from the definition of the
 * forward convolution, independent of any tfjs backend; and small comparison helpers.
 */

/** Padding as tfjs understands it: 'same', 'valid' or explicit [top, bottom, left, right]. */
export type OraclePad = 'same' | 'valid' | [number, number, number, number];

export interface ConvGeometry {
  outH: number;
  outW: number;
  top: number;
  left: number;
}

function axisGeometry(n: number, k: number, s: number, d: number, pad: 'same' | 'valid' | [number, number]): [number, number] {
  const eff = (k - 1) * d + 1;
  if (pad === 'same') {
    const out = Math.ceil(n / s);
    const total = Math.max((out - 1) * s + eff - n, 0);
    return [out, Math.floor(total / 2)];
  }
  if (pad === 'valid') return [Math.ceil((n - eff + 1) / s), 0];
  return [Math.floor((n + pad[0] + pad[1] - eff) / s) + 1, pad[0]];
}

/** Output size and leading padding of a 2-D convolution. */
export function convGeometry(h: number, w: number, kh: number, kw: number, s: [number, number], d: [number, number], pad: OraclePad): ConvGeometry {
  const ph = Array.isArray(pad) ? ([pad[0], pad[1]] as [number, number]) : pad;
  const pw = Array.isArray(pad) ? ([pad[2], pad[3]] as [number, number]) : pad;
  const [outH, top] = axisGeometry(h, kh, s[0], d[0], ph);
  const [outW, left] = axisGeometry(w, kw, s[1], d[1], pw);
  return { outH, outW, top, left };
}

/** out[i] += v (typed-array indexing is `number | undefined` under noUncheckedIndexedAccess). */
function addAt(out: Float64Array, i: number, v: number): void {
  out[i] = (out[i] as number) + v;
}

/** Row-major flat index. */
function idx(shape: number[], ...i: number[]): number {
  let k = 0;
  for (let a = 0; a < shape.length; a++) k = k * (shape[a] as number) + (i[a] as number);
  return k;
}

interface LoopArgs {
  xShape: number[]; // [B, H, W, C]
  kh: number;
  kw: number;
  s: [number, number];
  d: [number, number];
  pad: OraclePad;
}

/** Calls `visit(b, h, w, i, j, p, q)` for every tap of the convolution that reads inside x. */
function forEachTap(a: LoopArgs, visit: (b: number, h: number, w: number, i: number, j: number, p: number, q: number) => void): ConvGeometry {
  const [B, H, W] = a.xShape as [number, number, number, number];
  const g = convGeometry(H, W, a.kh, a.kw, a.s, a.d, a.pad);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < g.outH; i++)
      for (let j = 0; j < g.outW; j++)
        for (let p = 0; p < a.kh; p++)
          for (let q = 0; q < a.kw; q++) {
            const h = i * a.s[0] + p * a.d[0] - g.top;
            const w = j * a.s[1] + q * a.d[1] - g.left;
            if (h >= 0 && h < H && w >= 0 && w < W) visit(b, h, w, i, j, p, q);
          }
  return g;
}

/** dL/dw of a conv2d: x [B,H,W,C], dy [B,OH,OW,O] -> [kh,kw,C,O]. */
export function conv2dFilterGradOracle(x: ArrayLike<number>, dy: ArrayLike<number>, a: LoopArgs, outC: number): Float64Array {
  const C = a.xShape[3] as number;
  const out = new Float64Array(a.kh * a.kw * C * outC);
  const g = convGeometry(a.xShape[1] as number, a.xShape[2] as number, a.kh, a.kw, a.s, a.d, a.pad);
  const dyShape = [a.xShape[0] as number, g.outH, g.outW, outC];
  forEachTap(a, (b, h, w, i, j, p, q) => {
    for (let c = 0; c < C; c++) {
      const xv = x[idx(a.xShape, b, h, w, c)] as number;
      for (let o = 0; o < outC; o++) addAt(out, idx([a.kh, a.kw, C, outC], p, q, c, o), xv * (dy[idx(dyShape, b, i, j, o)] as number));
    }
  });
  return out;
}

/** dL/dx of a conv2d: dy [B,OH,OW,O], w [kh,kw,C,O] -> [B,H,W,C]. */
export function conv2dInputGradOracle(dy: ArrayLike<number>, filter: ArrayLike<number>, a: LoopArgs, outC: number): Float64Array {
  const C = a.xShape[3] as number;
  const out = new Float64Array(a.xShape.reduce((p, q) => p * q, 1));
  const g = convGeometry(a.xShape[1] as number, a.xShape[2] as number, a.kh, a.kw, a.s, a.d, a.pad);
  const dyShape = [a.xShape[0] as number, g.outH, g.outW, outC];
  forEachTap(a, (b, h, w, i, j, p, q) => {
    for (let c = 0; c < C; c++)
      for (let o = 0; o < outC; o++)
        addAt(out, idx(a.xShape, b, h, w, c), (dy[idx(dyShape, b, i, j, o)] as number) * (filter[idx([a.kh, a.kw, C, outC], p, q, c, o)] as number));
  });
  return out;
}

/** dL/dw of a depthwise conv: x [B,H,W,C], dy [B,OH,OW,C*M] -> [kh,kw,C,M]. */
export function depthwiseFilterGradOracle(x: ArrayLike<number>, dy: ArrayLike<number>, a: LoopArgs, mult: number): Float64Array {
  const C = a.xShape[3] as number;
  const out = new Float64Array(a.kh * a.kw * C * mult);
  const g = convGeometry(a.xShape[1] as number, a.xShape[2] as number, a.kh, a.kw, a.s, a.d, a.pad);
  const dyShape = [a.xShape[0] as number, g.outH, g.outW, C * mult];
  forEachTap(a, (b, h, w, i, j, p, q) => {
    for (let c = 0; c < C; c++)
      for (let m = 0; m < mult; m++)
        addAt(out, idx([a.kh, a.kw, C, mult], p, q, c, m), (x[idx(a.xShape, b, h, w, c)] as number) * (dy[idx(dyShape, b, i, j, c * mult + m)] as number));
  });
  return out;
}

/** dL/dx of a depthwise conv: dy [B,OH,OW,C*M], w [kh,kw,C,M] -> [B,H,W,C]. */
export function depthwiseInputGradOracle(dy: ArrayLike<number>, filter: ArrayLike<number>, a: LoopArgs, mult: number): Float64Array {
  const C = a.xShape[3] as number;
  const out = new Float64Array(a.xShape.reduce((p, q) => p * q, 1));
  const g = convGeometry(a.xShape[1] as number, a.xShape[2] as number, a.kh, a.kw, a.s, a.d, a.pad);
  const dyShape = [a.xShape[0] as number, g.outH, g.outW, C * mult];
  forEachTap(a, (b, h, w, i, j, p, q) => {
    for (let c = 0; c < C; c++)
      for (let m = 0; m < mult; m++)
        addAt(out, idx(a.xShape, b, h, w, c), (dy[idx(dyShape, b, i, j, c * mult + m)] as number) * (filter[idx([a.kh, a.kw, C, mult], p, q, c, m)] as number));
  });
  return out;
}

/**
 * Max-pool oracle (NHWC, 'valid' or 'same'): the pooled values, the flat index of each window's
 * first maximum in row-major order (padding excluded), and dx for an upstream gradient dy.
 */
export function maxPoolOracle(x: ArrayLike<number>, xShape: number[], k: number, s: number, pad: 'same' | 'valid', dy: ArrayLike<number>): { pooled: Float64Array; argmax: Int32Array; dx: Float64Array } {
  const [B, H, W, C] = xShape as [number, number, number, number];
  const g = convGeometry(H, W, k, k, [s, s], [1, 1], pad);
  const n = B * g.outH * g.outW * C;
  const pooled = new Float64Array(n);
  const argmax = new Int32Array(n);
  const dx = new Float64Array(B * H * W * C);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < g.outH; i++)
      for (let j = 0; j < g.outW; j++)
        for (let c = 0; c < C; c++) {
          let best = -Infinity;
          let at = -1;
          for (let p = 0; p < k; p++)
            for (let q = 0; q < k; q++) {
              const h = i * s + p - g.top;
              const w = j * s + q - g.left;
              if (h < 0 || h >= H || w < 0 || w >= W) continue;
              const f = idx(xShape, b, h, w, c);
              if ((x[f] as number) > best) {
                best = x[f] as number;
                at = f;
              }
            }
          const o = idx([B, g.outH, g.outW, C], b, i, j, c);
          pooled[o] = best;
          argmax[o] = at;
          addAt(dx, at, dy[o] as number);
        }
  return { pooled, argmax, dx };
}

/** max |got - ref| / max |ref| (0 when both are zero). */
export function relativeError(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (got.length !== ref.length) throw new Error(`length mismatch: ${got.length} vs ${ref.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs((got[i] as number) - (ref[i] as number)));
    scale = Math.max(scale, Math.abs(ref[i] as number));
  }
  return scale === 0 ? diff : diff / scale;
}

/** Deterministic pseudo-random values in [-1, 1) (a small LCG), so both backends see equal data. */
export function seededValues(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2147483648 - 1;
  }
  return out;
}
