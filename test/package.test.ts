/**
 * The built package loads both ways in Node 20: `require('tfjs-lip')` and `import('tfjs-lip')`
 * (package self-reference through its `exports` map), exposing the same API, with type
 * declarations shipped. `npm test` builds before jest.
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

const run = (code: string): string => execFileSync(process.execPath, ['-e', code], { cwd: root, encoding: 'utf8' }).trim();
const built = fs.existsSync(path.join(root, 'dist', 'index.js'));
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
});
