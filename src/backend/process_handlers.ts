/**
 * Undoing what the wasm backend's emscripten runtime does to the Node process when it starts:
 * it adds an `uncaughtException` listener that rethrows the error and an `unhandledRejection`
 * listener that throws the reason. A listener that throws makes Node print the error from inside
 * `tf-backend-wasm.node.js` and exit with code 7 ("internal exception handler failure") instead
 * of 1, for every uncaught error of the whole program, tfjs or not.
 */

/** The Node `process` when there is one (not in a browser). */
function nodeProcess(): NodeJS.Process | undefined {
  const proc = (globalThis as { process?: NodeJS.Process }).process;
  return proc !== undefined && typeof proc.listeners === 'function' && typeof proc.removeListener === 'function' ? proc : undefined;
}

/**
 * Matches a listener whose whole body rethrows its argument, possibly guarded by
 * `if (!(arg instanceof X))`: emscripten's `function (ex) { if (!(ex instanceof ExitStatus)) {
 * throw ex; } }` and `function (reason) { throw reason; }`, and their minified or arrow forms.
 */
const RETHROWING_LISTENER =
  /^(?:async\s+)?(?:function\s*[\w$]*\s*)?\(?\s*([\w$]+)\s*\)?\s*(?:=>)?\s*\{\s*(?:if\s*\(\s*!\s*\(\s*\1\s+instanceof\s+[\w$.]+\s*\)\s*\)\s*\{?\s*)?throw\s+\1\s*;?\s*\}?\s*;?\s*\}$/;

/** True for a listener that only rethrows what it receives (see {@link RETHROWING_LISTENER}). */
export function isRethrowingListener(listener: unknown): boolean {
  if (typeof listener !== 'function') return false;
  let source: string;
  try {
    source = Function.prototype.toString.call(listener).trim();
  } catch {
    return false;
  }
  return source.length < 300 && RETHROWING_LISTENER.test(source);
}

const EVENTS = ['uncaughtException', 'unhandledRejection'] as const;

/**
 * Removes the process-wide `uncaughtException` / `unhandledRejection` listeners that only rethrow
 * (those the wasm backend's emscripten runtime installs when it starts), so that an error in the
 * program keeps its own stack trace and Node's exit code (1). Returns how many were removed.
 * `lip.backend.useFastest()` calls it after starting wasm; call it yourself after
 * `tf.setBackend('wasm')`. Does nothing outside Node.
 */
export function restoreProcessHandlers(): number {
  const proc = nodeProcess();
  if (proc === undefined) return 0;
  let removed = 0;
  for (const event of EVENTS) {
    const listeners = (proc.listeners as (name: string) => Array<(...args: unknown[]) => void>).call(proc, event);
    for (const listener of listeners) {
      if (isRethrowingListener(listener)) {
        proc.removeListener(event, listener);
        removed++;
      }
    }
  }
  return removed;
}

/**
 * Runs `start` (which starts a backend) and then puts back what it changed in the process: the
 * `uncaughtException` / `unhandledRejection` listeners added while it ran are removed (and any
 * rethrowing one, see {@link restoreProcessHandlers}), and `process.exitCode` is restored.
 */
export async function withProcessStateKept<T>(start: () => Promise<T>): Promise<T> {
  const proc = nodeProcess();
  const exitCode = proc?.exitCode;
  const listenersOf = (event: string) => (proc!.listeners as (name: string) => Array<(...args: unknown[]) => void>).call(proc, event);
  const before = proc === undefined ? [] : EVENTS.map((event) => new Set(listenersOf(event)));
  try {
    return await start();
  } finally {
    if (proc !== undefined) {
      EVENTS.forEach((event, i) => {
        for (const listener of listenersOf(event)) if (!before[i]!.has(listener)) proc.removeListener(event, listener);
      });
      restoreProcessHandlers();
      if (proc.exitCode !== exitCode) proc.exitCode = exitCode;
    }
  }
}
