/**
 * `lip.losses.localLipschitzCertified`: Local-Lip's certified training loss,
 *
 *     kappa CE(z(x), y) + (1 - kappa) CE(z_worst(x), y)
 *
 * where `z_worst` is the worst-case logit vector over the L2 ball of radius `epsilon` around `x`
 * (`z_y` for the label, `z_y + bound_j` for every other class, the bounds from `training_pass.ts`),
 * with `epsilon` ramped from `startEpsilon` and `kappa` from `startKappa` by linear schedules in
 * the steps, as the seed's `train` does. `gloro: true` replaces the whole loss by the GloRo form:
 * the cross-entropy of `[z, max_{j != y} z_worst_j]` (a bottom class that wins when the sample is
 * not certified), the seed's `gloro_translation`. Use it with `lip.train.fit(model, x, y, {loss})`,
 * which gives each step the model, the batch, the schedule position and the samples' indices (the
 * power-iteration vectors are kept per training sample). Recipe and costs:
 * docs/local_lipschitz.md#certified-training.
 *
 * References: Y. Huang, H. Zhang, Y. Shi, J. Z. Kolter, A. Anandkumar, "Training Certifiably
 * Robust Neural Networks with Efficient Local Lipschitz Bounds", NeurIPS 2021 (Local_bound.py
 * `train`, `robust_loss`, `translation`, `gloro_translation`; train_mnist.py schedules).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { labelIndices, oneHotRows, softmaxCrossEntropy } from '../attacks/common';
import { configError } from '../core/errors';
import { checkBoolean, checkKnownKeys, checkNonNegativeInt, checkOneOf, checkPositiveFinite, checkPositiveInt, optionNames } from '../core/validation';
import { modelHead, type Head } from './certify';
import { SampleVectors } from './sample_vectors';
import { trainingPass, type TrainingBound } from './training_pass';
import { largestOther } from './worst_case';

/** Options of `localLipschitzCertified` (the seed's argument names in brackets). */
export interface LocalCertifiedLossArgs {
  /** Training radius reached after the ramp (`epsilon_train`; 1.58 in the seed's MNIST runs). Required. */
  epsilon: number;
  /** Weight of the clean cross-entropy reached after the ramp (`kappa`); default 0. */
  kappa?: number;
  /** Radius at the start of the ramp (`starting_epsilon`); default 0. */
  startEpsilon?: number;
  /** Clean weight at the start of the ramp (`starting_kappa`); default 1. */
  startKappa?: number;
  /** Epochs of plain cross-entropy before the ramp (`warmup`); default 0. */
  warmupEpochs?: number;
  /** Epochs over which epsilon and kappa move linearly to their final values (`rampup`); default 0: final values from the start. */
  rampEpochs?: number;
  /** The GloRo bottom-logit loss instead of the kappa mix (`gloro`); default false. */
  gloro?: boolean;
  /** `'local'` (default): the head's ball radius from the masked pieces; `'global'`: unmasked (a global-bound baseline). */
  bound?: TrainingBound;
  /** Power steps per piece and step (`sniter`); default 1. */
  iterations?: number;
  /** Keep each training sample's power vectors between epochs (needs `lip.train.fit`'s indices); default true. */
  warmStart?: boolean;
  /** Seed of the random start vectors; default 0. */
  seed?: number;
}

const OPTIONS = optionNames<LocalCertifiedLossArgs>({
  epsilon: true,
  kappa: true,
  startEpsilon: true,
  startKappa: true,
  warmupEpochs: true,
  rampEpochs: true,
  gloro: true,
  bound: true,
  iterations: true,
  warmStart: true,
  seed: true,
});

/** What the loss sees at each step (`lip.train.fit` fills in the schedule position and the indices). */
export interface CertifiedLossContext {
  model: tfl.LayersModel;
  x: tf.Tensor;
  y: tf.Tensor;
  /** The model's output on `x` in this step (the clean logits). */
  yPred: tf.Tensor;
  /** Epoch, batch in the epoch, batches per epoch: the schedule position (absent: final values). */
  epoch?: number;
  batch?: number;
  batches?: number;
  /** Positions of the batch's samples in the training set (absent: no per-sample warm start). */
  indices?: Int32Array;
}

/** The loss `lip.train.fit` accepts as its `loss` option. */
export interface LocalCertifiedLoss {
  (ctx: CertifiedLossContext): tf.Scalar;
  readonly lossName: string;
  /** Epsilon and kappa at a schedule position (epoch plus the fraction of it done). */
  schedule(progress: number): { epsilon: number; kappa: number };
  onBatchEnd(ctx: { batch: number }): Promise<void>;
  /** Means over the epoch so far: `epsilon`, `kappa` (current), `robust_loss`, `robust_acc` (certified by the training estimates). */
  logs(): Record<string, number>;
  dispose(): void;
  config(): Record<string, unknown>;
}

