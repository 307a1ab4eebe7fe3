/** `loadIdx`: MNIST-like data sets from the four standard IDX files of a folder (Node.js only). */
import { checkKnownKeys } from '../core/validation';
import { requireBackend } from '../backend/require_backend';
import { configError } from '../core/errors';
import type { Dataset, DatasetOptions, RawSplit } from './dataset';
import { DATASET_OPTIONS, keepCount, makeDataset, resolveDatasetOptions } from './dataset';
import { checkImages, checkLabels, findIdxFile, IDX_FILE_NAMES, IdxFormatError, readIdxFile } from './idx';

const NUM_CLASSES = 10;

async function loadPart(
  dir: string,
  imagesBase: string,
  labelsBase: string,
  keepName: string,
  keepRequested: number | undefined,
): Promise<{ split: RawSplit; rows: number; cols: number; imagesPath: string }> {
  const imagesPath = findIdxFile(dir, imagesBase);
  const labelsPath = findIdxFile(dir, labelsBase);
  const [images, labelsFile] = await Promise.all([readIdxFile(imagesPath), readIdxFile(labelsPath)]);
  const { n, rows, cols } = checkImages(images, imagesPath);
  const nLabels = checkLabels(labelsFile, labelsPath, NUM_CLASSES);
  if (nLabels !== n) {
    throw new IdxFormatError(
      `${labelsPath}: label count ${nLabels} does not match the image count ${n} of ${imagesPath}.`,
    );
  }
  const keep = keepCount(keepName, keepRequested, n);
  const size = rows * cols;
  const pixels = new Float32Array(keep * size);
  const src = images.data;
  for (let i = 0; i < pixels.length; i++) pixels[i] = (src[i] ?? 0) / 255;
  const labels = Int32Array.from(labelsFile.data.subarray(0, keep));
  return { split: { pixels, labels }, rows, cols, imagesPath };
}

/**
 * Loads an MNIST-like data set (MNIST, Fashion-MNIST, KMNIST) from the folder `dir`, which holds
 * `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and
 * `t10k-labels-idx1-ubyte`, each optionally gzipped (`.gz`). Pixels are divided by 255; labels
 * must be in 0-9. Node.js only.
 *
 * Throws `IdxFormatError` naming the file for a missing file, bad magic number, truncated or
 * oversized data, corrupt gzip, label count different from image count, a label outside 0-9, or
 * train and test images of different sizes; `LipschitzConfigError` for bad options.
 */
export async function loadIdx(dir: string, options?: DatasetOptions): Promise<Dataset> {
  if (typeof dir !== 'string' || dir.length === 0) {
    configError('loadIdx dir', `a folder holding ${Object.values(IDX_FILE_NAMES).join(', ')} (each optionally .gz)`, dir);
  }
  checkKnownKeys('loadIdx', options, DATASET_OPTIONS);
  const opts = resolveDatasetOptions(options, 'loadIdx');
  requireBackend('loadIdx');
  const train = await loadPart(dir, IDX_FILE_NAMES.trainImages, IDX_FILE_NAMES.trainLabels, 'trainSize', opts.trainSize);
  const test = await loadPart(dir, IDX_FILE_NAMES.testImages, IDX_FILE_NAMES.testLabels, 'testSize', opts.testSize);
  if (train.rows !== test.rows || train.cols !== test.cols) {
    throw new IdxFormatError(
      `${test.imagesPath}: dimension mismatch: test images are ${test.rows}x${test.cols} but training images ` +
        `(${train.imagesPath}) are ${train.rows}x${train.cols}.`,
    );
  }
  return makeDataset(train.split, test.split, [train.rows, train.cols], NUM_CLASSES, opts.shape);
}
