/**
 * Test helpers for the pooling/resampling layers: full Jacobians by reverse mode, gradient ascent
 * on the empirical Lipschitz ratio, vanilla-export and serialization round trips, and the
 * assertion of the validation tables.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { LipschitzConfigError } from '../../src/core/errors';
import { singularValues } from './oracles';

/** Row-major flat array of a tensor, as float64 numbers. */
export function flat(t: tf.Tensor): number[] {
  return Array.from(t.dataSync());
}

/**
 * Full Jacobian (rows = outputs, cols = inputs) of a per-sample map `f` at the single point `x`
 * (shape without batch), by reverse mode: the point is replicated once per output and one
 * `tf.grad` of `sum(f(X) * E)` (E = identity rows) gives every row at once.
 */
export function jacobian(f: (x: tf.Tensor) => tf.Tensor, x: number[], inputShape: number[]): number[][] {
  return tf.tidy(() => {
    const point = tf.tensor(x, [1, ...inputShape]);
    const outSize = f(point).size;
    const batch = tf.tile(point, [outSize, ...inputShape.map(() => 1)]);
    const selector = tf.eye(outSize);
    const g = tf.grad((xs: tf.Tensor) => tf.sum(tf.mul(tf.reshape(f(xs), [outSize, outSize]), selector)))(batch);
    return tf.reshape(g, [outSize, -1]).arraySync() as number[][];
  });
}

/** Largest singular value (float64) of the Jacobian of `f` at `x`. */
export function jacobianNorm(f: (x: tf.Tensor) => tf.Tensor, x: number[], inputShape: number[]): number {
  return singularValues(jacobian(f, x, inputShape))[0] ?? 0;
}

/** Deterministic pseudo-random normal numbers (Box-Muller on a small LCG). */
export function randomNormal(count: number, seed: number, scale = 1): number[] {
  let state = seed >>> 0 || 1;
  const uniform = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state + 0.5) / 4294967296;
  };
  const out: number[] = [];
  while (out.length < count) {
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const t = 2 * Math.PI * uniform();
    out.push(r * Math.cos(t) * scale, r * Math.sin(t) * scale);
  }
  return out.slice(0, count);
}

/**
 * Gradient ascent (Adam) on the ratio ||f(x) - f(y)|| / ||x - y|| over `pairs` pairs of points
 * of `inputShape`; returns the largest ratio seen (evaluated in float32 by `f`, float64 sums).
 */
export function lipschitzRatioAscent(
  f: (x: tf.Tensor) => tf.Tensor,
  inputShape: number[],
  options: { pairs?: number; steps?: number; seed?: number; learningRate?: number } = {},
): number {
  const pairs = options.pairs ?? 16;
  const steps = options.steps ?? 60;
  const size = inputShape.reduce((p, d) => p * d, 1);
  const x = tf.variable(tf.tensor(randomNormal(pairs * size, options.seed ?? 1), [pairs, ...inputShape]));
  const y = tf.variable(tf.tensor(randomNormal(pairs * size, (options.seed ?? 1) + 7919), [pairs, ...inputShape]));
  const optimizer = tf.train.adam(options.learningRate ?? 0.05);
  const axes = inputShape.map((_, i) => i + 1);
  const ratios = (): tf.Tensor => {
    const num = tf.sum(tf.square(tf.reshape(tf.sub(f(x), f(y)), [pairs, -1])), 1);
    const den = tf.sum(tf.square(tf.sub(x, y)), axes);
    return tf.div(num, tf.add(den, 1e-12));
  };
  let best = 0;
  const measure = (): void => {
    // float64 recomputation of the ratio from the float32 outputs.
    const [fx, fy, xs, ys] = tf.tidy(() => [f(x), f(y), x.clone(), y.clone()].map((t) => t.dataSync()));
    const outSize = (fx as Float32Array).length / pairs;
    for (let p = 0; p < pairs; p += 1) {
      let num = 0;
      let den = 0;
      for (let i = 0; i < outSize; i += 1) num += ((fx![p * outSize + i] as number) - (fy![p * outSize + i] as number)) ** 2;
      for (let i = 0; i < size; i += 1) den += ((xs![p * size + i] as number) - (ys![p * size + i] as number)) ** 2;
      if (den > 1e-8) best = Math.max(best, Math.sqrt(num / den));
    }
  };
  measure();
  for (let s = 0; s < steps; s += 1) {
    optimizer.minimize(() => tf.neg(tf.sum(ratios())) as tf.Scalar);
    if (s % 10 === 9) measure();
  }
  measure();
  optimizer.dispose();
  x.dispose();
  y.dispose();
  return best;
}

/** Applies a layer (building it if needed) to a concrete tensor. */
export function applyLayer(layer: tfl.layers.Layer, x: tf.Tensor): tf.Tensor {
  return layer.apply(x) as tf.Tensor;
}

/**
 * Builds `input -> layer` and `input -> layer.vanillaExport(input)` models and returns both
 * predictions on `x` as flat arrays, plus the exported model's layer class names.
 */
export function exportPair(
  layer: tfl.layers.Layer & { vanillaExport(input: tfl.SymbolicTensor): tfl.SymbolicTensor },
  inputShape: number[],
  x: tf.Tensor,
): { original: number[]; exported: number[]; classNames: string[] } {
  const input = tfl.input({ shape: inputShape });
  const original = tfl.model({ inputs: input, outputs: layer.apply(input) as tfl.SymbolicTensor });
  const input2 = tfl.input({ shape: inputShape });
  const exported = tfl.model({ inputs: input2, outputs: layer.vanillaExport(input2) });
  const a = original.predict(x) as tf.Tensor;
  const b = exported.predict(x) as tf.Tensor;
  const result = { original: flat(a), exported: flat(b), classNames: exported.layers.map((l) => l.getClassName()) };
  tf.dispose([a, b]);
  original.dispose();
  exported.dispose();
  return result;
}

/** max |a - b| / max(1, max |a|). */
export function relativeMaxDiff(a: number[], b: number[]): number {
  if (a.length !== b.length) return Infinity;
  let diff = 0;
  let scale = 1;
  a.forEach((v, i) => {
    diff = Math.max(diff, Math.abs(v - (b[i] as number)));
    scale = Math.max(scale, Math.abs(v));
  });
  return diff / scale;
}

/** Saves a model to memory and loads it back (tfjs serialization of every layer config). */
export async function saveLoad(model: tfl.LayersModel): Promise<tfl.LayersModel> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return tfl.loadLayersModel(tf.io.fromMemory(artifacts as tf.io.ModelArtifacts));
}

/** The class names tfjs-layers registers itself (to assert an export uses built-ins only). */
export const BUILT_IN_LAYER_CLASSES = new Set([
  'InputLayer',
  'DepthwiseConv2D',
  'AveragePooling2D',
  'GlobalAveragePooling2D',
  'Rescaling',
  'Reshape',
  'Permute',
  'Cropping2D',
  'Concatenate',
  'LayerNormalization',
  'Multiply',
  'Dense',
  'Conv2D',
  'Conv2DTranspose',
  'Flatten',
  'Activation',
  'ZeroPadding2D',
]);

/**
 * Asserts that `make` throws a `LipschitzConfigError` whose message starts with
 * "`argument` expected" and contains "but got `value`".
 */
export function expectConfigError(make: () => unknown, argument: string, value: string): void {
  let caught: unknown;
  try {
    make();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(LipschitzConfigError);
  const message = (caught as Error).message;
  expect(message.startsWith(`${argument} expected`)).toBe(true);
  expect(message).toContain(`but got ${value}`);
}
