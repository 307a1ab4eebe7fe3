/**
 * The wasm kernels as shipped, saved by `registerWasmGradientKernels` before it wraps them: a
 * wrapper calls the shipped kernel function directly (going through the registry would find the
 * wrapper itself).
 */
import type * as tf from '@tensorflow/tfjs-core';

const shippedKernels = new Map<string, tf.KernelConfig>();

/** Saves the shipped kernel that a wrapper of `config.kernelName` will call. */
export function saveShippedKernel(config: tf.KernelConfig): void {
  shippedKernels.set(config.kernelName, config);
}

/** The saved shipped kernel of `kernelName` (throws when it was not saved). */
export function shippedKernel(kernelName: string): tf.KernelConfig {
  const shipped = shippedKernels.get(kernelName);
  if (shipped == null) throw new Error(`tfjs-lip: the shipped wasm kernel '${kernelName}' was not saved.`);
  return shipped;
}
