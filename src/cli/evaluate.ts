/**
 * Evaluation of a trained classifier as a config asks: clean accuracy, certified accuracy at a
 * list of L2 radii and the mean certificate (global bound, `lip.certify`), attacks
 * (`lip.attacks.robustAccuracy`), the certified Lipschitz bound and an empirical estimate, and
 * Local-Lip certified accuracy. Every figure is a fraction or a number in input units.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Attack } from '../attacks/types';
import { robustAccuracy } from '../attacks';
import { evaluateLipConst } from '../evaluation';
import { certifiedAccuracy as localCertifiedAccuracy } from '../local';
import { certify } from '../metrics/certify';
import { lipschitzBound } from '../model';
import { build, withSeed } from './registry';
import type { RunConfig } from './schema';

/** The figures of one run (no timings: those live apart, so that seeded runs compare equal). */
export interface EvaluationResults {
  testSamples: number;
  cleanAccuracy?: number;
  lipschitzBound?: number | null;
  empiricalLipschitz?: number | null;
  meanCertificate?: number;
  certifiedAccuracy?: Record<string, number>;
  attacks?: Record<string, number>;
  localCertifiedAccuracy?: Record<string, number>;
  notes?: string[];
}

function predictedClasses(model: tfl.LayersModel, x: tf.Tensor): Int32Array {
  return tf.tidy(() => tf.argMax(model.predict(x, { batchSize: 500 }) as tf.Tensor, 1).dataSync() as Int32Array);
}

function tryNumber(notes: string[], what: string, f: () => number): number | null {
  try {
    return f();
  } catch (error) {
    notes.push(`${what}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
    return null;
  }
}

function certifiedFigures(model: tfl.LayersModel, x: tf.Tensor, labels: Int32Array, predicted: Int32Array, radii: number[], out: EvaluationResults): void {
  const certificates = certify(model, x, { batchSize: 500 });
  out.meanCertificate = certificates.reduce((s, r) => s + r, 0) / certificates.length;
  out.certifiedAccuracy = {};
  for (const r of radii) {
    let count = 0;
    certificates.forEach((c, i) => {
      if (predicted[i] === labels[i] && (r === 0 || c >= r)) count++;
    });
    out.certifiedAccuracy[String(r)] = count / labels.length;
  }
}

function attackFigures(run: RunConfig, model: tfl.LayersModel, x: tf.Tensor, labelTensor: tf.Tensor): Record<string, number> {
  const out: Record<string, number> = {};
  run.evaluation.attacks.forEach((spec, i) => {
    const attack = build<Attack>('attack', `evaluation.attacks[${i}].name`, spec.name, withSeed(spec.name, spec.args, run.seed));
    out[spec.label ?? spec.name] = robustAccuracy(model, x, labelTensor, attack, { batchSize: 500 });
  });
  return out;
}

/** Evaluates `model` on the first `evaluation.samples` test images. */
export function evaluateClassifier(run: RunConfig, model: tfl.LayersModel, xTest: tf.Tensor, labelsTest: Int32Array): EvaluationResults {
  const ev = run.evaluation;
  const n = Math.min(ev.samples ?? labelsTest.length, labelsTest.length);
  const x = n === labelsTest.length ? xTest : tf.slice(xTest, 0, n);
  const labels = labelsTest.slice(0, n);
  const labelTensor = tf.tensor1d(Array.from(labels), 'int32');
  const out: EvaluationResults = { testSamples: n };
  const notes: string[] = [];
  try {
    const predicted = predictedClasses(model, x);
    if (ev.cleanAccuracy) out.cleanAccuracy = predicted.filter((p, i) => p === labels[i]).length / n;
    if (ev.lipschitz.bound) out.lipschitzBound = tryNumber(notes, 'lipschitzBound', () => lipschitzBound(model));
    if (ev.lipschitz.empirical) {
      const sample = tf.slice(x, 0, Math.min(n, 64));
      out.empiricalLipschitz = tryNumber(notes, 'evaluateLipConst', () => evaluateLipConst(model, sample, { seed: run.seed, numSamples: 4, numSteps: 5 }).value);
      sample.dispose();
    }
    if (ev.certifiedRadii.length > 0) {
      tryNumber(notes, 'certify', () => (certifiedFigures(model, x, labels, predicted, ev.certifiedRadii, out), 0));
    }
    if (ev.attacks.length > 0) out.attacks = attackFigures(run, model, x, labelTensor);
    if (ev.localCertifiedRadii.length > 0) {
      out.localCertifiedAccuracy = Object.fromEntries(ev.localCertifiedRadii.map((r) => [String(r), localCertifiedAccuracy(model, x, labelTensor, r)]));
    }
  } finally {
    labelTensor.dispose();
    if (x !== xTest) x.dispose();
  }
  if (notes.length > 0) out.notes = notes;
  return out;
}
