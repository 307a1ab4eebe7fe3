#!/usr/bin/env node
/**
 * tfjs-lip benchmark suite (`npm run bench`).
 *
 * Pairs (plain vs Lipschitz) are measured alternately in one process, step by step, so machine
 * noise hits both sides; each figure is the median of >= 20 timed runs after warm-up. Single
 * operations (the normalizers alone) go through tinybench. Results go to
 * bench/results/<date>.json and docs/benchmarks.md.
 *
 * Options: --quick (smoke run: 3 runs, tiny epochs), --backends wasm,cpu,
 *          --only mlp,cnn,predict,normalizers,memory,mnist
 */
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const tf = require('@tensorflow/tfjs-core');
const tfl = require('@tensorflow/tfjs-layers');
require('@tensorflow/tfjs-backend-cpu');
require('@tensorflow/tfjs-backend-wasm');
const lip = require(path.join(root, 'dist'));

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    backends: { type: 'string', default: 'wasm,cpu' },
    only: { type: 'string', default: 'mlp,cnn,predict,normalizers,memory,mnist' },
    out: { type: 'string', default: '' },
  },
});
const QUICK = opts.quick;
const RUNS = QUICK ? 3 : 20;
const WARMUP = QUICK ? 1 : 3;
const only = new Set(opts.only.split(','));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const log = (...a) => console.log(...a);

/** Times `fns` alternately (one call of each per round) and returns the median ms of each. */
async function alternate(fns, runs = RUNS, warmup = WARMUP) {
  const names = Object.keys(fns);
  for (let w = 0; w < warmup; w++) for (const n of names) await fns[n]();
  const samples = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < runs; r++) {
    for (const n of names) {
      const t0 = performance.now();
      await fns[n]();
      samples[n].push(performance.now() - t0);
    }
  }
  return Object.fromEntries(names.map((n) => [n, round(median(samples[n]), 3)]));
}

/** A compiled model's training step on one fixed batch (forward, backward, Adam). */
function trainStep(model, x, y) {
  return async () => {
    const loss = await model.trainOnBatch(x, y);
    if (Array.isArray(loss) ? !Number.isFinite(loss[0]) : !Number.isFinite(loss)) throw new Error('non-finite loss');
  };
}

function compile(model) {
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  return model;
}

function randomBatch(shape, classes = 10, seed = 1) {
  const n = shape[0];
  const x = tf.randomUniform(shape, 0, 1, 'float32', seed);
  const y = tf.tidy(() => tf.cast(tf.oneHot(tf.randomUniform([n], 0, classes, 'int32', seed + 1), classes), 'float32'));
  return { x, y };
}

const act = () => (lip.activations.groupSort2 ? lip.activations.groupSort2() : null);

function mlpPlain() {
  return tfl.sequential({ layers: [
    tfl.layers.dense({ units: 256, activation: 'relu', inputShape: [784] }),
    tfl.layers.dense({ units: 128, activation: 'relu' }),
    tfl.layers.dense({ units: 10 }),
  ] });
}
function mlpLip(withGroupSort = false) {
  const layers = withGroupSort
    ? [lip.layers.spectralDense({ units: 256, inputShape: [784] }), act(),
       lip.layers.spectralDense({ units: 128 }), act(), lip.layers.spectralDense({ units: 10 })]
    : [lip.layers.spectralDense({ units: 256, activation: 'relu', inputShape: [784] }),
       lip.layers.spectralDense({ units: 128, activation: 'relu' }), lip.layers.spectralDense({ units: 10 })];
  return lip.sequential({ layers });
}
function cnnPlain() {
  return tfl.sequential({ layers: [
    tfl.layers.conv2d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [28, 28, 1] }),
    tfl.layers.averagePooling2d({ poolSize: 2 }),
    tfl.layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' }),
    tfl.layers.flatten(),
    tfl.layers.dense({ units: 10 }),
  ] });
}
function cnnLip(pool = 'avg') {
  const p = pool === 'l2' ? lip.layers.scaledL2NormPooling2d({ poolSize: 2 }) : lip.layers.scaledAveragePooling2d({ poolSize: 2 });
  return lip.sequential({ layers: [
    lip.layers.spectralConv2d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [28, 28, 1] }),
    p,
    lip.layers.spectralConv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' }),
    tfl.layers.flatten(),
    lip.layers.spectralDense({ units: 10 }),
  ] });
}

async function setBackend(name) {
  if (name === 'wasm') lip.backend.registerWasmGradientKernels();
  await tf.setBackend(name);
  await tf.ready();
}

