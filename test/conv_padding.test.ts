/**
 * Explicit paddings ('constant', 'circular', 'reflect', 'symmetric') of spectralConv2d /
 * frobeniusConv2d, and the 1-D convolutions: the certified factor against the float64 singular
 * values of the full matrix (impulse response), tight where claimed; predictions against a
 * plain-JS float64 padded convolution; exact export or the named error; config and save/load
 * round trips; bad inputs; no tensor leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { groupSort2 } from '../src/activations';
import { LipschitzConfigError } from '../src/core/errors';
import { vanillaExport } from '../src/export/vanilla';
import { frobeniusConv1d, SpectralConv1D, spectralConv1d } from '../src/layers/conv1d';
import { frobeniusConv2d, SpectralConv2D, spectralConv2d, spectralConv2dTranspose } from '../src/layers/convolutional';
import { explicitCoverage, padExplicit, paddedConvLipFactor } from '../src/layers/padding';
import { fastOpNorm, identityKernel } from './helpers/conv';
import { impulseResponseMatrix } from './helpers/oracles';
import { referencePadIndices, referencePaddedConv2d, type Mode } from './helpers/padded_conv';
import { thrownConfigError } from './helpers/thrown';

const MODES: Mode[] = ['constant', 'circular', 'reflect', 'symmetric'];
type AnyLayer = tfl.layers.Layer;

/** sigma_max (float64) of a layer's linear part on inputs of `shape` (the layer must have no bias). */
function layerNorm(layer: AnyLayer, shape: number[]): number {
  return fastOpNorm(impulseResponseMatrix((x) => layer.apply(x) as tf.Tensor, shape));
}

/** sigma_max of `x -> conv2d(pad(x), kernel * factor)`. */
function paddedConvNorm(kernel: tf.Tensor4D, shape: [number, number, number], strides: [number, number], mode: Mode, factor: number): number {
  const k = [kernel.shape[0], kernel.shape[1]];
  const scaled = tf.mul(kernel, factor) as tf.Tensor4D;
  const m = impulseResponseMatrix((x) => tf.conv2d(padExplicit(x, [1, 2], k, mode) as tf.Tensor4D, scaled, strides, 'valid'), shape);
  scaled.dispose();
  return fastOpNorm(m);
}

describe('padding index map', () => {
  it.each(MODES)('%s matches the reference concatenation for every length and width', (mode) => {
    for (const k of [1, 2, 3, 4, 5]) {
      for (let n = 1; n <= 7; n++) {
        const p = Math.floor(k / 2);
        if ((mode === 'reflect' && p > n - 1) || ((mode === 'circular' || mode === 'symmetric') && p > n)) continue;
        const x = tf.range(1, n + 1, 1, 'float32');
        const padded = padExplicit(x, [0], [k], mode);
        const want = referencePadIndices(n, p, mode).map((i) => (i < 0 ? 0 : i + 1));
        expect(Array.from(padded.dataSync())).toEqual(want);
        tf.dispose([x, padded]);
      }
    }
  });
});

