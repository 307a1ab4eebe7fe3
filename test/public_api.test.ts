/**
 * The public API of tfjs-lip, name by name: what `require('tfjs-lip')` and
 * `require('tfjs-lip/inference')` expose (run-time names with their kind, walked through the
 * namespaces `lip.layers`, `lip.activations`, ...) plus the names exported only as types, compared
 * with the checked-in list test/public_api.json. A name that appears or disappears without the
 * list changing fails here, with the lines to add or remove.
 *
 * Updating the list (a reviewed, one-line change per name):
 * - a new public name: export it by name from its barrel (`export { polarFactor } from './polar'`,
 *   `export type { Orthogonalizer } from './types'`; never `export *`), then add the line this test
 *   prints, e.g. `"normalizers.polarFactor": "function",`, to test/public_api.json, keeping the
 *   keys sorted (the file is `JSON.stringify(list, null, 2)` with sorted keys: one name a line);
 * - a helper other modules of src/ need is not public: import it from its own file
 *   (`../core/serialization`), and leave it out of the barrels;
 * - a removal or a kind change (`function` -> `class`) breaks users: delete or edit the line in the
 *   same change and say so in its description.
 *
 * The CommonJS and ES-module builds are compared with each other in test/package.test.ts.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { declaredNames, publicSurface, surfaceDiff, withTypes, type Surface } from './helpers/public_api';
import { itIf } from './helpers/skip';

const ROOT = path.resolve(__dirname, '..');
const LIST = path.join(ROOT, 'test', 'public_api.json');
const ENTRIES = { 'tfjs-lip': path.join(ROOT, 'src', 'index.ts'), 'tfjs-lip/inference': path.join(ROOT, 'src', 'inference', 'index.ts') };
type Entry = keyof typeof ENTRIES;
const KINDS = ['namespace', 'class', 'function', 'object', 'constant', 'type'];

const listText = fs.readFileSync(LIST, 'utf8');
const expected = JSON.parse(listText) as Record<Entry, Surface>;

/** Throws with the lines to add to or remove from test/public_api.json. */
function expectListed(entry: Entry, actual: Surface): void {
  const diff = surfaceDiff(expected[entry], actual);
  if (diff.length === 0) return;
  throw new Error(
    `The public API of '${entry}' differs from test/public_api.json:\n  ${diff.join('\n  ')}\n` +
      'If the change is intended, edit those lines of test/public_api.json (see the header of ' +
      'test/public_api.test.ts); otherwise export or stop exporting the name in its barrel (index.ts).',
  );
}

let declared: Map<string, string[]>;
const sources: Record<Entry, Surface> = {
  'tfjs-lip': publicSurface(require('../src')),
  'tfjs-lip/inference': publicSurface(require('../src/inference')),
};

beforeAll(() => {
  declared = declaredNames(Object.values(ENTRIES), path.join(ROOT, 'tsconfig.json'));
}, 120000);

describe('the public API list (test/public_api.json)', () => {
  it('is sorted, one name a line, with known kinds', () => {
    expect(Object.keys(expected).sort()).toEqual(['tfjs-lip', 'tfjs-lip/inference']);
    for (const list of Object.values(expected)) {
      const names = Object.keys(list);
      expect(names).toEqual([...names].sort());
      expect(Object.values(list).filter((kind) => !KINDS.includes(kind))).toEqual([]);
    }
    expect(listText).toBe(`${JSON.stringify(expected, null, 2)}\n`);
  });

  it.each(Object.keys(ENTRIES) as Entry[])("'%s' exports exactly the listed names (values and types)", (entry) => {
    expectListed(entry, withTypes(sources[entry], declared.get(ENTRIES[entry]) as string[]));
  });

  it('the names are spelled the same at run time and in the declarations', () => {
    // Every run-time name is declared (nothing is attached to the modules behind TypeScript's back).
    for (const entry of Object.keys(ENTRIES) as Entry[]) {
      const names = new Set(declared.get(ENTRIES[entry]));
      expect(Object.keys(sources[entry]).filter((name) => !names.has(name))).toEqual([]);
    }
  });
});

