/**
 * `DepthwiseConv2dNativeBackpropFilter` for wasm, which tfjs-backend-wasm 4.22 lacks: the identity
 * of `conv2d_backprop_filter.ts`, where the depthwise channel `c` and the batch `b` are folded
 * together into the channels of a depthwise convolution, and the batch is summed out afterwards.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Info, PadAttr, RoundingMode } from './scope';
import { pair, shape4, withScope } from './scope';

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
