#!/usr/bin/env node
/**
 * tfjs-lip benchmark suite (`npm run bench`).
 *
 * Pairs (plain vs Lipschitz) are measured alternately in one process, step by step, so machine
 * noise hits both sides; each figure is the median of >= 20 timed runs after warm-up. Single
 * operations (the normalizers alone) go through tinybench. Results go to
 * bench/results/<date>.json and docs/benchmarks.md.
 *
 * Options: --quick (smoke run: 3 runs, tiny epochs; writes its JSON to the OS temp folder unless
 *          --out is given, and never touches docs/benchmarks.md), --backends wasm,cpu,
 *          --only mlp,cnn,predict,export,normalizers,bjorck,memory,mnist,train,local,long,
 *          --out <file.json>,
 *          --runs N (timed runs per figure; for A/B checks during development only; a run with
 *          --runs, --only or --backends writes its JSON but leaves docs/benchmarks.md alone),
 *          --render <results.json> (only rewrites docs/benchmarks.md from a saved full run).
 *
 * Run counts: every timed figure is the median of RUNS (20) runs after WARMUP (3) untimed ones,
 * except the CNN training step on the cpu backend (pure JS, ~10-30 s per step), which uses
 * CPU_CNN_RUNS (5) runs after 1 warm-up and only the plain and average-pooling models, and the
 * training-loop row (`train`) on cpu, which times 2-step epochs with CPU_CNN_RUNS runs, so that
 * the whole suite stays under ~20 minutes. Full-MNIST epochs (`mnist`, and `long`: 10 epochs of
 * the README MLP and its plain twin, bench/long_run.mjs) run on wasm only.
 */
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import { execSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { benchLongRun, longRunMarkdown, REFERENCE_SECONDS_PER_EPOCH } from './long_run.mjs';
import { benchLocalLoss, localLossMarkdown } from './local_loss.mjs';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const tf = require('@tensorflow/tfjs-core');
const tfl = require('@tensorflow/tfjs-layers');
require('@tensorflow/tfjs-backend-cpu');
require('@tensorflow/tfjs-backend-wasm');
const lip = require(path.join(root, 'dist'));

const DEFAULT_BACKENDS = 'wasm,cpu';
const DEFAULT_ONLY = 'mlp,cnn,predict,export,normalizers,bjorck,memory,mnist,train,local,long';
const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    backends: { type: 'string', default: DEFAULT_BACKENDS },
    only: { type: 'string', default: DEFAULT_ONLY },
    out: { type: 'string', default: '' },
    runs: { type: 'string', default: '' },
    render: { type: 'string', default: '' },
  },
});
const QUICK = opts.quick;
const RUNS = opts.runs ? Number(opts.runs) : QUICK ? 3 : 20;
const WARMUP = QUICK ? 1 : 3;
const CPU_CNN_RUNS = QUICK ? 1 : 5;
const only = new Set(opts.only.split(','));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const log = (...a) => console.log(...a);

/**
 * Times `fns` alternately (one call of each per round, the order rotated every round so that no
 * side always runs first or right after a garbage collection) and returns the median ms of each.
 * A full GC (node --expose-gc) runs before every round, outside the timed calls.
 */
async function alternate(fns, runs = RUNS, warmup = WARMUP) {
  const names = Object.keys(fns);
  for (let w = 0; w < warmup; w++) for (const n of names) await fns[n]();
  const samples = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < runs; r++) {
    if (global.gc) global.gc();
    for (let i = 0; i < names.length; i++) {
      const n = names[(i + r) % names.length];
      const t0 = performance.now();
      await fns[n]();
      samples[n].push(performance.now() - t0);
    }
  }
  const out = Object.fromEntries(names.map((n) => [n, round(median(samples[n]), 3)]));
  Object.defineProperty(out, 'runs', { value: runs, enumerable: false });
  return out;
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