describe('certified factor per padding mode (identity kernel: W W^T = I, so the bound is reached)', () => {
  const cases: [Mode, number, number, number, number][] = [];
  for (const mode of MODES) {
    for (const [kh, kw] of [[3, 3], [2, 3], [5, 1]]) for (const s of [1, 2]) cases.push([mode, kh!, kw!, s, 5 + (s % 2)]);
  }
  it.each(cases)('%s kernel %ix%i stride %i on %ix5: sigma_max = 1 (tight)', (mode, kh, kw, s, h) => {
    const kernel = identityKernel(kh, kw, 1);
    const factor = paddedConvLipFactor({ kernelSize: [kh, kw], strides: [s, s], padding: mode, spatial: [h, 5] });
    expect(paddedConvNorm(kernel, [h, 5, 1], [s, s], mode, factor)).toBeCloseTo(1, 6);
    kernel.dispose();
  });

  it('stride 1, odd kernels, large inputs: circular, symmetric and constant cover k windows, reflect k + 1', () => {
    for (const k of [3, 5, 7]) {
      expect(explicitCoverage(20, k, 1, 'circular')).toBe(k);
      expect(explicitCoverage(20, k, 1, 'symmetric')).toBe(k);
      expect(explicitCoverage(20, k, 1, 'constant')).toBe(k);
      expect(explicitCoverage(20, k, 1, 'reflect')).toBe(k + 1);
    }
    expect(paddedConvLipFactor({ kernelSize: [3, 3], strides: [1, 1], padding: 'reflect', spatial: [8, 8] })).toBeCloseTo(1 / 4, 12);
    expect(paddedConvLipFactor({ kernelSize: [3, 3], strides: [1, 1], padding: 'circular', spatial: [8, 8] })).toBeCloseTo(1 / 3, 12);
  });

  it("DEEL-LIP / torchlip's factor 1/sqrt(kh kw) is not a bound for 'reflect' (norm 4/3 on 8x8)", () => {
    const kernel = identityKernel(3, 3, 1);
    expect(paddedConvNorm(kernel, [8, 8, 1], [1, 1], 'reflect', 1 / 3)).toBeCloseTo(4 / 3, 6);
    kernel.dispose();
  });

  it('an unknown size gets the largest count over every size (>= every known one)', () => {
    for (const mode of MODES) {
      for (const k of [2, 3, 4]) {
        for (const s of [1, 2]) {
          const any = explicitCoverage(null, k, s, mode);
          for (let n = 3; n <= 40; n++) expect(explicitCoverage(n, k, s, mode)).toBeLessThanOrEqual(any);
        }
      }
    }
  });
});

describe('layers: sigma_max of the full matrix <= kCoefLip, tight with orthonormal rows', () => {
  const cases: [Mode, 'spectral' | 'frobenius', number, number, number][] = [];
  for (const mode of MODES) {
    cases.push([mode, 'spectral', 9, 1, 1], [mode, 'spectral', 3, 2, 2], [mode, 'frobenius', 1, 1, 1], [mode, 'frobenius', 2, 2, 1]);
  }
  it.each(cases)('%s %s filters=%i stride=%i kCoefLip=%i', (mode, kind, filters, s, kCoefLip) => {
    const args = { filters, kernelSize: 3, strides: s, padding: mode, useBias: false, kCoefLip, inputShape: [5, 6, 1] };
    const init = { kernelInitializer: tfl.initializers.glorotUniform({ seed: filters + s }) };
    const layer = kind === 'spectral' ? spectralConv2d({ ...args, ...init }) : frobeniusConv2d({ ...args, ...init });
    layer.build([null, 5, 6, 1]);
    const sigma = layerNorm(layer, [5, 6, 1]);
    expect(sigma / kCoefLip).toBeLessThanOrEqual(1 + 1e-4);
    // Tight when W W^T = I: 9 filters for a 3x3x1 kernel, orthonormalized by Björck.
    if (filters === 9) expect(sigma / kCoefLip).toBeGreaterThan(0.999);
    // The layer's own certificate covers the measured norm and stays within kCoefLip.
    expect(layer.lipschitzBound()).toBeGreaterThanOrEqual(sigma * (1 - 1e-4));
    expect(layer.lipschitzBound()).toBeLessThanOrEqual(kCoefLip * (1 + 1e-4));
    tf.disposeVariables();
  });
});

/** W-bar, the kernel the layer predicts with (float64 nested arrays). */
function wBarOf<T>(layer: AnyLayer): T {
  return (layer as unknown as { kernelState: { vars: { wBar: tfl.LayerVariable } } }).kernelState.vars.wBar.read().arraySync() as T;
}

/** Uniform random tensor of `shape` in [-1, 1). */
function randomInput(shape: number[], seed: number): tf.Tensor {
  return tf.randomUniform(shape, -1, 1, 'float32', seed);
}

