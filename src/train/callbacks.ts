/**
 * The callbacks of `lip.train.fit`, built from tfjs-layers' own exported machinery
 * (`CallbackList`, `CustomCallback`, `History`), in `model.fit`'s order: the progress logger
 * (when verbose; tfjs' `BaseLogger`, not exported, is replaced by the loop averaging the batch
 * logs itself), the user's callbacks, then the `History`.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { configError } from '../core/errors';
import { checkKnownKeys, optionNames } from '../core/validation';

/** tfjs-layers' `BaseCallback` (not exported by name). */
export type BaseCallback = NonNullable<ConstructorParameters<typeof tfl.CallbackList>[0]>[number];

/** The parameters `model.fit` gives its callbacks (`setParams`). */
export interface FitParams {
  epochs: number;
  initialEpoch: number;
  samples: number;
  batchSize: number;
  verbose: 0 | 1;
  doValidation: boolean;
  metrics: string[];
}

const CUSTOM_CALLBACK_OPTIONS = optionNames<tfl.CustomCallbackArgs>({
  onTrainBegin: true,
  onTrainEnd: true,
  onEpochBegin: true,
  onEpochEnd: true,
  onBatchBegin: true,
  onBatchEnd: true,
  onYield: true,
  nowFunc: true,
  nextFrameFunc: true,
});

function isCallback(value: unknown): value is BaseCallback {
  const v = value as Partial<BaseCallback> | null;
  return typeof v === 'object' && v !== null && typeof v.setParams === 'function' && typeof v.setModel === 'function';
}

/** tfjs callbacks as given, `CustomCallbackArgs` objects wrapped as `model.fit` wraps them. */
function standardizeCallbacks(callbacks: unknown, yieldEvery: tfl.ModelFitArgs['yieldEvery']): BaseCallback[] {
  if (callbacks == null) return [];
  const list: unknown[] = Array.isArray(callbacks) ? callbacks : [callbacks];
  return list.map((c, i) => {
    if (isCallback(c)) return c;
    if (typeof c !== 'object' || c === null) configError(`callbacks[${i}]`, 'a tfjs callback or an object of callback functions', c);
    checkKnownKeys(`callbacks[${i}]`, c, CUSTOM_CALLBACK_OPTIONS);
    return new tfl.CustomCallback(c as tfl.CustomCallbackArgs, yieldEvery);
  });
}

/** A number for a log line: 4 significant digits. */
function formatValue(value: unknown): string {
  return typeof value === 'number' ? String(Number(value.toPrecision(4))) : String(value);
}

/** The writable terminal of a Node process, or null (browser, or output not a terminal). */
function terminal(): { write(text: string): unknown; columns?: number } | null {
  const proc = typeof process === 'undefined' ? undefined : process;
  const out = proc?.stdout as { isTTY?: boolean; write?: (text: string) => unknown; columns?: number } | undefined;
  return out?.isTTY === true && typeof out.write === 'function' ? (out as { write(text: string): unknown }) : null;
}

/**
 * The verbose output: in a Node terminal a progress bar redrawn at most every 100 ms and a summary
 * line per epoch; elsewhere (browser, output piped to a file) only the summary line, on the console.
 */
export class ProgressLogger extends tfl.Callback {
  private readonly out = terminal();
  private epochStart = 0;
  private lastDraw = 0;
  private seen = 0;

  override async onEpochBegin(_epoch: number, _logs?: tfl.Logs): Promise<void> {
    this.epochStart = Date.now();
    this.lastDraw = 0;
    this.seen = 0;
  }

  override async onBatchEnd(_batch: number, logs?: tfl.Logs): Promise<void> {
    this.seen += Number(logs?.['size'] ?? 0);
    const now = Date.now();
    if (this.out === null || now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const samples = Number(this.params['samples']);
    const width = 24;
    const filled = Math.round((width * this.seen) / Math.max(1, samples));
    const bar = `[${'='.repeat(filled)}${' '.repeat(width - filled)}]`;
    this.out.write(`\r${bar} ${this.seen}/${samples} loss=${formatValue(logs?.['loss'])}\x1b[K`);
  }

  override async onEpochEnd(epoch: number, logs?: tfl.Logs): Promise<void> {
    const seconds = ((Date.now() - this.epochStart) / 1000).toFixed(1);
    const values = Object.entries(logs ?? {}).map(([k, v]) => `${k}=${formatValue(v)}`);
    const line = `Epoch ${epoch + 1}/${String(this.params['epochs'])} - ${seconds}s - ${values.join(' ')}`;
    if (this.out !== null) this.out.write(`\r${line}\x1b[K\n`);
    else console.log(line);
  }
}

/** The callback list of one `fit` and its `History` (also set as `model.history`, as fit does). */
export function configureCallbacks(
  model: tfl.LayersModel,
  callbacks: unknown,
  yieldEvery: tfl.ModelFitArgs['yieldEvery'],
  params: FitParams,
): { list: tfl.CallbackList; history: tfl.History } {
  const history = new tfl.History();
  const all: BaseCallback[] = [
    ...(params.verbose === 1 ? [new ProgressLogger()] : []),
    ...standardizeCallbacks(callbacks, yieldEvery),
    history,
  ];
  const list = new tfl.CallbackList(all);
  // `steps: null` as model.fit passes it (no stepsPerEpoch).
  list.setParams({ ...params, steps: null } as unknown as Parameters<tfl.CallbackList['setParams']>[0]);
  list.setModel(model);
  model.history = history;
  return { list, history };
}
