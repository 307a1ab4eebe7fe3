/**
 * `TfjsLipSortPairs`: sorts each pair `(x[2i], x[2i+1])` of the last axis into `(min, max)` (the
 * GroupSort2 / MaxMin activation), as a kernel of its own for the cpu and wasm backends, with its
 * gradient kernel `TfjsLipSortPairsGrad`.
 *
 * Why a kernel: composed from tfjs ops, the pair sort needs strided slices and a concat, or
 * products with small selection matrices, or broadcast masks, which the wasm backend runs at
 * 5-25 ns per element; on the activations of a CNN (1.6 million pairs per batch of 256 MNIST
 * images) that was a third of the training step. A JS loop over the backend's memory does it at
 * about 1 ns per element, forward and backward. Each output is exactly one input (a selection, no
 * arithmetic), and ties (and NaN) keep the input order.
 *
 * The gradient routes each upstream entry back to the input it came from:
 * `dx[2i] = a <= b ? dy[2i] : dy[2i+1]`, `dx[2i+1] = a <= b ? dy[2i+1] : dy[2i]` for
 * `(a, b) = (x[2i], x[2i+1])`.
 *
 * Backends without these kernels (webgl, webgpu, tensorflow) use the composite of
 * `activations/sort_ops.ts`; {@link hasSortPairsKernel} tells which applies.
 */
import * as tf from '@tensorflow/tfjs-core';
import { heapBackend } from './wasm/heap';

/** Name of the forward kernel. */
export const SORT_PAIRS = 'TfjsLipSortPairs';
/** Name of the gradient kernel (inputs `dy`, `x`). */
export const SORT_PAIRS_GRAD = 'TfjsLipSortPairsGrad';

type Info = tf.TensorInfo;
type Values = Float32Array;

// Branch-free: the comparison picks an index (random data would mispredict half the branches,
// which made the loops 3x slower), and each output is a copy of one input.
function sortPairsLoop(x: Values, out: Values): void {
  for (let i = 0; i + 1 < x.length; i += 2) {
    const swap = +(x[i]! > x[i + 1]!);
    out[i] = x[i + swap]!;
    out[i + 1] = x[i + 1 - swap]!;
  }
}

function sortPairsGradLoop(dy: Values, x: Values, out: Values): void {
  for (let i = 0; i + 1 < x.length; i += 2) {
    const swap = +(x[i]! > x[i + 1]!);
    out[i] = dy[i + swap]!;
    out[i + 1] = dy[i + 1 - swap]!;
  }
}

function checkPairs(x: Info, what: string): void {
  const last = x.shape[x.shape.length - 1];
  if (last === undefined || last % 2 !== 0) {
    throw new Error(`${SORT_PAIRS}: the last axis of ${what} must have even size, but got shape [${x.shape.join(', ')}].`);
  }
  if (x.dtype !== 'float32') throw new Error(`${SORT_PAIRS}: ${what} must be float32, but got ${x.dtype}.`);
}

/** The cpu backend's data access (`MathBackendCPU`). */
interface CpuBackend {
  readSync(dataId: tf.DataId): tf.backend_util.BackendValues;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: tf.backend_util.BackendValues): Info;
}

const sortPairsCpu: tf.KernelFunc = ({ inputs, backend }) => {
  const x = inputs.x as Info;
  checkPairs(x, 'x');
  const b = backend as unknown as CpuBackend;
  const out = new Float32Array(tf.util.sizeFromShape(x.shape));
  sortPairsLoop(b.readSync(x.dataId) as Values, out);
  return b.makeTensorInfo(x.shape.slice(), 'float32', out);
};

const sortPairsGradCpu: tf.KernelFunc = ({ inputs, backend }) => {
  const x = inputs.x as Info;
  const dy = inputs.dy as Info;
  checkPairs(x, 'x');
  const b = backend as unknown as CpuBackend;
  const out = new Float32Array(tf.util.sizeFromShape(x.shape));
  sortPairsGradLoop(b.readSync(dy.dataId) as Values, b.readSync(x.dataId) as Values, out);
  return b.makeTensorInfo(x.shape.slice(), 'float32', out);
};

const sortPairsWasm: tf.KernelFunc = ({ inputs, backend }) => {
  const x = inputs.x as Info;
  checkPairs(x, 'x');
  const b = heapBackend(backend);
  const out = b.makeOutput(x.shape.slice(), 'float32');
  sortPairsLoop(b.typedArrayFromHeap(x) as Values, b.typedArrayFromHeap(out) as Values);
  return out;
};

const sortPairsGradWasm: tf.KernelFunc = ({ inputs, backend }) => {
  const x = inputs.x as Info;
  const dy = inputs.dy as Info;
  checkPairs(x, 'x');
  const b = heapBackend(backend);
  const out = b.makeOutput(x.shape.slice(), 'float32');
  // (Views are taken after makeOutput, which may grow and move the heap.)
  sortPairsGradLoop(b.typedArrayFromHeap(dy) as Values, b.typedArrayFromHeap(x) as Values, b.typedArrayFromHeap(out) as Values);
  return out;
};

const KERNELS: Array<[string, string, tf.KernelFunc]> = [
  [SORT_PAIRS, 'cpu', sortPairsCpu],
  [SORT_PAIRS_GRAD, 'cpu', sortPairsGradCpu],
  [SORT_PAIRS, 'wasm', sortPairsWasm],
  [SORT_PAIRS_GRAD, 'wasm', sortPairsGradWasm],
];

/**
 * Registers the two kernels for cpu and wasm, and the gradient of `TfjsLipSortPairs`. Idempotent;
 * called when tfjs-lip is loaded.
 */
export function registerSortPairsKernels(): void {
  for (const [kernelName, backendName, kernelFunc] of KERNELS) {
    if (tf.getKernel(kernelName, backendName) == null) tf.registerKernel({ kernelName, backendName, kernelFunc });
  }
  if (tf.getGradient(SORT_PAIRS) == null) {
    tf.registerGradient({
      kernelName: SORT_PAIRS,
      inputsToSave: ['x'],
      gradFunc: (dy, saved) => {
        const [x] = saved as [tf.Tensor];
        return { x: () => tf.engine().runKernel(SORT_PAIRS_GRAD, { dy: dy as tf.Tensor, x }) as tf.Tensor };
      },
    });
  }
}

/** True when the active backend has the pair-sort kernel (cpu and wasm). */
export function hasSortPairsKernel(): boolean {
  return tf.getKernel(SORT_PAIRS, tf.getBackend()) != null;
}
