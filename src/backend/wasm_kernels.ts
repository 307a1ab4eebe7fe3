/**
 * Gradient kernels that `@tensorflow/tfjs-backend-wasm` (v4.22) does not ship, written as
 * composites of the kernels it does ship, so that convolutional networks train on wasm.
 *
 * Each kernel calls the wasm backend's own kernel functions directly (looked up with
 * `tf.getKernel(name, 'wasm')`), never the public ops: nothing is recorded on the tape, every
 * intermediate is released with `backend.disposeData`, and the result is a `TensorInfo` owned by
 * the wasm backend.
 *
 * The three convolution gradients are rewritten as forward convolutions, which the wasm backend
 * runs through XNNPACK:
 *
 * - `Conv2DBackpropFilter`: with the forward convolution
 *   `y[b,i,j,o] = sum_{p,q,c} xpad[b, i*s + p*d, j*s + q*d, c] * w[p,q,c,o]`, the filter gradient
 *   `dw[p,q,c,o] = sum_{b,i,j} xpad[b, p*d + i*s, q*d + j*s, c] * dy[b,i,j,o]` is itself a
 *   convolution of `xpad` transposed to `[c, h, w, b]` (channels as the batch, the batch as the
 *   channels) with `dy` transposed to `[i, j, b, o]` as the filter, stride `d` and dilation `s`.
 * - `DepthwiseConv2dNativeBackpropFilter`: the same identity, where the depthwise channel `c` and
 *   the batch `b` are folded together into the channels of a depthwise convolution, and the batch is
 *   summed out afterwards.
 * - `DepthwiseConv2dNativeBackpropInput`: the transposed convolution
 *   `dx[b,h,w,c] = sum_{p,q,m} dy[b,i,j,c*M+m] * w[p,q,c,m]` over `h = i*s + p*d - padTop` equals a
 *   stride-1 depthwise convolution (dilation `d`) of `dy` upsampled by `s` (zeros inserted) and
 *   padded by `(K-1)*d - padTop` in front, with the spatially flipped filter; the channel
 *   multiplier `M` is summed out afterwards.
 *
 * `UnsortedSegmentSum` (the gradient of `tf.gather`) is a one-hot matrix product.
 *
 * Two kernels that tfjs-backend-wasm 4.22 does ship are replaced, because they are wrong: its
 * `MaxPoolGrad` and `MaxPoolWithArgmax` start the running maximum at `FLT_MIN` (the smallest
 * positive float) instead of `-Infinity`, so any window whose values are all `<= 0` (negative
 * pre-activations, or an all-zero window after a ReLU) gets a wrong maximum and sends its gradient
 * to the wrong pixel (element 0). The replacements are plain loops over the wasm heap that follow
 * the cpu backend's rule: the gradient goes to the first maximum of the window in row-major order,
 * padded positions excluded.
 *
 * Two more are replaced because they are slow direct loops and the hot path of conv training:
 * `Conv2DBackpropInput` (an XNNPACK convolution of the upsampled `dy` with the flipped, transposed
 * filter, about 25x faster) and `AvgPoolGrad` (a transposed depthwise convolution with the
 * constant filter `1 / (kh * kw)`, about 10x faster).
 */
import * as tf from '@tensorflow/tfjs-core';

type Info = tf.TensorInfo;
type Pair = [number, number];
type PadAttr = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
type RoundingMode = 'floor' | 'round' | 'ceil' | undefined;

/** Names of the kernels that {@link registerWasmGradientKernels} adds to the wasm backend (absent there). */
export const WASM_COMPOSITE_KERNELS: readonly string[] = [
  'Conv2DBackpropFilter',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  'UnsortedSegmentSum',
];

/**
 * Names of the wasm kernels that {@link registerWasmGradientKernels} replaces: wrong in 4.22
 * (`MaxPoolGrad`, `MaxPoolWithArgmax`) or much slower than a composite (`Conv2DBackpropInput`,
 * `AvgPoolGrad`).
 */
export const WASM_REPLACED_KERNELS: readonly string[] = ['MaxPoolGrad', 'MaxPoolWithArgmax', 'Conv2DBackpropInput', 'AvgPoolGrad'];

