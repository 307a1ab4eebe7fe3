/**
 * `DepthwiseConv2dNativeBackpropInput` for wasm, which tfjs-backend-wasm 4.22 lacks: a stride-1
 * depthwise convolution of the upsampled `dy` with the flipped filter (`transposed.ts`), the
 * channel multiplier `M` summed out afterwards.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Info, PadAttr, RoundingMode } from './scope';
import { pair, shape4, withScope } from './scope';
import { depthwiseTransposed, transposedGeometry } from './transposed';

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
