/**
 * `lip.train.orthonormalFinetune(model, x, y, args)`: LNets' "orthonormal finetuning" (Anil, Lucas
 * & Grosse 2019, `ortho_finetune.py`). A network trained with few Björck iterations
 * (`maxIterBjorck: 3`, say) has W-bars that are only roughly orthonormal, so the function it
 * learned is not yet the 1-Lipschitz one it will be evaluated as. The recipe: set Björck's
 * iterations high on every spectral layer (LNets: 50), train a few more epochs at a small
 * learning rate (LNets: 5 epochs at 1e-5), so that the fit sees the converged map; here every
 * such layer is then condensed (kernel <- W-bar, plus the orthogonalizer's refinement), so every
 * singular value of every W-bar is `kCoefLip` times the corrective coefficient to float32
 * rounding. Each layer gets its own settings back at the end (`getConfig` unchanged).
 *
 * Why `src/train/`: it is a training recipe on top of `lip.train.fit` (penalties, adversarial
 * batches, constraints and schedules all apply to the fine-tuning too), not a property of the
 * model, and `train/` sits above `layers/` in the import order.
 *
 * Which layers: every tfjs-lip kernel layer whose orthogonalizer is `'bjorck'` gets the converged
 * settings (same `betaBjorck` and `bjorckOrder`); `'polar'` layers are exact already and are only
 * condensed; `'none'` layers and Frobenius layers are left as they are (they do not promise
 * orthonormality). A model without a Björck or polar layer is a `LipschitzConfigError`.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { flattenLayers } from '../callbacks/model_layers';
import { configError } from '../core/errors';
import { checkBoolean, checkPositiveFinite, checkPositiveInt } from '../core/validation';
import { LipschitzKernelLayer } from '../layers/kernel_layer';
import { BjorckOrthogonalizer, type Orthogonalizer } from '../normalizers/orthogonalizers';
import type { TrainFitArgs } from './args';
import { fit } from './fit';

/** Björck iterations while fine-tuning (LNets' `bjorck_iters = 50`). */
export const FINETUNE_MAX_ITER_BJORCK = 50;
/** Björck tolerance while fine-tuning: about the float32 floor of `beta ||WᵀW - I||_F`. */
export const FINETUNE_EPS_BJORCK = 1e-5;
/** Epochs of the fine-tuning (LNets' 5). */
export const FINETUNE_EPOCHS = 5;

/** Options of {@link orthonormalFinetune}: `lip.train.fit`'s, plus the Björck settings of the fine-tuning. */
export interface OrthonormalFinetuneArgs extends TrainFitArgs {
  /** Björck iterations per step on every Björck layer while fine-tuning (default 50). */
  maxIterBjorck?: number;
  /** Björck tolerance while fine-tuning (default 1e-5). */
  epsBjorck?: number;
  /** Condense every fine-tuned layer at the end (default true; false leaves the kernels raw). */
  condense?: boolean;
}

/** A layer under fine-tuning and the orthogonalizer it gets back. */
interface Swapped {
  layer: LipschitzKernelLayer;
  previous: Orthogonalizer | null;
}

/** The spectral layers with an orthonormal orthogonalizer (Björck, polar), nested models included. */
function orthonormalLayers(model: tfl.LayersModel): LipschitzKernelLayer[] {
  return flattenLayers(model).filter((layer): layer is LipschitzKernelLayer => {
    if (!(layer instanceof LipschitzKernelLayer)) return false;
    const name = layer.getConfig()['orthogonalizer'];
    return name === 'bjorck' || name === 'polar';
  });
}

/** Gives every Björck layer the converged settings; returns what to restore. */
function swapIn(layers: LipschitzKernelLayer[], maxIterBjorck: number, epsBjorck: number): Swapped[] {
  const swapped: Swapped[] = [];
  for (const layer of layers) {
    const config = layer.getConfig();
    if (config['orthogonalizer'] !== 'bjorck') {
      swapped.push({ layer, previous: null });
      continue;
    }
    const next = new BjorckOrthogonalizer({
      epsBjorck,
      maxIterBjorck,
      betaBjorck: config['betaBjorck'] as number,
      bjorckOrder: config['bjorckOrder'] as number,
    });
    swapped.push({ layer, previous: layer.replaceOrthogonalizer(next) });
  }
  return swapped;
}

/**
 * Fine-tunes `model` (compiled; LNets uses a learning rate of 1e-5) on `x`, `y` for `epochs`
 * (default 5) with Björck iterated to convergence on every Björck layer, then condenses every
 * Björck and polar layer (see the module comment). Every option of `lip.train.fit` applies.
 * Resolves to the fine-tuning's `History`.
 */
export async function orthonormalFinetune(
  model: tfl.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor,
  args: OrthonormalFinetuneArgs = {},
): Promise<tfl.History> {
  if (args === null || typeof args !== 'object') configError('orthonormalFinetune args', 'an options object', args);
  const { maxIterBjorck, epsBjorck, condense, ...fitArgs } = args;
  const iterations = checkPositiveInt('maxIterBjorck', maxIterBjorck ?? FINETUNE_MAX_ITER_BJORCK);
  const eps = checkPositiveFinite('epsBjorck', epsBjorck ?? FINETUNE_EPS_BJORCK);
  const condenseAtEnd = checkBoolean('condense', condense ?? true);
  const layers = orthonormalLayers(model);
  if (layers.length === 0) {
    configError('model', "a model with at least one spectral layer whose orthogonalizer is 'bjorck' or 'polar'", model);
  }
  const swapped = swapIn(layers, iterations, eps);
  try {
    const history = await fit(model, x, y, { ...fitArgs, epochs: fitArgs.epochs ?? FINETUNE_EPOCHS });
    if (condenseAtEnd) for (const { layer } of swapped) layer.condense();
    return history;
  } finally {
    for (const { layer, previous } of swapped) if (previous !== null) layer.replaceOrthogonalizer(previous);
  }
}
