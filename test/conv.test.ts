/**
 * Lipschitz convolutions after training: the exported built-in convolution's full matrix (impulse
 * response, bias off) has sigma_max <= kCoefLip in float64; export and save/load predict the same.
 *
 * `CONV_TIGHTNESS_OUT=/path/table.md npx jest test/conv.test.ts` also writes the tightness table
 * (sigma_max / kCoefLip per configuration) reproduced in docs/convolutions.md.
 */
import * as fs from 'fs';

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import {
  FrobeniusConv2D,
  frobeniusConv2d,
  SpectralConv2D,
  spectralConv2d,
  SpectralConv2DTranspose,
  spectralConv2dTranspose,
} from '../src/layers/convolutional';
import { isCondensable, isLipschitzLayer } from '../src/core/contracts';
import { computeConvLipFactor, computeConvTransposeLipFactor, spectralNormalizationConv } from '../src/normalizers/conv';
import { fastOpNorm } from './helpers/conv';
import { impulseResponseMatrix } from './helpers/oracles';

type Kind = 'SpectralConv2D' | 'FrobeniusConv2D' | 'SpectralConv2DTranspose';
type Padding = 'same' | 'valid';
type ConvLayer = SpectralConv2D | FrobeniusConv2D | SpectralConv2DTranspose;

interface Config {
  kind: Kind;
  k: number;
  s: number;
  padding: Padding;
  h: number;
  w: number;
  cin: number;
  filters: number;
  kCoefLip: number;
}

function makeLayer(c: Config, extra: Record<string, unknown> = {}): ConvLayer {
  const args = {
    filters: c.filters,
    kernelSize: c.k,
    strides: c.s,
    padding: c.padding,
    kCoefLip: c.kCoefLip,
    inputShape: [c.h, c.w, c.cin],
    kernelInitializer: tfl.initializers.glorotUniform({ seed: 7 * c.k + 3 * c.s + c.cin + c.filters }),
    ...extra,
  };
  if (c.kind === 'SpectralConv2D') return spectralConv2d(args);
  if (c.kind === 'FrobeniusConv2D') return frobeniusConv2d(args);
  return spectralConv2dTranspose(args);
}

/** Trains `layer` (followed by flatten) a few steps on random data; returns the model. */
async function trainFew(layer: ConvLayer, c: Config, seed: number): Promise<tfl.Sequential> {
  const model = tfl.sequential({ layers: [layer, tfl.layers.flatten()] });
  model.compile({ optimizer: tf.train.adam(0.05), loss: 'meanSquaredError' });
  const outSize = model.outputs[0]!.shape[1] as number;
  const x = tf.randomNormal([8, c.h, c.w, c.cin], 0, 1, 'float32', seed);
  const y = tf.randomNormal([8, outSize], 0, 1, 'float32', seed + 1);
  await model.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0, shuffle: false });
  tf.dispose([x, y]);
  return model;
}

/** Exports `layer` on a fresh input; returns the exported model and its built-in conv layer. */
function exportLayer(layer: ConvLayer, c: Config): { model: tfl.LayersModel; builtin: tfl.layers.Layer } {
  const input = tfl.input({ shape: [c.h, c.w, c.cin] });
  const output = layer.vanillaExport(input);
  const model = tfl.model({ inputs: input, outputs: output });
  const builtin = model.layers[1]!;
  return { model, builtin };
}

/** Full matrix of the exported convolution without bias and activation. */
function exportedMatrix(builtin: tfl.layers.Layer, c: Config): number[][] {
  const config = { ...builtin.getConfig(), useBias: false, activation: 'linear' } as Record<string, unknown>;
  delete config['name'];
  const linear =
    builtin.getClassName() === 'Conv2D'
      ? tfl.layers.conv2d(config as unknown as Parameters<typeof tfl.layers.conv2d>[0])
      : tfl.layers.conv2dTranspose(config as unknown as Parameters<typeof tfl.layers.conv2dTranspose>[0]);
  linear.build([null, c.h, c.w, c.cin]);
  linear.setWeights([builtin.getWeights()[0]!]);
  const matrix = impulseResponseMatrix((x) => linear.apply(x) as tf.Tensor, [c.h, c.w, c.cin]);
  return matrix;
}