describe('what is public', () => {
  const lib = sources['tfjs-lip'];

  it('the namespaces, the model-level API and the error class', () => {
    const namespaces = Object.keys(lib).filter((name) => lib[name] === 'namespace');
    expect(namespaces).toEqual([
      'activations',
      'attacks',
      'backend',
      'callbacks',
      'constraints',
      'data',
      'evaluation',
      'initializers',
      'io',
      'layers',
      'local',
      'losses',
      'metrics',
      'normalizers',
      'penalties',
      'regularizers',
      'tasks',
      'tasks.wasserstein',
      'train',
    ]);
    for (const name of ['sequential', 'checkModel', 'lipschitzBound', 'vanillaExport', 'condense', 'certify', 'evaluateLipConst']) {
      expect(`${name}: ${lib[name]}`).toBe(`${name}: function`);
    }
    expect(lib['LipschitzConfigError']).toBe('class');
    expect(Object.keys(lib).filter((name) => name.startsWith('DEFAULT_'))).toHaveLength(7);
  });

  it('every layer has a lower-camel factory and an exported class', () => {
    const layers = Object.keys(lib).filter((name) => name.startsWith('layers.')).map((name) => name.slice('layers.'.length));
    const factories = layers.filter((name) => lib[`layers.${name}`] === 'function');
    const classes = layers.filter((name) => lib[`layers.${name}`] === 'class');
    expect(factories.length).toBeGreaterThanOrEqual(11);
    expect(layers.filter((name) => !['function', 'class', 'type'].includes(lib[`layers.${name}`] as string))).toEqual([]);
    // spectralDense <-> SpectralDense, scaledL2NormPooling2d <-> ScaledL2NormPooling2D, ...
    const classOf = (factory: string): string => (factory.charAt(0).toUpperCase() + factory.slice(1)).replace(/(\d)d/g, '$1D');
    expect(factories.map(classOf).filter((name) => !classes.includes(name))).toEqual([]);
  });

  it('tfjs-lip/inference holds only its two layer classes and their class-name table', () => {
    expect(sources['tfjs-lip/inference']).toEqual({
      INFERENCE_CLASS_NAMES: 'object',
      InferenceGroupSort: 'class',
      InferenceL2NormPooling2D: 'class',
    });
  });
});

describe('what is internal', () => {
  // The helpers issue 11 found published through `export *` barrels, and their siblings.
  const INTERNAL = [
    'layers.applyActivation',
    'layers.helmertColumns',
    'layers.L2_EXPORT_OFFSET',
    'layers.isLipschitzLayer', // top-level only: lip.isLipschitzLayer
    'initializers.toInitializer',
    'initializers.toRegularizer',
    'initializers.serializeObject',
    'initializers.deserializeObject',
    'normalizers.toPair',
    'normalizers.convGeometry',
    'normalizers.maxWindowCoverage',
    'normalizers.untaped',
    'normalizers.l2Normalize',
    'callbacks.flattenLayers',
    'callbacks.condenseModel',
    'callbacks.findLayerWeight',
    'callbacks.readLayerMatrix',
    'callbacks.interpolate',
    'callbacks.scheduleValue',
    'activations.sortPairs',
    'activations.sortGroups',
    'backend.maxPoolGradWasm',
    'backend.WASM_WRAPPED_KERNELS',
    'data.oneHot',
    'data.isGzip',
    'losses.reduce',
    'metrics.deltaMulticlass',
    'singularValuesOf',
    'certificateFactor',
    'layerLinearMatrix',
  ];

  it.each(INTERNAL)('%s is not reachable from the package', (name) => {
    const lib = require('../src') as Record<string, Record<string, unknown> | undefined>;
    const [head, tail] = name.split('.') as [string, string | undefined];
    const value = tail === undefined ? lib[head] : lib[head]?.[tail];
    expect(value).toBeUndefined();
    expect(sources['tfjs-lip'][name]).toBeUndefined();
  });
});

const built = fs.existsSync(path.join(ROOT, 'dist', 'index.js')) && fs.existsSync(path.join(ROOT, 'dist', 'inference', 'index.js'));
const maybe = itIf(built, 'dist/ is not built (npm run build)');

/** Runs `code` in a child Node process at the repository root and returns its stdout. */
const node = (code: string): string => execFileSync(process.execPath, ['-e', code], { cwd: ROOT, encoding: 'utf8' }).trim();

describe('the built package (after `npm run build`)', () => {
  maybe("require('tfjs-lip') and require('tfjs-lip/inference') expose what the sources export", () => {
    for (const entry of Object.keys(ENTRIES) as Entry[]) {
      const code = `console.log(JSON.stringify((${publicSurface.toString()})(require('${entry}'))))`;
      const diff = surfaceDiff(sources[entry], JSON.parse(node(code)) as Surface, { added: 'in dist/, not in src/', removed: 'in src/, not in dist/' });
      if (diff.length > 0) throw new Error(`require('${entry}') differs from src/ (run \`npm run build\`):\n  ${diff.join('\n  ')}`);
    }
  });

  maybe('no module under dist/ is reachable through the package name', () => {
    const probe = (id: string): string =>
      node(`try { require('${id}'); console.log('loaded'); } catch (e) { console.log(e.code + ': ' + e.message.split('\\n')[0]); }`);
    for (const id of ['tfjs-lip/dist/layers/dense', 'tfjs-lip/dist/core/serialization.js', 'tfjs-lip/dist/esm/index.mjs']) {
      expect(probe(id)).toMatch(/^ERR_PACKAGE_PATH_NOT_EXPORTED: Package subpath '\.\/dist\/.*' is not defined by "exports"/);
    }
    expect(probe('tfjs-lip/inference')).toBe('loaded');
  });
});
