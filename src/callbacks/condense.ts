/**
 * `lip.callbacks.condenseCallback`: calls `condense()` on every Condensable layer (kernel <- W-bar)
 * after each epoch and/or batch, keeping the unconstrained kernel from drifting (DEEL-LIP's
 * `CondenseCallback`).
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { isCondensable } from '../core/contracts';
import { checkBoolean, checkKnownKeys, optionNames } from '../core/validation';
import { flattenLayers } from './model_layers';

type Logs = tfl.Logs;

/** Calls `condense()` on every Condensable layer of the model (nested models included). */
function condenseModel(model: { layers: tfl.layers.Layer[] }): number {
  let count = 0;
  for (const layer of flattenLayers(model)) {
    if (isCondensable(layer)) {
      layer.condense();
      count++;
    }
  }
  return count;
}

/** Options of `condenseCallback`. */
export interface CondenseCallbackArgs {
  /** Condense after every epoch. Default true. */
  onEpoch?: boolean;
  /** Condense after every batch. Default false. */
  onBatch?: boolean;
}

const CONDENSE_CALLBACK_OPTIONS = optionNames<CondenseCallbackArgs>({ onEpoch: true, onBatch: true });

/**
 * Overwrites the kernel of every Condensable layer with its normalized weights W-bar.
 * Warning (DEEL-LIP): rewriting the kernel may disturb an optimizer with momentum.
 */
export class CondenseCallback extends tfl.Callback {
  readonly onEpoch: boolean;
  readonly onBatch: boolean;

  constructor(args: CondenseCallbackArgs = {}) {
    super();
    checkKnownKeys('condenseCallback', args, CONDENSE_CALLBACK_OPTIONS);
    this.onEpoch = checkBoolean('onEpoch', args.onEpoch ?? true);
    this.onBatch = checkBoolean('onBatch', args.onBatch ?? false);
  }

  override async onBatchEnd(_batch: number, _logs?: Logs): Promise<void> {
    if (this.onBatch) condenseModel(this.model);
  }

  override async onEpochEnd(_epoch: number, _logs?: Logs): Promise<void> {
    if (this.onEpoch) condenseModel(this.model);
  }

  getConfig(): { onEpoch: boolean; onBatch: boolean } {
    return { onEpoch: this.onEpoch, onBatch: this.onBatch };
  }
}

/** `CondenseCallback` factory (defaults: `onEpoch: true`, `onBatch: false`). */
export function condenseCallback(args: CondenseCallbackArgs = {}): CondenseCallback {
  return new CondenseCallback(args);
}
