/**
 * The public surface of tfjs-lip, as a flat map `dotted name -> kind`, for test/public_api.test.ts
 * and test/package.test.ts:
 *
 * - run-time names, walked from a loaded module (`require('../src')`, `require('./dist')`, the ES
 *   module `dist/esm/index.mjs`): `namespace` (`layers`, ...; walked recursively), `class`,
 *   `function`, `object` (tables: arrays, sets, records) or `constant` (numbers, strings);
 * - type-only names (interfaces, type aliases), read from the barrels with the TypeScript
 *   compiler: `type`.
 */
import * as path from 'path';
import * as ts from 'typescript';

/** Dotted name (`layers.spectralDense`) -> kind. */
export type Surface = Record<string, string>;

/**
 * The run-time names of a module and of its namespaces, with their kinds. Self-contained (no
 * reference outside its body) so that `publicSurface.toString()` runs in a child Node process.
 */
export function publicSurface(lib: unknown): Surface {
  const out: Surface = {};
  // A module: CommonJS exports (`__esModule`), an ES module namespace, or the namespace object of
  // an esbuild bundle (`export * as layers`: a plain object of enumerable getters only).
  const isBundledNamespace = (v: object): boolean => {
    const descriptors = Object.values(Object.getOwnPropertyDescriptors(v));
    return Object.getPrototypeOf(v) === Object.prototype && descriptors.length > 0 && descriptors.every((d) => d.get !== undefined && d.enumerable);
  };
  const isNamespace = (v: unknown): boolean =>
    typeof v === 'object' &&
    v !== null &&
    ((v as { __esModule?: unknown }).__esModule === true || Object.prototype.toString.call(v) === '[object Module]' || isBundledNamespace(v));
  const kindOf = (v: unknown): string => {
    if (isNamespace(v)) return 'namespace';
    if (typeof v === 'function') return /^class\b/.test(Function.prototype.toString.call(v)) ? 'class' : 'function';
    if (typeof v === 'object' && v !== null) return 'object';
    return 'constant';
  };
  const walk = (obj: object, prefix: string): void => {
    for (const key of Object.keys(obj)) {
      const value = (obj as Record<string, unknown>)[key];
      const kind = kindOf(value);
      out[prefix + key] = kind;
      if (kind === 'namespace') walk(value as object, `${prefix}${key}.`);
    }
  };
  walk(lib as object, '');
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Every name a TypeScript entry point exports (namespaces walked recursively), values and types
 * alike, read with the compiler's checker from the sources (no type check, a few seconds).
 */
export function declaredNames(entries: string[], tsconfig: string): Map<string, string[]> {
  const config = ts.readConfigFile(tsconfig, (p) => ts.sys.readFile(p));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, path.dirname(tsconfig));
  const program = ts.createProgram(entries, { ...parsed.options, noEmit: true });
  const checker = program.getTypeChecker();
  const result = new Map<string, string[]>();
  for (const entry of entries) {
    const source = program.getSourceFile(entry);
    const moduleSymbol = source === undefined ? undefined : checker.getSymbolAtLocation(source);
    if (moduleSymbol === undefined) throw new Error(`${entry}: not a module the compiler can read`);
    const names: string[] = [];
    const walk = (symbol: ts.Symbol, prefix: string, seen: Set<ts.Symbol>): void => {
      for (const exported of checker.getExportsOfModule(symbol)) {
        const target = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
        const name = prefix + exported.getName();
        names.push(name);
        const isModule = (target.flags & ts.SymbolFlags.ValueModule) !== 0 && (target.declarations ?? []).some(ts.isSourceFile);
        if (isModule && !seen.has(target)) walk(target, `${name}.`, new Set([...seen, target]));
      }
    };
    walk(moduleSymbol, '', new Set([moduleSymbol]));
    result.set(entry, names.sort());
  }
  return result;
}

/** The run-time surface plus the declared names that exist only as types (kind `type`). */
export function withTypes(runtime: Surface, declared: string[]): Surface {
  const out: Surface = { ...runtime };
  for (const name of declared) if (!(name in out)) out[name] = 'type';
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The lines that differ between the checked-in surface and the actual one, ready to paste:
 * `+ "name": "kind",` (exported but not listed), `- "name": "kind",` (listed but not exported),
 * and kind changes. Empty when they agree.
 */
export function surfaceDiff(
  expected: Surface,
  actual: Surface,
  say = { added: 'exported, not in the list', removed: 'in the list, no longer exported' },
): string[] {
  const lines: string[] = [];
  const names = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
  for (const name of names) {
    const want = expected[name];
    const got = actual[name];
    if (want === got) continue;
    if (want === undefined) lines.push(`+ "${name}": "${got}",   (${say.added})`);
    else if (got === undefined) lines.push(`- "${name}": "${want}",   (${say.removed})`);
    else lines.push(`~ "${name}": "${want}" -> "${got}"`);
  }
  return lines;
}
