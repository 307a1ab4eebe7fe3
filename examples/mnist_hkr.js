/**
 * Certifiably robust MNIST classifier with tfjs-lip (plain JavaScript, CommonJS).
 *
 * Trains a 1-Lipschitz MLP (SpectralDense + GroupSort2) with the multiclass
 * hinge-Kantorovich-Rubinstein loss, then reports the clean accuracy and the certified (provable)
 * accuracy at L2 radii 0.1, 0.3 and 0.5 on the test set, plus the mean certified radius. Data: the
 * 8,000 / 2,000 digits embedded in the `mnist` package, or an IDX folder given with --data (full
 * MNIST or Fashion-MNIST). Backend: the fastest available (wasm here) unless --backend says.
 *
 *   npm run build && node examples/mnist_hkr.js
 *   node examples/mnist_hkr.js --data ../shared/data/mnist --epochs 3
 *   node examples/mnist_hkr.js --backend cpu          (or TFJS_BACKEND=cpu; EPOCHS=5 still works)
 */
'use strict';

const tf = require('@tensorflow/tfjs');
const lip = require('../dist');
const { parseCli, setupBackend, loadData } = require('./lib/cli');

const cli = parseCli({
  script: 'examples/mnist_hkr.js',
  description: 'Trains a 1-Lipschitz MLP with multiclassHKR and prints clean and certified accuracies as JSON.',
  options: {
    epochs: { type: 'string', number: true, integer: true, default: 10, env: ['EPOCHS'], help: 'training epochs' },
  },
});

async function main() {
  const backendDescription = await setupBackend(lip, cli.backend);
  const backend = tf.getBackend();
  console.log(`backend: ${backendDescription}`);
  const epochs = cli.epochs;

  const { data, description } = await loadData(lip, cli.data); // xTrain [n, 784] in [0, 1], one-hot yTrain
  console.log(`data: ${description}`);
  const model = lip.sequential({
    layers: [
      lip.layers.spectralDense({ units: 128, inputShape: [data.xTrain.shape[1]] }),
      lip.activations.groupSort2(),
      lip.layers.spectralDense({ units: 64 }),
      lip.activations.groupSort2(),
      lip.layers.spectralDense({ units: 10 }),
    ],
  });
  const certAcc = (epsilon) =>
    lip.metrics.categoricalProvableRobustAccuracy({ epsilon, disjointNeurons: false, name: `cert_acc_${epsilon}` });
  model.compile({
    optimizer: tf.train.adam(1e-3),
    loss: lip.losses.multiclassHKR({ alpha: 50, minMargin: 1 }),
    metrics: ['accuracy', certAcc(0.1)],
  });

  const start = Date.now();
  await model.fit(data.xTrain, data.yTrain, {
    epochs,
    batchSize: 128,
    shuffle: true,
    verbose: 0,
    callbacks: {
      onEpochEnd: async (epoch, logs) =>
        console.log(`epoch ${epoch + 1}/${epochs}  loss ${logs.loss.toFixed(4)}  acc ${logs.acc.toFixed(4)}  cert_acc_0.1 ${logs['cert_acc_0.1'].toFixed(4)}`),
    },
  });
  const seconds = (Date.now() - start) / 1000;

  // Evaluation on the test split. lipschitzBound(model) certifies the constant: about 1 here.
  const bound = lip.lipschitzBound(model);
  const logits = model.predict(data.xTest, { batchSize: 500 });
  const clean = tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(data.yTest, 1)), 'float32')).dataSync()[0]);
  const results = { backend, data: cli.data ?? 'embedded', epochs, trainSeconds: Number(seconds.toFixed(1)), lipschitzBound: bound, cleanAccuracy: clean };
  for (const eps of [0.1, 0.3, 0.5]) {
    // lipConst: the certified bound of the trained model (about 1).
    const metric = lip.metrics.categoricalProvableRobustAccuracy({ epsilon: eps, lipConst: bound, disjointNeurons: false });
    results[`certifiedAccuracy@${eps}`] = tf.tidy(() => metric(data.yTest, logits).dataSync()[0]);
  }
  const radii = lip.certify(model, data.xTest); // per-sample radius of the predicted class
  results.meanCertifiedRadius = radii.reduce((s, r) => s + r, 0) / radii.length;
  console.log(JSON.stringify(results, null, 2));
  tf.dispose([logits]);
  data.dispose();
  model.dispose();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
