/**
 * lip.activations against float64 plain-JS references (test/helpers/activations_reference.ts):
 * outputs, Lipschitz bound on random pairs, gradients (finite differences of the reference),
 * orthogonal Jacobians (gradient-norm preservation), PReLULip's slope bound under training,
 * vanilla export, serialization round trips and the validation table.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as lip from '../src/activations';
import { LipschitzConfigError } from '../src/core/errors';
import { sortPairs, sortPairsComposite } from '../src/ops/sort';
import { isCondensable, isLipschitzLayer, LipschitzLayer } from '../src/core/contracts';
import { finiteDifferenceGradient } from './helpers/oracles';
import { mulberry32 } from './helpers/random';
import {
  groupSortRef,
  householderRef,
  maxMinChannelsFirstRef,
  maxMinRef,
  maxOutRef,
  norm,
  preluRef,
  sub,
} from './helpers/activations_reference';

type Act = tfl.layers.Layer & LipschitzLayer;

const rng = mulberry32;

const size = (shape: number[]) => shape.reduce((p, d) => p * d, 1);

/** Gaussian samples, float32-rounded. */
function gaussian(r: () => number, n: number, scale = 1): number[] {
  return Array.from({ length: n }, () => Math.fround(scale * Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r())));
}

/** A sample whose entries are pairwise >= 0.27 apart and >= 0.08 away from 0 (no kinks near). */
function spaced(r: () => number, n: number): number[] {
  const values = Array.from({ length: n }, (_, i) => (i - n / 2 + 0.5) * 0.37 + (r() - 0.5) * 0.1);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [values[i], values[j]] = [values[j]!, values[i]!];
  }
  return values.map((v) => Math.fround(v));
}

/** Applies a (built or unbuilt) layer to a batch of flat samples of `shape`. */
function apply(layer: tfl.layers.Layer, samples: number[][], shape: number[]): number[][] {
  return tf.tidy(() => {
    const x = tf.tensor(samples.flat(), [samples.length, ...shape]);
    const y = layer.apply(x) as tf.Tensor;
    const flat = Array.from(y.dataSync());
    const per = flat.length / samples.length;
    return samples.map((_, i) => flat.slice(i * per, (i + 1) * per));
  });
}

interface Spec {
  name: string;
  make: () => Act;
  shapes: number[][];
  /** Reference output of one flat sample, given the built layer. */
  ref: (x: number[], shape: number[], layer: Act) => number[];
  /** Sets weights after build (random slopes / angles). */
  prepare?: (layer: Act, r: () => number) => void;
  /** Jacobian with orthogonal columns scaled by this factor (square: also orthogonal rows). */
  isometry?: { scale: number; square: boolean };
  /** Whether `vanillaExport` exists for these shapes. */
  exportable: boolean;
}

const channels = (shape: number[]) => shape[shape.length - 1]!;

const clippedSlopes = (layer: Act): number[] => {
  const s = (layer as lip.PReLULip).slopes();
  const v = Array.from(s.dataSync());
  s.dispose();
  return v;
};

const angles = (layer: Act): number[] => {
  const t = (layer as lip.Householder).angles();
  const v = Array.from(t.dataSync());
  t.dispose();
  return v;
};