/** The parts of the wasm backend's class that its own kernels use to write outputs from JS. */
export interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): Info;
  typedArrayFromHeap(info: Info): tf.TypedArray;
}

/** `backend` as a wasm backend whose heap JS kernels can read and write (throws otherwise). */
export function heapBackend(backend: unknown): WasmHeapBackend {
  const b = backend as Partial<WasmHeapBackend>;
  if (typeof b.makeOutput !== 'function' || typeof b.typedArrayFromHeap !== 'function') {
    throw new Error('tfjs-lip JS kernels for wasm need the wasm backend (makeOutput / typedArrayFromHeap).');
  }
  return b as WasmHeapBackend;
}

/**
 * Runs wasm kernel functions and remembers every output, so that all intermediates can be
 * released once the result is known.
 */
class WasmScope {
  private readonly temps: Info[] = [];

  constructor(private readonly backend: tf.KernelBackend) {}

  run(kernelName: string, inputs: tf.NamedTensorInfoMap | Info[], attrs: tf.NamedAttrMap = {}): Info {
    const config = tf.getKernel(kernelName, 'wasm');
    if (config == null) {
      throw new Error(`tfjs-lip wasm composite needs the wasm kernel '${kernelName}', which is not registered.`);
    }
    const out = config.kernelFunc({ inputs: inputs as tf.NamedTensorInfoMap, backend: this.backend, attrs });
    const outs = Array.isArray(out) ? out : [out];
    this.temps.push(...outs);
    const info = outs[0];
    if (info == null) {
      throw new Error(`tfjs-lip wasm composite: kernel '${kernelName}' returned no output.`);
    }
    return info;
  }

  reshape(x: Info, shape: number[]): Info {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: Info, perm: number[]): Info {
    return this.run('Transpose', { x }, { perm });
  }

  sum(x: Info, axis: number[]): Info {
    return this.run('Sum', { x }, { axis, keepDims: false });
  }

  /** Pads (positive amounts) or crops (negative amounts) each axis at its two ends. */
  padOrCrop(x: Info, amounts: Pair[]): Info {
    let out = x;
    if (amounts.some(([a, b]) => a > 0 || b > 0)) {
      const paddings = amounts.map(([a, b]) => [Math.max(0, a), Math.max(0, b)]);
      out = this.run('PadV2', { x: out }, { paddings, constantValue: 0 });
    }
    if (amounts.some(([a, b]) => a < 0 || b < 0)) {
      const begin = amounts.map(([a]) => Math.max(0, -a));
      const size = out.shape.map((n, i) => {
        const [a, b] = amounts[i] as Pair;
        return n - Math.max(0, -a) - Math.max(0, -b);
      });
      out = this.run('Slice', { x: out }, { begin, size });
    }
    return out;
  }

  /** Releases every intermediate except `result` (shared data stay alive through ref counts). */
  finish(result: Info): Info {
    for (const t of this.temps) {
      if (t !== result) this.backend.disposeData(t.dataId);
    }
    this.temps.length = 0;
    return result;
  }

  /** Releases every intermediate (after an error). */
  abandon(): void {
    for (const t of this.temps) this.backend.disposeData(t.dataId);
    this.temps.length = 0;
  }
}

function pair(v: unknown, fallback: number): Pair {
  if (v == null) return [fallback, fallback];
  if (typeof v === 'number') return [v, v];
  const a = v as number[];
  return [a[0] ?? fallback, a[1] ?? a[0] ?? fallback];
}

function shape4(s: number[], what: string): [number, number, number, number] {
  if (s.length !== 4) throw new Error(`tfjs-lip wasm composite: ${what} must be rank 4, but got shape [${s.join(', ')}].`);
  return [s[0] as number, s[1] as number, s[2] as number, s[3] as number];
}

function withScope(backend: unknown, body: (ops: WasmScope) => Info): Info {
  const ops = new WasmScope(backend as tf.KernelBackend);
  try {
    return ops.finish(body(ops));
  } catch (e) {
    ops.abandon();
    throw e;
  }
}

/**
 * `Conv2DBackpropFilter` for wasm: inputs `{x, dy}`, attrs `{strides, pad, dataFormat,
 * dimRoundingMode, filterShape}` and, if given, `dilations`. Returns `dw` of shape `filterShape`.
 */
