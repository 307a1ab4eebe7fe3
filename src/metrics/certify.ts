/**
 * Certified L2 robustness radii of a Lipschitz classifier.
 *
 * For a classifier f that is L-Lipschitz in L2 (as a map from inputs to the logit vector), the
 * prediction at x cannot change within the L2 ball of radius
 *
 *     r(x) = (f_top1(x) - f_top2(x)) / (sqrt(2) * L)
 *
 * because each difference f_i - f_j is sqrt(2) * L-Lipschitz. When every output neuron is
 * separately L-Lipschitz (a last `FrobeniusDense` with `disjointNeurons: true`, DEEL-LIP's
 * `disjoint_neurons=True`) the only bound on f_i - f_j is 2L, and the radius is
 * margin / (2 * L). For a single-output (binary) model the radius is |f(x)| / L.
 *
 * References: Tsuzuku et al., Lipschitz-Margin Training (NeurIPS 2018); Serrurier et al.,
 * Achieving robustness in classification using optimal transport with hinge regularization
 * (CVPR 2021), https://arxiv.org/abs/2006.06520.
 */
import * as tf from '@tensorflow/tfjs-core';
import { configError, describeValue, LipschitzConfigError } from '../core/errors';
import { checkBoolean, checkKnownKeys, checkOneOf, checkPositiveFinite, checkPositiveInt, optionNames } from '../core/validation';
import * as modelApi from '../model';
import { warnIfUnchecked } from '../model/check';
import { assertFiniteWeights } from '../model/finite';

/** Options of `certify`. */
export interface CertifyArgs {
  /** Lipschitz constant L of the model; default `lipschitzBound(model)`. */
  lipConst?: number;
  /**
   * True when each output neuron is separately L-Lipschitz (model ending with a FrobeniusDense
   * with `disjointNeurons: true`): radius = margin / (2L). Default false: margin / (sqrt(2) L).
   */
  disjointNeurons?: boolean;
  /** Number of samples pushed through the model at once (bounds memory). Default 256. */
  batchSize?: number;
  /**
   * The norm of the radius: `'l2'` (default) or `'linf'`: then L defaults to
   * `lipschitzBound(model, {norm: 'linf'})` (or is `lipConst`, an L-infinity to L-infinity
   * constant) and the radius is margin / (2L) (see `certify`).
   */
  norm?: 'l2' | 'linf';
}

const CERTIFY_OPTIONS = optionNames<CertifyArgs>({ lipConst: true, disjointNeurons: true, batchSize: true, norm: true });
const CERTIFY_LOGITS_OPTIONS = optionNames<Pick<CertifyArgs, 'lipConst' | 'disjointNeurons'>>({ lipConst: true, disjointNeurons: true });

/** Anything with a tfjs-layers style `predict` returning one tensor. */
export interface Predictor {
  predict(x: tf.Tensor, args?: unknown): tf.Tensor | tf.Tensor[];
}

/** The divisor of the margin: 2L (disjoint neurons) or sqrt(2) L. */
export function certificateFactor(lipConst: number, disjointNeurons: boolean): number {
  return disjointNeurons ? 2 * lipConst : Math.SQRT2 * lipConst;
}

/**
 * Certified radii from a batch of model outputs `yPred` ([n, classes], or [n, 1] / [n] for a
 * binary model): top-1 margin / factor for several classes, |f(x)| / L for one output. Returns
 * a new 1-D tensor owned by the caller. Labels are not used: this certifies the prediction.
 */
export function certifyLogits(
  yPred: tf.Tensor,
  args: { lipConst?: number; disjointNeurons?: boolean } = {},
): tf.Tensor1D {
  checkKnownKeys('certifyLogits', args, CERTIFY_LOGITS_OPTIONS);
  if (!(yPred instanceof tf.Tensor)) configError('certifyLogits yPred', 'a tf.Tensor of model outputs [batch, classes]', yPred);
  const lipConst = checkPositiveFinite('lipConst', args.lipConst ?? 1);
  const disjoint = checkBoolean('disjointNeurons', args.disjointNeurons ?? false);
  return tf.tidy(() => {
    const classes = yPred.rank === 1 ? 1 : (yPred.shape[yPred.rank - 1] as number);
    const flat = tf.reshape(yPred, [-1, classes]);
    if (classes === 1) return tf.div(tf.abs(tf.reshape(flat, [-1])), lipConst) as tf.Tensor1D;
    const { values } = tf.topk(flat, 2);
    const top = tf.unstack(values, 1);
    const margin = tf.sub(top[0] as tf.Tensor, top[1] as tf.Tensor);
    return tf.div(margin, certificateFactor(lipConst, disjoint)) as tf.Tensor1D;
  });
}

/** The model's certified Lipschitz bound through `lipschitzBound` of src/model, if available. */
function modelLipschitzBound(model: unknown, norm: 'l2' | 'linf'): number | undefined {
  const fn = (modelApi as unknown as Record<string, unknown>)['lipschitzBound'];
  if (typeof fn !== 'function') return undefined;
  const value = norm === 'l2' ? (fn as (m: unknown) => unknown)(model) : (fn as (m: unknown, a: unknown) => unknown)(model, { norm });
  return typeof value === 'number' ? value : undefined;
}

