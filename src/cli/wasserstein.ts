/**
 * The Wasserstein task of a config (LNets' dual-network experiments): trains the model on a pair of
 * `lip.tasks.wasserstein` with `trainDual`, records the estimate against the exact W1, and draws
 * the learned potential against the analytic `f*` along the first axis through the first center.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { trainDual, type WassersteinPair } from '../tasks/wasserstein';
import { buildModel } from './model';
import { dualSurfaceSpec } from './plots';
import { build } from './registry';
import type { RunConfig } from './schema';

export interface WassersteinResults {
  pair: string;
  dim: number;
  exactW1: number;
  estimate: number;
  ratio: number;
}

/** The batch objective E_p1 f - E_p2 f, averaged over 50 chunks of steps (a curve to plot). */
function chunked(history: number[], chunks = 50): number[] {
  const size = Math.max(1, Math.ceil(history.length / chunks));
  const out: number[] = [];
  for (let i = 0; i < history.length; i += size) {
    const part = history.slice(i, i + size);
    out.push(part.reduce((a, b) => a + b, 0) / part.length);
  }
  return out;
}

function surfaceAlongAxis(model: tfl.LayersModel, pair: WassersteinPair, points = 121): { t: number[]; learned: number[]; analytic: number[] } {
  const center = pair.centers[0] ?? new Array<number>(pair.dim).fill(0);
  const half = 3 * pair.radius;
  const t = Array.from({ length: points }, (_, i) => center[0]! - half + (2 * half * i) / (points - 1));
  const rows = t.map((ti) => [ti, ...center.slice(1)]);
  const [learned, analytic] = tf.tidy(() => {
    const x = tf.tensor2d(rows, [points, pair.dim]);
    const f = model.predict(x) as tf.Tensor;
    return [Array.from(f.dataSync()), Array.from(pair.dualSurface(x).dataSync())];
  });
  const shift = analytic.reduce((a, b) => a + b, 0) / points - learned.reduce((a, b) => a + b, 0) / points;
  return { t, learned: learned.map((v) => v + shift), analytic };
}

/** Trains and measures; returns the figures, the objective curve and the dual-surface chart. */
export function runWasserstein(run: RunConfig, log: (line: string) => void) {
  const w = run.wasserstein!;
  const pair = build<WassersteinPair>('pair', 'wasserstein.pair.name', w.pair.name, w.pair.args);
  const model = buildModel(run, [pair.dim]);
  try {
    log(`${run.name}: ${pair.name} (${pair.dim}-D, exact W1 ${pair.w1}), ${w.steps} steps of ${w.batchSize} + ${w.batchSize} samples`);
    const t0 = Date.now();
    const dual = trainDual(model, pair, { steps: w.steps, batchSize: w.batchSize, learningRate: w.learningRate, seed: run.seed, evalSize: w.evalSize });
    const trainSeconds = (Date.now() - t0) / 1000;
    const results: WassersteinResults = { pair: pair.name, dim: pair.dim, exactW1: pair.w1, estimate: dual.estimate, ratio: dual.estimate / pair.w1 };
    log(`${run.name}: estimate ${dual.estimate.toFixed(4)} / exact ${pair.w1} = ${results.ratio.toFixed(4)} (${trainSeconds.toFixed(1)} s)`);
    const surface = surfaceAlongAxis(model, pair);
    const dualSpec = dualSurfaceSpec({ title: `${run.name}: learned vs analytic dual potential`, ...surface });
    return { results, history: { dual_objective: chunked(dual.history) }, trainSeconds, dualSpec };
  } finally {
    model.dispose();
  }
}
