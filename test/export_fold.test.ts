/**
 * The mechanics behind cheap, certified exports, against independent oracles:
 * - channel maps: `transformAxis` against an explicit float64 matrix product; GroupSort2's
 *   `M prelu(P t)` sorts every pair; folding into a Dense's input or output equals applying the map;
 * - folding in odd graphs stays exact (a GroupSort2 output used twice or as the model output, after
 *   a non-linear producer, after a pooling, channels first, a shared Dense);
 * - the two recognized compositions of `lipschitzBound` (sign-split relu, embedded norm) are sound
 *   (no pair of inputs expands more than the bound) and tight, and a model that only looks like
 *   them (one weight changed, beta not zero, two different sources) gets the generic bound.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { groupSort2, maxMin } from '../src/activations';
import {
  composeChannelMaps,
  foldIntoInput,
  foldIntoOutput,
  materializeChannelMap,
  PAIR_MIN_MAX,
  PAIR_SUM_DIFFERENCE,
  transformAxis,
  type ChannelMap,
} from '../src/core/channel_map';
import { vanillaExport } from '../src/export';
import { spectralConv2d } from '../src/layers/convolutional';
import { spectralDense } from '../src/layers/dense';
import { helmertColumns, scaledAveragePooling2d, scaledL2NormPooling2d } from '../src/layers/pooling';
import { lipschitzBound } from '../src/model';
import { NORM_WITH_EPSILON_SLOPE } from '../src/model/patterns';
import { maxAbsDiff, predictArray, seededValues } from './helpers/model_fixtures';

/** Dense float64 matrix of a channel map on `size` channels (y = A x). */
function mapMatrix(map: ChannelMap, size: number): number[][] {
  const a = Array.from({ length: size }, () => new Array<number>(size).fill(0));
  for (let i = 0; i < size; i += map.pair === null ? 1 : 2) {
    if (map.pair === null) {
      a[i]![i] = map.scale;
      continue;
    }
    const [m00, m01, m10, m11] = map.pair;
    a[i]![i] = map.scale * m00;
    a[i]![i + 1] = map.scale * m01;
    a[i + 1]![i] = map.scale * m10;
    a[i + 1]![i + 1] = map.scale * m11;
  }
  return a;
}

const SOME_MAP: ChannelMap = { scale: 1.7, pair: [0.3, -1.2, 2.1, 0.4] };

