/**
 * The shape of the source tree (docs/architecture.md), read with the TypeScript compiler:
 * - imports point down the layer order (no folder imports one above it, no folder-level cycle);
 * - the layers never name an orthogonalizer implementation (they get one from the registry);
 * - no source file over 400 lines, no function or method over 60 lines.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';

const SRC = path.join(__dirname, '..', 'src');

/**
 * Folders from the bottom up: a folder may import its own and any earlier one. (`index.ts` at the
 * top imports everything; `inference` sits low so that deployments need none of the training code.)
 */
const ORDER = [
  'linalg',
  'core',
  'backend',
  'ops',
  'normalizers',
  'inference',
  'initializers',
  'layers',
  'activations',
  'constraints',
  'regularizers',
  'losses',
  'model',
  'metrics',
  'attacks',
  'evaluation',
  'local',
  'export',
  'io',
  'callbacks',
  'data',
  'penalties',
  'train',
  'tasks',
  'cli',
];

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

const FILES = sourceFiles(SRC);

/** The top folder of a source file or of a resolved import (`'.'` for a file at the top). */
function folderOf(file: string): string {
  const rel = path.relative(SRC, file).split(path.sep);
  const isTopFile = rel.length === 1 && !(fs.existsSync(file) && fs.statSync(file).isDirectory());
  return isTopFile ? '.' : rel[0]!;
}

/** Relative module specifiers a file imports or re-exports (type-only imports included: they are arrows too). */
function importsOf(file: string): string[] {
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2020, true);
  const out: string[] = [];
  source.forEachChild((node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      if (node.moduleSpecifier.text.startsWith('.')) out.push(node.moduleSpecifier.text);
    }
  });
  return out;
}

describe('imports point down the layer order', () => {
  it('every folder is in the order', () => {
    const folders = new Set(FILES.map(folderOf));
    folders.delete('.');
    expect([...folders].filter((f) => !ORDER.includes(f))).toEqual([]);
  });

  it('no folder imports a folder above it (hence no folder-level cycle)', () => {
    const upward: string[] = [];
    for (const file of FILES) {
      const from = folderOf(file);
      if (from === '.') continue;
      for (const spec of importsOf(file)) {
        const to = folderOf(path.resolve(path.dirname(file), spec));
        if (to === '.' || ORDER.indexOf(to) > ORDER.indexOf(from)) upward.push(`${path.relative(SRC, file)} -> ${spec}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('the layers never name an orthogonalizer implementation (only the registry and its types)', () => {
    const named = FILES.filter((f) => folderOf(f) === 'layers').flatMap((file) =>
      importsOf(file)
        .filter((spec) => /orthogonalizers\/.+/.test(spec) || /bjorck|polar/i.test(spec))
        .map((spec) => `${path.relative(SRC, file)} -> ${spec}`),
    );
    expect(named).toEqual([]);
  });
});

describe('units stay small', () => {
  it('no source file over 400 lines', () => {
    const long = FILES.map((f) => [path.relative(SRC, f), fs.readFileSync(f, 'utf8').split('\n').length] as const).filter(([, n]) => n > 400);
    expect(long).toEqual([]);
  });

  it('no function or method over 60 lines', () => {
    const long: string[] = [];
    for (const file of FILES) {
      const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2020, true);
      const visit = (node: ts.Node): void => {
        if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
          const start = source.getLineAndCharacterOfPosition(node.getStart()).line;
          const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
          if (end - start + 1 > 60) long.push(`${path.relative(SRC, file)}:${start + 1} (${end - start + 1} lines)`);
        }
        ts.forEachChild(node, visit);
      };
      visit(source);
    }
    expect(long).toEqual([]);
  });
});
