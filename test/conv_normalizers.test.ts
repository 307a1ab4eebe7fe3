/**
 * The convolution corrective factors and the power iteration on the convolution operator,
 * checked against hand-computed values and float64 singular values of impulse-response matrices.
 */
import * as tf from '@tensorflow/tfjs-core';

import { LipschitzConfigError } from '../src/core/errors';
import {
  computeConvLipFactor,
  computeConvTransposeLipFactor,
  deelLipConvLipFactor,
  maxWindowCoverage,
  spectralNormalizationConv,
} from '../src/normalizers/conv';
import {
  convMatrix,
  convTransposeMatrix,
  fastOpNorm,
  fastSingularValues,
  identityKernel,
  normalizeReshaped,
  randomKernel,
} from './helpers/conv';
import { singularValues } from './helpers/oracles';

const opNorm = fastOpNorm;

it('the Jacobi singular values agree with the mathjs oracle', () => {
  const kernel = randomKernel([3, 3, 1, 2], 5);
  const matrix = convMatrix(kernel, [5, 5, 1], 1, 'same');
  const fast = fastSingularValues(matrix);
  const reference = singularValues(matrix);
  expect(fast.length).toBe(reference.length);
  fast.forEach((v, i) => expect(v).toBeCloseTo(reference[i]!, 8));
  kernel.dispose();
});

describe('computeConvLipFactor (hand-computed)', () => {
  // Each case: [args, expected factor, why].
  const cases: [Parameters<typeof computeConvLipFactor>[0], number, string][] = [
    [{ kernelSize: 3, inputShape: [8, 8] }, 1 / 3, 'interior pixel in 3 windows per axis'],
    [{ kernelSize: 3, inputShape: [2, 2] }, 1 / 2, 'n=2: windows [-1,1],[0,2] clip to 2 per axis'],
    [{ kernelSize: 3, strides: 2, inputShape: [8, 8] }, 1 / 2, 'pad 0+1: windows [0,2],[2,4],.. overlap once'],
    [{ kernelSize: 3, strides: 2, inputShape: [7, 7] }, 1 / 2, 'pad 1+1: windows [-1,1],[1,3],..'],
    [{ kernelSize: 2, strides: 2, inputShape: [8, 8] }, 1, 'disjoint windows'],
    [{ kernelSize: 1, strides: 2, inputShape: [6, 6] }, 1, '1x1 kernel'],
    [{ kernelSize: 5, padding: 'valid', inputShape: [6, 6] }, 1 / 2, 'valid n=6: only 2 windows'],
    [{ kernelSize: [3, 5], padding: 'valid', inputShape: [10, 6, 3] }, 1 / Math.sqrt(6), '3 x 2 windows'],
    [{ kernelSize: 3, strides: 2 }, 1 / 2, 'unknown size: ceil(3/2)'],
    [{ kernelSize: 5, inputShape: [null, 4] }, 1 / Math.sqrt(5 * 4), 'unknown H: 5; W=4: 4 windows'],
  ];
  it.each(cases)('%j -> %f (%s)', (args, expected) => {
    expect(computeConvLipFactor(args)).toBeCloseTo(expected, 12);
  });

  it('transposed factor: reach counts', () => {
    expect(computeConvTransposeLipFactor({ kernelSize: 3, strides: 2, inputShape: [4, 4] })).toBeCloseTo(1 / 3, 12);
    expect(computeConvTransposeLipFactor({ kernelSize: 2, strides: 2, inputShape: [4, 4] })).toBeCloseTo(1 / 2, 12);
    expect(computeConvTransposeLipFactor({ kernelSize: 3, strides: 1, padding: 'valid' })).toBeCloseTo(1 / 3, 12);
    // n = 1, same, stride 1: the single pixel reaches only the 1 output pixel.
    expect(computeConvTransposeLipFactor({ kernelSize: 3, inputShape: [1, 1] })).toBeCloseTo(1, 12);
  });

  it('DEEL-LIP formula reproduced', () => {
    expect(deelLipConvLipFactor({ kernelSize: 3, inputShape: [8, 8] })).toBeCloseTo(8 / 22, 12);
    expect(deelLipConvLipFactor({ kernelSize: [3, 5], inputShape: [6, 10] })).toBeCloseTo(Math.sqrt(60 / (16 * 44)), 12);
    expect(deelLipConvLipFactor({ kernelSize: 3, strides: 2 })).toBeCloseTo(0.5, 12);
  });

  it('coverage never exceeds ceil(k/s) and equals it for long inputs', () => {
    for (const k of [1, 2, 3, 4, 5]) {
      for (const s of [1, 2, 3]) {
        for (const padding of ['same', 'valid'] as const) {
          for (let n = k; n < 14; n++) expect(maxWindowCoverage(n, k, s, padding)).toBeLessThanOrEqual(Math.ceil(k / s));
          expect(maxWindowCoverage(40, k, s, padding)).toBe(Math.ceil(k / s));
        }
      }
    }
  });

  it('rejects bad arguments', () => {
    expect(() => computeConvLipFactor({ kernelSize: 0 })).toThrow(LipschitzConfigError);
    expect(() => computeConvLipFactor({ kernelSize: 3, strides: 1.5 })).toThrow(/strides expected/);
    expect(() => computeConvLipFactor({ kernelSize: 3, padding: 'causal' as 'same' })).toThrow(/padding expected/);
    expect(() => computeConvLipFactor({ kernelSize: 5, padding: 'valid', inputShape: [4, 8] })).toThrow(/inputShape expected/);
  });
});

