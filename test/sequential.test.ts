/**
 * lip.sequential: kCoefLip^(1/n) on each of the n Lipschitz layers, strict rejection of layers
 * that can break the bound (with the layer name and the reason), warnings when not strict, the
 * 1-Lipschitz built-ins that pass, and the refusal of an explicit layer kCoefLip other than its share.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as lip from '../src';
import { LipschitzConfigError } from '../src/core/errors';
import { lipschitzBound, sequential } from '../src/model';
import { spectralDense } from '../src/layers/dense';
import { TestHalfScale, testFrobeniusDense, TestTriple } from './helpers/model_fixtures';
import { singularValues } from './helpers/oracles';

afterEach(() => jest.restoreAllMocks());

describe('kCoefLip distribution', () => {
  it.each([
    [8, 3],
    [2, 3],
    [0.5, 2],
    [1, 4],
  ])('kCoefLip %p over %p Lipschitz layers: each gets kCoefLip^(1/n), the bound is kCoefLip', (k, n) => {
    const layers: tfl.layers.Layer[] = [];
    for (let i = 0; i < n; i++) {
      layers.push(testFrobeniusDense({ units: 3, activation: 'relu', ...(i === 0 ? { inputShape: [4] } : {}) }));
      // 1-Lipschitz built-ins between them do not take a share.
      layers.push(tfl.layers.dropout({ rate: 0.1 }));
    }
    const model = sequential({ layers, kCoefLip: k });
    const expected = Math.pow(k, 1 / n);
    const shares = model.layers.filter((l) => l.getClassName() === 'TestFrobeniusDense').map((l) => (l as unknown as { kCoefLip: number }).kCoefLip);
    expect(shares).toHaveLength(n);
    for (const s of shares) expect(s).toBeCloseTo(expected, 12);
    // The product of the shares, evaluated through the model graph, gives back kCoefLip.
    expect(Math.abs(lipschitzBound(model) - k)).toBeLessThan(1e-12 * k);
    model.dispose();
  });

  it('spectralDense x3, kCoefLip 8: every singular value of each normalized kernel is 2 (float64 oracle)', () => {
    const model = sequential({
      layers: [
        spectralDense({ units: 5, activation: 'relu', inputShape: [4] }),
        spectralDense({ units: 5, activation: 'relu' }),
        spectralDense({ units: 3 }),
      ],
      kCoefLip: 8,
    });
    for (const layer of model.layers) {
      expect((layer as unknown as { kCoefLip: number }).kCoefLip).toBeCloseTo(2, 12);
      const wBar = layer.weights.find((w) => w.originalName.endsWith('w_bar'));
      expect(wBar).toBeDefined();
      for (const s of singularValues(wBar!.read().arraySync() as number[][])) expect(Math.abs(s - 2)).toBeLessThan(2e-3);
    }
    // Certified from the W-bars: covers the product of their float64 spectral norms, near 8.
    const product = model.layers
      .map((l) => singularValues(l.weights.find((w) => w.originalName.endsWith('w_bar'))!.read().arraySync() as number[][])[0]!)
      .reduce((p, s) => p * s, 1);
    expect(lipschitzBound(model)).toBeGreaterThanOrEqual(product);
    expect(Math.abs(lipschitzBound(model) - 8)).toBeLessThan(8 * 6e-3);
    model.dispose();
  });

  it.each([
    [0.5, 2],
    [4, 3],
  ])('kCoefLip %p with pReLULip: the model is kCoefLip-Lipschitz, not max(1, share) times the rest (%p carriers)', (k, carriers) => {
    const act = lip.activations.pReLULip({ initialAlpha: -0.9 });
    const model = sequential({
      layers: [spectralDense({ units: 5, inputShape: [4] }), act, spectralDense({ units: 3 })],
      kCoefLip: k,
    });
    const share = Math.pow(k, 1 / carriers);
    // Below 1, PReLULip (bound max(1, k)) keeps kCoefLip 1 and the two dense layers share k.
    expect(act.kCoefLip).toBeCloseTo(k < 1 ? 1 : share, 12);
    // Oracle: float64 spectral norms of the W-bars times the largest slope magnitude (or 1).
    const sigmas = model.layers
      .filter((l) => l !== act)
      .map((l) => singularValues(l.weights.find((w) => w.originalName.endsWith('w_bar'))!.read().arraySync() as number[][])[0]!);
    const slopes = Array.from(act.getWeights()[0]!.dataSync()).map((a) => Math.min(Math.abs(a), act.kCoefLip));
    for (const sigma of sigmas) expect(Math.abs(sigma - share)).toBeLessThan(share * 5e-3);
    const product = sigmas.reduce((p, s) => p * s, Math.max(1, ...slopes));
    // Slopes of 0.9: below 1 the product is k itself; above, the layer could reach its share.
    if (k < 1) expect(Math.abs(product - k)).toBeLessThan(k * 5e-3);
    else expect(product).toBeLessThan(k * (1 + 5e-3));
    expect(Math.abs(lipschitzBound(model) - k)).toBeLessThan(k * 5e-3);
    model.dispose();
  });

  it('the share reaches the computation: the normalized kernels have Frobenius norm kCoefLip^(1/n)', () => {
    const model = sequential({
      layers: [testFrobeniusDense({ units: 3, inputShape: [4] }), testFrobeniusDense({ units: 2 })],
      kCoefLip: 9,
    });
    for (const layer of model.layers) {
      const w = (layer as unknown as { normalizedKernel(): tf.Tensor }).normalizedKernel();
      const values = Array.from(w.dataSync());
      w.dispose();
      expect(Math.sqrt(values.reduce((s, v) => s + v * v, 0))).toBeCloseTo(3, 4);
    }
    model.dispose();
  });

  it('rejects bad settings with LipschitzConfigError naming the argument', () => {
    const l = () => [testFrobeniusDense({ units: 2, inputShape: [3] })];
    expect(() => sequential({ layers: l(), kCoefLip: -1 })).toThrow(/kCoefLip expected a finite number > 0, but got -1/);
    expect(() => sequential({ layers: l(), kCoefLip: NaN })).toThrow(LipschitzConfigError);
    expect(() => sequential({ layers: l(), strict: 'yes' as unknown as boolean })).toThrow(/strict expected a boolean/);
    expect(() => sequential({ layers: [] })).toThrow(/layers expected a non-empty array/);
    expect(() => sequential({ layers: [42 as unknown as tfl.layers.Layer] })).toThrow(/layers\[0\] expected a tfjs layer/);
    expect(() => sequential({ layers: [tfl.layers.flatten({ inputShape: [2, 2] })], kCoefLip: 2 })).toThrow(
      /kCoefLip expected 1 when no Lipschitz layer can carry it, but got 2/,
    );
  });

  it('refuses a Lipschitz layer already built with another kCoefLip', () => {
    const used = testFrobeniusDense({ units: 2, inputShape: [3] });
    tfl.sequential({ layers: [used] });
    expect(() => sequential({ layers: [used], kCoefLip: 2 })).toThrow(/already built/);
  });
});

/** Each entry: a label, the layers (the first has the input shape), the bad layer's name, a reason fragment. */
const REJECTED: Array<[string, () => tfl.layers.Layer[], RegExp]> = [
  ['plain dense', () => [testFrobeniusDense({ units: 4, inputShape: [3] }), tfl.layers.dense({ units: 2, name: 'bad' })], /unconstrained/],
  ['conv2d', () => [tfl.layers.conv2d({ filters: 2, kernelSize: 3, inputShape: [5, 5, 1], name: 'bad' })], /unconstrained/],
  ['conv2dTranspose', () => [tfl.layers.conv2dTranspose({ filters: 2, kernelSize: 3, inputShape: [5, 5, 1], name: 'bad' })], /unconstrained/],
  ['depthwiseConv2d', () => [tfl.layers.depthwiseConv2d({ kernelSize: 3, inputShape: [5, 5, 2], name: 'bad' })], /unconstrained/],
  ['separableConv2d', () => [tfl.layers.separableConv2d({ filters: 2, kernelSize: 3, inputShape: [5, 5, 2], name: 'bad' })], /unconstrained/],
  ['batchNormalization', () => [testFrobeniusDense({ units: 4, inputShape: [3] }), tfl.layers.batchNormalization({ name: 'bad' })], /gamma/],
  ['layerNormalization', () => [testFrobeniusDense({ units: 4, inputShape: [3] }), tfl.layers.layerNormalization({ name: 'bad' })], /standard deviation/],
  ['activation selu', () => [testFrobeniusDense({ units: 4, inputShape: [3] }), tfl.layers.activation({ activation: 'selu', name: 'bad' })], /not 1-Lipschitz/],
  ['activation swish', () => [testFrobeniusDense({ units: 4, inputShape: [3] }), tfl.layers.activation({ activation: 'swish', name: 'bad' })], /not 1-Lipschitz/],
  ['leakyReLU alpha 2', () => [testFrobeniusDense({ units: 4, inputShape: [3] }), tfl.layers.leakyReLU({ alpha: 2, name: 'bad' })], /alpha 2 > 1/],
  ['thresholdedReLU', () => [testFrobeniusDense({ units: 4, inputShape: [3] }), tfl.layers.thresholdedReLU({ theta: 0.5, name: 'bad' })], /discontinuous/],
  ['prelu', () => [testFrobeniusDense({ units: 4, inputShape: [3] }), tfl.layers.prelu({ name: 'bad' })], /alpha is learned/],
  ['maxPooling2d strides < poolSize', () => [tfl.layers.maxPooling2d({ poolSize: 3, strides: 1, inputShape: [6, 6, 1], name: 'bad' })], /overlapping/],
  ['averagePooling2d same, overlapping', () => [tfl.layers.averagePooling2d({ poolSize: 2, strides: 1, padding: 'same', inputShape: [6, 6, 1], name: 'bad' })], /border/],
  ['upSampling2d', () => [tfl.layers.upSampling2d({ size: [2, 2], inputShape: [3, 3, 1], name: 'bad' })], /copies each input/],
  ['repeatVector', () => [testFrobeniusDense({ units: 4, inputShape: [3] }), tfl.layers.repeatVector({ n: 4, name: 'bad' })], /bound is 2/],
  ['rescaling by 3', () => [testFrobeniusDense({ units: 4, inputShape: [3] }), tfl.layers.rescaling({ scale: 3, name: 'bad' })], /bound is 3/],
  ['embedding', () => [tfl.layers.embedding({ inputDim: 5, outputDim: 2, inputShape: [3], name: 'bad' })], /integer/],
  ['simpleRNN', () => [tfl.layers.simpleRNN({ units: 2, inputShape: [3, 2], recurrentInitializer: 'glorotUniform', name: 'bad' })], /recurrent/],
  ['unknown custom layer', () => [testFrobeniusDense({ units: 4, inputShape: [3] }), new TestTriple({ name: 'bad' })], /TestTriple is neither a tfjs-lip LipschitzLayer/],
  [
    'nested model',
    () => [
      testFrobeniusDense({ units: 4, inputShape: [3] }),
      tfl.sequential({ name: 'bad', layers: [tfl.layers.activation({ activation: 'relu', inputShape: [4] })] }),
    ],
    /nested model/,
  ],
];

