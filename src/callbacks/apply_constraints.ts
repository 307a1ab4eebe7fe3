/**
 * `lip.callbacks.applyConstraints()`: applies every weight constraint of a model after each
 * training batch, as Keras does after each optimizer step.
 *
 * tfjs-layers stores a layer's constraint on the variable it creates (`addWeight(...,
 * constraint)` -> `LayerVariable.constraint`: `kernelConstraint`, `biasConstraint`,
 * `alphaConstraint`, ...) and applies it only when the variable is written (`setWeights`, loading);
 * `model.fit`'s optimizer updates the underlying `tf.Variable` directly, so in plain tfjs a
 * constraint never acts during training (a `weightClip({cValue: 0.01})` kernel reached 281 after one
 * step). The callback projects each constrained trainable variable of the model (nested models
 * and wrappers included, through `model.trainableWeights`) onto its constraint after every batch:
 * one `tf.tidy`, `assign` on the device, no download. A constraint's own `apply` may still read
 * back (the spectral constraint checks its power iteration's convergence).
 *
 * `lip.train.fit` applies {@link applyModelConstraints} after each step itself (its
 * `applyConstraints` option, on by default).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { checkKnownKeys } from '../core/validation';

/** tfjs-layers' Constraint instance type (the class itself is not exported). */
type Constraint = NonNullable<tfl.LayerVariable['constraint']>;

/** A trainable variable of a model together with its constraint. */
interface ConstrainedVariable {
  variable: tfl.LayerVariable;
  constraint: Constraint;
}

/** The trainable variables of `model` that carry a constraint, each once (nested models included). */
export function constrainedVariables(model: { trainableWeights: tfl.LayerVariable[] }): ConstrainedVariable[] {
  const seen = new Set<number>();
  const out: ConstrainedVariable[] = [];
  for (const variable of model.trainableWeights) {
    const constraint = variable.constraint;
    if (constraint == null || seen.has(variable.id)) continue;
    seen.add(variable.id);
    out.push({ variable, constraint });
  }
  return out;
}

/** A tensor that can be assigned in place (the `tf.Variable` behind a `LayerVariable`). */
function isAssignable(value: tf.Tensor): value is tf.Variable {
  return typeof (value as Partial<tf.Variable>).assign === 'function';
}

/**
 * Projects every constrained trainable variable of `model` onto its constraint, in one `tf.tidy`
 * and without reading any value back; returns how many variables were projected. The projection
 * is assigned to the variable's `tf.Variable` directly: `LayerVariable.write` would apply the
 * constraint a second time.
 */
export function applyModelConstraints(model: { trainableWeights: tfl.LayerVariable[] }): number {
  const targets = constrainedVariables(model);
  if (targets.length === 0) return 0;
  tf.tidy(() => {
    for (const { variable, constraint } of targets) {
      const value = variable.read();
      const projected = constraint.apply(value);
      if (isAssignable(value)) value.assign(projected);
      else variable.write(projected);
    }
  });
  return targets.length;
}

/**
 * Applies the model's weight constraints after each batch of `fit` / `fitDataset` (see the module
 * comment). Put it first in `callbacks` so that the callbacks after it see the projected weights.
 */
export class ApplyConstraints extends tfl.Callback {
  /** How many variables the last batch projected. */
  lastCount = 0;

  /** Takes no option: any key throws `LipschitzConfigError`. */
  constructor(args: Record<string, never> = {}) {
    super();
    checkKnownKeys('applyConstraints', args, []);
  }

  override async onBatchEnd(_batch: number, _logs?: tfl.Logs): Promise<void> {
    this.lastCount = applyModelConstraints(this.model);
  }

  getConfig(): Record<string, never> {
    return {};
  }
}

/**
 * `ApplyConstraints` factory: `model.fit(x, y, {callbacks: [lip.callbacks.applyConstraints()]})`
 * makes every `kernelConstraint` / `biasConstraint` (tfjs built-ins and `lip.constraints.*`) hold
 * after each batch, which tfjs-layers alone never does in `fit`.
 */
export function applyConstraints(args: Record<string, never> = {}): ApplyConstraints {
  return new ApplyConstraints(args);
}