type Padding = 'same' | 'valid';

describe('corrective factor bounds the true operator (impulse response, float64)', () => {
  // [kernel, stride, padding, H, W, cin, filters]
  const configs: [number, number, Padding, number, number, number, number][] = [
    [3, 1, 'same', 6, 6, 1, 2],
    [3, 1, 'same', 5, 7, 2, 3],
    [3, 2, 'same', 7, 7, 2, 4],
    [5, 1, 'same', 6, 6, 1, 2],
    [5, 2, 'valid', 9, 9, 1, 3],
    [3, 1, 'valid', 6, 6, 2, 2],
    [1, 2, 'same', 6, 6, 2, 2],
    [2, 2, 'valid', 6, 6, 2, 3],
  ];

  it.each(configs)('random kernel k=%i s=%i %s %ix%ix%i -> %i: sigma <= 1', (k, s, padding, h, w, cin, filters) => {
    const raw = randomKernel([k, k, cin, filters], 100 * k + 10 * s + cin);
    const unit = normalizeReshaped(raw);
    const factor = computeConvLipFactor({ kernelSize: k, strides: s, padding, inputShape: [h, w] });
    const scaled = tf.mul(unit, factor) as tf.Tensor4D;
    const sigma = opNorm(convMatrix(scaled, [h, w, cin], s, padding));
    expect(sigma).toBeLessThanOrEqual(1 + 1e-4);
    expect(sigma).toBeGreaterThan(0.2); // not vacuous
    tf.dispose([raw, unit, scaled]);
  });

  it.each([
    [3, 1, 'same', 6, 1],
    [3, 2, 'same', 7, 1],
    [2, 1, 'valid', 5, 1],
  ] as [number, number, Padding, number, number][])(
    'orthonormal-rows kernel k=%i s=%i %s n=%i: factor is tight (sigma = 1)',
    (k, s, padding, n, cin) => {
      const kernel = identityKernel(k, k, cin);
      const factor = computeConvLipFactor({ kernelSize: k, strides: s, padding, inputShape: [n, n] });
      const scaled = tf.mul(kernel, factor) as tf.Tensor4D;
      expect(opNorm(convMatrix(scaled, [n, n, cin], s, padding))).toBeCloseTo(1, 5);
      tf.dispose([kernel, scaled]);
    },
  );

  it("DEEL-LIP's stride-1 factor is not a bound (why tfjs-lip certifies instead)", () => {
    const kernel = identityKernel(3, 3, 1);
    const factor = deelLipConvLipFactor({ kernelSize: 3, inputShape: [8, 8] });
    const scaled = tf.mul(kernel, factor) as tf.Tensor4D;
    const sigma = opNorm(convMatrix(scaled, [8, 8, 1], 1, 'same'));
    expect(sigma).toBeCloseTo((3 * 8) / 22, 4); // 1.0909 > 1
    tf.dispose([kernel, scaled]);
  });

  // Transposed: kernel [k, k, filters, cin], normalized in DEEL-LIP's orientation.
  const transposeConfigs: [number, number, Padding, number, number, number][] = [
    [3, 1, 'same', 5, 2, 2],
    [3, 2, 'same', 4, 2, 3],
    [2, 2, 'same', 4, 1, 4],
    [3, 2, 'valid', 3, 2, 2],
    [5, 2, 'same', 3, 1, 2],
  ];
  it.each(transposeConfigs)('transposed random k=%i s=%i %s n=%i cin=%i filters=%i: sigma <= 1', (k, s, padding, n, cin, filters) => {
    const raw = randomKernel([k, k, cin, filters], 7 * k + s + cin);
    const unit = tf.transpose(normalizeReshaped(raw), [0, 1, 3, 2]) as tf.Tensor4D; // [k, k, filters, cin]
    const factor = computeConvTransposeLipFactor({ kernelSize: k, strides: s, padding, inputShape: [n, n] });
    const scaled = tf.mul(unit, factor) as tf.Tensor4D;
    const sigma = opNorm(convTransposeMatrix(scaled, [n, n, cin], [s, s], padding));
    expect(sigma).toBeLessThanOrEqual(1 + 1e-4);
    expect(sigma).toBeGreaterThan(0.2);
    tf.dispose([raw, unit, scaled]);
  });

  it("transposed: tight for k=s=2 with 4 filters, where DEEL-LIP's factor (1) gives 2", () => {
    // K[i, j, f, 0] = 1 iff f = 2i + j: each input pixel is copied into its own 2x2 block.
    const kernel = tf.tidy(() => tf.reshape(tf.eye(4), [2, 2, 4, 1]) as tf.Tensor4D);
    const raw = opNorm(convTransposeMatrix(kernel, [3, 3, 1], [2, 2], 'same'));
    expect(raw).toBeCloseTo(2, 5);
    expect(deelLipConvLipFactor({ kernelSize: 2, strides: 2 })).toBe(1);
    const factor = computeConvTransposeLipFactor({ kernelSize: 2, strides: 2, inputShape: [3, 3] });
    expect(raw * factor).toBeCloseTo(1, 5);
    kernel.dispose();
  });
});

