/**
 * The window scan behind tfjs-lip's wasm `MaxPoolGrad` and `MaxPoolWithArgmax`. The shipped 4.22
 * kernels start the running maximum at `FLT_MIN` (the smallest positive float) instead of
 * `-Infinity`, so any window whose values are all `<= 0` (negative pre-activations, or an all-zero
 * window after a ReLU) gets a wrong maximum and sends its gradient to the wrong pixel (element 0).
 * This scan follows the cpu backend's rule: the first maximum of the window in row-major order,
 * padded positions excluded.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Pair, PadAttr, RoundingMode } from './scope';
import { shape4 } from './scope';

/**
 * Visits the windows of a 2-D max pool (NHWC) and, for each window and channel, calls
 * `found(outIndex, inIndex)` with the flat index of the first maximum in row-major order
 * (padded positions excluded; a window of NaNs only is skipped).
 */
export function forEachWindowMax(x: ArrayLike<number>, info: tf.backend_util.Conv2DInfo, found: (outIndex: number, inIndex: number) => void): void {
  const { batchSize, inHeight, inWidth, inChannels: chans, outHeight, outWidth } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const { effectiveFilterHeight: fh, effectiveFilterWidth: fw } = info;
  const { top, left } = info.padInfo;
  const best = new Float64Array(chans);
  const pos = new Int32Array(chans);
  let outIndex = 0;
  for (let b = 0; b < batchSize; b++) {
    for (let i = 0; i < outHeight; i++) {
      const h0 = i * sh - top;
      for (let j = 0; j < outWidth; j++) {
        const w0 = j * sw - left;
        best.fill(-Infinity);
        pos.fill(-1);
        for (let p = 0; p < fh; p += dh) {
          const h = h0 + p;
          if (h < 0 || h >= inHeight) continue;
          for (let q = 0; q < fw; q += dw) {
            const w = w0 + q;
            if (w < 0 || w >= inWidth) continue;
            const base = ((b * inHeight + h) * inWidth + w) * chans;
            for (let c = 0; c < chans; c++) {
              const v = x[base + c] as number;
              if (v > (best[c] as number) || (pos[c] === -1 && v === -Infinity)) {
                best[c] = v;
                pos[c] = base + c;
              }
            }
          }
        }
        for (let c = 0; c < chans; c++) {
          const at = pos[c] as number;
          if (at >= 0) found(outIndex + c, at);
        }
        outIndex += chans;
      }
    }
  }
}

/** The pooling geometry of a `MaxPoolGrad` call (dilation 1). */
export function poolInfo(xShape: number[], a: Record<string, unknown>): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computePool2DInfo(shape4(xShape, 'x'), a.filterSize as Pair | number,
    a.strides as Pair | number, 1, a.pad as PadAttr, a.dimRoundingMode as RoundingMode);
}
