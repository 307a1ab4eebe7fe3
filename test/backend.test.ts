/**
 * The wasm composite kernels against a float64 loop oracle and against the cpu backend, the
 * wasm gradients of the ops tfjs-lip trains through, a small CNN trained on wasm vs cpu, leaks,
 * and useFastest. This file switches backends itself (the one exception to the test rule).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { describeBackend, registerWasmGradientKernels, useFastest } from '../src/backend';
import { WASM_COMPOSITE_KERNELS, WASM_WRAPPED_KERNELS } from '../src/backend/wasm_kernels';
import type { FilterGradMethod } from '../src/backend/wasm/conv2d_backprop_filter';
import { chooseFilterGradMethod, conv2DBackpropFilterUsing } from '../src/backend/wasm/conv2d_backprop_filter';
import { tapsApply } from '../src/backend/wasm/filter_grad_taps';
import {
  conv2dFilterGradOracle,
  conv2dInputGradOracle,
  convGeometry,
  depthwiseFilterGradOracle,
  depthwiseInputGradOracle,
  maxPoolOracle,
  OraclePad,
  relativeError,
  seededValues,
} from './helpers/backend';
import { useWasmForSuite } from './helpers/wasm_suite';

const TOL = 1e-4;
useWasmForSuite();

interface Data {
  values: Float32Array;
  shape: number[];
}

function data(shape: number[], seed: number): Data {
  return { values: seededValues(shape.reduce((p, q) => p * q, 1), seed), shape };
}

/** Runs a kernel on `backend` with fresh tensors, returns its values and shape, disposes all. */
async function runOn(backend: string, kernelName: string, inputs: Record<string, Data>, attrs: object): Promise<Data> {
  await tf.setBackend(backend);
  const ts: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(inputs)) ts[k] = tf.tensor(v.values, v.shape);
  const out = tf.engine().runKernel(kernelName, ts as tf.NamedTensorMap, attrs as tf.NamedAttrMap) as tf.Tensor;
  const result = { values: Float32Array.from(out.dataSync()), shape: out.shape.slice() };
  out.dispose();
  Object.values(ts).forEach((t) => t.dispose());
  return result;
}

/** Runs `f` on `backend` with tensors made from `inputs`; returns the arrays it returns. */
async function gradOn(backend: string, inputs: Data[], f: (...xs: tf.Tensor[]) => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const ts = inputs.map((d) => tf.tensor(d.values, d.shape));
    return f(...ts).map((t) => Float32Array.from(t.dataSync()));
  });
}

/**
 * Runs `kernelName` on wasm and checks its output shape and values against the float64 `oracle`,
 * and its values against cpu when `withCpu` (the cpu kernels ignore dilations).
 */
async function expectWasmKernel(
  kernelName: string,
  inputs: Record<string, Data>,
  attrs: object,
  shape: number[],
  oracle: ArrayLike<number>,
  withCpu: boolean,
): Promise<void> {
  const got = await runOn('wasm', kernelName, inputs, attrs);
  expect(got.shape).toEqual(shape);
  expect(relativeError(got.values, oracle)).toBeLessThan(TOL);
  if (withCpu) {
    const ref = await runOn('cpu', kernelName, inputs, attrs);
    expect(relativeError(got.values, ref.values)).toBeLessThan(TOL);
  }
}

function tfPad(pad: OraclePad): 'same' | 'valid' | tf.backend_util.ExplicitPadding {
  if (!Array.isArray(pad)) return pad;
  return [[0, 0], [pad[0], pad[1]], [pad[2], pad[3]], [0, 0]];
}

interface ConvCase {
  name: string;
  xShape: [number, number, number, number];
  k: [number, number];
  outC: number; // conv2d: output channels; depthwise: channel multiplier
  s: number;
  d: number;
  pad: OraclePad;
}

const CONV_CASES: ConvCase[] = [
  { name: '3x3 s1 same, 7x9, batch 2', xShape: [2, 7, 9, 3], k: [3, 3], outC: 4, s: 1, d: 1, pad: 'same' },
  { name: '3x3 s1 valid', xShape: [2, 7, 9, 3], k: [3, 3], outC: 5, s: 1, d: 1, pad: 'valid' },
  { name: '3x3 s2 same, odd size', xShape: [3, 7, 9, 2], k: [3, 3], outC: 4, s: 2, d: 1, pad: 'same' },
  { name: '3x3 s2 valid', xShape: [2, 9, 7, 3], k: [3, 3], outC: 2, s: 2, d: 1, pad: 'valid' },
  { name: '1x1 s1 same, 1 channel in', xShape: [2, 5, 6, 1], k: [1, 1], outC: 8, s: 1, d: 1, pad: 'same' },
  { name: '1x1 s2 valid', xShape: [2, 7, 9, 4], k: [1, 1], outC: 3, s: 2, d: 1, pad: 'valid' },
  { name: '5x5 s1 same, 8 channels', xShape: [2, 7, 9, 8], k: [5, 5], outC: 6, s: 1, d: 1, pad: 'same' },
  { name: '5x5 s2 same', xShape: [2, 9, 11, 3], k: [5, 5], outC: 4, s: 2, d: 1, pad: 'same' },
  { name: '5x3 s1 valid, non-square', xShape: [1, 8, 9, 2], k: [5, 3], outC: 3, s: 1, d: 1, pad: 'valid' },
  { name: '3x3 explicit padding', xShape: [2, 7, 9, 3], k: [3, 3], outC: 4, s: 1, d: 1, pad: [1, 2, 0, 1] },
  { name: '3x3 s2 explicit padding', xShape: [2, 8, 9, 3], k: [3, 3], outC: 2, s: 2, d: 1, pad: [2, 0, 1, 1] },
  { name: '3x3 dilation 2 same', xShape: [2, 9, 11, 3], k: [3, 3], outC: 4, s: 1, d: 2, pad: 'same' },
  { name: '3x3 dilation 2 valid', xShape: [2, 9, 11, 2], k: [3, 3], outC: 3, s: 1, d: 2, pad: 'valid' },
  { name: '3x3 stride 2 and dilation 2 same (kernel attrs only)', xShape: [2, 11, 10, 2], k: [3, 3], outC: 3, s: 2, d: 2, pad: 'same' },
];