describe('predictions match a float64 reference convolution with the same padding', () => {
  it.each(MODES)('%s: SpectralConv2D kernel [3,2], strides [1,2], bias, relu', (mode) => {
    const layer = spectralConv2d({ filters: 3, kernelSize: [3, 2], strides: [1, 2], padding: mode, activation: 'relu', biasInitializer: 'ones', inputShape: [5, 6, 2] });
    const model = tfl.sequential({ layers: [layer] });
    const x = randomInput([2, 5, 6, 2], 3);
    const y = model.predict(x) as tf.Tensor;
    const wBar = wBarOf<number[][][][]>(layer);
    const bias = layer.bias!.read().arraySync() as number[];
    const xs = x.arraySync() as number[][][][];
    const got = y.arraySync() as number[][][][];
    xs.forEach((image, b) => {
      const want = referencePaddedConv2d(image, wBar, [1, 2], mode).map((row) => row.map((cell) => cell.map((v, o) => Math.max(0, v + bias[o]!))));
      expect(got[b]!.length).toBe(want.length);
      want.forEach((row, i) => row.forEach((cell, j) => cell.forEach((v, o) => expect(got[b]![i]![j]![o]).toBeCloseTo(v, 4))));
    });
    tf.dispose([x, y]);
    model.dispose();
  });
});

/** Trains a model one short epoch on random targets (the gradient flows through the padding). */
async function trainOnce(model: tfl.LayersModel, inputShape: number[], seed: number): Promise<void> {
  model.compile({ optimizer: tf.train.adam(0.05), loss: 'meanSquaredError' });
  const x = randomInput([4, ...inputShape], seed);
  const y = randomInput([4, ...(model.outputs[0]!.shape.slice(1) as number[])], seed + 1);
  await model.fit(x, y, { epochs: 1, batchSize: 2, verbose: 0, shuffle: false });
  tf.dispose([x, y]);
}

function conv2dModel(mode: string): tfl.Sequential {
  return tfl.sequential({
    layers: [
      spectralConv2d({ name: 'c1', filters: 4, kernelSize: 3, padding: mode as Mode, inputShape: [6, 6, 2] }),
      groupSort2(),
      spectralConv2d({ name: 'c2', filters: 2, kernelSize: 2, strides: 2, padding: mode as Mode }),
    ],
  });
}

describe('vanillaExport', () => {
  it("'constant' exports to zeroPadding2d + 'valid' conv2d and predicts the same (channel maps folded through the padding)", async () => {
    const model = conv2dModel('constant');
    await trainOnce(model, [6, 6, 2], 11);
    const exported = vanillaExport(model);
    const classes = exported.layers.map((l) => l.getClassName());
    expect(classes.filter((c) => c === 'ZeroPadding2D')).toHaveLength(2);
    expect(classes.every((c) => ['InputLayer', 'ZeroPadding2D', 'Conv2D', 'PReLU'].includes(c))).toBe(true);
    const x = randomInput([3, 6, 6, 2], 5);
    const [a, b] = [model.predict(x) as tf.Tensor, exported.predict(x) as tf.Tensor];
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeLessThan(1e-5);
    tf.dispose([x, a, b]);
    model.dispose();
    exported.dispose();
  });

  it.each(['circular', 'reflect', 'symmetric'])("'%s' is refused with a LipschitzConfigError naming the layer and the padding", (mode) => {
    const model = conv2dModel(mode);
    const error = thrownConfigError(() => vanillaExport(model));
    expect(error.message).toMatch(new RegExp(`layer 'c1' \\(SpectralConv2D\\) uses padding '${mode}', which no tfjs built-in layer computes`));
    model.dispose();
  });
});

