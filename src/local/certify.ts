/**
 * Local certification of a classifier (`lip.local`, Local-Lip, issue 14): the worst-case logit
 * differences over the L2 ball around each sample, the per-sample certificate, the certified
 * accuracy and the certified radius found by bisection.
 *
 * The model must end with its last affine layer, a dense one with a linear activation on a flat
 * input `h` (the penultimate representation): `z = W^T h + b`. `intervalBounds` gives, over the
 * ball of radius `epsilon` around `x`, a box `[l, u]` (center `c`, radius `r`) and an L2 ball
 * (center `mu = h(x)`, radius `rho`) that both hold every `h`. Over each, the largest value of the
 * affine function `z_j - z_y = d . h + (b_j - b_y)`, `d = w_j - w_y`, is exact:
 *
 *     box:  d . c + |d| . r + (b_j - b_y)
 *     ball: d . mu + (b_j - b_y) + rho ||d||_2  =  z_j(x) - z_y(x) + rho ||d||_2
 *
 * and both are sound, so their minimum is (the seed's `BCP_translation` searches the intersection
 * of the two sets instead: tighter, iterative; this is its closed-form relaxation).
 *
 * Certification is monotone in epsilon: for eps1 < eps2 every box and ball of `intervalBounds` at
 * eps1 lies inside the one at eps2 (the input box and ball are nested; interval arithmetic of an
 * affine map and non-decreasing maps of nested boxes are nested; the ball radius is eps times a
 * constant; intersections of nested sets are nested), and the maximum of a linear function over a
 * set only grows with the set, so each bound is non-decreasing in eps: the samples certified at
 * eps2 are certified at eps1, and bisection on eps finds the certified radius
 * (test/local_certify.test.ts checks it on a grid, where float32 rounding could break ties).
 *
 * Never weaker than `lip.certify` (margin > sqrt(2) L eps, L = `lipschitzBound`): `rho` is eps times
 * the product of the same certified layer bounds over the layers before the head, and
 * `||w_j - w_y|| <= sqrt(2) ||W||_2 <=` sqrt(2) times the head's bound, so the ball bound is at most
 * `z_j - z_y + sqrt(2) L eps`, which is < 0 for every j when the global certificate holds.
 *
 * References: Y. Huang, H. Zhang, Y. Shi, J. Z. Kolter, A. Anandkumar, "Training Certifiably
 * Robust Neural Networks with Efficient Local Lipschitz Bounds", NeurIPS 2021 (Local_bound.py,
 * `BCP_translation`, `translation`, `evaluate`).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { labelIndices, oneHotRows } from '../attacks/common';
import { sliceRows } from '../attacks/robust_accuracy';
import { configError, LipschitzConfigError } from '../core/errors';
import { checkKnownKeys, checkPositiveFinite, checkPositiveInt, optionNames } from '../core/validation';
import type { AffineParams } from './affine';
import { checkBatch, modelChain } from './chain';
import { disposeBounds, intervalBounds } from './interval_bounds';
import { layerRule } from './rules';

/** Options of `certify` and `certifiedAccuracy`. */
export interface LocalCertifyArgs {
  /** Samples bounded at once (the bounds hold `batchSize * classes * hidden` floats). Default 128. */
  batchSize?: number;
}

/** Options of `certifiedRadius`. */
export interface CertifiedRadiusArgs {
  /** Lower end of the search, certified by assumption when the sample is classified correctly. Default 0. */
  low?: number;
  /**
   * Upper end of the search: a sample certified there gets `high`. Default: doubled from 1 while
   * the sample stays certified (at most 30 times).
   */
  high?: number;
  /** Bisection stops when the bracket is this narrow. Default 1e-3. */
  tolerance?: number;
  /** At most this many bisection steps per sample. Default 40. */
  maxSteps?: number;
}

const CERTIFY_OPTIONS = optionNames<LocalCertifyArgs>({ batchSize: true });
const RADIUS_OPTIONS = optionNames<CertifiedRadiusArgs>({ low: true, high: true, tolerance: true, maxSteps: true });
const MAX_DOUBLINGS = 30;

