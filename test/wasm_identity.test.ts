/**
 * The zero-copy `Identity` that `registerWasmGradientKernels` installs on wasm (`tf.clone` shares
 * the buffer, as on the cpu backend): values equal, either tensor disposable first with the other
 * still readable, gradients through clones unchanged (against the cpu backend), the buffer freed
 * with the last reference (wasm's byte count back to where it was), and a training step of a
 * model whose custom gradients clone, equal to the cpu backend's. This file switches backends
 * itself, like backend.test.ts. Also the wrapped `OneHot` (correct for every dtype).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { spectralDense } from '../src/layers/dense';
import { groupSort2 } from '../src/activations';
import { sequential } from '../src/model';
import * as tfl from '@tensorflow/tfjs-layers';
import { seededValues } from './helpers/backend';
import { useWasmForSuite } from './helpers/wasm_suite';

useWasmForSuite();

describe('Identity on wasm (tf.clone) shares the buffer', () => {
  it('is the zero-copy kernel: same values, each tensor disposable first, the buffer freed with the last one', async () => {
    await tf.setBackend('wasm');
    const buffersBefore = tf.memory().numDataBuffers;
    const values = seededValues(1000, 3);
    const x = tf.tensor(values, [10, 100]);
    expect(tf.memory().numDataBuffers).toBe(buffersBefore + 1);
    const y = tf.clone(x);
    // The same buffer (the shipped kernel allocated a second one and copied into it).
    expect(tf.memory().numDataBuffers).toBe(buffersBefore + 1);
    expect(Array.from(y.dataSync())).toEqual(Array.from(values));
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual(Array.from(values));
    const z = tf.clone(y);
    y.dispose();
    expect(Array.from(z.dataSync())).toEqual(Array.from(values));
    z.dispose();
    expect(tf.memory().numDataBuffers).toBe(buffersBefore);
    // The buffer itself is released: writing a new tensor of the same size reads its own values.
    const w = tf.tensor(seededValues(1000, 4), [10, 100]);
    expect(Array.from(w.dataSync())).toEqual(Array.from(seededValues(1000, 4)));
    w.dispose();
  });

  it('a clone then an op on the original: the clone keeps its values (no kernel writes into an input)', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor(seededValues(64, 5), [8, 8]);
    const c = tf.clone(x);
    const ops = [tf.relu(x), tf.add(x, 1), tf.mul(x, x), tf.transpose(x), tf.reshape(x, [64]), tf.matMul(x, x)];
    expect(Array.from(c.dataSync())).toEqual(Array.from(seededValues(64, 5)));
    tf.dispose([x, c, ...ops]);
  });

  it('a spectralDense + groupSort2 training step (custom gradients, clones) gives the cpu backend\'s gradients', async () => {
    const grads: Record<string, number[][]> = {};
    for (const backend of ['cpu', 'wasm']) {
      await tf.setBackend(backend);
      const model = sequential({
        layers: [
          spectralDense({ units: 8, inputShape: [6], kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }),
          groupSort2(),
          spectralDense({ units: 3, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }),
        ],
      });
      const x = tf.tensor(seededValues(30, 7), [5, 6]);
      const before = tf.memory().numTensors;
      const { grads: g } = tf.variableGrads(() => tf.sum(tf.square(model.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar);
      grads[backend] = Object.keys(g).sort().map((k) => Array.from(g[k]!.dataSync()));
      tf.dispose(Object.values(g));
      expect(tf.memory().numTensors).toBeLessThanOrEqual(before + 2);
      x.dispose();
      model.dispose();
    }
    grads.cpu!.forEach((g, i) => g.forEach((v, j) => expect(Math.abs(v - grads.wasm![i]![j]!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(v)))));
  });
});

describe('OneHot on wasm (wrapped: the shipped kernel writes int32 bits into a float32 output)', () => {
  it.each(['float32', 'int32'] as const)('tf.oneHot with dtype %p gives exact zeros and ones, like the cpu backend', async (dtype) => {
    const values: Record<string, number[]> = {};
    for (const backend of ['cpu', 'wasm']) {
      await tf.setBackend(backend);
      const hot = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 2, 1, 2], 'int32'), 3, 1, 0, dtype));
      expect(hot.dtype).toBe(dtype);
      values[backend] = Array.from(hot.dataSync());
      hot.dispose();
    }
    expect(values.wasm).toEqual([1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1]);
    expect(values.wasm).toEqual(values.cpu);
  });

  it('on- and off-values other than 1 and 0, in float32', async () => {
    await tf.setBackend('wasm');
    const hot = tf.oneHot(tf.tensor1d([1, 0], 'int32'), 2, 2.5, -0.5, 'float32');
    expect(Array.from(hot.dataSync())).toEqual([-0.5, 2.5, 2.5, -0.5]);
    hot.dispose();
  });
});
