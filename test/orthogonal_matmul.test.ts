/**
 * The fused training path of SpectralDense (`orthogonalMatMul`: `y = (x K) P'` with the polar-factor
 * gradient rearranged) and the polynomial warm-start step of Björck, against float64 oracles:
 * the polar factor by float64 Björck iterations run to convergence, and central finite differences
 * of the float64 map `K -> sum(R * (x k polar(K)))`.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { bjorckOrthogonalize, orthogonalMatMul, reshapedKernelOrthogonalization } from '../src/normalizers';
import { bjorckIterate } from '../src/normalizers/orthogonalizers/bjorck/iterate';
import { inverseSqrtPolynomial } from '../src/normalizers/orthogonalizers/bjorck/polynomial';
import { spectralDense } from '../src/layers/dense';
import { finiteDifferenceGradient, singularValues } from './helpers/oracles';
import { dot, flat, matmul, polarFactor, randomMatrix, transpose, unflat } from './helpers/dense';

const maxAbs = (a: number[]) => a.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
const maxAbsDiff = (a: number[], b: number[]) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

describe('orthogonalMatMul', () => {
  const n = 14;
  const m = 5;
  const batch = 6;
  const k = 1.7;
  const kernel = randomMatrix(n, m, 11, 0.4);
  const x = randomMatrix(batch, n, 12);
  const r = randomMatrix(batch, m, 13);
  // Float64 oracle from a cold start: y = x k polar(K).
  const oracleY = (kk: number[][]) => matmul(x, polarFactor(kk).map((row) => row.map((v) => v * k)));

  it('computes x W-bar, W-bar = k polar(K) (float64 oracle, 1e-5 relative)', () => {
    const res = orthogonalMatMul(tf.tensor2d(x), tf.tensor2d(kernel), null, k);
    const got = flat(res.y.arraySync() as number[][]);
    const want = flat(oracleY(kernel));
    expect(maxAbsDiff(got, want) / maxAbs(want)).toBeLessThan(1e-5);
    // W-bar = kernel * factor is the normalized kernel.
    const wBar = tf.matMul(res.kernel, res.factor).arraySync() as number[][];
    singularValues(wBar).forEach((s) => expect(Math.abs(s - k)).toBeLessThan(1e-5 * k));
    tf.dispose([res.y, res.kernel, res.factor, res.u, res.sigma, res.bjorckState]);
  });

  it('has the gradient of the map it computes, polar(K P0) with the warm start P0 fixed (finite differences)', () => {
    // A previous call on a nearby kernel gives the warm start P0 (as in training); the map is then
    // K -> x k polar(K P0), whose derivative the fused gradient gives up to O(||P0 G P0 - I||).
    const previous = kernel.map((row, i) => row.map((v, j) => v - 2e-3 * Math.cos(3 * i + 5 * j)));
    const first = orthogonalMatMul(tf.tensor2d(x), tf.tensor2d(previous), null, k, { epsBjorck: 1e-6 });
    const p0 = first.bjorckState.arraySync() as number[][];
    const kt = tf.tensor2d(kernel);
    const xt = tf.tensor2d(x);
    const rt = tf.tensor2d(r);
    const kept: tf.Tensor[] = [first.y, first.kernel, first.factor, first.u, first.sigma, first.bjorckState];
    const loss = (xx: tf.Tensor, kk: tf.Tensor) => {
      const res = orthogonalMatMul(xx as tf.Tensor2D, kk as tf.Tensor2D, first.u, k, { bjorckState: first.bjorckState });
      kept.push(res.kernel, res.factor, res.u, res.sigma, res.bjorckState);
      return tf.sum(tf.mul(res.y, rt));
    };
    const [dx, dk] = tf.grads(loss)([xt, kt]);
    const wBarOf = (kk: number[][]) => polarFactor(matmul(kk, p0)).map((row) => row.map((v) => v * k));
    const f = (kFlat: number[]) => dot(r, matmul(x, wBarOf(unflat(kFlat, n, m))));
    const gotK = Array.from(dk!.dataSync());
    const wantK = finiteDifferenceGradient(f, flat(kernel), 1e-6);
    expect(maxAbsDiff(gotK, wantK) / maxAbs(wantK)).toBeLessThan(5e-3);
    const wBar = wBarOf(kernel);
    const fx = (xFlat: number[]) => dot(r, matmul(unflat(xFlat, batch, n), wBar));
    const gotX = Array.from(dx!.dataSync());
    const wantX = finiteDifferenceGradient(fx, flat(x), 1e-6);
    expect(maxAbsDiff(gotX, wantX) / maxAbs(wantX)).toBeLessThan(1e-4);
    tf.dispose([kt, xt, rt, dx!, dk!, ...kept]);
  });

  it('matches the unfused RKO path (values and kernel gradient) from the same state', () => {
    const xt = tf.tensor2d(x);
    const kt = tf.tensor2d(kernel);
    const rt = tf.tensor2d(r);
    const kept: tf.Tensor[] = [];
    const fused = tf.grad((kk: tf.Tensor) => {
      const res = orthogonalMatMul(xt, kk as tf.Tensor2D, null, k);
      kept.push(res.y, res.kernel, res.factor, res.u, res.sigma, res.bjorckState);
      return tf.sum(tf.mul(res.y, rt));
    })(kt);
    const plain = tf.grad((kk: tf.Tensor) => {
      const res = reshapedKernelOrthogonalization(kk, null, k);
      kept.push(res.u, res.sigma, res.bjorckState!);
      return tf.sum(tf.mul(tf.matMul(xt, res.wBar as tf.Tensor2D), rt));
    })(kt);
    const a = Array.from(fused.dataSync());
    const b = Array.from(plain.dataSync());
    expect(maxAbsDiff(a, b) / maxAbs(b)).toBeLessThan(1e-4);
    tf.dispose([xt, kt, rt, fused, plain, ...kept]);
  });

  it('rejects a wide kernel', () => {
    expect(() => orthogonalMatMul(tf.ones([2, 3]), tf.ones([3, 4]), null, 1)).toThrow(/tall kernel/);
  });
});

describe('Björck polynomial warm-start step', () => {
  it('replaces the iterations with one step and reaches the warm-start fixed point (float64)', () => {
    const w = tf.tidy(() => tf.div(tf.tensor2d(randomMatrix(40, 9, 21)), 8)) as tf.Tensor2D;
    const cold = bjorckOrthogonalize(w, null, { epsBjorck: 1e-6 });
    const w2Values = (w.arraySync() as number[][]).map((row, i) => row.map((v, j) => v + 0.002 * Math.sin(7 * i + 3 * j)));
    const w2 = tf.tensor2d(w2Values);
    const res = bjorckIterate(w2, cold.p, 1e-3, 0.5, 15);
    expect(res.iterations).toBe(1);
    // The fixed point from the symmetric start P0 is W2 P0 (P0 G P0)^(-1/2) = polar(W2 P0).
    const p0 = cold.p.arraySync() as number[][];
    const oracle = flat(polarFactor(matmul(w2Values, p0)));
    expect(maxAbsDiff(flat(res.z.arraySync() as number[][]), oracle)).toBeLessThan(2e-6);
    singularValues(res.z.arraySync() as number[][]).forEach((s) => expect(Math.abs(s - 1)).toBeLessThan(2e-6));
    tf.dispose([w, cold.wBar, cold.p, w2, res.z, res.p, res.state]);
  });

  it('picks degree 4, 6 or 8 from ||D^2||_F and meets its residual bound; declines when too far or not cheaper', () => {
    // Y = U diag(1 + d) U^T with a known spread of d.
    const u = polarFactor(randomMatrix(8, 8, 31));
    const make = (d: number[]) => matmul(matmul(u, d.map((di, i) => d.map((_, j) => (i === j ? 1 + di : 0)))), transpose(u));
    const medium = [0.1, -0.12, 0.05, 0.08, -0.1, 0.02, 0.11, -0.07];
    const cases: Array<{ d: number[]; steps: number; degree: number | null }> = [
      { d: [0.03, -0.02, 0.01, 0, -0.04, 0.02, 0.05, -0.01], steps: 2, degree: 4 },
      { d: medium, steps: 3, degree: 6 },
      // Degree 6 costs 3 + 1 products, as much as two Björck iterations (4): declined.
      { d: medium, steps: 2, degree: null },
      { d: medium.map((v) => 1.3 * v), steps: 3, degree: 8 },
      { d: [0.4, -0.45, 0.3, 0.2, -0.35, 0.1, 0.38, -0.2], steps: Infinity, degree: null },
    ];
    for (const { d, steps, degree } of cases) {
      const y = tf.tensor2d(make(d));
      const res = inverseSqrtPolynomial(y, steps);
      expect(res?.degree ?? null).toBe(degree);
      if (res != null) {
        const q = res.q.arraySync() as number[][];
        const yq2 = matmul(matmul(q, make(d)), q);
        const residual = Math.sqrt(yq2.flat().reduce((s, v, i) => s + (v - (Math.floor(i / 8) === i % 8 ? 1 : 0)) ** 2, 0));
        const s2 = Math.sqrt(d.reduce((s, di) => s + di ** 4, 0));
        expect(residual).toBeLessThan(0.65 * s2 ** ((res.degree + 1) / 2) + 1e-6);
        res.q.dispose();
      }
      y.dispose();
    }
  });
});

describe('SpectralDense fused training path', () => {
  const build = (optimizer: tf.Optimizer = tf.train.sgd(0.05)) => {
    const layer = spectralDense({ units: 6, inputShape: [20], kCoefLip: 1.3 });
    const model = tfl.sequential({ layers: [layer] });
    model.compile({ optimizer, loss: 'meanSquaredError' });
    return { layer, model };
  };
  const wBarOf = (layer: tfl.layers.Layer) => layer.weights.find((v) => v.name.endsWith('w_bar'))!;

  it('after a step, the first read gives W-bar = k polar(kernel after the step) (float64 oracle)', async () => {
    const { layer, model } = build();
    const x = tf.tensor2d(randomMatrix(8, 20, 41));
    const y = tf.tensor2d(randomMatrix(8, 6, 42));
    const kernelBefore = layer.getWeights()[0]!.arraySync() as number[][];
    await model.trainOnBatch(x, y);
    const kernelAfter = layer.getWeights()[0]!.arraySync() as number[][];
    const wBar = wBarOf(layer).read().arraySync() as number[][];
    const want = flat(polarFactor(kernelAfter)).map((v) => v * 1.3);
    const stale = flat(polarFactor(kernelBefore)).map((v) => v * 1.3);
    expect(maxAbsDiff(want, stale)).toBeGreaterThan(1e-2);
    expect(maxAbsDiff(flat(wBar), want)).toBeLessThan(1e-5);
    // Inference uses it.
    const pred = flat((model.predict(x) as tf.Tensor2D).arraySync() as number[][]);
    const bias = Array.from(layer.getWeights()[1]!.dataSync());
    const manual = flat(matmul(x.arraySync() as number[][], wBar)).map((v, i) => v + bias[i % 6]!);
    expect(maxAbsDiff(pred, manual)).toBeLessThan(1e-5);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('a training call on a moved kernel defers W-bar = k polar(kernel) to its first read (float64 oracle)', async () => {
    const { layer, model } = build();
    const x = tf.tensor2d(randomMatrix(8, 20, 45));
    const y = tf.tensor2d(randomMatrix(8, 6, 46));
    await model.trainOnBatch(x, y);
    // The optimizer moved the kernel and nothing read W-bar: this call takes the fused path and
    // defers its product (kernel . factor) instead of recomputing it on the read.
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      model.apply(x, { training: true });
    });
    expect(tf.memory().numTensors).toBe(before + 2);
    const kernel = layer.getWeights()[0]!.arraySync() as number[][];
    const wBar = wBarOf(layer).read().arraySync() as number[][];
    expect(tf.memory().numTensors).toBe(before);
    expect(maxAbsDiff(flat(wBar), flat(polarFactor(kernel)).map((v) => v * 1.3))).toBeLessThan(1e-5);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('lets setWeights replace a deferred W-bar, and releases it on dispose', async () => {
    const optimizer = tf.train.sgd(0.05);
    const before = tf.memory().numTensors;
    const { layer, model } = build(optimizer);
    const saved = layer.getWeights().map((t) => tf.clone(t));
    const x = tf.tensor2d(randomMatrix(8, 20, 43));
    const y = tf.tensor2d(randomMatrix(8, 6, 44));
    await model.trainOnBatch(x, y);
    layer.setWeights(saved);
    const names = layer.weights.map((v) => v.name);
    const wBarIndex = names.findIndex((nm) => nm.endsWith('w_bar'));
    expect(maxAbsDiff(Array.from(wBarOf(layer).read().dataSync()), Array.from(saved[wBarIndex]!.dataSync()))).toBe(0);
    await model.trainOnBatch(x, y);
    tf.dispose([x, y, ...saved]);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
    optimizer.dispose();
  });
});