describe('channel maps', () => {
  it("transformAxis 'values' applies A to the axis, 'rows' applies A^T (float64 oracle)", () => {
    const shape = [3, 4, 5];
    const values = Array.from(seededValues(60, 3));
    const a = mapMatrix(SOME_MAP, 4);
    const asValues = transformAxis(values, shape, 1, SOME_MAP, 'values');
    const asRows = transformAxis(values, shape, 1, SOME_MAP, 'rows');
    for (let o = 0; o < 3; o++) {
      for (let i = 0; i < 5; i++) {
        for (let r = 0; r < 4; r++) {
          let viaA = 0;
          let viaAt = 0;
          for (let c = 0; c < 4; c++) {
            viaA += a[r]![c]! * values[(o * 4 + c) * 5 + i]!;
            viaAt += a[c]![r]! * values[(o * 4 + c) * 5 + i]!;
          }
          expect(asValues[(o * 4 + r) * 5 + i]).toBeCloseTo(viaA, 5);
          expect(asRows[(o * 4 + r) * 5 + i]).toBeCloseTo(viaAt, 5);
        }
      }
    }
  });

  it('composeChannelMaps(first, second) is the product second * first', () => {
    const first: ChannelMap = { scale: 2, pair: PAIR_SUM_DIFFERENCE };
    const composed = composeChannelMaps(first, SOME_MAP);
    const x = [0.4, -1.3];
    const apply = (m: ChannelMap, v: number[]) => mapMatrix(m, 2).map((row) => row[0]! * v[0]! + row[1]! * v[1]!);
    const direct = apply(SOME_MAP, apply(first, x));
    apply(composed, x).forEach((v, i) => expect(v).toBeCloseTo(direct[i]!, 12));
  });

  it('M * prelu_(1,-1)(P t) sorts each pair into (min, max) (the GroupSort2 export)', () => {
    const r = seededValues(400, 9);
    for (let i = 0; i < 400; i += 2) {
      const [a, b] = [r[i]!, i % 20 === 0 ? r[i]! : r[i + 1]!];
      const s = PAIR_SUM_DIFFERENCE[0] * a + PAIR_SUM_DIFFERENCE[1] * b;
      const d = PAIR_SUM_DIFFERENCE[2] * a + PAIR_SUM_DIFFERENCE[3] * b;
      const absD = d >= 0 ? d : -d;
      expect(PAIR_MIN_MAX[0] * s + PAIR_MIN_MAX[1] * absD).toBeCloseTo(Math.min(a, b), 12);
      expect(PAIR_MIN_MAX[2] * s + PAIR_MIN_MAX[3] * absD).toBeCloseTo(Math.max(a, b), 12);
    }
  });

  it('folding into a Dense input / output equals applying the map before / after it; emitting it too', () => {
    const x = tf.tensor(seededValues(5 * 6, 4), [5, 6]);
    const build = () => {
      const dense = tfl.layers.dense({ units: 4, inputShape: [6] });
      const m = tfl.sequential({ layers: [dense] });
      dense.setWeights([tf.tensor(seededValues(24, 5), [6, 4]), tf.tensor(seededValues(4, 6), [4])]);
      return { m, dense };
    };
    const map = (t: tf.Tensor, mp: ChannelMap) => tf.matMul(t, tf.tensor(mapMatrix(mp, t.shape[1]!)), false, true);
    const plain = build();
    const before = tf.tidy(() => plain.m.predict(map(x, SOME_MAP)) as tf.Tensor);
    const after = tf.tidy(() => map(plain.m.predict(x) as tf.Tensor, SOME_MAP));
    const folded = build();
    foldIntoInput(folded.dense, SOME_MAP);
    expect(maxAbsDiff(predictArray(folded.m, x), before.arraySync() as number[][])).toBeLessThan(1e-5);
    const out = build();
    foldIntoOutput(out.dense, SOME_MAP);
    expect(maxAbsDiff(predictArray(out.m, x), after.arraySync() as number[][])).toBeLessThan(1e-5);
    const input = tfl.input({ shape: [6] });
    const emitted = tfl.model({ inputs: input, outputs: materializeChannelMap(input, SOME_MAP, 'map') });
    const direct = tf.tidy(() => map(x, SOME_MAP).arraySync() as number[][]);
    expect(maxAbsDiff(predictArray(emitted, x), direct)).toBeLessThan(1e-5);
    tf.dispose([x, before, after]);
  });

  it('the Helmert columns are orthonormal and orthogonal to the all-ones vector', () => {
    for (const n of [1, 4, 9]) {
      const q = helmertColumns(n);
      expect(q).toHaveLength(n + 1);
      q.forEach((a, i) => {
        expect(a.reduce((s, v) => s + v, 0)).toBeCloseTo(0, 12);
        q.forEach((b, j) => expect(a.reduce((s, v, k) => s + v * b[k]!, 0)).toBeCloseTo(i === j ? 1 : 0, 12));
      });
    }
  });
});

/** Exports `model`, checks the predictions match and the bound is kept; returns the export. */
function expectFaithfulExport(model: tfl.LayersModel, x: tf.Tensor, inferenceLayers = false): tfl.LayersModel {
  const exported = vanillaExport(model, { inferenceLayers });
  expect(maxAbsDiff(predictArray(exported, x), predictArray(model, x))).toBeLessThan(1e-5);
  const bound = lipschitzBound(model);
  expect(Number.isFinite(bound)).toBe(true);
  expect(Math.abs(lipschitzBound(exported) - bound) / bound).toBeLessThan(1e-6);
  return exported;
}

