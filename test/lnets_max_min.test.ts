/**
 * lip.activations.lnetsMaxMin (LNets' MaxMin) against a plain-JS float64 reference (the max and
 * the min of each group of contiguous channels, maxima first), central differences of that
 * reference for the gradient, random and worst-case pairs for the L2 bound, a saved-model round
 * trip, the built-in export, and the validation errors.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as lip from '../src/activations';
import { LipschitzConfigError } from '../src/core/errors';
import { isCondensable, isLipschitzLayer } from '../src/core/contracts';
import { finiteDifferenceGradient } from './helpers/oracles';
import { mulberry32 } from './helpers/random';

const size = (shape: number[]) => shape.reduce((p, d) => p * d, 1);

function gaussian(r: () => number, n: number): number[] {
  return Array.from({ length: n }, () => {
    const u = Math.max(r(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  });
}

/** The reference: every row of `c` channels -> [max of each group..., min of each group...] * k. */
function reference(flat: number[], channels: number, numUnits: number, k = 1): number[] {
  const g = channels / numUnits;
  const out: number[] = [];
  for (let row = 0; row < flat.length / channels; row++) {
    const maxima: number[] = [];
    const minima: number[] = [];
    for (let j = 0; j < numUnits; j++) {
      const group = flat.slice(row * channels + j * g, row * channels + (j + 1) * g);
      maxima.push(k * Math.max(...group));
      minima.push(k * Math.min(...group));
    }
    out.push(...maxima, ...minima);
  }
  return out;
}

function l2(a: number[], b: number[]): number {
  return Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0));
}

/** The layer applied to a batch of float64 samples, read back as one flat array. */
function run(layer: tfl.layers.Layer, flat: number[], shape: number[]): number[] {
  return tf.tidy(() => Array.from((layer.apply(tf.tensor(flat, [flat.length / size(shape), ...shape])) as tf.Tensor).dataSync()));
}

function expectClose(actual: number[], expected: number[], tol: number): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((v, i) => expect(Math.abs(v - expected[i]!)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(expected[i]!))));
}

const CASES: Array<{ shape: number[]; numUnits: number; k: number }> = [
  { shape: [6], numUnits: 3, k: 1 },
  { shape: [6], numUnits: 1, k: 1 },
  { shape: [12], numUnits: 4, k: 2.5 },
  { shape: [2, 3, 8], numUnits: 2, k: 1 },
];

describe('lnetsMaxMin: values and gradient', () => {
  it.each(CASES)('matches the float64 max/min per group (shape $shape, numUnits $numUnits, k $k)', ({ shape, numUnits, k }) => {
    const layer = lip.lnetsMaxMin({ numUnits, kCoefLip: k });
    const x = gaussian(mulberry32(3), 5 * size(shape));
    const c = shape[shape.length - 1]!;
    expectClose(run(layer, x, shape), reference(x, c, numUnits, k), 1e-6);
    expect(layer.computeOutputShape([null, ...shape])).toEqual([null, ...shape.slice(0, -1), 2 * numUnits]);
  });

  it('puts the maxima first, then the minima (LNets: torch.cat((maxes, mins), dim=1))', () => {
    const layer = lip.lnetsMaxMin({ numUnits: 2 });
    expect(run(layer, [3, -1, 7, 0, 2, 5], [6])).toEqual([7, 5, -1, 0]);
  });

  it.each(CASES)('has the gradient of the reference (central differences, shape $shape)', ({ shape, numUnits, k }) => {
    const layer = lip.lnetsMaxMin({ numUnits, kCoefLip: k });
    const n = 2 * size(shape);
    const r = mulberry32(11);
    const x = gaussian(r, n);
    const c = shape[shape.length - 1]!;
    const weights = gaussian(r, (n / c) * 2 * numUnits);
    const loss = (v: number[]) => reference(v, c, numUnits, k).reduce((s, y, i) => s + y * weights[i]!, 0);
    const expected = finiteDifferenceGradient(loss, x, 1e-5);
    const actual = tf.tidy(() => {
      const w = tf.tensor(weights, [2, ...shape.slice(0, -1), 2 * numUnits]);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(layer.apply(t) as tf.Tensor, w)))(tf.tensor(x, [2, ...shape]));
      return Array.from(g.dataSync());
    });
    expectClose(actual, expected, 1e-4);
  });
});

