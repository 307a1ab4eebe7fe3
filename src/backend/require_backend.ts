/**
 * The check at tfjs-lip's entry points that a tfjs backend can run ops. tfjs-lip depends on
 * tfjs-core and tfjs-layers only, which register no backend: without `lip.backend.useFastest()`
 * (or `@tensorflow/tfjs`, or a backend package) tfjs-core fails inside its first op with
 * `No backend found in registry.`, which names neither the cause nor the fix.
 */
import * as tf from '@tensorflow/tfjs-core';

const FIX = 'call `await lip.backend.useFastest()` (or import @tensorflow/tfjs, or a backend package such as @tensorflow/tfjs-backend-cpu) first';

/**
 * Throws an `Error` naming `what` (the function called) and `lip.backend.useFastest()` when no
 * tfjs backend is registered, or when the best registered one cannot be initialized now (an
 * asynchronous backend such as wasm before `await tf.ready()`). Otherwise does what tfjs-core's
 * first op would do anyway: initializes the best registered backend if none is active yet.
 */
export function requireBackend(what: string): void {
  const engine = tf.engine();
  if (engine.backendNames().length === 0) {
    throw new Error(`${what}: no tfjs backend is registered: ${FIX}.`);
  }
  try {
    void engine.backend;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`${what}: the tfjs backend is not ready (${reason}): ${FIX}.`);
  }
}
