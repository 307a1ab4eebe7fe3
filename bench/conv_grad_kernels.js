/**
 * The convolution kernels of one training step of the DEEL-LIP tutorial CNN on the wasm backend:
 * forward `Conv2D`, `Conv2DBackpropInput` and `Conv2DBackpropFilter` (as registered by
 * `registerWasmGradientKernels`), and the two forms of tfjs-lip's filter gradient side by side
 * (`taps`, and `gradAsFilter`, the only form before issue 13), each broken down into the wasm
 * kernels it runs.
 *
 *   npm run build && node bench/conv_grad_kernels.js [--batch 256] [--runs 15] [--warmup 2]
 *
 * Shapes (3x3, stride 1, 'same'): x [B, 28, 28, 1] -> 16 filters and x [B, 14, 14, 16] -> 32.
 * Every figure is the median of `--runs` timed rounds after `--warmup` untimed ones; in each
 * round every candidate of a shape runs once, in an order reversed every other round, so machine
 * load hits all alike. Every run gets fresh copies of its inputs (made outside the timed part):
 * XNNPACK caches its packed operand (a filter, the right operand of a product) under the
 * tensor's id, which in training is new at every step.
 *
 * The breakdown times every wasm kernel a form runs through `WasmScope.run`; "JS + other" is the
 * rest of the form's time (heap loops of `taps`, allocation, bookkeeping). The last line times
 * the product of `taps` alone, with and without the packing of its right operand.
 */
'use strict';
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-wasm');
const { registerWasmGradientKernels, describeBackend } = require('../dist/backend');
const { WasmScope } = require('../dist/backend/wasm/scope');
const { conv2DBackpropFilterUsing, chooseFilterGradMethod } = require('../dist/backend/wasm/conv2d_backprop_filter');

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const BATCH = arg('--batch', 256);
const RUNS = Math.max(10, arg('--runs', 15));
const WARMUP = arg('--warmup', 2);
const METHODS = ['taps', 'gradAsFilter'];
const SHAPES = [
  { name: 'conv 1->16 on 28x28', x: [BATCH, 28, 28, 1], filters: 16 },
  { name: 'conv 16->32 on 14x14', x: [BATCH, 14, 14, 16], filters: 32 },
];

// Per-kernel times of the form being timed (null outside a filter-gradient form).
let pieces = null;
const shippedRun = WasmScope.prototype.run;
WasmScope.prototype.run = function timedRun(kernelName, inputs, attrs) {
  if (pieces == null) return shippedRun.call(this, kernelName, inputs, attrs);
  const t0 = performance.now();
  const out = shippedRun.call(this, kernelName, inputs, attrs);
  pieces[kernelName] = (pieces[kernelName] ?? 0) + performance.now() - t0;
  return out;
};

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** A fresh copy (new data, new id) of `t`. */
const fresh = (t) => tf.mul(t, 1);

/** The candidates of one shape: name -> (fresh inputs {x, w, dy}) => output tensor. */
function candidates(shape, attrs, backend) {
  const { x, filterShape } = shape;
  const run = (name, inputs, extra) => tf.engine().runKernel(name, inputs, { ...attrs, ...extra });
  const list = {
    'Conv2D (forward)': (t) => run('Conv2D', { x: t.x, filter: t.w }, {}),
    Conv2DBackpropInput: (t) => run('Conv2DBackpropInput', { dy: t.dy, filter: t.w }, { inputShape: x }),
    Conv2DBackpropFilter: (t) => run('Conv2DBackpropFilter', { x: t.x, dy: t.dy }, { filterShape }),
  };
  for (const m of METHODS) {
    const kernel = conv2DBackpropFilterUsing({ method: m });
    list[`filter grad: ${m}`] = (t) => {
      const info = kernel({ inputs: { x: t.x, dy: t.dy }, backend, attrs: { ...attrs, filterShape } });
      return tf.engine().makeTensorFromTensorInfo(info);
    };
  }
  return list;
}

