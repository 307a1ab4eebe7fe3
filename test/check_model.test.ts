/**
 * lip.checkModel on tf.sequential, functional and nested models mixing tfjs-lip layers with
 * layers that can break the bound (strict error text, non-strict problem list), clean models and
 * exports; the once-per-model warning of lip.lipschitzBound and lip.certify.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as lip from '../src';
import { thrownConfigError } from './helpers/thrown';

const DENSE_REASON = 'a plain Dense kernel is unconstrained during training (use lip.layers.spectralDense)';

afterEach(() => jest.restoreAllMocks());

/** The user's report: spectralDense layers next to a plain selu Dense and a BatchNormalization. */
function mixedSequential(name = 'mixed'): tfl.Sequential {
  return tfl.sequential({
    name,
    layers: [
      lip.layers.spectralDense({ units: 6, activation: 'relu', inputShape: [4], name: 'lip_in' }),
      tfl.layers.dense({ units: 5, activation: 'selu', name: 'plain_selu' }),
      tfl.layers.batchNormalization({ name: 'bn' }),
      tfl.layers.activation({ activation: 'selu', name: 'act_selu' }),
      lip.layers.spectralDense({ units: 3, name: 'lip_out' }),
    ],
  });
}

/** A branch and merges: a Lipschitz branch, a plain Dense branch, added; a Multiply; a Lipschitz head. */
function mixedFunctional(): tfl.LayersModel {
  const input = tfl.input({ shape: [4], name: 'x' });
  const a = lip.layers.spectralDense({ units: 4, name: 'branch_lip' }).apply(input) as tfl.SymbolicTensor;
  const b = tfl.layers.dense({ units: 4, activation: 'selu', name: 'branch_plain' }).apply(input) as tfl.SymbolicTensor;
  const sum = tfl.layers.add({ name: 'sum' }).apply([a, b]) as tfl.SymbolicTensor;
  const prod = tfl.layers.multiply({ name: 'prod' }).apply([sum, a]) as tfl.SymbolicTensor;
  const cat = tfl.layers.concatenate({ name: 'cat' }).apply([prod, a]) as tfl.SymbolicTensor;
  const out = lip.layers.spectralDense({ units: 2, name: 'head' }).apply(cat) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out, name: 'branched' });
}

/** A clean functional Lipschitz model: two Lipschitz branches, added and concatenated. */
function cleanFunctional(): tfl.LayersModel {
  const input = tfl.input({ shape: [4], name: 'x' });
  const a = lip.layers.spectralDense({ units: 4, name: 'a' }).apply(input) as tfl.SymbolicTensor;
  const b = lip.activations.groupSort2({ name: 'sort' }).apply(a) as tfl.SymbolicTensor;
  const sum = tfl.layers.add({ name: 'sum' }).apply([a, b]) as tfl.SymbolicTensor;
  const cat = tfl.layers.concatenate({ name: 'cat' }).apply([sum, input]) as tfl.SymbolicTensor;
  const out = lip.layers.spectralDense({ units: 2, name: 'head' }).apply(cat) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out, name: 'clean_branched' });
}