describe('strict rejection', () => {
  it.each(REJECTED)('%s: LipschitzConfigError naming the layer and the reason', (_label, make, reason) => {
    let error: unknown;
    try {
      sequential({ layers: make() });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LipschitzConfigError);
    const message = (error as Error).message;
    expect(message).toMatch(/layer 'bad' \(\w+\) can break the Lipschitz bound/);
    expect(message).toMatch(reason);
    expect(message).toMatch(/strict: false/);
  });

  it.each(REJECTED)('%s: only a console.warn when strict is false', (_label, make, reason) => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const model = sequential({ layers: make(), strict: false });
    expect(warn).toHaveBeenCalledTimes(1);
    const message = String(warn.mock.calls[0]?.[0]);
    expect(message).toMatch(/layer 'bad'/);
    expect(message).toMatch(reason);
    expect(model.layers.length).toBeGreaterThan(0);
    model.dispose();
  });

  it('lists every offending layer in one message', () => {
    expect(() =>
      sequential({
        layers: [
          tfl.layers.dense({ units: 3, inputShape: [2], name: 'first' }),
          tfl.layers.activation({ activation: 'selu', name: 'second' }),
          testFrobeniusDense({ units: 2, name: 'fine' }),
        ],
      }),
    ).toThrow(/layer 'first' \(Dense\).*; layer 'second' \(Activation\)/);
  });
});

