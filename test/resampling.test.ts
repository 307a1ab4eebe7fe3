/**
 * Invertible down/up sampling: exact norm preservation, mutual inverses, a hand-written JS
 * space-to-depth oracle (DEEL-LIP channel order), permutation Jacobians, vanilla export,
 * serialization and training.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { isCondensable, isLipschitzLayer } from '../src/core/contracts';
import { invertibleDownSampling, invertibleUpSampling } from '../src/layers/resampling';
import { impulseResponseMatrix, singularValues } from './helpers/oracles';
import {
  BUILT_IN_LAYER_CLASSES,
  applyLayer,
  expectConfigError,
  exportPair,
  flat,
  lipschitzRatioAscent,
  randomNormal,
  relativeMaxDiff,
  saveLoad,
} from './helpers/pooling';

/** Hand-written space-to-depth on a flat NHWC array: channel c*ph*pw + a*pw + b. */
function jsSpaceToDepth(x: number[], [n, h, w, c]: number[], [ph, pw]: [number, number]): number[] {
  const ho = h! / ph;
  const wo = w! / pw;
  const cOut = c! * ph * pw;
  const out = new Array<number>(x.length).fill(NaN);
  for (let s = 0; s < n!; s += 1)
    for (let r = 0; r < h!; r += 1)
      for (let q = 0; q < w!; q += 1)
        for (let ch = 0; ch < c!; ch += 1) {
          const i = Math.floor(r / ph);
          const a = r % ph;
          const j = Math.floor(q / pw);
          const b = q % pw;
          const outChannel = ch * ph * pw + a * pw + b;
          out[((s * ho + i) * wo + j) * cOut + outChannel] = x[((s * h! + r) * w! + q) * c! + ch]!;
        }
  return out;
}

function norm(values: number[]): number {
  return Math.sqrt(values.reduce((acc, v) => acc + v * v, 0));
}

describe('validation', () => {
  const cases: Array<[string, () => unknown, string, string]> = [
    ['down poolSize missing', () => invertibleDownSampling({} as { poolSize: number }), 'poolSize', 'undefined'],
    ['down poolSize 0', () => invertibleDownSampling({ poolSize: 0 }), 'poolSize', '0'],
    ['down poolSize [2]', () => invertibleDownSampling({ poolSize: [2] as unknown as number }), 'poolSize', '[2]'],
    ['down poolSize [2, 1.5]', () => invertibleDownSampling({ poolSize: [2, 1.5] }), 'poolSize', '[2,1.5]'],
    ['down dataFormat', () => invertibleDownSampling({ poolSize: 2, dataFormat: 'NCHW' as 'channelsFirst' }), 'dataFormat', "'NCHW'"],
    ['down kCoefLip', () => invertibleDownSampling({ poolSize: 2, kCoefLip: 0 }), 'kCoefLip', '0'],
    ['up poolSize -2', () => invertibleUpSampling({ poolSize: -2 }), 'poolSize', '-2'],
    ['up kCoefLip NaN', () => invertibleUpSampling({ poolSize: 2, kCoefLip: NaN }), 'kCoefLip', 'NaN'],
    [
      'down pool not dividing the input (build)',
      () => invertibleDownSampling({ poolSize: [2, 3] }).apply(tfl.input({ shape: [4, 4, 1] })),
      'poolSize',
      '[2,3]',
    ],
    [
      'up pool area not dividing the channels (build)',
      () => invertibleUpSampling({ poolSize: 2 }).apply(tfl.input({ shape: [2, 2, 6] })),
      'poolSize',
      '[2,2]',
    ],
  ];
  it.each(cases)('%s', (_label, make, argument, value) => {
    expectConfigError(make, argument, value);
  });

  it('contracts and defaults', () => {
    const down = invertibleDownSampling({ poolSize: 2 });
    expect(down.poolSize).toEqual([2, 2]);
    expect(down.dataFormat).toBe('channelsLast');
    expect(down.kCoefLip).toBe(1);
    expect(down.correctiveCoefficient()).toBe(1);
    expect(down.lipschitzBound()).toBe(1);
    expect(isLipschitzLayer(down)).toBe(true);
    expect(isCondensable(down)).toBe(true);
  });
});

