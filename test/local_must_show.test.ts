/**
 * Issue 14's "Must show" items for `lip.local`, at the sizes the issue names:
 * (1) the local bound is never below the local constant found by an exhaustive oracle (every
 *     activation pattern reached by dense sampling in the ball, the largest float64 Jacobian norm
 *     over those patterns) on 200 random points of a ReLU network with input dimension 5, and
 *     never above the global bound;
 * (2) interval bounds contain every layer output of 10,000 samples in each ball;
 * (3) no sample `lip.local.certify` certifies (500 samples) changes label under PGD-L2 with 100
 *     steps and 5 restarts inside epsilon.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as local from '../src/local';
import { pgd } from '../src/attacks';
import { singularValuesOf } from '../src/linalg/svd';
import { lipschitzBound as globalBound } from '../src/model';
import { mulberry32 } from './helpers/random';

const DIM = 5;

const init = (seed: number, std = 0.6, bias = 0.4) => ({
  kernelInitializer: tfl.initializers.randomNormal({ mean: 0, stddev: std, seed }),
  biasInitializer: tfl.initializers.randomUniform({ minval: -bias, maxval: bias, seed: seed + 1 }),
});

/** A ReLU network 5-12-12-3 with seeded weights. */
function reluNetwork(seed: number): tfl.Sequential {
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ units: 12, activation: 'relu', inputShape: [DIM], ...init(seed) }),
      tfl.layers.dense({ units: 12, activation: 'relu', ...init(seed + 10) }),
      tfl.layers.dense({ units: 3, ...init(seed + 20) }),
    ],
  });
}

/** `n` points uniform in the L2 ball of radius `eps` around `c` (Gaussian direction, radius u^(1/d)). */
function ballSamples(r: () => number, c: number[], eps: number, n: number): number[][] {
  return Array.from({ length: n }, () => {
    const d = c.map(() => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r()));
    const len = Math.sqrt(d.reduce((s, v) => s + v * v, 0));
    const rad = eps * Math.pow(r(), 1 / c.length);
    return c.map((v, i) => v + (rad * d[i]!) / len);
  });
}

/** The float64 weights of the network's dense layers, `[rows = inputs][cols = units]`, and biases. */
function weights(model: tfl.Sequential): Array<{ w: number[][]; b: number[] }> {
  return model.layers.map((l) => {
    const [k, b] = l.getWeights();
    return { w: k!.arraySync() as number[][], b: Array.from(b!.dataSync()) };
  });
}

/** The activation pattern of `x` (one bit per hidden unit), as a string key. */
function pattern(ws: Array<{ w: number[][]; b: number[] }>, x: number[]): string {
  let h = x;
  let key = '';
  for (const { w, b } of ws.slice(0, -1)) {
    const z = b.map((bj, j) => bj + h.reduce((s, hi, i) => s + hi * w[i]![j]!, 0));
    key += z.map((v) => (v > 0 ? '1' : '0')).join('');
    h = z.map((v) => Math.max(v, 0));
  }
  return key;
}

/** The float64 spectral norm of the network's Jacobian on the linear region of `key`. */
function jacobianNorm(ws: Array<{ w: number[][]; b: number[] }>, key: string): number {
  // J = W_L^T D_{L-1} ... D_1 W_1^T, built as rows (outputs) x inputs.
  let j: number[][] = ws[0]!.w[0]!.map((_, unit) => ws[0]!.w.map((row) => row[unit]!));
  let offset = 0;
  for (let l = 1; l < ws.length; l++) {
    const units = j.length;
    const mask = key.slice(offset, offset + units);
    offset += units;
    const masked = j.map((row, u) => (mask[u] === '1' ? row : row.map(() => 0)));
    const w = ws[l]!.w;
    j = w[0]!.map((_, out) => masked[0]!.map((__, inp) => masked.reduce((s, row, u) => s + w[u]![out]! * row[inp]!, 0)));
  }
  return Math.max(...singularValuesOf(j.map((row) => Float64Array.from(row)), DIM));
}