describe('1-D convolutions', () => {
  const modes = ['same', 'valid', ...MODES] as const;
  it.each(modes.flatMap((m) => [1, 2].map((s) => [m, s] as const)))('%s stride %i: sigma_max <= kCoefLip, tight with 6 filters', (mode, s) => {
    const layer = spectralConv1d({ filters: 6, kernelSize: 3, strides: s, padding: mode, useBias: false, inputShape: [7, 2] });
    layer.build([null, 7, 2]);
    const ratio = layerNorm(layer, [7, 2]);
    expect(ratio).toBeLessThanOrEqual(1 + 1e-4);
    expect(ratio).toBeGreaterThan(0.999);
    tf.disposeVariables();
  });

  it.each(MODES)('%s: predictions match the float64 reference; export exact or refused', async (mode) => {
    const layer = frobeniusConv1d({ name: 'c1d', filters: 3, kernelSize: 4, strides: 2, padding: mode, biasInitializer: 'ones', inputShape: [9, 2] });
    const model = tfl.sequential({ layers: [layer] });
    await trainOnce(model, [9, 2], 21);
    const x = randomInput([2, 9, 2], 4);
    const y = model.predict(x) as tf.Tensor;
    const wBar = wBarOf<number[][][]>(layer);
    const bias = layer.bias!.read().arraySync() as number[];
    const got = y.arraySync() as number[][][];
    (x.arraySync() as number[][][]).forEach((seq, b) => {
      const want = referencePaddedConv2d(seq.map((c) => [c]), wBar.map((t) => [t]), [2, 1], mode).map((row) => row[0]!.map((v, o) => v + bias[o]!));
      expect(got[b]!.length).toBe(want.length);
      want.forEach((cell, i) => cell.forEach((v, o) => expect(got[b]![i]![o]).toBeCloseTo(v, 4)));
    });
    if (mode === 'constant') {
      const exported = vanillaExport(model);
      const z = exported.predict(x) as tf.Tensor;
      expect(tf.max(tf.abs(tf.sub(z, y))).dataSync()[0]).toBeLessThan(1e-5);
      z.dispose();
      exported.dispose();
    } else {
      expect(thrownConfigError(() => vanillaExport(model)).message).toMatch(`layer 'c1d' (FrobeniusConv1D) uses padding '${mode}'`);
    }
    tf.dispose([x, y]);
    model.dispose();
  });

  it("'same' and 'valid' export to a built-in conv1d", () => {
    for (const padding of ['same', 'valid'] as const) {
      const model = tfl.sequential({ layers: [spectralConv1d({ filters: 2, kernelSize: 3, padding, inputShape: [8, 3] })] });
      const exported = vanillaExport(model);
      expect(exported.layers.map((l) => l.getClassName())).toEqual(['InputLayer', 'Conv1D']);
      const x = randomInput([2, 8, 3], 8);
      const [a, b] = [model.predict(x) as tf.Tensor, exported.predict(x) as tf.Tensor];
      expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeLessThan(1e-6);
      tf.dispose([x, a, b]);
      model.dispose();
      exported.dispose();
    }
  });
});

