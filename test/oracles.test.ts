import * as tf from '@tensorflow/tfjs-core';
import { singularValues, impulseResponseMatrix } from './helpers/oracles';
test('oracle', () => {
  const s = singularValues([[3, 0], [0, 4], [0, 0]]);
  expect(s[0]).toBeCloseTo(4, 10); expect(s[1]).toBeCloseTo(3, 10);
  const w = tf.tensor2d([[1, 2], [3, 4]]);
  const m = impulseResponseMatrix((x) => tf.matMul(x, w), [2]);
  expect(m).toEqual([[1, 3], [2, 4]]);
});
