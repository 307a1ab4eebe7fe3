/** Direct access to the wasm heap, for the JS-loop kernels (max pooling, `TfjsLipSortPairs`). */
import type * as tf from '@tensorflow/tfjs-core';

type Info = tf.TensorInfo;

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
