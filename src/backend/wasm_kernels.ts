/**
 * Gradient kernels that `@tensorflow/tfjs-backend-wasm` (v4.22) does not ship, and replacements of
 * shipped ones that are wrong or slow, registered by {@link registerWasmGradientKernels} so that
 * convolutional networks train on wasm. One file per kernel under `wasm/`:
 *
 * - added (absent in 4.22): `Conv2DBackpropFilter` (`conv2d_backprop_filter.ts`: a tap matrix
 *   times `dy` at stride 1, `filter_grad_taps.ts`, else a forward convolution),
 *   `DepthwiseConv2dNativeBackpropFilter` (`depthwise_backprop_filter.ts`),
 *   `DepthwiseConv2dNativeBackpropInput` (`depthwise_backprop_input.ts`), all three run as XNNPACK
 *   products or forward convolutions, and `UnsortedSegmentSum` (the gradient of `tf.gather`, a
 *   one-hot matrix product, `unsorted_segment_sum.ts`);
 * - replaced because wrong in 4.22: `MaxPoolGrad` and `MaxPoolWithArgmax` (`max_pool_grad.ts`,
 *   `max_pool_with_argmax.ts`: the shipped running maximum starts at `FLT_MIN`, see
 *   `max_pool_window.ts`);
 * - replaced because slow direct loops on the hot path of conv training: `Conv2DBackpropInput`
 *   (about 25x faster, `conv2d_backprop_input.ts`) and `AvgPoolGrad` (about 10x, `avg_pool_grad.ts`);
 * - replaced because it copies: `Identity` (`tf.clone`, shared buffer instead, `identity.ts`);
 * - wrapped (the shipped kernel still does the work): `BatchMatMul` and `_FusedMatMul` (`mat_mul.ts`),
 *   and `OneHot` (wrong for any dtype but int32, `one_hot.ts`).
 *
 * The composites call the wasm backend's own kernel functions (`wasm/scope.ts`), never the public
 * ops: nothing is recorded on the tape, every intermediate is released, and the result is a
 * `TensorInfo` owned by the wasm backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { avgPoolGradWasm } from './wasm/avg_pool_grad';
import { conv2DBackpropFilterWasm } from './wasm/conv2d_backprop_filter';
import { conv2DBackpropInputWasm } from './wasm/conv2d_backprop_input';
import { depthwiseBackpropFilterWasm } from './wasm/depthwise_backprop_filter';
import { depthwiseBackpropInputWasm } from './wasm/depthwise_backprop_input';
import { identityWasm } from './wasm/identity';
import { explicitTransposeMatMul } from './wasm/mat_mul';
import { oneHotWasm } from './wasm/one_hot';
import { saveShippedKernel } from './wasm/shipped';
import { maxPoolGradWasm } from './wasm/max_pool_grad';
import { maxPoolWithArgmaxWasm } from './wasm/max_pool_with_argmax';
import { unsortedSegmentSumWasm } from './wasm/unsorted_segment_sum';

export {
  avgPoolGradWasm,
  conv2DBackpropFilterWasm,
  conv2DBackpropInputWasm,
  depthwiseBackpropFilterWasm,
  depthwiseBackpropInputWasm,
  identityWasm,
  maxPoolGradWasm,
  maxPoolWithArgmaxWasm,
  unsortedSegmentSumWasm,
};

/** Names of the kernels that {@link registerWasmGradientKernels} adds to the wasm backend (absent there). */
export const WASM_COMPOSITE_KERNELS: readonly string[] = [
  'Conv2DBackpropFilter',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  'UnsortedSegmentSum',
];

/**
 * Names of the wasm kernels that {@link registerWasmGradientKernels} replaces: wrong in 4.22
 * (`MaxPoolGrad`, `MaxPoolWithArgmax`), much slower than a composite (`Conv2DBackpropInput`,
 * `AvgPoolGrad`) or copying where sharing the buffer is enough (`Identity`).
 */
export const WASM_REPLACED_KERNELS: readonly string[] = ['MaxPoolGrad', 'MaxPoolWithArgmax', 'Conv2DBackpropInput', 'AvgPoolGrad', 'Identity'];

/**
 * Names of the shipped wasm kernels that {@link registerWasmGradientKernels} wraps (the shipped
 * kernel still does the work): the matrix products, whose transposed-operand path is a naive loop
 * 10-20x slower than an explicit transpose followed by the XNNPACK product, and whose batched fused
 * product adds its bias wrongly; and `OneHot`, which writes int32 bit patterns into a float32
 * output (`tf.oneHot(i, n, 1, 0, 'float32')` read 1.4e-45 for 1).
 */
export const WASM_WRAPPED_KERNELS: readonly string[] = ['BatchMatMul', '_FusedMatMul', 'OneHot'];

const WRAPPER_FUNCS: Record<string, tf.KernelFunc> = {
  BatchMatMul: explicitTransposeMatMul('BatchMatMul'),
  _FusedMatMul: explicitTransposeMatMul('_FusedMatMul'),
  OneHot: oneHotWasm,
};

const KERNEL_FUNCS: Record<string, tf.KernelFunc> = {
  Conv2DBackpropFilter: conv2DBackpropFilterWasm,
  DepthwiseConv2dNativeBackpropFilter: depthwiseBackpropFilterWasm,
  DepthwiseConv2dNativeBackpropInput: depthwiseBackpropInputWasm,
  UnsortedSegmentSum: unsortedSegmentSumWasm,
  MaxPoolGrad: maxPoolGradWasm,
  MaxPoolWithArgmax: maxPoolWithArgmaxWasm,
  Conv2DBackpropInput: conv2DBackpropInputWasm,
  AvgPoolGrad: avgPoolGradWasm,
  Identity: identityWasm,
};

/**
 * Registers, for the `wasm` backend, the kernels it lacks and that training needs
 * ({@link WASM_COMPOSITE_KERNELS}; a kernel wasm already has is left as it is), and replaces the
 * wasm kernels that are wrong in tfjs-backend-wasm 4.22 ({@link WASM_REPLACED_KERNELS}).
 * Idempotent. Needs no wasm initialisation: it can be called before or after
 * `tf.setBackend('wasm')`.
 */
export function registerWasmGradientKernels(): void {
  for (const kernelName of WASM_COMPOSITE_KERNELS) {
    if (tf.getKernel(kernelName, 'wasm') != null) continue;
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: KERNEL_FUNCS[kernelName] as tf.KernelFunc });
  }
  for (const kernelName of WASM_REPLACED_KERNELS) {
    const kernelFunc = KERNEL_FUNCS[kernelName] as tf.KernelFunc;
    const current = tf.getKernel(kernelName, 'wasm');
    if (current?.kernelFunc === kernelFunc) continue;
    if (current != null) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
  }
  for (const kernelName of WASM_WRAPPED_KERNELS) {
    const kernelFunc = WRAPPER_FUNCS[kernelName] as tf.KernelFunc;
    const current = tf.getKernel(kernelName, 'wasm');
    if (current == null || current.kernelFunc === kernelFunc) continue;
    saveShippedKernel(current);
    tf.unregisterKernel(kernelName, 'wasm');
    // The shipped setup (binding the wasm function) must still run when the backend initializes.
    const wrapped: tf.KernelConfig = { kernelName, backendName: 'wasm', kernelFunc };
    if (current.setupFunc != null) wrapped.setupFunc = current.setupFunc;
    tf.registerKernel(wrapped);
  }
}