/** The model's last layer, the affine head `z = W^T h + b`, and where it sits in the chain. */
interface Head {
  /** Index of the head in the chain (0: it reads the model input). */
  index: number;
  params: AffineParams;
  classes: number;
}

/** The head of `model`, or a `LipschitzConfigError` naming the layer that cannot be one. */
function modelHead(what: string, model: tfl.LayersModel): Head {
  const links = modelChain(what, model);
  const index = links.length - 1;
  const link = links[index];
  if (link === undefined) throw new LipschitzConfigError(`${what} expected a model with layers, but model '${model.name}' has none.`);
  const rule = layerRule(what, link.layer);
  const name = `layer '${link.layer.name}' (${link.layer.getClassName()})`;
  const why =
    rule.kind !== 'affine' || rule.params.kind !== 'dense'
      ? 'it is not a dense layer'
      : rule.params.activation !== 'linear'
        ? `its activation is '${rule.params.activation}' (the logits must be affine in the layer input)`
        : link.inputShape.length !== 2
          ? `its input has rank ${link.inputShape.length} (flatten it first)`
          : (rule.params.kernel.shape[1] as number) < 2
            ? 'it has fewer than 2 units'
            : null;
  if (why !== null || rule.kind !== 'affine') {
    throw new LipschitzConfigError(`${what}: the last layer must be a dense layer with a linear activation on a flat input and >= 2 units (the logits), but ${name}: ${why}.`);
  }
  return { index, params: rule.params, classes: rule.params.kernel.shape[1] as number };
}

/** The model's logits at `x` (inference mode). */
function logitsAt(model: tfl.LayersModel, x: tf.Tensor): tf.Tensor2D {
  return model.apply(x, { training: false }) as tf.Tensor2D;
}

/**
 * The bounds of `z_j - z_y` for a batch (see the module comment); `y` one-hot [n, classes]. The
 * label column is 0. Owns and frees the `intervalBounds` result.
 */
function worstCaseBatch(model: tfl.LayersModel, head: Head, x: tf.Tensor, y: tf.Tensor2D, eps: number): tf.Tensor2D {
  const bounds = intervalBounds(model, x, eps);
  try {
    const before = head.index > 0 ? bounds[head.index - 1]! : null;
    return tf.tidy(() => {
      const lower = before === null ? tf.sub(x, eps) : before.lower;
      const upper = before === null ? tf.add(x, eps) : before.upper;
      const rho = before === null ? eps : before.ballRadius;
      const wT = tf.transpose(head.params.kernel); // [classes, hidden]: row j is w_j
      const diff = tf.sub(tf.expandDims(wT, 0), tf.expandDims(tf.matMul(y, wT), 1)); // [n, classes, hidden]
      const along = (d: tf.Tensor, v: tf.Tensor) => tf.squeeze(tf.matMul(d as tf.Tensor3D, tf.expandDims(v, 2) as tf.Tensor3D), [2]);
      const center = tf.div(tf.add(lower, upper), 2);
      const radius = tf.div(tf.sub(upper, lower), 2);
      let bound = tf.add(along(diff, center), along(tf.abs(diff), radius));
      if (head.params.bias !== null) {
        const b = tf.expandDims(head.params.bias, 0);
        bound = tf.add(bound, tf.sub(b, tf.sum(tf.mul(y, b), 1, true)));
      }
      if (Number.isFinite(rho)) {
        const z = logitsAt(model, x);
        // ||d|| is 0 in the label column; the floor keeps its gradient finite (and only raises the bound).
        const reach = tf.mul(tf.sqrt(tf.maximum(tf.sum(tf.square(diff), 2), 1e-30)), rho);
        bound = tf.minimum(bound, tf.add(tf.sub(z, tf.sum(tf.mul(y, z), 1, true)), reach));
      }
      return tf.where(tf.greater(y, 0), tf.zerosLike(bound), bound) as tf.Tensor2D;
    });
  } finally {
    disposeBounds(bounds);
  }
}

