/**
 * Channel maps of the vanilla export: a linear map that acts on the last axis of a tensor, the
 * same on every position, either a plain scale or a 2x2 matrix applied to each contiguous pair of
 * channels. GroupSort2 and the scaled average poolings export as a cheap built-in layer plus
 * such a map; `lip.vanillaExport` folds the map into the kernel of a neighbouring Dense or
 * convolution when it can, and only emits it as layers when it cannot (docs/export.md).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { ExportContext } from './contracts';

/** A 2x2 matrix, row-major `[m00, m01, m10, m11]`: `out0 = m00 t0 + m01 t1`, `out1 = m10 t0 + m11 t1`. */
export type PairMatrix = readonly [number, number, number, number];

/** `scale * blockdiag(pair, pair, ...)` on the last axis (`pair: null` is the identity). */
export interface ChannelMap {
  readonly scale: number;
  readonly pair: PairMatrix | null;
}

const HALF_SQRT2 = Math.SQRT1_2;

/** `(t0 + t1, t0 - t1) / sqrt(2)`: an orthogonal, symmetric pair map (its own inverse). */
export const PAIR_SUM_DIFFERENCE: PairMatrix = [HALF_SQRT2, HALF_SQRT2, HALF_SQRT2, -HALF_SQRT2];

/** `((s - d), (s + d)) / sqrt(2)`: maps `(s, |d|)` of `PAIR_SUM_DIFFERENCE` to `(min, max)`. */
export const PAIR_MIN_MAX: PairMatrix = [HALF_SQRT2, -HALF_SQRT2, HALF_SQRT2, HALF_SQRT2];

function multiplyPairs(b: PairMatrix, a: PairMatrix): PairMatrix {
  return [b[0] * a[0] + b[1] * a[2], b[0] * a[1] + b[1] * a[3], b[2] * a[0] + b[3] * a[2], b[2] * a[1] + b[3] * a[3]];
}

/** The map `second(first(t))`. */
export function composeChannelMaps(first: ChannelMap, second: ChannelMap): ChannelMap {
  let pair: PairMatrix | null = first.pair;
  if (second.pair !== null) pair = pair === null ? second.pair : multiplyPairs(second.pair, pair);
  return { scale: first.scale * second.scale, pair };
}

/** True when the map changes nothing. */
export function isIdentityMap(map: ChannelMap): boolean {
  return map.scale === 1 && map.pair === null;
}

/**
 * Applies `map` to the pairs of index `axis` of a row-major array of shape `shape`, in float64:
 * `mode 'values'` transforms the entries as data on that axis (a producer's output channels:
 * `v'_{2p..} = M v_{2p..}`), `mode 'rows'` as the rows a consumer multiplies (its input channels:
 * `W'_{2p} = m00 W_{2p} + m10 W_{2p+1}`, `W'_{2p+1} = m01 W_{2p} + m11 W_{2p+1}`, i.e. M^T).
 */
export function transformAxis(
  values: ArrayLike<number>,
  shape: readonly number[],
  axis: number,
  map: ChannelMap,
  mode: 'values' | 'rows',
): Float32Array {
  const size = shape[axis]!;
  const inner = shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const outer = values.length / (size * inner);
  const out = new Float32Array(values.length);
  const m = map.pair ?? [1, 0, 0, 1];
  // 'rows' applies M^T: swap the off-diagonal entries.
  const [a, b, c, d] = mode === 'values' ? m : [m[0], m[2], m[1], m[3]];
  const s = map.scale;
  if (map.pair !== null && size % 2 !== 0) throw new Error(`transformAxis: axis ${axis} has odd size ${size}.`);
  for (let o = 0; o < outer; o++) {
    for (let ch = 0; ch < size; ch += map.pair === null ? 1 : 2) {
      for (let i = 0; i < inner; i++) {
        const i0 = (o * size + ch) * inner + i;
        if (map.pair === null) {
          out[i0] = s * values[i0]!;
          continue;
        }
        const i1 = i0 + inner;
        const x0 = values[i0]!;
        const x1 = values[i1]!;
        out[i0] = s * (a * x0 + b * x1);
        out[i1] = s * (c * x0 + d * x1);
      }
    }
  }
  return out;
}

/**
 * Linear built-in layers a channel map folds into: the kernel axis of their input channels and of
 * their output channels (channels-last data only).
 */