describe('lip.checkModel, strict', () => {
  it('tf.sequential mixing lip layers with selu Dense, BatchNormalization and a selu activation: one error naming each', () => {
    const model = mixedSequential();
    const message = thrownConfigError(() => lip.checkModel(model)).message;
    expect(message).toBe(
      "lip.checkModel: model 'mixed': " +
        `layer 'plain_selu' (Dense) can break the Lipschitz bound: ${DENSE_REASON}; ` +
        "layer 'bn' (BatchNormalization) can break the Lipschitz bound: its scale gamma / sqrt(movingVariance + epsilon) is unconstrained; " +
        "layer 'act_selu' (Activation) can break the Lipschitz bound: activation \"selu\" is not 1-Lipschitz (bound 1.7581). " +
        'Replace each with a tfjs-lip layer, or pass strict: false to get the problems as a list ' +
        '(lip.lipschitzBound certifies the current weights either way).',
    );
    model.dispose();
  });

  it('functional model with a branch and merges: the plain branch and the Multiply, not Add/Concatenate', () => {
    const model = mixedFunctional();
    const message = thrownConfigError(() => lip.checkModel(model, { strict: true })).message;
    expect(message).toMatch(/^lip\.checkModel: model 'branched': /);
    expect(message).toContain(`layer 'branch_plain' (Dense) can break the Lipschitz bound: ${DENSE_REASON}`);
    expect(message).toContain("layer 'prod' (Multiply) can break the Lipschitz bound: it multiplies its inputs together, which is not Lipschitz");
    expect(message).not.toMatch(/'sum'|'cat'|'head'|'branch_lip'/);
    model.dispose();
  });

  it('walks a nested model and names its layers with the model prefix', () => {
    const inner = tfl.sequential({
      name: 'inner',
      layers: [
        lip.layers.spectralDense({ units: 4, inputShape: [4], name: 'inner_lip' }),
        tfl.layers.dense({ units: 4, name: 'inner_plain' }),
      ],
    });
    const input = tfl.input({ shape: [4] });
    const out = lip.layers.spectralDense({ units: 2, name: 'outer_head' }).apply(inner.apply(input) as tfl.SymbolicTensor) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: out, name: 'outer' });
    const result = lip.checkModel(model, { strict: false });
    expect(result.problems).toEqual([{ layer: 'inner/inner_plain', className: 'Dense', reason: DENSE_REASON }]);
    expect(result.lipschitzLayers).toBe(2);
    expect(thrownConfigError(() => lip.checkModel(model)).message).toContain("layer 'inner/inner_plain' (Dense) can break the Lipschitz bound");
    model.dispose();
  });

  it('a layer called twice is reported once', () => {
    const shared = tfl.layers.dense({ units: 4, name: 'shared_plain' });
    const input = tfl.input({ shape: [4] });
    const once = shared.apply(input) as tfl.SymbolicTensor;
    const twice = shared.apply(once) as tfl.SymbolicTensor;
    const out = lip.layers.spectralDense({ units: 2 }).apply(twice) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: out });
    const result = lip.checkModel(model, { strict: false });
    expect(result.problems.map((p) => p.layer)).toEqual(['shared_plain']);
    model.dispose();
  });

  it('an empty tf.sequential (no graph yet) has nothing to report', () => {
    expect(lip.checkModel(tfl.sequential())).toEqual({ ok: true, problems: [], lipschitzLayers: 0, message: '' });
  });
});

describe('lip.checkModel, non-strict', () => {
  it('returns every problem with the layer, its class and the reason, and the message strict throws', () => {
    const model = mixedSequential('mixed_list');
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const result = lip.checkModel(model, { strict: false });
    expect(warn).not.toHaveBeenCalled();
    expect(result.ok).toBe(false);
    expect(result.lipschitzLayers).toBe(2);
    expect(result.problems.map(({ layer, className }) => [layer, className])).toEqual([
      ['plain_selu', 'Dense'],
      ['bn', 'BatchNormalization'],
      ['act_selu', 'Activation'],
    ]);
    expect(result.problems[0]!.reason).toBe(DENSE_REASON);
    expect(result.problems[2]!.reason).toMatch(/selu.*not 1-Lipschitz/);
    expect(result.message).toMatch(/^model 'mixed_list': layer 'plain_selu' \(Dense\) can break the Lipschitz bound: .*; layer 'bn'/);
    expect(thrownConfigError(() => lip.checkModel(model)).message).toContain(result.message);
    model.dispose();
  });

  it('functional: the problems in graph order, Lipschitz layers counted once each', () => {
    const model = mixedFunctional();
    const result = lip.checkModel(model, { strict: false });
    expect(result.problems.map((p) => `${p.layer}:${p.className}`)).toEqual(['branch_plain:Dense', 'prod:Multiply']);
    expect(result.lipschitzLayers).toBe(2);
    model.dispose();
  });
});

describe('clean models pass', () => {
  it.each([
    [
      'lip.sequential MLP',
      () =>
        lip.sequential({
          layers: [
            lip.layers.spectralDense({ units: 6, inputShape: [4] }),
            lip.activations.groupSort2(),
            tfl.layers.dropout({ rate: 0.2 }),
            lip.layers.spectralDense({ units: 2 }),
          ],
        }),
      3,
    ],
    [
      'tf.sequential CNN of lip layers and 1-Lipschitz built-ins',
      () =>
        tfl.sequential({
          layers: [
            lip.layers.spectralConv2d({ filters: 2, kernelSize: 3, inputShape: [6, 6, 1] }),
            lip.activations.groupSort2(),
            lip.layers.scaledL2NormPooling2d({ poolSize: 2 }),
            tfl.layers.flatten(),
            lip.layers.spectralDense({ units: 2 }),
          ],
        }),
      4,
    ],
    ['functional with Add and Concatenate', cleanFunctional, 3],
  ])('%s: ok, no problem, empty message, no throw', (_label, make, count) => {
    const model = make();
    const result = lip.checkModel(model);
    expect(result).toEqual({ ok: true, problems: [], lipschitzLayers: count, message: '' });
    model.dispose();
  });
});

