/**
 * The pure tensor operations behind the sorting activations, on the last axis, with gradients on
 * cpu and wasm (only ops the wasm backend implements): tfjs has no `sort` op and no gradient for `topk`, so
 * the general group sort is a `customGrad` around `topk` whose backward pass routes each upstream
 * gradient back to the input entry it came from (an inverse permutation and a flat `gather`).
 */
import * as tf from '@tensorflow/tfjs-core';

/** Largest channel count for which `sortPairs` uses selection products (see there). */
const PAIR_SELECTOR_MAX_CHANNELS = 64;

/**
 * 0/1 matrix `[n, n/2]` selecting the entries `2i + offset` of a row of `n` (column `i`), or its
 * transpose `[n/2, n]` (built directly: transposed products are slow on wasm).
 */
function pairSelector(n: number, offset: 0 | 1, transposed: boolean): tf.Tensor2D {
  const half = n / 2;
  const values = new Float32Array(n * half);
  for (let i = 0; i < half; i++) values[transposed ? i * n + 2 * i + offset : (2 * i + offset) * half + i] = 1;
  return tf.tensor2d(values, transposed ? [half, n] : [n, half]);
}

/**
 * Sorts each pair of adjacent entries `(x[2i], x[2i+1])` of the last axis into `(min, max)`
 * (GroupSort with groups of 2, the "MaxMin" of LNets), with `tf.minimum` / `tf.maximum`.
 * The last axis must have even size.
 *
 * The pairs are separated and re-interleaved by products with 0/1 selection matrices rather than
 * strided slices and a concat: a product with a 0/1 matrix whose columns have a single 1 is exact
 * in floating point, and it keeps every op contiguous (strided slices, SplitV and Concat cost
 * about 10x more than the convolutions of a small CNN on wasm). The products cost O(n) per
 * entry, so above `PAIR_SELECTOR_MAX_CHANNELS` channels the strided slices are cheaper again
 * (measured on wasm, forward + backward: 16 channels 3.3x faster, 64 channels 1.3x, 128 channels
 * 1.2x slower).
 */
export function sortPairs(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const n = x.shape[x.shape.length - 1]!;
    if (n > PAIR_SELECTOR_MAX_CHANNELS) {
      const pairs = tf.reshape(x, [-1, 2]);
      const a = tf.slice(pairs, [0, 0], [-1, 1]);
      const b = tf.slice(pairs, [0, 1], [-1, 1]);
      return tf.reshape(tf.concat([tf.minimum(a, b), tf.maximum(a, b)], 1), x.shape);
    }
    const rows = tf.reshape(x, [-1, n]) as tf.Tensor2D;
    const first = tf.matMul(rows, pairSelector(n, 0, false));
    const second = tf.matMul(rows, pairSelector(n, 1, false));
    const sorted = tf.add(
      tf.matMul(tf.minimum(first, second), pairSelector(n, 0, true)),
      tf.matMul(tf.maximum(first, second), pairSelector(n, 1, true)),
    );
    return tf.reshape(sorted, x.shape);
  });
}

/**
 * Sorts each group of `groupSize` contiguous entries of the last axis in ascending order
 * (DEEL-LIP's `tf.sort` on the reshaped last axis). The gradient is the permutation's transpose:
 * `dx[j] = dy[i]` where output `i` came from input `j`.
 */
export function sortGroups(x: tf.Tensor, groupSize: number): tf.Tensor {
  if (groupSize === 1) return tf.clone(x);
  if (groupSize === 2) return sortPairs(x);
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    const rows = tf.reshape(input, [-1, groupSize]);
    // topk sorts in descending order: reverse both values and source indices.
    const { values, indices } = tf.topk(rows, groupSize, true);
    const ascending = tf.reverse(values, 1);
    const sources = tf.reverse(indices, 1);
    save([sources]);
    return {
      value: tf.reshape(ascending, input.shape),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const src = saved[0] as tf.Tensor2D;
        const n = src.shape[0];
        // inverse[r, j] = i such that src[r, i] = j: ranks of src, by sorting -src descending.
        const inverse = tf.topk(tf.neg(tf.cast(src, 'float32')), groupSize, true).indices;
        const offsets = tf.mul(tf.expandDims(tf.range(0, n, 1, 'int32'), 1), tf.scalar(groupSize, 'int32'));
        const flatIndices = tf.reshape(tf.add(inverse, offsets), [-1]);
        const dx = tf.gather(tf.reshape(dy, [-1]), flatIndices);
        return tf.reshape(dx, input.shape);
      },
    };
  });
  return op(x);
}

/**
 * Maximum of each group of `groupSize` contiguous entries of the last axis (LNets' MaxOut): the
 * last axis shrinks from `C` to `C / groupSize`.
 */
export function maxOverGroups(x: tf.Tensor, groupSize: number): tf.Tensor {
  return tf.tidy(() => {
    const channels = x.shape[x.rank - 1] as number;
    const rows = tf.reshape(x, [-1, groupSize]);
    const maxima = tf.max(rows, 1);
    return tf.reshape(maxima, [...x.shape.slice(0, -1), channels / groupSize]);
  });
}
