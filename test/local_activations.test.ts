/**
 * The Local-Lip activations (`ClippedReLU`, `ClampedMaxMin`) against plain-JS float64 formulas:
 * forward values (per-unit and shared thresholds), gradients with respect to the input and to the
 * thresholds against central finite differences of the formula, the Lipschitz constant 1 on random
 * pairs, serialization round trips (config and saved model) and the validation of every argument.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as lip from '../src/activations';
import { isLipschitzLayer } from '../src/core/contracts';
import { layerLipschitzBound } from '../src/model/bound';
import { finiteDifferenceGradient } from './helpers/oracles';
import { mulberry32 } from './helpers/random';
import { thrownConfigError } from './helpers/thrown';

type Layer = lip.ClippedReLU | lip.ClampedMaxMin;

const size = (shape: number[]) => shape.reduce((p, d) => p * d, 1);

function uniform(r: () => number, n: number, lo: number, hi: number): number[] {
  return Array.from({ length: n }, () => Math.fround(lo + (hi - lo) * r()));
}

/** Plain-JS clipped ReLU of one flat sample: `k * min(max(z, 0), theta)` (theta per unit or shared). */
function clippedRef(z: number[], theta: number[], k = 1): number[] {
  return z.map((v, i) => k * Math.min(Math.max(v, 0), theta[theta.length === 1 ? 0 : i]!));
}

/** Plain-JS clamped MaxMin of one flat channels-last sample with `c` channels. */
function clampedRef(z: number[], c: number, maxT: number[], minT: number[], k = 1): number[] {
  const half = c / 2;
  const out = new Array<number>(z.length);
  for (let p = 0; p < z.length / c; p++) {
    for (let j = 0; j < half; j++) {
      const a = z[p * c + j]!;
      const b = z[p * c + half + j]!;
      const t = p * half + j;
      out[p * c + j] = k * Math.min(Math.max(a, b), maxT[maxT.length === 1 ? 0 : t]!);
      out[p * c + half + j] = k * Math.max(Math.min(a, b), minT[minT.length === 1 ? 0 : t]!);
    }
  }
  return out;
}

interface Case {
  name: string;
  shape: number[];
  make: () => Layer;
  /** Random thresholds written into the built layer (flat, in weight order). */
  thresholds: (layer: Layer, r: () => number) => number[][];
  ref: (z: number[], t: number[][]) => number[];
}

const CASES: Case[] = [
  {
    name: 'clippedReLU (per unit)',
    shape: [2, 3, 4],
    make: () => lip.clippedReLU({ threshold: 0.7 }),
    thresholds: (l, r) => [uniform(r, size(l.getWeights()[0]!.shape), 0.3, 1.5)],
    ref: (z, [t]) => clippedRef(z, t!),
  },
  {
    name: 'clippedReLU (shared, kCoefLip 1)',
    shape: [6],
    make: () => lip.clippedReLU({ perUnit: false, threshold: 2 }),
    thresholds: () => [[0.8]],
    ref: (z, [t]) => clippedRef(z, t!),
  },
  {
    name: 'clampedMaxMin (per unit)',
    shape: [2, 2, 6],
    make: () => lip.clampedMaxMin(),
    thresholds: (l, r) => {
      const n = size(l.getWeights()[0]!.shape);
      return [uniform(r, n, 0.2, 1.2), uniform(r, n, -1.2, -0.2)];
    },
    ref: (z, [mx, mn]) => clampedRef(z, 6, mx!, mn!),
  },
  {
    name: 'clampedMaxMin (shared)',
    shape: [8],
    make: () => lip.clampedMaxMin({ perUnit: false, maxThreshold: 0.9, minThreshold: 0.1 }),
    thresholds: () => [[0.6], [-0.4]],
    ref: (z, [mx, mn]) => clampedRef(z, 8, mx!, mn!),
  },
];

/** A built layer with random thresholds; returns the layer and its thresholds. */
function builtCase(c: Case, seed: number): [Layer, number[][]] {
  const layer = c.make();
  layer.build([null, ...c.shape]);
  const t = c.thresholds(layer, mulberry32(seed));
  layer.setWeights(t.map((v, i) => tf.tensor(v, layer.getWeights()[i]!.shape)));
  return [layer, t];
}

function run(layer: Layer, samples: number[][], shape: number[]): number[][] {
  return tf.tidy(() => {
    const y = layer.apply(tf.tensor(samples.flat(), [samples.length, ...shape])) as tf.Tensor;
    const flat = Array.from(y.dataSync());
    const per = flat.length / samples.length;
    return samples.map((_, i) => flat.slice(i * per, (i + 1) * per));
  });
}

function expectClose(actual: number[], expected: number[], tol: number): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((v, i) => {
    if (!(Math.abs(v - expected[i]!) <= tol * Math.max(1, Math.abs(expected[i]!)))) {
      throw new Error(`entry ${i}: got ${v}, expected ${expected[i]}`);
    }
  });
}