describe('a model without tfjs-lip layers (an export)', () => {
  it('fails the training rules (plain Dense kernels), with lipschitzLayers 0', () => {
    const source = lip.sequential({ layers: [lip.layers.spectralDense({ units: 3, inputShape: [4], name: 'd1' }), lip.layers.spectralDense({ units: 2, name: 'd2' })] });
    const exported = lip.vanillaExport(source);
    const result = lip.checkModel(exported, { strict: false });
    expect(result.ok).toBe(false);
    expect(result.lipschitzLayers).toBe(0);
    expect(result.problems.map((p) => `${p.layer}:${p.className}`)).toEqual(['d1:Dense', 'd2:Dense']);
    source.dispose();
    exported.dispose();
  });
});

describe('lipschitzBound and certify warn once per model', () => {
  const x = () => tf.tensor2d([0.1, -0.2, 0.3, 0.4, 1, 0, -1, 0.5], [2, 4]);

  it('lipschitzBound twice then certify: one console.warn, with checkModel message', () => {
    const model = mixedSequential('warned_once');
    const expected = lip.checkModel(model, { strict: false }).message;
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const first = lip.lipschitzBound(model);
    const second = lip.lipschitzBound(model);
    const xs = x();
    lip.certify(model, xs, { lipConst: 5 });
    xs.dispose();
    expect(second).toBe(first);
    expect(warn).toHaveBeenCalledTimes(1);
    const message = String(warn.mock.calls[0]?.[0]);
    expect(message).toBe(
      `lip.lipschitzBound: ${expected}. The bound holds for the current weights only, and training can break it ` +
        '(lip.checkModel lists these layers; this warning is given once per model).',
    );
    model.dispose();
  });

  it('certify first: the warning names lip.certify; each model object is warned about separately', () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const model = mixedFunctional();
    const other = mixedFunctional();
    const xs = x();
    lip.certify(model, xs, { lipConst: 2 });
    lip.certify(model, xs, { lipConst: 3 });
    lip.lipschitzBound(model);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/^lip\.certify: model 'branched': layer 'branch_plain' \(Dense\)/);
    lip.lipschitzBound(other);
    expect(warn).toHaveBeenCalledTimes(2);
    expect(String(warn.mock.calls[1]?.[0])).toMatch(/^lip\.lipschitzBound: model 'branched':/);
    xs.dispose();
    model.dispose();
    other.dispose();
  });

  it('never for a clean model nor for a lip.vanillaExport (no tfjs-lip layer)', () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const clean = cleanFunctional();
    const source = lip.sequential({ layers: [lip.layers.spectralDense({ units: 3, inputShape: [4] }), lip.layers.spectralDense({ units: 2 })] });
    const exported = lip.vanillaExport(source);
    const xs = x();
    for (const model of [clean, source, exported]) {
      expect(Number.isFinite(lip.lipschitzBound(model))).toBe(true);
      expect(lip.certify(model, xs)).toHaveLength(2);
    }
    expect(warn).not.toHaveBeenCalled();
    xs.dispose();
    clean.dispose();
    source.dispose();
    exported.dispose();
  });

  it('lip.sequential with strict: false warns once, and lipschitzBound does not repeat it', () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const model = lip.sequential({
      strict: false,
      layers: [lip.layers.spectralDense({ units: 3, inputShape: [4] }), tfl.layers.dense({ units: 2, name: 'accepted_plain' })],
    });
    lip.lipschitzBound(model);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toMatch(/^lip\.sequential: layer 'accepted_plain' \(Dense\) can break the Lipschitz bound/);
    model.dispose();
  });

  it('checking and warning allocate no tensors', () => {
    jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const model = mixedFunctional();
    const before = tf.memory().numTensors;
    lip.checkModel(model, { strict: false });
    lip.lipschitzBound(model);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});

describe('lip.checkModel arguments', () => {
  it('rejects a non-model, a bad strict and an unknown option with the usual messages', () => {
    expect(thrownConfigError(() => lip.checkModel({} as tfl.LayersModel)).message).toMatch(/^checkModel model expected a tfjs LayersModel\b.*, but got \{\}\.$/);
    const layer = tfl.layers.dense({ units: 2, name: 'lone' });
    expect(thrownConfigError(() => lip.checkModel(layer as unknown as tfl.LayersModel)).message).toMatch(
      /^checkModel model expected a tfjs LayersModel.*, but got layer 'lone' \(Dense\); the rules apply to models: wrap the layer in tf\.sequential, or see lip\.lipschitzRisk\(layer\)\.$/,
    );
    const model = cleanFunctional();
    expect(thrownConfigError(() => lip.checkModel(model, { strict: 'no' as unknown as boolean })).message).toBe("strict expected a boolean, but got 'no'.");
    expect(thrownConfigError(() => lip.checkModel(model, { Strict: false } as never)).message).toBe(
      "lip.checkModel: unknown option 'Strict' (did you mean 'strict'?).",
    );
    model.dispose();
  });
});