describe('space-to-depth and its inverse', () => {
  const cases: Array<[number[], [number, number]]> = [
    [[2, 4, 6, 3], [2, 2]],
    [[1, 6, 4, 2], [3, 2]],
    [[2, 3, 8, 1], [1, 4]],
  ];
  it.each(cases)('input %j pool %j: matches the JS oracle, preserves norms, inverts exactly', (shape, pool) => {
    const size = shape.reduce((p, d) => p * d, 1);
    const values = randomNormal(size, 7 + pool[0] * 3 + pool[1]);
    const x = tf.tensor(values, shape);
    const down = invertibleDownSampling({ poolSize: pool });
    const up = invertibleUpSampling({ poolSize: pool });
    const y = applyLayer(down, x);
    expect(y.shape).toEqual([shape[0], shape[1]! / pool[0], shape[2]! / pool[1], shape[3]! * pool[0] * pool[1]]);
    const yValues = flat(y);
    // Exact: a permutation of float32 values.
    expect(yValues).toEqual(jsSpaceToDepth(flat(x), shape, pool));
    // Norm of every sample preserved (1e-5 relative).
    const per = size / shape[0]!;
    for (let s = 0; s < shape[0]!; s += 1) {
      const nx = norm(flat(x).slice(s * per, (s + 1) * per));
      const ny = norm(yValues.slice(s * per, (s + 1) * per));
      expect(Math.abs(ny - nx) / nx).toBeLessThan(1e-5);
    }
    const back = applyLayer(up, y);
    expect(back.shape).toEqual(shape);
    expect(flat(back)).toEqual(flat(x));
    // And the other composition: down(up(z)) = z.
    const z = tf.tensor(randomNormal(size, 99), y.shape);
    const again = applyLayer(down, applyLayer(up, z));
    expect(flat(again)).toEqual(flat(z));
    tf.dispose([x, y, back, z, again]);
  });

  it('channelsFirst equals the transposed channelsLast computation and inverts', () => {
    const x = tf.tensor(randomNormal(2 * 3 * 4 * 6, 5), [2, 3, 4, 6]); // NCHW
    const downFirst = invertibleDownSampling({ poolSize: [2, 3], dataFormat: 'channelsFirst' });
    const downLast = invertibleDownSampling({ poolSize: [2, 3] });
    const a = applyLayer(downFirst, x);
    const b = tf.transpose(applyLayer(downLast, tf.transpose(x, [0, 2, 3, 1])), [0, 3, 1, 2]);
    expect(a.shape).toEqual([2, 18, 2, 2]);
    expect(flat(a)).toEqual(flat(b));
    const back = applyLayer(invertibleUpSampling({ poolSize: [2, 3], dataFormat: 'channelsFirst' }), a);
    expect(flat(back)).toEqual(flat(x));
    tf.dispose([x, a, b, back]);
  });

  it('kCoefLip scales every norm by exactly kCoefLip', () => {
    const x = tf.tensor(randomNormal(64, 8), [2, 4, 4, 2]);
    const y = flat(applyLayer(invertibleDownSampling({ poolSize: 2, kCoefLip: 0.75 }), x));
    const xv = flat(x);
    for (let s = 0; s < 2; s += 1) {
      const ratio = norm(y.slice(s * 32, (s + 1) * 32)) / norm(xv.slice(s * 32, (s + 1) * 32));
      expect(Math.abs(ratio - 0.75)).toBeLessThan(1e-6);
    }
    x.dispose();
  });
});

describe('Lipschitz bounds', () => {
  const makers: Array<[string, () => tfl.layers.Layer & { lipschitzBound(): number }, number[]]> = [
    ['down [2,2] k=1', () => invertibleDownSampling({ poolSize: 2 }), [4, 4, 2]],
    ['up [2,1] k=1.5', () => invertibleUpSampling({ poolSize: [2, 1], kCoefLip: 1.5 }), [2, 3, 4]],
  ];
  it.each(makers)('%s: impulse response is k x permutation, ascent ratio <= k (1 + 1e-4)', (_label, make, shape) => {
    const layer = make();
    const k = layer.lipschitzBound();
    const matrix = impulseResponseMatrix((x) => applyLayer(layer, x), shape);
    // Each row and column has exactly one non-zero entry, equal to k.
    matrix.forEach((row) => expect(row.filter((v) => v !== 0)).toEqual([Math.fround(k)]));
    const sv = singularValues(matrix);
    expect(Math.abs((sv[0] as number) - k)).toBeLessThan(1e-6);
    sv.forEach((s) => expect(Math.abs(s - k)).toBeLessThan(1e-6));
    const ratio = lipschitzRatioAscent((x) => applyLayer(layer, x), shape, { pairs: 8, steps: 20 });
    expect(ratio).toBeLessThanOrEqual(k * (1 + 1e-4));
    expect(ratio).toBeGreaterThan(k * (1 - 1e-4));
  });
});

