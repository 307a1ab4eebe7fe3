/**
 * The one table of tfjs activation identifiers: each one's certified Lipschitz constant (L2, the
 * largest |f'| rounded up) and, for those at most 1-Lipschitz, tfjs-layers' formula. Everything
 * else derives from it: `ACTIVATION_LIPSCHITZ` (public, the finite constants), the 1-Lipschitz
 * identifiers that the tfjs-lip layers accept (`checkActivation`), the identifiers the export
 * recognizes, and the bounds of built-in layers (`core/builtin_rules.ts`).
 *
 * Constants: selu = scale * alpha = 1.0507 * 1.6733; gelu, gelu_new, swish and mish peak slightly
 * above 1; softmax is 1/2-Lipschitz (its Jacobian diag(p) - p p^T has eigenvalues <= max 2 p_i
 * (1 - p_i)); hardSigmoid has slope 0.2; relu6 and elu (alpha 1) have slopes in [0, 1].
 * `exponential` and `logSoftmax` are not Lipschitz on their whole domain (Infinity).
 */
import * as tf from '@tensorflow/tfjs-core';
import { configError } from './errors';

/** One tfjs activation identifier. */
interface ActivationEntry {
  /** Certified Lipschitz constant (Infinity when there is none). */
  readonly lipschitz: number;
  /** tfjs-layers' formula, given for the 1-Lipschitz identifiers only (channels last). */
  readonly apply?: (x: tf.Tensor) => tf.Tensor;
}

/**
 * Every tfjs activation identifier. The 1-Lipschitz ones come first, in the order error messages
 * list them.
 */
const TFJS_ACTIVATION_TABLE: Readonly<Record<string, ActivationEntry>> = {
  linear: { lipschitz: 1, apply: (x) => x },
  relu: { lipschitz: 1, apply: (x) => tf.relu(x) },
  relu6: { lipschitz: 1, apply: (x) => tf.clipByValue(x, 0, 6) },
  sigmoid: { lipschitz: 0.25, apply: (x) => tf.sigmoid(x) },
  tanh: { lipschitz: 1, apply: (x) => tf.tanh(x) },
  softsign: { lipschitz: 1, apply: (x) => tf.div(x, tf.add(tf.abs(x), 1)) },
  softplus: { lipschitz: 1, apply: (x) => tf.softplus(x) },
  softmax: { lipschitz: 0.5, apply: (x) => tf.softmax(x, -1) },
  hardSigmoid: { lipschitz: 0.2, apply: (x) => tf.clipByValue(tf.add(tf.mul(x, 0.2), 0.5), 0, 1) },
  elu: { lipschitz: 1, apply: (x) => tf.elu(x) },
  selu: { lipschitz: 1.7581 },
  gelu: { lipschitz: 1.1291 },
  gelu_new: { lipschitz: 1.1291 },
  swish: { lipschitz: 1.1 },
  mish: { lipschitz: 1.0886 },
  exponential: { lipschitz: Infinity },
  logSoftmax: { lipschitz: Infinity },
};

/**
 * Certified Lipschitz constants of the tfjs activation identifiers that have one (largest |f'|,
 * rounded up); `exponential` and `logSoftmax` are absent (Infinity).
 */
export const ACTIVATION_LIPSCHITZ: Readonly<Record<string, number>> = Object.freeze(
  Object.fromEntries(
    Object.entries(TFJS_ACTIVATION_TABLE)
      .filter(([, entry]) => Number.isFinite(entry.lipschitz))
      .map(([name, entry]) => [name, entry.lipschitz]),
  ),
);

/** Every tfjs activation identifier, Lipschitz or not. */
export const TFJS_ACTIVATIONS: ReadonlySet<string> = new Set(Object.keys(TFJS_ACTIVATION_TABLE));

/**
 * The tfjs activation identifiers whose Lipschitz constant is at most 1, so that composing them
 * with a k-Lipschitz linear map keeps the bound k.
 */
export const ONE_LIPSCHITZ_ACTIVATIONS: readonly string[] = Object.freeze(
  Object.keys(TFJS_ACTIVATION_TABLE).filter((name) => TFJS_ACTIVATION_TABLE[name]!.lipschitz <= 1),
);

/** Lipschitz constant of a tfjs activation identifier (undefined/null mean linear); Infinity if unknown. */
export function activationLipschitz(identifier: unknown): number {
  if (identifier === undefined || identifier === null) return 1;
  if (typeof identifier !== 'string') return Infinity;
  return TFJS_ACTIVATION_TABLE[identifier]?.lipschitz ?? Infinity;
}

/**
 * Applies a 1-Lipschitz tfjs activation identifier with tfjs-layers' formula (softmax over the
 * last axis). Throws for any identifier outside {@link ONE_LIPSCHITZ_ACTIVATIONS}: the tfjs-lip
 * layers check theirs with `checkActivation` at construction.
 */
export function applyOneLipschitzActivation(identifier: string, x: tf.Tensor): tf.Tensor {
  const apply = TFJS_ACTIVATION_TABLE[identifier]?.apply;
  if (apply === undefined) {
    configError('activation', `a 1-Lipschitz activation (${ONE_LIPSCHITZ_ACTIVATIONS.map((a) => `'${a}'`).join(', ')})`, identifier);
  }
  return apply(x);
}