function gitCommit() {
  try {
    return execSync('git rev-parse --short HEAD', { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return 'unknown';
  }
}

const results = {
  date: new Date().toISOString(),
  command: `node ${process.execArgv.join(' ')} bench/run.mjs ${process.argv.slice(2).join(' ')}`.replace(/\s+/g, ' ').trim(),
  commit: gitCommit(),
  machine: {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memGiB: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    loadAverageAtStart: os.loadavg().map((v) => round(v)),
  },
  versions: {
    'tfjs-core': require('@tensorflow/tfjs-core/package.json').version,
    'tfjs-layers': require('@tensorflow/tfjs-layers/package.json').version,
    'tfjs-backend-cpu': require('@tensorflow/tfjs-backend-cpu/package.json').version,
    'tfjs-backend-wasm': require('@tensorflow/tfjs-backend-wasm/package.json').version,
    tinybench: JSON.parse(fs.readFileSync(path.join(root, 'node_modules', 'tinybench', 'package.json'), 'utf8')).version,
    'tfjs-lip': require(path.join(root, 'package.json')).version,
  },
  quick: QUICK,
  runs: RUNS,
  warmup: WARMUP,
  cpuCnnRuns: CPU_CNN_RUNS,
  backends: {},
};

async function benchMlp(r) {
  const { x, y } = randomBatch([128, 784]);
  const plain = compile(mlpPlain());
  const lipM = compile(mlpLip(false));
  const gs = compile(mlpLip(true));
  const fns = { plain: trainStep(plain, x, y), spectralDense: trainStep(lipM, x, y), spectralDenseGroupSort2: trainStep(gs, x, y) };
  const t = await alternate(fns);
  r.mlpTrainStepMs = t;
  r.mlpRuns = RUNS;
  r.mlpRatio = round(t.spectralDense / t.plain);
  r.mlpGroupSortRatio = round(t.spectralDenseGroupSort2 / t.plain);
  log(`  MLP step ms`, t, `ratio ${r.mlpRatio} (groupSort2 ${r.mlpGroupSortRatio})`);
  [plain, lipM, gs].forEach((m) => m.dispose());
  tf.dispose([x, y]);
}

async function benchCnn(r, backend) {
  const { x, y } = randomBatch([64, 28, 28, 1]);
  const plain = compile(cnnPlain());
  const avg = compile(cnnLip('avg'));
  const fns = { plain: trainStep(plain, x, y), lipAvgPool: trainStep(avg, x, y) };
  // The cpu backend takes tens of seconds per CNN step: fewer runs, no L2-pool variant there.
  const onCpu = backend === 'cpu';
  let l2 = null;
  if (!onCpu) {
    l2 = compile(cnnLip('l2'));
    fns.lipL2Pool = trainStep(l2, x, y);
  }
  const runs = onCpu ? CPU_CNN_RUNS : RUNS;
  const t = await alternate(fns, runs, onCpu ? 1 : WARMUP);
  r.cnnTrainStepMs = t;
  r.cnnRuns = runs;
  r.cnnRatio = round(t.lipAvgPool / t.plain);
  if (t.lipL2Pool != null) r.cnnL2Ratio = round(t.lipL2Pool / t.plain);
  log(`  CNN step ms`, t, `ratio ${r.cnnRatio}${r.cnnL2Ratio != null ? ` (l2 pool ${r.cnnL2Ratio})` : ''} [${runs} runs]`);
  [plain, avg, l2].forEach((m) => m && m.dispose());
  tf.dispose([x, y]);
}

async function benchPredict(r) {
  const { x, y } = randomBatch([1000, 784]);
  const plain = compile(mlpPlain());
  const lipM = compile(mlpLip(false));
  // A little training so that W-bar, u and the Björck state are those of a trained layer.
  const { x: xs, y: ys } = randomBatch([256, 784], 10, 7);
  await lipM.fit(xs, ys, { epochs: 1, batchSize: 128, verbose: 0 });
  tf.dispose([xs, ys]);
  const exported = lip.vanillaExport(lipM);
  const pred = (m) => async () => { const p = m.predict(x, { batchSize: 1000 }); await p.data(); p.dispose(); };
  const runs = QUICK ? 3 : 30;
  const t = await alternate({ plain: pred(plain), lip: pred(lipM), exported: pred(exported) }, runs, WARMUP);
  r.predictMs = t;
  r.predictRuns = runs;
  r.predictLipRatio = round(t.lip / t.plain, 3);
  r.predictExportRatio = round(t.exported / t.plain, 3);
  log(`  predict 1000 ms`, t, `lip/plain ${r.predictLipRatio} export/plain ${r.predictExportRatio}`);
  [plain, lipM, exported].forEach((m) => m.dispose());
  tf.dispose([x, y]);
}

/**
 * The README's architectures (the demo MLP with groupSort2, the MNIST CNN with groupSort2 and
 * scaledL2NormPooling2d, the same CNN with scaledAveragePooling2d), freshly initialized.
 */
function readmeArchitectures() {
  const gs = () => lip.activations.groupSort2();
  const cnn = (pool) => lip.sequential({ layers: [
    lip.layers.spectralConv2d({ filters: 16, kernelSize: 3, padding: 'same', inputShape: [28, 28, 1] }), gs(), pool(),
    lip.layers.spectralConv2d({ filters: 32, kernelSize: 3, padding: 'same' }), gs(), pool(),
    tfl.layers.flatten(), lip.layers.spectralDense({ units: 64 }), gs(), lip.layers.spectralDense({ units: 10 }),
  ] });
  return {
    mlpGroupSort2: { model: mlpLip(true), shape: [784] },
    cnnGroupSort2L2Pool: { model: cnn(() => lip.layers.scaledL2NormPooling2d({ poolSize: 2 })), shape: [28, 28, 1] },
    cnnGroupSort2AvgPool: { model: cnn(() => lip.layers.scaledAveragePooling2d({ poolSize: 2 })), shape: [28, 28, 1] },
  };
}

/**
 * Predict time of each README architecture against its vanilla export (built-in layers only) and
 * its export with `inferenceLayers: true`, same weights and batch, timed alternately; and the
 * certified bounds of the three (equal within 1e-6).
 */
async function benchExport(r, backend) {
  const onCpu = backend === 'cpu';
  const batch = onCpu ? 100 : 500;
  // The pure-JS cpu backend varies by +-15% from call to call (its matMul alone: 84-109 ms for the
  // same product), so it gets more runs there: 30 for the MLP, 15 for the CNNs.
  const runsFor = (name) => (QUICK ? 3 : onCpu ? (name.startsWith('mlp') ? 30 : 15) : RUNS);
  r.exportPredict = { batch, runs: { cpuMlp: 30, cpuCnn: 15, wasm: RUNS, slowBuiltinL2: 5 }, models: {} };
  for (const [name, { model, shape }] of Object.entries(readmeArchitectures())) {
    compile(model);
    const { x: xs, y: ys } = randomBatch([64, ...shape], 10, 3);
    await model.fit(xs, ys, { epochs: 1, batchSize: 32, verbose: 0 });
    tf.dispose([xs, ys]);
    const builtin = lip.vanillaExport(model);
    const inference = lip.vanillaExport(model, { inferenceLayers: true });
    const x = tf.randomUniform([batch, ...shape], 0, 1, 'float32', 5);
    const pred = (m) => async () => { const p = m.predict(x, { batchSize: batch }); await p.data(); p.dispose(); };
    // The built-in L2-pooling export is far slower: a few runs of it suffice.
    const slow = name === 'cnnGroupSort2L2Pool';
    const runs = slow ? Math.min(runsFor(name), 5) : runsFor(name);
    const t = await alternate({ lip: pred(model), builtin: pred(builtin), inference: pred(inference) }, runs, slow ? 1 : WARMUP);
    const bounds = [model, builtin, inference].map((m) => lip.lipschitzBound(m));
    r.exportPredict.models[name] = {
      ms: t,
      runs,
      builtinRatio: round(t.builtin / t.lip, 3),
      inferenceRatio: round(t.inference / t.lip, 3),
      builtinLayers: builtin.layers.length,
      inferenceLayers: inference.layers.length,
      bounds: { lip: bounds[0], builtin: bounds[1], inference: bounds[2] },
      boundRelativeGap: Math.max(...bounds.map((b) => Math.abs(b - bounds[0]) / bounds[0])),
    };
    log(`  export ${name} predict ${batch} ms`, t, `builtin/lip ${r.exportPredict.models[name].builtinRatio} inference/lip ${r.exportPredict.models[name].inferenceRatio}`);
    [model, builtin, inference].forEach((m) => m.dispose());
    x.dispose();
  }
}

async function benchNormalizers(r, backend) {
  const onCpu = backend === 'cpu';
  const shapes = QUICK ? [[64, 64]] : onCpu ? [[64, 64], [144, 32], [256, 128]] : [[64, 64], [144, 32], [256, 128], [784, 256]];
  const iters = QUICK ? [1, 15] : [1, 2, 4, 8, 15];
  const powerIters = QUICK ? [10] : [1, 3, 10];
  const minRuns = QUICK ? 3 : 20;
  const bench = new Bench({ time: QUICK ? 20 : 200, warmupTime: QUICK ? 5 : 50, iterations: minRuns, warmupIterations: QUICK ? 1 : 3 });
  const kernels = [];
  for (const [m, n] of shapes) {
    // Singular values in (0, 1] as after spectral normalization: a Gaussian matrix over its norm bound.
    const w = tf.tidy(() => tf.div(tf.randomNormal([m, n], 0, 1, 'float32', 3), Math.sqrt(m) + Math.sqrt(n) + 1));
    const u = tf.randomNormal([1, n], 0, 1, 'float32', 4);
    kernels.push(w, u);
    for (const k of powerIters) {
      bench.add(`spectralNormalization ${m}x${n} (${k} power iters)`, async () => {
        const out = lip.normalizers.spectralNormalization(w, u, { epsSpectral: 1e-30, maxIterSpectral: k });
        await out.wBar.data();
        tf.dispose([out.wBar, out.u, out.sigma]);
      });
    }
    for (const k of iters) {
      bench.add(`bjorckNormalization ${m}x${n} (${k} iters)`, async () => {
        const out = lip.normalizers.bjorckNormalization(w, { epsBjorck: 1e-30, betaBjorck: 0.5, maxIterBjorck: k });
        await out.data();
        out.dispose();
      });
    }
  }
  await bench.run();
  r.normalizersMs = Object.fromEntries(bench.tasks.map((t) => [t.name, round(t.result.latency?.p50 ?? t.result.median ?? t.result.mean, 3)]));
  r.normalizersSamples = Object.fromEntries(bench.tasks.map((t) => [t.name, t.result.latency?.samplesCount ?? t.result.samples?.length ?? null]));
  log('  normalizers', r.normalizersMs);
  tf.dispose(kernels);
}

/** The normalization settings of a spectral layer (dense or convolution), from its config. */
function normalizationOf(layer) {
  const c = layer.getConfig();
  return { epsSpectral: c.epsSpectral, epsBjorck: c.epsBjorck, betaBjorck: c.betaBjorck, maxIterSpectral: c.maxIterSpectral, maxIterBjorck: c.maxIterBjorck };
}

/**
 * Björck iterations the layer's next training call will perform: replays its normalization
 * (`reshapedKernelOrthogonalization`, deterministic) on its current kernel, power-iteration vector
 * and Björck warm start, exactly as `KernelState.normalizedKernel(true)` does, and discards the result.
 */
function replayBjorckIterations(layer) {
  const st = layer.kernelState;
  if (st == null || st.vars?.bjorck == null) return null;
  let its = null;
  tf.tidy(() => {
    const res = lip.normalizers.reshapedKernelOrthogonalization(st.kernel.read(), st.vars.u.read(), 1, {
      ...normalizationOf(layer),
      bjorckState: st.vars.bjorck.read(),
    });
    its = res.bjorckIterations;
  });
  return its;
}

async function benchBjorckIterations(r) {
  const steps = QUICK ? 4 : 50;
  const out = {};
  for (const [name, make, shape] of [['mlp', () => mlpLip(false), [128, 784]], ['cnn', () => cnnLip('avg'), [64, 28, 28, 1]]]) {
    const model = compile(make());
    const layers = model.layers.filter((l) => l.kernelState?.vars?.bjorck != null);
    const per = Object.fromEntries(layers.map((l) => [`${l.name} [${l.kernelState.kernel.shape.join('x')}]`, []]));
    const keys = Object.keys(per);
    for (let s = 0; s < steps; s++) {
      // A fresh batch every step, as in an epoch.
      const { x, y } = randomBatch(shape, 10, 100 + s);
      layers.forEach((l, i) => per[keys[i]].push(replayBjorckIterations(l)));
      await model.trainOnBatch(x, y);
      tf.dispose([x, y]);
    }
    out[name] = Object.fromEntries(Object.entries(per).map(([k, v]) => {
      const later = v.slice(1);
      return [k, { firstStep: v[0], meanAfterFirst: round(later.reduce((a, b) => a + b, 0) / Math.max(1, later.length)), maxAfterFirst: Math.max(...later), histogram: histogram(later) }];
    }));
    model.dispose();
  }
  r.bjorckIterations = { steps, perLayer: out };
  log('  Björck iterations per step', JSON.stringify(out));
}

function histogram(xs) {
  const h = {};
  for (const x of xs) h[x] = (h[x] ?? 0) + 1;
  return h;
}

async function memoryRun(model, x, y, batchSize) {
  const rows = [];
  for (let e = 0; e < 10; e++) {
    await model.fit(x, y, { epochs: 1, batchSize, verbose: 0 });
    const p = model.predict(x); await p.data(); p.dispose();
    if (global.gc) global.gc();
    rows.push({ epoch: e + 1, numTensors: tf.memory().numTensors, rssMB: round(process.memoryUsage().rss / 2 ** 20, 1) });
  }
  return {
    rows,
    numTensorsGrowth: rows.at(-1).numTensors - rows[0].numTensors,
    rssGrowthMB: round(rows.at(-1).rssMB - rows[0].rssMB, 1),
  };
}

async function benchMemory(r, backend) {
  const onCpu = backend === 'cpu';
  const n = QUICK ? 256 : onCpu ? 512 : 2048;
  r.memory = {};
  {
    const { x, y } = randomBatch([n, 784]);
    const model = compile(mlpLip(true));
    r.memory.mlp = { samples: n, batchSize: 128, ...(await memoryRun(model, x, y, 128)) };
    model.dispose();
    tf.dispose([x, y]);
  }
  if (!onCpu) {
    const m = QUICK ? 128 : 512;
    const { x, y } = randomBatch([m, 28, 28, 1]);
    const model = compile(cnnLip('l2'));
    r.memory.cnn = { samples: m, batchSize: 64, ...(await memoryRun(model, x, y, 64)) };
    model.dispose();
    tf.dispose([x, y]);
  }
  r.numTensorsGrowth = Math.max(...Object.values(r.memory).map((v) => v.numTensorsGrowth));
  r.rssGrowthMB = Math.max(...Object.values(r.memory).map((v) => v.rssGrowthMB));
  log(`  memory: numTensors growth ${r.numTensorsGrowth}, RSS growth ${r.rssGrowthMB} MB`);
}

async function benchFullMnist(r) {
  const dir = path.resolve(root, '..', 'shared', 'data', 'mnist');
  if (!fs.existsSync(dir)) { r.fullMnist = `skipped: ${dir} absent`; return; }
  const data = await lip.data.loadIdx(dir, { shape: 'image', ...(QUICK ? { trainSize: 1024, testSize: 16 } : {}) });
  const take = data.xTrain.shape[0];
  const xImg = data.xTrain;
  const xFlat = tf.reshape(xImg, [take, 784]);
  const y = data.yTrain;
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
  // The same architectures with plain tfjs layers (relu for groupSort2, max pooling for the L2
  // pooling): what tfjs itself costs per epoch on this backend, the floor for the Lipschitz ones.
  const plainMlp = compile(tfl.sequential({ layers: [
    tfl.layers.dense({ units: 256, activation: 'relu', inputShape: [784] }),
    tfl.layers.dense({ units: 128, activation: 'relu' }), tfl.layers.dense({ units: 10 }),
  ] }));
  const plainCnn = compile(tfl.sequential({ layers: [
    tfl.layers.conv2d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [28, 28, 1] }),
    tfl.layers.maxPooling2d({ poolSize: 2 }),
    tfl.layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' }),
    tfl.layers.maxPooling2d({ poolSize: 2 }),
    tfl.layers.flatten(),
    tfl.layers.dense({ units: 64, activation: 'relu' }),
    tfl.layers.dense({ units: 10, useBias: false }),
  ] }));
  const epoch = async (m, x) => { const t0 = performance.now(); await m.fit(x, y, { epochs: 1, batchSize: 256, verbose: 0 }); return (performance.now() - t0) / 1000; };
  r.fullMnistSecondsPerEpoch = {
    samples: take,
    mlpGroupSort2: round(await epoch(mlp, xFlat)),
    deelLipTutorialCnn: round(await epoch(cnn, xImg)),
    plainMlp: round(await epoch(plainMlp, xFlat)),
    plainCnn: round(await epoch(plainCnn, xImg)),
    reference: REFERENCE_SECONDS_PER_EPOCH,
  };
  log('  full MNIST s/epoch', r.fullMnistSecondsPerEpoch);
  [mlp, cnn, plainMlp, plainCnn].forEach((m) => m.dispose());
  xFlat.dispose();
  data.dispose();
}

