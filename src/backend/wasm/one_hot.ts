/**
 * A wrapper of the shipped wasm `OneHot`, which in tfjs-backend-wasm 4.22 ignores the requested
 * dtype when it writes: `tf.oneHot(indices, depth, 1, 0, 'float32')` gets a float32 tensor holding
 * the int32 bit patterns (1 reads as 1.4e-45), silently. The shipped kernel still does the work, as
 * an int32 0/1 pattern (what it writes correctly), and a loop over the wasm heap writes `onValue`
 * and `offValue` in the requested dtype.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { heapBackend } from './heap';
import type { Info } from './scope';
import { shippedKernel } from './shipped';

/** `OneHot` for wasm, correct for every dtype (see the module comment). */
export const oneHotWasm: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const shipped = shippedKernel('OneHot');
  const a = (attrs ?? {}) as { dtype?: tf.DataType; onValue?: number; offValue?: number };
  const dtype = a.dtype ?? 'int32';
  if (dtype === 'int32') return shipped.kernelFunc({ inputs, backend, attrs });
  const pattern = shipped.kernelFunc({ inputs, backend, attrs: { ...attrs, dtype: 'int32', onValue: 1, offValue: 0 } }) as Info;
  const heap = heapBackend(backend);
  try {
    const out = heap.makeOutput(pattern.shape, dtype);
    // Views after the allocation, which may grow (and move) the wasm heap.
    const bits = heap.typedArrayFromHeap(pattern);
    const values = heap.typedArrayFromHeap(out);
    const on = a.onValue ?? 1;
    const off = a.offValue ?? 0;
    for (let i = 0; i < bits.length; i++) values[i] = bits[i] === 1 ? on : off;
    return out;
  } finally {
    (backend as tf.KernelBackend).disposeData(pattern.dataId);
  }
};