function shapesOf(c: ConvCase, depthwise: boolean) {
  const [B, H, W, C] = c.xShape;
  const g = convGeometry(H, W, c.k[0], c.k[1], [c.s, c.s], [c.d, c.d], c.pad);
  const filterShape = [c.k[0], c.k[1], C, c.outC];
  const dyShape = [B, g.outH, g.outW, depthwise ? C * c.outC : c.outC];
  const loop = { xShape: c.xShape, kh: c.k[0], kw: c.k[1], s: [c.s, c.s] as [number, number], d: [c.d, c.d] as [number, number], pad: c.pad };
  return { filterShape, dyShape, loop };
}

/** The NHWC geometry of a convolution case, as the filter-gradient kernel computes it. */
function convInfo(c: ConvCase): tf.backend_util.Conv2DInfo {
  const [, , , C] = c.xShape;
  return tf.backend_util.computeConv2DInfo(c.xShape, [c.k[0], c.k[1], C, c.outC], [c.s, c.s], [c.d, c.d], tfPad(c.pad));
}

/** Cases that pin each form of the wasm filter gradient (`conv2d_backprop_filter.ts`), with the form it picks. */
const FILTER_GRAD_CASES: Array<ConvCase & { form: FilterGradMethod }> = [
  { name: 'tutorial conv 1 (1 -> 16 on 28x28), batch 3', xShape: [3, 28, 28, 1], k: [3, 3], outC: 16, s: 1, d: 1, pad: 'same', form: 'taps' },
  { name: 'tutorial conv 2 (16 -> 32 on 14x14), batch 3', xShape: [3, 14, 14, 16], k: [3, 3], outC: 32, s: 1, d: 1, pad: 'same', form: 'taps' },
  { name: '5x3 s1 same, non-square, 1 channel in', xShape: [2, 8, 9, 1], k: [5, 3], outC: 6, s: 1, d: 1, pad: 'same', form: 'taps' },
  { name: '3x5 s1 valid, non-square, dilation 2', xShape: [2, 9, 13, 1], k: [3, 5], outC: 6, s: 1, d: 2, pad: 'valid', form: 'taps' },
  { name: '3x3 s2 same, 1 channel in', xShape: [2, 9, 8, 1], k: [3, 3], outC: 4, s: 2, d: 1, pad: 'same', form: 'gradAsFilter' },
  { name: '3x3 padding wider than the kernel reaches', xShape: [2, 6, 7, 2], k: [3, 3], outC: 3, s: 1, d: 1, pad: [1, 1, 2, 2], form: 'gradAsFilter' },
  { name: '5x5 s1 same, 16 -> 2 channels (tap matrix 200x dy)', xShape: [2, 6, 7, 16], k: [5, 5], outC: 2, s: 1, d: 1, pad: 'same', form: 'gradAsFilter' },
];

/**
 * Every case with each form that can compute it: gradAsFilter; taps (stride 1, output no wider
 * than the input) as one chunk and with one image per chunk (a tap-matrix budget of 1 value).
 */
const FORCED_FORM_CASES = [...CONV_CASES, ...FILTER_GRAD_CASES].flatMap((c) => {
  const forms: Array<{ form: FilterGradMethod; maxTapValues?: number; label: string }> = [{ form: 'gradAsFilter', label: 'gradAsFilter' }];
  if (tapsApply(convInfo(c))) forms.push({ form: 'taps', label: 'taps' }, { form: 'taps', maxTapValues: 1, label: 'taps, one image per chunk,' });
  return forms.map((f) => ({ ...c, ...f }));
});

describe('registerWasmGradientKernels', () => {
  it('registers the missing kernels for wasm, idempotently', () => {
    registerWasmGradientKernels();
    registerWasmGradientKernels();
    const names = new Set(tf.getKernelsForBackend('wasm').map((k) => k.kernelName));
    for (const k of WASM_COMPOSITE_KERNELS) expect(names.has(k)).toBe(true);
    expect(tf.getKernelsForBackend('wasm').filter((k) => k.kernelName === 'Conv2DBackpropFilter')).toHaveLength(1);
  });
});

/** Float64 `op(a) op(b)` per batch entry (rank 2 or 3, row-major), `op` transposing the last two axes when asked. */
function matMulOracle(a: Data, b: Data, transposeA: boolean, transposeB: boolean): { values: Float64Array; shape: number[] } {
  const rank = a.shape.length;
  const batch = rank === 3 ? a.shape[0]! : 1;
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const [m, k] = transposeA ? [ac, ar] : [ar, ac];
  const n = transposeB ? br : bc;
  const at = (i: number, p: number, q: number) => a.values[i * ar * ac + (transposeA ? q * ac + p : p * ac + q)]!;
  const bt = (i: number, p: number, q: number) => b.values[i * br * bc + (transposeB ? q * bc + p : p * bc + q)]!;
  const out = new Float64Array(batch * m * n);
  for (let i = 0; i < batch; i++)
    for (let r = 0; r < m; r++)
      for (let c = 0; c < n; c++) {
        let sum = 0;
        for (let p = 0; p < k; p++) sum += at(i, r, p) * bt(i, p, c);
        out[i * m * n + r * n + c] = sum;
      }
  return { values: out, shape: rank === 3 ? [batch, m, n] : [m, n] };
}

