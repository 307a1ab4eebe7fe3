/**
 * Power-iteration vectors kept per training sample (Local-Lip keeps one per sample and piece,
 * `u_train`, so that one power step per update suffices across epochs): host memory, one
 * Float32Array per piece indexed by the sample's position in the training set, grown on demand.
 * A sample not seen yet starts from a seeded Gaussian vector.
 */
import * as tf from '@tensorflow/tfjs-core';
import { normal, uniformGenerator, type Uniform } from '../core/random';

/** One piece's vectors. */
interface PieceStore {
  size: number;
  values: Float32Array;
  seen: Uint8Array;
}

export class SampleVectors {
  private pieces: PieceStore[] | null = null;
  private readonly random: Uniform;

  constructor(seed: number) {
    this.random = uniformGenerator(seed);
  }

  /** True once the piece shapes are known (after the first `put`). */
  get ready(): boolean {
    return this.pieces !== null;
  }

  private gaussian(): number {
    return normal(this.random);
  }

  private grow(store: PieceStore, count: number): void {
    if (count <= store.seen.length) return;
    const capacity = Math.max(count, 2 * store.seen.length);
    const values = new Float32Array(capacity * store.size);
    values.set(store.values);
    const seen = new Uint8Array(capacity);
    seen.set(store.seen);
    store.values = values;
    store.seen = seen;
  }

  /** The vectors of `indices` for every piece, `[n, ...shape]` tensors the caller owns; null before the first `put`. */
  get(indices: Int32Array, shapes: readonly number[][]): tf.Tensor[] | null {
    if (this.pieces === null) return null;
    return this.pieces.map((store, k) => {
      const out = new Float32Array(indices.length * store.size);
      indices.forEach((index, i) => {
        if (index < store.seen.length && store.seen[index] === 1) {
          out.set(store.values.subarray(index * store.size, (index + 1) * store.size), i * store.size);
        } else {
          for (let j = 0; j < store.size; j++) out[i * store.size + j] = this.gaussian();
        }
      });
      return tf.tensor(out, [indices.length, ...shapes[k]!]);
    });
  }

  /** Stores the rows of `values` (one flat array per piece, `[n * size]`) under `indices`. */
  put(indices: Int32Array, values: readonly Float32Array[], sizes: readonly number[]): void {
    this.pieces ??= sizes.map((size) => ({ size, values: new Float32Array(0), seen: new Uint8Array(0) }));
    const top = indices.reduce((m, i) => Math.max(m, i), -1) + 1;
    this.pieces.forEach((store, k) => {
      this.grow(store, top);
      const rows = values[k]!;
      indices.forEach((index, i) => {
        store.values.set(rows.subarray(i * store.size, (i + 1) * store.size), index * store.size);
        store.seen[index] = 1;
      });
    });
  }

  /** Forgets every vector. */
  clear(): void {
    this.pieces = null;
  }
}
