/**
 * Exports of the README's architectures keep their certificate and cost nothing:
 * - `lipschitzBound(vanillaExport(m))` equals `lipschitzBound(m)` within 1e-6 (relative), with
 *   built-in layers only and with the inference layers, and the export predicts what m predicts;
 * - the folding happened (the MLP export is Dense/PReLU/Dense/PReLU/Dense, the average-pooling CNN
 *   keeps no rescaling), so the export runs no more ops than the model (speed: `npm run bench`);
 * - `model.json` carries the bound and the certificate formula (`userDefinedMetadata.tfjsLip`);
 * - an export with inference layers loads and predicts in a child Node process that imports only
 *   tfjs and `tfjs-lip/inference` (none of the training code).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { vanillaExport } from '../src/export';
import type { ExportCertificate } from '../src/export';
import { INFERENCE_CLASS_NAMES } from '../src/inference';
import { saveModel } from '../src/io';
import { lipschitzBound, TFJS_BUILTIN_CLASS_NAMES } from '../src/model';
import { VERSION } from '../src/core/version';
import { ARCHITECTURES, buildArchitecture, inputShapeOf, type Architecture } from './helpers/architectures';
import { maxAbsDiff, predictArray, seededValues } from './helpers/model_fixtures';

const ROOT = path.join(__dirname, '..');

function inputs(arch: Architecture, n: number, seed: number): tf.Tensor {
  const shape = inputShapeOf(arch);
  const size = shape.reduce((p, d) => p * d, 1);
  // Pixels in [0, 1] like MNIST, with a few exact zeros (all-zero pooling windows).
  const values = Array.from(seededValues(n * size, seed), (v) => Math.max(0, Math.min(1, 0.5 + 0.5 * v)));
  return tf.tensor(values, [n, ...shape]);
}

function classNames(model: tfl.LayersModel): string[] {
  return model.layers.map((l) => l.getClassName());
}

function certificateOf(model: tfl.LayersModel): ExportCertificate {
  return (model.getUserDefinedMetadata() as { tfjsLip: ExportCertificate }).tfjsLip;
}

/** One model per architecture, built once (the spectral initializer is slow on the cpu backend). */
const models = new Map<Architecture, tfl.Sequential>();
function modelOf(arch: Architecture): tfl.Sequential {
  let model = models.get(arch);
  if (model === undefined) {
    model = buildArchitecture(arch, 2);
    models.set(arch, model);
  }
  return model;
}
afterAll(() => models.forEach((m) => m.dispose()));

