/**
 * Linear classifiers logits = x W + b for the attack tests, with their float64 oracles: logits,
 * the distance to each decision boundary (z_t - z_j) / ||w_t - w_j||_2, and a brute-force
 * nearest-neighbour distance.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { mulberry32 } from './random';

/** A linear classifier: W [d, classes] and b [classes] as float32 values, read in float64. */
export interface Linear {
  d: number;
  classes: number;
  /** Column j is w_j (row-major [d, classes]). */
  w: Float32Array;
  b: Float32Array;
}

/** Standard normal values (Box-Muller on mulberry32), rounded to float32. */
export function normals(count: number, seed: number, scale = 1): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: count }, () => scale * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()));
}

/** Uniform values in [low, high), rounded to float32. */
export function uniforms(count: number, seed: number, low: number, high: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: count }, () => low + (high - low) * r());
}

export function randomLinear(d: number, classes: number, seed: number, scale = 0.5): Linear {
  return { d, classes, w: normals(d * classes, seed, scale), b: normals(classes, seed + 1, 0.1) };
}

/** w_j as a float64 vector. */
export function column(m: Linear, j: number): number[] {
  return Array.from({ length: m.d }, (_, k) => m.w[k * m.classes + j] as number);
}

/** Float64 logits of one sample. */
export function logits64(m: Linear, x: ArrayLike<number>): number[] {
  return Array.from({ length: m.classes }, (_, j) => column(m, j).reduce((s, wk, k) => s + wk * (x[k] as number), m.b[j] as number));
}

export function argmax(v: number[]): number {
  return v.reduce((best, value, j) => (value > (v[best] as number) ? j : best), 0);
}

/** Distance (float64) from x to the boundary between its predicted class t and class j. */
export function boundaryDistance(m: Linear, x: ArrayLike<number>, t: number, j: number): number {
  const z = logits64(m, x);
  const diff = column(m, t).map((v, k) => v - (column(m, j)[k] as number));
  return ((z[t] as number) - (z[j] as number)) / Math.hypot(...diff);
}

/** The classifier as a tfjs LayersModel (one Dense layer on flat inputs). */
export function linearModel(m: Linear): tfl.LayersModel {
  const model = tfl.sequential({ layers: [tfl.layers.dense({ units: m.classes, inputShape: [m.d] })] });
  model.setWeights([tf.tensor2d(m.w, [m.d, m.classes]), tf.tensor1d(m.b)]);
  return model;
}

/** The classifier as a plain function of a batch [n, d]. */
export function linearFunction(m: Linear): (x: tf.Tensor) => tf.Tensor {
  const w = tf.keep(tf.tensor2d(m.w, [m.d, m.classes]));
  const b = tf.keep(tf.tensor1d(m.b));
  return (x) => tf.add(tf.matMul(tf.reshape(x, [-1, m.d]), w), b);
}

/** Brute-force float64 L2 distance of each test row to the nearest training row of another class. */
export function bruteForceNearest(xTest: Float32Array, yTest: number[], xTrain: Float32Array, yTrain: number[], dim: number): number[] {
  return yTest.map((label, i) => {
    let best = Infinity;
    yTrain.forEach((other, j) => {
      if (other === label) return;
      let s = 0;
      for (let k = 0; k < dim; k++) s += ((xTest[i * dim + k] as number) - (xTrain[j * dim + k] as number)) ** 2;
      best = Math.min(best, Math.sqrt(s));
    });
    return best;
  });
}
