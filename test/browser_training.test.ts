/**
 * Browser training and deployment, as docs/deployment.md describes them: the doc's `train.mjs`
 * (tfjs-lip's ES-module build + `@tensorflow/tfjs` + the wasm backend) and `deploy.mjs` (plain
 * tfjs) are bundled with esbuild exactly as written, served with the wasm binaries from a local
 * HTTP server, and run in headless Chromium. The training page must run on wasm, lower its loss,
 * report a certified bound close to 1 and an export that predicts like the model; the deployment
 * page, whose bundle holds no tfjs-lip code, must predict what the training page predicted.
 * Skipped, with a message, when /usr/bin/chromium (or $CHROMIUM_PATH) is missing.
 */
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as os from 'os';
import * as path from 'path';
import type { Browser, BrowserContext } from 'playwright-core';
import { snippetNamed } from './helpers/snippets';
import { describeIf } from './helpers/skip';

const ROOT = path.resolve(__dirname, '..');
const DOC = path.join(ROOT, 'docs', 'deployment.md');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = fs.existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(`Skipping the browser training test: no Chromium at ${CHROMIUM} (install Debian's chromium).`);
}
const WASM_DIR = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');

interface Bundle {
  file: string;
  /** Input files of the bundle, relative to the repository root. */
  inputs: string[];
}

/**
 * Bundles `entry` for the browser the way the doc says (`esbuild <entry> --bundle --format=esm`).
 * `tfjs-lip` resolves through a node_modules link to this repository, i.e. through the `exports`
 * map of package.json; the other packages come from the repository's node_modules.
 */
async function bundle(entry: string, outfile: string, work: string): Promise<Bundle> {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    absWorkingDir: work,
    nodePaths: [path.join(ROOT, 'node_modules')],
    logLevel: 'silent',
    metafile: true,
  });
  const inputs = Object.keys(result.metafile.inputs).map((p) => path.relative(ROOT, path.resolve(work, p)));
  return { file: outfile, inputs };
}

