/**
 * The scaffolding of tfjs-lip's composite wasm kernels: `WasmScope` runs the wasm backend's own
 * kernel functions (looked up with `tf.getKernel(name, 'wasm')`, never the public ops, so nothing
 * is recorded on the tape) and releases every intermediate once the result is known; the result
 * is a `TensorInfo` owned by the wasm backend.
 */
import * as tf from '@tensorflow/tfjs-core';

export type Info = tf.TensorInfo;
export type Pair = [number, number];
export type PadAttr = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
export type RoundingMode = 'floor' | 'round' | 'ceil' | undefined;

/**
 * Runs wasm kernel functions and remembers every output, so that all intermediates can be
 * released once the result is known.
 */
export class WasmScope {
  private readonly temps: Info[] = [];

  constructor(private readonly backend: tf.KernelBackend) {}

  run(kernelName: string, inputs: tf.NamedTensorInfoMap | Info[], attrs: tf.NamedAttrMap = {}): Info {
    const config = tf.getKernel(kernelName, 'wasm');
    if (config == null) {
      throw new Error(`tfjs-lip wasm composite needs the wasm kernel '${kernelName}', which is not registered.`);
    }
    const out = config.kernelFunc({ inputs: inputs as tf.NamedTensorInfoMap, backend: this.backend, attrs });
    const outs = Array.isArray(out) ? out : [out];
    this.temps.push(...outs);
    const info = outs[0];
    if (info == null) {
      throw new Error(`tfjs-lip wasm composite: kernel '${kernelName}' returned no output.`);
    }
    return info;
  }

  reshape(x: Info, shape: number[]): Info {
    return this.run('Reshape', { x }, { shape });
  }

  transpose(x: Info, perm: number[]): Info {
    return this.run('Transpose', { x }, { perm });
  }

  sum(x: Info, axis: number[]): Info {
    return this.run('Sum', { x }, { axis, keepDims: false });
  }

  /** Pads (positive amounts) or crops (negative amounts) each axis at its two ends. */
  padOrCrop(x: Info, amounts: Pair[]): Info {
    let out = x;
    if (amounts.some(([a, b]) => a > 0 || b > 0)) {
      const paddings = amounts.map(([a, b]) => [Math.max(0, a), Math.max(0, b)]);
      out = this.run('PadV2', { x: out }, { paddings, constantValue: 0 });
    }
    if (amounts.some(([a, b]) => a < 0 || b < 0)) {
      const begin = amounts.map(([a]) => Math.max(0, -a));
      const size = out.shape.map((n, i) => {
        const [a, b] = amounts[i] as Pair;
        return n - Math.max(0, -a) - Math.max(0, -b);
      });
      out = this.run('Slice', { x: out }, { begin, size });
    }
    return out;
  }

  /** Releases every intermediate except `result` (shared data stay alive through ref counts). */
  finish(result: Info): Info {
    for (const t of this.temps) {
      if (t !== result) this.backend.disposeData(t.dataId);
    }
    this.temps.length = 0;
    return result;
  }

  /** Releases every intermediate (after an error). */
  abandon(): void {
    for (const t of this.temps) this.backend.disposeData(t.dataId);
    this.temps.length = 0;
  }
}

/** A pair of integers from a number, a list, or nothing (`fallback`). */
export function pair(v: unknown, fallback: number): Pair {
  if (v == null) return [fallback, fallback];
  if (typeof v === 'number') return [v, v];
  const a = v as number[];
  return [a[0] ?? fallback, a[1] ?? a[0] ?? fallback];
}

/** A rank-4 shape as a tuple; throws naming `what` otherwise. */
export function shape4(s: number[], what: string): [number, number, number, number] {
  if (s.length !== 4) throw new Error(`tfjs-lip wasm composite: ${what} must be rank 4, but got shape [${s.join(', ')}].`);
  return [s[0] as number, s[1] as number, s[2] as number, s[3] as number];
}

/** Runs `body` in a fresh scope: its intermediates are released, on success and on error. */
export function withScope(backend: unknown, body: (ops: WasmScope) => Info): Info {
  const ops = new WasmScope(backend as tf.KernelBackend);
  try {
    return ops.finish(body(ops));
  } catch (e) {
    ops.abandon();
    throw e;
  }
}
