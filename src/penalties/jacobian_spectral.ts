/**
 * LNets' Jacobian spectral-norm penalty (`lnets/models/regularization/spec_jac.py`, used by its
 * `JacSpecClassificationModel`): `lambda * sigma` (or `lambda * sigma^2` with `squared`), where
 * `sigma` estimates the spectral norm of the input-output Jacobian by ONE power step per update,
 * the output-space vector `u` being kept between steps (one per penalty, shared by the batch):
 *
 *   v_i = J_i^T u / ||J_i^T u||                         (per sample, by a vector-Jacobian product)
 *   w   = (1/n) sum_i J_i v_i                           (by the double-VJP trick, see below)
 *   u  <- w / ||w||,   sigma = u . w = ||w||
 *
 * tfjs has no Jacobian-vector product: `w` is the gradient w.r.t. `u` of `<g(u), v>`, where
 * `g(u) = grad_x <mean_i f(x_i), u>` (rows `(1/n) J_i^T u`) is linear in `u`. As in LNets, `u`
 * and `v` are constants for the training gradient; it is taken through the equal form
 * `sigma = <grad_x <mean_i f(x_i), u>, v>` (u the updated vector), so training differentiates the
 * model twice, as `gradientNorm({method: 'exact'})`, and the same check of tfjs' second
 * derivatives runs once per model. Formula, defaults and sources:
 * docs/training_methods.md#jacobian-spectral-norm.
 *
 * References: C. Anil, J. Lucas, R. Grosse, "Sorting Out Lipschitz Function Approximation",
 * ICML 2019 (appendix); github.com/cemanil/LNets.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { configError } from '../core/errors';
import { checkBoolean, checkKnownKeys, checkPositiveFinite, optionNames } from '../core/validation';
import { flatRows, makePenalty, modelFunction, stopGradient } from './common';
import type { PenaltyCallContext, PenaltyFunction } from './types';

/** Options of `lip.penalties.jacobianSpectral`. */
export interface JacobianSpectralArgs {
  /** Weight of the term (LNets' `sn_reg`); default 0.05 (its `fc_classification_spec_jac.json`). */
  lambda?: number;
  /** Penalize `sigma^2` rather than `sigma` (default false: LNets adds `sn_reg * sigma`). */
  squared?: boolean;
  /** Seed of the initial random `u` (LNets: `torch.randn`); an integer, default 0. */
  seed?: number;
}

const JACOBIAN_SPECTRAL_OPTIONS = optionNames<JacobianSpectralArgs>({ lambda: true, squared: true, seed: true });

/** The defaults (docs/training_methods.md gives the source of each). */
export const JACOBIAN_SPECTRAL_DEFAULTS: Readonly<Required<JacobianSpectralArgs>> = Object.freeze({
  lambda: 0.05,
  squared: false,
  seed: 0,
});

const OWNER = 'lip.penalties.jacobianSpectral';
/** Floor of the norms divided by (PyTorch's `F.normalize` default). */
const NORMALIZE_EPS = 1e-12;

function resolveArgs(args: JacobianSpectralArgs | undefined): Required<JacobianSpectralArgs> {
  checkKnownKeys(OWNER, args, JACOBIAN_SPECTRAL_OPTIONS);
  const given = Object.fromEntries(Object.entries(args ?? {}).filter(([, v]) => v !== undefined));
  const a = { ...JACOBIAN_SPECTRAL_DEFAULTS, ...given } as Required<JacobianSpectralArgs>;
  checkPositiveFinite('lambda', a.lambda);
  checkBoolean('squared', a.squared);
  if (typeof a.seed !== 'number' || !Number.isInteger(a.seed)) configError('seed', 'an integer', a.seed);
  return a;
}

/** What the penalty keeps between steps. */
interface JacobianState {
  model: tfl.LayersModel | null;
  /** The output-space vector of the next step (shape of one output sample). */
  u: tf.Tensor | null;
  /** The `u` and `v` of the previous step: its tape may reference them until the next call. */
  retired: tf.Tensor[];
  /** The estimate of the last step (for the logs). */
  sigma: tf.Scalar | null;
  draws: number;
}