/**
 * Certified L2 radius of each sample of `x` (prediction unchanged within this radius): returns a
 * `Float32Array` of length `x.shape[0]` (plain memory, nothing to dispose).
 *
 * radius = (top1 - top2) / (sqrt(2) L), or / (2 L) with `disjointNeurons: true`; |f(x)| / L for
 * a single-output model. L is `lipConst` or, by default, `lipschitzBound(model)`. The model is
 * run on slices of `batchSize` samples.
 *
 * With `norm: 'linf'` the radius is an L-infinity one and L bounds the model from L-infinity to
 * L-infinity (default `lipschitzBound(model, {norm: 'linf'})`): within ||x' - x||_inf <= eps
 * every logit moves by at most L eps, so a difference f_i - f_j by at most 2 L eps, and the top
 * class stays while 2 L eps < margin: radius = margin / (2L) (|f(x)| / L for one output).
 */
export function certify(model: Predictor, x: tf.Tensor, args: CertifyArgs = {}): Float32Array {
  assertFiniteWeights(model, 'certify');
  checkKnownKeys('certify', args, CERTIFY_OPTIONS);
  warnIfUnchecked(model, 'lip.certify');
  const disjoint = checkBoolean('disjointNeurons', args.disjointNeurons ?? false);
  const batchSize = checkPositiveInt('batchSize', args.batchSize ?? 256);
  const norm = checkOneOf('certify norm', args.norm ?? 'l2', ['l2', 'linf'] as const);
  checkPredictor(model);
  checkBatch(model, x);
  let lipConst = args.lipConst;
  if (lipConst === undefined) {
    lipConst = modelLipschitzBound(model, norm);
    if (lipConst === undefined) {
      configError('lipConst', "a finite number > 0 (the model's lipschitzBound is not available)", undefined);
    }
    if (Number.isNaN(lipConst)) {
      configError('lipConst', 'a finite number > 0 (lipschitzBound(model) is NaN: the model computes NaN)', lipConst);
    }
    if (!Number.isFinite(lipConst)) {
      configError('lipConst', "a finite number > 0 (lipschitzBound(model) is not finite: a layer has no certified bound; pass lipConst)", lipConst);
    }
  }
  checkPositiveFinite('lipConst', lipConst);
  const n = x.shape[0] as number;
  const radii = new Float32Array(n);
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    const part = tf.tidy(() => {
      const begin = x.shape.map((_, i) => (i === 0 ? start : 0));
      const shape = x.shape.map((d, i) => (i === 0 ? size : d));
      const xb = tf.slice(x, begin, shape);
      const out = model.predict(xb);
      const y = Array.isArray(out) ? out[0] : out;
      if (y === undefined) configError('model', 'a model with one output', out);
      return certifyLogits(y, { lipConst, disjointNeurons: disjoint || norm === 'linf' });
    });
    radii.set(part.dataSync() as Float32Array, start);
    part.dispose();
  }
  const bad = radii.findIndex((r) => Number.isNaN(r));
  if (bad >= 0) {
    throw new Error(
      `certify: the prediction for sample ${bad} of x is not finite (radius NaN) although every weight of the model is; ` +
        'x holds NaN or Infinity there (or values so large that the logits overflow).',
    );
  }
  return radii;
}

/** `model` must have a `predict` method (a tfjs LayersModel, or any `Predictor`). */
function checkPredictor(model: unknown): asserts model is Predictor {
  if (typeof (model as { predict?: unknown } | null)?.predict !== 'function') {
    configError('certify model', 'a tfjs LayersModel (tf.sequential / tf.model / lip.sequential) or an object with predict()', model);
  }
}

/**
 * `x` must be a tensor with a batch dimension; for a LayersModel, of the model's input rank with
 * the model's per-sample dimensions (a single sample, one dimension short, gets a hint).
 */
function checkBatch(model: Predictor, x: unknown): asserts x is tf.Tensor {
  const expected = 'a batch tensor [batch, ...inputShape] (a tf.Tensor; wrap arrays with tf.tensor())';
  if (!(x instanceof tf.Tensor)) configError('certify x', expected, x);
  if (x.rank < 1) configError('certify x', expected, x);
  const inputs = (model as { inputs?: Array<{ shape?: Array<number | null> }> }).inputs;
  const wanted = Array.isArray(inputs) && inputs.length === 1 ? inputs[0]?.shape : undefined;
  if (wanted === undefined) return;
  const sample = wanted.slice(1);
  const matches = x.rank === wanted.length && sample.every((d, i) => d === null || d === x.shape[i + 1]);
  if (matches) return;
  const shapeText = `[batch, ${sample.map((d) => (d === null ? '?' : d)).join(', ')}]`;
  const oneSample = x.rank === sample.length && sample.every((d, i) => d === null || d === x.shape[i]);
  throw new LipschitzConfigError(
    `certify x expected a batch tensor of shape ${shapeText} (the model's input), but got ${describeValue(x)}` +
      (oneSample ? '; for one sample use tf.expandDims(x, 0).' : '.'),
  );
}