describe('1-Lipschitz built-ins pass', () => {
  it('image path: padding, cropping, pooling with strides >= poolSize, activations, dropout, global pooling', () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const model = sequential({
      layers: [
        tfl.layers.zeroPadding2d({ padding: 1, inputShape: [8, 8, 2] }),
        tfl.layers.cropping2D({ cropping: 1 }),
        tfl.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
        tfl.layers.maxPooling2d({ poolSize: 2, strides: 3, padding: 'same' }),
        tfl.layers.reLU({}),
        tfl.layers.leakyReLU({ alpha: 0.2 }),
        tfl.layers.elu({ alpha: 1 }),
        tfl.layers.activation({ activation: 'tanh' }),
        tfl.layers.activation({ activation: 'sigmoid' }),
        tfl.layers.dropout({ rate: 0.5 }),
        tfl.layers.gaussianNoise({ stddev: 0.1 }),
        tfl.layers.averagePooling2d({ poolSize: 1, strides: 1 }),
        tfl.layers.globalMaxPooling2d({}),
      ],
    });
    expect(warn).not.toHaveBeenCalled();
    expect(lipschitzBound(model)).toBeLessThanOrEqual(1);
    model.dispose();
  });

  it('average pooling with valid padding is <= 1 even with overlapping windows', () => {
    const model = sequential({
      layers: [
        tfl.layers.averagePooling2d({ poolSize: 3, strides: 1, inputShape: [6, 6, 1] }),
        tfl.layers.averagePooling2d({ poolSize: 2, strides: 2, padding: 'same' }),
        tfl.layers.globalAveragePooling2d({}),
      ],
    });
    expect(lipschitzBound(model)).toBeLessThanOrEqual(1);
    model.dispose();
  });

  it('vector path: flatten, reshape, permute, Lipschitz layers, softmax, relu6, inputLayer', () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const model = sequential({
      layers: [
        tfl.layers.inputLayer({ inputShape: [2, 3] }),
        tfl.layers.permute({ dims: [2, 1] }),
        tfl.layers.flatten({}),
        testFrobeniusDense({ units: 6 }),
        tfl.layers.activation({ activation: 'relu6' }),
        tfl.layers.reshape({ targetShape: [3, 2] }),
        tfl.layers.softmax({}),
        tfl.layers.activation({ activation: 'softmax' }),
        tfl.layers.flatten({}),
        new TestHalfScale({}),
      ],
      kCoefLip: 4,
    });
    expect(warn).not.toHaveBeenCalled();
    // Two Lipschitz layers with share 2: the dense gives 2, TestHalfScale 0.5 * 2 = 1, softmax 1/2 twice.
    expect(lipschitzBound(model)).toBeCloseTo(2 * 1 * 0.5 * 0.5, 12);
    model.dispose();
  });
});