describe('folding in odd graphs stays exact and certified', () => {
  const vector = () => tf.tensor(seededValues(7 * 8, 12), [7, 8]);

  it('a GroupSort2 output used twice and as a model output: the maps are emitted once', () => {
    const input = tfl.input({ shape: [8] });
    const sorted = groupSort2({ name: 'gs' }).apply(spectralDense({ units: 6, name: 'd0' }).apply(input)) as tfl.SymbolicTensor;
    const a = spectralDense({ units: 4, name: 'da' }).apply(sorted) as tfl.SymbolicTensor;
    const b = spectralDense({ units: 4, name: 'db' }).apply(sorted) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: [a, tfl.layers.add().apply([a, b]) as tfl.SymbolicTensor, sorted] });
    const x = vector();
    const exported = vanillaExport(model);
    const predicted = (exported.predict(x) as tf.Tensor[]).map((t) => t.arraySync() as number[][]);
    const reference = (model.predict(x) as tf.Tensor[]).map((t) => t.arraySync() as number[][]);
    predicted.forEach((p, i) => expect(maxAbsDiff(p, reference[i]!)).toBeLessThan(1e-5));
    expect(exported.layers.filter((l) => l.name === 'gs_pair_map')).toHaveLength(1);
    expect(Math.abs(lipschitzBound(exported) - lipschitzBound(model)) / lipschitzBound(model)).toBeLessThan(1e-6);
    x.dispose();
  });

  it('GroupSort2 after a relu Dense, after a pooling, channels first, and a shared plain Dense', () => {
    const x = vector();
    const relu = tfl.sequential({
      layers: [spectralDense({ units: 6, activation: 'relu', inputShape: [8] }), groupSort2({ kCoefLip: 1.5 }), spectralDense({ units: 3 })],
    });
    const exported = expectFaithfulExport(relu, x);
    // No fold into a relu layer: P is emitted before the prelu.
    expect(exported.layers.map((l) => l.getClassName())).toContain('Reshape');
    const images = tf.tensor(seededValues(3 * 6 * 6 * 2, 2), [3, 6, 6, 2]);
    const cnn = tfl.sequential({
      layers: [
        spectralConv2d({ filters: 4, kernelSize: 3, padding: 'same', inputShape: [6, 6, 2] }),
        scaledAveragePooling2d({ poolSize: 2 }),
        groupSort2(),
        scaledAveragePooling2d({ poolSize: 3, dataFormat: 'channelsFirst' }),
        tfl.layers.flatten(),
        spectralDense({ units: 3 }),
      ],
    });
    expectFaithfulExport(cnn, images);
    const input = tfl.input({ shape: [8] });
    const shared = tfl.layers.dense({ units: 8, useBias: false });
    const left = shared.apply(groupSort2().apply(spectralDense({ units: 8 }).apply(input))) as tfl.SymbolicTensor;
    const right = shared.apply(input) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: tfl.layers.add().apply([left, right]) as tfl.SymbolicTensor });
    expectFaithfulExport(model, x);
    tf.dispose([x, images]);
  });

  it('with inference layers, every sort is the inference layer (MaxMin stays built-in)', () => {
    const x = vector();
    const model = tfl.sequential({
      layers: [spectralDense({ units: 6, inputShape: [8] }), maxMin(), groupSort2(), spectralDense({ units: 4 }), groupSort2({ kCoefLip: 2 })],
    });
    const exported = expectFaithfulExport(model, x, true);
    const classes = exported.layers.map((l) => l.getClassName());
    expect(classes.filter((c) => c === 'TfjsLipInferenceGroupSort')).toHaveLength(2);
    expect(classes).not.toContain('PReLU');
    x.dispose();
  });
});

/**
 * Largest ||f(x) - f(y)|| / ||x - y|| over random pairs at scales 1e-3 to 10 (y close to x), in
 * float64 from the float32 inputs and outputs.
 */