const results = {
  date: new Date().toISOString(),
  machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memGiB: round(os.totalmem() / 2 ** 30, 1), node: process.version, platform: `${os.platform()} ${os.arch()}` },
  versions: {
    'tfjs-core': require('@tensorflow/tfjs-core/package.json').version,
    'tfjs-layers': require('@tensorflow/tfjs-layers/package.json').version,
    'tfjs-backend-wasm': require('@tensorflow/tfjs-backend-wasm/package.json').version,
    'tfjs-lip': require(path.join(root, 'package.json')).version,
  },
  quick: QUICK,
  runs: RUNS,
  backends: {},
};

async function benchMlp(r) {
  const { x, y } = randomBatch([128, 784]);
  const plain = compile(mlpPlain());
  const lipM = compile(mlpLip(false));
  const fns = { plain: trainStep(plain, x, y), spectralDense: trainStep(lipM, x, y) };
  let gs = null;
  if (lip.activations.groupSort2) { gs = compile(mlpLip(true)); fns.spectralDenseGroupSort2 = trainStep(gs, x, y); }
  const t = await alternate(fns);
  r.mlpTrainStepMs = t;
  r.mlpRatio = round(t.spectralDense / t.plain);
  if (t.spectralDenseGroupSort2) r.mlpGroupSortRatio = round(t.spectralDenseGroupSort2 / t.plain);
  log(`  MLP step ms`, t, `ratio ${r.mlpRatio}`);
  [plain, lipM, gs].forEach((m) => m && m.dispose());
  tf.dispose([x, y]);
}

async function benchCnn(r) {
  const { x, y } = randomBatch([64, 28, 28, 1]);
  const plain = compile(cnnPlain());
  const avg = compile(cnnLip('avg'));
  const l2 = compile(cnnLip('l2'));
  const t = await alternate({ plain: trainStep(plain, x, y), lipAvgPool: trainStep(avg, x, y), lipL2Pool: trainStep(l2, x, y) }, QUICK ? 3 : 20, WARMUP);
  r.cnnTrainStepMs = t;
  r.cnnRatio = round(t.lipAvgPool / t.plain);
  r.cnnL2Ratio = round(t.lipL2Pool / t.plain);
  log(`  CNN step ms`, t, `ratio ${r.cnnRatio} (l2 pool ${r.cnnL2Ratio})`);
  [plain, avg, l2].forEach((m) => m.dispose());
  tf.dispose([x, y]);
}

async function benchPredict(r) {
  const { x, y } = randomBatch([1000, 784]);
  const plain = compile(mlpPlain());
  const lipM = compile(mlpLip(false));
  await lipM.fit(x, y, { epochs: 1, batchSize: 250, verbose: 0 });
  const exported = lip.vanillaExport(lipM);
  const pred = (m) => async () => { const p = m.predict(x, { batchSize: 1000 }); await p.data(); p.dispose(); };
  const t = await alternate({ plain: pred(plain), lip: pred(lipM), exported: pred(exported) }, QUICK ? 3 : 30, WARMUP);
  r.predictMs = t;
  r.predictLipRatio = round(t.lip / t.plain, 3);
  r.predictExportRatio = round(t.exported / t.plain, 3);
  log(`  predict 1000 ms`, t, `lip/plain ${r.predictLipRatio} export/plain ${r.predictExportRatio}`);
  [plain, lipM, exported].forEach((m) => m.dispose());
  tf.dispose([x, y]);
}

async function benchNormalizers(r) {
  const shapes = QUICK ? [[64, 64]] : [[64, 64], [256, 128], [784, 256]];
  const iters = QUICK ? [1, 15] : [1, 2, 4, 8, 15];
  const bench = new Bench({ time: QUICK ? 20 : 200, warmupTime: QUICK ? 5 : 50 });
  const kernels = [];
  for (const [m, n] of shapes) {
    const w = tf.tidy(() => tf.div(tf.randomNormal([m, n], 0, 1, 'float32', 3), Math.sqrt(m)));
    const u = tf.randomNormal([1, n], 0, 1, 'float32', 4);
    kernels.push(w, u);
    bench.add(`spectralNormalization ${m}x${n} (10 iters)`, async () => {
      const out = lip.normalizers.spectralNormalization(w, u, { epsSpectral: 1e-30, maxIterSpectral: 10 });
      await out.wBar.data();
      tf.dispose([out.wBar, out.u, out.sigma]);
    });
    for (const k of iters) {
      bench.add(`bjorckNormalization ${m}x${n} (${k} iters)`, async () => {
        const out = lip.normalizers.bjorckNormalization(w, { epsBjorck: 1e-30, betaBjorck: 0.5, maxIterBjorck: k });
        const t = out.wBar ?? out;
        await t.data();
        tf.dispose(out.wBar ? Object.values(out).filter((v) => v instanceof tf.Tensor) : out);
      });
    }
  }
  await bench.run();
  r.normalizersMs = Object.fromEntries(bench.tasks.map((t) => [t.name, round(t.result.latency?.p50 ?? t.result.median ?? t.result.mean, 3)]));
  log('  normalizers', r.normalizersMs);
  tf.dispose(kernels);
  if (lip.normalizers.bjorckIterationStats) r.bjorckIterations = lip.normalizers.bjorckIterationStats();
}