describe('an explicit kCoefLip on a layer', () => {
  /** The message of the LipschitzConfigError `f` throws. */
  function errorOf(f: () => unknown): string {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(LipschitzConfigError);
      return (e as Error).message;
    }
    throw new Error('expected a LipschitzConfigError');
  }

  it("spectralDense({kCoefLip: 2}) in lip.sequential({kCoefLip: 1}) is refused, naming the layer, its value and the share", () => {
    const message = errorOf(() =>
      sequential({ kCoefLip: 1, layers: [spectralDense({ kCoefLip: 2, units: 3, inputShape: [4], name: 'two' })] }),
    );
    expect(message).toBe(
      "lip.sequential: layer 'two' kCoefLip expected 1, but got 2. The model gives each of its 1 Lipschitz layers " +
        "kCoefLip^(1/1) = 1 (kCoefLip 1): leave kCoefLip out of these layers (lip.sequential sets it), or change lip.sequential's kCoefLip.",
    );
  });

  it('every conflicting layer of every kind is listed; layers left without kCoefLip are not', () => {
    const message = errorOf(() =>
      sequential({
        kCoefLip: 8,
        layers: [
          lip.layers.spectralConv2d({ filters: 4, kernelSize: 3, inputShape: [4, 4, 1], kCoefLip: 3, name: 'conv' }),
          lip.activations.groupSort2({ kCoefLip: 3, name: 'sort' }),
          lip.layers.scaledL2NormPooling2d({ poolSize: 2, kCoefLip: 3, name: 'pool' }),
          lip.layers.invertibleDownSampling({ poolSize: 2, kCoefLip: 3, name: 'down' }),
          tfl.layers.flatten(),
          lip.layers.frobeniusDense({ units: 3, kCoefLip: 3, name: 'frob' }),
          lip.activations.maxMin({ name: 'free' }),
        ],
      }),
    );
    const share = Math.pow(8, 1 / 6);
    for (const name of ['conv', 'sort', 'pool', 'down', 'frob']) expect(message).toContain(`layer '${name}' kCoefLip expected ${share}, but got 3`);
    expect(message).not.toContain("'free'");
    expect(message).toContain(`each of its 6 Lipschitz layers kCoefLip^(1/6) = ${share} (kCoefLip 8)`);
  });

  it('is accepted when it equals the share (to 1e-12 relative), and the model is then built', () => {
    const model = sequential({
      kCoefLip: 8,
      layers: [
        spectralDense({ units: 3, inputShape: [4], kCoefLip: 2 }),
        spectralDense({ units: 3, kCoefLip: 2 * (1 + 1e-13) }),
        spectralDense({ units: 2 }),
      ],
    });
    for (const layer of model.layers) expect((layer as unknown as { kCoefLip: number }).kCoefLip).toBe(Math.pow(8, 1 / 3));
    model.dispose();
    expect(() => sequential({ kCoefLip: 8, layers: [spectralDense({ units: 3, inputShape: [4], kCoefLip: 2 * (1 + 1e-9) }), spectralDense({ units: 2 }), spectralDense({ units: 2 })] })).toThrow(
      /kCoefLip expected 2, but got 2\.000000002/,
    );
  });

  it('a layer rebuilt from its config carries kCoefLip: fine when it equals the new share, refused otherwise', () => {
    const source = sequential({ kCoefLip: 4, layers: [spectralDense({ units: 3, inputShape: [4], name: 'src_a' }), spectralDense({ units: 2, name: 'src_b' })] });
    const configs = source.layers.map((l) => ({ ...l.getConfig(), name: `${l.name}_copy` }));
    source.dispose();
    const rebuild = () => configs.map((c) => new lip.layers.SpectralDense(c as unknown as lip.layers.SpectralDenseArgs));
    const same = sequential({ kCoefLip: 4, layers: rebuild() });
    expect(same.layers.map((l) => (l as unknown as { kCoefLip: number }).kCoefLip)).toEqual([2, 2]);
    same.dispose();
    expect(errorOf(() => sequential({ kCoefLip: 9, layers: rebuild() }))).toContain("layer 'src_a_copy' kCoefLip expected 3, but got 2");
  });

  it('a misspelled lip.sequential option is refused with the closest name', () => {
    expect(errorOf(() => sequential({ layers: [testFrobeniusDense({ units: 2, inputShape: [3] })], kcoeflip: 2 } as never))).toBe(
      "lip.sequential: unknown option 'kcoeflip' (did you mean 'kCoefLip'?).",
    );
  });
});
