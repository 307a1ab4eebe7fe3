/**
 * Normalizers alone, against float64 oracles: power iteration / spectral normalization (sigma vs
 * the largest singular value), Björck (orthonormal output, warm start), RKO on a 4-D kernel, and
 * gradients against central finite differences.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers the gradients of tfjs-core ops
import * as normalizers from '../src/normalizers';
import { finiteDifferenceGradient, singularValues } from './helpers/oracles';
import { dot, flat, matmul, polarFactor, randomMatrix, transpose, unflat } from './helpers/dense';

const { spectralNormalization, bjorckNormalization, bjorckOrthogonalize, reshapedKernelOrthogonalization, powerIteration } =
  normalizers;

describe('powerIteration', () => {
  it('finds the largest singular value of a linear operator given with its adjoint', () => {
    const a = randomMatrix(9, 6, 1);
    const sv = singularValues(a);
    const at = tf.tensor2d(a);
    const res = powerIteration(
      (x) => tf.matMul(at, tf.reshape(x, [6, 1])),
      (y) => tf.matMul(tf.reshape(y, [1, 9]), at),
      tf.ones([1, 6]),
      { maxIter: 200, eps: 1e-7 },
    );
    expect(Math.abs(res.sigma.dataSync()[0]! - sv[0]!)).toBeLessThan(1e-3 * sv[0]!);
    expect(res.iterations).toBeGreaterThan(1);
    tf.dispose([at, res.u, res.v, res.sigma]);
  });

  it('stops at maxIter', () => {
    const at = tf.tensor2d(randomMatrix(5, 5, 2));
    const res = powerIteration(
      (x) => tf.matMul(at, tf.reshape(x, [5, 1])),
      (y) => tf.matMul(tf.reshape(y, [1, 5]), at),
      tf.ones([1, 5]),
      { maxIter: 2, eps: 1e-12 },
    );
    expect(res.iterations).toBe(2);
    tf.dispose([at, res.u, res.v, res.sigma]);
  });
});

describe('spectralNormalization', () => {
  it.each([
    [20, 12],
    [7, 15],
  ])('sigma matches the float64 largest singular value (%i x %i)', (m, n) => {
    const a = randomMatrix(m, n, m * 31 + n, 3);
    const sv = singularValues(a);
    const w = tf.tensor2d(a);
    const res = spectralNormalization(w, null, { epsSpectral: 1e-6, maxIterSpectral: 300 });
    const sigma = res.sigma.dataSync()[0]!;
    expect(Math.abs(sigma - sv[0]!) / sv[0]!).toBeLessThan(1e-4);
    const svBar = singularValues(res.wBar);
    expect(svBar[0]!).toBeLessThanOrEqual(1 + 1e-5);
    expect(svBar[0]!).toBeGreaterThan(1 - 1e-3);
    expect(res.u.shape).toEqual([1, n]);
    tf.dispose([w, res.wBar, res.u, res.sigma]);
  });

  it('back-propagates through W and sigma(W) with u, v held fixed (finite differences)', () => {
    const m = 5;
    const n = 4;
    const a = randomMatrix(m, n, 7);
    const c = randomMatrix(m, n, 8);
    const eps = 1e-3;
    // Converge u once; the call under test starts from it, so u and v are (numerically) fixed.
    const w0 = tf.tensor2d(a);
    const first = spectralNormalization(w0, null, { epsSpectral: 1e-7, maxIterSpectral: 500 });
    const uFixed = first.u;
    const uArr = flat(uFixed.arraySync() as number[][]);
    const vArr = flat(matmul(a, transpose([uArr])));
    const vNorm = Math.sqrt(vArr.reduce((s, x) => s + x * x, 0));
    const v = vArr.map((x) => x / vNorm);
    const g = tf.grad((w: tf.Tensor) => {
      const res = spectralNormalization(w as tf.Tensor2D, uFixed, { epsSpectral: eps, maxIterSpectral: 1 });
      return tf.sum(tf.mul(res.wBar, tf.tensor2d(c)));
    })(w0);
    // sigma = v^T W u with u, v fixed.
    const fExplicit = (x: number[]) => {
      const wm = unflat(x, m, n);
      let sigma = 0;
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) sigma += v[i]! * wm[i]![j]! * uArr[j]!;
      return dot(wm, c) / (sigma + eps);
    };
    const fd = finiteDifferenceGradient(fExplicit, flat(a), 1e-5);
    const got = Array.from(g.dataSync());
    const scale = Math.max(...fd.map(Math.abs));
    got.forEach((x, i) => expect(Math.abs(x - fd[i]!)).toBeLessThan(2e-3 * scale));
    // The gradient through sigma is present: it differs from the gradient with sigma constant.
    const sigma0 = first.sigma.dataSync()[0]!;
    const noSigma = flat(c).map((x) => x / (sigma0 + eps));
    expect(Math.max(...got.map((x, i) => Math.abs(x - noSigma[i]!)))).toBeGreaterThan(1e-2 * scale);
    tf.dispose([w0, first.wBar, first.u, first.sigma, g]);
  });
});

describe('bjorckNormalization', () => {
  it.each([
    [30, 12],
    [8, 20],
    [10, 10],
  ])('returns a matrix with every singular value 1 (float64 check, %i x %i)', (m, n) => {
    const w = tf.tensor2d(randomMatrix(m, n, m + 100 * n));
    const sn = spectralNormalization(w, null, { maxIterSpectral: 50 });
    const res = bjorckNormalization(sn.wBar, { maxIterBjorck: 40 });
    const sv = singularValues(res);
    sv.forEach((s) => expect(Math.abs(s - 1)).toBeLessThan(1e-3));
    // Same as the float64 polar factor (Björck's fixed point).
    const polar = polarFactor(randomMatrix(m, n, m + 100 * n));
    const got = res.arraySync();
    got.forEach((row, r) => row.forEach((x, c2) => expect(Math.abs(x - polar[r]![c2]!)).toBeLessThan(5e-3)));
    tf.dispose([w, sn.wBar, sn.u, sn.sigma, res]);
  });

  it('warm-started from the previous factor, converges in at most 2 iterations after a small change', () => {
    const a = randomMatrix(40, 16, 5);
    const w = tf.tensor2d(a);
    const sn = spectralNormalization(w, null, { maxIterSpectral: 50 });
    const cold = bjorckOrthogonalize(sn.wBar, null, { maxIterBjorck: 40 });
    expect(cold.iterations).toBeGreaterThan(3);
    const w2 = tf.tidy(() => tf.add(sn.wBar, tf.mul(tf.tensor2d(randomMatrix(40, 16, 6)), 1e-3)));
    const warm = bjorckOrthogonalize(w2 as tf.Tensor2D, cold.p, { maxIterBjorck: 40 });
    expect(warm.iterations).toBeLessThanOrEqual(2);
    singularValues(warm.wBar).forEach((s) => expect(Math.abs(s - 1)).toBeLessThan(1e-4));
    // The warm result is the polar factor of the new matrix, up to the size of the change.
    const polar = polarFactor(w2.arraySync() as number[][]);
    (warm.wBar.arraySync() as number[][]).forEach((row, r) =>
      row.forEach((x, c) => expect(Math.abs(x - polar[r]![c]!)).toBeLessThan(1e-3)),
    );
    tf.dispose([w, sn.wBar, sn.u, sn.sigma, cold.wBar, cold.p, w2, warm.wBar, warm.p]);
  });

  it('rejects a bad warm start (cold restart) and still converges', () => {
    const w = tf.tensor2d(randomMatrix(12, 6, 9));
    const sn = spectralNormalization(w, null, { maxIterSpectral: 50 });
    const bad = tf.mul(tf.eye(6), 5) as tf.Tensor2D;
    const res = bjorckOrthogonalize(sn.wBar, bad, { maxIterBjorck: 40 });
    singularValues(res.wBar).forEach((s) => expect(Math.abs(s - 1)).toBeLessThan(1e-3));
    tf.dispose([w, sn.wBar, sn.u, sn.sigma, bad, res.wBar, res.p]);
  });

  it.each([
    [6, 4],
    [3, 5],
  ])('gradient equals the float64 derivative of the polar factor (%i x %i, scaled orthogonal point)', (m, n) => {
    // At W = 0.8 Q (Q orthonormal) the derivative of polar(W) is the tangent projection / 0.8.
    const q = polarFactor(randomMatrix(m, n, 11 * m + n));
    const a = q.map((row) => row.map((x) => 0.8 * x));
    const c = randomMatrix(m, n, 12);
    const g = tf.grad((w: tf.Tensor) =>
      tf.sum(tf.mul(bjorckNormalization(w as tf.Tensor2D, { epsBjorck: 1e-6, maxIterBjorck: 40 }), tf.tensor2d(c))),
    )(tf.tensor2d(a));
    const fd = finiteDifferenceGradient((x) => dot(polarFactor(unflat(x, m, n), 40), c), flat(a), 1e-5);
    const got = Array.from(g.dataSync());
    const scale = Math.max(...fd.map(Math.abs));
    got.forEach((x, i) => expect(Math.abs(x - fd[i]!)).toBeLessThan(2e-3 * scale));
    g.dispose();
  });
});

describe('reshapedKernelOrthogonalization', () => {
  it.each([1, 2.5])('4-D kernel: reshaped [-1, lastDim] has every singular value kCoefLip = %f', (k) => {
    const kernel = tf.reshape(tf.tensor2d(randomMatrix(18, 4, 21)), [3, 3, 2, 4]);
    const res = reshapedKernelOrthogonalization(kernel, null, k, { maxIterBjorck: 30 });
    expect(res.wBar.shape).toEqual([3, 3, 2, 4]);
    expect(res.u.shape).toEqual([1, 4]);
    expect(res.bjorckState?.shape).toEqual([4, 4]);
    singularValues(tf.reshape(res.wBar, [18, 4])).forEach((s) => expect(Math.abs(s - k)).toBeLessThan(1e-3 * k));
    tf.dispose([kernel, res.wBar, res.u, res.sigma, res.bjorckState!]);
  });

  it('epsBjorck null: spectral normalization only (largest singular value kCoefLip, others below)', () => {
    const a = randomMatrix(10, 6, 22);
    const kernel = tf.tensor2d(a);
    const res = reshapedKernelOrthogonalization(kernel, null, 2, { epsBjorck: null, epsSpectral: 1e-6, maxIterSpectral: 200 });
    expect(res.bjorckState).toBeNull();
    const sv = singularValues(res.wBar);
    expect(Math.abs(sv[0]! - 2)).toBeLessThan(2e-3);
    const sv0 = singularValues(a);
    expect(Math.abs(sv[5]! / sv[0]! - sv0[5]! / sv0[0]!)).toBeLessThan(1e-4);
    tf.dispose([kernel, res.wBar, res.u, res.sigma]);
  });

  it('leaks no tensor', () => {
    const kernel = tf.tensor2d(randomMatrix(12, 5, 23));
    const before = tf.memory().numTensors;
    const res = reshapedKernelOrthogonalization(kernel, null, 1);
    tf.dispose([res.wBar, res.u, res.sigma, res.bjorckState!]);
    expect(tf.memory().numTensors).toBe(before);
    kernel.dispose();
  });
});