/** The checked arguments every entry point shares: the head, the batch, the label indices. */
function prepare(what: string, model: tfl.LayersModel, x: unknown, labels: unknown): { head: Head; x: tf.Tensor; indices: Int32Array } {
  const head = modelHead(what, model);
  const batch = checkBatch(model, x);
  const n = batch.shape[0] as number;
  if (n < 1) configError(`${what} x`, 'a batch of at least one sample', x);
  return { head, x: batch, indices: labelIndices(`${what} labels`, labels, n, head.classes) };
}

/**
 * For each sample of `x` and each class `j`, a certified upper bound of `z_j - z_y` over the L2
 * ball of radius `epsilon` around the sample (`y` its label): a new tensor [batch, classes] the
 * caller owns, whose label column is 0 (the bound of `z_y - z_y`). Read as logits, it is the
 * worst-case logit vector of Local-Lip: the cross-entropy of these logits is the robust loss (the
 * seed's `translation` shifted by `-z_y`), and `argmax` is the label only when every other entry
 * is < 0, i.e. when the sample is certified. `labels`: class indices [batch] or one-hot rows
 * [batch, classes]. The whole batch is bounded at once. The last layer's `W` is read from its
 * inference kernel (for tfjs-lip layers the cached W-bar, a non-trainable weight: no gradient
 * reaches the trainable kernel through it). Throws `LipschitzConfigError` for a model whose last
 * layer is not a linear dense head, an unsupported layer, bad `x`, `labels` or `epsilon`.
 */
export function worstCaseLogits(model: tfl.LayersModel, x: tf.Tensor, labels: tf.Tensor, epsilon: number): tf.Tensor2D {
  const what = 'lip.local.worstCaseLogits';
  const args = prepare(what, model, x, labels);
  const eps = checkPositiveFinite('epsilon', epsilon);
  const y = oneHotRows(args.indices, args.head.classes);
  try {
    return worstCaseBatch(model, args.head, args.x, y, eps);
  } finally {
    y.dispose();
  }
}

/** Per sample of one batch: `[correct at x, certified]` (every bound of a class j != y is < 0). */
function judgeBatch(model: tfl.LayersModel, head: Head, x: tf.Tensor, indices: Int32Array, eps: number): [boolean[], boolean[]] {
  const y = oneHotRows(indices, head.classes);
  try {
    const bound = worstCaseBatch(model, head, x, y, eps);
    const [worst, predicted] = tf.tidy(() => [
      tf.max(tf.where(tf.greater(y, 0), tf.fill(bound.shape, -Infinity), bound), 1),
      tf.argMax(logitsAt(model, x), 1),
    ]);
    bound.dispose();
    const worstValues = worst!.dataSync() as Float32Array;
    const predictedValues = predicted!.dataSync();
    tf.dispose([worst!, predicted!]);
    const correct = Array.from(indices, (label, i) => predictedValues[i] === label);
    return [correct, Array.from(worstValues, (w) => w < 0)];
  } finally {
    y.dispose();
  }
}

/** `[correct, certified]` for every sample, `batchSize` samples at a time. */
function judgeAll(what: string, model: tfl.LayersModel, x: tf.Tensor, labels: tf.Tensor, epsilon: number, options: LocalCertifyArgs): [boolean[], boolean[]] {
  const args = prepare(what, model, x, labels);
  const eps = checkPositiveFinite('epsilon', epsilon);
  checkKnownKeys(what, options, CERTIFY_OPTIONS);
  const batchSize = checkPositiveInt('batchSize', options?.batchSize ?? 128);
  const n = args.x.shape[0] as number;
  const correct: boolean[] = [];
  const certified: boolean[] = [];
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    const xb = sliceRows(args.x, start, size);
    try {
      const [c, k] = judgeBatch(model, args.head, xb, args.indices.subarray(start, start + size), eps);
      correct.push(...c);
      certified.push(...k);
    } finally {
      xb.dispose();
    }
  }
  return [correct, certified];
}