export const conv2DBackpropFilterWasm: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const a = (attrs ?? {}) as Record<string, unknown>;
  const filterShape = shape4(a.filterShape as number[], 'filterShape');
  const channelsFirst = a.dataFormat === 'NCHW';
  return withScope(backend, (ops) => {
    let x = inputs.x as Info;
    let dy = inputs.dy as Info;
    let pad = a.pad as PadAttr;
    if (channelsFirst) {
      x = ops.transpose(x, [0, 2, 3, 1]);
      dy = ops.transpose(dy, [0, 2, 3, 1]);
      if (Array.isArray(pad)) pad = [pad[0], pad[2], pad[3], pad[1]] as tf.backend_util.ExplicitPadding;
    }
    const xShape = shape4(x.shape, 'x');
    const [, inH, inW] = xShape;
    const [kh, kw] = filterShape;
    const [sh, sw] = pair(a.strides, 1);
    const [dh, dw] = pair(a.dilations, 1);
    const info = tf.backend_util.computeConv2DInfo(
      xShape, filterShape, [sh, sw], [dh, dw], pad, a.dimRoundingMode as RoundingMode);
    const needH = (kh - 1) * dh + (info.outHeight - 1) * sh + 1;
    const needW = (kw - 1) * dw + (info.outWidth - 1) * sw + 1;
    const { top, left } = info.padInfo;
    // x as [c, h, w, b], padded (or cropped) to exactly the rows and columns the filter reads.
    const xt = ops.padOrCrop(ops.transpose(x, [3, 1, 2, 0]),
      [[0, 0], [top, needH - inH - top], [left, needW - inW - left], [0, 0]]);
    const dyt = ops.transpose(dy, [1, 2, 0, 3]);
    const g = ops.run('Conv2D', { x: xt, filter: dyt },
      { strides: [dh, dw], pad: 'valid', dataFormat: 'NHWC', dilations: [sh, sw] });
    return ops.transpose(g, [1, 2, 0, 3]);
  });
};

/**
 * `DepthwiseConv2dNativeBackpropFilter` for wasm: inputs `{x, dy}`, attrs `{strides, pad,
 * dimRoundingMode, dilations, filterShape}`. Returns `dw` of shape `filterShape = [kh, kw, C, M]`.
 */
export const depthwiseBackpropFilterWasm: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const a = (attrs ?? {}) as Record<string, unknown>;
  const filterShape = shape4(a.filterShape as number[], 'filterShape');
  return withScope(backend, (ops) => {
    const x = inputs.x as Info;
    const dy = inputs.dy as Info;
    const xShape = shape4(x.shape, 'x');
    const [batch, inH, inW, chans] = xShape;
    const [kh, kw, , mult] = filterShape;
    const [sh, sw] = pair(a.strides, 1);
    const [dh, dw] = pair(a.dilations, 1);
    const info = tf.backend_util.computeConv2DInfo(
      xShape, filterShape, [sh, sw], [dh, dw], a.pad as PadAttr, a.dimRoundingMode as RoundingMode, true);
    const outH = info.outHeight;
    const outW = info.outWidth;
    const needH = (kh - 1) * dh + (outH - 1) * sh + 1;
    const needW = (kw - 1) * dw + (outW - 1) * sw + 1;
    const { top, left } = info.padInfo;
    // x as one image with channels (c, b).
    const xt = ops.padOrCrop(
      ops.reshape(ops.transpose(x, [1, 2, 3, 0]), [1, inH, inW, chans * batch]),
      [[0, 0], [top, needH - inH - top], [left, needW - inW - left], [0, 0]]);
    // dy as a depthwise filter [i, j, (c, b), m].
    const f = ops.reshape(
      ops.transpose(ops.reshape(dy, [batch, outH, outW, chans, mult]), [1, 2, 3, 0, 4]),
      [outH, outW, chans * batch, mult]);
    const g = ops.run('DepthwiseConv2dNative', { x: xt, filter: f },
      { strides: [dh, dw], pad: 'valid', dilations: [sh, sw] });
    // g: [1, kh, kw, (c, b, m)] -> sum over b.
    const g5 = ops.transpose(ops.reshape(g, [kh, kw, chans, batch, mult]), [0, 1, 2, 4, 3]);
    return ops.sum(g5, [4]);
  });
};

