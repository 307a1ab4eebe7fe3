/**
 * Certified L-infinity operator norms of kernels, in float64: the largest L1 norm over the output
 * channels of a kernel (`docs/linf_layers.md`).
 *
 * A dense layer y = x W ([in, out] kernel) has ||y - y'||_inf <= max_o sum_i |W[i, o]| ||x - x'||_inf,
 * with equality for x - x' = sign(W[:, o]) (so this is the operator norm). A convolution's output
 * at one position and channel o is sum over the window taps t and input channels c of
 * W[t, c, o] x[p(t), c], where each tap reads one input cell or a zero of the padding (whose
 * difference is 0): so |dy| <= sum_{t, c} |W[t, c, o]| ||dx||_inf, for any padding, stride and
 * dilation. A transposed convolution adds, at one output cell, at most one term per tap (the input
 * cell is fixed by the tap), so the same sum over its kernel slice of output channel o bounds it.
 */

/** float64 sum of `n` non-negative terms rounded up: (1 + (n + 1) 2^-53) bounds its relative error. */
function roundedUp(sum: number, n: number): number {
  return sum * (1 + (n + 1) * 2 ** -53);
}

/**
 * Largest L1 norm, over the indices of axis `outAxis` of a row-major tensor of shape `shape`, of
 * the slice at that index (all other axes summed); 0 for an empty tensor.
 */
export function maxSliceL1Norm(values: ArrayLike<number>, shape: readonly number[], outAxis: number): number {
  const outer = shape.slice(0, outAxis).reduce((p, d) => p * d, 1);
  const channels = shape[outAxis] ?? 1;
  const inner = shape.slice(outAxis + 1).reduce((p, d) => p * d, 1);
  const sums = new Float64Array(channels);
  for (let a = 0; a < outer; a++) {
    for (let c = 0; c < channels; c++) {
      const base = (a * channels + c) * inner;
      let s = 0;
      for (let b = 0; b < inner; b++) s += Math.abs(values[base + b]!);
      sums[c] = sums[c]! + s;
    }
  }
  let best = 0;
  for (let c = 0; c < channels; c++) best = Math.max(best, sums[c]!);
  if (Number.isNaN(best) || sums.some((s) => Number.isNaN(s))) return NaN;
  return roundedUp(best, outer * inner);
}
