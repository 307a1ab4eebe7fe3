/**
 * Node deployment as docs/deployment.md describes it: the doc's `predict.js` (plain
 * `@tensorflow/tfjs` and `fs`, no tfjs-lip), run as written in a separate Node process on the
 * files `lip.io.saveModel` wrote for `lip.vanillaExport` of a trained model, prints the logits the
 * original tfjs-lip model computes on the same inputs. Also: the reason the doc gives for that
 * handler (`file://` fails under `@tensorflow/tfjs`) holds.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { vanillaExport } from '../src/export';
import { saveModel } from '../src/io';
import { spectralConv2d } from '../src/layers/convolutional';
import { spectralDense } from '../src/layers/dense';
import { groupSort2 } from '../src/activations';
import { certify } from '../src/metrics/certify';
import { lipschitzBound, sequential } from '../src/model';
import { snippetNamed } from './helpers/snippets';
import { seededValues } from './helpers/model_fixtures';

const ROOT = path.resolve(__dirname, '..');
const DOC = path.join(ROOT, 'docs', 'deployment.md');

let work: string;
let model: tfl.LayersModel;
beforeAll(async () => {
  // An application folder whose node_modules is the repository's: @tensorflow/tfjs is there,
  // tfjs-lip is not (it is this repository, not a dependency of itself).
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-lip-deploy-'));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(work, 'node_modules'), 'dir');
  model = await trainedExport(path.join(work, 'out'));
});
afterAll(() => {
  model?.dispose();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

function runNode(script: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [script, ...args], { cwd: work, encoding: 'utf8', timeout: 120000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A small trained Lipschitz CNN (conv, GroupSort2, dense) and its export, saved to `dir`. */
async function trainedExport(dir: string): Promise<tfl.LayersModel> {
  const model = sequential({
    layers: [
      spectralConv2d({ filters: 4, kernelSize: 3, inputShape: [6, 6, 1], name: 'conv' }),
      groupSort2(),
      tfl.layers.flatten(),
      spectralDense({ units: 5, name: 'head' }),
    ],
  });
  const xs = tf.tensor4d(seededValues(32 * 36, 3), [32, 6, 6, 1]);
  const ys = tf.tensor2d(seededValues(32 * 5, 4), [32, 5]);
  model.compile({ optimizer: tf.train.adam(0.02), loss: 'meanSquaredError' });
  await model.fit(xs, ys, { epochs: 3, batchSize: 8, verbose: 0 });
  tf.dispose([xs, ys]);
  const bound = lipschitzBound(model);
  if (!(bound > 0.5 && bound < 1.001)) throw new Error(`unexpected Lipschitz bound ${bound}`);
  const plain = vanillaExport(model);
  await saveModel(plain, dir);
  plain.dispose();
  return model;
}

describe('docs/deployment.md: predict.js with plain @tensorflow/tfjs', () => {
  it('loads the files of lip.io.saveModel in a separate process without tfjs-lip and prints the original logits', async () => {
    const snippet = snippetNamed(DOC, 'predict.js');
    expect(snippet.code).not.toMatch(/tfjs-lip|require\(['"]\.\.?\//);
    expect(snippet.code).toMatch(/require\('@tensorflow\/tfjs'\)/);
    const script = path.join(work, 'predict.js');
    fs.writeFileSync(script, snippet.code);

    // Run as documented: `node predict.js out`.
    const r = runNode(script, ['out']);
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    const printed = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { classes: number[]; logits: number[][]; radii: number[] };

    // The same inputs here: 3 samples of linspace(0, 1), shaped as the model's input.
    const tensorsBefore = tf.memory().numTensors;
    const x = tf.tidy(() => tf.reshape(tf.linspace(0, 1, 3 * 36), [3, 6, 6, 1]));
    const y = model.predict(x) as tf.Tensor;
    const expected = y.arraySync() as number[][];
    // Certified radii from the bound in model.json: those lip.certify gives the original model.
    const radii = certify(model, x);
    expect(printed.radii).toHaveLength(3);
    printed.radii.forEach((radius, i) => expect(Math.abs(radius - radii[i]!)).toBeLessThan(1e-5 * Math.max(1, radii[i]!)));
    expect(Math.max(...radii)).toBeGreaterThan(0);
    tf.dispose([x, y]);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(printed.logits).toHaveLength(3);
    let maxDiff = 0;
    printed.logits.forEach((row, i) => row.forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - (expected[i]?.[j] as number))))));
    expect(maxDiff).toBeLessThan(1e-5);
    expect(printed.classes).toEqual(expected.map((row) => row.indexOf(Math.max(...row))));
    // Non-trivial outputs: the three samples do not all get the same logits.
    const spread = Math.max(...expected.flat()) - Math.min(...expected.flat());
    expect(spread).toBeGreaterThan(1e-2);
    expect(JSON.stringify(expected[0])).not.toBe(JSON.stringify(expected[2]));
  });

  it("tf.loadLayersModel('file://...') fails under @tensorflow/tfjs in Node, as the doc says", () => {
    const probe = path.join(work, 'probe_file_url.js');
    fs.writeFileSync(
      probe,
      "require('@tensorflow/tfjs').loadLayersModel('file://' + require('path').resolve(process.argv[2], 'model.json'))" +
        ".then(() => console.log('loaded'), (e) => console.log('failed: ' + e.message));\n",
    );
    expect(fs.existsSync(path.join(work, 'out', 'model.json'))).toBe(true);
    const r = runNode(probe, ['out']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('failed: fetch failed');
  });
});
