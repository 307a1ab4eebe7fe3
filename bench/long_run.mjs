/**
 * The `long` section of `npm run bench`: training as users run it, over many full-MNIST epochs
 * (issue 13, point 4). The README MLP (784-256-128-10, spectralDense + groupSort2) and the same
 * MLP with plain tfjs layers (dense + relu) train epoch by epoch in turn (lip epoch 1, plain
 * epoch 1, lip epoch 2, ...), Adam 1e-3, batch 256, with every step timed from one `onBatchEnd`
 * to the next. Reported: seconds per epoch, step-time percentiles (p50, p95) per epoch and over
 * the run for both models and their ratio, and at the end of each epoch the first layer's
 * raw-kernel condition number (float64 singular values of the kernel) and the Björck iterations
 * its next training call needs (replayed on its state): the warm start must stay on its fast path
 * as the kernel's conditioning grows, which the first epochs alone do not show.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const { singularValuesOf } = require('../dist/linalg/svd');

/** deel-torchlip (PyTorch 1.13, 2 threads) on this machine, full MNIST, batch 256, s/epoch (issue 13). */
export const REFERENCE_SECONDS_PER_EPOCH = { mlpGroupSort2: 7.4, deelLipTutorialCnn: 11.5 };

const percentile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
};

/** Per-step times (ms) of one epoch of `model.fit`, from one `onBatchEnd` to the next. */
async function timedEpoch(tfl, model, x, y) {
  const steps = [];
  let last = performance.now();
  const t0 = last;
  await model.fit(x, y, {
    epochs: 1, batchSize: 256, verbose: 0, shuffle: true,
    callbacks: new tfl.CustomCallback({
      onBatchEnd: () => {
        const now = performance.now();
        steps.push(now - last);
        last = now;
      },
    }),
  });
  return { seconds: (performance.now() - t0) / 1000, steps };
}

/** Condition number of a 2-D kernel (float64 singular values). */
function conditionNumber(kernel) {
  const [rows, cols] = kernel.shape;
  const values = kernel.dataSync();
  const rowArrays = Array.from({ length: rows }, (_, i) => Float64Array.from(values.subarray(i * cols, (i + 1) * cols)));
  const sv = singularValuesOf(rowArrays, cols);
  return Math.max(...sv) / Math.min(...sv);
}

/**
 * Runs the section on the wasm backend. `ctx`: `{ tf, tfl, lip, root, quick, compile, round,
 * log, replayBjorckIterations }` from run.mjs.
 */
export async function benchLongRun(r, ctx) {
  const { tfl, lip, root, quick, compile, round, log, replayBjorckIterations } = ctx;
  const dir = path.resolve(root, '..', 'shared', 'data', 'mnist');
  if (!fs.existsSync(dir)) { r.longRun = `skipped: ${dir} absent`; return; }
  const epochs = quick ? 2 : 10;
  const data = await lip.data.loadIdx(dir, { shape: 'flat', ...(quick ? { trainSize: 1024, testSize: 16 } : {}) });
  const gs = () => lip.activations.groupSort2();
  const lipMlp = compile(lip.sequential({ layers: [
    lip.layers.spectralDense({ units: 256, inputShape: [784] }), gs(),
    lip.layers.spectralDense({ units: 128 }), gs(), lip.layers.spectralDense({ units: 10 }),
  ] }));
  const plainMlp = compile(tfl.sequential({ layers: [
    tfl.layers.dense({ units: 256, activation: 'relu', inputShape: [784] }),
    tfl.layers.dense({ units: 128, activation: 'relu' }), tfl.layers.dense({ units: 10 }),
  ] }));
  const first = lipMlp.layers[0];
  const perEpoch = [];
  const all = { lip: [], plain: [] };
  for (let e = 1; e <= epochs; e++) {
    const lipRun = await timedEpoch(tfl, lipMlp, data.xTrain, data.yTrain);
    const plainRun = await timedEpoch(tfl, plainMlp, data.xTrain, data.yTrain);
    all.lip.push(...lipRun.steps);
    all.plain.push(...plainRun.steps);
    const row = {
      epoch: e,
      lipSeconds: round(lipRun.seconds), plainSeconds: round(plainRun.seconds),
      lipP50: round(percentile(lipRun.steps, 0.5)), lipP95: round(percentile(lipRun.steps, 0.95)),
      plainP50: round(percentile(plainRun.steps, 0.5)), plainP95: round(percentile(plainRun.steps, 0.95)),
      firstKernelCondition: round(conditionNumber(first.kernelState.kernel.read()), 1),
      firstLayerBjorckIterations: replayBjorckIterations(first),
    };
    perEpoch.push(row);
    log(`  long run epoch ${e}: ${JSON.stringify(row)}`);
  }
  const stat = (xs) => ({ p50: round(percentile(xs, 0.5), 3), p95: round(percentile(xs, 0.95), 3), max: round(Math.max(...xs), 3) });
  const lipStats = stat(all.lip);
  const plainStats = stat(all.plain);
  r.longRun = {
    epochs, samples: data.xTrain.shape[0], batchSize: 256, perEpoch,
    stepMs: { lip: lipStats, plain: plainStats },
    ratio: { p50: round(lipStats.p50 / plainStats.p50), p95: round(lipStats.p95 / plainStats.p95) },
    meanLipSecondsPerEpoch: round(perEpoch.reduce((s, p) => s + p.lipSeconds, 0) / epochs),
    referenceSecondsPerEpoch: REFERENCE_SECONDS_PER_EPOCH.mlpGroupSort2,
  };
  log('  long run', JSON.stringify({ stepMs: r.longRun.stepMs, ratio: r.longRun.ratio }));
  lipMlp.dispose();
  plainMlp.dispose();
  data.dispose();
}

/** The section's lines in docs/benchmarks.md. */
export function longRunMarkdown(r) {
  if (typeof r.longRun === 'string') return [`Long run: ${r.longRun}.`, ''];
  if (r.longRun == null) return [];
  const l = r.longRun;
  const L = [`Long run: the README MLP (spectralDense + groupSort2) and the plain tfjs MLP trained in turn for ${l.epochs} full-MNIST epochs each (${l.samples} images, batch ${l.batchSize}, Adam 1e-3), every step timed. Steps (ms): Lipschitz p50 ${l.stepMs.lip.p50}, p95 **${l.stepMs.lip.p95}**, max ${l.stepMs.lip.max}; plain p50 ${l.stepMs.plain.p50}, p95 ${l.stepMs.plain.p95}; lip/plain **${l.ratio.p50}** at p50 and **${l.ratio.p95}** at p95 (target <= 4 at p95). Mean ${l.meanLipSecondsPerEpoch} s per Lipschitz epoch against the reference's ${l.referenceSecondsPerEpoch} s (deel-torchlip, 2 threads, this machine; target <= 1.0x).`, ''];
  L.push('| epoch | lip s | plain s | lip p50 / p95 ms | plain p50 / p95 ms | first kernel condition number | its Björck iterations next call |', '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const p of l.perEpoch) L.push(`| ${p.epoch} | ${p.lipSeconds} | ${p.plainSeconds} | ${p.lipP50} / ${p.lipP95} | ${p.plainP50} / ${p.plainP95} | ${p.firstKernelCondition} | ${p.firstLayerBjorckIterations} |`);
  L.push('');
  return L;
}