/** Geometry of a transposed convolution, read from the forward convolution's info. */
interface TransposedGeometry {
  inH: number;
  inW: number;
  outH: number;
  outW: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  top: number;
  left: number;
}

function transposedGeometry(info: tf.backend_util.Conv2DInfo): TransposedGeometry {
  return {
    inH: info.inHeight, inW: info.inWidth, outH: info.outHeight, outW: info.outWidth,
    kh: info.filterHeight, kw: info.filterWidth, sh: info.strideHeight, sw: info.strideWidth,
    dh: info.dilationHeight, dw: info.dilationWidth, top: info.padInfo.top, left: info.padInfo.left,
  };
}

/**
 * The input of the stride-1 'valid' convolution (dilation d, flipped filter) that computes a
 * transposed convolution: `dy` [B, OH, OW, C] upsampled by the strides (s - 1 zeros after each
 * row / column) and padded by `(K - 1) * d - padBefore` in front, to `H + (K - 1) * d` rows.
 */
function upsampleAndPad(ops: WasmScope, dy: Info, g: TransposedGeometry): Info {
  const [batch, , , chans] = shape4(dy.shape, 'dy');
  let up = dy;
  if (g.sh > 1 || g.sw > 1) {
    up = ops.reshape(
      ops.padOrCrop(ops.reshape(dy, [batch, g.outH, 1, g.outW, 1, chans]),
        [[0, 0], [0, 0], [0, g.sh - 1], [0, 0], [0, g.sw - 1], [0, 0]]),
      [batch, g.outH * g.sh, g.outW * g.sw, chans]);
  }
  const frontH = (g.kh - 1) * g.dh - g.top;
  const frontW = (g.kw - 1) * g.dw - g.left;
  return ops.padOrCrop(up, [
    [0, 0],
    [frontH, g.inH + (g.kh - 1) * g.dh - frontH - g.outH * g.sh],
    [frontW, g.inW + (g.kw - 1) * g.dw - frontW - g.outW * g.sw],
    [0, 0],
  ]);
}

/** dx of a depthwise convolution with filter [kh, kw, C, M] (also the average-pool gradient). */
function depthwiseTransposed(ops: WasmScope, dy: Info, filter: Info, inShape: number[], g: TransposedGeometry): Info {
  const [batch, inH, inW, chans] = shape4(inShape, 'inputShape');
  const mult = (filter.shape[3] as number);
  const flipped = ops.reshape(ops.run('Reverse', { x: filter }, { dims: [0, 1] }), [g.kh, g.kw, chans * mult, 1]);
  const out = ops.run('DepthwiseConv2dNative', { x: upsampleAndPad(ops, dy, g), filter: flipped },
    { strides: [1, 1], pad: 'valid', dilations: [g.dh, g.dw] });
  if (mult === 1) return out;
  return ops.sum(ops.reshape(out, [batch, inH, inW, chans, mult]), [4]);
}

/**
 * `DepthwiseConv2dNativeBackpropInput` for wasm: inputs `{dy, filter}`, attrs `{strides, pad,
 * dimRoundingMode, dilations, inputShape}`. Returns `dx` of shape `inputShape`.
 */
export const depthwiseBackpropInputWasm: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const a = (attrs ?? {}) as Record<string, unknown>;
  const inShape = shape4(a.inputShape as number[], 'inputShape');
  return withScope(backend, (ops) => {
    const dy = inputs.dy as Info;
    const filter = inputs.filter as Info;
    const info = tf.backend_util.computeConv2DInfo(inShape, shape4(filter.shape, 'filter'),
      pair(a.strides, 1), pair(a.dilations, 1), a.pad as PadAttr, a.dimRoundingMode as RoundingMode, true);
    return depthwiseTransposed(ops, dy, filter, inShape, transposedGeometry(info));
  });
};

