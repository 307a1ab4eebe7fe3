/**
 * `lip.callbacks.perEpochProjection(args)`: LNets' `per_epoch_proj`: every `everyEpochs` epochs,
 * the kernel of every built-in layer of the model (Dense, Conv2D, ...: the trainable weights named
 * `kernel` of the layers that are not tfjs-lip Lipschitz layers, which normalize their own) is
 * projected by `lip.constraints.projection(args)` (`'l2'`: Björck / Parseval steps, `'linf'`:
 * each unit onto the L1 ball; see constraints/projection.ts). LNets projects at the start of
 * epochs n, 2n, ... (never the first): here at the end of epochs n - 1, 2n - 1, ..., the same
 * points. LNets can also reset the optimizer there; tfjs optimizers have no reset, so this
 * callback does not (a stateful optimizer's moments then carry over).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { isLipschitzLayer } from '../core/contracts';
import { checkKnownKeys, checkPositiveInt, optionNames } from '../core/validation';
import { ProjectionConstraint, type ProjectionConstraintArgs } from '../constraints/projection';
import { flattenLayers } from './model_layers';

/** Options of {@link perEpochProjection}: the projection's, plus how often. */
export interface PerEpochProjectionArgs extends ProjectionConstraintArgs {
  /** Project after every `everyEpochs`-th epoch (default 1: after each epoch). */
  everyEpochs?: number;
}

const PER_EPOCH_OPTIONS = optionNames<PerEpochProjectionArgs>({
  projection: true,
  kCoefLip: true,
  bjorckIter: true,
  betaBjorck: true,
  bjorckOrder: true,
  everyEpochs: true,
});

/** The trainable `kernel` weights of the built-in layers of `model` (nested models included). */
export function builtinKernels(model: { layers: tfl.layers.Layer[] }): tfl.LayerVariable[] {
  return flattenLayers(model)
    .filter((layer) => !isLipschitzLayer(layer) && !Array.isArray((layer as unknown as { layers?: unknown }).layers))
    .flatMap((layer) => layer.trainableWeights.filter((v) => /(^|\/)kernel$/.test(v.originalName)));
}

/** Projects every built-in kernel of `model` with `constraint`; returns how many. */
export function projectKernels(model: { layers: tfl.layers.Layer[] }, constraint: ProjectionConstraint): number {
  const kernels = builtinKernels(model);
  tf.tidy(() => {
    for (const variable of kernels) {
      const value = variable.read();
      const projected = constraint.apply(value);
      if (typeof (value as Partial<tf.Variable>).assign === 'function') (value as tf.Variable).assign(projected);
      else variable.write(projected);
    }
  });
  return kernels.length;
}

/** Projects the model's built-in kernels every `everyEpochs` epochs (see the module comment). */
export class PerEpochProjection extends tfl.Callback {
  readonly constraint: ProjectionConstraint;
  readonly everyEpochs: number;
  /** How many kernels the last projection changed (0 before the first). */
  lastCount = 0;

  constructor(args: PerEpochProjectionArgs = {}) {
    super();
    checkKnownKeys('perEpochProjection', args, PER_EPOCH_OPTIONS);
    const { everyEpochs, ...projection } = args;
    this.everyEpochs = checkPositiveInt('everyEpochs', everyEpochs ?? 1);
    this.constraint = new ProjectionConstraint(projection);
  }

  override async onEpochEnd(epoch: number, _logs?: tfl.Logs): Promise<void> {
    if ((epoch + 1) % this.everyEpochs === 0) this.lastCount = projectKernels(this.model, this.constraint);
  }

  getConfig(): tf.serialization.ConfigDict {
    return { ...this.constraint.getConfig(), everyEpochs: this.everyEpochs };
  }
}

/** `PerEpochProjection` factory: LNets' per-epoch projection of the built-in kernels. */
export function perEpochProjection(args: PerEpochProjectionArgs = {}): PerEpochProjection {
  return new PerEpochProjection(args);
}
