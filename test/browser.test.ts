/**
 * An exported model predicts the same in headless Chromium (plain tfjs browser bundles, loaded
 * over HTTP from a local server) as in Node. Skipped, with a message, when /usr/bin/chromium (or
 * $CHROMIUM_PATH) is missing.
 */
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Browser, Page } from 'playwright-core';
import * as lip from '../src';
import { describeIf } from './helpers/skip';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = fs.existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(`Skipping the browser tests: no Chromium at ${CHROMIUM} (install Debian's chromium).`);
}

/** The tfjs browser bundles the page loads, from node_modules. */
function bundlePath(pkg: string, file: string): string {
  return path.join(path.dirname(require.resolve(`${pkg}/package.json`)), 'dist', file);
}
const BUNDLES: Record<string, string> = {
  'tf-core.min.js': bundlePath('@tensorflow/tfjs-core', 'tf-core.min.js'),
  'tf-backend-cpu.min.js': bundlePath('@tensorflow/tfjs-backend-cpu', 'tf-backend-cpu.min.js'),
  'tf-layers.min.js': bundlePath('@tensorflow/tfjs-layers', 'tf-layers.min.js'),
};
const PAGE = path.join(__dirname, 'fixtures', 'browser', 'index.html');

/** Deterministic numbers in [-1, 1) (a linear congruential generator). */
function pseudoRandom(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** Saves a Layers model as model.json + weights.bin with nothing but tfjs and fs. */
async function saveWithFs(model: tfl.LayersModel, dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = artifacts.weightData ?? new ArrayBuffer(0);
      const bytes = tf.io.CompositeArrayBuffer.join(weightData);
      fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(bytes));
      const json = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
      };
      fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
}

/** Loads model.json + weights from a folder with nothing but tfjs and fs. */
async function loadWithFs(dir: string): Promise<tfl.LayersModel> {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Buffer[] = [];
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer;
  return tfl.loadLayersModel(
    tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData, format: json.format }),
  );
}

