/**
 * Wrappers of the shipped wasm `BatchMatMul` and `_FusedMatMul` (the shipped kernel still does the
 * work): their transposed-operand path is a naive loop 10-20x slower than an explicit transpose
 * followed by the XNNPACK product, and the batched fused product adds its bias wrongly.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Info, WasmScope } from './scope';
import { withScope } from './scope';
import { shippedKernel } from './shipped';

/** Swaps the last two axes of `x` (a matrix operand of a batched product). */
function transposeLastTwo(ops: WasmScope, x: Info): Info {
  const rank = x.shape.length;
  const perm = x.shape.map((_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return ops.transpose(x, perm);
}

/**
 * A wrapper of the shipped wasm `BatchMatMul` or `_FusedMatMul` that transposes a flagged operand
 * explicitly and then calls the shipped kernel without transposes (and runs a batched fused
 * product with a bias as its parts, see `fusedMatMulUnfused`). tfjs-backend-wasm 4.22 sends a
 * product with a transposed operand to a naive loop: `a^T b` for a 784x128 by 128x256 product
 * (the weight gradient of a dense layer) takes 45 ms there against 0.7 ms for the transpose plus
 * 3 ms for the XNNPACK product, so every dense layer's backward pass ran 10-20x slower than it
 * needed to.
 */
export function explicitTransposeMatMul(kernelName: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const shipped = shippedKernel(kernelName);
    const a = (attrs ?? {}) as Record<string, unknown>;
    if (kernelName === '_FusedMatMul' && inputs.bias != null && (inputs.a as Info).shape.length > 2) {
      return fusedMatMulUnfused(inputs, backend, a);
    }
    if (a.transposeA !== true && a.transposeB !== true) return shipped.kernelFunc({ inputs, backend, attrs });
    return withScope(backend, (ops) => {
      const operands = { ...inputs } as Record<string, Info>;
      if (a.transposeA === true) operands.a = transposeLastTwo(ops, inputs.a as Info);
      if (a.transposeB === true) operands.b = transposeLastTwo(ops, inputs.b as Info);
      const out = shipped.kernelFunc({
        inputs: operands as tf.NamedTensorInfoMap,
        backend,
        attrs: { ...a, transposeA: false, transposeB: false } as tf.NamedAttrMap,
      }) as Info;
      return out;
    });
  };
}

/** The wasm kernel (and its extra attributes) applying each fused activation. */
const ACTIVATION_KERNELS: Record<string, (a: Record<string, unknown>) => [string, tf.NamedAttrMap]> = {
  relu: () => ['Relu', {}],
  relu6: () => ['Relu6', {}],
  elu: () => ['Elu', {}],
  sigmoid: () => ['Sigmoid', {}],
  leakyrelu: (a) => ['LeakyRelu', { alpha: (a.leakyreluAlpha as number | undefined) ?? 0.2 }],
};

/**
 * `_FusedMatMul` on batched (rank-3) operands with a bias, as its parts: the product, `Add`, then
 * the activation. The shipped kernel adds the bias wrongly there in tfjs-backend-wasm 4.22: every
 * row after the first of each product gets the bias's last element instead of the broadcast bias
 * (a [2, 3, 4] x [2, 4, 5] product with bias [0.1 .. 0.5] was off by up to 0.4). Rank-2 products
 * (those of tfjs-layers' Dense) are right and keep the fused kernel.
 */
function fusedMatMulUnfused(inputs: tf.NamedTensorInfoMap, backend: unknown, a: Record<string, unknown>): Info {
  return withScope(backend, (ops) => {
    const product = ops.run('BatchMatMul', { a: inputs.a as Info, b: inputs.b as Info }, {
      transposeA: a.transposeA === true,
      transposeB: a.transposeB === true,
    });
    let out = ops.run('Add', { a: product, b: inputs.bias as Info });
    const activation = (a.activation as string | undefined) ?? 'linear';
    if (activation === 'prelu') {
      out = ops.run('Prelu', { x: out, alpha: inputs.preluActivationWeights as Info });
    } else if (activation !== 'linear') {
      const make = ACTIVATION_KERNELS[activation];
      if (make == null) throw new Error(`tfjs-lip wasm _FusedMatMul: unknown activation '${activation}'.`);
      const [name, extra] = make(a);
      out = ops.run(name, { x: out }, extra);
    }
    return out;
  });
}