describe('matrix products on wasm (wrapped BatchMatMul / _FusedMatMul: explicit transposes)', () => {
  const flags: Array<[boolean, boolean]> = [[false, false], [true, false], [false, true], [true, true]];
  const cases = flags.flatMap(([tA, tB]) => [
    { name: `rank 2, transposeA ${tA}, transposeB ${tB}`, a: tA ? [7, 5] : [5, 7], b: tB ? [6, 7] : [7, 6], tA, tB },
    { name: `rank 3 (batch 2), transposeA ${tA}, transposeB ${tB}`, a: tA ? [2, 4, 3] : [2, 3, 4], b: tB ? [2, 5, 4] : [2, 4, 5], tA, tB },
  ]);

  it('wraps the shipped kernels once, keeping their setup', () => {
    registerWasmGradientKernels();
    for (const name of WASM_WRAPPED_KERNELS) {
      const entries = tf.getKernelsForBackend('wasm').filter((k) => k.kernelName === name);
      expect(entries).toHaveLength(1);
      expect(entries[0]!.setupFunc).toBeDefined();
    }
  });

  it.each(cases)('BatchMatMul $name matches the float64 oracle and cpu', async (c) => {
    const a = data(c.a, 51);
    const b = data(c.b, 52);
    const oracle = matMulOracle(a, b, c.tA, c.tB);
    await expectWasmKernel('BatchMatMul', { a, b }, { transposeA: c.tA, transposeB: c.tB }, oracle.shape, oracle.values, true);
  });

  const activations: Array<[tf.fused.Activation, (v: number) => number]> = [
    ['relu', (v) => Math.max(0, v)],
    ['elu', (v) => (v > 0 ? v : Math.exp(v) - 1)],
    ['leakyrelu', (v) => (v > 0 ? v : 0.2 * v)],
    ['sigmoid', (v) => 1 / (1 + Math.exp(-v))],
    ['linear', (v) => v],
  ];
  const fusedCases = cases.flatMap((c, i) => [0, 1].map((j) => ({ ...c, act: activations[(2 * i + j) % activations.length]! })));

  it.each(fusedCases)('_FusedMatMul (tf.fused.matMul) $name with bias and $act.0 matches the float64 oracle and cpu', async (c) => {
    const a = data(c.a, 53);
    const b = data(c.b, 54);
    const product = matMulOracle(a, b, c.tA, c.tB);
    const n = product.shape[product.shape.length - 1]!;
    const bias = data([n], 55);
    const [activation, fn] = c.act;
    const oracle = product.values.map((v, i) => fn(v + bias.values[i % n]!));
    const fused = (x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) => [
      tf.fused.matMul({ a: x, b: y, transposeA: c.tA, transposeB: c.tB, bias: z, activation }),
    ];
    const [got] = await gradOn('wasm', [a, b, bias], fused);
    const [ref] = await gradOn('cpu', [a, b, bias], fused);
    expect(relativeError(got!, oracle)).toBeLessThan(TOL);
    expect(relativeError(got!, ref!)).toBeLessThan(TOL);
  });

  it('releases the transposed operands (engine tensors and wasm buffers)', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend();
    const a = tf.tensor(seededValues(6 * 4, 56), [6, 4]);
    const b = tf.tensor(seededValues(6 * 3, 57), [6, 3]);
    const step = () => tf.dispose([tf.matMul(a, b, true, false), tf.grad((x: tf.Tensor) => tf.sum(tf.matMul(x as tf.Tensor2D, b as tf.Tensor2D, true, false)))(a)]);
    step();
    const tensorsBefore = tf.memory().numTensors;
    const dataBefore = backend.numDataIds();
    for (let i = 0; i < 3; i++) step();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(backend.numDataIds()).toBe(dataBefore);
    tf.dispose([a, b]);
  });
});

