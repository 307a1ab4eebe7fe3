/**
 * Predictions do not depend on stray training-mode calls (issue 11, 8(d)): the cached W-bar
 * belongs to the kernel as it is now. After `fit`, W-bar is the orthonormalization of the final
 * kernel (float64 polar-factor oracle), not of the kernel before the last optimizer step; a call
 * with `training: true` on an unchanged kernel changes no prediction (bit for bit); and a stray
 * call before the first predict moves W-bar only within the orthogonalizer's tolerance.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { spectralConv2d } from '../src/layers/convolutional';
import { spectralDense } from '../src/layers/dense';
import { groupSort2 } from '../src/activations';
import { sequential } from '../src/model';
import { polarFactor, transpose } from './helpers/dense';
import { maxAbsDiff, predictArray, seededValues } from './helpers/model_fixtures';

const N = 32;

/** Seeded initial kernels: the same training run on every test run. */
const seeded = (seed: number) => tfl.initializers.glorotUniform({ seed });

function mlp(orthogonalizer: 'bjorck' | 'none' | 'polar'): tfl.Sequential {
  return sequential({
    layers: [
      spectralDense({ units: 8, inputShape: [6], orthogonalizer, kernelInitializer: seeded(1) }),
      groupSort2(),
      spectralDense({ units: 3, orthogonalizer, kernelInitializer: seeded(2) }),
    ],
  });
}

function cnn(): tfl.Sequential {
  return sequential({
    layers: [
      spectralConv2d({ filters: 4, kernelSize: 3, inputShape: [6, 6, 1] }),
      groupSort2(),
      tfl.layers.flatten(),
      spectralDense({ units: 3 }),
    ],
  });
}

function dataFor(model: tfl.LayersModel, seed: number): { x: tf.Tensor; y: tf.Tensor } {
  const shape = [N, ...(model.inputs[0]!.shape.slice(1) as number[])];
  const size = shape.reduce((p, d) => p * d, 1);
  const x = tf.tensor(seededValues(size, seed), shape);
  const labels = Array.from(seededValues(N, seed + 1), (v) => Math.floor((v + 1) * 1.5) % 3);
  return { x, y: tf.oneHot(tf.tensor1d(labels, 'int32'), 3) };
}

/** Softmax cross-entropy on the logits (tfjs' 'categoricalCrossentropy' expects probabilities). */
const logitLoss = (yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor => tf.losses.softmaxCrossEntropy(yTrue, yPred);

async function train(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor, callbacks: tfl.Callback[] = []): Promise<void> {
  model.compile({ optimizer: tf.train.sgd(0.5), loss: logitLoss });
  await model.fit(x, y, { epochs: 3, batchSize: 8, shuffle: false, verbose: 0, callbacks });
}

/** One call in training mode whose output is thrown away. */
function strayTrainingCall(model: tfl.LayersModel, x: tf.Tensor): void {
  tf.tidy(() => {
    model.apply(x, { training: true });
  });
}

describe('stray training-mode calls', () => {
  it.each([['bjorck'], ['none']] as const)('%s MLP: a training call after predict changes no prediction, bit for bit', async (orthogonalizer) => {
    const model = mlp(orthogonalizer);
    const { x, y } = dataFor(model, 11);
    await train(model, x, y);
    const before = predictArray(model, x);
    strayTrainingCall(model, x);
    strayTrainingCall(model, x);
    expect(maxAbsDiff(predictArray(model, x), before)).toBe(0);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('CNN: the same for spectralConv2d', async () => {
    const model = cnn();
    const { x, y } = dataFor(model, 12);
    await train(model, x, y);
    const before = predictArray(model, x);
    strayTrainingCall(model, x);
    expect(maxAbsDiff(predictArray(model, x), before)).toBe(0);
    tf.dispose([x, y]);
    model.dispose();
  });

  it("after fit, W-bar is the final kernel's polar factor (float64 oracle), not the one before the last step", async () => {
    // The exact orthogonalizer, so that W-bar is a function of the kernel alone.
    const model = mlp('polar');
    const layer = model.layers[0]!;
    const { x, y } = dataFor(model, 13);
    let lastBatchKernel: number[][] = [];
    const snapshot = new (class extends tfl.Callback {
      override async onBatchBegin(): Promise<void> {
        lastBatchKernel = layer.getWeights()[0]!.arraySync() as number[][];
      }
    })();
    await train(model, x, y, [snapshot]);
    const kernel = layer.getWeights()[0]!.arraySync() as number[][];
    const wBar = layer.weights.find((w) => w.originalName.endsWith('w_bar'))!.read().arraySync() as number[][];
    const now = polarFactor(kernel);
    const stale = polarFactor(lastBatchKernel);
    expect(maxAbsDiff(now, stale)).toBeGreaterThan(4e-3); // the last step moved the polar factor
    expect(maxAbsDiff(wBar, now)).toBeLessThan(1e-5);
    // The polar factor's characterization, checked directly: W-bar^T K is symmetric.
    const g = transpose(wBar).map((row) => kernel[0]!.map((_, j) => row.reduce((s, v, i) => s + v * kernel[i]![j]!, 0)));
    const asym = Math.max(...g.flatMap((row, i) => row.map((v, j) => Math.abs(v - g[j]![i]!))));
    expect(asym).toBeLessThan(1e-5 * Math.max(...g.flat().map(Math.abs)));
    tf.dispose([x, y]);
    model.dispose();
  });

  it('a stray call between fit and the first predict moves predictions only within the orthogonalizer tolerance', async () => {
    const a = mlp('bjorck');
    const b = mlp('bjorck');
    b.setWeights(a.getWeights());
    const { x, y } = dataFor(a, 14);
    await train(a, x, y);
    await train(b, x, y);
    strayTrainingCall(b, x);
    const pa = predictArray(a, x);
    const pb = predictArray(b, x);
    expect(maxAbsDiff(pa, pb)).toBeLessThan(1e-4);
    const argmax = (rows: number[][]) => rows.map((r) => r.indexOf(Math.max(...r)));
    expect(argmax(pb)).toEqual(argmax(pa));
    tf.dispose([x, y]);
    a.dispose();
    b.dispose();
  });

  it('no tensor is leaked by the recomputation after fit or by stray calls', async () => {
    const model = mlp('bjorck');
    const { x, y } = dataFor(model, 15);
    await train(model, x, y);
    predictArray(model, x);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      await model.fit(x, y, { epochs: 1, batchSize: 8, verbose: 0 });
      strayTrainingCall(model, x);
      predictArray(model, x);
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
    model.dispose();
  });
});
