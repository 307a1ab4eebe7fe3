/**
 * The pure tensor operations behind the sorting activations, on the last axis, with gradients on
 * cpu and wasm (only ops the wasm backend implements): tfjs has no `sort` op and no gradient for `topk`, so
 * the general group sort is a `customGrad` around `topk` whose backward pass routes each upstream
 * gradient back to the input entry it came from (an inverse permutation and a flat `gather`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { hasSortPairsKernel, registerSortPairsKernels, SORT_PAIRS } from '../backend/sort_pairs';

registerSortPairsKernels();

/**
 * Sorts each pair of adjacent entries `(x[2i], x[2i+1])` of the last axis into `(min, max)`
 * (GroupSort with groups of 2, the "MaxMin" of LNets). The last axis must have even size.
 *
 * On cpu and wasm this runs the `TfjsLipSortPairs` kernel (a JS loop, see
 * `backend/sort_pairs.ts`); elsewhere {@link sortPairsComposite}.
 */
export function sortPairs(x: tf.Tensor): tf.Tensor {
  if (hasSortPairsKernel()) return tf.engine().runKernel(SORT_PAIRS, { x }) as tf.Tensor;
  return sortPairsComposite(x);
}

/**
 * {@link sortPairs} from tfjs ops, for backends without the `TfjsLipSortPairs` kernel.
 *
 * Written for speed on wasm (where it was measured, before the kernel), where strided slices and concat cost about 10x more than the rest of
 * a small network, and `Minimum`/`Maximum` about 10x more than `Mul`: with the entries viewed as
 * rows `p = [a, b]` of a `[N, 2]` matrix, the partner `s = p J` (`J` the 2x2 swap) is a product
 * with a single 1 per column, the swap mask is `m = step((p - s) [1, -1])` (1 where the pair is out
 * of order), and `y = p (1 - m) + s m`. Every output is exactly one input (products by 0 or 1, sums
 * with one zero term; infinite inputs give NaN, as any product with 0 would). The gradient routes
 * each upstream entry back to its source: `dx = dy (1 - m) + (dy m) J`. Forward and backward on
 * wasm, against the earlier selection products / strided slices: 2x faster at 16 channels, 9x at
 * 256.
 */
export function sortPairsComposite(x: tf.Tensor): tf.Tensor {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor;
    const save = args[1] as tf.GradSaveFunc;
    const p = tf.reshape(input, [-1, 2]) as tf.Tensor2D;
    const swap = tf.tensor2d([0, 1, 1, 0], [2, 2]);
    const partner = tf.matMul(p, swap);
    const mask = tf.step(tf.mul(tf.sub(p, partner), tf.tensor1d([1, -1])));
    const sorted = tf.add(tf.mul(p, tf.sub(1, mask)), tf.mul(partner, mask));
    save([mask]);
    return {
      value: tf.reshape(sorted, input.shape),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const m = saved[0] as tf.Tensor2D;
        return tf.tidy(() => {
          const d = tf.reshape(dy, [-1, 2]) as tf.Tensor2D;
          const back = tf.matMul(tf.mul(d, m) as tf.Tensor2D, tf.tensor2d([0, 1, 1, 0], [2, 2]));
          return tf.reshape(tf.add(tf.mul(d, tf.sub(1, m)), back), dy.shape);
        });
      },
    };
  });
  return tf.tidy(() => op(x));
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
