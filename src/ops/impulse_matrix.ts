/**
 * The matrix of a linear map of tensors, read from its impulse responses: column `j` is the image
 * of the basis vector `e_j`, computed in chunks of basis vectors at once. Used by the exact layer
 * singular values (`evaluation/layer_sv.ts`) and by the local Lipschitz bound's certificate
 * (`local/masked_operator.ts`).
 */
import * as tf from '@tensorflow/tfjs-core';

/** A row-major matrix in float64: `values[r * cols + c]`, rows = outputs, columns = inputs. */
export interface ImpulseMatrix {
  values: Float64Array;
  rows: number;
  cols: number;
}

/**
 * The matrix of the linear map `f` on inputs of shape `inputShape` (without the batch axis): `f`
 * receives batches of basis vectors `[count, ...inputShape]`, `chunk` at a time, and may return any
 * shape with the batch axis first. The basis is built in int32 and cast: tfjs-backend-wasm 4.22's
 * `OneHot` writes int32 bit patterns into a float32 output (`registerWasmGradientKernels` fixes
 * it, but a caller need not have registered it).
 */
export function impulseMatrix(f: (basis: tf.Tensor) => tf.Tensor, inputShape: number[], chunk = 256): ImpulseMatrix {
  const cols = inputShape.reduce((p, d) => p * d, 1);
  let rows = -1;
  let values = new Float64Array(0);
  for (let start = 0; start < cols; start += chunk) {
    const count = Math.min(chunk, cols - start);
    const block = tf.tidy(() => {
      const basis = tf.cast(tf.oneHot(tf.range(start, start + count, 1, 'int32') as tf.Tensor1D, cols), 'float32');
      return tf.reshape(f(tf.reshape(basis, [count, ...inputShape])), [count, -1]);
    });
    if (rows < 0) {
      rows = block.shape[1] as number;
      values = new Float64Array(rows * cols);
    }
    const data = block.dataSync();
    block.dispose();
    for (let c = 0; c < count; c++) {
      for (let r = 0; r < rows; r++) values[r * cols + start + c] = data[c * rows + r]!;
    }
  }
  return { values, rows, cols };
}
