/**
 * `AvgPoolGrad` for wasm, replacing the shipped kernel (a slow direct loop, about 10x slower) by a
 * transposed depthwise convolution (`transposed.ts`).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Info, Pair, PadAttr, RoundingMode } from './scope';
import { shape4, withScope } from './scope';
import { depthwiseTransposed, transposedGeometry } from './transposed';

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
