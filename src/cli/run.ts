/**
 * One run of an experiment config: seed the process, load the data, build and train the model as
 * the config says (plain fit, penalties, adversarial or certified training through
 * `lip.train.fit`, or a Wasserstein dual task), evaluate it, and return the results record that
 * `output.ts` writes. Timings are kept apart from the figures (`timings`), so that two runs with the
 * same seed on the same backend give identical records except there.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Attack } from '../attacks/types';
import { LipschitzConfigError } from '../core/errors';
import { loadIdx, loadMnist } from '../data';
import type { Dataset } from '../data';
import type { Penalty, TrainFitArgs, TrainingLoss } from '../train';
import { fit } from '../train';
import { evaluateClassifier, type EvaluationResults } from './evaluate';
import { buildModel } from './model';
import { epochProgress } from './progress';
import { provenance, seedProcess, type Provenance } from './provenance';
import { build, withSeed } from './registry';
import type { RunConfig } from './schema';
import { runWasserstein, type WassersteinResults } from './wasserstein';

/** What `tfjs-lip run` records for one run (results.json). */
export interface RunRecord {
  name: string;
  configFile: string;
  seed: number;
  provenance: Provenance;
  config: RunConfig;
  data?: { description: string; trainSamples: number; testSamples: number };
  history: Record<string, number[]>;
  results: EvaluationResults | WassersteinResults;
  reference?: RunConfig['reference'];
  /** Wall-clock figures: they differ between otherwise identical runs. */
  timings: { epochSeconds: number[]; secondsPerEpoch: number | null; trainSeconds: number; totalSeconds: number; finishedAt: string };
}

/** Overrides from the command line. */
export interface RunOverrides {
  dataDir?: string;
  epochs?: number;
  seed?: number;
  log?: (line: string) => void;
}

async function loadData(run: RunConfig, dataDir: string | undefined): Promise<{ data: Dataset; description: string }> {
  const options = { shape: run.data.shape, trainSize: run.data.trainSize, testSize: run.data.testSize };
  const dir = dataDir ?? (run.data.source === 'idx' ? run.data.dir : undefined);
  if (run.data.source === 'idx' && dir === undefined) throw new LipschitzConfigError("data.dir expected an IDX folder when data.source is 'idx' (or pass --data), but got undefined.");
  if (dir === undefined) return { data: loadMnist(options), description: 'embedded mnist package' };
  return { data: await loadIdx(dir, options), description: `IDX folder ${dir}` };
}

function makeOptimizer(run: RunConfig): tf.Optimizer {
  const o = run.optimizer!;
  if (o.name === 'adam') return tf.train.adam(o.learningRate);
  if (o.name === 'sgd') return tf.train.sgd(o.learningRate);
  if (o.name === 'momentum') return tf.train.momentum(o.learningRate, o.momentum ?? 0.9);
  return tf.train.rmsprop(o.learningRate);
}

/** `lip.train.fit` options for the run's training method. */
function methodArgs(run: RunConfig): { args: Partial<TrainFitArgs>; dispose: () => void } {
  const t = run.training;
  if (t.method === 'penalty') {
    const penalties = t.penalties.map((p, i) => build<Penalty>('penalty', `training.penalties[${i}].name`, p.name, withSeed(p.name, p.args, run.seed)));
    return { args: { penalties }, dispose: () => undefined };
  }
  if (t.method === 'adversarial') {
    const attack = build<Attack>('attack', 'training.attack.name', t.attack.name, withSeed(t.attack.name, t.attack.args, run.seed));
    return { args: { adversarial: t.weight === undefined ? { attack } : { attack, weight: t.weight } }, dispose: () => undefined };
  }
  if (t.method === 'certified') {
    const loss = build<TrainingLoss & { dispose?: () => void }>('certifiedLoss', 'training.loss.name', t.loss.name, withSeed(t.loss.name, t.loss.args, run.seed));
    return { args: { loss }, dispose: () => loss.dispose?.() };
  }
  return { args: {}, dispose: () => undefined };
}

async function trainClassifier(run: RunConfig, model: tfl.LayersModel, data: Dataset, log: (line: string) => void): Promise<{ history: Record<string, number[]>; epochSeconds: number[] }> {
  const loss = build<string | ((yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor)>('loss', 'loss.name', run.loss!.name, run.loss!.args);
  model.compile({ optimizer: makeOptimizer(run), loss, metrics: ['accuracy'] });
  const epochs = run.epochs!;
  const batchSize = run.batchSize!;
  const samples = data.labelsTrain.length;
  const progress = epochProgress({ label: run.name, epochs, batches: Math.ceil(samples / batchSize), log });
  const method = methodArgs(run);
  try {
    const history = await fit(model, data.xTrain, data.yTrain, { epochs, batchSize, shuffle: true, verbose: 0, callbacks: [new tfl.CustomCallback(progress.callbacks)], ...method.args });
    const out: Record<string, number[]> = {};
    for (const [key, values] of Object.entries(history.history)) out[key] = (values as (number | tf.Tensor)[]).map((v) => (typeof v === 'number' ? v : v.dataSync()[0]!));
    return { history: out, epochSeconds: progress.epochSeconds };
  } finally {
    method.dispose();
  }
}

async function runClassification(run: RunConfig, overrides: RunOverrides, log: (line: string) => void): Promise<Omit<RunRecord, 'provenance' | 'configFile' | 'timings'> & { epochSeconds: number[]; trainSeconds: number }> {
  const { data, description } = await loadData(run, overrides.dataDir);
  log(`${run.name}: data ${description}: ${data.labelsTrain.length} train / ${data.labelsTest.length} test`);
  const model = buildModel(run, data.xTrain.shape.slice(1));
  try {
    const t0 = Date.now();
    const { history, epochSeconds } = await trainClassifier(run, model, data, log);
    const trainSeconds = (Date.now() - t0) / 1000;
    const results = evaluateClassifier(run, model, data.xTest, data.labelsTest);
    return {
      name: run.name,
      seed: run.seed,
      config: run,
      data: { description, trainSamples: data.labelsTrain.length, testSamples: data.labelsTest.length },
      history,
      results,
      reference: run.reference,
      epochSeconds,
      trainSeconds,
    };
  } finally {
    model.dispose();
    data.dispose();
  }
}

/** Runs one config run with the command line's overrides applied. */
export async function runOne(configRun: RunConfig, configFile: string, overrides: RunOverrides): Promise<RunRecord & { plots: { dual?: Record<string, unknown> } }> {
  const log = overrides.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const run: RunConfig = { ...configRun, seed: overrides.seed ?? configRun.seed, epochs: overrides.epochs ?? configRun.epochs };
  seedProcess(run.seed);
  const start = Date.now();
  let body;
  let dual: Record<string, unknown> | undefined;
  if (run.task === 'wasserstein') {
    const w = runWasserstein(run, log);
    body = { name: run.name, seed: run.seed, config: run, history: w.history, results: w.results, reference: run.reference, epochSeconds: [], trainSeconds: w.trainSeconds };
    dual = w.dualSpec;
  } else {
    body = await runClassification(run, overrides, log);
  }
  const { epochSeconds, trainSeconds, ...rest } = body;
  const secondsPerEpoch = epochSeconds.length > 0 ? epochSeconds.reduce((a, b) => a + b, 0) / epochSeconds.length : null;
  const timings = { epochSeconds, secondsPerEpoch, trainSeconds, totalSeconds: (Date.now() - start) / 1000, finishedAt: new Date().toISOString() };
  return { ...rest, configFile, provenance: provenance(), timings, plots: { dual } };
}