describe('Conv2DBackpropFilter on wasm', () => {
  it.each(CONV_CASES)('runKernel matches the float64 oracle and cpu: $name', async (c) => {
    const { filterShape, dyShape, loop } = shapesOf(c, false);
    const x = data(c.xShape, 1);
    const dy = data(dyShape, 2);
    const attrs = { strides: [c.s, c.s], pad: tfPad(c.pad), dataFormat: 'NHWC', filterShape, dilations: [c.d, c.d] };
    const oracle = conv2dFilterGradOracle(x.values, dy.values, loop, c.outC);
    // The cpu kernel ignores dilations: compare only where it applies.
    await expectWasmKernel('Conv2DBackpropFilter', { x, dy }, attrs, filterShape, oracle, c.d === 1);
  });

  it.each(FILTER_GRAD_CASES)('runKernel picks the $form form and matches the float64 oracle and cpu: $name', async (c) => {
    expect(chooseFilterGradMethod(convInfo(c))).toBe(c.form);
    const { filterShape, dyShape, loop } = shapesOf(c, false);
    const x = data(c.xShape, 17);
    const dy = data(dyShape, 18);
    const attrs = { strides: [c.s, c.s], pad: tfPad(c.pad), dataFormat: 'NHWC', filterShape, dilations: [c.d, c.d] };
    const oracle = conv2dFilterGradOracle(x.values, dy.values, loop, c.outC);
    await expectWasmKernel('Conv2DBackpropFilter', { x, dy }, attrs, filterShape, oracle, c.d === 1);
  });

  it.each(FORCED_FORM_CASES)('the $label form matches the float64 oracle: $name', async (c) => {
    const { filterShape, dyShape, loop } = shapesOf(c, false);
    const x = data(c.xShape, 19);
    const dy = data(dyShape, 20);
    const attrs = { strides: [c.s, c.s], pad: tfPad(c.pad), dataFormat: 'NHWC', filterShape, dilations: [c.d, c.d] };
    await tf.setBackend('wasm');
    const got = tf.tidy(() => {
      const inputs = { x: tf.tensor(x.values, x.shape), dy: tf.tensor(dy.values, dy.shape) };
      const info = conv2DBackpropFilterUsing({ method: c.form, maxTapValues: c.maxTapValues })({ inputs, backend: tf.backend(), attrs: attrs as unknown as tf.NamedAttrMap }) as tf.TensorInfo;
      const out = tf.engine().makeTensorFromTensorInfo(info);
      expect(out.shape).toEqual(filterShape);
      return Float32Array.from(out.dataSync());
    });
    expect(relativeError(got, conv2dFilterGradOracle(x.values, dy.values, loop, c.outC))).toBeLessThan(TOL);
  });

  it.each(CONV_CASES)('Conv2DBackpropInput (replaced) runKernel matches the float64 oracle and cpu: $name', async (c) => {
    const { filterShape, dyShape, loop } = shapesOf(c, false);
    const w = data(filterShape, 8);
    const dy = data(dyShape, 9);
    const attrs = { strides: [c.s, c.s], pad: tfPad(c.pad), dataFormat: 'NHWC', inputShape: c.xShape, dilations: [c.d, c.d] };
    const oracle = conv2dInputGradOracle(dy.values, w.values, loop, c.outC);
    await expectWasmKernel('Conv2DBackpropInput', { dy, filter: w }, attrs, c.xShape, oracle, c.d === 1);
  });

  it('numeric padding with dimRoundingMode matches explicit symmetric padding (filter and input grads)', async () => {
    const c: ConvCase = { name: 'pad 1 floor', xShape: [2, 8, 9, 3], k: [3, 3], outC: 2, s: 2, d: 1, pad: [1, 1, 1, 1] };
    const { filterShape, dyShape, loop } = shapesOf(c, false);
    const x = data(c.xShape, 12);
    const dy = data(dyShape, 13);
    const w = data(filterShape, 14);
    const base = { strides: [2, 2], pad: 1, dimRoundingMode: 'floor', dataFormat: 'NHWC' };
    const dw = await runOn('wasm', 'Conv2DBackpropFilter', { x, dy }, { ...base, filterShape });
    expect(relativeError(dw.values, conv2dFilterGradOracle(x.values, dy.values, loop, c.outC))).toBeLessThan(TOL);
    const dx = await runOn('wasm', 'Conv2DBackpropInput', { dy, filter: w }, { ...base, inputShape: c.xShape });
    expect(relativeError(dx.values, conv2dInputGradOracle(dy.values, w.values, loop, c.outC))).toBeLessThan(TOL);
  });

  it('Conv2DBackpropInput handles NCHW (dataFormat attr)', async () => {
    const c = CONV_CASES[7] as ConvCase;
    const { filterShape, dyShape, loop } = shapesOf(c, false);
    const w = data(filterShape, 10);
    const dy = data(dyShape, 11);
    const oracle = conv2dInputGradOracle(dy.values, w.values, loop, c.outC);
    await tf.setBackend('wasm');
    const [B, H, W, C] = c.xShape;
    const got = tf.tidy(() => {
      const dyc = tf.transpose(tf.tensor(dy.values, dy.shape), [0, 3, 1, 2]);
      const out = tf.engine().runKernel('Conv2DBackpropInput', { dy: dyc, filter: tf.tensor(w.values, w.shape) },
        { strides: [c.s, c.s], pad: 'same', dataFormat: 'NCHW', inputShape: [B, C, H, W] } as unknown as tf.NamedAttrMap) as tf.Tensor;
      expect(out.shape).toEqual([B, C, H, W]);
      return Float32Array.from(tf.transpose(out, [0, 2, 3, 1]).dataSync());
    });
    expect(relativeError(got, oracle)).toBeLessThan(TOL);
  });

  // gradAsFilter (stride 2), taps with 3 channels and with 1.
  it.each([CONV_CASES[2], CONV_CASES[0], FILTER_GRAD_CASES[0]] as ConvCase[])('handles NCHW inputs (dataFormat attr): $name', async (c) => {
    const { filterShape, dyShape, loop } = shapesOf(c, false);
    const x = data(c.xShape, 3);
    const dy = data(dyShape, 4);
    const oracle = conv2dFilterGradOracle(x.values, dy.values, loop, c.outC);
    await tf.setBackend('wasm');
    const got = tf.tidy(() => {
      const xc = tf.transpose(tf.tensor(x.values, x.shape), [0, 3, 1, 2]);
      const dyc = tf.transpose(tf.tensor(dy.values, dy.shape), [0, 3, 1, 2]);
      const out = tf.engine().runKernel('Conv2DBackpropFilter', { x: xc, dy: dyc },
        { strides: [c.s, c.s], pad: 'same', dataFormat: 'NCHW', filterShape } as unknown as tf.NamedAttrMap) as tf.Tensor;
      return Float32Array.from(out.dataSync());
    });
    expect(relativeError(got, oracle)).toBeLessThan(TOL);
  });

  it.each(CONV_CASES.filter((c) => c.d === 1))('tf.grad of conv2d w.r.t. x and filter matches cpu and the oracle: $name', async (c) => {
    const { filterShape, dyShape, loop } = shapesOf(c, false);
    const x = data(c.xShape, 5);
    const w = data(filterShape, 6);
    const r = data(dyShape, 7);
    const f = (xt: tf.Tensor, wt: tf.Tensor, rt: tf.Tensor) =>
      tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, tfPad(c.pad)), rt)))([xt, wt]);
    const [dxW, dwW] = (await gradOn('wasm', [x, w, r], f)) as [Float32Array, Float32Array];
    const [dxC, dwC] = (await gradOn('cpu', [x, w, r], f)) as [Float32Array, Float32Array];
    expect(relativeError(dwW, dwC)).toBeLessThan(TOL);
    expect(relativeError(dxW, dxC)).toBeLessThan(TOL);
    expect(relativeError(dwW, conv2dFilterGradOracle(x.values, r.values, loop, c.outC))).toBeLessThan(TOL);
    expect(relativeError(dxW, conv2dInputGradOracle(r.values, w.values, loop, c.outC))).toBeLessThan(TOL);
  });
});