/**
 * `Conv2DBackpropInput` for wasm (the input gradient of conv2d, and the forward pass of
 * conv2dTranspose): inputs `{dy, filter}`, attrs `{strides, pad, dataFormat, dimRoundingMode,
 * inputShape}` and, if given, `dilations`. It replaces wasm's own kernel, a direct loop about 15x
 * slower than this XNNPACK convolution of the upsampled `dy` with the flipped, transposed filter.
 */
export const conv2DBackpropInputWasm: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const a = (attrs ?? {}) as Record<string, unknown>;
  const channelsFirst = a.dataFormat === 'NCHW';
  return withScope(backend, (ops) => {
    let dy = inputs.dy as Info;
    const filter = inputs.filter as Info;
    let inShape = shape4(a.inputShape as number[], 'inputShape');
    let pad = a.pad as PadAttr;
    if (channelsFirst) {
      dy = ops.transpose(dy, [0, 2, 3, 1]);
      inShape = [inShape[0], inShape[2], inShape[3], inShape[1]];
      if (Array.isArray(pad)) pad = [pad[0], pad[2], pad[3], pad[1]] as tf.backend_util.ExplicitPadding;
    }
    const filterShape = shape4(filter.shape, 'filter');
    const info = tf.backend_util.computeConv2DInfo(inShape, filterShape,
      pair(a.strides, 1), pair(a.dilations, 1), pad, a.dimRoundingMode as RoundingMode);
    const g = transposedGeometry(info);
    // [kh, kw, Cin, Cout] flipped in space, as a filter from Cout to Cin.
    const flipped = ops.transpose(ops.run('Reverse', { x: filter }, { dims: [0, 1] }), [0, 1, 3, 2]);
    const dx = ops.run('Conv2D', { x: upsampleAndPad(ops, dy, g), filter: flipped },
      { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [g.dh, g.dw] });
    return channelsFirst ? ops.transpose(dx, [0, 3, 1, 2]) : dx;
  });
};

/**
 * `AvgPoolGrad` for wasm: inputs `{dy, input}`, attrs `{filterSize, strides, pad}`. Like the cpu
 * backend, every window spreads `dy / (kh * kw)` over its pixels (padding included in the count).
 * Computed as the transposed depthwise convolution with the constant filter `1 / (kh * kw)`.
 */
export const avgPoolGradWasm: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const a = (attrs ?? {}) as Record<string, unknown>;
  return withScope(backend, (ops) => {
    const dy = inputs.dy as Info;
    const x = inputs.input as Info;
    const info = tf.backend_util.computePool2DInfo(shape4(x.shape, 'input'), a.filterSize as Pair | number,
      a.strides as Pair | number, 1, a.pad as PadAttr, a.dimRoundingMode as RoundingMode);
    const g = transposedGeometry(info);
    const filter = ops.run('Fill', {}, {
      shape: [g.kh, g.kw, info.inChannels, 1], value: 1 / (g.kh * g.kw), dtype: 'float32',
    });
    return depthwiseTransposed(ops, dy, filter, x.shape, g);
  });
};

/**
 * `UnsortedSegmentSum` for wasm (the gradient of `tf.gather`): inputs `{x, segmentIds}`, attrs
 * `{numSegments}`. `out[k, ...] = sum over positions n with segmentIds[n] = k of x[n, ...]`,
 * computed as `oneHot(segmentIds)^T @ x`; ids outside `[0, numSegments)` are dropped.
 */
export const unsortedSegmentSumWasm: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const a = (attrs ?? {}) as Record<string, unknown>;
  const numSegments = a.numSegments as number;
  return withScope(backend, (ops) => {
    const x = inputs.x as Info;
    const ids = inputs.segmentIds as Info;
    const n = ids.shape.reduce((p, q) => p * q, 1);
    const inner = x.shape.slice(ids.shape.length);
    const innerSize = inner.reduce((p, q) => p * q, 1);
    const ids1 = ops.reshape(ids.dtype === 'int32' ? ids : ops.run('Cast', { x: ids }, { dtype: 'int32' }), [n]);
    // The wasm OneHot writes int32 whatever dtype it is asked for: ask for int32 and cast.
    const oneHot = ops.run('Cast', {
      x: ops.run('OneHot', { indices: ids1 }, { depth: numSegments, onValue: 1, offValue: 0, dtype: 'int32' }),
    }, { dtype: 'float32' });
    const xf = x.dtype === 'float32' ? x : ops.run('Cast', { x }, { dtype: 'float32' });
    const prod = ops.run('BatchMatMul', {
      a: ops.transpose(oneHot, [1, 0]),
      b: ops.reshape(xf, [n, innerSize]),
    }, { transposeA: false, transposeB: false });
    const out = ops.reshape(prod, [numSegments, ...inner]);
    return x.dtype === 'float32' ? out : ops.run('Cast', { x: out }, { dtype: x.dtype });
  });
};

