/**
 * Runs before every test file: picks the backend named by TFJS_LIP_TEST_BACKEND (`cpu` by
 * default, or `wasm`, which gets tfjs-lip's gradient kernels registered).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';

const wanted = process.env.TFJS_LIP_TEST_BACKEND ?? 'cpu';

beforeAll(async () => {
  if (wanted === 'wasm') {
    // Registers the kernels wasm lacks (Conv2DBackpropFilter, depthwise backprops).
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const backend = require('../src/backend') as { registerWasmGradientKernels?: () => void };
    backend.registerWasmGradientKernels?.();
  }
  await tf.setBackend(wanted);
  await tf.ready();
  // The cpu backend's one-time "install tfjs-node" advice would repeat in every test file.
  const cpu = tf.findBackend('cpu') as unknown as { firstUse?: boolean } | null;
  if (cpu != null) cpu.firstUse = false;
});
