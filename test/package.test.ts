/**
 * The built package loads both ways in Node 20: `require('tfjs-lip')` and `import('tfjs-lip')`
 * (package self-reference through its `exports` map), exposing the same API, with type
 * declarations shipped. Node resolves both to the CommonJS build (one copy per process); a
 * bundler targeting the browser resolves `import 'tfjs-lip'` to the ES-module build
 * `dist/esm/index.mjs`, which exports the same names. `npm test` builds before jest.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

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
const maybe = built ? it : it.skip;

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

  maybe('the ES-module build exports the same names as the CommonJS build and runs the same checks', () => {
    const cjs = JSON.parse(run(`console.log(JSON.stringify(Object.keys(require('./dist/index.js')).sort()))`)) as string[];
    const esm = JSON.parse(
      run(`import('./dist/esm/index.mjs').then((m) => console.log(JSON.stringify(Object.keys(m).filter((k) => k !== 'default').sort())))`),
    ) as string[];
    expect(cjs.length).toBeGreaterThan(20);
    expect(esm).toEqual(cjs);
    const viaEsm = run(`${probe} import('./dist/esm/index.mjs').then((m) => console.log(show(m)));`);
    const viaRequire = run(`${probe} console.log(show(require('./dist/index.js')));`);
    expect(viaEsm).toBe(viaRequire);
    // The namespaces hold the same members too (layers, losses, ...).
    const pick = `const pick = (m) => JSON.stringify(['layers', 'activations', 'losses', 'metrics', 'io', 'data', 'backend'].map((k) => Object.keys(m[k]).sort()));`;
    const cjsMembers = run(`${pick} console.log(pick(require('./dist/index.js')));`);
    const esmMembers = run(`${pick} import('./dist/esm/index.mjs').then((m) => console.log(pick(m)));`);
    expect(JSON.parse(cjsMembers).every((keys: string[]) => keys.length > 0)).toBe(true);
    expect(esmMembers).toBe(cjsMembers);
  });
});
