/**
 * The IDX file format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/):
 *
 * ```text
 * bytes 0-1  0x00 0x00
 * byte  2    element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
 * byte  3    number of dimensions d
 * then       d big-endian uint32 sizes, then the elements, big-endian, last dimension fastest
 * ```
 *
 * Image files have magic 2051 (`0x00000803`: uint8, 3 dimensions [n, rows, cols]); label files
 * have magic 2049 (`0x00000801`: uint8, 1 dimension [n]). `parseIdx` is pure and works in a
 * browser; `readIdxFile` and `loadIdx` need Node.js.
 */
import type { NodeFs, NodePath, NodeZlib } from './node';
import { nodeBuiltin } from './node';

/** A malformed, truncated or inconsistent IDX file. The message names the file. */
export class IdxFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IdxFormatError';
    Object.setPrototypeOf(this, IdxFormatError.prototype);
  }
}

/** Element types of the IDX format, by type byte. */
export type IdxDtype = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

/** Typed array holding the elements of an IDX file. */
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A parsed IDX file. */
export interface IdxArray {
  /** Magic number (big-endian uint32 of the 4 header bytes): 2051 for images, 2049 for labels. */
  magic: number;
  /** Element type. */
  dtype: IdxDtype;
  /** Sizes of the dimensions, outermost first. */
  dims: number[];
  /** The elements in row-major order (a copy, in native byte order). */
  data: IdxData;
}

const DTYPES: Record<number, { dtype: IdxDtype; bytes: number }> = {
  0x08: { dtype: 'uint8', bytes: 1 },
  0x09: { dtype: 'int8', bytes: 1 },
  0x0b: { dtype: 'int16', bytes: 2 },
  0x0c: { dtype: 'int32', bytes: 4 },
  0x0d: { dtype: 'float32', bytes: 4 },
  0x0e: { dtype: 'float64', bytes: 8 },
};

/** Magic number of IDX image files (uint8, 3 dimensions). */
export const IDX_IMAGES_MAGIC = 2051;
/** Magic number of IDX label files (uint8, 1 dimension). */
export const IDX_LABELS_MAGIC = 2049;

/** True when the bytes start with the gzip signature 0x1f 0x8b. */
export function isGzip(buffer: Uint8Array): boolean {
  return buffer.length >= 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
}

/**
 * Parses an (uncompressed) IDX file. `name` is used in error messages (a file name).
 * Throws `IdxFormatError` on a bad magic number, an unknown element type, a truncated header,
 * or a data section shorter or longer than the dimensions announce.
 */
export function parseIdx(buffer: Uint8Array, name = 'IDX data'): IdxArray {
  if (isGzip(buffer)) {
    throw new IdxFormatError(`${name}: the data is gzip-compressed; decompress it first (readIdxFile does).`);
  }
  if (buffer.length < 4) {
    throw new IdxFormatError(`${name}: truncated header: ${buffer.length} bytes, an IDX header needs at least 4.`);
  }
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const magic = view.getUint32(0, false);
  const typeByte = buffer[2] ?? 0;
  const ndims = buffer[3] ?? 0;
  const type = DTYPES[typeByte];
  if (buffer[0] !== 0 || buffer[1] !== 0 || type === undefined || ndims === 0) {
    throw new IdxFormatError(
      `${name}: bad magic number ${magic} (0x${magic.toString(16).padStart(8, '0')}): expected 0x0000TTDD with ` +
        `element type TT in {08, 09, 0B, 0C, 0D, 0E} and DD >= 1 dimensions (2051 for images, 2049 for labels).`,
    );
  }
  const headerBytes = 4 + 4 * ndims;
  if (buffer.length < headerBytes) {
    throw new IdxFormatError(
      `${name}: truncated header: ${buffer.length} bytes, but ${ndims} dimensions need ${headerBytes}.`,
    );
  }
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const expected = headerBytes + count * type.bytes;
  if (buffer.length < expected) {
    throw new IdxFormatError(
      `${name}: truncated data: dimensions [${dims.join(', ')}] of ${type.dtype} need ${expected} bytes, ` +
        `but the file has ${buffer.length}.`,
    );
  }
  if (buffer.length > expected) {
    throw new IdxFormatError(
      `${name}: size mismatch: dimensions [${dims.join(', ')}] of ${type.dtype} need ${expected} bytes, ` +
        `but the file has ${buffer.length} (${buffer.length - expected} trailing bytes).`,
    );
  }
  return { magic, dtype: type.dtype, dims, data: readElements(view, headerBytes, count, type.dtype) };
}

function readElements(view: DataView, offset: number, count: number, dtype: IdxDtype): IdxData {
  switch (dtype) {
    case 'uint8':
      return new Uint8Array(view.buffer.slice(view.byteOffset + offset, view.byteOffset + offset + count));
    case 'int8':
      return new Int8Array(view.buffer.slice(view.byteOffset + offset, view.byteOffset + offset + count));
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(offset + 2 * i, false);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(offset + 4 * i, false);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(offset + 4 * i, false);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(offset + 8 * i, false);
      return out;
    }
  }
}

