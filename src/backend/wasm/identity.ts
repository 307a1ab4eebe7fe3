/**
 * `Identity` (what `tf.clone` runs) for wasm without the copy: the shipped kernel copies the whole
 * buffer, which costs about 20 ms per training step of the tutorial CNN at batch 256 (137 calls,
 * mostly the clones of custom gradients); the cpu backend shares the buffer instead, as this
 * does. Sharing is safe because no kernel writes into its inputs: every wasm kernel, and every
 * tfjs-lip JS kernel, writes only into the outputs it allocates. The backend counts the
 * references, as for `Reshape`, and frees the buffer when the last tensor on it is disposed.
 */
import type * as tf from '@tensorflow/tfjs-core';

/** The part of the wasm backend that reference counting uses. */
interface RefCountingBackend {
  incRef(dataId: tf.DataId): void;
}

/** Zero-copy `Identity` for wasm: the output is the input's buffer with one more reference. */
export const identityWasm: tf.KernelFunc = ({ inputs, backend }) => {
  const x = inputs.x as tf.TensorInfo;
  (backend as unknown as RefCountingBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};