const SPECS: Spec[] = [
  {
    name: 'groupSort2',
    make: () => lip.groupSort2(),
    shapes: [[8], [3, 4, 6], [130]],
    ref: (x, s) => groupSortRef(x, channels(s), 2),
    isometry: { scale: 1, square: true },
    exportable: true,
  },
  {
    name: 'groupSort2 (kCoefLip 2)',
    make: () => lip.groupSort2({ kCoefLip: 2 }),
    shapes: [[6], [2, 2, 4]],
    ref: (x, s) => groupSortRef(x, channels(s), 2).map((v) => 2 * v),
    isometry: { scale: 2, square: true },
    exportable: true,
  },
  {
    name: 'groupSort (groupSize 3)',
    make: () => lip.groupSort({ groupSize: 3 }),
    shapes: [[12], [2, 2, 6]],
    ref: (x, s) => groupSortRef(x, channels(s), 3),
    isometry: { scale: 1, square: true },
    exportable: false,
  },
  {
    name: 'groupSort (n 4, DEEL-LIP name)',
    make: () => lip.groupSort({ n: 4 }),
    shapes: [[8], [2, 3, 4]],
    ref: (x, s) => groupSortRef(x, channels(s), 4),
    isometry: { scale: 1, square: true },
    exportable: false,
  },
  {
    name: 'fullSort',
    make: () => lip.fullSort(),
    shapes: [[7], [2, 2, 5]],
    ref: (x, s) => groupSortRef(x, channels(s), channels(s)),
    isometry: { scale: 1, square: true },
    exportable: false,
  },
  {
    name: 'maxMin',
    make: () => lip.maxMin(),
    shapes: [[5], [2, 3, 4]],
    ref: (x, s) => maxMinRef(x, channels(s)),
    isometry: { scale: 1, square: false },
    exportable: true,
  },
  {
    name: 'maxMin (channelsFirst)',
    make: () => lip.maxMin({ dataFormat: 'channelsFirst' }),
    shapes: [[3, 2, 2]],
    ref: (x) => maxMinChannelsFirstRef(x),
    isometry: { scale: 1, square: false },
    exportable: true,
  },
  {
    name: 'maxOut (numUnits 3)',
    make: () => lip.maxOut({ numUnits: 3 }),
    shapes: [[12], [2, 2, 6]],
    ref: (x, s) => maxOutRef(x, channels(s), 3),
    exportable: true,
  },
  {
    name: 'pReLULip (kCoefLip 2)',
    make: () => lip.pReLULip({ kCoefLip: 2 }),
    shapes: [[6], [2, 2, 3]],
    ref: (x, _s, layer) => preluRef(x, clippedSlopes(layer)),
    prepare: (layer, r) => {
      const w = layer.getWeights()[0] as tf.Tensor;
      const values = Array.from({ length: w.size }, () => 6 * r() - 3); // raw slopes in [-3, 3]
      layer.setWeights([tf.tensor(values, w.shape)]);
    },
    exportable: true,
  },
  {
    name: 'householder',
    make: () => lip.householder(),
    shapes: [[8], [2, 2, 6]],
    ref: (x, s, layer) => householderRef(x, channels(s), angles(layer)),
    prepare: (layer, r) => {
      const w = layer.getWeights()[0] as tf.Tensor;
      layer.setWeights([tf.tensor(Array.from({ length: w.size }, () => 2 * Math.PI * r()), w.shape)]);
    },
    isometry: { scale: 1, square: true },
    exportable: false,
  },
];

/** A fresh layer built for `shape`, with its weights prepared. */
function built(spec: Spec, shape: number[], seed: number): Act {
  const layer = spec.make();
  layer.build([null, ...shape]);
  spec.prepare?.(layer, rng(seed));
  return layer;
}

/** Frees the weights of a layer applied eagerly (Layer.dispose needs a symbolic use). */
function release(layer: tfl.layers.Layer): void {
  layer.weights.forEach((w) => w.dispose());
}

function expectClose(actual: number[], expected: number[], rel: number): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((v, i) => {
    const tol = rel * Math.max(1, Math.abs(expected[i]!));
    if (!(Math.abs(v - expected[i]!) <= tol)) throw new Error(`entry ${i}: got ${v}, expected ${expected[i]} (tol ${tol})`);
  });
}

