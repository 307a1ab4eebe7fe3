/**
 * The `taps` form of the wasm filter gradient (`conv2d_backprop_filter.ts`) for stride-1
 * convolutions: `dw[(p,q,c), o] = sum_n A[(p,q,c), n] * dy[n, o]`, where row `(p,q,c)` of the tap
 * matrix `A` holds input channel `c` shifted by the tap `(p,q)`. `A` and a copy of `dy` are written
 * by JS straight into the wasm heap (as the max-pooling kernels do); the product is the shipped
 * `BatchMatMul` (batch 1, no transposes: one XNNPACK product, `dy` its packed operand).
 *
 * With output rows widened to the input width `W`, output position `i * W + j` reads input position
 * `i * W + j + (p*dh - top) * W + (q*dw - left)`: each shifted channel is one contiguous copy (one
 * per channel and tap for the whole batch when `OH = H`), after which only the rows and the columns
 * that fall outside the image are zeroed. The widened output columns (`OW <= j < W`) get zeros in
 * `dy`.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { heapBackend } from './heap';
import type { Info, WasmScope } from './scope';

/** Whether {@link filterGradByTaps} computes the filter gradient of `info` (an NHWC geometry). */
export function tapsApply(info: tf.backend_util.Conv2DInfo): boolean {
  return info.strideHeight === 1 && info.strideWidth === 1 && info.outWidth <= info.inWidth;
}

/**
 * Most values of one tap matrix (32 MB): larger batches run in chunks of images whose products
 * are summed, so that memory stays bounded (the tutorial CNN's second layer at batch 256 needs
 * 7.2M values, one chunk).
 */
const MAX_TAP_VALUES = 1 << 23;

/** Images `[b0, b0 + n)` of the batch. */
interface Chunk {
  b0: number;
  n: number;
}

/**
 * The filter gradient `[kh, kw, C, Co]` of a stride-1 convolution whose output is no wider than
 * its input ({@link tapsApply}): `x` as channel planes `[C, B, H, W]`, `dy` as NHWC
 * `[B, OH, OW, Co]`, `info` the NHWC geometry. Fastest for a few input channels (see
 * `conv2d_backprop_filter.ts`): the product packs `dy` (the size of the output gradient) and does
 * `kh * kw * C * Co` multiply-adds per output pixel, and the tap matrix is `kh * kw` times `x`.
 * Images go in chunks whose tap matrix holds at most `maxTapValues` values (at least one image).
 */
export function filterGradByTaps(ops: WasmScope, backend: unknown, planes: Info, dy: Info,
  info: tf.backend_util.Conv2DInfo, maxTapValues = MAX_TAP_VALUES): Info {
  const { batchSize: B, inChannels: C, outChannels: Co, outHeight: OH, inWidth: W } = info;
  // The copies write through a view of the whole heap: shapes are checked first.
  expectShape(planes, [C, B, info.inHeight, W], 'x (as channel planes)');
  expectShape(dy, [B, OH, info.outWidth, Co], 'dy');
  const rows = info.filterHeight * info.filterWidth * C;
  const perChunk = Math.max(1, Math.floor(maxTapValues / (rows * OH * W)));
  const parts: Info[] = [];
  for (let b0 = 0; b0 < B; b0 += perChunk) {
    parts.push(chunkProduct(ops, backend, planes, dy, info, { b0, n: Math.min(perChunk, B - b0) }));
  }
  const sum = parts.length === 1 ? parts[0] as Info : ops.run('AddN', parts);
  return ops.reshape(sum, [info.filterHeight, info.filterWidth, C, Co]);
}

/**
 * The product for one chunk of images: the tap matrix `[1, kh * kw * C, n * OH * W]`
 * times a fresh copy of their `dy` widened to `[1, n * OH * W, Co]`, both released right after.
 * The copy matters beyond the widening: XNNPACK caches the packed operand under its tensor id,
 * and an entry under `dy`'s id (shared by every reshape of it) would outlive this call.
 */
function chunkProduct(ops: WasmScope, backend: unknown, planes: Info, dy: Info,
  info: tf.backend_util.Conv2DInfo, chunk: Chunk): Info {
  const heap = heapBackend(backend);
  const depth = chunk.n * info.outHeight * info.inWidth;
  const taps = heap.makeOutput([1, info.filterHeight * info.filterWidth * info.inChannels, depth], 'float32');
  let grad: Info | undefined;
  try {
    grad = heap.makeOutput([1, depth, info.outChannels], 'float32');
    // Views are taken after the allocations, which may grow (and move) the wasm heap.
    const view = (t: Info): Float32Array => heap.typedArrayFromHeap(t) as Float32Array;
    copyWidened(view(dy), view(grad), info, chunk);
    fillTaps(view(planes), view(taps), info, chunk);
    return ops.run('BatchMatMul', { a: taps, b: grad }, { transposeA: false, transposeB: false });
  } finally {
    (backend as tf.KernelBackend).disposeData(taps.dataId);
    if (grad != null) (backend as tf.KernelBackend).disposeData(grad.dataId);
  }
}