async function benchMemory(r) {
  const n = QUICK ? 256 : 2048;
  const { x, y } = randomBatch([n, 784]);
  const model = compile(mlpLip(false));
  const rows = [];
  for (let e = 0; e < 10; e++) {
    await model.fit(x, y, { epochs: 1, batchSize: 128, verbose: 0 });
    const p = model.predict(x); await p.data(); p.dispose();
    if (global.gc) global.gc();
    rows.push({ epoch: e + 1, numTensors: tf.memory().numTensors, rssMB: round(process.memoryUsage().rss / 2 ** 20, 1) });
  }
  r.memory = rows;
  r.numTensorsGrowth = rows.at(-1).numTensors - rows[1].numTensors;
  r.rssGrowthMB = round(rows.at(-1).rssMB - rows[0].rssMB, 1);
  log(`  memory: numTensors growth ${r.numTensorsGrowth}, RSS growth ${r.rssGrowthMB} MB`);
  model.dispose();
  tf.dispose([x, y]);
}

async function benchFullMnist(r) {
  const dir = path.resolve(root, '..', 'shared', 'data', 'mnist');
  if (!fs.existsSync(dir)) { r.fullMnist = 'skipped: ../shared/data/mnist absent'; return; }
  const d = lip.data.loadIdx(dir, { shape: 'image' });
  const data = d instanceof Promise ? await d : d;
  const take = QUICK ? 2048 : data.xTrain.shape[0];
  const xImg = data.xTrain.slice(0, take);
  const xFlat = tf.reshape(xImg, [take, 784]);
  const y = data.yTrain.slice(0, take);
  const gs = () => lip.activations.groupSort2();
  const mlp = compile(lip.sequential({ layers: [
    lip.layers.spectralDense({ units: 256, inputShape: [784] }), gs(),
    lip.layers.spectralDense({ units: 128 }), gs(), lip.layers.spectralDense({ units: 10 }),
  ] }));
  const cnn = compile(lip.sequential({ layers: [
    lip.layers.spectralConv2d({ filters: 16, kernelSize: 3, padding: 'same', inputShape: [28, 28, 1] }), gs(),
    lip.layers.scaledL2NormPooling2d({ poolSize: 2 }),
    lip.layers.spectralConv2d({ filters: 32, kernelSize: 3, padding: 'same' }), gs(),
    lip.layers.scaledL2NormPooling2d({ poolSize: 2 }),
    tfl.layers.flatten(),
    lip.layers.spectralDense({ units: 64 }), gs(),
    lip.layers.spectralDense({ units: 10, useBias: false }),
  ] }));
  const epoch = async (m, x) => { const t0 = performance.now(); await m.fit(x, y, { epochs: 1, batchSize: 256, verbose: 0 }); return (performance.now() - t0) / 1000; };
  r.fullMnistSecondsPerEpoch = { samples: take, mlpGroupSort2: round(await epoch(mlp, xFlat)), deelLipTutorialCnn: round(await epoch(cnn, xImg)) };
  log('  full MNIST s/epoch', r.fullMnistSecondsPerEpoch);
  mlp.dispose(); cnn.dispose();
  tf.dispose([xImg, xFlat, y, ...Object.values(data).filter((v) => v instanceof tf.Tensor)]);
}