describe.each(SPECS.map((s) => [s.name, s] as const))('%s', (_name, spec) => {
  it('outputs equal the plain-JS reference (several shapes), without leaking tensors', () => {
    spec.shapes.forEach((shape, k) => {
      const layer = built(spec, shape, 100 + k);
      const r = rng(7 + k);
      const samples = [...Array.from({ length: 3 }, () => spaced(r, size(shape))), gaussian(r, size(shape))];
      const out = apply(layer, samples, shape);
      // No tensor leaks, forward or backward (outside any tidy).
      const before = tf.memory().numTensors;
      const x = tf.tensor(samples.flat(), [samples.length, ...shape]);
      const y = layer.apply(x) as tf.Tensor;
      const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.square(layer.apply(t) as tf.Tensor)))(x);
      tf.dispose([x, y, dx]);
      expect(tf.memory().numTensors).toBe(before);
      samples.forEach((x, i) => expectClose(out[i]!, spec.ref(x, shape, layer), 1e-6));
      release(layer);
    });
  });

  it('is Lipschitz on random pairs: ||f(x) - f(y)|| <= bound * ||x - y|| * (1 + 1e-6)', () => {
    spec.shapes.forEach((shape, k) => {
      const layer = built(spec, shape, 200 + k);
      const bound = layer.lipschitzBound();
      const r = rng(31 + k);
      const n = size(shape);
      const xs: number[][] = [];
      const ys: number[][] = [];
      for (let i = 0; i < 150; i++) {
        const x = gaussian(r, n, 2);
        // Far pairs, near pairs (relative 0.3) and pairs differing in a single entry.
        const kind = i % 3;
        const y =
          kind === 0
            ? gaussian(r, n, 2)
            : kind === 1
              ? x.map((v) => Math.fround(v + 0.3 * gaussian(r, 1)[0]!))
              : x.map((v, j) => (j === i % n ? Math.fround(v - 1.5) : v));
        xs.push(x);
        ys.push(y);
      }
      const fx = apply(layer, xs, shape);
      const fy = apply(layer, ys, shape);
      let worst = 0;
      xs.forEach((x, i) => {
        worst = Math.max(worst, norm(sub(fx[i]!, fy[i]!)) / norm(sub(x, ys[i]!)));
      });
      expect(worst).toBeLessThanOrEqual(bound * (1 + 1e-6));
      // The bound is reached or nearly so on these pairs (the test could fail).
      expect(worst).toBeGreaterThan(0.5 * Math.min(bound, spec.name.startsWith('pReLU') ? 1 : bound));
      release(layer);
    });
  });

  it('gradients of <f(x), v> match finite differences of the reference', () => {
    spec.shapes.forEach((shape, k) => {
      const layer = built(spec, shape, 300 + k);
      const r = rng(51 + k);
      const x = spaced(r, size(shape));
      const outSize = spec.ref(x, shape, layer).length;
      const v = gaussian(r, outSize);
      const grad = tf.tidy(() => {
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(layer.apply(t) as tf.Tensor, tf.tensor(v, [1, ...(layer.computeOutputShape([1, ...shape]) as number[]).slice(1)]))));
        return Array.from(g(tf.tensor(x, [1, ...shape])).dataSync());
      });
      const f = (z: number[]) => spec.ref(z, shape, layer).reduce((a, y, i) => a + y * v[i]!, 0);
      expectClose(grad, finiteDifferenceGradient(f, x, 1e-4), 1e-4);
      release(layer);
    });
  });

  if (spec.isometry) {
    const { scale, square } = spec.isometry;
    it(`has an orthogonal Jacobian (J^T J = ${scale}^2 I${square ? ', J J^T too' : ''}) and preserves gradient norms`, () => {
      const shape = spec.shapes[spec.shapes.length - 1]!;
      const layer = built(spec, shape, 400);
      const r = rng(71);
      const x = gaussian(r, size(shape));
      const outShape = (layer.computeOutputShape([1, ...shape]) as number[]).slice(1);
      const m = size(outShape);
      // Rows of J: gradients of each output entry.
      const rows: number[][] = [];
      for (let i = 0; i < m; i++) {
        const e = new Array<number>(m).fill(0);
        e[i] = 1;
        rows.push(
          tf.tidy(() => {
            const grad = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(layer.apply(t) as tf.Tensor, tf.tensor(e, [1, ...outShape]))));
            return Array.from(grad(tf.tensor(x, [1, ...shape])).dataSync());
          }),
        );
      }
      const n = size(shape);
      for (let a = 0; a < n; a++) {
        for (let b = 0; b < n; b++) {
          const dot = rows.reduce((acc, row) => acc + row[a]! * row[b]!, 0);
          expect(Math.abs(dot - (a === b ? scale * scale : 0))).toBeLessThan(1e-5);
        }
      }
      if (square) {
        for (let a = 0; a < m; a++) {
          for (let b = 0; b < m; b++) {
            const dot = rows[a]!.reduce((acc, v, j) => acc + v * rows[b]![j]!, 0);
            expect(Math.abs(dot - (a === b ? scale * scale : 0))).toBeLessThan(1e-5);
          }
        }
        // ||J^T v|| = scale ||v|| for random v, on a batch (per sample).
        const batch = 4;
        const xs = Array.from({ length: batch }, () => gaussian(r, n));
        const vs = Array.from({ length: batch }, () => gaussian(r, m));
        const jtv = tf.tidy(() => {
          const grad = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(layer.apply(t) as tf.Tensor, tf.tensor(vs.flat(), [batch, ...outShape]))));
          return Array.from(grad(tf.tensor(xs.flat(), [batch, ...shape])).dataSync());
        });
        vs.forEach((v, i) => {
          expect(Math.abs(norm(jtv.slice(i * n, (i + 1) * n)) - scale * norm(v))).toBeLessThan(1e-5 * norm(v));
        });
      }
      release(layer);
    });
  }

  it('round-trips through getConfig/fromConfig and a saved model', async () => {
    const shape = spec.shapes[0]!;
    const layer = spec.make();
    const config = layer.getConfig();
    const [cls, fromConfig] = tf.serialization.SerializationMap.getMap().classNameMap[layer.getClassName()]!;
    expect(cls).toBe(layer.constructor);
    const copy = fromConfig(cls, config) as tfl.layers.Layer;
    expect(copy.getConfig()).toEqual(config);

    const input = tfl.input({ shape });
    const model = tfl.model({ inputs: input, outputs: layer.apply(input) as tfl.SymbolicTensor });
    spec.prepare?.(layer, rng(9));
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts as tf.io.ModelArtifacts));
    const loadedLayer = loaded.layers[1] as Act;
    expect(loadedLayer.getClassName()).toBe(layer.getClassName());
    expect(loadedLayer.getConfig()).toEqual(layer.getConfig());
    const r = rng(13);
    const samples = Array.from({ length: 3 }, () => gaussian(r, size(shape)));
    expectClose(apply(loadedLayer, samples, shape).flat(), apply(layer, samples, shape).flat(), 0);
    model.dispose();
    loaded.dispose();
  });

  if (spec.exportable) {
    it('vanillaExport builds built-in layers that predict the same (1e-6)', () => {
      spec.shapes.forEach((shape, k) => {
        const layer = spec.make();
        const input = tfl.input({ shape });
        const model = tfl.model({ inputs: input, outputs: layer.apply(input) as tfl.SymbolicTensor });
        spec.prepare?.(layer, rng(500 + k));
        const input2 = tfl.input({ shape });
        const exported = tfl.model({ inputs: input2, outputs: (layer as unknown as lip.LipschitzActivation).vanillaExport(input2) });
        const ours = new Set(['GroupSort', 'GroupSort2', 'FullSort', 'MaxMin', 'MaxOut', 'PReLULip', 'Householder']);
        exported.layers.forEach((l) => expect(ours.has(l.getClassName())).toBe(false));
        expect(exported.layers[1]!.name).toBe(layer.name);
        const r = rng(17 + k);
        const x = tf.tensor(Array.from({ length: 6 }, () => gaussian(r, size(shape))).flat(), [6, ...shape]);
        const a = model.predict(x) as tf.Tensor;
        const b = exported.predict(x) as tf.Tensor;
        expect(b.shape).toEqual(a.shape);
        expectClose(Array.from(b.dataSync()), Array.from(a.dataSync()), 1e-6);
        tf.dispose([x, a, b]);
        model.dispose();
        exported.dispose();
      });
    });
  } else {
    it('vanillaExport is refused with a LipschitzConfigError naming the layer', () => {
      const shape = spec.shapes[0]!;
      const layer = spec.make();
      layer.apply(tfl.input({ shape }));
      const attempt = () => (layer as unknown as lip.LipschitzActivation).vanillaExport(tfl.input({ shape }));
      expect(attempt).toThrow(LipschitzConfigError);
      expect(attempt).toThrow(new RegExp(`${layer.getClassName()} '${layer.name}' has no vanilla export`));
    });
  }
});