/**
 * Writes an IDX file (the inverse of `parseIdx`; handy for tests and for exporting data).
 * `data.length` must equal the product of `dims`.
 */
export function encodeIdx(dims: readonly number[], data: IdxData): Uint8Array {
  const dtype = dtypeOf(data);
  const entry = Object.entries(DTYPES).find(([, t]) => t.dtype === dtype);
  if (entry === undefined) throw new IdxFormatError(`encodeIdx: unsupported data type ${dtype}.`);
  const typeByte = Number(entry[0]);
  const bytes = entry[1].bytes;
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new IdxFormatError(`encodeIdx: dimensions [${dims.join(', ')}] hold ${count} elements, data has ${data.length}.`);
  }
  const header = 4 + 4 * dims.length;
  const out = new Uint8Array(header + count * bytes);
  const view = new DataView(out.buffer);
  view.setUint8(2, typeByte);
  view.setUint8(3, dims.length);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  for (let i = 0; i < count; i++) {
    const v = data[i] ?? 0;
    const at = header + i * bytes;
    switch (dtype) {
      case 'uint8':
        view.setUint8(at, v);
        break;
      case 'int8':
        view.setInt8(at, v);
        break;
      case 'int16':
        view.setInt16(at, v, false);
        break;
      case 'int32':
        view.setInt32(at, v, false);
        break;
      case 'float32':
        view.setFloat32(at, v, false);
        break;
      case 'float64':
        view.setFloat64(at, v, false);
        break;
    }
  }
  return out;
}

function dtypeOf(data: IdxData): IdxDtype {
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Float32Array) return 'float32';
  return 'float64';
}

/**
 * Reads and parses one IDX file (Node.js only), gunzipping it when its name ends in `.gz` or its
 * bytes start with the gzip signature. Errors name the file.
 */
export async function readIdxFile(path: string): Promise<IdxArray> {
  const fs = nodeBuiltin<NodeFs>('fs', 'readIdxFile');
  let bytes: Uint8Array;
  try {
    bytes = await fs.promises.readFile(path);
  } catch (error) {
    throw new IdxFormatError(`${path}: cannot be read: ${(error as Error).message}`);
  }
  if (path.endsWith('.gz') || isGzip(bytes)) {
    if (!isGzip(bytes)) throw new IdxFormatError(`${path}: not gzip data (the .gz file lacks the gzip signature).`);
    bytes = await gunzip(bytes, path);
  }
  return parseIdx(bytes, path);
}

function gunzip(bytes: Uint8Array, path: string): Promise<Uint8Array> {
  const zlib = nodeBuiltin<NodeZlib>('zlib', 'readIdxFile');
  return new Promise((resolve, reject) => {
    zlib.gunzip(bytes, (error, result) => {
      if (error) reject(new IdxFormatError(`${path}: corrupt or truncated gzip data: ${error.message}`));
      else resolve(result);
    });
  });
}

/**
 * The standard file names of MNIST-like data sets, without the optional `.gz`.
 */
export const IDX_FILE_NAMES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

/** Finds `<dir>/<base>` or `<dir>/<base>.gz` (the uncompressed one first). */
export function findIdxFile(dir: string, base: string): string {
  const fs = nodeBuiltin<NodeFs>('fs', 'loadIdx');
  const path = nodeBuiltin<NodePath>('path', 'loadIdx');
  const candidates = [path.join(dir, base), path.join(dir, `${base}.gz`)];
  const found = candidates.find((c) => fs.existsSync(c));
  if (found === undefined) {
    throw new IdxFormatError(`${base}: file not found in ${dir} (looked for ${candidates.join(' and ')}).`);
  }
  return found;
}

/**
 * Checks that a parsed file is an IDX image file (magic 2051, uint8, [n, rows, cols]).
 * Returns its dimensions.
 */
export function checkImages(file: IdxArray, name: string): { n: number; rows: number; cols: number } {
  if (file.magic !== IDX_IMAGES_MAGIC) {
    throw new IdxFormatError(
      `${name}: bad magic number ${file.magic} for an image file: expected ${IDX_IMAGES_MAGIC} ` +
        `(uint8, 3 dimensions)${file.magic === IDX_LABELS_MAGIC ? '; this looks like a label file' : ''}.`,
    );
  }
  const [n, rows, cols] = file.dims as [number, number, number];
  return { n, rows, cols };
}

/** Checks that a parsed file is an IDX label file (magic 2049) with values in [0, numClasses). */
export function checkLabels(file: IdxArray, name: string, numClasses: number): number {
  if (file.magic !== IDX_LABELS_MAGIC) {
    throw new IdxFormatError(
      `${name}: bad magic number ${file.magic} for a label file: expected ${IDX_LABELS_MAGIC} ` +
        `(uint8, 1 dimension)${file.magic === IDX_IMAGES_MAGIC ? '; this looks like an image file' : ''}.`,
    );
  }
  const data = file.data;
  for (let i = 0; i < data.length; i++) {
    const v = data[i] ?? 0;
    if (v >= numClasses) {
      throw new IdxFormatError(
        `${name}: label ${v} at index ${i} is outside 0-${numClasses - 1}.`,
      );
    }
  }
  return file.dims[0] ?? 0;
}