function markdown(res) {
  const L = [];
  L.push('# Benchmarks', '', `Generated by \`npm run bench\` on ${res.date}${res.quick ? ' (quick smoke run, not representative)' : ''}.`, '');
  L.push(`Machine: ${res.machine.cpus} cores (${res.machine.cpuModel}), ${res.machine.memGiB} GiB, Node ${res.machine.node}, ${res.machine.platform}.`);
  L.push(`Versions: ${Object.entries(res.versions).map(([k, v]) => `${k} ${v}`).join(', ')}.`, '');
  L.push(`Each figure is the median of ${res.runs} timed runs after warm-up; pairs are timed alternately in one process.`, '');
  for (const [b, r] of Object.entries(res.backends)) {
    L.push(`## Backend \`${b}\``, '');
    L.push('| measure | plain | Lipschitz | ratio | target |', '| --- | ---: | ---: | ---: | --- |');
    if (r.mlpTrainStepMs) {
      L.push(`| MLP 784-256-128-10 train step, batch 128 (ms) | ${r.mlpTrainStepMs.plain} | ${r.mlpTrainStepMs.spectralDense} | ${r.mlpRatio} | <= 5 |`);
      if (r.mlpTrainStepMs.spectralDenseGroupSort2) L.push(`| same, spectralDense + groupSort2 (ms) | ${r.mlpTrainStepMs.plain} | ${r.mlpTrainStepMs.spectralDenseGroupSort2} | ${r.mlpGroupSortRatio} | |`);
    }
    if (r.cnnTrainStepMs) {
      L.push(`| CNN train step, batch 64, scaledAveragePooling2d (ms) | ${r.cnnTrainStepMs.plain} | ${r.cnnTrainStepMs.lipAvgPool} | ${r.cnnRatio} | <= 2 |`);
      L.push(`| CNN train step, batch 64, scaledL2NormPooling2d (ms) | ${r.cnnTrainStepMs.plain} | ${r.cnnTrainStepMs.lipL2Pool} | ${r.cnnL2Ratio} | |`);
    }
    if (r.predictMs) {
      L.push(`| predict 1,000 inputs, Lipschitz model (ms) | ${r.predictMs.plain} | ${r.predictMs.lip} | ${r.predictLipRatio} | <= 1.05 |`);
      L.push(`| predict 1,000 inputs, vanilla export (ms) | ${r.predictMs.plain} | ${r.predictMs.exported} | ${r.predictExportRatio} | <= 1.02 |`);
    }
    L.push('');
    if (r.normalizersMs) {
      L.push('Normalizers alone (median ms, tinybench):', '', '| operation | ms |', '| --- | ---: |');
      for (const [k, v] of Object.entries(r.normalizersMs)) L.push(`| ${k} | ${v} |`);
      L.push('');
    }
    if (r.bjorckIterations) L.push(`Björck iterations actually used per step: ${JSON.stringify(r.bjorckIterations)}`, '');
    if (r.memory) {
      L.push(`Memory over 10 epochs: numTensors growth ${r.numTensorsGrowth} (target 0), RSS growth ${r.rssGrowthMB} MB (target < 50).`, '');
      L.push('| epoch | numTensors | RSS MB |', '| ---: | ---: | ---: |');
      for (const m of r.memory) L.push(`| ${m.epoch} | ${m.numTensors} | ${m.rssMB} |`);
      L.push('');
    }
    if (r.fullMnistSecondsPerEpoch) {
      const f = r.fullMnistSecondsPerEpoch;
      L.push(`Full MNIST (${f.samples} samples, batch 256, Adam), seconds per epoch: MLP + groupSort2 ${f.mlpGroupSort2} s (reference 10.4 s); DEEL-LIP tutorial CNN ${f.deelLipTutorialCnn} s (reference 21.6 s).`, '');
    } else if (typeof r.fullMnist === 'string') L.push(`Full MNIST: ${r.fullMnist}.`, '');
  }
  if (res.backends.wasm?.cnnTrainStepMs && res.backends.cpu?.cnnTrainStepMs) {
    const s = round(res.backends.cpu.cnnTrainStepMs.lipAvgPool / res.backends.wasm.cnnTrainStepMs.lipAvgPool, 1);
    const sp = round(res.backends.cpu.cnnTrainStepMs.plain / res.backends.wasm.cnnTrainStepMs.plain, 1);
    L.push('## wasm vs cpu', '', `Lipschitz CNN train step: wasm is ${s}x faster than cpu (plain CNN: ${sp}x); target >= 30x.`, '');
  }
  return L.join('\n');
}

for (const b of opts.backends.split(',')) {
  log(`backend ${b}`);
  await setBackend(b);
  const r = {};
  results.backends[b] = r;
  const steps = [['mlp', benchMlp], ['cnn', benchCnn], ['predict', benchPredict], ['normalizers', benchNormalizers], ['memory', benchMemory], ['mnist', benchFullMnist]];
  for (const [name, fn] of steps) {
    if (!only.has(name)) continue;
    if (name === 'mnist' && b === 'cpu' && !QUICK) { r.fullMnist = 'skipped on cpu (too slow to be useful)'; continue; }
    try { await fn(r); } catch (e) { r[`${name}Error`] = String(e && e.message || e); log(`  ${name} failed: ${r[`${name}Error`]}`); }
  }
}

const stamp = results.date.slice(0, 10);
const outJson = opts.out || path.join(root, 'bench', 'results', `${QUICK ? 'tmp-quick-' : ''}${stamp}.json`);
fs.mkdirSync(path.dirname(outJson), { recursive: true });
fs.writeFileSync(outJson, JSON.stringify(results, null, 2));
if (!QUICK) fs.writeFileSync(path.join(root, 'docs', 'benchmarks.md'), markdown(results) + '\n');
log(`wrote ${path.relative(root, outJson)}${QUICK ? '' : ' and docs/benchmarks.md'}`);
