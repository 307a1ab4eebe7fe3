/**
 * `MaxPoolGrad` for wasm, replacing the shipped 4.22 kernel, which picks a wrong maximum in windows
 * of values `<= 0` (`max_pool_window.ts`): a plain loop over the wasm heap.
 */
import * as tf from '@tensorflow/tfjs-core';
import { heapBackend } from './heap';
import { forEachWindowMax, poolInfo } from './max_pool_window';

type Info = tf.TensorInfo;

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