describe.each(ARCHITECTURES)('%s', (arch) => {
  let x: tf.Tensor;
  let reference: number[][];
  let bound: number;

  beforeAll(() => {
    x = inputs(arch, 24, 31);
    reference = predictArray(modelOf(arch), x);
    bound = lipschitzBound(modelOf(arch));
  });
  afterAll(() => x.dispose());

  it.each([false, true])('inferenceLayers %s: same predictions, same certified bound, bound in the metadata', (inferenceLayers) => {
    const before = tf.memory().numTensors;
    const exported = vanillaExport(modelOf(arch), { inferenceLayers });
    const allowed = new Set([...TFJS_BUILTIN_CLASS_NAMES, ...(inferenceLayers ? INFERENCE_CLASS_NAMES : [])]);
    classNames(exported).forEach((name) => expect(allowed.has(name)).toBe(true));
    const scale = Math.max(...reference.flat().map(Math.abs));
    expect(maxAbsDiff(predictArray(exported, x), reference)).toBeLessThan(1e-5 * Math.max(1, scale));
    // The model's bound is about kCoefLip = 2 (a lower bound of 2(1 - 1e-3) shows it is meaningful).
    expect(bound).toBeGreaterThan(2 * (1 - 1e-3));
    expect(bound).toBeLessThan(2 * (1 + 1e-3));
    const exportedBound = lipschitzBound(exported);
    expect(Math.abs(exportedBound - bound) / bound).toBeLessThan(1e-6);
    const certificate = certificateOf(exported);
    expect(certificate.lipschitzBound).toBe(exportedBound);
    expect(certificate).toMatchObject({ version: VERSION, norm: 'l2', inferenceLayers });
    expect(certificate.certificate).toContain('sqrt(2) * lipschitzBound');
    exported.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('the folds happened: the export computes no more than the model', () => {
  const expectClasses = (arch: Architecture, inferenceLayers: boolean, expected: string[]) => {
    const exported = vanillaExport(modelOf(arch), { inferenceLayers });
    expect(classNames(exported)).toEqual(expected);
    exported.dispose();
  };

  it('MLP with GroupSort2: Dense, PReLU, Dense, PReLU, Dense', () => {
    expectClasses('mlpGroupSort2', false, ['InputLayer', 'Dense', 'PReLU', 'Dense', 'PReLU', 'Dense']);
  });

  it('CNN with average pooling: the scales and pair maps live in the kernels (no Rescaling, no extra Dense)', () => {
    expectClasses('cnnAverage', false, [
      'InputLayer', 'Conv2D', 'PReLU', 'AveragePooling2D', 'Conv2D', 'PReLU', 'AveragePooling2D', 'Flatten', 'Dense', 'PReLU', 'Dense',
    ]);
  });

  it('CNN with L2-norm pooling and inference layers: the ops of the model itself', () => {
    expectClasses('cnnL2', true, [
      'InputLayer', 'Conv2D', 'TfjsLipInferenceGroupSort', 'TfjsLipInferenceL2NormPooling2D', 'Conv2D', 'TfjsLipInferenceGroupSort',
      'TfjsLipInferenceL2NormPooling2D', 'Flatten', 'Dense', 'TfjsLipInferenceGroupSort', 'Dense',
    ]);
  });
});

describe('deployment with the inference layers', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-lip-inference-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("loads and predicts in a child process that imports only tfjs and 'tfjs-lip/inference'; model.json carries the bound", async () => {
    const model = modelOf('cnnL2');
    const exported = vanillaExport(model, { inferenceLayers: true });
    const x = inputs('cnnL2', 4, 7);
    const expected = predictArray(model, x);
    await saveModel(exported, dir);
    fs.writeFileSync(path.join(dir, 'x.json'), JSON.stringify(Array.from(x.dataSync())));
    const script = `
      const fs = require('fs');
      const path = require('path');
      const tf = require('@tensorflow/tfjs-core');
      const tfl = require('@tensorflow/tfjs-layers');
      require('@tensorflow/tfjs-backend-cpu');
      require('tfjs-lip/inference');
      (async () => {
        await tf.setBackend('cpu');
        const dir = ${JSON.stringify(dir)};
        const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
        const weights = new Uint8Array(fs.readFileSync(path.join(dir, 'weights.bin'))).buffer;
        const model = await tfl.loadLayersModel(tf.io.fromMemory({
          modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: weights,
          userDefinedMetadata: json.userDefinedMetadata }));
        const x = tf.tensor(JSON.parse(fs.readFileSync(path.join(dir, 'x.json'), 'utf8')), [4, 28, 28, 1]);
        const dist = ${JSON.stringify(path.join(ROOT, 'dist') + path.sep)};
        const loaded = Object.keys(require.cache).filter((f) => f.startsWith(dist)).map((f) => path.relative(dist, f).split(path.sep).join('/'));
        console.log(JSON.stringify({ y: model.predict(x).arraySync(), metadata: json.userDefinedMetadata, loaded }));
      })();`;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 60000 })) as {
      y: number[][];
      metadata: { tfjsLip: ExportCertificate };
      loaded: string[];
    };
    expect(maxAbsDiff(out.y, expected)).toBeLessThan(1e-5);
    expect(out.metadata.tfjsLip.lipschitzBound).toBeCloseTo(lipschitzBound(model), 6);
    expect(out.metadata.tfjsLip.inferenceLayers).toBe(true);
    // Only the inference module and the sorting kernel it uses, no layers, normalizers or index.
    expect(out.loaded.sort()).toEqual(['backend/sort_pairs.js', 'backend/wasm/heap.js', 'inference/index.js', 'ops/sort.js']);
    exported.dispose();
    x.dispose();
  });
});
