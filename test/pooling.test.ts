/**
 * Scaled poolings: Lipschitz bounds against float64 oracles (impulse-response singular values,
 * full Jacobians, gradient ascent), hand-computed values, safe gradients at 0, vanilla export,
 * serialization and training.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { LipschitzConfigError } from '../src/core/errors';
import { isCondensable, isLipschitzLayer } from '../src/core/contracts';
import {
  ScaledAveragePooling2D,
  ScaledGlobalAveragePooling2D,
  ScaledGlobalL2NormPooling2D,
  ScaledL2NormPooling2D,
  scaledAveragePooling2d,
  scaledGlobalAveragePooling2d,
  scaledGlobalL2NormPooling2d,
  scaledL2NormPooling2d,
} from '../src/layers/pooling';
import { finiteDifferenceGradient, impulseResponseMatrix, singularValues } from './helpers/oracles';
import {
  BUILT_IN_LAYER_CLASSES,
  applyLayer,
  expectConfigError,
  exportPair,
  flat,
  jacobianNorm,
  lipschitzRatioAscent,
  randomNormal,
  relativeMaxDiff,
  saveLoad,
} from './helpers/pooling';

type PoolLayer = tfl.layers.Layer & {
  kCoefLip: number;
  lipschitzBound(): number;
  correctiveCoefficient(): number;
  vanillaExport(input: tfl.SymbolicTensor): tfl.SymbolicTensor;
};

let tensorsBefore = 0;
beforeEach(() => {
  tensorsBefore = tf.memory().numTensors;
});

describe('validation', () => {
  const cases: Array<[string, () => unknown, string, string]> = [
    ['avg poolSize 0', () => scaledAveragePooling2d({ poolSize: 0 }), 'poolSize', '0'],
    ['avg poolSize 2.5', () => scaledAveragePooling2d({ poolSize: 2.5 }), 'poolSize', '2.5'],
    ['avg poolSize triple', () => scaledAveragePooling2d({ poolSize: [2, 2, 2] as unknown as [number, number] }), 'poolSize', '[2,2,2]'],
    ['avg poolSize string', () => scaledAveragePooling2d({ poolSize: '2' as unknown as number }), 'poolSize', "'2'"],
    ['avg strides 1', () => scaledAveragePooling2d({ poolSize: 2, strides: 1 }), 'strides', '1'],
    ['avg strides pair', () => scaledAveragePooling2d({ poolSize: [2, 3], strides: [2, 2] }), 'strides', '[2,2]'],
    ['avg padding same', () => scaledAveragePooling2d({ padding: 'same' as 'valid' }), 'padding', "'same'"],
    ['avg dataFormat', () => scaledAveragePooling2d({ dataFormat: 'NHWC' as 'channelsLast' }), 'dataFormat', "'NHWC'"],
    ['avg kCoefLip 0', () => scaledAveragePooling2d({ kCoefLip: 0 }), 'kCoefLip', '0'],
    ['avg kCoefLip -1', () => scaledAveragePooling2d({ kCoefLip: -1 }), 'kCoefLip', '-1'],
    ['avg kCoefLip NaN', () => scaledAveragePooling2d({ kCoefLip: NaN }), 'kCoefLip', 'NaN'],
    ['l2 strides', () => scaledL2NormPooling2d({ poolSize: 3, strides: [3, 1] }), 'strides', '[3,1]'],
    ['l2 padding', () => scaledL2NormPooling2d({ padding: 'causal' as 'valid' }), 'padding', "'causal'"],
    ['l2 epsGradSqrt 0', () => scaledL2NormPooling2d({ epsGradSqrt: 0 }), 'epsGradSqrt', '0'],
    ['l2 epsGradSqrt -1e-6', () => scaledL2NormPooling2d({ epsGradSqrt: -1e-6 }), 'epsGradSqrt', '-0.000001'],
    ['l2 kCoefLip Infinity', () => scaledL2NormPooling2d({ kCoefLip: Infinity }), 'kCoefLip', 'Infinity'],
    ['l2 dataFormat', () => scaledL2NormPooling2d({ dataFormat: 'channels_last' as 'channelsLast' }), 'dataFormat', "'channels_last'"],
    ['gap kCoefLip', () => scaledGlobalAveragePooling2d({ kCoefLip: 0 }), 'kCoefLip', '0'],
    ['gap dataFormat', () => scaledGlobalAveragePooling2d({ dataFormat: 'x' as 'channelsLast' }), 'dataFormat', "'x'"],
    ['gl2 epsGradSqrt', () => scaledGlobalL2NormPooling2d({ epsGradSqrt: NaN }), 'epsGradSqrt', 'NaN'],
    ['gl2 kCoefLip', () => scaledGlobalL2NormPooling2d({ kCoefLip: -2 }), 'kCoefLip', '-2'],
    [
      'avg window larger than input (build)',
      () => scaledAveragePooling2d({ poolSize: 4 }).apply(tfl.input({ shape: [3, 8, 1] })),
      'poolSize',
      '[4,4]',
    ],
    [
      'gap dynamic spatial dims (build)',
      () => scaledGlobalAveragePooling2d().apply(tfl.input({ shape: [null, null, 2] as unknown as number[] })),
      'inputShape',
      '[null,null,null,2]',
    ],
  ];
  it.each(cases)('%s', (_label, make, argument, value) => {
    expectConfigError(make, argument, value);
  });

  it('kCoefLip set later is validated too', () => {
    const layer = scaledAveragePooling2d();
    expect(() => {
      layer.kCoefLip = 0;
    }).toThrow(LipschitzConfigError);
    layer.kCoefLip = 2;
    expect(layer.lipschitzBound()).toBe(2);
  });

  it('accepts strides equal to poolSize and defaults', () => {
    const layer = scaledL2NormPooling2d({ poolSize: [2, 3], strides: [2, 3], padding: 'valid' });
    expect(layer.poolSize).toEqual([2, 3]);
    expect(layer.epsGradSqrt).toBe(1e-6);
    expect(layer.kCoefLip).toBe(1);
    expect(isLipschitzLayer(layer)).toBe(true);
    expect(isCondensable(layer)).toBe(true);
    expect(scaledAveragePooling2d().poolSize).toEqual([2, 2]);
  });
});

describe('linear poolings: impulse-response singular values in float64', () => {
  it('scaledAveragePooling2d [2,3], k = 1.7, on 5x7x2 (remainders dropped)', () => {
    const k = 1.7;
    const layer = scaledAveragePooling2d({ poolSize: [2, 3], kCoefLip: k });
    const shape = [5, 7, 2];
    const matrix = impulseResponseMatrix((x) => applyLayer(layer, x), shape);
    // Output 2 x 2 x 2 = 8 rows, each orthogonal with norm k.
    expect(matrix.length).toBe(8);
    const sv = singularValues(matrix);
    expect(Math.abs((sv[0] as number) - k)).toBeLessThan(1e-6);
    sv.forEach((s) => expect(Math.abs(s - k)).toBeLessThan(1e-6));
    // Hand-built expected matrix: k / sqrt(6) at each window position of each channel.
    const expected = matrix.map(() => new Array<number>(5 * 7 * 2).fill(0));
    for (let i = 0; i < 2; i += 1)
      for (let j = 0; j < 2; j += 1)
        for (let c = 0; c < 2; c += 1)
          for (let a = 0; a < 2; a += 1)
            for (let b = 0; b < 3; b += 1) expected[(i * 2 + j) * 2 + c]![((i * 2 + a) * 7 + j * 3 + b) * 2 + c] = k / Math.sqrt(6);
    expect(relativeMaxDiff(matrix.flat(), expected.flat())).toBeLessThan(1e-6);
    expect(layer.correctiveCoefficient()).toBeCloseTo(Math.sqrt(6), 12);
    expect(layer.lipschitzBound()).toBe(k);
  });

  it('scaledGlobalAveragePooling2d, k = 0.6, on 3x5x2', () => {
    const k = 0.6;
    const layer = scaledGlobalAveragePooling2d({ kCoefLip: k });
    const matrix = impulseResponseMatrix((x) => applyLayer(layer, x), [3, 5, 2]);
    expect(matrix.length).toBe(2);
    const sv = singularValues(matrix);
    expect(sv).toHaveLength(2);
    sv.forEach((s) => expect(Math.abs(s - k)).toBeLessThan(1e-6));
    expect(layer.correctiveCoefficient()).toBeCloseTo(Math.sqrt(15), 12);
    // Each entry k / sqrt(15) on its channel.
    matrix.forEach((row, c) => row.forEach((v, j) => expect(Math.abs(v - (j % 2 === c ? k / Math.sqrt(15) : 0))).toBeLessThan(1e-7)));
  });

  it('channelsFirst equals the transposed channelsLast computation', () => {
    const x = tf.tensor(randomNormal(2 * 3 * 4 * 6, 3), [2, 3, 4, 6]); // NCHW
    const last = scaledAveragePooling2d({ poolSize: 2, kCoefLip: 1.3 });
    const first = scaledAveragePooling2d({ poolSize: 2, kCoefLip: 1.3, dataFormat: 'channelsFirst' });
    const a = tf.transpose(applyLayer(last, tf.transpose(x, [0, 2, 3, 1])), [0, 3, 1, 2]);
    const b = applyLayer(first, x);
    expect(b.shape).toEqual([2, 3, 2, 3]);
    expect(relativeMaxDiff(flat(a), flat(b))).toBeLessThan(1e-6);
    const g1 = scaledGlobalAveragePooling2d({ dataFormat: 'channelsFirst' });
    const g2 = scaledGlobalAveragePooling2d();
    expect(relativeMaxDiff(flat(applyLayer(g1, x)), flat(applyLayer(g2, tf.transpose(x, [0, 2, 3, 1]))))).toBeLessThan(1e-6);
    tf.dispose([x, a, b]);
  });
});

describe('L2-norm poolings: values, gradients, bounds', () => {
  it('scaledL2NormPooling2d equals hand-computed window norms', () => {
    const k = 2;
    const layer = scaledL2NormPooling2d({ poolSize: 2, kCoefLip: k });
    // One channel, 2 x 5 (last column dropped): windows {1,2,6,7} and {3,4,8,9}.
    const x = tf.tensor([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [1, 2, 5, 1]);
    const y = applyLayer(layer, x);
    expect(y.shape).toEqual([1, 1, 2, 1]);
    const expected = [k * Math.sqrt(1 + 4 + 36 + 49), k * Math.sqrt(9 + 16 + 64 + 81)];
    flat(y).forEach((v, i) => expect(Math.abs(v - expected[i]!) / expected[i]!).toBeLessThan(1e-6));
    expect(layer.correctiveCoefficient()).toBe(2);
    tf.dispose([x, y]);
  });

  it('scaledGlobalL2NormPooling2d equals hand-computed channel norms', () => {
    const layer = scaledGlobalL2NormPooling2d({ kCoefLip: 0.5 });
    const values = [3, -1, 4, 1, -5, 9, 2, 6]; // (1, 2, 2, 2): channel 0 = 3,4,-5,2 ; channel 1 = -1,1,9,6
    const x = tf.tensor(values, [1, 2, 2, 2]);
    const y = flat(applyLayer(layer, x));
    expect(y[0]).toBeCloseTo(0.5 * Math.sqrt(9 + 16 + 25 + 4), 5);
    expect(y[1]).toBeCloseTo(0.5 * Math.sqrt(1 + 1 + 81 + 36), 5);
    expect(layer.correctiveCoefficient()).toBe(1);
    x.dispose();
  });

  it('gradients are finite on all-zero input (and on partly zero windows)', () => {
    const layers: PoolLayer[] = [
      scaledL2NormPooling2d({ poolSize: 2 }),
      scaledGlobalL2NormPooling2d(),
      scaledL2NormPooling2d({ poolSize: [1, 2], kCoefLip: 3 }),
    ];
    for (const layer of layers) {
      for (const values of [new Array<number>(16).fill(0), [0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, -1, 0, 0, 0]]) {
        const g = tf.tidy(() => {
          const x = tf.tensor(values, [1, 4, 4, 1]);
          return flat(tf.grad((t: tf.Tensor) => tf.sum(applyLayer(layer, t)))(x));
        });
        g.forEach((v) => expect(Number.isFinite(v)).toBe(true));
        if (values.every((v) => v === 0)) g.forEach((v) => expect(v).toBe(0));
      }
      const out = tf.tidy(() => flat(applyLayer(layer, tf.zeros([1, 4, 4, 1]))));
      out.forEach((v) => expect(v).toBe(0));
    }
  });

  it('the gradient follows DEEL-LIP eps_grad_sqrt: k x / (||x_w|| + sqrt(n) eps)', () => {
    const eps = 0.5;
    const k = 1.5;
    const x = [1, -2, 0.5, 3, 2, 2, -1, 0]; // (1, 2, 4, 1), windows 2x2: {1,-2,2,2}, {0.5,3,-1,0}
    const layer = scaledL2NormPooling2d({ poolSize: 2, kCoefLip: k, epsGradSqrt: eps });
    const g = tf.tidy(() => flat(tf.grad((t: tf.Tensor) => tf.sum(applyLayer(layer, t)))(tf.tensor(x, [1, 2, 4, 1]))));
    const windowOf = (idx: number): number[] => {
      const col = idx % 4;
      const w = col < 2 ? [0, 1, 4, 5] : [2, 3, 6, 7];
      return w.map((i) => x[i]!);
    };
    g.forEach((v, i) => {
      const norm = Math.sqrt(windowOf(i).reduce((s, u) => s + u * u, 0));
      expect(Math.abs(v - (k * x[i]!) / (norm + 2 * eps))).toBeLessThan(1e-5);
    });
    // Global version: k x / (||x_c|| + eps).
    const global = scaledGlobalL2NormPooling2d({ kCoefLip: k, epsGradSqrt: eps });
    const gg = tf.tidy(() => flat(tf.grad((t: tf.Tensor) => tf.sum(applyLayer(global, t)))(tf.tensor(x, [1, 2, 4, 1]))));
    const norm = Math.sqrt(x.reduce((s, u) => s + u * u, 0));
    gg.forEach((v, i) => expect(Math.abs(v - (k * x[i]!) / (norm + eps))).toBeLessThan(1e-5));
  });

  it('with the default eps the gradient matches finite differences of a float64 reference', () => {
    const x = randomNormal(2 * 4 * 3, 11);
    const layer = scaledL2NormPooling2d({ poolSize: 2, kCoefLip: 1.2 });
    const v = randomNormal(1 * 2 * 3, 12);
    // Reference: sum_w v_w * 1.2 * ||x_w|| in float64, windows of 2x2 on a 2x4x3 image.
    const reference = (xs: number[]): number => {
      let total = 0;
      for (let j = 0; j < 2; j += 1)
        for (let c = 0; c < 3; c += 1) {
          let s = 0;
          for (let a = 0; a < 2; a += 1) for (let b = 0; b < 2; b += 1) s += xs[(a * 4 + j * 2 + b) * 3 + c]! ** 2;
          total += v[j * 3 + c]! * 1.2 * Math.sqrt(s);
        }
      return total;
    };
    const fd = finiteDifferenceGradient(reference, x, 1e-5);
    const g = tf.tidy(() =>
      flat(tf.grad((t: tf.Tensor) => tf.sum(tf.mul(applyLayer(layer, t), tf.tensor(v, [1, 1, 2, 3]))))(tf.tensor(x, [1, 2, 4, 3]))),
    );
    expect(relativeMaxDiff(fd, g)).toBeLessThan(1e-4);
  });
});

describe('Lipschitz bounds: Jacobian operator norms and gradient ascent', () => {
  const shape = [4, 4, 2];
  const makers: Array<[string, () => PoolLayer]> = [
    ['scaledAveragePooling2d', () => scaledAveragePooling2d({ poolSize: 2, kCoefLip: 1.3 })],
    ['scaledL2NormPooling2d', () => scaledL2NormPooling2d({ poolSize: [2, 4], kCoefLip: 1.3 })],
    ['scaledGlobalAveragePooling2d', () => scaledGlobalAveragePooling2d({ kCoefLip: 0.7 })],
    ['scaledGlobalL2NormPooling2d', () => scaledGlobalL2NormPooling2d({ kCoefLip: 0.7 })],
  ];
  it.each(makers)('%s: largest Jacobian norm and Lipschitz ratio <= kCoefLip (1 + 1e-4)', (_name, make) => {
    const layer = make();
    const f = (x: tf.Tensor): tf.Tensor => applyLayer(layer, x);
    const bound = layer.lipschitzBound();
    const size = shape.reduce((p, d) => p * d, 1);
    let largestJacobian = 0;
    for (const [seed, scale] of [
      [1, 1],
      [2, 1e-3],
      [3, 100],
      [4, 1e-6],
      [5, 1],
    ] as const) {
      largestJacobian = Math.max(largestJacobian, jacobianNorm(f, randomNormal(size, seed, scale), shape));
    }
    const ratio = lipschitzRatioAscent(f, shape, { pairs: 12, steps: 60, seed: 5 });
    expect(largestJacobian).toBeLessThanOrEqual(bound * (1 + 1e-4));
    expect(ratio).toBeLessThanOrEqual(bound * (1 + 1e-4));
    // The estimates are meaningful: both come close to the bound, which is tight.
    expect(largestJacobian).toBeGreaterThan(bound * 0.99);
    expect(ratio).toBeGreaterThan(bound * 0.9);
  });
});

describe('vanilla export', () => {
  const cases: Array<[string, () => PoolLayer, number[]]> = [
    ['avg [2,3] k=1.4', () => scaledAveragePooling2d({ poolSize: [2, 3], kCoefLip: 1.4 }), [4, 7, 3]],
    ['avg channelsFirst', () => scaledAveragePooling2d({ poolSize: 2, dataFormat: 'channelsFirst' }), [3, 4, 6]],
    ['l2 [2,2]', () => scaledL2NormPooling2d({ poolSize: 2 }), [4, 4, 3]],
    ['l2 [3,2] k=0.8 cropped', () => scaledL2NormPooling2d({ poolSize: [3, 2], kCoefLip: 0.8 }), [7, 5, 2]],
    ['l2 channelsFirst', () => scaledL2NormPooling2d({ poolSize: 2, dataFormat: 'channelsFirst' }), [2, 4, 6]],
    ['gap k=2', () => scaledGlobalAveragePooling2d({ kCoefLip: 2 }), [3, 5, 4]],
    ['gap channelsFirst', () => scaledGlobalAveragePooling2d({ dataFormat: 'channelsFirst' }), [4, 3, 5]],
    ['gl2 k=1.5', () => scaledGlobalL2NormPooling2d({ kCoefLip: 1.5 }), [3, 5, 4]],
    ['gl2 channelsFirst', () => scaledGlobalL2NormPooling2d({ dataFormat: 'channelsFirst' }), [4, 3, 5]],
  ];
  it.each(cases)('%s: exported built-ins predict the same (1e-5)', (_label, make, shape) => {
    const layer = make();
    const size = shape.reduce((p, d) => p * d, 1);
    const values = randomNormal(3 * size, 21);
    // Third sample: all zeros (the L2 export must give 0, not NaN); second: tiny values.
    for (let i = 0; i < size; i += 1) {
      values[size + i] = values[size + i]! * 1e-4;
      values[2 * size + i] = 0;
    }
    const x = tf.tensor(values, [3, ...shape]);
    const { original, exported, classNames } = exportPair(layer, shape, x);
    expect(exported.every(Number.isFinite)).toBe(true);
    expect(relativeMaxDiff(original, exported)).toBeLessThan(1e-5);
    // The average poolings export to the very same float32 operations: bit-identical.
    if (!(layer instanceof ScaledL2NormPooling2D) && !(layer instanceof ScaledGlobalL2NormPooling2D)) {
      expect(exported).toEqual(original);
    }
    // Per-sample relative check for the tiny sample.
    const per = original.length / 3;
    expect(relativeMaxDiff(original.slice(per, 2 * per).map((v) => v * 1e4), exported.slice(per, 2 * per).map((v) => v * 1e4))).toBeLessThan(1e-5);
    exported.slice(2 * per).forEach((v) => expect(Math.abs(v)).toBeLessThan(1e-12));
    classNames.forEach((name) => expect(BUILT_IN_LAYER_CLASSES.has(name)).toBe(true));
    x.dispose();
  });

  it('names the first exported layer after the layer', () => {
    const layer = scaledAveragePooling2d({ name: 'pool_a' });
    const input = tfl.input({ shape: [4, 4, 1] });
    const out = layer.vanillaExport(input);
    const model = tfl.model({ inputs: input, outputs: out });
    expect(model.layers.slice(1).map((l) => l.name)).toEqual(['pool_a', 'pool_a_scale']);
    model.dispose();
  });
});

describe('serialization and training', () => {
  const makers: Array<[string, () => PoolLayer]> = [
    ['ScaledAveragePooling2D', () => scaledAveragePooling2d({ poolSize: [2, 1], kCoefLip: 1.25, name: 'p1' })],
    ['ScaledL2NormPooling2D', () => scaledL2NormPooling2d({ poolSize: 2, kCoefLip: 0.5, epsGradSqrt: 1e-3, name: 'p2' })],
    ['ScaledGlobalAveragePooling2D', () => scaledGlobalAveragePooling2d({ kCoefLip: 3, dataFormat: 'channelsLast', name: 'p3' })],
    ['ScaledGlobalL2NormPooling2D', () => scaledGlobalL2NormPooling2d({ kCoefLip: 2, epsGradSqrt: 1e-2, name: 'p4' })],
  ];
  it.each(makers)('%s: getConfig round trip and model save/load', async (className, make) => {
    const layer = make();
    expect(layer.getClassName()).toBe(className);
    const config = layer.getConfig();
    const entry = tf.serialization.SerializationMap.getMap().classNameMap[className];
    expect(entry).toBeDefined();
    const [cls, fromConfig] = entry!;
    const copy = fromConfig(cls, config) as PoolLayer;
    expect(copy.getConfig()).toEqual(config);
    expect(copy.kCoefLip).toBe(layer.kCoefLip);

    const input = tfl.input({ shape: [4, 6, 2] });
    const model = tfl.model({ inputs: input, outputs: layer.apply(input) as tfl.SymbolicTensor });
    const loaded = await saveLoad(model);
    const x = tf.tensor(randomNormal(2 * 48, 31), [2, 4, 6, 2]);
    const a = model.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(loaded.layers[1]!.getClassName()).toBe(className);
    expect(relativeMaxDiff(flat(a), flat(b))).toBe(0);
    tf.dispose([x, a, b]);
    model.dispose();
    loaded.dispose();
  });

  it('a small model with every pooling trains with fit (loss decreases, no NaN on zero inputs)', async () => {
    const input = tfl.input({ shape: [8, 8, 2] });
    const conv = tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', kernelInitializer: 'glorotUniform' }).apply(input) as tfl.SymbolicTensor;
    const avg = scaledAveragePooling2d({ poolSize: 2 }).apply(conv) as tfl.SymbolicTensor; // 4x4x4
    const l2 = scaledL2NormPooling2d({ poolSize: 2 }).apply(avg) as tfl.SymbolicTensor; // 2x2x4
    const g1 = scaledGlobalAveragePooling2d().apply(l2) as tfl.SymbolicTensor;
    const g2 = scaledGlobalL2NormPooling2d().apply(l2) as tfl.SymbolicTensor;
    const merged = tfl.layers.concatenate().apply([g1, g2]) as tfl.SymbolicTensor;
    const out = tfl.layers.dense({ units: 1 }).apply(merged) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: out });
    model.compile({ optimizer: tf.train.adam(0.05), loss: 'meanSquaredError' });
    const n = 32;
    const values = randomNormal(n * 128, 41);
    for (let i = 0; i < 128 * 4; i += 1) values[i] = 0; // four all-zero samples
    const x = tf.tensor(values, [n, 8, 8, 2]);
    const y = tf.tidy(() => tf.reshape(tf.sum(tf.abs(x), [1, 2, 3]), [n, 1]));
    const history = await model.fit(x, y, { epochs: 25, batchSize: 16, verbose: 0, shuffle: false });
    const losses = history.history.loss as number[];
    losses.forEach((l) => expect(Number.isFinite(l)).toBe(true));
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! * 0.5);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('does not leak tensors', () => {
    const layer = scaledL2NormPooling2d();
    const x = tf.ones([1, 4, 4, 1]);
    const before = tf.memory().numTensors;
    const y = applyLayer(layer, x);
    const g = tf.grad((t: tf.Tensor) => tf.sum(applyLayer(layer, t)))(x);
    tf.dispose([y, g]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    expect(tf.memory().numTensors).toBeLessThanOrEqual(tensorsBefore);
  });
});

// Keep the class imports referenced (the factories return these types).
void [ScaledAveragePooling2D, ScaledGlobalAveragePooling2D];
