/**
 * Backend selection for Node: the native TensorFlow binding when it is installed, else the wasm
 * backend with tfjs-lip's gradient kernels, else the pure-JS cpu backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkKnownKeys, optionNames } from '../core/validation';
import { registerWasmGradientKernels } from './wasm_kernels';
import { withProcessStateKept } from './process_handlers';

export { restoreProcessHandlers } from './process_handlers';
export { requireBackend } from './require_backend';

export { registerWasmGradientKernels } from './wasm_kernels';

/** Options of {@link useFastest}. */
export interface UseFastestOptions {
  /** Try `@tensorflow/tfjs-node-gpu` and `@tensorflow/tfjs-node` first (default true). */
  native?: boolean;
  /** Try `@tensorflow/tfjs-backend-wasm` next (default true). */
  wasm?: boolean;
}

/** What {@link describeBackend} reports. */
export interface BackendDescription {
  /** Name of the active backend (`tensorflow`, `wasm`, `cpu`, ...). */
  name: string;
  /** For wasm: whether the SIMD build is in use. */
  simd?: boolean;
  /** For wasm: whether the multi-threaded build is in use. */
  threads?: boolean;
}

/**
 * `require` hidden from bundlers and from TypeScript's module resolution, so that optional peers
 * (`@tensorflow/tfjs-node`, ...) are looked up only at run time and only in Node.
 */
function optionalRequire(name: string): unknown {
  const req: ((id: string) => unknown) | undefined =
    typeof module !== 'undefined' && typeof module.require === 'function'
      ? (id: string) => module.require(id)
      : undefined;
  if (req == null) return undefined;
  try {
    return req(name);
  } catch {
    return undefined;
  }
}

async function trySetBackend(name: string): Promise<boolean> {
  if (tf.findBackendFactory(name) == null) return false;
  try {
    const ok = await tf.setBackend(name);
    if (!ok) return false;
    await tf.ready();
    return tf.getBackend() === name;
  } catch {
    return false;
  }
}

/**
 * Activates the fastest backend available and returns its name:
 * `tensorflow` when `@tensorflow/tfjs-node-gpu` or `@tensorflow/tfjs-node` can be loaded
 * (optional peer dependencies), else `wasm` (with {@link registerWasmGradientKernels} applied,
 * so convolutions can be trained, and the process-wide error listeners of its emscripten runtime
 * removed, see {@link restoreProcessHandlers}), else `cpu`. Awaits `tf.ready()`.
 */
export async function useFastest(options: UseFastestOptions = {}): Promise<string> {
  checkKnownKeys('useFastest', options, optionNames<UseFastestOptions>({ native: true, wasm: true }));
  if (options.native ?? true) {
    for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
      if (optionalRequire(pkg) != null && (await trySetBackend('tensorflow'))) return 'tensorflow';
    }
  }
  if (options.wasm ?? true) {
    if (tf.findBackendFactory('wasm') != null || optionalRequire('@tensorflow/tfjs-backend-wasm') != null) {
      registerWasmGradientKernels();
      // The emscripten runtime turns every later uncaught error into an exit with code 7.
      if (await withProcessStateKept(() => trySetBackend('wasm'))) return 'wasm';
    }
  }
  if (tf.findBackendFactory('cpu') == null) optionalRequire('@tensorflow/tfjs-backend-cpu');
  if (await trySetBackend('cpu')) return 'cpu';
  await tf.ready();
  return tf.getBackend();
}

/** Name of the active backend and, for wasm, whether its SIMD / multi-threaded build runs. */
export function describeBackend(): BackendDescription {
  const name = tf.getBackend();
  if (name !== 'wasm') return { name };
  const flag = (key: string): boolean | undefined => {
    try {
      return tf.env().getBool(key);
    } catch {
      return undefined;
    }
  };
  return { name, simd: flag('WASM_HAS_SIMD_SUPPORT'), threads: flag('WASM_HAS_MULTITHREAD_SUPPORT') };
}