/**
 * Visits the windows of a 2-D max pool (NHWC) and, for each window and channel, calls
 * `found(outIndex, inIndex)` with the flat index of the first maximum in row-major order
 * (padded positions excluded; a window of NaNs only is skipped).
 */
function forEachWindowMax(x: ArrayLike<number>, info: tf.backend_util.Conv2DInfo, found: (outIndex: number, inIndex: number) => void): void {
  const { batchSize, inHeight, inWidth, inChannels: chans, outHeight, outWidth } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const { effectiveFilterHeight: fh, effectiveFilterWidth: fw } = info;
  const { top, left } = info.padInfo;
  const best = new Float64Array(chans);
  const pos = new Int32Array(chans);
  let outIndex = 0;
  for (let b = 0; b < batchSize; b++) {
    for (let i = 0; i < outHeight; i++) {
      const h0 = i * sh - top;
      for (let j = 0; j < outWidth; j++) {
        const w0 = j * sw - left;
        best.fill(-Infinity);
        pos.fill(-1);
        for (let p = 0; p < fh; p += dh) {
          const h = h0 + p;
          if (h < 0 || h >= inHeight) continue;
          for (let q = 0; q < fw; q += dw) {
            const w = w0 + q;
            if (w < 0 || w >= inWidth) continue;
            const base = ((b * inHeight + h) * inWidth + w) * chans;
            for (let c = 0; c < chans; c++) {
              const v = x[base + c] as number;
              if (v > (best[c] as number) || (pos[c] === -1 && v === -Infinity)) {
                best[c] = v;
                pos[c] = base + c;
              }
            }
          }
        }
        for (let c = 0; c < chans; c++) {
          const at = pos[c] as number;
          if (at >= 0) found(outIndex + c, at);
        }
        outIndex += chans;
      }
    }
  }
}

function poolInfo(xShape: number[], a: Record<string, unknown>): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computePool2DInfo(shape4(xShape, 'x'), a.filterSize as Pair | number,
    a.strides as Pair | number, 1, a.pad as PadAttr, a.dimRoundingMode as RoundingMode);
}

/**
 * `MaxPoolGrad` for wasm: inputs `{dy, input, output}`, attrs `{filterSize, strides, pad,
 * dimRoundingMode}`; `dx[argmax of each window] += dy[window]`.
 */
export const maxPoolGradWasm: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const b = heapBackend(backend);
  const x = inputs.input as Info;
  const dy = inputs.dy as Info;
  const info = poolInfo(x.shape, (attrs ?? {}) as Record<string, unknown>);
  const dx = b.makeOutput(x.shape.slice(), 'float32');
  // Views are taken after the allocation, which may grow (and move) the wasm heap.
  const dxv = b.typedArrayFromHeap(dx) as Float32Array;
  const xv = b.typedArrayFromHeap(x);
  const dyv = b.typedArrayFromHeap(dy);
  dxv.fill(0);
  forEachWindowMax(xv, info, (o, i) => {
    dxv[i] = (dxv[i] as number) + (dyv[o] as number);
  });
  return dx;
};

/**
 * `MaxPoolWithArgmax` for wasm: inputs `{x}`, attrs `{filterSize, strides, pad,
 * includeBatchInIndex}`; returns `[pooled, argmax]`, the argmax flattened as
 * `((b * H + h) * W + w) * C + c` (without the `b` term unless `includeBatchInIndex`).
 */
