/**
 * lip.io: a Lipschitz model round-trips through saveModel/loadModel (same predictions, same
 * weights including the non-trainable normalization state, training resumes); the files follow
 * the tfjs format; an exported model loads in a separate Node process that has only plain tfjs;
 * IO problems give clear errors.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { vanillaExport } from '../src/export';
import { fileSystem, loadModel, saveModel } from '../src/io';
import { sequential } from '../src/model';
import { spectralDense } from '../src/layers/dense';
import { maxAbsDiff, predictArray, seededValues } from './helpers/model_fixtures';

const lipDense = spectralDense;
const ROOT = path.join(__dirname, '..');

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-lip-io-'));
});
afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function trainedModel(): Promise<tfl.Sequential> {
  const model = sequential({
    layers: [
      lipDense({ units: 8, activation: 'relu', inputShape: [4], name: 'l1' }),
      tfl.layers.dropout({ rate: 0.2, name: 'drop' }),
      lipDense({ units: 3, name: 'l2' }),
    ],
    kCoefLip: 2,
  });
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'meanSquaredError' });
  const xs = tf.tensor2d(seededValues(32 * 4, 1), [32, 4]);
  const ys = tf.tensor2d(seededValues(32 * 3, 2), [32, 3]);
  await model.fit(xs, ys, { epochs: 2, batchSize: 8, verbose: 0 });
  tf.dispose([xs, ys]);
  return model;
}

function weightsByName(model: tfl.LayersModel): Map<string, number[]> {
  return new Map(model.weights.map((w) => [w.originalName, Array.from(w.read().dataSync())]));
}

describe('saveModel / loadModel', () => {
  it('a trained Lipschitz model round-trips: predictions, every weight (state included), kCoefLip; training resumes', async () => {
    const model = await trainedModel();
    const input = tf.tensor2d(seededValues(10 * 4, 3), [10, 4]);
    const result = await saveModel(model, tmp);
    expect(result.modelArtifactsInfo.weightDataBytes).toBe(model.weights.reduce((s, w) => s + 4 * w.shape.reduce((p: number, d) => p * (d ?? 0), 1), 0));

    const loaded = await loadModel(tmp);
    expect(maxAbsDiff(predictArray(loaded, input), predictArray(model, input))).toBeLessThanOrEqual(1e-6);
    const original = weightsByName(model);
    const restored = weightsByName(loaded);
    expect([...restored.keys()].sort()).toEqual([...original.keys()].sort());
    // The non-trainable normalization state (u, sigma, w_bar) is saved and restored.
    for (const state of ['l1/u', 'l1/sigma', 'l1/w_bar', 'l2/u']) expect(original.has(state)).toBe(true);
    for (const [name, values] of original) expect(restored.get(name)).toEqual(values);
    expect(loaded.layers.map((l) => (l as unknown as { kCoefLip?: number }).kCoefLip)).toEqual(model.layers.map((l) => (l as unknown as { kCoefLip?: number }).kCoefLip));

    loaded.compile({ optimizer: tf.train.adam(0.01), loss: 'meanSquaredError' });
    const ys = tf.tensor2d(seededValues(10 * 3, 4), [10, 3]);
    const history = await loaded.fit(input, ys, { epochs: 1, verbose: 0 });
    const loss = history.history.loss?.[0] as number;
    expect(Number.isFinite(loss)).toBe(true);
    expect(maxAbsDiff(predictArray(loaded, input), predictArray(model, input))).toBeGreaterThan(1e-6);
    tf.dispose([input, ys]);
    model.dispose();
    loaded.dispose();
  });

  it('writes the tfjs file format: model.json with a relative weightsManifest, one weights.bin in manifest order', async () => {
    const model = await trainedModel();
    await saveModel(model, `file://${tmp}`);
    expect(fs.readdirSync(tmp).sort()).toEqual(['model.json', 'weights.bin']);
    const json = JSON.parse(fs.readFileSync(path.join(tmp, 'model.json'), 'utf8'));
    expect(json.format).toBe('layers-model');
    expect(json.modelTopology.class_name).toBe('Sequential');
    expect(json.weightsManifest).toHaveLength(1);
    expect(json.weightsManifest[0].paths).toEqual(['weights.bin']);
    // Decode weights.bin by hand from the manifest and compare with the model's variables.
    const bin = fs.readFileSync(path.join(tmp, 'weights.bin'));
    const floats = new Float32Array(bin.buffer, bin.byteOffset, bin.byteLength / 4);
    const byName = weightsByName(model);
    let offset = 0;
    for (const spec of json.weightsManifest[0].weights as Array<{ name: string; shape: number[]; dtype: string }>) {
      expect(spec.dtype).toBe('float32');
      const size = spec.shape.reduce((p, d) => p * d, 1);
      const values = byName.get(spec.name);
      expect(values).toBeDefined();
      expect(Array.from(floats.subarray(offset, offset + size))).toEqual(values);
      offset += size;
    }
    expect(offset).toBe(floats.length);
    model.dispose();
  });

  it('lip.io.fileSystem works with model.save and tfl.loadLayersModel, also given the model.json path', async () => {
    const model = await trainedModel();
    await model.save(fileSystem(tmp));
    const loaded = await tfl.loadLayersModel(fileSystem(path.join(tmp, 'model.json')));
    const input = tf.tensor2d(seededValues(5 * 4, 8), [5, 4]);
    expect(maxAbsDiff(predictArray(loaded, input), predictArray(model, input))).toBeLessThanOrEqual(1e-6);
    const viaUrl = await loadModel(`file://${tmp}`);
    expect(maxAbsDiff(predictArray(viaUrl, input), predictArray(model, input))).toBeLessThanOrEqual(1e-6);
    tf.dispose(input);
  });

  it('clear errors: missing directory, malformed model.json, missing or short weight file', async () => {
    await expect(loadModel(path.join(tmp, 'nowhere'))).rejects.toThrow(/model file .*nowhere.*model\.json does not exist/);
    fs.writeFileSync(path.join(tmp, 'model.json'), '{ not json');
    await expect(loadModel(tmp)).rejects.toThrow(/is not valid JSON/);
    fs.writeFileSync(path.join(tmp, 'model.json'), JSON.stringify({ weightsManifest: [] }));
    await expect(loadModel(tmp)).rejects.toThrow(/no 'modelTopology'/);

    const model = await trainedModel();
    await saveModel(model, tmp);
    const bin = fs.readFileSync(path.join(tmp, 'weights.bin'));
    fs.writeFileSync(path.join(tmp, 'weights.bin'), bin.subarray(0, bin.length - 4));
    await expect(loadModel(tmp)).rejects.toThrow(new RegExp(`hold ${bin.length - 4} bytes, but its weightsManifest needs ${bin.length}`));
    fs.rmSync(path.join(tmp, 'weights.bin'));
    await expect(loadModel(tmp)).rejects.toThrow(/weight file .*weights\.bin listed in .*model\.json does not exist/);
    fs.writeFileSync(path.join(tmp, 'file'), 'x');
    await expect(saveModel(model, path.join(tmp, 'file'))).rejects.toThrow(/exists and is not a directory/);
    expect(() => fileSystem('')).toThrow(/expected a directory path or a file:\/\/ URL/);
    model.dispose();
  });
});

describe('exported model in a plain-tfjs Node process', () => {
  it('loads without tfjs-lip and predicts the same (1e-5)', async () => {
    const model = await trainedModel();
    const exported = vanillaExport(model);
    await saveModel(exported, tmp);
    const inputs = Array.from({ length: 6 }, (_, i) => Array.from(seededValues(4, 40 + i)));
    const inputsFile = path.join(tmp, 'inputs.json');
    fs.writeFileSync(inputsFile, JSON.stringify(inputs));
    const fixture = path.join(ROOT, 'test', 'fixtures', 'load_vanilla.js');
    expect(fs.readFileSync(fixture, 'utf8')).not.toMatch(/require\([^)]*(tfjs-lip|\.\.\/src|dist)/);
    const stdout = execFileSync(process.execPath, [fixture, tmp, inputsFile], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const child = JSON.parse(stdout) as { prediction: number[][]; classes: string[] };
    expect(child.classes).toEqual(['InputLayer', 'Dense', 'Dropout', 'Dense']);
    const x = tf.tensor2d(inputs);
    expect(maxAbsDiff(child.prediction, predictArray(model, x))).toBeLessThanOrEqual(1e-5);
    tf.dispose(x);
    exported.dispose();
    model.dispose();
  });
});
