/**
 * `MaxPoolWithArgmax` for wasm, replacing the shipped 4.22 kernel, which picks a wrong maximum in
 * windows of values `<= 0` (`max_pool_window.ts`): a plain loop over the wasm heap.
 */
import * as tf from '@tensorflow/tfjs-core';
import { heapBackend } from './heap';
import { forEachWindowMax } from './max_pool_window';
import type { Info, Pair, PadAttr } from './scope';
import { shape4 } from './scope';

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
