/**
 * Construction-time validation of SpectralDense / FrobeniusDense: each bad setting throws
 * LipschitzConfigError naming the argument and echoing the value; good settings are accepted.
 */
import '@tensorflow/tfjs-layers';
import * as tfl from '@tensorflow/tfjs-layers';
import { LipschitzConfigError } from '../src/core/errors';
import { frobeniusDense, spectralDense } from '../src/layers/dense';

type Row = [string, Record<string, unknown>, string, string];

// [argument, override, name in message, value as echoed]
const spectralRows: Row[] = [
  ['kCoefLip 0', { kCoefLip: 0 }, 'kCoefLip', '0'],
  ['kCoefLip negative', { kCoefLip: -1 }, 'kCoefLip', '-1'],
  ['kCoefLip NaN', { kCoefLip: NaN }, 'kCoefLip', 'NaN'],
  ['kCoefLip Infinity', { kCoefLip: Infinity }, 'kCoefLip', 'Infinity'],
  ['epsSpectral 0', { epsSpectral: 0 }, 'epsSpectral', '0'],
  ['epsSpectral negative', { epsSpectral: -1e-3 }, 'epsSpectral', '-0.001'],
  ['epsBjorck 0', { epsBjorck: 0 }, 'epsBjorck', '0'],
  ['epsBjorck negative', { epsBjorck: -2 }, 'epsBjorck', '-2'],
  ['betaBjorck 0', { betaBjorck: 0 }, 'betaBjorck', '0'],
  ['betaBjorck above 0.5', { betaBjorck: 0.6 }, 'betaBjorck', '0.6'],
  ['betaBjorck negative', { betaBjorck: -0.1 }, 'betaBjorck', '-0.1'],
  ['units 0', { units: 0 }, 'units', '0'],
  ['units fractional', { units: 2.5 }, 'units', '2.5'],
  ['units string', { units: '4' }, 'units', "'4'"],
  ['maxIterSpectral 0', { maxIterSpectral: 0 }, 'maxIterSpectral', '0'],
  ['maxIterSpectral fractional', { maxIterSpectral: 1.5 }, 'maxIterSpectral', '1.5'],
  ['maxIterBjorck 0', { maxIterBjorck: 0 }, 'maxIterBjorck', '0'],
  ['maxIterBjorck negative', { maxIterBjorck: -3 }, 'maxIterBjorck', '-3'],
  ['activation selu', { activation: 'selu' }, 'activation', "'selu'"],
  ['activation exponential', { activation: 'exponential' }, 'activation', "'exponential'"],
  ['activation swish', { activation: 'swish' }, 'activation', "'swish'"],
  ['activation gelu', { activation: 'gelu' }, 'activation', "'gelu'"],
  ['activation mish', { activation: 'mish' }, 'activation', "'mish'"],
  ['kernelConstraint string', { kernelConstraint: 'maxNorm' }, 'kernelConstraint', "'maxNorm'"],
  ['kernelConstraint object', { kernelConstraint: { className: 'UnitNorm', config: {} } }, 'kernelConstraint', 'UnitNorm'],
  ['useBias not boolean', { useBias: 'yes' }, 'useBias', "'yes'"],
];

function expectConfigError(build: () => unknown, name: string, value: string): void {
  let caught: unknown;
  try {
    build();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(LipschitzConfigError);
  const message = (caught as Error).message;
  expect(message).toContain(name);
  expect(message).toContain(value);
}

describe('SpectralDense rejects', () => {
  it.each(spectralRows)('%s', (_label, override, name, value) => {
    expectConfigError(() => spectralDense({ units: 4, ...override } as never), name, value);
  });

  it('a tfjs constraint instance as kernelConstraint', () => {
    expectConfigError(() => spectralDense({ units: 4, kernelConstraint: tfl.constraints.maxNorm({ maxValue: 2 }) }), 'kernelConstraint', 'kernelConstraint');
  });
});

describe('FrobeniusDense rejects', () => {
  it.each([
    ['kCoefLip 0', { kCoefLip: 0 }, 'kCoefLip', '0'],
    ['kCoefLip NaN', { kCoefLip: NaN }, 'kCoefLip', 'NaN'],
    ['units fractional', { units: 1.5 }, 'units', '1.5'],
    ['activation selu', { activation: 'selu' }, 'activation', "'selu'"],
    ['kernelConstraint', { kernelConstraint: 'nonNeg' }, 'kernelConstraint', "'nonNeg'"],
    ['disjointNeurons not boolean', { disjointNeurons: 1 }, 'disjointNeurons', '1'],
  ] as Row[])('%s', (_label, override, name, value) => {
    expectConfigError(() => frobeniusDense({ units: 4, ...override } as never), name, value);
  });
});

describe('accepted settings', () => {
  it.each(['linear', 'relu', 'relu6', 'sigmoid', 'tanh', 'softsign', 'softplus', 'softmax', 'hardSigmoid', 'elu', undefined, null])(
    'activation %s',
    (activation) => {
      expect(() => spectralDense({ units: 2, activation })).not.toThrow();
      expect(() => frobeniusDense({ units: 2, activation })).not.toThrow();
    },
  );

  it('epsBjorck null, betaBjorck 0.5, large kCoefLip', () => {
    const layer = spectralDense({ units: 2, epsBjorck: null, betaBjorck: 0.5, kCoefLip: 1e6 });
    expect(layer.orthogonalizer).toBe('none');
    expect(layer.getConfig()['epsBjorck']).toBeNull();
    expect(layer.kCoefLip).toBe(1e6);
  });

  it('kCoefLip setter validates too', () => {
    const layer = spectralDense({ units: 2 });
    expectConfigError(() => {
      layer.kCoefLip = -2;
    }, 'kCoefLip', '-2');
  });
});