/** Tiny static server: the page, the tfjs bundles and the saved models under /models/<id>/. */
function startServer(modelsRoot: string): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    let file: string | undefined;
    let type = 'application/octet-stream';
    if (url.pathname === '/' || url.pathname === '/index.html') {
      file = PAGE;
      type = 'text/html';
    } else if (url.pathname.startsWith('/tfjs/')) {
      file = BUNDLES[url.pathname.slice('/tfjs/'.length)];
      type = 'application/javascript';
    } else {
      const m = /^\/models\/([\w-]+)\/([\w.-]+)$/.exec(url.pathname);
      if (m) {
        file = path.join(modelsRoot, m[1] as string, m[2] as string);
        if ((m[2] as string).endsWith('.json')) type = 'application/json';
      }
    }
    if (file === undefined || !fs.existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': type });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

interface BrowserPrediction {
  shape: number[];
  values: number[];
  backend: string;
}

describeIf(hasChromium, `no Chromium at ${CHROMIUM}`)('exported models in headless Chromium', () => {
  let modelsRoot: string;
  let server: http.Server;
  let baseUrl: string;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    for (const [name, file] of Object.entries(BUNDLES)) {
      if (!fs.existsSync(file)) throw new Error(`tfjs browser bundle ${name} not found at ${file}`);
    }
    modelsRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-lip-browser-'));
    server = await startServer(modelsRoot);
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${baseUrl}/`);
    const ready = await page.evaluate(() => (window as unknown as { pageReady?: boolean }).pageReady === true);
    if (!ready) throw new Error(`the page did not load the tfjs bundles: ${errors.join('; ')}`);
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    if (modelsRoot) fs.rmSync(modelsRoot, { recursive: true, force: true });
  });

  async function predictInBrowser(id: string, x: tf.Tensor): Promise<BrowserPrediction> {
    const inputs = Array.from(x.dataSync());
    return page.evaluate(
      ([url, values, shape]) =>
        (
          window as unknown as {
            predictWith: (u: string, v: number[], s: number[]) => Promise<BrowserPrediction>;
          }
        ).predictWith(url, values, shape),
      [`${baseUrl}/models/${id}/model.json`, inputs, x.shape] as [string, number[], number[]],
    );
  }

  /** Node's and Chromium's predictions agree to 1e-5; returns the largest difference. */
  async function compare(id: string, nodeModel: tfl.LayersModel, x: tf.Tensor): Promise<number> {
    const expected = tf.tidy(() => nodeModel.predict(x) as tf.Tensor);
    const got = await predictInBrowser(id, x);
    expect(got.backend).toBe('cpu');
    expect(got.shape).toEqual(expected.shape);
    const want = expected.dataSync();
    let maxDiff = 0;
    want.forEach((v, i) => {
      maxDiff = Math.max(maxDiff, Math.abs(v - (got.values[i] as number)));
    });
    expected.dispose();
    expect(maxDiff).toBeLessThan(1e-5);
    // The predictions are not trivial (a constant output would also "agree").
    expect(Math.max(...want) - Math.min(...want)).toBeGreaterThan(1e-2);
    return maxDiff;
  }

  it('a plain tfjs model saved with fs predicts in Chromium as in Node', async () => {
    const model = tfl.sequential({
      layers: [
        tfl.layers.dense({ units: 16, activation: 'relu', inputShape: [8] }),
        tfl.layers.dense({ units: 4 }),
      ],
    });
    model.setWeights(
      model.getWeights().map((w, i) => tf.tensor(pseudoRandom(w.size, 11 + i), w.shape, 'float32')),
    );
    const dir = path.join(modelsRoot, 'plain');
    await saveWithFs(model, dir);
    const x = tf.tensor2d(pseudoRandom(6 * 8, 5), [6, 8]);
    // Node: the model reloaded from the same files predicts exactly as the original.
    const reloaded = await loadWithFs(dir);
    const diffReload = tf.tidy(() =>
      tf.max(tf.abs(tf.sub(model.predict(x) as tf.Tensor, reloaded.predict(x) as tf.Tensor))).dataSync()[0],
    );
    expect(diffReload).toBe(0);
    await compare('plain', reloaded, x);
    // A known value: the first output of the first sample, computed by hand in float64.
    const [k1, b1, k2, b2] = model.getWeights().map((w) => w.dataSync());
    const x0 = Array.from(x.dataSync().subarray(0, 8));
    const hidden = Array.from({ length: 16 }, (_, j) =>
      Math.max(0, x0.reduce((s, xi, i) => s + xi * (k1 as Float32Array)[i * 16 + j]!, (b1 as Float32Array)[j]!)),
    );
    const y00 = hidden.reduce((s, h, j) => s + h * (k2 as Float32Array)[j * 4]!, (b2 as Float32Array)[0]!);
    const browserOut = await predictInBrowser('plain', x);
    expect(Math.abs((browserOut.values[0] as number) - y00)).toBeLessThan(1e-5);
    tf.dispose([x]);
    model.dispose();
    reloaded.dispose();
  });

  it('lip.vanillaExport of a trained lip.sequential spectralDense model, saved with lip.io.saveModel', async () => {
    const model = lip.sequential({
      layers: [
        lip.layers.spectralDense({ units: 16, activation: 'relu', inputShape: [8] }),
        lip.layers.spectralDense({ units: 4 }),
      ],
    });
    // A few training steps so that the weights are not the initial ones.
    const xTrain = tf.tensor2d(pseudoRandom(64 * 8, 21), [64, 8]);
    const yTrain = tf.tensor2d(pseudoRandom(64 * 4, 22), [64, 4]);
    model.compile({ optimizer: tf.train.adam(0.01), loss: 'meanSquaredError' });
    await model.fit(xTrain, yTrain, { epochs: 3, batchSize: 16, verbose: 0 });
    const vanilla = lip.vanillaExport(model);
    const dir = path.join(modelsRoot, 'lip');
    await lip.io.saveModel(vanilla, dir);
    // The saved topology holds only tfjs built-in layers (the browser page knows nothing else).
    const topology = fs.readFileSync(path.join(dir, 'model.json'), 'utf8');
    const classNames = [...topology.matchAll(/"class_name":\s*"(\w+)"/g)].map((m) => m[1]);
    expect(classNames).toContain('Dense');
    expect(classNames).not.toContain('SpectralDense');
    const x = tf.tensor2d(pseudoRandom(7 * 8, 23), [7, 8]);
    // Chromium agrees with the trained tfjs-lip model and with its exported copy in Node.
    await compare('lip', model, x);
    await compare('lip', vanilla, x);
    tf.dispose([x, xTrain, yTrain]);
    model.dispose();
    vanilla.dispose();
  });
});