describe('issue 14 must-show: the local bound against an exhaustive oracle (input dimension 5, 200 points)', () => {
  it('never below the largest Jacobian norm over the activation patterns sampled in the ball, never above the global bound', () => {
    const model = reluNetwork(3);
    const ws = weights(model);
    const r = mulberry32(5);
    const eps = 0.3;
    const points = Array.from({ length: 200 }, () => Array.from({ length: DIM }, () => 2 * r() - 1));
    const global = globalBound(model);
    const res = local.lipschitzBound(model, tf.tensor2d(points), eps);
    let below = 0;
    points.forEach((c, s) => {
      const patterns = new Set<string>();
      for (const x of [c, ...ballSamples(r, c, eps, 1500)]) patterns.add(pattern(ws, x));
      const oracle = Math.max(...[...patterns].map((key) => jacobianNorm(ws, key)));
      expect(res.bound[s]!).toBeGreaterThanOrEqual(oracle * (1 - 1e-6));
      expect(res.bound[s]!).toBeLessThanOrEqual(global * (1 + 1e-9));
      if (res.bound[s]! < 0.9 * global) below += 1;
    });
    // The point of the local bound: tighter than the global one for most points.
    expect(below).toBeGreaterThan(100);
    model.dispose();
  });
});

describe('issue 14 must-show: interval bounds contain every sampled activation (10,000 samples per ball)', () => {
  it('every layer output of 10,000 points in each of 3 balls lies within its bounds', () => {
    const model = reluNetwork(7);
    const r = mulberry32(9);
    const eps = 0.25;
    for (let ball = 0; ball < 3; ball++) {
      const c = Array.from({ length: DIM }, () => 2 * r() - 1);
      const bounds = local.intervalBounds(model, tf.tensor2d([c]), eps);
      const samples = tf.tensor2d(ballSamples(r, c, eps, 10_000));
      let h: tf.Tensor = samples;
      model.layers.forEach((layer, i) => {
        const next = layer.apply(h) as tf.Tensor;
        if (h !== samples) h.dispose();
        h = next;
        // Largest violation over the 10,000 samples and all units (0 when every output is inside).
        const [below, above] = tf.tidy(() => {
          const tol = (t: tf.Tensor) => tf.mul(tf.add(tf.abs(t), 1), 1e-5);
          const lower = bounds[i]!.lower;
          const upper = bounds[i]!.upper;
          return [
            tf.max(tf.sub(tf.sub(lower, tol(lower)), h)).dataSync()[0]!,
            tf.max(tf.sub(h, tf.add(upper, tol(upper)))).dataSync()[0]!,
          ];
        });
        expect({ layer: i, below: below <= 0, above: above <= 0 }).toEqual({ layer: i, below: true, above: true });
      });
      h.dispose();
      samples.dispose();
      local.disposeBounds(bounds);
    }
    model.dispose();
  });
});

describe('issue 14 must-show: a local certificate is never broken (500 samples, PGD-L2 100 steps x 5 restarts)', () => {
  it('no sample certify() certifies changes label inside epsilon', () => {
    const model = reluNetwork(11);
    const r = mulberry32(13);
    const x = tf.tensor2d(Array.from({ length: 500 }, () => Array.from({ length: DIM }, () => 2 * r() - 1)));
    const labels = Array.from((tf.argMax(model.predict(x) as tf.Tensor, 1) as tf.Tensor).dataSync());
    const eps = 0.05;
    const labelTensor = tf.tensor1d(labels, 'int32');
    const certified = local.certify(model, x, labelTensor, eps);
    const count = certified.filter(Boolean).length;
    // Enough certified samples for the check to mean something, and not all of them.
    expect(count).toBeGreaterThan(100);
    const attack = pgd({ epsilon: eps, norm: 'l2', steps: 100, restarts: 5, clip: null, seed: 3 });
    const adversarial = attack(model, x, labelTensor);
    const after = Array.from((tf.argMax(model.predict(adversarial) as tf.Tensor, 1) as tf.Tensor).dataSync());
    const broken = certified.map((c, i) => c && after[i] !== labels[i]).filter(Boolean).length;
    expect(broken).toBe(0);
    tf.dispose([x, adversarial, labelTensor]);
    model.dispose();
  });
});