/**
 * Per sample of `x`: true when every bound of `worstCaseLogits` for a class other than the label
 * is < 0, i.e. the prediction is the label everywhere in the L2 ball of radius `epsilon` (a
 * certified sample is classified correctly). Plain booleans, nothing to dispose; `batchSize`
 * samples are bounded at a time.
 */
export function certify(model: tfl.LayersModel, x: tf.Tensor, labels: tf.Tensor, epsilon: number, options: LocalCertifyArgs = {}): boolean[] {
  return judgeAll('lip.local.certify', model, x, labels, epsilon, options)[1];
}

/**
 * Fraction of the samples of `x` classified correctly at `x` and certified at `epsilon` (the
 * certified accuracy; Local-Lip's `1 - robust_err`), computed `batchSize` samples at a time.
 */
export function certifiedAccuracy(model: tfl.LayersModel, x: tf.Tensor, labels: tf.Tensor, epsilon: number, options: LocalCertifyArgs = {}): number {
  const [correct, certified] = judgeAll('lip.local.certifiedAccuracy', model, x, labels, epsilon, options);
  return correct.filter((c, i) => c && certified[i]).length / correct.length;
}

/** The checked options of `certifiedRadius`. */
function radiusOptions(options: CertifiedRadiusArgs): { low: number; high: number | undefined; tolerance: number; maxSteps: number } {
  checkKnownKeys('lip.local.certifiedRadius', options, RADIUS_OPTIONS);
  const low = options?.low ?? 0;
  if (typeof low !== 'number' || !Number.isFinite(low) || low < 0) configError('low', 'a finite number >= 0', low);
  const high = options?.high === undefined ? undefined : checkPositiveFinite('high', options.high);
  if (high !== undefined && high <= low) configError('high', `a finite number > low (${low})`, high);
  const tolerance = checkPositiveFinite('tolerance', options?.tolerance ?? 1e-3);
  const maxSteps = checkPositiveInt('maxSteps', options?.maxSteps ?? 40);
  return { low, high, tolerance, maxSteps };
}

/** The certified radius of one correctly classified sample by bisection on `(low, high]`. */
function bisect(certifiedAt: (eps: number) => boolean, settings: ReturnType<typeof radiusOptions>): number {
  let lo = settings.low;
  if (lo > 0 && !certifiedAt(lo)) return 0;
  let hi = settings.high ?? Math.max(1, 2 * lo);
  if (settings.high === undefined) {
    for (let k = 0; k < MAX_DOUBLINGS && certifiedAt(hi); k++) [lo, hi] = [hi, 2 * hi];
  }
  if (certifiedAt(hi)) return hi;
  for (let step = 0; step < settings.maxSteps && hi - lo > settings.tolerance; step++) {
    const mid = (lo + hi) / 2;
    if (certifiedAt(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * Per sample of `x`, the largest epsilon found by bisection at which `certify` holds (a radius at
 * which the sample is certified, within `tolerance` of the largest one, or `high` when it is
 * certified there); 0 for a misclassified sample, or one not certified at `low > 0`. Valid because
 * certification is monotone in epsilon (module comment). Float64 values, so that a radius is never
 * rounded up past the certified one. Cost: one bound pass of one sample per bisection step.
 */
export function certifiedRadius(model: tfl.LayersModel, x: tf.Tensor, labels: tf.Tensor, options: CertifiedRadiusArgs = {}): Float64Array {
  const what = 'lip.local.certifiedRadius';
  const args = prepare(what, model, x, labels);
  const settings = radiusOptions(options);
  const n = args.x.shape[0] as number;
  const radii = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const xi = sliceRows(args.x, i, 1);
    const label = args.indices.subarray(i, i + 1);
    try {
      const predicted = tf.tidy(() => tf.argMax(logitsAt(model, xi), 1));
      const correct = predicted.dataSync()[0] === label[0];
      predicted.dispose();
      if (correct) radii[i] = bisect((eps) => judgeBatch(model, args.head, xi, label, eps)[1][0] === true, settings);
    } finally {
      xi.dispose();
    }
  }
  return radii;
}