/**
 * The training loop's own cost: one epoch of `lip.train.fit` (no penalty, no attack; its defaults:
 * constraints applied after each step, NaN check, one read-back per batch) against `model.fit` on
 * the same model and data, timed alternately, per step (epoch time / steps). Models: the README
 * MLP (784-256-128-10, spectralDense + groupSort2) and the plain tfjs MLP; Adam, batch 128.
 */
async function benchTrain(r, backend) {
  // The pure-JS cpu backend takes ~1 s per step of the Lipschitz MLP: 2 steps, CPU_CNN_RUNS runs.
  const onCpu = backend === 'cpu';
  const n = QUICK || onCpu ? 256 : 1024;
  const runs = onCpu ? CPU_CNN_RUNS : RUNS;
  const batchSize = 128;
  const steps = Math.ceil(n / batchSize);
  const { x, y } = randomBatch([n, 784], 10, 11);
  const plain = compile(mlpPlain());
  const lipM = compile(mlpLip(true));
  const args = { epochs: 1, batchSize, verbose: 0 };
  const viaFit = (m) => async () => { await m.fit(x, y, args); };
  const viaLoop = (m) => async () => { await lip.train.fit(m, x, y, args); };
  // Each model's pair alternately on its own, so that the heavier model's garbage never lands on the lighter's.
  const tPlain = await alternate({ plainFit: viaFit(plain), plainLoop: viaLoop(plain) }, runs);
  const tLip = await alternate({ lipFit: viaFit(lipM), lipLoop: viaLoop(lipM) }, runs);
  const perStep = Object.fromEntries(Object.entries({ ...tPlain, ...tLip }).map(([k, v]) => [k, round(v / steps, 3)]));
  r.trainLoopStepMs = perStep;
  r.trainLoop = { samples: n, batchSize, steps, runs };
  r.trainLoopRatio = round(perStep.lipLoop / perStep.lipFit, 3);
  r.trainLoopPlainRatio = round(perStep.plainLoop / perStep.plainFit, 3);
  log(`  train loop ms/step`, perStep, `lip.train.fit / model.fit: README MLP ${r.trainLoopRatio}, plain MLP ${r.trainLoopPlainRatio}`);
  [plain, lipM].forEach((m) => m.dispose());
  tf.dispose([x, y]);
}