describe('serialization', () => {
  it('getConfig / fromConfig round-trips the padding of the 2-D and 1-D layers', () => {
    for (const mode of MODES) {
      const c2 = spectralConv2d({ filters: 2, kernelSize: 3, padding: mode });
      const again2 = SpectralConv2D.fromConfig(SpectralConv2D, c2.getConfig()) as SpectralConv2D;
      expect(again2.getConfig()).toEqual(c2.getConfig());
      expect(again2.getConfig()['padding']).toBe(mode);
      const c1 = spectralConv1d({ filters: 2, kernelSize: 3, padding: mode });
      const again1 = SpectralConv1D.fromConfig(SpectralConv1D, c1.getConfig()) as SpectralConv1D;
      expect(again1.getConfig()).toEqual(c1.getConfig());
      expect(again1.getConfig()['padding']).toBe(mode);
    }
  });

  it('save / load through model.json predicts the same', async () => {
    const model = tfl.sequential({
      layers: [
        spectralConv2d({ filters: 3, kernelSize: 3, padding: 'reflect', inputShape: [5, 5, 1] }),
        tfl.layers.reshape({ targetShape: [25, 3] }),
        frobeniusConv1d({ filters: 2, kernelSize: 2, padding: 'circular' }),
      ],
    });
    let artifacts: tf.io.ModelArtifacts | null = null;
    await model.save(tf.io.withSaveHandler(async (a) => ((artifacts = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts!));
    const x = randomInput([2, 5, 5, 1], 9);
    const [a, b] = [model.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor];
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeLessThan(1e-6);
    tf.dispose([x, a, b]);
    model.dispose();
    loaded.dispose();
  });
});

describe('bad inputs throw LipschitzConfigError naming the argument and the value', () => {
  const rows: [string, () => unknown, RegExp][] = [
    ['2-D padding', () => spectralConv2d({ filters: 1, kernelSize: 3, padding: 'wrap' as never }), /^padding expected one of 'same', 'valid', 'constant', 'circular', 'reflect', 'symmetric', but got 'wrap'\.$/],
    ['transposed', () => spectralConv2dTranspose({ filters: 1, kernelSize: 3, padding: 'circular' as never }), /^padding expected one of 'same', 'valid', but got 'circular'\.$/],
    ['1-D padding', () => frobeniusConv1d({ filters: 1, kernelSize: 3, padding: 'causal' as never }), /^padding expected one of .*, but got 'causal'\.$/],
    ['1-D kernelSize', () => spectralConv1d({ filters: 1, kernelSize: [3, 3] as never }), /^kernelSize expected a positive integer or an array of 1 positive integer, but got \[3,3\]\.$/],
    ['1-D strides', () => spectralConv1d({ filters: 1, kernelSize: 3, strides: 0 }), /^strides expected .*, but got 0\.$/],
    ['1-D dataFormat', () => spectralConv1d({ filters: 1, kernelSize: 3, dataFormat: 'channelsFirst' as never }), /^dataFormat expected 'channelsLast'.*, but got 'channelsFirst'\.$/],
    ['1-D dilationRate', () => spectralConv1d({ filters: 1, kernelSize: 3, dilationRate: 2 }), /^dilationRate expected 1 .*, but got 2\.$/],
    ['1-D unknown key', () => spectralConv1d({ filters: 1, kernelSize: 3, paddingMode: 'circular' } as never), /'paddingMode'/],
    ['1-D Frobenius option', () => frobeniusConv1d({ filters: 1, kernelSize: 3, epsBjorck: 1e-3 } as never), /^epsBjorck expected nothing/],
    ['reflect too small', () => spectralConv2d({ filters: 1, kernelSize: 5, padding: 'reflect', inputShape: [2, 6, 1] }).build([null, 2, 6, 1]), /^inputShape expected spatial sizes >= 3 for 'reflect' padding with kernelSize \[5,5\], but got \[2,6\]\.$/],
    ['1-D rank', () => spectralConv1d({ filters: 1, kernelSize: 3 }).build([null, 4, 4, 1]), /^inputShape expected a rank-3 \(batch, steps, channels\) shape/],
  ];
  it.each(rows)('%s', (_name, f, message) => {
    expect(thrownConfigError(f).message).toMatch(message);
    tf.disposeVariables();
  });

  it('a padded layer built for any size refuses an input too short for its padding', () => {
    const layer = spectralConv1d({ filters: 1, kernelSize: 5, padding: 'reflect' });
    layer.build([null, null, 3]);
    const x = tf.zeros([1, 2, 3]);
    expect(thrownConfigError(() => layer.apply(x)).message).toMatch(/^inputShape expected spatial sizes >= 3 for 'reflect' padding with kernelSize \[5\], but got \[1,2,3\]\.$/);
    x.dispose();
  });

  it('a padded layer built for one size refuses a size that needs a smaller factor', () => {
    const layer = spectralConv2d({ filters: 1, kernelSize: 3, padding: 'reflect', inputShape: [2, 2, 1] });
    tfl.sequential({ layers: [layer] });
    const x = tf.zeros([1, 6, 6, 1]);
    expect(() => layer.apply(x)).toThrow(LipschitzConfigError);
    x.dispose();
  });
});

describe('no tensor leaks', () => {
  const cases = MODES.flatMap((mode) => [
    [mode, '2-D', [4, 4, 1]],
    [mode, '1-D', [5, 2]],
  ]) as [Mode, string, number[]][];
  it.each(cases)('%s %s: predict, a training step and export leave no tensor behind', async (mode, rank, shape) => {
    const layer = rank === '2-D' ? spectralConv2d({ filters: 2, kernelSize: 3, padding: mode, inputShape: shape }) : spectralConv1d({ filters: 2, kernelSize: 3, padding: mode, inputShape: shape });
    const model = tfl.sequential({ layers: [layer] });
    const x = randomInput([2, ...shape], 1);
    await trainOnce(model, shape, 2);
    const before = tf.memory().numTensors;
    tf.dispose(model.predict(x) as tf.Tensor);
    const optimizer = tf.train.sgd(0.01);
    tf.dispose(optimizer.minimize(() => tf.mean(model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, true) ?? []);
    if (mode === 'constant') vanillaExport(model).dispose();
    optimizer.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    model.dispose();
  });
});