function timeShape(shape, backend) {
  const [B, H, W, C] = shape.x;
  shape.filterShape = [3, 3, C, shape.filters];
  const attrs = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dilations: [1, 1] };
  const base = { x: tf.randomNormal(shape.x, 0, 1, 'float32', 1), w: tf.randomNormal(shape.filterShape, 0, 0.3, 'float32', 2), dy: tf.randomNormal([B, H, W, shape.filters], 0, 1, 'float32', 3) };
  const list = candidates(shape, attrs, backend);
  const times = Object.fromEntries(Object.keys(list).map((n) => [n, []]));
  const parts = Object.fromEntries(METHODS.map((m) => [m, []]));
  const ref = list.Conv2DBackpropFilter(base);
  const errors = {};
  for (let round = 0; round < WARMUP + RUNS; round++) {
    const names = Object.keys(list);
    if (round % 2 === 1) names.reverse();
    for (const name of names) {
      const t = { x: fresh(base.x), w: fresh(base.w), dy: fresh(base.dy) };
      const method = name.startsWith('filter grad: ') ? name.slice(13) : null;
      if (method != null) pieces = {};
      const t0 = performance.now();
      const out = list[name](t);
      const ms = performance.now() - t0;
      if (method != null) {
        parts[method].push({ ...pieces, total: ms });
        pieces = null;
        if (round === 0) errors[method] = tf.tidy(() => tf.max(tf.abs(tf.sub(out, ref))).dataSync()[0] / tf.max(tf.abs(ref)).dataSync()[0]);
      }
      if (round >= WARMUP) times[name].push(ms);
      tf.dispose([out, t.x, t.w, t.dy]);
    }
  }
  tf.dispose([ref, base.x, base.w, base.dy]);
  return { times, parts, errors };
}

/**
 * The product of `taps` alone (`BatchMatMul` [1, kh*kw*C, B*OH*W] x [1, B*OH*W, Co]): with a
 * fresh right operand (XNNPACK packs it first, as in training) and again on the same one (packed
 * operand cached): the difference is the packing.
 */
function timeProduct(shape) {
  const [B, H, W, C] = shape.x;
  const a = tf.randomNormal([1, 9 * C, B * H * W], 0, 1, 'float32', 4);
  const b0 = tf.randomNormal([1, B * H * W, shape.filters], 0, 1, 'float32', 5);
  const fresh = [];
  const cached = [];
  for (let round = 0; round < WARMUP + RUNS; round++) {
    const b = tf.mul(b0, 1);
    let t0 = performance.now();
    const first = tf.engine().runKernel('BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
    const t1 = performance.now();
    const second = tf.engine().runKernel('BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
    if (round >= WARMUP) {
      fresh.push(t1 - t0);
      cached.push(performance.now() - t1);
    }
    tf.dispose([first, second, b]);
  }
  tf.dispose([a, b0]);
  return { fresh: median(fresh), cached: median(cached) };
}

function report(shape, result, info) {
  const { times, parts, errors } = result;
  console.log(`\n### ${shape.name}: x [${shape.x.join(', ')}], filter [${shape.filterShape.join(', ')}] (registered form: ${chooseFilterGradMethod(info)})\n`);
  console.log('| kernel | median ms | min ms |\n| --- | ---: | ---: |');
  for (const [name, v] of Object.entries(times)) console.log(`| ${name} | ${median(v).toFixed(1)} | ${Math.min(...v).toFixed(1)} |`);
  console.log('\nbreakdown of each filter-gradient form (median ms per piece over the timed runs):\n');
  for (const m of METHODS) {
    const runs = parts[m].slice(WARMUP);
    const names = [...new Set(runs.flatMap((r) => Object.keys(r)))].filter((k) => k !== 'total');
    const cells = names.map((k) => `${k} ${median(runs.map((r) => r[k] ?? 0)).toFixed(1)}`);
    const other = median(runs.map((r) => r.total - names.reduce((s, k) => s + (r[k] ?? 0), 0)));
    console.log(`- ${m}: total ${median(runs.map((r) => r.total)).toFixed(1)} = ${cells.join(' + ')} + JS + other ${other.toFixed(1)} (max rel. diff. vs registered ${errors[m].toExponential(1)})`);
  }
  const p = result.product;
  console.log(`- the taps product alone: ${p.fresh.toFixed(1)} ms with a fresh dy (packing + product), ${p.cached.toFixed(1)} ms with dy already packed`);
}

(async () => {
  registerWasmGradientKernels();
  await tf.setBackend('wasm');
  await tf.ready();
  console.log(`wasm ${JSON.stringify(describeBackend())}, batch ${BATCH}, ${RUNS} timed rounds after ${WARMUP} warm-up`);
  const backend = tf.backend();
  for (const shape of SHAPES) {
    const result = { ...timeShape(shape, backend), product: timeProduct(shape) };
    const info = tf.backend_util.computeConv2DInfo(shape.x, shape.filterShape, [1, 1], [1, 1], 'same');
    report(shape, result, info);
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
