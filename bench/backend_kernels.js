/**
 * Time of one training step of a small CNN on the wasm backend (with tfjs-lip's gradient kernels)
 * versus the pure-JS cpu backend.
 *
 *   npm run build && node bench/backend_kernels.js [--cpu-steps 3] [--wasm-steps 10]
 *
 * Model: conv(1->16, 3x3, same) - relu - avgPool 2 - conv(16->32, 3x3, same) - relu - flatten -
 * dense(10), softmax cross-entropy, SGD; batch 64 of 28x28x1. One step = `model.trainOnBatch`
 * (forward, backward, update, loss read back). Prints the median step time per backend.
 */
'use strict';
const tf = require('@tensorflow/tfjs-core');
const tfl = require('@tensorflow/tfjs-layers');
require('@tensorflow/tfjs-backend-cpu');
require('@tensorflow/tfjs-backend-wasm');
const { registerWasmGradientKernels, describeBackend } = require('../dist/backend');

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

function buildModel() {
  const model = tfl.sequential();
  model.add(tfl.layers.conv2d({ inputShape: [28, 28, 1], filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }));
  model.add(tfl.layers.averagePooling2d({ poolSize: 2 }));
  model.add(tfl.layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }));
  model.add(tfl.layers.flatten());
  model.add(tfl.layers.dense({ units: 10, kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) }));
  model.compile({ optimizer: tf.train.sgd(0.01), loss: 'categoricalCrossentropy' });
  return model;
}

async function timeSteps(backend, steps) {
  await tf.setBackend(backend);
  await tf.ready();
  const model = buildModel();
  const x = tf.randomUniform([64, 28, 28, 1], 0, 1, 'float32', 7);
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.randomUniform([64], 0, 10, 'int32', 8), 10), 'float32'));
  await model.trainOnBatch(x, y); // warm-up (kernel setup, XNNPACK operators)
  const times = [];
  let loss = NaN;
  for (let i = 0; i < steps; i++) {
    const t0 = process.hrtime.bigint();
    loss = await model.trainOnBatch(x, y);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  const info = describeBackend();
  tf.dispose([x, y]);
  model.dispose();
  return { backend, info, steps, median_ms: median, min_ms: times[0], loss };
}

(async () => {
  registerWasmGradientKernels();
  const wasm = await timeSteps('wasm', arg('--wasm-steps', 10));
  const cpu = await timeSteps('cpu', arg('--cpu-steps', 3));
  for (const r of [wasm, cpu]) {
    console.log(`${r.backend.padEnd(5)} median ${r.median_ms.toFixed(1)} ms/step (min ${r.min_ms.toFixed(1)}, ${r.steps} steps) ${JSON.stringify(r.info)}`);
  }
  console.log(`speed-up wasm vs cpu: ${(cpu.median_ms / wasm.median_ms).toFixed(1)}x`);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