describe('lnetsMaxMin: 1-Lipschitz in L2', () => {
  it.each([2, 3, 6])('keeps ||F(a) - F(b)|| <= k ||a - b|| on random pairs (groups of %i)', (g) => {
    const channels = 12;
    const k = 1.5;
    const layer = lip.lnetsMaxMin({ numUnits: channels / g, kCoefLip: k });
    expect(layer.lipschitzBound()).toBe(k);
    const r = mulberry32(100 + g);
    const pairs = 400;
    const a = gaussian(r, pairs * channels);
    // Half the pairs far apart, half close (where the sorting order rarely changes).
    const b = a.map((v, i) => (i < (pairs / 2) * channels ? gaussian(r, 1)[0]! : v + 1e-2 * gaussian(r, 1)[0]!));
    const fa = run(layer, a, [channels]);
    const fb = run(layer, b, [channels]);
    let worst = 0;
    for (let p = 0; p < pairs; p++) {
      const d = l2(a.slice(p * channels, (p + 1) * channels), b.slice(p * channels, (p + 1) * channels));
      const e = l2(fa.slice(p * 2 * (channels / g), (p + 1) * 2 * (channels / g)), fb.slice(p * 2 * (channels / g), (p + 1) * 2 * (channels / g)));
      worst = Math.max(worst, e / (k * d));
    }
    expect(worst).toBeLessThanOrEqual(1 + 1e-5);
    // Not vacuous: moving only the largest entry of one group moves the output by as much.
    const tight = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    const moved = tight.slice();
    moved[g - 1] = moved[g - 1]! + 0.5;
    const ratio = l2(run(layer, tight, [channels]), run(layer, moved, [channels])) / (k * 0.5);
    expect(ratio).toBeCloseTo(1, 5);
  });
});

