/**
 * `Conv2DBackpropFilter` for wasm, which tfjs-backend-wasm 4.22 lacks. With the forward convolution
 * `y[b,i,j,o] = sum_{p,q,c} xpad[b, i*s + p*d, j*s + q*d, c] * w[p,q,c,o]`, the filter gradient is
 * `dw[p,q,c,o] = sum_{b,i,j} xpad[b, p*d + i*s, q*d + j*s, c] * dy[b,i,j,o]`: as many multiply-adds
 * as the forward convolution, in one XNNPACK product. XNNPACK packs one operand of a product (the
 * filter of a convolution, the right operand of `BatchMatMul`) before it runs, at about 5 ns per
 * value; the forward convolution packs a small filter, but here both operands are data as large
 * as `x` or `dy`, so packing costs as much as the product or more (the tutorial CNN's first layer
 * at batch 256: 15 ms of packing `dy` for a 3.6 ms product). Two forms, chosen from the shapes
 * ({@link chooseFilterGradMethod}):
 *
 * - `taps` (`filter_grad_taps.ts`): the tap matrix of `x` (written into the wasm heap by a few
 *   large copies) times `dy`, the right operand of a plain product; stride 1 only;
 * - `gradAsFilter`: a forward convolution of `x` transposed to `[c, h, w, b]` (channels as the
 *   batch, the batch as the channels) with `dy` transposed to `[i, j, b, o]` as the filter, stride
 *   `d` and dilation `s`; any geometry. Its filter goes through the convolution's slower packing
 *   (a transpose, then the packing), and both operands need a transpose.
 *
 * On the tutorial CNN's shapes at batch 256 (`bench/conv_grad_kernels.js`), taps is 1.6-1.8x
 * faster than gradAsFilter on 1 -> 16 channels (28x28) and 1.1-1.3x on 16 -> 32 (14x14).
 */
import * as tf from '@tensorflow/tfjs-core';
import { filterGradByTaps, tapsApply } from './filter_grad_taps';
import type { Info, PadAttr, RoundingMode, WasmScope } from './scope';
import { pair, shape4, withScope } from './scope';

/** The two forms of the filter gradient (see the file's comment). */
export type FilterGradMethod = 'taps' | 'gradAsFilter';

/**
 * Largest ratio of the tap matrix's size to `dy`'s (about `kh * kw * C / Co`) for which `taps` is
 * chosen. Measured against gradAsFilter (batch 128-256, 3x3 unless said): 1.8x faster at 0.56
 * (1 -> 16 channels), 1.3x at 2.25 (8 -> 32), 1.25x at 4.5 (16 -> 32), 1.03-1.25x at 9 (16 -> 16
 * on 28x28, 32 -> 32 on 14x14, 64 -> 64 on 7x7); slower at 12.5 (0.92x, 5x5, 16 -> 32) and 18
 * (0.96x, 32 -> 16), where writing the taps outweighs the cheaper packing; on 7x7 images at 4.5
 * (32 -> 64) 0.93-1.0x, within the noise of the shared machine.
 */
const MAX_TAPS_RATIO = 10;

/**
 * The faster form for the NHWC geometry `info`: `taps` at stride 1 when the output is no wider
 * than the input and the tap matrix is at most {@link MAX_TAPS_RATIO} times the size of `dy`,
 * else `gradAsFilter`.
 */
export function chooseFilterGradMethod(info: tf.backend_util.Conv2DInfo): FilterGradMethod {
  if (!tapsApply(info)) return 'gradAsFilter';
  const taps = info.filterHeight * info.filterWidth * info.inChannels * info.outHeight * info.inWidth;
  const dy = info.outHeight * info.outWidth * info.outChannels;
  return taps <= MAX_TAPS_RATIO * dy ? 'taps' : 'gradAsFilter';
}

/** Options of {@link conv2DBackpropFilterUsing}. */
export interface FilterGradOptions {
  /** The form to use (default: the one {@link chooseFilterGradMethod} picks). */
  method?: FilterGradMethod;
  /** For `taps`: most values of one chunk's tap matrix (default 2^23; tests use small ones). */
  maxTapValues?: number;
}

/**
 * `Conv2DBackpropFilter` for wasm with `options`: inputs `{x, dy}`, attrs `{strides, pad,
 * dataFormat, dimRoundingMode, filterShape}` and, if given, `dilations`. Returns `dw` of shape
 * `filterShape`. Throws for `taps` outside stride 1 or with an output wider than the input.
 */
export function conv2DBackpropFilterUsing(options: FilterGradOptions = {}): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const a = (attrs ?? {}) as Record<string, unknown>;
    const filterShape = shape4(a.filterShape as number[], 'filterShape');
    const channelsFirst = a.dataFormat === 'NCHW';
    const x = inputs.x as Info;
    const dy = inputs.dy as Info;
    let pad = a.pad as PadAttr;
    let xShape = shape4(x.shape, 'x');
    if (channelsFirst) {
      xShape = [xShape[0], xShape[2], xShape[3], xShape[1]];
      if (Array.isArray(pad)) pad = [pad[0], pad[2], pad[3], pad[1]] as tf.backend_util.ExplicitPadding;
    }
    const info = tf.backend_util.computeConv2DInfo(xShape, filterShape, pair(a.strides, 1),
      pair(a.dilations, 1), pad, a.dimRoundingMode as RoundingMode);
    const chosen = options.method ?? chooseFilterGradMethod(info);
    if (chosen === 'taps' && !tapsApply(info)) {
      throw new Error('tfjs-lip wasm Conv2DBackpropFilter: the taps form needs stride 1 and an output no wider than the input.');
    }
    return withScope(backend, (ops) => {
      const dyNhwc = channelsFirst ? ops.transpose(dy, [0, 2, 3, 1]) : dy;
      if (chosen === 'taps') {
        // Channel planes [C, B, H, W] (with one channel, x itself in either format).
        const planes = info.inChannels === 1
          ? ops.reshape(x, [1, info.batchSize, info.inHeight, info.inWidth])
          : ops.transpose(x, channelsFirst ? [1, 0, 2, 3] : [3, 0, 1, 2]);
        return filterGradByTaps(ops, backend, planes, dyNhwc, info, options.maxTapValues);
      }
      return byGradAsFilter(ops, channelsFirst ? ops.transpose(x, [0, 2, 3, 1]) : x, dyNhwc, info);
    });
  };
}

/** `Conv2DBackpropFilter` for wasm, in the form {@link chooseFilterGradMethod} picks. */
export const conv2DBackpropFilterWasm: tf.KernelFunc = conv2DBackpropFilterUsing();

/**
 * `gradAsFilter`: `dw` as a convolution of `xpad` transposed to `[c, h, w, b]` (channels as the
 * batch, the batch as the channels) with `dy` transposed to `[i, j, b, o]` as the filter, stride
 * `d` and dilation `s`. Packs `dy`.
 */
function byGradAsFilter(ops: WasmScope, x: Info, dy: Info, info: tf.backend_util.Conv2DInfo): Info {
  const { inHeight: inH, inWidth: inW, filterHeight: kh, filterWidth: kw } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
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
}
