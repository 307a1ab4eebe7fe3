/**
 * Provable-robustness metrics of DEEL-LIP (deel/lip/metrics.py), as tfjs metric functions
 * `(yTrue, yPred) => scalar` usable in `model.compile({metrics: [...]})` or standalone.
 *
 * With M(x) the signed margin of the true label l,
 *   categorical: M(x) = f_l(x) - max_{i != l} f_i(x)   (labels one-hot, in {0,1} or {-1,1});
 *   binary:      M(x) = sign(y - 0.001) * f(x)        (labels in {0,1} or {-1,1});
 * and the certificate factor c = 2 L (`disjointNeurons: true`, DEEL-LIP's default) or sqrt(2) L
 * for categorical metrics, c = L for binary ones:
 *   ProvableRobustAccuracy = mean( M(x) / c > epsilon )
 *   ProvableAvgRobustness  = mean( phi(M(x)) / c ), phi = identity if `negativeRobustness`,
 *                            else relu (misclassified samples count as radius 0).
 *
 * References: Serrurier et al., https://arxiv.org/abs/2006.06520 and
 * https://arxiv.org/abs/2108.04062.
 */
import * as tf from '@tensorflow/tfjs-core';
import { configError } from '../core/errors';
import { checkBoolean, checkKnownKeys, checkPositiveFinite, optionNames } from '../core/validation';
import { certificateFactor } from './certify';

/** DEEL-LIP's default radius for the robust accuracies: 36/255. */
export const DEFAULT_ROBUST_EPSILON = 36 / 255;

/** A metric: mean over the batch of a per-sample value. Also callable standalone. */
export interface ProvableMetric {
  (yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar;
  /** The per-sample values (before the mean), a new 1-D tensor. */
  perSample(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor1D;
  /** DEEL-LIP class name (`CategoricalProvableRobustAccuracy`, ...). */
  readonly className: string;
  /** The settings, as given to the factory (tfjs casing). */
  getConfig(): Record<string, number | boolean | string>;
}

/**
 * Non-normalized multiclass margin f_l(x) - max_{i != l} f_i(x) of one-hot labels (entries > 0
 * mark the true class). Returns a new [n] tensor.
 */
export function deltaMulticlass(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const classes = yPred.shape[yPred.rank - 1] as number;
    const pred = tf.reshape(yPred, [-1, classes]);
    const isTrue = tf.greater(tf.reshape(yTrue, [-1, classes]), 0);
    const trueScore = tf.sum(tf.where(isTrue, pred, tf.zerosLike(pred)), -1);
    const otherMax = tf.max(tf.where(isTrue, tf.fill(pred.shape, -Infinity), pred), -1);
    return tf.sub(trueScore, otherMax) as tf.Tensor1D;
  });
}

/** Non-normalized binary margin sign(y - 0.001) * f(x), flattened to [n]. */
export function deltaBinary(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const sign = tf.sign(tf.sub(tf.cast(tf.reshape(yTrue, [-1]), 'float32'), 1e-3));
    return tf.mul(sign, tf.reshape(yPred, [-1])) as tf.Tensor1D;
  });
}

function checkEpsilon(value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    configError('epsilon', 'a finite number >= 0', value);
  }
  return value;
}

function checkName(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) configError('name', 'a non-empty string', value);
  return value;
}