describe('pair sort: the TfjsLipSortPairs kernel and the composite of tfjs ops', () => {
  // Ties, negative zeros and repeated values included; 300 pairs of random values besides.
  const next = rng(77);
  const values = [1, 1, -0, 0, 2, -3, -3, 5, ...Array.from({ length: 600 }, () => Math.round((next() - 0.5) * 40) / 8)];
  const dyValues = Array.from({ length: values.length }, () => next() - 0.5);

  it('are the selection of the hand sort, and route the gradient to the source entries', () => {
    const x = tf.tensor2d(values, [values.length / 8, 8]);
    const dy = tf.tensor2d(dyValues, x.shape as [number, number]);
    const want = groupSortRef(values, 8, 2);
    // Expected gradient: each pair's upstream entries, swapped where the pair was out of order.
    const wantGrad = dyValues.map((_, i) => {
      const j = i - (i % 2);
      const swapped = values[j]! > values[j + 1]!;
      return swapped ? dyValues[i % 2 === 0 ? i + 1 : i - 1]! : dyValues[i]!;
    });
    // (x + 0 maps -0 to 0: the composite's products and sums may turn a -0 into 0.)
    const plain = (a: ArrayLike<number>) => Array.from(a, (v) => v + 0);
    for (const f of [sortPairs, sortPairsComposite]) {
      expect(plain(f(x).dataSync())).toEqual(plain(want.map((v) => Math.fround(v))));
      const g = tf.grad((z: tf.Tensor) => tf.sum(tf.mul(f(z), dy)))(x);
      expect(plain(g.dataSync())).toEqual(plain(wantGrad.map((v) => Math.fround(v))));
      g.dispose();
    }
    tf.dispose([x, dy]);
  });

  it('is a kernel of the cpu and wasm backends, and rejects an odd last axis', () => {
    expect(tf.getKernel('TfjsLipSortPairs', tf.getBackend())).toBeDefined();
    const odd = tf.ones([2, 3]);
    expect(() => sortPairs(odd)).toThrow(/even size/);
    odd.dispose();
  });

  it('leaks no tensor', () => {
    const x = tf.tensor2d(values, [values.length / 8, 8]);
    const before = tf.memory().numTensors;
    for (const f of [sortPairs, sortPairsComposite]) tf.grad((z: tf.Tensor) => tf.sum(f(z)))(x).dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});

describe('activation contracts', () => {
  it('runs on the backend chosen by TFJS_LIP_TEST_BACKEND', () => {
    expect(tf.getBackend()).toBe(process.env.TFJS_LIP_TEST_BACKEND ?? 'cpu');
  });

  it('every activation is a LipschitzLayer and a Condensable with the expected bound', () => {
    const cases: Array<[Act, number]> = [
      [lip.groupSort({ groupSize: 4 }), 1],
      [lip.groupSort2({ kCoefLip: 3 }), 3],
      [lip.fullSort(), 1],
      [lip.maxMin(), 1],
      [lip.maxOut({ numUnits: 2 }), 1],
      [lip.pReLULip({ kCoefLip: 2.5 }), 2.5],
      [lip.pReLULip({ kCoefLip: 0.5 }), 1],
      [lip.householder(), 1],
    ];
    for (const [layer, bound] of cases) {
      expect(isLipschitzLayer(layer)).toBe(true);
      expect(isCondensable(layer)).toBe(true);
      expect(layer.correctiveCoefficient()).toBe(1);
      expect(layer.lipschitzBound()).toBe(bound);
    }
    const layer = lip.groupSort2();
    layer.kCoefLip = 0.25;
    expect(layer.lipschitzBound()).toBe(0.25);
    expect(() => (layer.kCoefLip = -1)).toThrow(LipschitzConfigError);
  });

  it('FullSort and GroupSort(1) on two channels / any channels export exactly', () => {
    for (const [layer, shape] of [
      [lip.fullSort(), [3, 2]],
      [lip.groupSort({ groupSize: 1, kCoefLip: 1.5 }), [5]],
    ] as Array<[Act, number[]]>) {
      const input = tfl.input({ shape });
      const model = tfl.model({ inputs: input, outputs: layer.apply(input) as tfl.SymbolicTensor });
      const input2 = tfl.input({ shape });
      const exported = tfl.model({ inputs: input2, outputs: (layer as unknown as lip.GroupSort).vanillaExport(input2) });
      const x = tf.tensor(gaussian(rng(3), 4 * size(shape)), [4, ...shape]);
      const a = model.predict(x) as tf.Tensor;
      const b = exported.predict(x) as tf.Tensor;
      expectClose(Array.from(b.dataSync()), Array.from(a.dataSync()), 1e-6);
      tf.dispose([x, a, b]);
    }
  });

  it('the class names are not tfjs built-in class names', () => {
    let builtIns: string[] = [];
    jest.isolateModules(() => {
      // A fresh tfjs-core/tfjs-layers pair: its registry holds only the built-in classes.
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const core = require('@tensorflow/tfjs-core') as typeof tf;
      require('@tensorflow/tfjs-layers');
      builtIns = Object.keys(core.serialization.SerializationMap.getMap().classNameMap);
    });
    expect(builtIns).toContain('Dense');
    expect(builtIns).toContain('PReLU');
    for (const name of ['GroupSort', 'GroupSort2', 'FullSort', 'MaxMin', 'MaxOut', 'PReLULip', 'Householder']) {
      expect(builtIns).not.toContain(name);
      expect(tf.serialization.SerializationMap.getMap().classNameMap[name]).toBeDefined();
    }
  });
});

describe('pReLULip under training', () => {
  it('keeps the slopes in use within [-k, k] after training with a large learning rate', async () => {
    const k = 0.3;
    const act = lip.pReLULip({ kCoefLip: k });
    const model = tfl.sequential({
      layers: [tfl.layers.dense({ inputShape: [4], units: 6, kernelInitializer: 'glorotUniform' }), act, tfl.layers.dense({ units: 1 })],
    });
    model.compile({ optimizer: tf.train.sgd(5), loss: 'meanSquaredError' });
    const r = rng(21);
    const x = tf.tensor2d(gaussian(r, 64 * 4), [64, 4]);
    // A target that rewards steep negative slopes: -3 * relu(-sum(x)).
    const y = tf.tidy(() => tf.mul(tf.relu(tf.neg(tf.sum(x, 1, true))), tf.scalar(-3)));
    await model.fit(x, y, { epochs: 5, batchSize: 16, verbose: 0 });
    const raw = Array.from((act.getWeights()[0] as tf.Tensor).dataSync());
    const used = clippedSlopes(act);
    expect(raw.some((v) => Math.abs(v) > k)).toBe(true); // the optimizer did push them out
    used.forEach((v) => expect(Math.abs(v)).toBeLessThanOrEqual(k + 1e-7));
    // The layer stays max(1, k)-Lipschitz on random pairs.
    const xs = Array.from({ length: 50 }, () => gaussian(r, 6, 2));
    const ys = Array.from({ length: 50 }, () => gaussian(r, 6, 2));
    const fx = apply(act, xs, [6]);
    const fy = apply(act, ys, [6]);
    xs.forEach((xi, i) => expect(norm(sub(fx[i]!, fy[i]!))).toBeLessThanOrEqual(norm(sub(xi, ys[i]!)) * (1 + 1e-6)));
    // condense() writes the clipped slopes back.
    act.condense();
    expectClose(Array.from((act.getWeights()[0] as tf.Tensor).dataSync()), used, 0);
    tf.dispose([x, y]);
    model.dispose();
  });
});

describe('activation validation', () => {
  const ctor: Array<[string, () => unknown, RegExp]> = [
    ['groupSize 0', () => lip.groupSort({ groupSize: 0 }), /^groupSize expected a positive integer, but got 0\./],
    ['groupSize 2.5', () => lip.groupSort({ groupSize: 2.5 }), /^groupSize expected a positive integer, but got 2\.5\./],
    ['groupSize string', () => lip.groupSort({ groupSize: '2' as unknown as number }), /^groupSize expected/],
    ['n -1', () => lip.groupSort({ n: -1 }), /^n expected a positive integer, but got -1\./],
    ['n differing from groupSize', () => lip.groupSort({ groupSize: 2, n: 4 }), /^n expected/],
    ['groupSort2 with groupSize 3', () => new lip.GroupSort2({ groupSize: 3 } as lip.FixedGroupSortArgs), /^groupSize expected/],
    ['groupSort channelsFirst', () => lip.groupSort({ dataFormat: 'channelsFirst' as 'channelsLast' }), /^dataFormat expected/],
    ['kCoefLip 0', () => lip.groupSort2({ kCoefLip: 0 }), /^kCoefLip expected a finite number > 0, but got 0\./],
    ['kCoefLip NaN', () => lip.maxMin({ kCoefLip: NaN }), /^kCoefLip expected/],
    ['kCoefLip Infinity', () => lip.fullSort({ kCoefLip: Infinity }), /^kCoefLip expected/],
    ['maxMin dataFormat', () => lip.maxMin({ dataFormat: 'nhwc' as 'channelsLast' }), /^dataFormat expected/],
    ['numUnits 0', () => lip.maxOut({ numUnits: 0 }), /^numUnits expected a positive integer, but got 0\./],
    ['numUnits 1.5', () => lip.maxOut({ numUnits: 1.5 }), /^numUnits expected/],
    ['numUnits missing', () => lip.maxOut({} as lip.MaxOutArgs), /^numUnits expected a positive integer, but got undefined\./],
    ['pReLULip kCoefLip -1', () => lip.pReLULip({ kCoefLip: -1 }), /^kCoefLip expected/],
    ['pReLULip initialAlpha > k', () => lip.pReLULip({ kCoefLip: 1, initialAlpha: 2 }), /^initialAlpha expected/],
    ['pReLULip sharedAxes 0', () => lip.pReLULip({ sharedAxes: [0] }), /^sharedAxes expected/],
    ['householder initialTheta NaN', () => lip.householder({ initialTheta: NaN }), /^initialTheta expected/],
    ['householder kCoefLip -2', () => lip.householder({ kCoefLip: -2 }), /^kCoefLip expected/],
  ];
  for (const [label, make, message] of ctor) {
    it(`construction: ${label}`, () => {
      expect(make).toThrow(LipschitzConfigError);
      expect(make).toThrow(message);
    });
  }

  const build: Array<[string, () => tfl.layers.Layer, number[], RegExp]> = [
    ['groupSize 5 on 12 channels', () => lip.groupSort({ groupSize: 5 }), [12], /groupSize 5 must divide the number of channels 12/],
    ['groupSize 2 on 7 channels (image)', () => lip.groupSort2(), [2, 2, 7], /groupSize 2 must divide the number of channels 7/],
    ['numUnits 5 on 12 channels', () => lip.maxOut({ numUnits: 5 }), [12], /numUnits 5 must divide the number of channels 12/],
    ['householder on 5 channels', () => lip.householder(), [5], /groupSize 2 must divide the number of channels 5/],
  ];
  for (const [label, make, shape, message] of build) {
    it(`build: ${label}`, () => {
      const attempt = () => make().apply(tfl.input({ shape }));
      expect(attempt).toThrow(LipschitzConfigError);
      expect(attempt).toThrow(message);
    });
  }
});