describe('spectralNormalizationConv', () => {
  const configs: [number, number, Padding, number, number, number, number][] = [
    [3, 1, 'same', 6, 6, 2, 3],
    [3, 2, 'same', 8, 8, 1, 2],
    [5, 1, 'valid', 8, 8, 1, 2],
    [1, 1, 'same', 5, 5, 3, 2],
  ];
  it.each(configs)('k=%i s=%i %s %ix%ix%i -> %i agrees with impulse-response sigma_max', (k, s, padding, h, w, cin, filters) => {
    const kernel = randomKernel([k, k, cin, filters], 3 + k + cin);
    const before = tf.memory().numTensors;
    const { sigma, u, iterations } = spectralNormalizationConv(kernel, null, {
      strides: s,
      padding,
      inputShape: [h, w],
      maxIter: 500,
      eps: 1e-7,
    });
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(u.shape).toEqual([1, h, w, cin]);
    expect(iterations).toBeGreaterThan(1);
    const exact = opNorm(convMatrix(kernel, [h, w, cin], s, padding));
    expect(Math.abs(sigma.dataSync()[0]! - exact) / exact).toBeLessThan(1e-3);
    // warm start: converges at once
    const again = spectralNormalizationConv(kernel, u, { strides: s, padding, inputShape: [h, w, cin], maxIter: 500, eps: 1e-3 });
    expect(Math.abs(again.sigma.dataSync()[0]! - exact) / exact).toBeLessThan(1e-3);
    expect(again.iterations).toBeLessThanOrEqual(3);
    tf.dispose([kernel, sigma, u, again.sigma, again.u]);
  });

  it('rejects an input shape whose channels do not match the kernel', () => {
    const kernel = randomKernel([3, 3, 2, 2], 1);
    expect(() => spectralNormalizationConv(kernel, null, { inputShape: [4, 4, 3] })).toThrow(LipschitzConfigError);
    kernel.dispose();
  });
});