const DEPTHWISE_CASES: ConvCase[] = [
  { name: '3x3 s1 same, multiplier 1', xShape: [2, 7, 9, 3], k: [3, 3], outC: 1, s: 1, d: 1, pad: 'same' },
  { name: '3x3 s1 valid, multiplier 2', xShape: [2, 7, 9, 3], k: [3, 3], outC: 2, s: 1, d: 1, pad: 'valid' },
  { name: '3x3 s2 same, odd size, multiplier 2', xShape: [3, 7, 9, 2], k: [3, 3], outC: 2, s: 2, d: 1, pad: 'same' },
  { name: '3x3 s2 valid', xShape: [2, 9, 7, 4], k: [3, 3], outC: 1, s: 2, d: 1, pad: 'valid' },
  { name: '1x1 s1 same', xShape: [2, 5, 6, 5], k: [1, 1], outC: 3, s: 1, d: 1, pad: 'same' },
  { name: '1x1 s2 valid', xShape: [2, 7, 9, 4], k: [1, 1], outC: 1, s: 2, d: 1, pad: 'valid' },
  { name: '5x5 s1 same, 8 channels', xShape: [2, 7, 9, 8], k: [5, 5], outC: 1, s: 1, d: 1, pad: 'same' },
  { name: '5x5 s2 same, multiplier 3', xShape: [2, 9, 11, 3], k: [5, 5], outC: 3, s: 2, d: 1, pad: 'same' },
  { name: '5x3 s1 valid, non-square', xShape: [1, 8, 9, 2], k: [5, 3], outC: 2, s: 1, d: 1, pad: 'valid' },
  { name: '3x3 explicit padding', xShape: [2, 7, 9, 3], k: [3, 3], outC: 2, s: 1, d: 1, pad: [1, 2, 0, 1] },
  { name: '3x3 s2 explicit padding', xShape: [2, 8, 9, 3], k: [3, 3], outC: 1, s: 2, d: 1, pad: [2, 0, 1, 1] },
  { name: '3x3 dilation 2 same', xShape: [2, 9, 11, 3], k: [3, 3], outC: 2, s: 1, d: 2, pad: 'same' },
  { name: '3x3 dilation 2 valid', xShape: [2, 9, 11, 2], k: [3, 3], outC: 1, s: 1, d: 2, pad: 'valid' },
  { name: '3x3 stride 2 and dilation 2 valid (kernel attrs only)', xShape: [2, 11, 10, 2], k: [3, 3], outC: 2, s: 2, d: 2, pad: 'valid' },
];

describe('depthwise conv gradients on wasm', () => {
  it.each(DEPTHWISE_CASES)('DepthwiseConv2dNativeBackpropFilter matches the oracle and cpu: $name', async (c) => {
    const { filterShape, dyShape, loop } = shapesOf(c, true);
    const x = data(c.xShape, 11);
    const dy = data(dyShape, 12);
    const attrs = { strides: [c.s, c.s], pad: tfPad(c.pad), filterShape, dilations: [c.d, c.d] };
    const oracle = depthwiseFilterGradOracle(x.values, dy.values, loop, c.outC);
    await expectWasmKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, attrs, filterShape, oracle, c.d === 1);
  });

  it.each(DEPTHWISE_CASES)('DepthwiseConv2dNativeBackpropInput matches the oracle and cpu: $name', async (c) => {
    const { filterShape, dyShape, loop } = shapesOf(c, true);
    const w = data(filterShape, 13);
    const dy = data(dyShape, 14);
    const attrs = { strides: [c.s, c.s], pad: tfPad(c.pad), inputShape: c.xShape, dilations: [c.d, c.d] };
    const oracle = depthwiseInputGradOracle(dy.values, w.values, loop, c.outC);
    await expectWasmKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter: w }, attrs, c.xShape, oracle, c.d === 1);
  });

  it.each(DEPTHWISE_CASES.filter((c) => c.d === 1 && !Array.isArray(c.pad)))('tf.grad of depthwiseConv2d matches cpu: $name', async (c) => {
    const { filterShape, dyShape } = shapesOf(c, true);
    const x = data(c.xShape, 15);
    const w = data(filterShape, 16);
    const r = data(dyShape, 17);
    const f = (xt: tf.Tensor, wt: tf.Tensor, rt: tf.Tensor) =>
      tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad as 'same' | 'valid'), rt)))([xt, wt]);
    const wasm = await gradOn('wasm', [x, w, r], f);
    const cpu = await gradOn('cpu', [x, w, r], f);
    expect(relativeError(wasm[0] as Float32Array, cpu[0] as Float32Array)).toBeLessThan(TOL);
    expect(relativeError(wasm[1] as Float32Array, cpu[1] as Float32Array)).toBeLessThan(TOL);
  });
});

