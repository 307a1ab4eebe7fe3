/**
 * A/B of two builds of tfjs-lip in one process: the README MLP (784-256-128-10 spectralDense +
 * relu, batch 128) or CNN (spectralConv2d 16/32 + scaledL2NormPooling2d, batch 64) train step,
 * the two models timed alternately (order flipped each round, 3 warm-up rounds, median of 30), so
 * that machine load hits both alike. For checking a refactor against the commit before it:
 *
 *   git worktree add /tmp/before <commit> && (cd /tmp/before && ln -s $PWD/node_modules . && npm run build)
 *   node bench/ab_builds.js /tmp/before/dist ./dist mlp
 */
const path = require('path');
const tf = require('@tensorflow/tfjs');
const [distA, distB, kindArg] = process.argv.slice(2);
if (!distA || !distB) {
  console.error('usage: node bench/ab_builds.js <dist A> <dist B> [mlp|cnn]');
  process.exit(2);
}
const versions = { old: require(path.resolve(distA)), new: require(path.resolve(distB)) };
const kind = kindArg || 'mlp';
async function main() {
  await versions.new.backend.useFastest();
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
  const n = kind === 'mlp' ? 128 : 64;
  const x = tf.randomNormal(kind === 'mlp' ? [n, 784] : [n, 28, 28, 1]);
  const y = tf.oneHot(tf.randomUniform([n], 0, 10, 'int32'), 10);
  const times = { old: [], new: [] };
  const order = ['old', 'new'];
  for (let r = 0; r < 33; r++) {
    for (const name of (r % 2 ? order : [...order].reverse())) {
      const t0 = performance.now();
      await models[name].trainOnBatch(x, y);
      if (r >= 3) times[name].push(performance.now() - t0);
    }
  }
  const med = (a) => { const s = [...a].sort((p, q) => p - q); return s[Math.floor(s.length / 2)]; };
  console.log(kind, 'old', med(times.old).toFixed(2), 'new', med(times.new).toFixed(2), 'new/old', (med(times.new) / med(times.old)).toFixed(3));
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