type Settings = Required<LocalCertifiedLossArgs>;

function checkFraction(name: string, value: unknown): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) configError(name, 'a number in [0, 1]', value);
  return value;
}

function settingsOf(args: LocalCertifiedLossArgs): Settings {
  checkKnownKeys('localLipschitzCertified', args, OPTIONS);
  const epsilon = checkPositiveFinite('epsilon', (args as Partial<LocalCertifiedLossArgs> | undefined)?.epsilon);
  const startEpsilon = args.startEpsilon ?? 0;
  if (typeof startEpsilon !== 'number' || !(startEpsilon >= 0 && startEpsilon <= epsilon)) {
    configError('startEpsilon', `a number in [0, epsilon = ${epsilon}]`, startEpsilon);
  }
  const seed = args.seed ?? 0;
  if (typeof seed !== 'number' || !Number.isInteger(seed)) configError('seed', 'an integer', seed);
  return {
    epsilon,
    kappa: checkFraction('kappa', args.kappa ?? 0),
    startEpsilon,
    startKappa: checkFraction('startKappa', args.startKappa ?? 1),
    warmupEpochs: checkNonNegativeInt('warmupEpochs', args.warmupEpochs ?? 0),
    rampEpochs: checkNonNegativeInt('rampEpochs', args.rampEpochs ?? 0),
    gloro: checkBoolean('gloro', args.gloro ?? false),
    bound: checkOneOf('bound', args.bound ?? 'local', ['local', 'global'] as const),
    iterations: checkPositiveInt('iterations', args.iterations ?? 1),
    warmStart: checkBoolean('warmStart', args.warmStart ?? true),
    seed,
  };
}

/** Epsilon and kappa at `progress` epochs: 0 / 1 in the warm-up, then linear over the ramp. */
function scheduleAt(s: Settings, progress: number): { epsilon: number; kappa: number } {
  if (progress < s.warmupEpochs) return { epsilon: 0, kappa: 1 };
  const t = s.rampEpochs === 0 ? 1 : Math.min(1, (progress - s.warmupEpochs) / s.rampEpochs);
  return { epsilon: s.startEpsilon + t * (s.epsilon - s.startEpsilon), kappa: s.startKappa + t * (s.kappa - s.startKappa) };
}

/** The GloRo loss: CE of `[z, z_y + max_{j != y} bound_j]` with the label y, per sample. */
function gloroLoss(z: tf.Tensor, bound: tf.Tensor, y: tf.Tensor): tf.Tensor {
  const zy = tf.sum(tf.mul(y, z), 1, true);
  const bottom = tf.add(zy, largestOther(bound, y, true));
  return tf.sub(tf.logSumExp(tf.concat([z, bottom], 1), 1), tf.reshape(zy, [-1]));
}

/** The last step's tensors, read back after the step (kept). */
interface Pending {
  /** Sample positions to store the vectors under (null: not stored). */
  indices: Int32Array | null;
  count: number;
  vectors: tf.Tensor[];
  robust: tf.Tensor;
  certified: tf.Tensor;
}

/** The host values of a `Pending`. */
type PendingValues = { rows: Float32Array[]; robust: number; certified: number };

/** The state of one loss: schedules, kept vectors, the epoch tally. */
class CertifiedLossState {
  readonly what = 'lip.losses.localLipschitzCertified';
  readonly store: SampleVectors;
  readonly layerVectors = new Map<tfl.layers.Layer, tf.Tensor>();
  shapes: number[][] | null = null;
  head: { model: tfl.LayersModel; head: Head } | null = null;
  pending: Pending | null = null;
  tally = { samples: 0, robustLoss: 0, certified: 0 };
  current: { epsilon: number; kappa: number };

  constructor(readonly s: Settings) {
    this.store = new SampleVectors(s.seed);
    this.current = scheduleAt(s, Infinity);
  }

  /** Moves the last step's vectors into the store and its values into the tally. */
  flush(values: PendingValues | null): void {
    const p = this.pending;
    if (p === null || values === null) return;
    if (p.indices !== null && p.vectors.length > 0) this.store.put(p.indices, values.rows, values.rows.map((r) => r.length / p.count));
    this.tally.samples += p.count;
    this.tally.robustLoss += values.robust * p.count;
    this.tally.certified += values.certified;
    tf.dispose([...p.vectors, p.robust, p.certified]);
    this.pending = null;
  }