describe('UnsortedSegmentSum on wasm (gradient of gather)', () => {
  it('matches cpu and a hand sum, including repeated and 2-D indices', async () => {
    const x = data([5, 3], 21);
    const ids = [[4, 0, 4], [2, 4, 1]];
    const r = data([2, 3, 3], 22);
    const f = (xt: tf.Tensor, rt: tf.Tensor) => {
      const idx = tf.tensor2d(ids, [2, 3], 'int32');
      return [tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.gather(a, idx), rt)))(xt)];
    };
    const [gw] = (await gradOn('wasm', [x, r], f)) as [Float32Array];
    const [gc] = (await gradOn('cpu', [x, r], f)) as [Float32Array];
    const oracle = new Float64Array(15);
    ids.flat().forEach((row, n) => {
      for (let j = 0; j < 3; j++) oracle[row * 3 + j] = (oracle[row * 3 + j] as number) + (r.values[n * 3 + j] as number);
    });
    expect(relativeError(gw, oracle)).toBeLessThan(TOL);
    expect(relativeError(gw, gc)).toBeLessThan(TOL);
  });
});

describe('gradients of the ops tfjs-lip trains through, wasm vs cpu', () => {
  const x4 = data([2, 7, 9, 4], 31);
  const ops: Array<[string, (x: tf.Tensor) => tf.Tensor]> = [
    ['avgPool 2x2 s2 same', (x) => tf.avgPool(x as tf.Tensor4D, 2, 2, 'same')],
    ['avgPool 3x3 s1 valid', (x) => tf.avgPool(x as tf.Tensor4D, 3, 1, 'valid')],
    ['maxPool 2x2 s2 valid', (x) => tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid')],
    ['maxPool 3x3 s2 same', (x) => tf.maxPool(x as tf.Tensor4D, 3, 2, 'same')],
    ['conv2dTranspose s2 same', (x) => tf.conv2dTranspose(x as tf.Tensor4D, tf.tensor4d(seededValues(3 * 3 * 5 * 4, 9), [3, 3, 5, 4]), [2, 13, 17, 5], 2, 'same')],
    ['sqrt(x^2 + 1)', (x) => tf.sqrt(tf.add(tf.square(x), 1))],
    ['max over axis 3', (x) => tf.max(x, 3)],
    ['min over axis 1', (x) => tf.min(x, 1)],
    ['max over axis 3 of negative values', (x) => tf.max(tf.sub(x, 2), 3)],
    ['maxPool 2x2 s2 of negative values', (x) => tf.maxPool(tf.sub(x, 2) as tf.Tensor4D, 2, 2, 'valid')],
    ['topk values (forward only: TopK has no gradient in tfjs-core)', (x) => tf.topk(tf.reshape(x, [14, 36]), 5).values],
    ['maximum / minimum (group sort 2)', (x) => { const [a, b] = tf.split(x, 2, 3) as [tf.Tensor, tf.Tensor]; return tf.concat([tf.maximum(a, b), tf.minimum(a, b)], 3); }],
    ['matMul + transpose', (x) => tf.matMul(tf.reshape(x, [14, 36]), tf.transpose(tf.reshape(x, [14, 36])))],
    ['pad', (x) => tf.pad(x, [[0, 0], [1, 2], [2, 1], [0, 0]])],
    ['spaceToBatchND / batchToSpaceND', (x) => tf.batchToSpaceND(tf.mul(tf.spaceToBatchND(tf.slice(x, [0, 0, 0, 0], [2, 6, 8, 4]), [2, 2], [[0, 0], [0, 0]]), 2), [2, 2], [[0, 0], [0, 0]])],
    ['space-to-depth by reshape + transpose', (x) => tf.reshape(tf.transpose(tf.reshape(tf.slice(x, [0, 0, 0, 0], [2, 6, 8, 4]), [2, 3, 2, 4, 2, 4]), [0, 1, 3, 2, 4, 5]), [2, 3, 4, 16])],
    // Cumsum's gradient is wrong in tfjs-core 4.22 on every backend unless the axis is the last one.
    ['cumsum (last axis)', (x) => tf.cumsum(x, 3)],
    ['l2 normalize (sum of squares, rsqrt)', (x) => tf.mul(x, tf.rsqrt(tf.sum(tf.square(x), 3, true)))],
    ['abs, relu, elu, sigmoid', (x) => tf.add(tf.add(tf.abs(x), tf.relu(x)), tf.add(tf.elu(x), tf.sigmoid(x)))],
    ['softmax cross-entropy', (x) => tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d([0, 3, 1, 2, 3, 0, 1], 'int32'), 4), tf.reshape(tf.slice(x, [0, 0, 0, 0], [1, 7, 1, 4]), [7, 4]))],
  ];
  it.each(ops)('%s', async (name, op) => {
    const withGrad = !name.startsWith('topk');
    const f = (xt: tf.Tensor) => {
      const y = op(xt);
      if (!withGrad) return [y];
      const r = tf.tensor(seededValues(y.size, 32), y.shape);
      return [y, tf.grad((a: tf.Tensor) => tf.sum(tf.mul(op(a), r)))(xt)];
    };
    const wasm = await gradOn('wasm', [x4], f);
    const cpu = await gradOn('cpu', [x4], f);
    cpu.forEach((ref, i) => {
      expect(relativeError(wasm[i] as Float32Array, ref)).toBeLessThan(TOL);
      expect(Math.max(...Array.from(ref).map(Math.abs))).toBeGreaterThan(0);
    });
  });
});