export const maxPoolWithArgmaxWasm: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const b = heapBackend(backend);
  const x = inputs.x as Info;
  const a = (attrs ?? {}) as Record<string, unknown>;
  const info = tf.backend_util.computePool2DInfo(shape4(x.shape, 'x'), a.filterSize as Pair | number,
    a.strides as Pair | number, [1, 1], a.pad as PadAttr);
  const pooled = b.makeOutput(info.outShape.slice(), x.dtype);
  const indexes = b.makeOutput(info.outShape.slice(), 'int32');
  const pv = b.typedArrayFromHeap(pooled);
  const iv = b.typedArrayFromHeap(indexes);
  const xv = b.typedArrayFromHeap(x);
  const perImage = info.inHeight * info.inWidth * info.inChannels;
  const withBatch = a.includeBatchInIndex === true;
  pv.fill(Number.NaN);
  iv.fill(-1);
  forEachWindowMax(xv, info, (o, i) => {
    pv[o] = xv[i] as number;
    iv[o] = withBatch ? i : i % perImage;
  });
  return [pooled, indexes];
};

/**
 * The wasm matrix-product kernels as shipped, saved when {@link registerWasmGradientKernels}
 * wraps them (see {@link WASM_WRAPPED_KERNELS}).
 */
const shippedKernels = new Map<string, tf.KernelConfig>();