/** Throws, naming `what`, unless `t` has shape `shape`. */
function expectShape(t: Info, shape: number[], what: string): void {
  if (t.shape.length !== shape.length || t.shape.some((n, i) => n !== shape[i])) {
    throw new Error(`tfjs-lip wasm Conv2DBackpropFilter: ${what} should have shape [${shape.join(', ')}] for this convolution, but got [${t.shape.join(', ')}].`);
  }
}

/** `dy` of the chunk's images, `[n, OH, OW, Co]`, into `out` `[n, OH, W, Co]`, the columns `OW <= j < W` zero. */
function copyWidened(dy: Float32Array, out: Float32Array, info: tf.backend_util.Conv2DInfo, chunk: Chunk): void {
  const { outHeight: OH, outWidth: OW, inWidth: W, outChannels: Co } = info;
  const rowIn = OW * Co;
  const rowOut = W * Co;
  const first = chunk.b0 * OH;
  if (OW === W) {
    out.set(dy.subarray(first * rowIn, (first + chunk.n * OH) * rowIn));
    return;
  }
  for (let r = 0; r < chunk.n * OH; r++) {
    out.set(dy.subarray((first + r) * rowIn, (first + r + 1) * rowIn), r * rowOut);
    out.fill(0, r * rowOut + rowIn, (r + 1) * rowOut);
  }
}

/**
 * Writes the chunk's tap matrix `[kh * kw * C, n * OH * W]`: row `(p, q, c)`, column `(b, i, j)` holds
 * `x[c, b, i + p*dh - top, j + q*dw - left]`, zero outside the image and for `j >= OW`. `x` and
 * `taps` are views of the same wasm heap: the copies run as `copyWithin` over one view of it,
 * with no per-copy allocation. When the output has the input's height (`OH = H`, as with 'same'
 * padding), one copy moves a channel's shifted planes for the whole chunk, and only the rows and
 * columns that crossed an image edge are zeroed image by image.
 */
function fillTaps(x: Float32Array, taps: Float32Array, info: tf.backend_util.Conv2DInfo, chunk: Chunk): void {
  const { batchSize: B, inChannels: C, inHeight: H, inWidth: W, outHeight: OH, outWidth: OW } = info;
  const n = chunk.n;
  const heap = new Float32Array(taps.buffer);
  const xAt = x.byteOffset / 4;
  const tapsAt = taps.byteOffset / 4;
  const plane = H * W;
  const span = OH * W;
  let row = 0;
  for (let p = 0; p < info.filterHeight; p++) {
    for (let q = 0; q < info.filterWidth; q++) {
      const dr = p * info.dilationHeight - info.padInfo.top;
      const dc = q * info.dilationWidth - info.padInfo.left;
      // Output rows [i0, i1) and columns [j0, j1) read inside the image.
      const rowsIn: [number, number] = [Math.min(OH, Math.max(0, -dr)), Math.min(OH, H - dr)];
      const colsIn: [number, number] = [Math.max(0, -dc), Math.min(OW, W - dc)];
      const g: Shift = { shift: dr * W + dc, plane, span, W, rowsIn, colsIn };
      for (let c = 0; c < C; c++, row++) {
        const src = xAt + (c * B + chunk.b0) * plane;
        const out = tapsAt + row * n * span;
        if (span === plane) copyClamped(heap, src, out, n * plane, g.shift);
        for (let b = 0; b < n; b++) {
          if (span !== plane) copyClamped(heap, src + b * plane, out + b * span, plane, g.shift, span);
          zeroOutside(heap, out + b * span, g);
        }
      }
    }
  }
}

/** Geometry of one shifted image channel (see {@link fillTaps}). */
interface Shift {
  shift: number;
  plane: number;
  span: number;
  W: number;
  rowsIn: [number, number];
  colsIn: [number, number];
}

/**
 * `heap[out + f] = heap[src + f + shift]` for every `0 <= f < length` with `0 <= f + shift < size`
 * (the source holds `size` values); the values left unwritten are those {@link zeroOutside} zeroes.
 */
function copyClamped(heap: Float32Array, src: number, out: number, size: number, shift: number, length = size): void {
  const lo = Math.min(length, Math.max(0, -shift));
  const hi = Math.max(lo, Math.min(length, size - shift));
  if (hi > lo) heap.copyWithin(out + lo, src + lo + shift, src + hi + shift);
}

/** Zeroes, in one image's `span` values from `out`, the rows and columns read outside the image. */
function zeroOutside(heap: Float32Array, out: number, g: Shift): void {
  const [i0, i1] = g.rowsIn;
  const [j0, j1] = g.colsIn;
  if (i0 > 0) heap.fill(0, out, out + i0 * g.W);
  if (i1 < g.span / g.W) heap.fill(0, out + Math.max(i0, i1) * g.W, out + g.span);
  if (j0 === 0 && j1 === g.W) return;
  const jEnd = Math.max(j0, j1);
  for (let r = out + i0 * g.W, rEnd = out + i1 * g.W; r < rEnd; r += g.W) {
    for (let j = 0; j < j0; j++) heap[r + j] = 0;
    for (let j = jEnd; j < g.W; j++) heap[r + j] = 0;
  }
}