/**
 * A sample whose entries stay >= 0.05 away from every kink (0 and the thresholds of the clipped
 * ReLU; the partner channel and the clamps of the clamped MaxMin) and of which some entry moves
 * the output; resampled until so.
 */
function awayFromKinks(c: Case, t: number[][], r: () => number): number[] {
  const n = size(c.shape);
  for (;;) {
    const z = uniform(r, n, -2, 2);
    const h = 1e-3;
    // A kink within 0.05 changes the formula's slope between z - 0.05 and z + 0.05 along some axis.
    let moving = false;
    const smooth = z.every((_, i) => {
      const at = (d: number) => c.ref(z.map((v, j) => (j === i ? v + d : v)), t);
      const slope = (d: number) => at(d + h).map((v, j) => (v - at(d - h)[j]!) / (2 * h));
      const [s1, s2, s3] = [slope(-0.05), slope(0), slope(0.05)];
      moving ||= s2.some((v) => v !== 0);
      return s1.every((v, j) => Math.abs(v - s2[j]!) < 1e-6 && Math.abs(v - s3[j]!) < 1e-6);
    });
    // Some entry must move the output, or the gradient checks would compare zeros.
    if (smooth && moving) return z;
  }
}

describe.each(CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => {
  it('computes the plain-JS formula, without leaking tensors', () => {
    const [layer, t] = builtCase(c, 11);
    const r = mulberry32(3);
    const samples = Array.from({ length: 5 }, () => uniform(r, size(c.shape), -2, 2));
    const before = tf.memory().numTensors;
    const out = run(layer, samples, c.shape);
    expect(tf.memory().numTensors).toBe(before);
    samples.forEach((z, i) => expectClose(out[i]!, c.ref(z, t), 1e-6));
    // The random samples cross every regime (below, between and above the clamps).
    const flat = out.flat();
    expect(new Set(flat.map((v) => Math.sign(v))).size).toBeGreaterThan(1);
  });

  it('has input gradients equal to finite differences of the formula', () => {
    const [layer, t] = builtCase(c, 21);
    const r = mulberry32(5);
    const z = awayFromKinks(c, t, r);
    const v = uniform(r, z.length, -1, 1);
    const grad = tf.tidy(() => {
      const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(layer.apply(x) as tf.Tensor, tf.tensor(v, [1, ...c.shape]))));
      return Array.from(g(tf.tensor(z, [1, ...c.shape])).dataSync());
    });
    const f = (x: number[]) => c.ref(x, t).reduce((a, y, i) => a + y * v[i]!, 0);
    expectClose(grad, finiteDifferenceGradient(f, z, 1e-3), 1e-5);
    expect(grad.some((g) => g !== 0)).toBe(true);
  });

  it('has threshold gradients equal to finite differences of the formula', () => {
    const [layer, t] = builtCase(c, 31);
    const r = mulberry32(7);
    const zs = [awayFromKinks(c, t, r), awayFromKinks(c, t, r)];
    const v = uniform(r, 2 * size(c.shape), -1, 1);
    const vars = layer.trainableWeights.map((w) => w.read() as tf.Variable);
    const grads = tf.tidy(() => {
      const x = tf.tensor(zs.flat(), [2, ...c.shape]);
      const { grads: g } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(x) as tf.Tensor, tf.tensor(v, x.shape))) as tf.Scalar, vars);
      return vars.map((w) => Array.from(g[w.name]!.dataSync()));
    });
    t.forEach((values, k) => {
      const f = (th: number[]) => {
        const all = t.map((u, j) => (j === k ? th : u));
        return zs.flatMap((z) => c.ref(z, all)).reduce((a, y, i) => a + y * v[i]!, 0);
      };
      expectClose(grads[k]!, finiteDifferenceGradient(f, values, 1e-3), 1e-5);
      expect(grads[k]!.some((g) => g !== 0)).toBe(true);
    });
  });

  it('is 1-Lipschitz: bound 1 and ||f(x) - f(y)|| <= ||x - y|| on random pairs', () => {
    const [layer] = builtCase(c, 41);
    expect(isLipschitzLayer(layer)).toBe(true);
    expect(layer.lipschitzBound()).toBe(1);
    expect(layerLipschitzBound(layer)).toBe(1);
    const r = mulberry32(9);
    const n = size(c.shape);
    const xs = Array.from({ length: 200 }, () => uniform(r, n, -2, 2));
    const ys = xs.map((x, i) => (i % 2 === 0 ? uniform(r, n, -2, 2) : x.map((u) => Math.fround(u + 0.1 * (r() - 0.5)))));
    const fx = run(layer, xs, c.shape);
    const fy = run(layer, ys, c.shape);
    const dist = (a: number[], b: number[]) => Math.sqrt(a.reduce((s, u, i) => s + (u - b[i]!) ** 2, 0));
    const worst = Math.max(...xs.map((x, i) => dist(fx[i]!, fy[i]!) / dist(x, ys[i]!)));
    expect(worst).toBeLessThanOrEqual(1 + 1e-6);
    expect(worst).toBeGreaterThan(0.5);
  });

  it('round-trips through getConfig/fromConfig and a saved model (thresholds included)', async () => {
    const layer = c.make();
    const config = layer.getConfig();
    const [cls, fromConfig] = tf.serialization.SerializationMap.getMap().classNameMap[layer.getClassName()]!;
    expect(cls).toBe(layer.constructor);
    expect((fromConfig(cls, config) as tfl.layers.Layer).getConfig()).toEqual(config);
    const input = tfl.input({ shape: c.shape });
    const model = tfl.model({ inputs: input, outputs: layer.apply(input) as tfl.SymbolicTensor });
    const t = c.thresholds(layer as Layer, mulberry32(51));
    layer.setWeights(t.map((v, i) => tf.tensor(v, layer.getWeights()[i]!.shape)));
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(tf.io.withSaveHandler(async (a) => ((artifacts = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts!));
    const copy = loaded.layers[1] as Layer;
    expect(copy.getClassName()).toBe(layer.getClassName());
    expect(copy.getConfig()).toEqual(layer.getConfig());
    const samples = Array.from({ length: 3 }, () => uniform(mulberry32(2), size(c.shape), -2, 2));
    expectClose(run(copy, samples, c.shape).flat(), run(layer as Layer, samples, c.shape).flat(), 0);
    model.dispose();
    loaded.dispose();
  });
});