function largestRatio(model: tfl.LayersModel, shape: number[], pairs: number, seed: number, radial = false): number {
  const size = shape.reduce((p, d) => p * d, 1);
  const a = seededValues(pairs * size, seed);
  const b = seededValues(pairs * size, seed + 1);
  const scales = Array.from({ length: pairs }, (_, i) => 10 ** ((i % 5) - 3));
  const xa = Float32Array.from(a, (v, i) => v * scales[Math.floor(i / size)]!);
  // Radial pairs (y = 1.01 x) are where a norm expands most.
  const xb = Float32Array.from(b, (v, i) => xa[i]! + (radial ? 1e-2 * xa[i]! : v * 1e-2 * scales[Math.floor(i / size)]!));
  const outputs = [xa, xb].map((x) => tf.tidy(() => (model.predict(tf.tensor(x, [pairs, ...shape])) as tf.Tensor).dataSync()));
  const [fa, fb] = outputs as [Float32Array, Float32Array];
  const outSize = fa.length / pairs;
  let best = 0;
  for (let p = 0; p < pairs; p++) {
    let num = 0;
    let den = 0;
    for (let j = 0; j < outSize; j++) num += (fa[p * outSize + j]! - fb[p * outSize + j]!) ** 2;
    for (let j = 0; j < size; j++) den += (xa[p * size + j]! - xb[p * size + j]!) ** 2;
    best = Math.max(best, Math.sqrt(num / den));
  }
  return best;
}

describe('vanillaExport options', () => {
  it('rejects a misspelled or mistyped option, naming it', () => {
    const model = tfl.sequential({ layers: [spectralDense({ units: 2, inputShape: [3] })] });
    expect(() => vanillaExport(model, { inferencelayers: true } as never)).toThrow(
      "vanillaExport: unknown option 'inferencelayers' (did you mean 'inferenceLayers'?).",
    );
    expect(() => vanillaExport(model, { inferenceLayers: 'yes' } as never)).toThrow("inferenceLayers expected a boolean, but got 'yes'.");
  });
});

