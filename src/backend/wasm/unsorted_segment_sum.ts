/**
 * `UnsortedSegmentSum` for wasm (the gradient of `tf.gather`), which tfjs-backend-wasm 4.22 lacks:
 * a one-hot matrix product.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Info } from './scope';
import { withScope } from './scope';

/**
 * `UnsortedSegmentSum` for wasm (the gradient of `tf.gather`): inputs `{x, segmentIds}`, attrs
 * `{numSegments}`. `out[k, ...] = sum over positions n with segmentIds[n] = k of x[n, ...]`,
 * computed as `oneHot(segmentIds)^T @ x`; ids outside `[0, numSegments)` are dropped.
 */
export const unsortedSegmentSumWasm: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const a = (attrs ?? {}) as Record<string, unknown>;
  const numSegments = a.numSegments as number;
  return withScope(backend, (ops) => {
    const x = inputs.x as Info;
    const ids = inputs.segmentIds as Info;
    const n = ids.shape.reduce((p, q) => p * q, 1);
    const inner = x.shape.slice(ids.shape.length);
    const innerSize = inner.reduce((p, q) => p * q, 1);
    const ids1 = ops.reshape(ids.dtype === 'int32' ? ids : ops.run('Cast', { x: ids }, { dtype: 'int32' }), [n]);
    // The wasm OneHot writes int32 whatever dtype it is asked for: ask for int32 and cast.
    const oneHot = ops.run('Cast', {
      x: ops.run('OneHot', { indices: ids1 }, { depth: numSegments, onValue: 1, offValue: 0, dtype: 'int32' }),
    }, { dtype: 'float32' });
    const xf = x.dtype === 'float32' ? x : ops.run('Cast', { x }, { dtype: 'float32' });
    const prod = ops.run('BatchMatMul', {
      a: ops.transpose(oneHot, [1, 0]),
      b: ops.reshape(xf, [n, innerSize]),
    }, { transposeA: false, transposeB: false });
    const out = ops.reshape(prod, [numSegments, ...inner]);
    return x.dtype === 'float32' ? out : ops.run('Cast', { x: out }, { dtype: x.dtype });
  });
};