describe('trainable', () => {
  it('trainable: false leaves the thresholds out of the trainable weights', () => {
    const a = lip.clippedReLU({ trainable: false });
    a.build([null, 4]);
    expect(a.trainableWeights).toHaveLength(0);
    expect(a.nonTrainableWeights).toHaveLength(1);
    const b = lip.clampedMaxMin();
    b.build([null, 4]);
    expect(b.trainableWeights.map((w) => w.shape)).toEqual([[2], [2]]);
  });
});

describe('validation', () => {
  const bad: Array<[string, () => unknown, string[]]> = [
    ['threshold 0', () => lip.clippedReLU({ threshold: 0 }), ['threshold', '0']],
    ['threshold -1', () => lip.clippedReLU({ threshold: -1 }), ['threshold', '-1']],
    ['threshold NaN', () => lip.clippedReLU({ threshold: NaN }), ['threshold', 'NaN']],
    ['threshold Infinity', () => lip.clippedReLU({ threshold: Infinity }), ['threshold', 'Infinity']],
    ['threshold string', () => lip.clippedReLU({ threshold: '1' as unknown as number }), ['threshold', "'1'"]],
    ['perUnit string', () => lip.clippedReLU({ perUnit: 'yes' as unknown as boolean }), ['perUnit', "'yes'"]],
    ['unknown option', () => lip.clippedReLU({ treshold: 1 } as never), ['treshold', 'threshold']],
    ['kCoefLip 0', () => lip.clippedReLU({ kCoefLip: 0 }), ['kCoefLip', '0']],
    ['min = max', () => lip.clampedMaxMin({ maxThreshold: 0.5, minThreshold: 0.5 }), ['minThreshold', '0.5', 'maxThreshold']],
    ['min > max', () => lip.clampedMaxMin({ maxThreshold: -1 }), ['minThreshold', '-0.5', 'maxThreshold -1']],
    ['maxThreshold NaN', () => lip.clampedMaxMin({ maxThreshold: NaN }), ['maxThreshold', 'NaN']],
    ['minThreshold -Infinity', () => lip.clampedMaxMin({ minThreshold: -Infinity }), ['minThreshold', '-Infinity']],
    ['perUnit number', () => lip.clampedMaxMin({ perUnit: 1 as unknown as boolean }), ['perUnit', '1']],
    ['odd channels at build', () => lip.clampedMaxMin({ name: 'cm' }).build([null, 2, 5]), ["'cm'", 'even', '5']],
    ['unknown size per unit', () => lip.clippedReLU({ name: 'cr' }).build([null, null, 3]), ["'cr'", '[null,null,3]']],
  ];
  it.each(bad)('%s throws LipschitzConfigError naming the argument and the value', (_n, f, words) => {
    const e = thrownConfigError(f);
    words.forEach((w) => expect(e.message).toContain(w));
  });

  it('a shared threshold needs no known sizes', () => {
    const a = lip.clippedReLU({ perUnit: false });
    a.build([null, null, 3]);
    expect(a.getWeights()[0]!.shape).toEqual([1]);
  });
});
