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
 * of the two sets instead: tighter, iterative; this is its closed-form relaxation). The radius
 * `rho` (option `radius`): `'global'`, eps times the product of the certified bounds of the layers
 * before the head (`intervalBounds`' ball); `'local'` (default), the smaller of that and eps times
 * their certified local bound on the sample's ball (`chainLocalBound`, the seed's `r_tight`): the
 * ball is convex, so every point of it is joined to `x` by a segment inside it, along which that
 * sub-chain is `L_loc`-Lipschitz.
 *
 * Certification is monotone in epsilon: for eps1 < eps2 every box and ball of `intervalBounds` at
 * eps1 lies inside the one at eps2 (the input box and ball are nested; interval arithmetic of an
 * affine map and non-decreasing maps of nested boxes are nested; the ball radius is eps times a
 * constant; intersections of nested sets are nested), and the maximum of a linear function over a
 * set only grows with the set, so each bound is non-decreasing in eps: the samples certified at
 * eps2 are certified at eps1 (the local radius too: larger boxes keep more units, and a masked
 * norm only grows with the kept rows and columns, up to its float64 certificate's rounding), and
 * bisection on eps finds the certified radius
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
import { checkKnownKeys, checkOneOf, checkPositiveFinite, checkPositiveInt, optionNames } from '../core/validation';
import type { AffineParams } from './affine';
import { checkBatch, modelChain, type ChainLink } from './chain';
import { disposeBounds, intervalBounds, type LayerBounds } from './interval_bounds';
import { chainLocalBound } from './local_bound';
import { layerRule, type LayerRule } from './rules';
import { headBounds, largestOther } from './worst_case';

/**
 * The radius of the L2 ball around the head's input `h(x)`: `'local'` (default) the smaller of
 * `epsilon` times the certified local Lipschitz bound of the layers before the head on the
 * sample's ball (`lipschitzBound`'s certificate, Local-Lip's `r_tight`) and the global one;
 * `'global'` only `epsilon` times the product of the layers' certified global bounds (cheaper: no
 * float64 certificate per sample).
 */
export type HeadRadius = 'local' | 'global';

/** Options of `worstCaseLogits`. */
export interface WorstCaseArgs {
  /** The head's ball radius (default `'local'`). */
  radius?: HeadRadius;
}

/** Options of `certify` and `certifiedAccuracy`. */
export interface LocalCertifyArgs extends WorstCaseArgs {
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
  /** The head's ball radius (default `'local'`). */
  radius?: HeadRadius;
}

const WORST_OPTIONS = optionNames<WorstCaseArgs>({ radius: true });
const CERTIFY_OPTIONS = optionNames<LocalCertifyArgs>({ batchSize: true, radius: true });
const RADIUS_OPTIONS = optionNames<CertifiedRadiusArgs>({ low: true, high: true, tolerance: true, maxSteps: true, radius: true });
const HEAD_RADII: readonly HeadRadius[] = ['local', 'global'];
/** Relative margin that keeps a float64 radius above its float32 rounding. */
const FLOAT32_MARGIN = 1e-6;
const MAX_DOUBLINGS = 30;

/** The model's last layer, the affine head `z = W^T h + b`, and where it sits in the chain. */
export interface Head {
  /** Index of the head in the chain (0: it reads the model input). */
  index: number;
  params: AffineParams;
  classes: number;
  /** The whole chain and its rules (the head last). */
  links: ChainLink[];
  rules: LayerRule[];
}

/** The head of `model`, or a `LipschitzConfigError` naming the layer that cannot be one. */
export function modelHead(what: string, model: tfl.LayersModel): Head {
  const links = modelChain(what, model);
  const index = links.length - 1;
  const link = links[index];
  if (link === undefined) throw new LipschitzConfigError(`${what} expected a model with layers, but model '${model.name}' has none.`);
  const rules = links.map((l) => layerRule(what, l.layer));
  const rule = rules[index]!;
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
  return { index, params: rule.params, classes: rule.params.kernel.shape[1] as number, links, rules };
}

/** The model's logits at `x` (inference mode). */
function logitsAt(model: tfl.LayersModel, x: tf.Tensor): tf.Tensor2D {
  return model.apply(x, { training: false }) as tf.Tensor2D;
}

/**
 * Per sample, the head's ball radius `min(global, eps * L_loc)` with `L_loc` the certified local
 * bound of the layers before the head (aligned with the first `head.index` interval bounds),
 * rounded up into float32.
 */
function localRadii(head: Head, bounds: readonly LayerBounds[], batch: number, eps: number, global: number): Float32Array {
  const end = head.index;
  const local = chainLocalBound(head.links.slice(0, end), head.rules.slice(0, end), bounds.slice(0, end), batch, 0);
  return Float32Array.from(local.bound, (b) => Math.min(global, eps * b) * (1 + FLOAT32_MARGIN));
}

/**
 * The bounds of `z_j - z_y` for a batch (see the module comment); `y` one-hot [n, classes]. The
 * label column is 0. Owns and frees the `intervalBounds` result.
 */
function worstCaseBatch(model: tfl.LayersModel, head: Head, x: tf.Tensor, y: tf.Tensor2D, eps: number, radius: HeadRadius): tf.Tensor2D {
  const bounds = intervalBounds(model, x, eps);
  try {
    const before = head.index > 0 ? bounds[head.index - 1]! : null;
    const global = before === null ? eps : before.ballRadius;
    const local = before !== null && radius === 'local' ? localRadii(head, bounds, x.shape[0]!, eps, global) : null;
    return tf.tidy(() => {
      const lower = before === null ? tf.sub(x, eps) : before.lower;
      const upper = before === null ? tf.add(x, eps) : before.upper;
      const rho = local === null ? global : tf.tensor1d(local);
      const logits = local !== null || Number.isFinite(global) ? logitsAt(model, x) : null;
      return headBounds(head.params.kernel, head.params.bias, y, { lower, upper, logits, rho });
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
export function worstCaseLogits(model: tfl.LayersModel, x: tf.Tensor, labels: tf.Tensor, epsilon: number, options: WorstCaseArgs = {}): tf.Tensor2D {
  const what = 'lip.local.worstCaseLogits';
  const args = prepare(what, model, x, labels);
  const eps = checkPositiveFinite('epsilon', epsilon);
  checkKnownKeys(what, options, WORST_OPTIONS);
  const radius = headRadius(options);
  const y = oneHotRows(args.indices, args.head.classes);
  try {
    return worstCaseBatch(model, args.head, args.x, y, eps, radius);
  } finally {
    y.dispose();
  }
}

/** Per sample of one batch: `[correct at x, certified]` (every bound of a class j != y is < 0). */
function judgeBatch(model: tfl.LayersModel, head: Head, x: tf.Tensor, indices: Int32Array, eps: number, radius: HeadRadius): [boolean[], boolean[]] {
  const y = oneHotRows(indices, head.classes);
  try {
    const bound = worstCaseBatch(model, head, x, y, eps, radius);
    const [worst, predicted] = tf.tidy(() => [
      largestOther(bound, y),
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
  const radius = headRadius(options);
  const n = args.x.shape[0] as number;
  const correct: boolean[] = [];
  const certified: boolean[] = [];
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    const xb = sliceRows(args.x, start, size);
    try {
      const [c, k] = judgeBatch(model, args.head, xb, args.indices.subarray(start, start + size), eps, radius);
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

/** The checked `radius` option. */
function headRadius(options: WorstCaseArgs | undefined): HeadRadius {
  return checkOneOf('radius', options?.radius ?? 'local', HEAD_RADII);
}

/** The checked options of `certifiedRadius`. */
function radiusOptions(options: CertifiedRadiusArgs): { low: number; high: number | undefined; tolerance: number; maxSteps: number; radius: HeadRadius } {
  checkKnownKeys('lip.local.certifiedRadius', options, RADIUS_OPTIONS);
  const low = options?.low ?? 0;
  if (typeof low !== 'number' || !Number.isFinite(low) || low < 0) configError('low', 'a finite number >= 0', low);
  const high = options?.high === undefined ? undefined : checkPositiveFinite('high', options.high);
  if (high !== undefined && high <= low) configError('high', `a finite number > low (${low})`, high);
  const tolerance = checkPositiveFinite('tolerance', options?.tolerance ?? 1e-3);
  const maxSteps = checkPositiveInt('maxSteps', options?.maxSteps ?? 40);
  return { low, high, tolerance, maxSteps, radius: headRadius(options) };
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
      if (correct) radii[i] = bisect((eps) => judgeBatch(model, args.head, xi, label, eps, settings.radius)[1][0] === true, settings);
    } finally {
      xi.dispose();
    }
  }
  return radii;
}