describe('recognized compositions: sound, tight, and only for the real thing', () => {
  it('the L2-pooling export (embedded norm): bound k, never exceeded, approached', () => {
    const model = tfl.sequential({ layers: [scaledL2NormPooling2d({ poolSize: 2, kCoefLip: 1.5, inputShape: [4, 4, 3] })] });
    const exported = vanillaExport(model);
    expect(lipschitzBound(exported)).toBeCloseTo(1.5, 6);
    const ratio = largestRatio(exported, [4, 4, 3], 40, 5);
    expect(ratio).toBeLessThanOrEqual(1.5 * (1 + 1e-4));
    const radial = largestRatio(exported, [4, 4, 3], 40, 5, true);
    expect(radial).toBeLessThanOrEqual(1.5 * (1 + 1e-4));
    expect(radial).toBeGreaterThan(1.5 * (1 - 1e-3));
  });

  it('sup of d/dr r^2 / sqrt(r^2 + e) is sqrt(32/27), at r^2 = 2e (finite differences)', () => {
    const e = 0.37;
    const f = (r: number) => (r * r) / Math.sqrt(r * r + e);
    let best = 0;
    for (let r = 0; r < 10; r += 1e-3) best = Math.max(best, (f(r + 1e-6) - f(r)) / 1e-6);
    expect(best).toBeLessThanOrEqual(NORM_WITH_EPSILON_SLOPE + 1e-6);
    expect(best).toBeGreaterThan(NORM_WITH_EPSILON_SLOPE - 1e-5);
  });

  /** v = dense(x) then w * sum(v * layerNormalization(v)) + b, with the given settings. */
  function embeddedNormModel(options: { w: number[]; gamma: number; beta: number; epsilon: number }): tfl.LayersModel {
    const input = tfl.input({ shape: [3] });
    const embed = tfl.layers.dense({ units: 5 });
    const v = embed.apply(input) as tfl.SymbolicTensor;
    const ln = tfl.layers.layerNormalization({ axis: -1, epsilon: options.epsilon });
    const normalized = ln.apply(v) as tfl.SymbolicTensor;
    const sum = tfl.layers.dense({ units: 1 });
    const out = sum.apply(tfl.layers.multiply().apply([normalized, v])) as tfl.SymbolicTensor;
    embed.setWeights([tf.tensor(seededValues(15, 8), [3, 5]), tf.tensor(seededValues(5, 9), [5])]);
    ln.setWeights([tf.fill([5], options.gamma), tf.fill([5], options.beta)]);
    sum.setWeights([tf.tensor(options.w, [5, 1]), tf.tensor([0])]);
    return tfl.model({ inputs: input, outputs: out });
  }

  it('embedded norm with gamma, epsilon: |w gamma| sqrt(m) ||A|| (times sqrt(32/27)), sound', () => {
    const w = 0.4;
    const gamma = -2;
    const exact = embeddedNormModel({ w: [w, w, w, w, w], gamma, beta: 0, epsilon: 0 });
    const smoothed = embeddedNormModel({ w: [w, w, w, w, w], gamma, beta: 0, epsilon: 1e-2 });
    const denseBound = lipschitzBound(tfl.model({ inputs: exact.inputs, outputs: exact.layers[1]!.output as tfl.SymbolicTensor }));
    expect(lipschitzBound(exact)).toBeCloseTo(Math.abs(w * gamma) * Math.sqrt(5) * denseBound, 5);
    expect(lipschitzBound(smoothed)).toBeCloseTo(Math.abs(w * gamma) * Math.sqrt(5) * NORM_WITH_EPSILON_SLOPE * denseBound, 5);
    expect(largestRatio(exact, [3], 60, 3)).toBeLessThanOrEqual(lipschitzBound(exact) * (1 + 1e-4));
    expect(largestRatio(smoothed, [3], 60, 3)).toBeLessThanOrEqual(lipschitzBound(smoothed) * (1 + 1e-4));
  });

  it('look-alikes get the generic bound: unequal sum weights, a non-zero beta', () => {
    expect(lipschitzBound(embeddedNormModel({ w: [0.4, 0.4, 0.4, 0.4, 0.41], gamma: 1, beta: 0, epsilon: 0 }))).toBe(Infinity);
    expect(lipschitzBound(embeddedNormModel({ w: [0.4, 0.4, 0.4, 0.4, 0.4], gamma: 1, beta: 0.1, epsilon: 0 }))).toBe(Infinity);
  });

  it('sign-split relu: relu(concat(a z, b z)) is max(a, |b|) times z; two different sources are not', () => {
    const input = tfl.input({ shape: [4] });
    const dense = tfl.layers.dense({ units: 4, useBias: false });
    const z = dense.apply(input) as tfl.SymbolicTensor;
    const pos = tfl.layers.rescaling({ scale: 0.5 }).apply(z) as tfl.SymbolicTensor;
    const neg = tfl.layers.rescaling({ scale: -2 }).apply(z) as tfl.SymbolicTensor;
    const split = tfl.model({ inputs: input, outputs: tfl.layers.reLU().apply(tfl.layers.concatenate().apply([pos, neg])) as tfl.SymbolicTensor });
    dense.setWeights([tf.tensor(seededValues(16, 4), [4, 4])]);
    const zBound = lipschitzBound(tfl.model({ inputs: input, outputs: z }));
    expect(lipschitzBound(split)).toBeCloseTo(2 * zBound, 6);
    expect(largestRatio(split, [4], 60, 6)).toBeLessThanOrEqual(2 * zBound * (1 + 1e-4));
    const other = tfl.layers.dense({ units: 4, useBias: false }).apply(input) as tfl.SymbolicTensor;
    const mixed = tfl.layers.rescaling({ scale: -1 }).apply(other) as tfl.SymbolicTensor;
    const notSplit = tfl.model({ inputs: input, outputs: tfl.layers.reLU().apply(tfl.layers.concatenate().apply([z, mixed])) as tfl.SymbolicTensor });
    const generic = lipschitzBound(notSplit);
    const otherBound = lipschitzBound(tfl.model({ inputs: input, outputs: other }));
    expect(generic).toBeCloseTo(Math.sqrt(zBound ** 2 + otherBound ** 2), 6);
  });
});