function markdown(res) {
  const L = [];
  L.push('# Benchmarks', '');
  L.push(`Generated by \`npm run bench\` (\`${res.command}\`, commit ${res.commit}) on ${res.date}${res.quick ? ' (quick smoke run, not representative)' : ''}.`, '');
  L.push(`Machine: ${res.machine.cpus} cores (${res.machine.cpuModel}), ${res.machine.memGiB} GiB, Node ${res.machine.node}, ${res.machine.platform}; load average (1, 5, 15 min) ${res.machine.loadAverageAtStart.join(', ')} at the start and ${res.machine.loadAverageAtEnd?.join(', ')} at the end (the machine is shared: absolute times vary, the ratios of alternately timed pairs are the meaningful figures).`);
  L.push(`Versions: ${Object.entries(res.versions).map(([k, v]) => `${k} ${v}`).join(', ')}.`, '');
  L.push(`Each figure is the median of ${res.runs} timed runs after ${res.warmup} warm-up runs; the models of a row are timed alternately in one process (one call of each per round, order rotated each round, a full GC before each round). Exception: the CNN step on the cpu backend (pure JS, tens of seconds per step) uses ${res.cpuCnnRuns} runs after 1 warm-up and no L2-pooling variant. Default layer settings everywhere; loss categorical cross-entropy, Adam 1e-3; random inputs.`, '');
  L.push('Models: MLP 784-256-128-10 (plain: `tf.layers.dense` + relu; Lipschitz: `spectralDense` + relu, or + `groupSort2`); CNN conv(1->16, 3x3, same) - relu - 2x2 pool - conv(16->32, 3x3, same) - relu - flatten - dense(10) (plain: built-in conv2d + averagePooling2d + dense; Lipschitz: `spectralConv2d` + `scaledAveragePooling2d` or `scaledL2NormPooling2d` + `spectralDense`).', '');
  for (const [b, r] of Object.entries(res.backends)) {
    L.push(`## Backend \`${b}\`${r.description ? ` (${JSON.stringify(r.description)})` : ''}`, '');
    L.push('| measure | plain | Lipschitz | ratio | target |', '| --- | ---: | ---: | ---: | --- |');
    if (r.mlpTrainStepMs) {
      L.push(`| MLP train step, batch 128, spectralDense + relu (ms) | ${r.mlpTrainStepMs.plain} | ${r.mlpTrainStepMs.spectralDense} | ${r.mlpRatio} | <= 5 |`);
      L.push(`| MLP train step, batch 128, spectralDense + groupSort2 (ms) | ${r.mlpTrainStepMs.plain} | ${r.mlpTrainStepMs.spectralDenseGroupSort2} | ${r.mlpGroupSortRatio} | |`);
    }
    if (r.cnnTrainStepMs) {
      L.push(`| CNN train step, batch 64, scaledAveragePooling2d (ms${r.cnnRuns !== res.runs ? `, ${r.cnnRuns} runs` : ''}) | ${r.cnnTrainStepMs.plain} | ${r.cnnTrainStepMs.lipAvgPool} | ${r.cnnRatio} | <= 2 |`);
      if (r.cnnTrainStepMs.lipL2Pool != null) L.push(`| CNN train step, batch 64, scaledL2NormPooling2d (ms) | ${r.cnnTrainStepMs.plain} | ${r.cnnTrainStepMs.lipL2Pool} | ${r.cnnL2Ratio} | |`);
    }
    if (r.trainLoopStepMs) {
      const tl = r.trainLoop;
      L.push(`| \`lip.train.fit\` per step vs \`model.fit\` (plain column), README MLP spectralDense + groupSort2, batch ${tl.batchSize}, ${tl.steps} steps/epoch, no penalty (ms${tl.runs !== res.runs ? `, ${tl.runs} runs` : ''}) | ${r.trainLoopStepMs.lipFit} | ${r.trainLoopStepMs.lipLoop} | ${r.trainLoopRatio} | <= 1.10 |`);
      L.push(`| \`lip.train.fit\` per step vs \`model.fit\` (plain column), plain tfjs MLP, batch ${tl.batchSize}, no penalty (ms) | ${r.trainLoopStepMs.plainFit} | ${r.trainLoopStepMs.plainLoop} | ${r.trainLoopPlainRatio} | <= 1.10 |`);
    }
    if (r.predictMs) {
      L.push(`| MLP predict 1,000 inputs, Lipschitz model (ms, ${r.predictRuns} runs) | ${r.predictMs.plain} | ${r.predictMs.lip} | ${r.predictLipRatio} | <= 1.05 |`);
      L.push(`| MLP predict 1,000 inputs, its vanilla export (ms, ${r.predictRuns} runs) | ${r.predictMs.plain} | ${r.predictMs.exported} | ${r.predictExportRatio} | <= 1.02 |`);
    }
    L.push('');
    if (r.exportPredict) {
      const e = r.exportPredict;
      L.push(`Exports of the README architectures: predict ${e.batch} inputs, the tfjs-lip model against \`lip.vanillaExport(model)\` (built-in layers only) and \`lip.vanillaExport(model, {inferenceLayers: true})\` (median ms of alternate runs: ${e.batch === 100 ? '30 for the MLP and 15 for the CNNs on this pure-JS backend, whose calls vary by +-15%' : `${e.runs.wasm ?? e.runs}`}, 5 for the built-in L2-pooling export; target: export / model <= 1.05, or the documented alternative; certified bounds of the three within 1e-6):`, '');
      L.push('| architecture | model ms | built-in export ms | ratio | inference-layers export ms | ratio | largest relative bound gap |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
      for (const [name, m] of Object.entries(e.models)) {
        L.push(`| ${name} | ${m.ms.lip} | ${m.ms.builtin} | ${m.builtinRatio} | ${m.ms.inference} | ${m.inferenceRatio} | ${m.boundRelativeGap.toExponential(1)} |`);
      }
      L.push('');
    }
    for (const k of ['mlp', 'cnn', 'predict', 'export', 'normalizers', 'bjorck', 'memory', 'mnist', 'train', 'long']) if (r[`${k}Error`]) L.push(`**${k} failed**: ${r[`${k}Error`]}`, '');
    if (r.normalizersMs) {
      L.push('Normalizers alone, cold start, fixed iteration counts (tolerance 1e-30 so that no early exit happens; median ms, tinybench, >= 20 samples; the kernel has singular values in (0, 1)):', '', '| operation | ms |', '| --- | ---: |');
      for (const [k, v] of Object.entries(r.normalizersMs)) L.push(`| ${k} | ${v} |`);
      L.push('');
    }
    if (r.bjorckIterations) {
      L.push(`Björck iterations actually used per training step (default settings, ${r.bjorckIterations.steps} steps on fresh random batches; measured by replaying each layer's normalization on its state before every step; a polynomial warm-start step counts as one):`, '');
      L.push('| model | layer [kernel] | first step | mean after | max after | histogram (iterations: steps) |', '| --- | --- | ---: | ---: | ---: | --- |');
      for (const [m, layers] of Object.entries(r.bjorckIterations.perLayer)) {
        for (const [name, s] of Object.entries(layers)) L.push(`| ${m} | ${name} | ${s.firstStep} | ${s.meanAfterFirst} | ${s.maxAfterFirst} | ${JSON.stringify(s.histogram)} |`);
      }
      L.push('');
    }
    if (r.memory) {
      L.push(`Memory over 10 epochs (after each epoch and a predict, after a full GC): numTensors growth ${r.numTensorsGrowth} (target 0), RSS growth ${r.rssGrowthMB} MB (target < 50; epoch 10 minus epoch 1).`, '');
      const models = Object.keys(r.memory);
      L.push(`| epoch | ${models.map((m) => `${m} numTensors | ${m} RSS MB`).join(' | ')} |`, `| ---: | ${models.map(() => '---: | ---:').join(' | ')} |`);
      for (let e = 0; e < 10; e++) L.push(`| ${e + 1} | ${models.map((m) => `${r.memory[m].rows[e].numTensors} | ${r.memory[m].rows[e].rssMB}`).join(' | ')} |`);
      L.push('', models.map((m) => `${m}: ${r.memory[m].samples} random samples, batch ${r.memory[m].batchSize}.`).join(' '), '');
    }
    if (r.fullMnistSecondsPerEpoch) {
      const f = r.fullMnistSecondsPerEpoch;
      const ref = f.reference;
      L.push(ref
        ? `Full MNIST (${f.samples} training images from ../shared/data/mnist via \`lip.data.loadIdx\`, batch 256, Adam), seconds for the first epoch: MLP 784-256-128-10 + groupSort2 **${f.mlpGroupSort2} s** against the reference's ${ref.mlpGroupSort2} s (${round(f.mlpGroupSort2 / ref.mlpGroupSort2)}x); DEEL-LIP tutorial CNN **${f.deelLipTutorialCnn} s** against ${ref.deelLipTutorialCnn} s (${round(f.deelLipTutorialCnn / ref.deelLipTutorialCnn)}x) (reference: deel-torchlip, PyTorch 1.13 on 2 threads, same recipe, this machine; targets <= 1.0x and <= 1.5x).`
        : `Full MNIST (${f.samples} training images from ../shared/data/mnist via \`lip.data.loadIdx\`, batch 256, Adam), seconds for the first epoch: MLP 784-256-128-10 + groupSort2 **${f.mlpGroupSort2} s** (reference 10.4 s); DEEL-LIP tutorial CNN **${f.deelLipTutorialCnn} s** (reference 21.6 s).`
        + (f.plainMlp != null ? ` The same architectures with plain tfjs layers (relu, max pooling) on this backend: MLP ${f.plainMlp} s, CNN ${f.plainCnn} s${f.plainFrom ? ` (measured by \`${f.plainFrom}\`${f.plainNote ? `; ${f.plainNote}` : ''})` : ''}.` : ''), '');
    } else if (typeof r.fullMnist === 'string') L.push(`Full MNIST: ${r.fullMnist}.`, '');
    L.push(...localLossMarkdown(r));
    L.push(...longRunMarkdown(r));
  }
  if (res.backends.wasm?.cnnTrainStepMs && res.backends.cpu?.cnnTrainStepMs) {
    L.push('## wasm vs cpu', '', `CNN train step (batch 64): Lipschitz CNN (average pooling) wasm ${res.backends.wasm.cnnTrainStepMs.lipAvgPool} ms vs cpu ${res.backends.cpu.cnnTrainStepMs.lipAvgPool} ms: wasm **${res.wasmVsCpuCnn}x** faster (target >= 30x); plain CNN: ${res.wasmVsCpuCnnPlain}x.`, '');
  }
  const speedWork = path.join(here, 'results', 'speed_work.md');
  if (fs.existsSync(speedWork)) L.push(fs.readFileSync(speedWork, 'utf8').trim(), '');
  return L.join('\n');
}

if (opts.render) {
  fs.writeFileSync(path.join(root, 'docs', 'benchmarks.md'), markdown(JSON.parse(fs.readFileSync(opts.render, 'utf8'))) + '\n');
  log(`rendered docs/benchmarks.md from ${opts.render}`);
  process.exit(0);
}

for (const b of opts.backends.split(',')) {
  log(`backend ${b}`);
  await setBackend(b);
  const r = { description: lip.backend.describeBackend ? lip.backend.describeBackend() : { name: b } };
  results.backends[b] = r;
  const longRun = (res) => benchLongRun(res, { tf, tfl, lip, root, quick: QUICK, compile, round, log, replayBjorckIterations });
  const localLoss = (res) => benchLocalLoss(res, { tf, tfl, lip, quick: QUICK, round, log, alternate, runs: RUNS });
  const steps = [['mlp', benchMlp], ['cnn', benchCnn], ['predict', benchPredict], ['export', benchExport], ['normalizers', benchNormalizers], ['bjorck', benchBjorckIterations], ['memory', benchMemory], ['mnist', benchFullMnist], ['train', benchTrain], ['local', localLoss], ['long', longRun]];
  for (const [name, fn] of steps) {
    if (!only.has(name)) continue;
    if (name === 'mnist' && b === 'cpu') { r.fullMnist = 'run on wasm only (cpu: minutes per epoch)'; continue; }
    if (name === 'long' && b === 'cpu') continue; // full-MNIST epochs: wasm only
    if (name === 'local' && b === 'cpu') continue; // the example runs on wasm
    if (name === 'bjorck' && b === 'cpu') continue; // iteration counts do not depend on the backend
    try { await fn(r, b); } catch (e) { r[`${name}Error`] = String(e && e.stack || e); log(`  ${name} failed: ${r[`${name}Error`]}`); }
  }
}
if (results.backends.wasm?.cnnTrainStepMs && results.backends.cpu?.cnnTrainStepMs) {
  results.wasmVsCpuCnn = round(results.backends.cpu.cnnTrainStepMs.lipAvgPool / results.backends.wasm.cnnTrainStepMs.lipAvgPool, 1);
  results.wasmVsCpuCnnPlain = round(results.backends.cpu.cnnTrainStepMs.plain / results.backends.wasm.cnnTrainStepMs.plain, 1);
}
results.machine.loadAverageAtEnd = os.loadavg().map((v) => round(v));

const stamp = results.date.slice(0, 10);
const outJson = opts.out || (QUICK ? path.join(os.tmpdir(), `tfjs-lip-bench-quick-${process.pid}.json`) : path.join(root, 'bench', 'results', `${stamp}.json`));
fs.mkdirSync(path.dirname(outJson), { recursive: true });
fs.writeFileSync(outJson, JSON.stringify(results, null, 2));
// Only a full default run (every section, both backends, 20 runs) rewrites the documented tables.
const fullRun = !QUICK && !opts.runs && opts.only === DEFAULT_ONLY && opts.backends === DEFAULT_BACKENDS;
if (fullRun) fs.writeFileSync(path.join(root, 'docs', 'benchmarks.md'), markdown(results) + '\n');
log(`wrote ${outJson}${fullRun ? ' and docs/benchmarks.md' : ''}`);
