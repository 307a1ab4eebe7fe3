/**
 * Wasserstein-1 estimation with known answers (LNets' dual-network experiments), with tfjs-lip.
 *
 * For each task of lip.tasks.wasserstein (absolute value in 1-D, three cones in 2-D, a cone in
 * --dim dimensions), trains four architectures to maximize E_p1 f - E_p2 f with
 * lip.tasks.wasserstein.trainDual and prints a markdown table of estimate / exact W1:
 * Björck + GroupSort2 (spectralDense, Björck by default, with lip.activations.groupSort2),
 * Björck + ReLU, spectral normalization only (orthogonalizer 'none') + GroupSort2, and an
 * unconstrained tf.layers.dense + ReLU network (no bound: its ratio exceeds 1). A 1-Lipschitz
 * network's ratio is at most 1 up to sampling noise; the closer to 1, the more expressive.
 *
 *   npm run build && node examples/wasserstein_tasks.js
 *   node examples/wasserstein_tasks.js --steps 1500 --width 16 --depth 6 --dim 32
 *   node examples/wasserstein_tasks.js --backend cpu          (or TFJS_BACKEND=cpu)
 */
'use strict';

const tf = require('@tensorflow/tfjs');
const lip = require('../dist');
const { parseCli, setupBackend } = require('./lib/cli');

const cli = parseCli({
  script: 'examples/wasserstein_tasks.js',
  description: 'Trains four architectures on each Wasserstein task and prints estimate / exact W1 as a markdown table.',
  options: {
    steps: { type: 'string', number: true, integer: true, default: 1000, env: ['STEPS'], help: 'training steps per run' },
    width: { type: 'string', number: true, integer: true, default: 16, help: 'units per hidden layer (even, for GroupSort2)' },
    depth: { type: 'string', number: true, integer: true, default: 6, help: 'hidden layers' },
    dim: { type: 'string', number: true, integer: true, default: 16, help: 'dimension of the high-dimensional cone' },
    seed: { type: 'string', number: true, integer: true, default: 1, help: 'seed of the batches and of the initial weights' },
  },
});

const ARCHITECTURES = [
  { key: 'bjorck_groupsort2', title: 'Björck + GroupSort2' },
  { key: 'bjorck_relu', title: 'Björck + ReLU' },
  { key: 'spectral_groupsort2', title: 'spectral only + GroupSort2' },
  { key: 'dense_relu', title: 'unconstrained dense + ReLU' },
];

/** A dual network `dim -> width x depth -> 1` of the given architecture. */
function dualNetwork(key, dim, { width, depth, seed }) {
  const layers = [];
  const lipschitz = key !== 'dense_relu';
  const orthogonalizer = key === 'spectral_groupsort2' ? 'none' : 'bjorck';
  for (let i = 0; i < depth; i++) {
    const shape = i === 0 ? { inputShape: [dim] } : {};
    const kernelInitializer = lipschitz
      ? lip.initializers.spectral({ baseInitializer: tf.initializers.randomNormal({ mean: 0, stddev: 1, seed: seed * 101 + i }) })
      : tf.initializers.glorotUniform({ seed: seed * 101 + i });
    if (!lipschitz) {
      layers.push(tf.layers.dense({ units: width, activation: 'relu', kernelInitializer, ...shape }));
      continue;
    }
    layers.push(lip.layers.spectralDense({ units: width, orthogonalizer, kernelInitializer, ...shape }));
    layers.push(key === 'bjorck_relu' ? tf.layers.activation({ activation: 'relu' }) : lip.activations.groupSort2());
  }
  const last = { units: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: seed * 101 + depth }) };
  layers.push(lipschitz ? lip.layers.spectralDense({ ...last, orthogonalizer }) : tf.layers.dense(last));
  return tf.sequential({ layers });
}

async function main() {
  const backendDescription = await setupBackend(lip, cli.backend);
  console.log(`backend: ${backendDescription}`);
  const W = lip.tasks.wasserstein;
  const tasks = [
    { title: 'absolute value (1-D)', pair: W.absoluteValue() },
    { title: 'three cones (2-D)', pair: W.threeCones() },
    { title: `high-dimensional cone (${cli.dim}-D)`, pair: W.highDimensionalCone({ dim: cli.dim }) },
  ];
  const options = { steps: cli.steps, batchSize: 64, learningRate: 0.01, seed: cli.seed };
  console.log(`steps ${cli.steps}, batch 64 + 64, Adam 0.01, width ${cli.width}, depth ${cli.depth}, seed ${cli.seed}\n`);
  const table = [];
  for (const task of tasks) {
    const row = [];
    for (const arch of ARCHITECTURES) {
      const model = dualNetwork(arch.key, task.pair.dim, { width: cli.width, depth: cli.depth, seed: cli.seed });
      const start = Date.now();
      const { estimate } = W.trainDual(model, task.pair, options);
      model.dispose();
      row.push(estimate / task.pair.w1);
      console.error(`${task.title}, ${arch.title}: ${estimate.toFixed(4)} / ${task.pair.w1} (${((Date.now() - start) / 1000).toFixed(1)} s)`);
    }
    table.push({ title: task.title, w1: task.pair.w1, row });
  }
  console.log(`| task | exact W1 | ${ARCHITECTURES.map((a) => a.title).join(' | ')} |`);
  console.log(`|---|---|${ARCHITECTURES.map(() => '---').join('|')}|`);
  for (const { title, w1, row } of table) {
    console.log(`| ${title} | ${w1} | ${row.map((r) => r.toFixed(3)).join(' | ')} |`);
  }
  console.log('\nentries: estimate / exact W1 (E_p1 f - E_p2 f on 4096 fresh samples of each, after training)');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
