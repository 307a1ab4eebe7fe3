/**
 * Provable-robustness metrics against hand-computed float64 references (DEEL-LIP's definitions)
 * on small fixed logits, both certificate factors, categorical and binary.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as lip from '../src';
import { LipschitzConfigError } from '../src/core/errors';

const LOGITS = [
  [2.0, -0.5, 0.3], // label 0: margin 1.7
  [0.1, 0.4, 0.35], // label 1: margin 0.05
  [1.2, 0.2, -1.0], // label 2: misclassified, margin -2.2
  [-0.3, -0.3, 0.9], // label 2: margin 1.2
  [0.0, 0.6, 0.1], // label 1: margin 0.5
];
const LABELS = [0, 1, 2, 2, 1];
const ONE_HOT = LABELS.map((l) => [0, 1, 2].map((c) => (c === l ? 1 : 0)));
// Same labels in {-1, 1} (DEEL-LIP accepts both).
const PM_ONE = ONE_HOT.map((r) => r.map((v) => 2 * v - 1));

/** f_l - max_{i != l} f_i in float64. */
function refMargins(): number[] {
  return LOGITS.map((row, i) => {
    const l = LABELS[i]!;
    const others = row.filter((_, c) => c !== l);
    return row[l]! - Math.max(...others);
  });
}

const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;

function run(metric: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, yTrue: number[][], yPred: number[][]): number {
  return tf.tidy(() => metric(tf.tensor2d(yTrue), tf.tensor2d(yPred)).dataSync()[0]!);
}

describe('categorical metrics', () => {
  const margins = refMargins();

  it('robust accuracy = mean(margin / c > eps) for both certificate factors and both label codings', () => {
    for (const disjointNeurons of [true, false]) {
      for (const lipConst of [1, 2.5]) {
        for (const epsilon of [0, 0.01, 0.2, 0.5]) {
          const c = disjointNeurons ? 2 * lipConst : Math.sqrt(2) * lipConst;
          const expected = mean(margins.map((m) => (m / c > epsilon ? 1 : 0)));
          const metric = lip.metrics.categoricalProvableRobustAccuracy({ epsilon, lipConst, disjointNeurons });
          expect(run(metric, ONE_HOT, LOGITS)).toBeCloseTo(expected, 6);
          expect(run(metric, PM_ONE, LOGITS)).toBeCloseTo(expected, 6);
        }
      }
    }
  });

  it('hand-checked values: eps 0.2, L 1', () => {
    // margins 1.7, 0.05, -2.2, 1.2, 0.5; /2: 0.85, 0.025, -1.1, 0.6, 0.25 -> 3 of 5 above 0.2.
    expect(run(lip.metrics.categoricalProvableRobustAccuracy({ epsilon: 0.2 }), ONE_HOT, LOGITS)).toBeCloseTo(0.6, 6);
    // / sqrt 2: 1.202, 0.035, -1.556, 0.849, 0.354 -> 3 of 5.
    expect(run(lip.metrics.categoricalProvableRobustAccuracy({ epsilon: 0.36, disjointNeurons: false }), ONE_HOT, LOGITS)).toBeCloseTo(0.4, 6);
  });

  it('defaults follow DEEL-LIP: epsilon 36/255, lipConst 1, disjointNeurons true', () => {
    const metric = lip.metrics.categoricalProvableRobustAccuracy();
    expect(metric.getConfig()).toEqual({ epsilon: 36 / 255, lipConst: 1, disjointNeurons: true, name: 'CategoricalProvableRobustAccuracy' });
    const expected = mean(margins.map((m) => (m / 2 > 36 / 255 ? 1 : 0)));
    expect(run(metric, ONE_HOT, LOGITS)).toBeCloseTo(expected, 6);
  });

  it('average robustness: relu(margin) / c, or margin / c with negativeRobustness', () => {
    for (const disjointNeurons of [true, false]) {
      for (const negativeRobustness of [false, true]) {
        const lipConst = 1.7;
        const c = disjointNeurons ? 2 * lipConst : Math.sqrt(2) * lipConst;
        const expected = mean(margins.map((m) => (negativeRobustness ? m : Math.max(0, m)) / c));
        const metric = lip.metrics.categoricalProvableAvgRobustness({ lipConst, disjointNeurons, negativeRobustness });
        expect(run(metric, ONE_HOT, LOGITS)).toBeCloseTo(expected, 6);
        const per = tf.tidy(() => Array.from(metric.perSample(tf.tensor2d(ONE_HOT), tf.tensor2d(LOGITS)).dataSync()));
        per.forEach((v, i) => expect(v).toBeCloseTo((negativeRobustness ? margins[i]! : Math.max(0, margins[i]!)) / c, 6));
      }
    }
  });
});