function release(state: JacobianState): void {
  tf.dispose([...state.retired, ...[state.u, state.sigma].filter((t): t is tf.Tensor => t !== null)]);
  state.u = null;
  state.retired = [];
  state.sigma = null;
}

/** `[n, d]` rows scaled to unit l2 norm (rows of zeros stay zero). */
function unitRows(rows: tf.Tensor2D): tf.Tensor2D {
  const norms = tf.sqrt(tf.sum(tf.square(rows), 1, true));
  return tf.div(rows, tf.maximum(norms, NORMALIZE_EPS));
}

/** `u -> [n, d]` rows `(1/n) J_i^T u` of the batch `x` (linear in `u`). */
function vjpRows(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor): (u: tf.Tensor) => tf.Tensor2D {
  return (u) => flatRows(tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(tf.mean(f(xx), 0), u)))(x));
}

/** One power step from `u`, off the tape: the next `u`, the unit rows `v` and `sigma`. */
export function jacobianPowerStep(
  f: (x: tf.Tensor) => tf.Tensor,
  x: tf.Tensor,
  u: tf.Tensor,
): { u: tf.Tensor; v: tf.Tensor2D; sigma: tf.Scalar } {
  return tf.tidy(() => {
    const rowsOf = vjpRows(f, x);
    const v = stopGradient(unitRows(rowsOf(u)));
    // The double-VJP trick: d/du <(1/n) J^T u, v> = (1/n) sum_i J_i v_i.
    const w = stopGradient(tf.grad((uu: tf.Tensor) => tf.sum(tf.mul(rowsOf(uu), v)))(u));
    const sigma = tf.sqrt(tf.sum(tf.square(w))) as tf.Scalar;
    return { u: tf.div(w, tf.maximum(sigma, NORMALIZE_EPS)), v, sigma };
  });
}

/** The second-order check's tolerance, probe seed and central-difference steps (relative to the batch rms). */
const HVP_TOLERANCE = 2e-2;
const PROBE_SEED = 20261;
const HVP_STEPS = [3e-4, 3e-5, 3e-6];

function l2(t: tf.Tensor): number {
  return tf.tidy(() => {
    const squares = tf.sum(tf.square(t));
    return Math.sqrt(squares.dataSync()[0] as number);
  });
}

/** `d/dx <gradOf(x), r>` by double back-propagation; 0 when tfjs recorded no path from x (a linear model, or tanh). */
function exactHvp(gradOf: (x: tf.Tensor) => tf.Tensor, xs: tf.Tensor, r: tf.Tensor): tf.Tensor {
  try {
    return tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(gradOf(xx), r)))(xs);
  } catch (e) {
    if (!/Cannot compute gradient of y=f\(x\)/.test((e as Error).message)) throw e;
    return tf.zerosLike(xs);
  }
}

/**
 * Relative disagreement of a Hessian-vector product of `lossOf` by double back-propagation with
 * central differences of gradients: the smallest over three steps, since a step that crosses a
 * ReLU kink is wrong where a smaller one is exact (a piecewise-linear model has a zero Hessian and
 * a bitwise-constant gradient within a piece), while a missing term shows at every step.
 */
function hvpMismatch(lossOf: (x: tf.Tensor) => tf.Scalar, x: tf.Tensor): number {
  return tf.tidy(() => {
    const xs = stopGradient(x);
    const gradOf = tf.grad(lossOf);
    const rms = Math.max(l2(xs) / Math.sqrt(xs.size), 1e-3);
    const r = tf.randomNormal(xs.shape, 0, 1, 'float32', PROBE_SEED);
    const exact = exactHvp(gradOf, xs, r);
    const floor = (1e-4 * l2(gradOf(xs))) / rms;
    let best = Infinity;
    for (const step of HVP_STEPS) {
      const t = step * rms;
      const fd = tf.div(tf.sub(gradOf(tf.add(xs, tf.mul(r, t))), gradOf(tf.sub(xs, tf.mul(r, t)))), 2 * t);
      const scale = Math.max(l2(exact), l2(fd), floor);
      best = Math.min(best, scale > 0 ? l2(tf.sub(exact, fd)) / scale : 0);
    }
    return best;
  });
}

