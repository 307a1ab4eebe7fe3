/**
 * `Conv2DBackpropFilter` for wasm, which tfjs-backend-wasm 4.22 lacks, as a forward convolution
 * (XNNPACK). With the forward convolution
 * `y[b,i,j,o] = sum_{p,q,c} xpad[b, i*s + p*d, j*s + q*d, c] * w[p,q,c,o]`, the filter gradient
 * `dw[p,q,c,o] = sum_{b,i,j} xpad[b, p*d + i*s, q*d + j*s, c] * dy[b,i,j,o]` is itself a
 * convolution of `xpad` transposed to `[c, h, w, b]` (channels as the batch, the batch as the
 * channels) with `dy` transposed to `[i, j, b, o]` as the filter, stride `d` and dilation `s`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Info, PadAttr, RoundingMode } from './scope';
import { pair, shape4, withScope } from './scope';

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