// Inputs 6x6..10x10 with 1..4 channels (transposed: outputs of that size), kernels 1, 3, 5,
// strides 1, 2, paddings same/valid, for each layer.
const SIZES: [number, number][] = [
  [6, 4],
  [7, 3],
  [8, 2],
  [10, 1],
  [9, 2],
  [6, 3],
];
const CONFIGS: Config[] = [];
for (const kind of ['SpectralConv2D', 'FrobeniusConv2D', 'SpectralConv2DTranspose'] as Kind[]) {
  for (const k of [1, 3, 5]) {
    for (const s of [1, 2]) {
      for (const padding of ['same', 'valid'] as Padding[]) {
        const i = CONFIGS.length;
        let [h, cin] = SIZES[i % SIZES.length]!;
        if (kind === 'SpectralConv2DTranspose') h = s === 2 ? 3 + (i % 3) : 5 + (i % 3);
        const w = h - (i % 2);
        const filters = kind === 'FrobeniusConv2D' && i % 3 === 0 ? 1 : 1 + ((i * 3) % 4);
        CONFIGS.push({ kind, k, s, padding, h, w, cin, filters, kCoefLip: i % 4 === 1 ? 2 : 1 });
      }
    }
  }
}

const tightness: string[] = [];

describe.each(CONFIGS.map((c) => [`${c.kind} k=${c.k} s=${c.s} ${c.padding} in=${c.h}x${c.w}x${c.cin} filters=${c.filters} K=${c.kCoefLip}`, c]))(
  '%s',
  (_label, c) => {
    it('after training, the exported operator has sigma_max <= kCoefLip (float64 impulse response)', async () => {
      const layer = makeLayer(c as Config);
      const config = c as Config;
      const model = await trainFew(layer, config, 11 + CONFIGS.indexOf(config));
      const { model: exported, builtin } = exportLayer(layer, config);
      expect(builtin.getClassName()).toBe(config.kind === 'SpectralConv2DTranspose' ? 'Conv2DTranspose' : 'Conv2D');
      expect(builtin.name).toBe(layer.name);
      const matrix = exportedMatrix(builtin, config);
      const sigma = fastOpNorm(matrix);
      expect(sigma).toBeLessThanOrEqual(config.kCoefLip * (1 + 1e-3));
      expect(sigma).toBeGreaterThan(0.05 * config.kCoefLip); // not vacuous
      // The layer's certified bound covers the true operator norm and stays near kCoefLip.
      expect(sigma).toBeLessThanOrEqual(layer.lipschitzBound() * (1 + 1e-6));
      expect(layer.lipschitzBound()).toBeLessThanOrEqual(config.kCoefLip * (1 + 1e-3));
      const ratio = sigma / config.kCoefLip;
      tightness.push(
        `| ${config.kind} | ${config.k} | ${config.s} | ${config.padding} | ${config.h}x${config.w}x${config.cin} | ${config.filters} | ${config.kCoefLip} | ${layer.correctiveCoefficient().toFixed(4)} | ${ratio.toFixed(4)} |`,
      );
      // The exported model computes what the layer computes in inference.
      const x = tf.randomNormal([3, config.h, config.w, config.cin], 0, 1, 'float32', 5);
      const a = tf.reshape(model.predict(x) as tf.Tensor, [3, -1]);
      const b = tf.reshape(exported.predict(x) as tf.Tensor, [3, -1]);
      expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeLessThan(1e-5);
      tf.dispose([x, a, b]);
      model.dispose();
    });
  },
);

afterAll(() => {
  const out = process.env.CONV_TIGHTNESS_OUT;
  if (out) {
    const header = [
      '| layer | kernel | stride | padding | input HxWxC | filters | kCoefLip | factor | sigma_max / kCoefLip |',
      '|---|---|---|---|---|---|---|---|---|',
    ];
    fs.writeFileSync(out, [...header, ...tightness].join('\n') + '\n');
  }
});