const KERNEL_AXES: Readonly<Record<string, { input: number; output: number }>> = {
  Dense: { input: 0, output: 1 },
  Conv1D: { input: 1, output: 2 },
  Conv2D: { input: 2, output: 3 },
  Conv2DTranspose: { input: 3, output: 2 },
};

/** True when `layer` is a built-in Dense or channels-last convolution whose kernel can take a map. */
export function isFoldableLinear(layer: tfl.layers.Layer): boolean {
  if (KERNEL_AXES[layer.getClassName()] === undefined) return false;
  const config = layer.getConfig() as { dataFormat?: string };
  return config.dataFormat === undefined || config.dataFormat === 'channelsLast';
}

/** True when the layer's activation is linear (a map on its output can then be folded in). */
export function hasLinearActivation(layer: tfl.layers.Layer): boolean {
  const activation = (layer.getConfig() as { activation?: unknown }).activation;
  return activation === undefined || activation === null || activation === 'linear';
}

/** Rewrites a layer's weights in place through `f(index, values, shape)`. */
function rewriteWeights(layer: tfl.layers.Layer, f: (index: number, values: Float32Array, shape: number[]) => Float32Array): void {
  const weights = layer.getWeights();
  const fresh = weights.map((w, i) => tf.tensor(f(i, w.dataSync() as Float32Array, w.shape), w.shape, 'float32'));
  try {
    layer.setWeights(fresh);
  } finally {
    tf.dispose(fresh);
  }
}

/**
 * Folds `map` into the input channels of a built (exported) linear layer: it then computes on
 * `t` what it computed on `map(t)`.
 */
export function foldIntoInput(layer: tfl.layers.Layer, map: ChannelMap): void {
  const axes = KERNEL_AXES[layer.getClassName()]!;
  rewriteWeights(layer, (i, values, shape) => (i === 0 ? transformAxis(values, shape, axes.input, map, 'rows') : values));
}

/**
 * Folds `map` into the output channels of a built (exported) linear layer with a linear
 * activation: kernel and bias, so that it outputs `map(z)` where it output `z`.
 */
export function foldIntoOutput(layer: tfl.layers.Layer, map: ChannelMap): void {
  const axes = KERNEL_AXES[layer.getClassName()]!;
  rewriteWeights(layer, (i, values, shape) => transformAxis(values, shape, i === 0 ? axes.output : 0, map, 'values'));
}

/**
 * Emits `map` as built-in layers after `t` (names `${owner}_...`, the first one `firstName` when
 * given): a `rescaling` for a plain scale; for a pair map, a reshape to pairs, a two-unit
 * `dense` without bias, and a reshape back.
 */
export function materializeChannelMap(
  t: tfl.SymbolicTensor,
  map: ChannelMap,
  owner: string,
  firstName?: string,
): tfl.SymbolicTensor {
  if (isIdentityMap(map)) return t;
  if (map.pair === null) {
    return tfl.layers.rescaling({ name: firstName ?? `${owner}_scale`, scale: map.scale }).apply(t) as tfl.SymbolicTensor;
  }
  const dims = t.shape.slice(1) as number[];
  const channels = dims[dims.length - 1]!;
  const pairs = tfl.layers
    .reshape({ name: firstName ?? `${owner}_pairs`, targetShape: [...dims.slice(0, -1), channels / 2, 2] })
    .apply(t) as tfl.SymbolicTensor;
  const dense = tfl.layers.dense({ name: `${owner}_pair_map`, units: 2, useBias: false });
  const mapped = dense.apply(pairs) as tfl.SymbolicTensor;
  const [a, b, c, d] = map.pair;
  // y = x K with K = scale * M^T.
  const kernel = tf.tensor2d([[a, c], [b, d]].map((row) => row.map((v) => v * map.scale)), [2, 2]);
  try {
    dense.setWeights([kernel]);
  } finally {
    kernel.dispose();
  }
  return tfl.layers.reshape({ name: `${owner}_pairs_restore`, targetShape: dims }).apply(mapped) as tfl.SymbolicTensor;
}

/** The context of a layer exported on its own: nothing folds, maps are emitted at once. */
export const STANDALONE_EXPORT: ExportContext = {
  inferenceLayers: false,
  foldIntoProducer: () => false,
  defer: (output, map, owner) => materializeChannelMap(output, map, owner),
};
