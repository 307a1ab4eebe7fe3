/**
 * A/B of two builds of tfjs-lip in one process: the README MLP (784-256-128-10 spectralDense +
 * relu, batch 128) or CNN (spectralConv2d 16/32 + scaledL2NormPooling2d, batch 64) train step,
 * the two models timed alternately (order flipped each round, 3 warm-up rounds, median of 30), so
 * that machine load hits both alike. For checking a refactor against the commit before it:
 *
 *   git worktree add /tmp/before <commit> && (cd /tmp/before && ln -s $PWD/node_modules . && npm run build)
 *   node bench/ab_builds.js /tmp/before/dist ./dist mlp [--batch N] [--kernels]
 *
 * The wasm kernels are registered globally, once: by default both models run on B's kernels, so
 * the figure compares the layers alone. `--kernels` also swaps, before every timed call, the
 * kernels that differ between the builds (each build's `Conv2DBackpropFilter`, and `Identity`:
 * B's zero-copy one, or the shipped one when A has none), so that kernel changes are timed too.
 */
const path = require('path');
const tf = require('@tensorflow/tfjs');
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const [distA, distB, kindArg] = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1] === '--batch'));
if (!distA || !distB) {
  console.error('usage: node bench/ab_builds.js <dist A> <dist B> [mlp|cnn]');
  process.exit(2);
}
const versions = { old: require(path.resolve(distA)), new: require(path.resolve(distB)) };
const kind = kindArg || 'mlp';
/** The kernels that differ between the builds, per build (see the module comment). */
function kernelSets(shippedIdentity) {
  const pick = (dist) => {
    const k = require(path.join(path.resolve(dist), 'backend', 'wasm_kernels'));
    return { Conv2DBackpropFilter: k.conv2DBackpropFilterWasm, Identity: k.identityWasm ?? shippedIdentity.kernelFunc };
  };
  return { old: pick(distA), new: pick(distB) };
}

function useKernels(set) {
  for (const [kernelName, kernelFunc] of Object.entries(set)) {
    if (tf.getKernel(kernelName, 'wasm')?.kernelFunc === kernelFunc) continue;
    tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
  }
}

async function main() {
  require('@tensorflow/tfjs-backend-wasm');
  const shippedIdentity = tf.getKernel('Identity', 'wasm');
  await versions.new.backend.useFastest();
  const sets = flag('--kernels') ? kernelSets(shippedIdentity) : null;
  console.log('backend', tf.getBackend());
  const models = {};
  for (const [name, lip] of Object.entries(versions)) {
    let layers;
    if (kind === 'mlp') layers = [lip.layers.spectralDense({ units: 256, inputShape: [784], activation: 'relu' }), lip.layers.spectralDense({ units: 128, activation: 'relu' }), lip.layers.spectralDense({ units: 10 })];
    else layers = [lip.layers.spectralConv2d({ filters: 16, kernelSize: 3, padding: 'same', inputShape: [28, 28, 1], activation: 'relu' }), lip.layers.scaledL2NormPooling2d({ poolSize: 2 }), lip.layers.spectralConv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' }), tf.layers.flatten(), lip.layers.spectralDense({ units: 10 })];
    const m = tf.sequential({ layers });
    m.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
    models[name] = m;
  }
  const n = option('--batch', kind === 'mlp' ? 128 : 64);
  const x = tf.randomNormal(kind === 'mlp' ? [n, 784] : [n, 28, 28, 1]);
  const y = tf.oneHot(tf.randomUniform([n], 0, 10, 'int32'), 10);
  const times = { old: [], new: [] };
  const order = ['old', 'new'];
  for (let r = 0; r < 33; r++) {
    for (const name of (r % 2 ? order : [...order].reverse())) {
      if (sets) useKernels(sets[name]);
      const t0 = performance.now();
      await models[name].trainOnBatch(x, y);
      if (r >= 3) times[name].push(performance.now() - t0);
    }
  }
  const med = (a) => { const s = [...a].sort((p, q) => p - q); return s[Math.floor(s.length / 2)]; };
  console.log(kind, `batch ${n}${sets ? ', kernels swapped' : ''}`, 'old', med(times.old).toFixed(2), 'new', med(times.new).toFixed(2), 'new/old', (med(times.new) / med(times.old)).toFixed(3));
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