describe('max pooling on wasm (replaced MaxPoolGrad / MaxPoolWithArgmax)', () => {
  const cases: Array<[string, number[], number, number, 'same' | 'valid', number]> = [
    ['2x2 s2 valid, mixed signs', [2, 8, 8, 4], 2, 2, 'valid', 0],
    ['2x2 s2 valid, odd size', [2, 7, 9, 3], 2, 2, 'valid', 0],
    ['3x3 s2 same, odd size', [2, 7, 9, 3], 3, 2, 'same', 0],
    ['3x3 s1 same (overlapping windows)', [1, 6, 5, 2], 3, 1, 'same', 0],
    ['2x2 s2 valid, all negative', [1, 4, 6, 2], 2, 2, 'valid', -2],
  ];
  it.each(cases)('%s: gradient and argmax match the oracle and cpu', async (_name, shape, k, s, pad, shift) => {
    const x = data(shape, 61);
    x.values = x.values.map((v) => v + shift);
    const f = (xt: tf.Tensor) => {
      const y = tf.maxPool(xt as tf.Tensor4D, k, s, pad);
      const r = tf.tensor(seededValues(y.size, 62), y.shape);
      const [pooled, argmax] = tf.engine().runKernel('MaxPoolWithArgmax', { x: xt },
        { filterSize: [k, k], strides: [s, s], pad, includeBatchInIndex: true }) as tf.Tensor[];
      return [tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, k, s, pad), r)))(xt), r, pooled as tf.Tensor, argmax as tf.Tensor];
    };
    const [dxW, r, pooledW, argmaxW] = (await gradOn('wasm', [x], f)) as [Float32Array, Float32Array, Float32Array, Float32Array];
    const [dxC] = (await gradOn('cpu', [x], f)) as [Float32Array];
    const oracle = maxPoolOracle(x.values, shape, k, s, pad, r);
    expect(relativeError(dxW, oracle.dx)).toBeLessThan(TOL);
    expect(relativeError(dxW, dxC)).toBeLessThan(TOL);
    expect(relativeError(pooledW, oracle.pooled)).toBeLessThan(TOL);
    expect(Array.from(argmaxW)).toEqual(Array.from(oracle.argmax));
  });
});

describe('average pooling gradient on wasm (replaced AvgPoolGrad)', () => {
  const cases: Array<[string, number[], number, number, 'same' | 'valid']> = [
    ['2x2 s2 valid', [2, 8, 8, 4], 2, 2, 'valid'],
    ['2x2 s2 valid, odd size', [2, 7, 9, 3], 2, 2, 'valid'],
    ['2x2 s2 same, odd size', [2, 7, 9, 3], 2, 2, 'same'],
    ['3x3 s2 same', [1, 9, 7, 2], 3, 2, 'same'],
    ['3x3 s1 valid', [2, 6, 5, 3], 3, 1, 'valid'],
    ['3x3 s1 same', [1, 6, 5, 2], 3, 1, 'same'],
  ];
  it.each(cases)('%s: matches the oracle (dy / (k*k) per window pixel) and cpu', async (_name, shape, k, s, pad) => {
    const x = data(shape, 71);
    const f = (xt: tf.Tensor) => {
      const y = tf.avgPool(xt as tf.Tensor4D, k, s, pad);
      const r = tf.tensor(seededValues(y.size, 72), y.shape);
      return [tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.avgPool(a as tf.Tensor4D, k, s, pad), r)))(xt), r];
    };
    const [dxW, r] = (await gradOn('wasm', [x], f)) as [Float32Array, Float32Array];
    const [dxC] = (await gradOn('cpu', [x], f)) as [Float32Array];
    const [B, H, W, C] = shape as [number, number, number, number];
    const g = convGeometry(H, W, k, k, [s, s], [1, 1], pad);
    const oracle = new Float64Array(x.values.length);
    for (let b = 0; b < B; b++)
      for (let i = 0; i < g.outH; i++)
        for (let j = 0; j < g.outW; j++)
          for (let p = 0; p < k; p++)
            for (let q = 0; q < k; q++) {
              const h = i * s + p - g.top;
              const w = j * s + q - g.left;
              if (h < 0 || h >= H || w < 0 || w >= W) continue;
              for (let c = 0; c < C; c++) {
                const at = ((b * H + h) * W + w) * C + c;
                oracle[at] = (oracle[at] as number) + (r[((b * g.outH + i) * g.outW + j) * C + c] as number) / (k * k);
              }
            }
    expect(relativeError(dxW, oracle)).toBeLessThan(TOL);
    expect(relativeError(dxW, dxC)).toBeLessThan(TOL);
  });
});