describe('binary metrics', () => {
  const F = [0.8, -0.3, 0.05, -1.5, 0.4, -0.02];
  const Y01 = [1, 0, 0, 0, 1, 1]; // margins sign*f: 0.8, 0.3, -0.05, 1.5, 0.4, -0.02
  const YPM = Y01.map((v) => 2 * v - 1);
  const refDelta = F.map((f, i) => (Y01[i] === 1 ? f : -f));
  const col = (a: number[]) => a.map((v) => [v]);

  it('robust accuracy = mean(sign(y) f / L > eps), labels {0,1} and {-1,1}', () => {
    for (const lipConst of [1, 0.5, 3]) {
      for (const epsilon of [0, 0.1, 0.35]) {
        const expected = mean(refDelta.map((d) => (d / lipConst > epsilon ? 1 : 0)));
        const metric = lip.metrics.binaryProvableRobustAccuracy({ epsilon, lipConst });
        expect(run(metric, col(Y01), col(F))).toBeCloseTo(expected, 6);
        expect(run(metric, col(YPM), col(F))).toBeCloseTo(expected, 6);
      }
    }
    // Hand-checked: L 1, eps 0.35 -> 0.8, 1.5, 0.4 pass: 3/6.
    expect(run(lip.metrics.binaryProvableRobustAccuracy({ epsilon: 0.35 }), col(Y01), col(F))).toBeCloseTo(0.5, 6);
  });

  it('average robustness with and without negative robustness', () => {
    const lipConst = 2;
    for (const negativeRobustness of [false, true]) {
      const expected = mean(refDelta.map((d) => (negativeRobustness ? d : Math.max(0, d)) / lipConst));
      const metric = lip.metrics.binaryProvableAvgRobustness({ lipConst, negativeRobustness });
      expect(run(metric, col(Y01), col(F))).toBeCloseTo(expected, 6);
    }
    // Hand-checked: relu deltas 0.8+0.3+0+1.5+0.4+0 = 3.0 -> /6/2 = 0.25.
    expect(run(lip.metrics.binaryProvableAvgRobustness({ lipConst: 2 }), col(Y01), col(F))).toBeCloseTo(0.25, 6);
  });
});

describe('metrics in model.compile / evaluate', () => {
  it('are named in the logs and give the same value as standalone', async () => {
    const model = tfl.sequential({ layers: [tfl.layers.dense({ units: 3, inputShape: [3], useBias: false, kernelInitializer: 'identity' })] });
    const metric = lip.metrics.categoricalProvableRobustAccuracy({ epsilon: 0.2, name: 'rob_acc_02' });
    const avg = lip.metrics.categoricalProvableAvgRobustness({ disjointNeurons: false });
    model.compile({ optimizer: 'sgd', loss: 'meanSquaredError', metrics: [metric, avg] });
    const x = tf.tensor2d(LOGITS);
    const y = tf.tensor2d(ONE_HOT);
    const h = await model.fit(x, y, { epochs: 1, batchSize: 5, verbose: 0 });
    // The metric is logged under its name; computed before the (tiny) update on identity logits.
    expect(Object.keys(h.history)).toEqual(expect.arrayContaining(['rob_acc_02', 'CategoricalProvableAvgRobustness']));
    expect(h.history['rob_acc_02']![0]).toBeCloseTo(0.6, 5);
    const margins = refMargins();
    expect(h.history['CategoricalProvableAvgRobustness']![0]).toBeCloseTo(mean(margins.map((m) => Math.max(0, m) / Math.SQRT2)), 5);
    x.dispose();
    y.dispose();
    model.dispose();
  });

  it('does not leak tensors', () => {
    const metric = lip.metrics.categoricalProvableAvgRobustness();
    const yt = tf.tensor2d(ONE_HOT);
    const yp = tf.tensor2d(LOGITS);
    const before = tf.memory().numTensors;
    metric(yt, yp).dispose();
    metric.perSample(yt, yp).dispose();
    lip.metrics.binaryProvableRobustAccuracy()(tf.tidy(() => tf.ones([2, 1])), tf.tidy(() => tf.ones([2, 1]))).dispose();
    expect(tf.memory().numTensors).toBe(before + 2); // the two tf.ones tensors only
    yt.dispose();
    yp.dispose();
  });
});

describe('validation', () => {
  it.each([
    [() => lip.metrics.categoricalProvableRobustAccuracy({ epsilon: -0.1 }), /epsilon expected a finite number >= 0, but got -0.1/],
    [() => lip.metrics.categoricalProvableRobustAccuracy({ lipConst: 0 }), /lipConst expected a finite number > 0, but got 0/],
    [() => lip.metrics.binaryProvableRobustAccuracy({ lipConst: NaN }), /lipConst expected .* but got NaN/],
    [() => lip.metrics.categoricalProvableAvgRobustness({ disjointNeurons: 'yes' as unknown as boolean }), /disjointNeurons expected a boolean, but got 'yes'/],
    [() => lip.metrics.binaryProvableAvgRobustness({ negativeRobustness: 1 as unknown as boolean }), /negativeRobustness expected a boolean, but got 1/],
    [() => lip.metrics.binaryProvableAvgRobustness({ name: '' }), /name expected a non-empty string/],
  ])('%#', (make, message) => {
    expect(make).toThrow(LipschitzConfigError);
    expect(make).toThrow(message);
  });
});
