/** The train/test structure every loader returns, and its construction from raw arrays. */
import * as tf from '@tensorflow/tfjs-core';
import { configError } from '../core/errors';
import { checkOneOf, checkPositiveInt, optionNames } from '../core/validation';

/** Layout of the image tensors: `'flat'` gives [n, rows*cols], `'image'` gives [n, rows, cols, 1]. */
export type ImageLayout = 'flat' | 'image';

/** Options common to every loader. */
export interface DatasetOptions {
  /** Layout of `xTrain`/`xTest` (default `'flat'`: [n, 784] for 28x28 images). */
  shape?: ImageLayout;
  /** Keep only the first `trainSize` training examples (default: all). */
  trainSize?: number;
  /** Keep only the first `testSize` test examples (default: all). */
  testSize?: number;
}

/** The names of {@link DatasetOptions}. */
export const DATASET_OPTIONS: readonly string[] = optionNames<DatasetOptions>({ shape: true, trainSize: true, testSize: true });

/** A classification data set split into train and test, as tensors (dispose them when done). */
export interface Dataset {
  /** Training images, float32 in [0, 1], [n, rows*cols] or [n, rows, cols, 1]. */
  xTrain: tf.Tensor;
  /** Training targets, one-hot float32 [n, numClasses]. */
  yTrain: tf.Tensor2D;
  /** Test images, float32 in [0, 1]. */
  xTest: tf.Tensor;
  /** Test targets, one-hot float32 [n, numClasses]. */
  yTest: tf.Tensor2D;
  /** Training labels as integers (the argmax of `yTrain`). */
  labelsTrain: Int32Array;
  /** Test labels as integers. */
  labelsTest: Int32Array;
  /** Number of classes (10). */
  numClasses: number;
  /** Image size [rows, cols] (e.g. [28, 28]). */
  imageSize: [number, number];
  /** Disposes the four tensors. */
  dispose(): void;
}

/** Validated loader options. */
export interface ResolvedDatasetOptions {
  shape: ImageLayout;
  trainSize: number | undefined;
  testSize: number | undefined;
}

/** Validates the common options; throws `LipschitzConfigError` naming the bad one. */
export function resolveDatasetOptions(options: DatasetOptions | undefined, loader = 'loader'): ResolvedDatasetOptions {
  const opts = options ?? {};
  if (typeof opts !== 'object') configError(`${loader} options`, 'an object such as { shape: \'image\', trainSize: 1000 }', opts);
  return {
    shape: checkOneOf('shape', opts.shape ?? 'flat', ['flat', 'image'] as const),
    trainSize: opts.trainSize === undefined ? undefined : checkPositiveInt('trainSize', opts.trainSize),
    testSize: opts.testSize === undefined ? undefined : checkPositiveInt('testSize', opts.testSize),
  };
}

/** Number of examples to keep: all of them, or the requested size if no more than available. */
export function keepCount(name: string, requested: number | undefined, available: number): number {
  if (requested === undefined) return available;
  if (requested > available) configError(name, `a positive integer <= ${available}`, requested);
  return requested;
}

/** One part (train or test) in raw form: pixels in [0, 1] and integer labels. */
export interface RawSplit {
  /** Row-major pixels, `labels.length * rows * cols` values in [0, 1]. */
  pixels: Float32Array;
  /** Integer labels in [0, numClasses). */
  labels: Int32Array;
}

/** One-hot encodes integer labels into a float32 [n, numClasses] array (row-major). */
export function oneHot(labels: Int32Array, numClasses: number): Float32Array {
  const out = new Float32Array(labels.length * numClasses);
  labels.forEach((label, i) => {
    out[i * numClasses + label] = 1;
  });
  return out;
}

/** Builds the tensors of a `Dataset` from raw train and test parts. */
export function makeDataset(
  train: RawSplit,
  test: RawSplit,
  imageSize: [number, number],
  numClasses: number,
  layout: ImageLayout,
): Dataset {
  const [rows, cols] = imageSize;
  const xShape = (n: number): number[] => (layout === 'flat' ? [n, rows * cols] : [n, rows, cols, 1]);
  const nTrain = train.labels.length;
  const nTest = test.labels.length;
  const xTrain = tf.tensor(train.pixels, xShape(nTrain), 'float32');
  const yTrain = tf.tensor2d(oneHot(train.labels, numClasses), [nTrain, numClasses], 'float32');
  const xTest = tf.tensor(test.pixels, xShape(nTest), 'float32');
  const yTest = tf.tensor2d(oneHot(test.labels, numClasses), [nTest, numClasses], 'float32');
  return {
    xTrain,
    yTrain,
    xTest,
    yTest,
    labelsTrain: train.labels,
    labelsTest: test.labels,
    numClasses,
    imageSize: [rows, cols],
    dispose() {
      tf.dispose([xTrain, yTrain, xTest, yTest]);
    },
  };
}