/** Swaps the last two axes of `x` (a matrix operand of a batched product). */
function transposeLastTwo(ops: WasmScope, x: Info): Info {
  const rank = x.shape.length;
  const perm = x.shape.map((_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return ops.transpose(x, perm);
}

/**
 * A wrapper of the shipped wasm `BatchMatMul` or `_FusedMatMul` that transposes a flagged operand
 * explicitly and then calls the shipped kernel without transposes (and runs a batched fused
 * product with a bias as its parts, see `fusedMatMulUnfused`). tfjs-backend-wasm 4.22 sends a
 * product with a transposed operand to a naive loop: `a^T b` for a 784x128 by 128x256 product
 * (the weight gradient of a dense layer) takes 45 ms there against 0.7 ms for the transpose plus
 * 3 ms for the XNNPACK product, so every dense layer's backward pass ran 10-20x slower than it
 * needed to.
 */
function explicitTransposeMatMul(kernelName: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const shipped = shippedKernels.get(kernelName);
    if (shipped == null) throw new Error(`tfjs-lip: the shipped wasm kernel '${kernelName}' was not saved.`);
    const a = (attrs ?? {}) as Record<string, unknown>;
    if (kernelName === '_FusedMatMul' && inputs.bias != null && (inputs.a as Info).shape.length > 2) {
      return fusedMatMulUnfused(inputs, backend, a);
    }
    if (a.transposeA !== true && a.transposeB !== true) return shipped.kernelFunc({ inputs, backend, attrs });
    return withScope(backend, (ops) => {
      const operands = { ...inputs } as Record<string, Info>;
      if (a.transposeA === true) operands.a = transposeLastTwo(ops, inputs.a as Info);
      if (a.transposeB === true) operands.b = transposeLastTwo(ops, inputs.b as Info);
      const out = shipped.kernelFunc({
        inputs: operands as tf.NamedTensorInfoMap,
        backend,
        attrs: { ...a, transposeA: false, transposeB: false } as tf.NamedAttrMap,
      }) as Info;
      return out;
    });
  };
}

/** The wasm kernel (and its extra attributes) applying each fused activation. */
const ACTIVATION_KERNELS: Record<string, (a: Record<string, unknown>) => [string, tf.NamedAttrMap]> = {
  relu: () => ['Relu', {}],
  relu6: () => ['Relu6', {}],
  elu: () => ['Elu', {}],
  sigmoid: () => ['Sigmoid', {}],
  leakyrelu: (a) => ['LeakyRelu', { alpha: (a.leakyreluAlpha as number | undefined) ?? 0.2 }],
};

/**
 * `_FusedMatMul` on batched (rank-3) operands with a bias, as its parts: the product, `Add`, then
 * the activation. The shipped kernel adds the bias wrongly there in tfjs-backend-wasm 4.22: every
 * row after the first of each product gets the bias's last element instead of the broadcast bias
 * (a [2, 3, 4] x [2, 4, 5] product with bias [0.1 .. 0.5] was off by up to 0.4). Rank-2 products
 * (those of tfjs-layers' Dense) are right and keep the fused kernel.
 */
function fusedMatMulUnfused(inputs: tf.NamedTensorInfoMap, backend: unknown, a: Record<string, unknown>): Info {
  return withScope(backend, (ops) => {
    const product = ops.run('BatchMatMul', { a: inputs.a as Info, b: inputs.b as Info }, {
      transposeA: a.transposeA === true,
      transposeB: a.transposeB === true,
    });
    let out = ops.run('Add', { a: product, b: inputs.bias as Info });
    const activation = (a.activation as string | undefined) ?? 'linear';
    if (activation === 'prelu') {
      out = ops.run('Prelu', { x: out, alpha: inputs.preluActivationWeights as Info });
    } else if (activation !== 'linear') {
      const make = ACTIVATION_KERNELS[activation];
      if (make == null) throw new Error(`tfjs-lip wasm _FusedMatMul: unknown activation '${activation}'.`);
      const [name, extra] = make(a);
      out = ops.run(name, { x: out }, extra);
    }
    return out;
  });
}

/**
 * Names of the shipped wasm kernels that {@link registerWasmGradientKernels} wraps (the shipped
 * kernel still does the work): the matrix products, whose transposed-operand path is a naive loop
 * 10-20x slower than an explicit transpose followed by the XNNPACK product, and whose batched fused
 * product adds its bias wrongly.
 */
export const WASM_WRAPPED_KERNELS: readonly string[] = ['BatchMatMul', '_FusedMatMul'];

const WRAPPER_FUNCS: Record<string, tf.KernelFunc> = Object.fromEntries(
  WASM_WRAPPED_KERNELS.map((name) => [name, explicitTransposeMatMul(name)]),
);

const KERNEL_FUNCS: Record<string, tf.KernelFunc> = {
  Conv2DBackpropFilter: conv2DBackpropFilterWasm,
  DepthwiseConv2dNativeBackpropFilter: depthwiseBackpropFilterWasm,
  DepthwiseConv2dNativeBackpropInput: depthwiseBackpropInputWasm,
  UnsortedSegmentSum: unsortedSegmentSumWasm,
  MaxPoolGrad: maxPoolGradWasm,
  MaxPoolWithArgmax: maxPoolWithArgmaxWasm,
  Conv2DBackpropInput: conv2DBackpropInputWasm,
  AvgPoolGrad: avgPoolGradWasm,
};

/**
 * Registers, for the `wasm` backend, the kernels it lacks and that training needs
 * ({@link WASM_COMPOSITE_KERNELS}; a kernel wasm already has is left as it is), and replaces the
 * wasm kernels that are wrong in tfjs-backend-wasm 4.22 ({@link WASM_REPLACED_KERNELS}).
 * Idempotent. Needs no wasm initialisation: it can be called before or after
 * `tf.setBackend('wasm')`.
 */
export function registerWasmGradientKernels(): void {
  for (const kernelName of WASM_COMPOSITE_KERNELS) {
    if (tf.getKernel(kernelName, 'wasm') != null) continue;
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: KERNEL_FUNCS[kernelName] as tf.KernelFunc });
  }
  for (const kernelName of WASM_REPLACED_KERNELS) {
    const kernelFunc = KERNEL_FUNCS[kernelName] as tf.KernelFunc;
    const current = tf.getKernel(kernelName, 'wasm');
    if (current?.kernelFunc === kernelFunc) continue;
    if (current != null) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
  }
  for (const kernelName of WASM_WRAPPED_KERNELS) {
    const kernelFunc = WRAPPER_FUNCS[kernelName] as tf.KernelFunc;
    const current = tf.getKernel(kernelName, 'wasm');
    if (current == null || current.kernelFunc === kernelFunc) continue;
    shippedKernels.set(kernelName, current);
    tf.unregisterKernel(kernelName, 'wasm');
    // The shipped setup (binding the wasm function) must still run when the backend initializes.
    const wrapped: tf.KernelConfig = { kernelName, backendName: 'wasm', kernelFunc };
    if (current.setupFunc != null) wrapped.setupFunc = current.setupFunc;
    tf.registerKernel(wrapped);
  }
}