function startServer(files: Record<string, { file: string; type: string }>): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    let entry = files[url.pathname];
    const wasm = /^\/wasm\/([\w.-]+\.wasm)$/.exec(url.pathname);
    if (entry === undefined && wasm) entry = { file: path.join(WASM_DIR, wasm[1] as string), type: 'application/wasm' };
    if (entry === undefined || !fs.existsSync(entry.file)) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': entry.type });
    fs.createReadStream(entry.file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Opens `url` in `context`, collects console lines until one matches `done` (or a page error / timeout). */
async function runPage(context: BrowserContext, url: string, done: RegExp, timeoutMs: number): Promise<string[]> {
  const page = await context.newPage();
  const lines: string[] = [];
  const errors: string[] = [];
  page.on('console', (m) => lines.push(m.text()));
  page.on('pageerror', (e) => errors.push(String(e)));
  try {
    await page.goto(url);
    const deadline = Date.now() + timeoutMs;
    while (!lines.some((l) => done.test(l)) && errors.length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await page.close();
  }
  if (errors.length > 0) throw new Error(`page ${url} failed: ${errors.join('; ')}\nconsole:\n${lines.join('\n')}`);
  if (!lines.some((l) => done.test(l))) throw new Error(`page ${url} did not finish in ${timeoutMs} ms\nconsole:\n${lines.join('\n')}`);
  return lines;
}

function field(lines: string[], re: RegExp): RegExpExecArray {
  for (const l of lines) {
    const m = re.exec(l);
    if (m) return m;
  }
  throw new Error(`no console line matches ${re}:\n${lines.join('\n')}`);
}

describeIf(hasChromium, `no Chromium at ${CHROMIUM}`)('browser training and deployment (docs/deployment.md) in headless Chromium', () => {
  let work: string;
  let server: http.Server;
  let baseUrl: string;
  let browser: Browser;
  let trainBundle: Bundle;
  let deployBundle: Bundle;

  beforeAll(async () => {
    const esm = path.join(ROOT, 'dist', 'esm', 'index.mjs');
    if (!fs.existsSync(esm)) throw new Error(`${esm} is missing: run \`npm run build\` first`);
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-lip-browser-training-'));
    // The application's node_modules: tfjs-lip itself (a link to this repository, as an install
    // would place it); everything else is found through nodePaths.
    fs.mkdirSync(path.join(work, 'node_modules'));
    fs.symlinkSync(ROOT, path.join(work, 'node_modules', 'tfjs-lip'), 'dir');
    fs.writeFileSync(path.join(work, 'train.mjs'), snippetNamed(DOC, 'train.mjs').code);
    fs.writeFileSync(path.join(work, 'deploy.mjs'), snippetNamed(DOC, 'deploy.mjs').code);
    trainBundle = await bundle('train.mjs', path.join(work, 'public', 'train.js'), work);
    deployBundle = await bundle('deploy.mjs', path.join(work, 'public', 'deploy.js'), work);
    const html = (script: string): string => `<!doctype html><meta charset="utf-8"><script type="module" src="${script}"></script>`;
    fs.writeFileSync(path.join(work, 'public', 'index.html'), html('train.js'));
    fs.writeFileSync(path.join(work, 'public', 'deploy.html'), html('deploy.js'));
    const pub = (name: string, type: string): { file: string; type: string } => ({ file: path.join(work, 'public', name), type });
    server = await startServer({
      '/': pub('index.html', 'text/html'),
      '/deploy.html': pub('deploy.html', 'text/html'),
      '/train.js': pub('train.js', 'text/javascript'),
      '/deploy.js': pub('deploy.js', 'text/javascript'),
    });
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('the bundles use the ESM build of tfjs-lip and one copy of tfjs-core; the deployment bundle has no tfjs-lip', () => {
    // From this repository, the bundle takes the ES-module build and nothing else (not the CommonJS dist/).
    const fromRepo = trainBundle.inputs.filter((p) => !p.startsWith('node_modules/') && !p.startsWith('..'));
    expect(fromRepo).toEqual(['dist/esm/index.mjs']);
    const coreCopies = new Set(
      trainBundle.inputs
        .map((p) => /^(.*node_modules\/@tensorflow\/tfjs-core)\//.exec(p)?.[1])
        .filter((p): p is string => p !== undefined),
    );
    expect([...coreCopies]).toEqual(['node_modules/@tensorflow/tfjs-core']);
    expect(trainBundle.inputs).toContain('node_modules/@tensorflow/tfjs-backend-wasm/dist/index.js');
    expect(deployBundle.inputs.some((p) => p.startsWith('dist'))).toBe(false);
    expect(deployBundle.inputs).toContain('node_modules/@tensorflow/tfjs-core/dist/index.js');
  });

  it('train.mjs trains on wasm, certifies about 1, exports; deploy.mjs predicts the same with plain tfjs', async () => {
    // One browser context (one origin's storage) for both pages: the model goes through IndexedDB.
    const context = await browser.newContext();
    const train = await runPage(context, `${baseUrl}/`, /^predictions: /, 120000);
    expect(field(train, /^backend: (\w+)$/)[1]).toBe('wasm');
    const [, first, last, acc] = field(train, /^loss: ([\d.]+) -> ([\d.]+), accuracy ([\d.]+)$/);
    expect(Number(last)).toBeLessThan(0.8 * Number(first));
    expect(Number(acc)).toBeGreaterThan(0.5); // 4 classes: chance is about 0.25
    const bound = Number(field(train, /^Lipschitz bound: ([\d.]+)$/)[1]);
    expect(bound).toBeGreaterThan(0.99);
    expect(bound).toBeLessThan(1.001);
    expect(Number(field(train, /^export max \|diff\|: (\S+)$/)[1])).toBeLessThan(1e-5);
    const trained = JSON.parse(field(train, /^predictions: (.*)$/)[1] as string) as number[][];
    expect(trained).toHaveLength(4);
    const flat = trained.flat();
    expect(Math.max(...flat) - Math.min(...flat)).toBeGreaterThan(1e-2);

    const deploy = await runPage(context, `${baseUrl}/deploy.html`, /^predictions: /, 60000);
    await context.close();
    expect(field(deploy, /^deploy backend: (\w+)$/)[1]).toMatch(/^(webgl|cpu|wasm)$/);
    const deployed = JSON.parse(field(deploy, /^predictions: (.*)$/)[1] as string) as number[][];
    expect(deployed).toHaveLength(4);
    deployed.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - (trained[i]?.[j] as number))).toBeLessThan(1e-4)));
  });
});