describe('memory', () => {
  it('composite kernels release every intermediate (engine tensors and wasm buffers)', async () => {
    await tf.setBackend('wasm');
    const backend = tf.backend();
    const x = tf.tensor(seededValues(2 * 7 * 9 * 3, 41), [2, 7, 9, 3]);
    const w = tf.tensor(seededValues(3 * 3 * 3 * 2, 42), [3, 3, 3, 2]) as tf.Tensor4D;
    const dw = tf.tensor(seededValues(3 * 3 * 3 * 2, 43), [3, 3, 3, 2]);
    const x2 = tf.slice(x, [0, 0, 0, 0], [2, 7, 9, 2]);
    const x1 = tf.slice(x, [0, 0, 0, 0], [2, 7, 9, 1]) as tf.Tensor4D;
    const w1 = tf.tensor(seededValues(3 * 3 * 4, 44), [3, 3, 1, 4]);
    const step = () => {
      const g1 = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'))))([x, w]);
      const g2 = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'valid'))))([x, dw]);
      const g3 = tf.grad((a: tf.Tensor) => tf.sum(tf.gather(a, tf.tensor1d([1, 1, 0], 'int32'))))(x);
      const g4 = tf.grad((a: tf.Tensor) => tf.sum(tf.square(tf.maxPool(tf.avgPool(a as tf.Tensor4D, 2, 1, 'same'), 2, 2, 'same'))))(x);
      const g5 = tf.grad((a: tf.Tensor) => tf.sum(tf.square(tf.conv2dTranspose(a as tf.Tensor4D, w, [2, 13, 17, 3], 2, 'same'))))(x2);
      // Stride 1 from one channel: the taps form of the filter gradient.
      const g6 = tf.grad((b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(x1, b as tf.Tensor4D, 1, 'same'))))(w1);
      [...g1, ...g2, g3, g4, g5, g6].forEach((t) => t.dispose());
    };
    step();
    const tensorsBefore = tf.memory().numTensors;
    const dataBefore = backend.numDataIds();
    for (let i = 0; i < 3; i++) step();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(backend.numDataIds()).toBe(dataBefore);
    tf.dispose([x, x1, x2, w, w1, dw]);
  });
});

/** conv(1->4, 3x3, same) - relu - avgPool 2 - conv(4->6, 3x3, same) - relu - maxPool 2 - flatten - dense(3). */
function smallCnn(): tfl.Sequential {
  const model = tfl.sequential();
  model.add(tfl.layers.conv2d({ inputShape: [9, 9, 1], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }));
  model.add(tfl.layers.averagePooling2d({ poolSize: 2 }));
  model.add(tfl.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu' }));
  model.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  model.add(tfl.layers.flatten());
  model.add(tfl.layers.dense({ units: 3 }));
  return model;
}

interface StepResult {
  loss: number;
  grads: Float32Array[];
  updated: Float32Array[];
}

async function trainOneStep(backend: string, weights: Data[], xs: Data, ys: Data): Promise<StepResult> {
  await tf.setBackend(backend);
  const model = smallCnn();
  const initial = weights.map((d) => tf.tensor(d.values, d.shape));
  model.setWeights(initial);
  tf.dispose(initial);
  const x = tf.tensor(xs.values, xs.shape);
  const y = tf.tensor(ys.values, ys.shape);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { value, grads } = tf.variableGrads(() => tf.losses.meanSquaredError(y, model.predict(x) as tf.Tensor) as tf.Scalar, vars);
  value.dispose();
  const gradArrays = vars.map((v) => Float32Array.from((grads[v.name] as tf.Tensor).dataSync()));
  tf.dispose(Object.values(grads));
  const optimizer = tf.train.sgd(0.1);
  model.compile({ optimizer, loss: 'meanSquaredError' });
  const history = await model.fit(x, y, { epochs: 1, batchSize: xs.shape[0], shuffle: false, verbose: 0 });
  const updated = model.getWeights().map((w) => Float32Array.from(w.dataSync()));
  tf.dispose([x, y]);
  model.dispose();
  optimizer.dispose();
  return { loss: history.history.loss?.[0] as number, grads: gradArrays, updated };
}

describe('small CNN on wasm', () => {
  it('one fit step gives the loss, gradients and weights of cpu', async () => {
    await tf.setBackend('cpu');
    const init = smallCnn();
    const weights = init.getWeights().map((w, i) => ({ values: Float32Array.from(w.dataSync()).map((v, j) => v + 0.01 * Math.sin(i + j)), shape: w.shape.slice() }));
    init.dispose();
    const xs = data([6, 9, 9, 1], 51);
    const ys = data([6, 3], 52);
    const cpu = await trainOneStep('cpu', weights, xs, ys);
    const before = (await tf.setBackend('wasm'), tf.memory().numTensors);
    const wasm = await trainOneStep('wasm', weights, xs, ys);
    await tf.setBackend('wasm');
    expect(tf.memory().numTensors).toBe(before);
    expect(Math.abs(wasm.loss - cpu.loss) / Math.abs(cpu.loss)).toBeLessThan(TOL);
    expect(cpu.grads).toHaveLength(6);
    cpu.grads.forEach((g, i) => {
      expect(relativeError(wasm.grads[i] as Float32Array, g)).toBeLessThan(TOL);
      expect(Math.max(...Array.from(g).map(Math.abs))).toBeGreaterThan(0);
    });
    cpu.updated.forEach((u, i) => expect(relativeError(wasm.updated[i] as Float32Array, u)).toBeLessThan(TOL));
    // The step moved the weights by lr * gradient.
    const moved = relativeError(cpu.updated[0] as Float32Array, weights[0]?.values as Float32Array);
    expect(moved).toBeGreaterThan(1e-4);
  });
});

describe('useFastest', () => {
  it('picks wasm when tfjs-node is absent, with the gradient kernels registered', async () => {
    // The optional native peers are not installed in this repository.
    expect(() => require.resolve('@tensorflow/tfjs-node')).toThrow();
    expect(() => require.resolve('@tensorflow/tfjs-node-gpu')).toThrow();
    await tf.setBackend('cpu');
    const name = await useFastest();
    expect(name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    expect(describeBackend().name).toBe('wasm');
    // A conv filter gradient runs on the chosen backend.
    const g = tf.tidy(() => tf.grad((w: tf.Tensor) => tf.sum(tf.conv2d(tf.ones([1, 3, 3, 1]) as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid')))(tf.ones([3, 3, 1, 1])).dataSync());
    expect(Array.from(g)).toEqual(new Array(9).fill(1));
  });

  it('falls back to cpu when native and wasm are both declined', async () => {
    expect(await useFastest({ native: false, wasm: false })).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
  });
});
