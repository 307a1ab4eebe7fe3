/**
 * Every setting of the Lipschitz convolutions whose bound cannot be guaranteed (or that makes no
 * sense) throws `LipschitzConfigError` at construction, naming the argument and the value.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { LipschitzConfigError } from '../src/core/errors';
import { frobeniusConv2d, spectralConv2d, spectralConv2dTranspose } from '../src/layers/convolutional';

type Factory = (args: never) => tfl.layers.Layer;
const FACTORIES: [string, Factory][] = [
  ['SpectralConv2D', spectralConv2d as Factory],
  ['FrobeniusConv2D', frobeniusConv2d as Factory],
  ['SpectralConv2DTranspose', spectralConv2dTranspose as Factory],
];
const BASE = { filters: 2, kernelSize: 3 };

// [argument, bad value, expected message fragment]
const COMMON: [string, unknown, RegExp][] = [
  ['filters', 0, /^filters expected a positive integer, but got 0\.$/],
  ['filters', 2.5, /^filters expected a positive integer, but got 2\.5\.$/],
  ['filters', '3', /^filters expected a positive integer, but got '3'\.$/],
  ['kernelSize', 0, /^kernelSize expected .*, but got 0\.$/],
  ['kernelSize', [3], /^kernelSize expected .*, but got \[3\]\.$/],
  ['kernelSize', [3, 3, 3], /^kernelSize expected .*, but got \[3,3,3\]\.$/],
  ['kernelSize', [0, 3], /^kernelSize expected .*, but got \[0,3\]\.$/],
  ['strides', 0, /^strides expected .*, but got 0\.$/],
  ['strides', 1.5, /^strides expected .*, but got 1\.5\.$/],
  ['strides', [1, 2, 1], /^strides expected .*, but got \[1,2,1\]\.$/],
  ['padding', 'causal', /^padding expected one of 'same', 'valid'.*, but got 'causal'\.$/],
  ['padding', 'SAME', /^padding expected .*, but got 'SAME'\.$/],
  ['dataFormat', 'channelsFirst', /^dataFormat expected 'channelsLast'.*, but got 'channelsFirst'\.$/],
  ['dilationRate', 2, /^dilationRate expected 1 .*, but got 2\.$/],
  ['dilationRate', [1, 2], /^dilationRate expected 1 .*, but got \[1,2\]\.$/],
  ['activation', 'selu', /^activation expected a 1-Lipschitz activation .*, but got 'selu'\.$/],
  ['activation', 'swish', /^activation expected .*, but got 'swish'\.$/],
  ['activation', 'exponential', /^activation expected .*, but got 'exponential'\.$/],
  ['useBias', 'yes', /^useBias expected a boolean, but got 'yes'\.$/],
  ['kernelConstraint', 'nonNeg', /^kernelConstraint expected none .*, but got 'nonNeg'\.$/],
  ['kernelConstraint', tfl.constraints.maxNorm({ maxValue: 1 }), /^kernelConstraint expected none/],
  ['kCoefLip', 0, /^kCoefLip expected a finite number > 0, but got 0\.$/],
  ['kCoefLip', -1, /^kCoefLip expected .*, but got -1\.$/],
  ['kCoefLip', Infinity, /^kCoefLip expected .*, but got Infinity\.$/],
  ['kCoefLip', NaN, /^kCoefLip expected .*, but got NaN\.$/],
  ['kernelInitializer', 'noSuchInit', /^kernelInitializer expected an initializer: a tfjs identifier or a registered class name, but got 'noSuchInit'\.$/],
  ['kernelRegularizer', 'l3', /^kernelRegularizer expected a regularizer: a tfjs identifier or a registered class name, but got 'l3'\.$/],
];

const SPECTRAL_ONLY: [string, unknown, RegExp][] = [
  ['epsSpectral', 0, /^epsSpectral expected a finite number > 0, but got 0\.$/],
  ['epsBjorck', -1, /^epsBjorck expected a finite number > 0, but got -1\.$/],
  ['betaBjorck', 0.6, /^betaBjorck expected a number in \(0, 0\.5\], but got 0\.6\.$/],
  ['betaBjorck', 0, /^betaBjorck expected .*, but got 0\.$/],
  ['maxIterSpectral', 0, /^maxIterSpectral expected a positive integer, but got 0\.$/],
  ['maxIterSpectral', 1.5, /^maxIterSpectral expected .*, but got 1\.5\.$/],
  ['maxIterBjorck', 0, /^maxIterBjorck expected a positive integer, but got 0\.$/],
];

const rows: [string, Factory, string, unknown, RegExp][] = [];
for (const [name, factory] of FACTORIES) {
  for (const [arg, value, message] of COMMON) rows.push([name, factory, arg, value, message]);
  if (name !== 'FrobeniusConv2D') for (const [arg, value, message] of SPECTRAL_ONLY) rows.push([name, factory, arg, value, message]);
}
rows.push(['FrobeniusConv2D', frobeniusConv2d as Factory, 'epsSpectral', 1e-3, /^epsSpectral expected nothing .*, but got 0\.001\.$/]);
rows.push(['FrobeniusConv2D', frobeniusConv2d as Factory, 'maxIterBjorck', 3, /^maxIterBjorck expected nothing/]);
rows.push(['SpectralConv2DTranspose', spectralConv2dTranspose as Factory, 'outputPadding', 1, /^outputPadding expected null .*, but got 1\.$/]);
// The explicit paddings are SpectralConv2D / FrobeniusConv2D options (test/conv_padding.test.ts), not the transposed one's.
rows.push(['SpectralConv2DTranspose', spectralConv2dTranspose as Factory, 'padding', 'circular', /^padding expected one of 'same', 'valid', but got 'circular'\.$/]);
rows.push(['SpectralConv2DTranspose', spectralConv2dTranspose as Factory, 'padding', 'reflect', /^padding expected .*, but got 'reflect'\.$/]);

describe('construction rejects settings the bound does not cover', () => {
  it.each(rows)('%s rejects %s = %p', (_name, factory, arg, value, message) => {
    let error: unknown;
    try {
      factory({ ...BASE, [arg]: value } as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LipschitzConfigError);
    expect((error as Error).message).toMatch(message);
  });

  it.each(FACTORIES)('%s accepts the documented settings', (_name, factory) => {
    const layer = factory({
      ...BASE,
      strides: [1, 2],
      padding: 'valid',
      dataFormat: 'channelsLast',
      dilationRate: [1, 1],
      activation: 'relu',
      useBias: false,
      kernelRegularizer: 'l2',
      biasConstraint: 'nonNeg',
      kCoefLip: 2,
    } as never);
    const config = layer.getConfig();
    expect(config['padding']).toBe('valid');
    expect(config['strides']).toEqual([1, 2]);
    expect(config['kCoefLip']).toBe(2);
  });

  it.each(FACTORIES)("%s defaults to DEEL-LIP's padding 'same' and stride 1", (_name, factory) => {
    const config = factory({ ...BASE } as never).getConfig();
    expect(config['padding']).toBe('same');
    expect(config['strides']).toEqual([1, 1]);
    expect(config['useBias']).toBe(true);
  });

  it("'valid' padding on an input smaller than the kernel is rejected at build", () => {
    const layer = spectralConv2d({ filters: 1, kernelSize: 5, padding: 'valid', inputShape: [4, 8, 1] });
    expect(() => tfl.sequential({ layers: [layer] })).toThrow(LipschitzConfigError);
  });

  it('channels must be known at build', () => {
    const layer = spectralConv2d({ filters: 1, kernelSize: 3 });
    expect(() => layer.build([null, 4, 4, null] as never)).toThrow(/inputShape expected a known number of channels/);
    tf.disposeVariables();
  });
});