  readSync(): PendingValues | null {
    const p = this.pending;
    if (p === null) return null;
    return { rows: p.vectors.map((v) => v.dataSync() as Float32Array), robust: p.robust.dataSync()[0]!, certified: p.certified.dataSync()[0]! };
  }

  async read(): Promise<PendingValues | null> {
    const p = this.pending;
    if (p === null) return null;
    const rows = await Promise.all(p.vectors.map(async (v) => (await v.data()) as Float32Array));
    return { rows, robust: (await p.robust.data())[0]!, certified: (await p.certified.data())[0]! };
  }

  /** The loss of one step (see the module comment), in the caller's tidy. */
  call(ctx: CertifiedLossContext): tf.Scalar {
    this.flush(this.readSync());
    const { model, x, yPred } = ctx;
    if (this.head === null || this.head.model !== model) this.head = { model, head: modelHead(this.what, model) };
    const { head } = this.head;
    const n = x.shape[0]!;
    const y = oneHotRows(labelIndices(`${this.what} y`, ctx.y, n, head.classes), head.classes);
    const progress = ctx.epoch === undefined ? Infinity : ctx.epoch + (ctx.batch ?? 0) / Math.max(1, ctx.batches ?? 1);
    this.current = scheduleAt(this.s, progress);
    const clean = tf.mean(softmaxCrossEntropy(y, yPred)) as tf.Scalar;
    if (this.current.epsilon === 0) {
      this.pending = { indices: null, count: n, vectors: [], robust: tf.keep(tf.clone(clean)), certified: tf.keep(tf.scalar(0)) };
      return clean;
    }
    return this.robustStep(ctx, head, y, clean);
  }

  private robustStep(ctx: CertifiedLossContext, head: Head, y: tf.Tensor, clean: tf.Scalar): tf.Scalar {
    const { s } = this;
    const keepVectors = s.warmStart && ctx.indices !== undefined;
    const start = keepVectors && this.shapes !== null ? this.store.get(ctx.indices!, this.shapes) : null;
    const options = { bound: s.bound, iterations: s.iterations, start, seed: s.seed, layerVectors: this.layerVectors };
    const pass = trainingPass(this.what, head, ctx.x, y, this.current.epsilon, options);
    this.shapes = pass.shapes;
    tf.dispose(start ?? []);
    const robust = tf.mean(s.gloro ? gloroLoss(pass.logits, pass.bound, y) : softmaxCrossEntropy(y, pass.bound)) as tf.Scalar;
    const certified = tf.sum(tf.cast(tf.less(largestOther(pass.bound, y), 0), 'float32'));
    if (!keepVectors) tf.dispose(pass.vectors);
    const vectors = keepVectors ? pass.vectors : [];
    this.pending = { indices: keepVectors ? ctx.indices! : null, count: ctx.x.shape[0]!, vectors, robust: tf.keep(tf.clone(robust)), certified: tf.keep(certified) };
    if (s.gloro) return robust;
    return tf.add(tf.mul(clean, this.current.kappa), tf.mul(robust, 1 - this.current.kappa)) as tf.Scalar;
  }

  logs(): Record<string, number> {
    const n = Math.max(1, this.tally.samples);
    return { epsilon: this.current.epsilon, kappa: this.s.gloro ? 0 : this.current.kappa, robust_loss: this.tally.robustLoss / n, robust_acc: this.tally.certified / n };
  }

  dispose(): void {
    const p = this.pending;
    if (p !== null) tf.dispose([...p.vectors, p.robust, p.certified]);
    this.pending = null;
    tf.dispose([...this.layerVectors.values()]);
    this.layerVectors.clear();
    this.store.clear();
    this.shapes = null;
  }
}

/**
 * Local-Lip's certified training loss (see the module comment and {@link LocalCertifiedLossArgs}).
 * Throws `LipschitzConfigError` for a bad option; at the first call, for a model the local bounds
 * do not support (naming the layer) or labels that do not fit.
 */
export function localLipschitzCertified(args: LocalCertifiedLossArgs): LocalCertifiedLoss {
  const state = new CertifiedLossState(settingsOf(args));
  const loss = (ctx: CertifiedLossContext): tf.Scalar => state.call(ctx);
  return Object.assign(loss, {
    lossName: 'localLipschitzCertified',
    schedule: (progress: number) => scheduleAt(state.s, progress),
    async onBatchEnd(ctx: { batch: number }): Promise<void> {
      if (ctx.batch === 0) state.tally = { samples: 0, robustLoss: 0, certified: 0 };
      const p = state.pending;
      const values = await state.read();
      if (state.pending === p) state.flush(values);
    },
    logs: () => state.logs(),
    dispose: () => state.dispose(),
    config: (): Record<string, unknown> => ({ ...state.s }),
  });
}
