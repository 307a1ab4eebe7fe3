/**
 * `lip.constraints.projection({projection: 'l2' | 'linf', ...})`: LNets' weight projections
 * (`per_update_proj` / `per_epoch_proj`, `lnets/utils/math/projections/`) and Parseval networks'
 * retraction, as a kernel constraint for tfjs built-in layers (Dense, Conv2D).
 *
 * - `'l2'`: `bjorckIter` Björck steps of order `bjorckOrder` on the kernel seen as the matrix
 *   `[-1, lastDim]` divided by `kCoefLip` (then multiplied back), a fixed count as LNets runs it.
 *   One step of order 1 is the Parseval step `W <- (1 + beta) W - beta W WᵀW` (Cisse et al. 2017
 *   use a small beta after every update); many steps are LNets' projection onto the orthonormal
 *   matrices. The kernel's singular values must start below the method's convergence limit
 *   (`sqrt((1 + beta) / beta)` for order 1: `sqrt(3)` at beta 0.5), as after an orthogonal or
 *   `lip.initializers.spectral()` initialization; no rescaling is done, as in LNets.
 * - `'linf'`: each output unit's weights (a column of the matrix) projected onto the L1 ball of
 *   radius `kCoefLip` (exact Euclidean projection, `ops/l1_ball.ts`): the layer's L-infinity
 *   operator norm is then at most `kCoefLip` (LNets' `l_inf_projected`).
 *
 * Why a constraint and not a layer option: the projection acts on a plain kernel after the
 * optimizer moved it, which is what a constraint is; tfjs-lip's own spectral layers normalize
 * their kernel themselves (and refuse a `kernelConstraint`), so an option there would be
 * meaningless, while built-in Dense/Conv2D layers take it as `kernelConstraint`. It acts after
 * every update in `lip.train.fit` (its `applyConstraints` option, on by default) or with
 * `lip.callbacks.applyConstraints()` in `model.fit`; `lip.callbacks.perEpochProjection` applies
 * it every n epochs instead (LNets' `per_epoch_proj`). Registered as `'ProjectionConstraint'`.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { DEFAULT_BETA_BJORCK, DEFAULT_BJORCK_ORDER, DEFAULT_K_COEF_LIP } from '../core/defaults';
import { checkInLeftOpenRange, checkKnownKeys, checkOneOf, checkPositiveFinite, checkPositiveInt, serializableOptionNames } from '../core/validation';
import { projectRowsOntoL1Ball } from '../ops/l1_ball';
import { matMul } from '../normalizers/power_iteration';
import { checkBjorckOrder, stepMatrix } from '../normalizers/orthogonalizers/bjorck/orders';

/** tfjs-layers' abstract `Constraint` base, reached through a built-in instance (for `instanceof`). */
const ConstraintBase = Object.getPrototypeOf(tfl.constraints.nonNeg().constructor) as (abstract new () => ReturnType<typeof tfl.constraints.nonNeg>) &
  Pick<typeof tf.serialization.Serializable, 'fromConfig'>;

/** The projections: LNets' `l_2` (Björck / Parseval) and `l_inf_projected`. */
export const PROJECTIONS = ['l2', 'linf'] as const;
export type Projection = (typeof PROJECTIONS)[number];

/** Arguments of {@link ProjectionConstraint}. */
export interface ProjectionConstraintArgs {
  /** `'l2'` (default): Björck steps toward orthonormal; `'linf'`: each unit's weights onto the L1 ball. */
  projection?: Projection;
  /** The norm the projection aims at: every singular value (`'l2'`) or each unit's L1 norm (`'linf'`); default 1. */
  kCoefLip?: number;
  /** `'l2'`: Björck steps per application (default 1, the Parseval step; LNets' projections use 20). */
  bjorckIter?: number;
  /** `'l2'`: step size in (0, 0.5] (default 0.5; Parseval networks use a small one). */
  betaBjorck?: number;
  /** `'l2'`: Taylor order of the step, 1 to 4 (default 1; orders above 1 need betaBjorck 0.5). */
  bjorckOrder?: number;
}

const PROJECTION_OPTIONS = serializableOptionNames<ProjectionConstraintArgs>({
  projection: true,
  kCoefLip: true,
  bjorckIter: true,
  betaBjorck: true,
  bjorckOrder: true,
});

/** `steps` Björck steps of `order` on `w` (products on the smaller side), a fixed count. */
export function bjorckSteps(w: tf.Tensor2D, steps: number, beta: number, order: number): tf.Tensor2D {
  return tf.tidy(() => {
    const tall = w.shape[0] >= w.shape[1];
    let z = w;
    for (let i = 0; i < steps; i++) {
      const gram = tall ? matMul(z, z, true, false) : matMul(z, z, false, true);
      const q = stepMatrix(gram, beta, order);
      z = tall ? matMul(z, q) : matMul(q, z);
    }
    return tf.clone(z);
  });
}

/** LNets' per-update / per-epoch weight projection as a constraint (see the module comment). */
export class ProjectionConstraint extends ConstraintBase {
  /** @nocollapse */
  static className = 'ProjectionConstraint';
  readonly projection: Projection;
  readonly kCoefLip: number;
  readonly bjorckIter: number;
  readonly betaBjorck: number;
  readonly bjorckOrder: number;

  constructor(args: ProjectionConstraintArgs = {}) {
    super();
    checkKnownKeys('constraints.projection', args, PROJECTION_OPTIONS);
    this.projection = checkOneOf('projection', args.projection ?? 'l2', PROJECTIONS);
    this.kCoefLip = checkPositiveFinite('kCoefLip', args.kCoefLip ?? DEFAULT_K_COEF_LIP);
    this.bjorckIter = checkPositiveInt('bjorckIter', args.bjorckIter ?? 1);
    this.betaBjorck = checkInLeftOpenRange('betaBjorck', args.betaBjorck ?? DEFAULT_BETA_BJORCK, 0, 0.5);
    this.bjorckOrder = checkBjorckOrder(args.bjorckOrder ?? DEFAULT_BJORCK_ORDER, this.betaBjorck);
  }

  override apply(w: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const lastDim = w.shape[w.rank - 1]!;
      const matrix = tf.reshape(w, [-1, lastDim]) as tf.Tensor2D;
      if (this.projection === 'linf') {
        const columns = projectRowsOntoL1Ball(tf.transpose(matrix) as tf.Tensor2D, this.kCoefLip);
        return tf.reshape(tf.transpose(columns), w.shape);
      }
      const unit = tf.div(matrix, this.kCoefLip) as tf.Tensor2D;
      return tf.reshape(tf.mul(bjorckSteps(unit, this.bjorckIter, this.betaBjorck, this.bjorckOrder), this.kCoefLip), w.shape);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    const { projection, kCoefLip, bjorckIter, betaBjorck, bjorckOrder } = this;
    return { projection, kCoefLip, bjorckIter, betaBjorck, bjorckOrder };
  }
}
tf.serialization.registerClass(ProjectionConstraint);

/** LNets' weight projection (`'l2'`: Björck / Parseval steps; `'linf'`: units onto the L1 ball) as a constraint. */
export function projection(args: ProjectionConstraintArgs = {}): ProjectionConstraint {
  return new ProjectionConstraint(args);
}
