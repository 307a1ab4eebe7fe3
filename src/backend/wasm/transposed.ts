/**
 * Transposed convolutions as forward ones, shared by the input gradients (`Conv2DBackpropInput`,
 * `DepthwiseConv2dNativeBackpropInput`) and `AvgPoolGrad`: the transposed convolution
 * `dx[b,h,w,c] = sum_{p,q,m} dy[b,i,j,c*M+m] * w[p,q,c,m]` over `h = i*s + p*d - padTop` equals a
 * stride-1 convolution (dilation `d`) of `dy` upsampled by `s` (zeros inserted) and padded by
 * `(K-1)*d - padTop` in front, with the spatially flipped filter.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { Info, WasmScope } from './scope';
import { shape4 } from './scope';

/** Geometry of a transposed convolution, read from the forward convolution's info. */
export interface TransposedGeometry {
  inH: number;
  inW: number;
  outH: number;
  outW: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  top: number;
  left: number;
}

/** The geometry of the transposed convolution of a forward convolution (or pooling) `info`. */
export function transposedGeometry(info: tf.backend_util.Conv2DInfo): TransposedGeometry {
  return {
    inH: info.inHeight, inW: info.inWidth, outH: info.outHeight, outW: info.outWidth,
    kh: info.filterHeight, kw: info.filterWidth, sh: info.strideHeight, sw: info.strideWidth,
    dh: info.dilationHeight, dw: info.dilationWidth, top: info.padInfo.top, left: info.padInfo.left,
  };
}

/**
 * The input of the stride-1 'valid' convolution (dilation d, flipped filter) that computes a
 * transposed convolution: `dy` [B, OH, OW, C] upsampled by the strides (s - 1 zeros after each
 * row / column) and padded by `(K - 1) * d - padBefore` in front, to `H + (K - 1) * d` rows.
 */
export function upsampleAndPad(ops: WasmScope, dy: Info, g: TransposedGeometry): Info {
  const [batch, , , chans] = shape4(dy.shape, 'dy');
  let up = dy;
  if (g.sh > 1 || g.sw > 1) {
    up = ops.reshape(
      ops.padOrCrop(ops.reshape(dy, [batch, g.outH, 1, g.outW, 1, chans]),
        [[0, 0], [0, 0], [0, g.sh - 1], [0, 0], [0, g.sw - 1], [0, 0]]),
      [batch, g.outH * g.sh, g.outW * g.sw, chans]);
  }
  const frontH = (g.kh - 1) * g.dh - g.top;
  const frontW = (g.kw - 1) * g.dw - g.left;
  return ops.padOrCrop(up, [
    [0, 0],
    [frontH, g.inH + (g.kh - 1) * g.dh - frontH - g.outH * g.sh],
    [frontW, g.inW + (g.kw - 1) * g.dw - frontW - g.outW * g.sw],
    [0, 0],
  ]);
}

/** dx of a depthwise convolution with filter [kh, kw, C, M] (also the average-pool gradient). */
export function depthwiseTransposed(ops: WasmScope, dy: Info, filter: Info, inShape: number[], g: TransposedGeometry): Info {
  const [batch, inH, inW, chans] = shape4(inShape, 'inputShape');
  const mult = (filter.shape[3] as number);
  const flipped = ops.reshape(ops.run('Reverse', { x: filter }, { dims: [0, 1] }), [g.kh, g.kw, chans * mult, 1]);
  const out = ops.run('DepthwiseConv2dNative', { x: upsampleAndPad(ops, dy, g), filter: flipped },
    { strides: [1, 1], pad: 'valid', dilations: [g.dh, g.dw] });
  if (mult === 1) return out;
  return ops.sum(ops.reshape(out, [batch, inH, inW, chans, mult]), [4]);
}