describe('vanilla export, serialization, training', () => {
  const cases: Array<[string, () => tfl.layers.Layer & { vanillaExport(i: tfl.SymbolicTensor): tfl.SymbolicTensor }, number[]]> = [
    ['down [2,3]', () => invertibleDownSampling({ poolSize: [2, 3] }), [4, 6, 2]],
    ['down channelsFirst k=2', () => invertibleDownSampling({ poolSize: 2, dataFormat: 'channelsFirst', kCoefLip: 2 }), [3, 4, 4]],
    ['up [3,2]', () => invertibleUpSampling({ poolSize: [3, 2] }), [2, 3, 12]],
    ['up channelsFirst', () => invertibleUpSampling({ poolSize: 2, dataFormat: 'channelsFirst' }), [8, 2, 3]],
  ];
  it.each(cases)('%s: exported reshape/permute chain predicts exactly the same', (_label, make, shape) => {
    const layer = make();
    const size = shape.reduce((p, d) => p * d, 1);
    const x = tf.tensor(randomNormal(2 * size, 13), [2, ...shape]);
    const { original, exported, classNames } = exportPair(layer, shape, x);
    expect(exported).toEqual(original);
    classNames.forEach((name) => expect(BUILT_IN_LAYER_CLASSES.has(name)).toBe(true));
    x.dispose();
  });

  it('getConfig round trip and model save/load', async () => {
    for (const [className, layer] of [
      ['InvertibleDownSampling', invertibleDownSampling({ poolSize: [2, 1], kCoefLip: 1.5, name: 'down1' })],
      ['InvertibleUpSampling', invertibleUpSampling({ poolSize: [1, 2], dataFormat: 'channelsLast', name: 'up1' })],
    ] as const) {
      const config = layer.getConfig();
      const [cls, fromConfig] = tf.serialization.SerializationMap.getMap().classNameMap[className]!;
      const copy = fromConfig(cls, config) as tfl.layers.Layer;
      expect(copy.getConfig()).toEqual(config);
      const input = tfl.input({ shape: [4, 4, 2] });
      const model = tfl.model({ inputs: input, outputs: layer.apply(input) as tfl.SymbolicTensor });
      const loaded = await saveLoad(model);
      expect(loaded.layers[1]!.getClassName()).toBe(className);
      const x = tf.tensor(randomNormal(64, 17), [2, 4, 4, 2]);
      const a = model.predict(x) as tf.Tensor;
      const b = loaded.predict(x) as tf.Tensor;
      expect(flat(b)).toEqual(flat(a));
      tf.dispose([x, a, b]);
      model.dispose();
      loaded.dispose();
    }
  });

  it('a model with down and up sampling trains with fit', async () => {
    const input = tfl.input({ shape: [4, 4, 2] });
    let y = invertibleDownSampling({ poolSize: 2 }).apply(input) as tfl.SymbolicTensor; // 2x2x8
    y = tfl.layers.conv2d({ filters: 8, kernelSize: 1 }).apply(y) as tfl.SymbolicTensor;
    y = invertibleUpSampling({ poolSize: 2 }).apply(y) as tfl.SymbolicTensor; // 4x4x2
    const model = tfl.model({ inputs: input, outputs: y });
    model.compile({ optimizer: tf.train.adam(0.05), loss: 'meanSquaredError' });
    const x = tf.tensor(randomNormal(16 * 32, 19), [16, 4, 4, 2]);
    const target = tf.mul(x, -2); // learnable: 1x1 conv after space-to-depth can scale each entry
    const history = await model.fit(x, target, { epochs: 30, batchSize: 8, verbose: 0, shuffle: false });
    const losses = history.history.loss as number[];
    losses.forEach((l) => expect(Number.isFinite(l)).toBe(true));
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! * 0.2);
    tf.dispose([x, target]);
    model.dispose();
  });

  it('does not leak tensors', () => {
    const down = invertibleDownSampling({ poolSize: 2, kCoefLip: 2 });
    const x = tf.ones([1, 4, 4, 1]);
    applyLayer(down, x).dispose();
    const before = tf.memory().numTensors;
    const y = applyLayer(down, x);
    const g = tf.grad((t: tf.Tensor) => tf.sum(applyLayer(down, t)))(x);
    expect(flat(g).every((v) => v === 2)).toBe(true);
    tf.dispose([y, g]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});