describe('lnetsMaxMin: contracts, serialization, export', () => {
  it('is a LipschitzLayer and a Condensable, registered under a name that is not a built-in', () => {
    const layer = lip.lnetsMaxMin({ numUnits: 2, kCoefLip: 3 });
    expect(isLipschitzLayer(layer)).toBe(true);
    expect(isCondensable(layer)).toBe(true);
    expect(layer.correctiveCoefficient()).toBe(1);
    expect(layer.lipschitzBound()).toBe(3);
    expect(lip.LNetsMaxMin.className).toBe('LNetsMaxMin');
    expect(tf.serialization.SerializationMap.getMap().classNameMap['LNetsMaxMin']?.[0]).toBe(lip.LNetsMaxMin);
    // DEEL-LIP's maxMin is untouched and different: [relu(x), relu(-x)].
    expect(run(lip.maxMin(), [3, -1], [2])).toEqual([3, 0, 0, 1]);
    expect(run(layer, [3, -1, 4, 0], [4])).toEqual([9, 12, -3, 0]);
  });

  it('round-trips through getConfig/fromConfig and a saved model', async () => {
    const layer = lip.lnetsMaxMin({ numUnits: 3, kCoefLip: 0.5, name: 'lmm' });
    const config = layer.getConfig();
    expect(config).toMatchObject({ numUnits: 3, kCoefLip: 0.5, name: 'lmm' });
    const [cls, fromConfig] = tf.serialization.SerializationMap.getMap().classNameMap['LNetsMaxMin']!;
    const copy = fromConfig(cls, config) as tfl.layers.Layer;
    expect(copy.getConfig()).toEqual(config);
    const input = tfl.input({ shape: [9] });
    const model = tfl.model({ inputs: input, outputs: layer.apply(input) as tfl.SymbolicTensor });
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts as tf.io.ModelArtifacts));
    const loadedLayer = loaded.layers[1]!;
    expect(loadedLayer).toBeInstanceOf(lip.LNetsMaxMin);
    expect(loadedLayer.getConfig()).toEqual(config);
    const x = gaussian(mulberry32(5), 4 * 9);
    expect(run(loadedLayer, x, [9])).toEqual(run(layer, x, [9]));
    model.dispose();
    loaded.dispose();
  });

  it.each([
    { shape: [8], numUnits: 2, k: 1 },
    { shape: [4, 4, 6], numUnits: 3, k: 2 },
  ])('vanillaExport builds built-in layers that predict the same (shape $shape, k $k)', ({ shape, numUnits, k }) => {
    const layer = lip.lnetsMaxMin({ numUnits, kCoefLip: k });
    const input = tfl.input({ shape });
    const model = tfl.model({ inputs: input, outputs: layer.apply(input) as tfl.SymbolicTensor });
    const input2 = tfl.input({ shape });
    const exported = tfl.model({ inputs: input2, outputs: layer.vanillaExport(input2) });
    const builtIns = new Set(['InputLayer', 'Reshape', 'MaxPooling1D', 'Rescaling', 'Concatenate']);
    exported.layers.forEach((l) => expect(builtIns.has(l.getClassName())).toBe(true));
    expect(exported.layers[1]!.name).toBe(layer.name);
    const x = tf.tensor(gaussian(mulberry32(17), 6 * size(shape)), [6, ...shape]);
    const a = model.predict(x) as tf.Tensor;
    const b = exported.predict(x) as tf.Tensor;
    expect(b.shape).toEqual(a.shape);
    expectClose(Array.from(b.dataSync()), Array.from(a.dataSync()), 1e-6);
    tf.dispose([x, a, b]);
    model.dispose();
    exported.dispose();
  });
});

describe('lnetsMaxMin: validation', () => {
  it.each([
    ['numUnits 0', () => lip.lnetsMaxMin({ numUnits: 0 }), /^numUnits expected a positive integer, but got 0\./],
    ['numUnits 1.5', () => lip.lnetsMaxMin({ numUnits: 1.5 }), /^numUnits expected a positive integer, but got 1\.5\./],
    ['numUnits missing', () => lip.lnetsMaxMin({} as lip.LNetsMaxMinArgs), /^numUnits expected a positive integer, but got undefined\./],
    ['kCoefLip -1', () => lip.lnetsMaxMin({ numUnits: 2, kCoefLip: -1 }), /^kCoefLip expected a finite number > 0, but got -1\./],
    ['unknown key', () => lip.lnetsMaxMin({ numUnits: 2, num_units: 2 } as unknown as lip.LNetsMaxMinArgs), /lnetsMaxMin: unknown option 'num_units' \(did you mean 'numUnits'\?\)/],
  ])('%s throws a LipschitzConfigError naming it', (_name, make, message) => {
    expect(make).toThrow(LipschitzConfigError);
    expect(make).toThrow(message);
  });

  it.each([
    [5, 12, /numUnits 5 must divide the number of channels 12/],
    [6, 6, /numUnits 6 must leave groups of at least 2 of the 6 channels/],
  ])('numUnits %i on %i channels is refused at build and at call', (numUnits, channels, message) => {
    const atBuild = () => lip.lnetsMaxMin({ numUnits }).apply(tfl.input({ shape: [channels] }));
    expect(atBuild).toThrow(LipschitzConfigError);
    expect(atBuild).toThrow(message);
    const atCall = () => tf.tidy(() => lip.lnetsMaxMin({ numUnits }).apply(tf.zeros([1, channels])) as tf.Tensor);
    expect(atCall).toThrow(message);
  });
});