describe('contracts', () => {
  it('LipschitzLayer / Condensable tags, factor and bound', () => {
    const layer = spectralConv2d({ filters: 2, kernelSize: 3, strides: 2, kCoefLip: 0.5, inputShape: [8, 8, 1] });
    tfl.sequential({ layers: [layer] });
    expect(isLipschitzLayer(layer)).toBe(true);
    expect(isCondensable(layer)).toBe(true);
    expect(layer.correctiveCoefficient()).toBe(computeConvLipFactor({ kernelSize: 3, strides: 2, inputShape: [8, 8] }));
    // Certified from W-bar: within Björck's tolerance of kCoefLip.
    expect(Math.abs(layer.lipschitzBound() - 0.5)).toBeLessThan(0.5 * 1e-3);
    const t = spectralConv2dTranspose({ filters: 2, kernelSize: 3, strides: 2, inputShape: [4, 4, 1] });
    tfl.sequential({ layers: [t] });
    expect(t.correctiveCoefficient()).toBe(computeConvTransposeLipFactor({ kernelSize: 3, strides: 2, inputShape: [4, 4] }));
    expect(t.computeOutputShape([null, 4, 4, 1])).toEqual([null, 8, 8, 2]);
  });

  it('predict uses the cached W-bar and leaks no tensor', () => {
    const layer = spectralConv2d({ filters: 2, kernelSize: 3, inputShape: [6, 6, 2] });
    const model = tfl.sequential({ layers: [layer] });
    const x = tf.randomNormal([2, 6, 6, 2]);
    tf.dispose(model.predict(x) as tf.Tensor);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.dispose(model.predict(x) as tf.Tensor);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it.each(['SpectralConv2D', 'FrobeniusConv2D', 'SpectralConv2DTranspose'] as Kind[])('%s: fit leaks no tensor', async (kind) => {
    const c: Config = { kind, k: 3, s: 1, padding: 'same', h: 5, w: 5, cin: 2, filters: 2, kCoefLip: 1 };
    const model = tfl.sequential({ layers: [makeLayer(c), tfl.layers.flatten()] });
    model.compile({ optimizer: tf.train.sgd(0.01), loss: 'meanSquaredError' });
    const x = tf.randomNormal([4, 5, 5, 2]);
    const y = tf.randomNormal([4, model.outputs[0]!.shape[1] as number]);
    await model.fit(x, y, { epochs: 1, verbose: 0 });
    const before = tf.memory().numTensors;
    await model.fit(x, y, { epochs: 3, verbose: 0 });
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('training changes the kernel and the cached W-bar follows (normalization on every step)', async () => {
    const c: Config = { kind: 'SpectralConv2D', k: 3, s: 1, padding: 'same', h: 6, w: 6, cin: 2, filters: 3, kCoefLip: 1 };
    const layer = makeLayer(c);
    const before = layer.getWeights().map((w) => w.arraySync());
    const model = await trainFew(layer, c, 3);
    const after = layer.getWeights();
    const kernelIndex = layer.weights.findIndex((w) => w.name.endsWith('kernel'));
    expect(after[kernelIndex]!.arraySync()).not.toEqual(before[kernelIndex]);
    // sigma of the operator of the cached W-bar by power iteration agrees with the float64 oracle.
    const wBar = after[layer.weights.findIndex((w) => w.name.endsWith('w_bar'))] as tf.Tensor4D;
    const { sigma, u } = spectralNormalizationConv(wBar, null, { inputShape: [6, 6], maxIter: 500, eps: 1e-7 });
    const { builtin } = exportLayer(layer, c);
    const exact = fastOpNorm(exportedMatrix(builtin, c));
    expect(Math.abs(sigma.dataSync()[0]! - exact) / exact).toBeLessThan(1e-3);
    tf.dispose([sigma, u]);
    model.dispose();
  });

  it('condense writes W-bar into the kernel; a second condense changes nothing', async () => {
    const c: Config = { kind: 'FrobeniusConv2D', k: 3, s: 1, padding: 'same', h: 6, w: 6, cin: 1, filters: 2, kCoefLip: 1 };
    const layer = makeLayer(c);
    const model = await trainFew(layer, c, 8);
    const x = tf.randomNormal([2, 6, 6, 1], 0, 1, 'float32', 2);
    const kernelIndex = layer.weights.findIndex((w) => w.name.endsWith('kernel'));
    const wBarIndex = layer.weights.findIndex((w) => w.name.endsWith('w_bar'));
    layer.condense();
    const weights = layer.getWeights();
    // The kernel now holds W-bar = kernel / ||kernel||_F * factor (computed from the trained kernel).
    expect(tf.max(tf.abs(tf.sub(weights[kernelIndex]!, weights[wBarIndex]!))).dataSync()[0]).toBeLessThan(1e-6);
    expect(tf.norm(weights[kernelIndex]!).dataSync()[0]).toBeCloseTo(layer.correctiveCoefficient(), 5);
    const y1 = model.predict(x) as tf.Tensor;
    layer.condense();
    const y2 = model.predict(x) as tf.Tensor;
    expect(tf.max(tf.abs(tf.sub(y1, y2))).dataSync()[0]).toBeLessThan(1e-6);
    tf.dispose([x, y1, y2]);
    model.dispose();
  });

  it('refuses inputs smaller than the build size when the factor would not cover them', () => {
    // 'valid' k=3, built for 8x8 (coverage 3): on 4x4 coverage is 2, fine; 'same' k=3 s=2 built on
    // 2x2 (coverage 1, factor 1) then called on 8x8 (coverage 2) must throw.
    const layer = spectralConv2d({ filters: 1, kernelSize: 3, strides: 2, inputShape: [2, 2, 1] });
    tfl.sequential({ layers: [layer] });
    expect(layer.correctiveCoefficient()).toBe(1);
    expect(() => layer.apply(tf.zeros([1, 8, 8, 1]))).toThrow(/need a smaller factor/);
    const ok = spectralConv2d({ filters: 1, kernelSize: 3, padding: 'valid', inputShape: [8, 8, 1] });
    tfl.sequential({ layers: [ok] });
    tf.dispose(ok.apply(tf.zeros([1, 4, 4, 1])) as tf.Tensor);
  });
});

describe('serialization', () => {
  it.each(['SpectralConv2D', 'FrobeniusConv2D', 'SpectralConv2DTranspose'] as Kind[])(
    '%s: getConfig round-trips and save/load predicts the same',
    async (kind) => {
      const c: Config = { kind, k: 3, s: 2, padding: 'same', h: 6, w: 6, cin: 2, filters: 3, kCoefLip: 1.5 };
      const extra: Record<string, unknown> = { activation: 'relu', kernelRegularizer: 'l2', biasInitializer: 'ones' };
      if (kind !== 'FrobeniusConv2D') Object.assign(extra, { epsBjorck: null, maxIterSpectral: 7, betaBjorck: 0.4 });
      const layer = makeLayer(c, extra);
      const model = await trainFew(layer, c, 21);
      const config = layer.getConfig();
      const cls = layer.constructor as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>;
      const clone = tf.serialization.SerializationMap.getMap().classNameMap[kind]![1](cls, config) as tfl.layers.Layer;
      expect(clone.getConfig()).toEqual(config);
      expect(config['kCoefLip']).toBe(1.5);

      let saved: tf.io.ModelArtifacts | undefined;
      await model.save(
        tf.io.withSaveHandler(async (artifacts) => {
          saved = artifacts;
          return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
        }),
      );
      const loaded = await tfl.loadLayersModel(tf.io.fromMemory(saved!));
      expect(loaded.layers[0]!.getClassName()).toBe(kind);
      const x = tf.randomNormal([3, 6, 6, 2], 0, 1, 'float32', 4);
      const a = model.predict(x) as tf.Tensor;
      const b = loaded.predict(x) as tf.Tensor;
      expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeLessThan(1e-5);
      // The exported built-in convolution predicts the same, and is independent of the layer.
      const { model: exported } = exportLayer(layer, c);
      const e = exported.predict(x) as tf.Tensor;
      expect(tf.max(tf.abs(tf.sub(tf.reshape(a, [3, -1]), tf.reshape(e, [3, -1])))).dataSync()[0]).toBeLessThan(1e-5);
      await model.fit(tf.randomNormal([4, 6, 6, 2]), tf.randomNormal([4, model.outputs[0]!.shape[1] as number]), {
        epochs: 1,
        verbose: 0,
      });
      const e2 = exported.predict(x) as tf.Tensor;
      expect(tf.max(tf.abs(tf.sub(e, e2))).dataSync()[0]).toBe(0);
      tf.dispose([x, a, b, e, e2]);
    },
  );
});