/**
 * Refuses a model whose second derivatives tfjs gets wrong or lacks (see second_order.ts), from
 * the Hessian of `<mean_i f(x_i), u>` in x: the ops that break it (saved outputs of tanh,
 * sigmoid, exp, softmax; elu, selu, ... without second derivative) break the mixed x-weight
 * derivative that training uses in the same way.
 */
function checkTwiceDifferentiable(model: tfl.LayersModel, f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor, u: tf.Tensor): void {
  let disagreement: number;
  try {
    disagreement = hvpMismatch((xx) => tf.sum(tf.mul(tf.mean(f(xx), 0), u)) as tf.Scalar, x);
  } catch (e) {
    const missing = /gradient function not found for (\w+)/.exec((e as Error).message);
    if (missing === null) throw e;
    return configError(`${OWNER} model`, `a model that tfjs differentiates twice (it has no second derivative of the op ${missing[1]})`, model);
  }
  if (!(disagreement <= HVP_TOLERANCE)) {
    configError(
      `${OWNER} model`,
      `a model that tfjs differentiates twice correctly (a Hessian-vector product by double back-propagation is off by ${(100 * disagreement).toPrecision(2)}% from finite differences; tfjs treats the saved outputs of tanh, sigmoid, exp and softmax as constants: use piecewise-linear activations and penalize the logits)`,
      model,
    );
  }
}

/** The `u` of this step: drawn at the first call, and again when the model or its output shape changes. */
function currentU(state: JacobianState, ctx: PenaltyCallContext, o: Required<JacobianSpectralArgs>): tf.Tensor {
  const shape = ctx.yPred.shape.slice(1);
  const u = state.u;
  if (state.model === ctx.model && u !== null && u.shape.length === shape.length && u.shape.every((d, i) => d === shape[i])) return u;
  release(state);
  state.model = ctx.model;
  state.u = tf.keep(tf.randomNormal(shape, 0, 1, 'float32', o.seed + state.draws));
  state.draws++;
  return state.u;
}

/** The term of one step (on the tape): lambda * sigma (or sigma^2), and the state moved on. */
function jacobianTerm(state: JacobianState, checked: WeakSet<tfl.LayersModel>, ctx: PenaltyCallContext, o: Required<JacobianSpectralArgs>): tf.Scalar {
  const f = modelFunction(OWNER, ctx.model);
  const u = currentU(state, ctx, o);
  if (!checked.has(ctx.model)) {
    checkTwiceDifferentiable(ctx.model, f, ctx.x, u);
    checked.add(ctx.model);
  }
  tf.dispose(state.retired);
  const step = jacobianPowerStep(f, ctx.x, u);
  state.retired = [u, tf.keep(step.v)];
  state.u = tf.keep(step.u);
  if (state.sigma !== null) state.sigma.dispose();
  state.sigma = tf.keep(step.sigma);
  return tf.tidy(() => {
    // sigma again, as a function of the weights with u and v held (LNets' u . Jv).
    const sigma = tf.sum(tf.mul(vjpRows(f, ctx.x)(step.u), step.v));
    return tf.mul(o.squared ? tf.square(sigma) : sigma, o.lambda) as tf.Scalar;
  });
}

/**
 * LNets' Jacobian spectral-norm penalty for `lip.train.fit({penalties: [...]})`, logged as
 * `jacobian_spectral` (the term) and `jacobian_spectral_norm` (sigma of the last step). Costs per
 * step, besides the training step's: one backward pass (v), one double backward pass (the JVP),
 * one backward pass on the tape and the training's back-propagation through it, and, once per
 * model, a check of tfjs' second derivatives.
 */
export function jacobianSpectral(args?: JacobianSpectralArgs): PenaltyFunction {
  const o = resolveArgs(args);
  const state: JacobianState = { model: null, u: null, retired: [], sigma: null, draws: 0 };
  const checked = new WeakSet<tfl.LayersModel>();
  return makePenalty((ctx) => jacobianTerm(state, checked, ctx, o), {
    penaltyName: 'jacobian_spectral',
    onTrainBegin: (model: tfl.LayersModel) => void modelFunction(OWNER, model),
    logs: (): Record<string, number> => (state.sigma === null ? {} : { jacobian_spectral_norm: state.sigma.dataSync()[0] as number }),
    dispose: () => release(state),
    config: () => ({ ...o }),
  });
}