function makeMetric(
  className: string,
  name: string,
  config: Record<string, number | boolean | string>,
  perSample: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor1D,
): ProvableMetric {
  const fn = (yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar => tf.tidy(() => tf.mean(perSample(yTrue, yPred)) as tf.Scalar);
  // tfjs names a metric function after `fn.name` in the logs and history.
  Object.defineProperty(fn, 'name', { value: name });
  const metric = fn as ProvableMetric;
  Object.defineProperty(metric, 'className', { value: className });
  metric.perSample = perSample;
  metric.getConfig = () => ({ ...config, name });
  return metric;
}

/** Options of `categoricalProvableRobustAccuracy`. */
export interface CategoricalProvableRobustAccuracyArgs {
  /** Radius at which the accuracy is certified. Default 36/255. */
  epsilon?: number;
  /** Lipschitz constant of the network. Default 1. */
  lipConst?: number;
  /** True (DEEL-LIP's default) when the model ends with a FrobeniusDense with disjoint neurons: factor 2L; false: sqrt(2) L. */
  disjointNeurons?: boolean;
  /** Metric name in logs. Default 'CategoricalProvableRobustAccuracy'. */
  name?: string;
}

const CATEGORICAL_ROBUST_ACCURACY_OPTIONS = optionNames<CategoricalProvableRobustAccuracyArgs>({
  epsilon: true,
  lipConst: true,
  disjointNeurons: true,
  name: true,
});

/** Fraction of samples classified correctly with a certified radius > epsilon. */
export function categoricalProvableRobustAccuracy(args: CategoricalProvableRobustAccuracyArgs = {}): ProvableMetric {
  checkKnownKeys('categoricalProvableRobustAccuracy', args, CATEGORICAL_ROBUST_ACCURACY_OPTIONS);
  const epsilon = checkEpsilon(args.epsilon ?? DEFAULT_ROBUST_EPSILON);
  const lipConst = checkPositiveFinite('lipConst', args.lipConst ?? 1);
  const disjointNeurons = checkBoolean('disjointNeurons', args.disjointNeurons ?? true);
  const name = checkName(args.name ?? 'CategoricalProvableRobustAccuracy');
  const factor = certificateFactor(lipConst, disjointNeurons);
  return makeMetric('CategoricalProvableRobustAccuracy', name, { epsilon, lipConst, disjointNeurons }, (yTrue, yPred) =>
    tf.tidy(() => tf.cast(tf.greater(tf.div(deltaMulticlass(yTrue, yPred), factor), epsilon), 'float32') as tf.Tensor1D),
  );
}

/** Options of `binaryProvableRobustAccuracy`. */
export interface BinaryProvableRobustAccuracyArgs {
  /** Radius at which the accuracy is certified. Default 36/255. */
  epsilon?: number;
  /** Lipschitz constant of the network. Default 1. */
  lipConst?: number;
  /** Metric name in logs. Default 'BinaryProvableRobustAccuracy'. */
  name?: string;
}

const BINARY_ROBUST_ACCURACY_OPTIONS = optionNames<BinaryProvableRobustAccuracyArgs>({ epsilon: true, lipConst: true, name: true });

/** Fraction of samples classified correctly (sign of the single output) with |f(x)| / L > epsilon. */
export function binaryProvableRobustAccuracy(args: BinaryProvableRobustAccuracyArgs = {}): ProvableMetric {
  checkKnownKeys('binaryProvableRobustAccuracy', args, BINARY_ROBUST_ACCURACY_OPTIONS);
  const epsilon = checkEpsilon(args.epsilon ?? DEFAULT_ROBUST_EPSILON);
  const lipConst = checkPositiveFinite('lipConst', args.lipConst ?? 1);
  const name = checkName(args.name ?? 'BinaryProvableRobustAccuracy');
  return makeMetric('BinaryProvableRobustAccuracy', name, { epsilon, lipConst }, (yTrue, yPred) =>
    tf.tidy(() => tf.cast(tf.greater(tf.div(deltaBinary(yTrue, yPred), lipConst), epsilon), 'float32') as tf.Tensor1D),
  );
}

/** Options of `categoricalProvableAvgRobustness`. */
export interface CategoricalProvableAvgRobustnessArgs {
  /** Lipschitz constant of the network. Default 1. */
  lipConst?: number;
  /** True (DEEL-LIP's default): factor 2L; false: sqrt(2) L. */
  disjointNeurons?: boolean;
  /** True: misclassified samples count with their negative radius; false (default): as 0. */
  negativeRobustness?: boolean;
  /** Metric name in logs. Default 'CategoricalProvableAvgRobustness'. */
  name?: string;
}

const CATEGORICAL_AVG_ROBUSTNESS_OPTIONS = optionNames<CategoricalProvableAvgRobustnessArgs>({
  lipConst: true,
  disjointNeurons: true,
  negativeRobustness: true,
  name: true,
});

/** Mean certified radius (misclassified samples: 0, or negative with `negativeRobustness`). */
export function categoricalProvableAvgRobustness(args: CategoricalProvableAvgRobustnessArgs = {}): ProvableMetric {
  checkKnownKeys('categoricalProvableAvgRobustness', args, CATEGORICAL_AVG_ROBUSTNESS_OPTIONS);
  const lipConst = checkPositiveFinite('lipConst', args.lipConst ?? 1);
  const disjointNeurons = checkBoolean('disjointNeurons', args.disjointNeurons ?? true);
  const negativeRobustness = checkBoolean('negativeRobustness', args.negativeRobustness ?? false);
  const name = checkName(args.name ?? 'CategoricalProvableAvgRobustness');
  const factor = certificateFactor(lipConst, disjointNeurons);
  return makeMetric(
    'CategoricalProvableAvgRobustness',
    name,
    { lipConst, disjointNeurons, negativeRobustness },
    (yTrue, yPred) =>
      tf.tidy(() => {
        const delta = deltaMulticlass(yTrue, yPred);
        return tf.div(negativeRobustness ? delta : tf.relu(delta), factor) as tf.Tensor1D;
      }),
  );
}

/** Options of `binaryProvableAvgRobustness`. */
export interface BinaryProvableAvgRobustnessArgs {
  /** Lipschitz constant of the network. Default 1. */
  lipConst?: number;
  /** True: misclassified samples count with their negative radius; false (default): as 0. */
  negativeRobustness?: boolean;
  /** Metric name in logs. Default 'BinaryProvableAvgRobustness'. */
  name?: string;
}

const BINARY_AVG_ROBUSTNESS_OPTIONS = optionNames<BinaryProvableAvgRobustnessArgs>({
  lipConst: true,
  negativeRobustness: true,
  name: true,
});

/** Mean certified radius |f(x)| / L of a binary model (misclassified: 0, or negative). */
export function binaryProvableAvgRobustness(args: BinaryProvableAvgRobustnessArgs = {}): ProvableMetric {
  checkKnownKeys('binaryProvableAvgRobustness', args, BINARY_AVG_ROBUSTNESS_OPTIONS);
  const lipConst = checkPositiveFinite('lipConst', args.lipConst ?? 1);
  const negativeRobustness = checkBoolean('negativeRobustness', args.negativeRobustness ?? false);
  const name = checkName(args.name ?? 'BinaryProvableAvgRobustness');
  return makeMetric('BinaryProvableAvgRobustness', name, { lipConst, negativeRobustness }, (yTrue, yPred) =>
    tf.tidy(() => {
      const delta = deltaBinary(yTrue, yPred);
      return tf.div(negativeRobustness ? delta : tf.relu(delta), lipConst) as tf.Tensor1D;
    }),
  );
}
