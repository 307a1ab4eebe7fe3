/**
 * `Conv2DBackpropInput` for wasm, replacing the shipped kernel (a direct loop): an XNNPACK
 * convolution of the upsampled `dy` with the flipped, transposed filter (`transposed.ts`).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Info, PadAttr, RoundingMode } from './scope';
import { pair, shape4, withScope } from './scope';
import { transposedGeometry, upsampleAndPad } from './transposed';

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
