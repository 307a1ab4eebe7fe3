/** Backend switching for the suites that run on wasm whatever TFJS_LIP_TEST_BACKEND says. */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmGradientKernels } from '../../src/backend';

/**
 * For a suite that switches backends itself: wasm with tfjs-lip's kernels for the suite
 * (`beforeAll`), the backend it found restored afterwards (`afterAll`).
 */
export function useWasmForSuite(): void {
  let previousBackend = 'cpu';
  beforeAll(async () => {
    previousBackend = tf.getBackend();
    registerWasmGradientKernels();
    await tf.setBackend('wasm');
    await tf.ready();
  });
  afterAll(async () => {
    await tf.setBackend(previousBackend);
  });
}
