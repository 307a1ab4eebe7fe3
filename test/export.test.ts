/**
 * lip.vanillaExport and lip.condense: the export predicts what the original predicts (1e-5),
 * keeps the layer names, names only tfjs built-in classes in its JSON (checked against the
 * classNames that tfjs-layers' own bundle declares), and is independent of the original.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { LipschitzConfigError } from '../src/core/errors';
import { condense, vanillaExport } from '../src/export';
import { lipschitzBound, sequential } from '../src/model';
import { singularValues } from './helpers/oracles';
import { spectralDense } from '../src/layers/dense';
import { maxAbsDiff, predictArray, seededValues, TestHalfScale, testFrobeniusDense, TestTriple } from './helpers/model_fixtures';

const lipDense = spectralDense;

/** Every `X.className = '...'` declared in tfjs-layers' and tfjs-core's Node bundles (the oracle). */
function tfjsDeclaredClassNames(): Set<string> {
  const names = new Set<string>();
  for (const pkg of ['@tensorflow/tfjs-layers/dist/tf-layers.node.js', '@tensorflow/tfjs-core/dist/tf-core.node.js']) {
    const source = fs.readFileSync(path.join(__dirname, '..', 'node_modules', pkg), 'utf8');
    for (const match of source.matchAll(/\.className = ['"](\w+)['"]/g)) names.add(match[1]!);
  }
  return names;
}

/** All class_name values in a model's Keras JSON. */
function classNamesInJson(model: tfl.LayersModel): string[] {
  const found: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'class_name' && typeof x === 'string') found.push(x);
        walk(x);
      }
    }
  };
  walk(model.toJSON(undefined, false));
  return found;
}

function sequentialModel(): tfl.Sequential {
  return sequential({
    layers: [
      lipDense({ units: 6, activation: 'relu', inputShape: [5], name: 'lip_a' }),
      tfl.layers.dropout({ rate: 0.3, name: 'drop' }),
      lipDense({ units: 4, activation: 'relu', name: 'lip_b' }),
      tfl.layers.activation({ activation: 'tanh', name: 'act' }),
      lipDense({ units: 3, name: 'lip_c' }),
    ],
    kCoefLip: 2,
  });
}

/** A branched functional model: a Lipschitz branch and a plain dense branch, added, then concatenated. */
function functionalModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [5], name: 'x' });
  const a = lipDense({ units: 4, activation: 'relu', name: 'branch_lip' }).apply(input) as tfl.SymbolicTensor;
  const b = tfl.layers.dense({ units: 4, name: 'branch_plain' }).apply(input) as tfl.SymbolicTensor;
  const sum = tfl.layers.add({ name: 'sum' }).apply([a, b]) as tfl.SymbolicTensor;
  const cat = tfl.layers.concatenate({ name: 'cat' }).apply([sum, a]) as tfl.SymbolicTensor;
  const out = lipDense({ units: 2, name: 'head' }).apply(cat) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out, name: 'branched' });
}

const x = () => tf.tensor2d(seededValues(20 * 5, 3), [20, 5]);

describe('vanillaExport', () => {
  const declared = tfjsDeclaredClassNames();

  it('the oracle list knows the tfjs built-ins and not the tfjs-lip test classes', () => {
    for (const name of ['Dense', 'Add', 'Concatenate', 'Model', 'Sequential', 'InputLayer', 'Dropout', 'Activation']) expect(declared.has(name)).toBe(true);
    expect(declared.has('TestFrobeniusDense')).toBe(false);
    expect(declared.has('SpectralDense')).toBe(false);
  });

  it.each([
    ['Sequential', sequentialModel],
    ['functional with add/concatenate branches', functionalModel],
  ])('%s: same predictions, same layer names, only built-in classes', (_label, make) => {
    const model = make();
    const input = x();
    const exported = vanillaExport(model);
    expect(maxAbsDiff(predictArray(exported, input), predictArray(model, input))).toBeLessThanOrEqual(1e-5);

    const exportedNames = new Set(exported.layers.map((l) => l.name));
    for (const layer of model.layers) expect(exportedNames.has(layer.name)).toBe(true);

    const originalClasses = classNamesInJson(model);
    expect(originalClasses).toContain('SpectralDense');
    const classes = classNamesInJson(exported);
    expect(classes.length).toBeGreaterThan(0);
    for (const c of classes) expect(declared.has(c)).toBe(true);
    expect(exported.layers.every((l) => declared.has(l.getClassName()))).toBe(true);

    // The export keeps the certificate: its plain Dense layers get the float64-certified spectral
    // norm of the normalized kernels, within the normalization tolerance of kCoefLip (measured:
    // up to ~3e-5 relative above it, the Björck/float32 residue of SpectralDense).
    const exportedBound = lipschitzBound(exported);
    expect(Number.isFinite(exportedBound)).toBe(true);
    expect(exportedBound).toBeLessThanOrEqual(lipschitzBound(model) * (1 + 1e-3));
    tf.dispose(input);
    exported.dispose();
    model.dispose();
  });

  it('independent: training the original leaves the export unchanged, disposing it too', async () => {
    const model = sequentialModel();
    const input = x();
    const exported = vanillaExport(model);
    const reference = predictArray(exported, input);

    model.compile({ optimizer: tf.train.sgd(0.5), loss: 'meanSquaredError' });
    const ys = tf.tensor2d(seededValues(20 * 3, 4).map((v) => 3 * v), [20, 3]);
    await model.fit(input, ys, { epochs: 3, verbose: 0 });
    expect(maxAbsDiff(predictArray(model, input), reference)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(predictArray(exported, input), reference)).toBe(0);

    model.dispose();
    expect(maxAbsDiff(predictArray(exported, input), reference)).toBe(0);
    tf.dispose([input, ys]);
    exported.dispose();
  });

  it('independent the other way: training the export leaves the original unchanged', async () => {
    const model = functionalModel();
    const input = x();
    const reference = predictArray(model, input);
    const exported = vanillaExport(model);
    exported.compile({ optimizer: tf.train.sgd(0.5), loss: 'meanSquaredError' });
    const ys = tf.tensor2d(seededValues(20 * 2, 5).map((v) => 3 * v), [20, 2]);
    await exported.fit(input, ys, { epochs: 3, verbose: 0 });
    expect(maxAbsDiff(predictArray(exported, input), reference)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(predictArray(model, input), reference)).toBe(0);
    exported.dispose();
    expect(maxAbsDiff(predictArray(model, input), reference)).toBe(0);
    tf.dispose([input, ys]);
    model.dispose();
  });

  it('no tensor leak: exporting then disposing the export returns to the same tensor count', () => {
    const model = functionalModel();
    const before = tf.memory().numTensors;
    const exported = vanillaExport(model);
    exported.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('a nested model is inlined', () => {
    const inner = tfl.sequential({ name: 'inner', layers: [lipDense({ units: 4, inputShape: [5], name: 'inner_lip' }), tfl.layers.activation({ activation: 'relu', name: 'inner_relu' })] });
    const input = tfl.input({ shape: [5] });
    const out = lipDense({ units: 2, name: 'outer_lip' }).apply(inner.apply(input) as tfl.SymbolicTensor) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: out });
    const exported = vanillaExport(model);
    const data = x();
    expect(maxAbsDiff(predictArray(exported, data), predictArray(model, data))).toBeLessThanOrEqual(1e-5);
    expect(exported.layers.map((l) => l.name)).toEqual(expect.arrayContaining(['inner_lip', 'inner_relu', 'outer_lip']));
    tf.dispose(data);
  });

  it('rejects a non-condensable tfjs-lip layer and an unknown custom layer, naming them', () => {
    const half = tfl.sequential({ layers: [lipDense({ units: 3, inputShape: [2] }), new TestHalfScale({ name: 'half' })] });
    expect(() => vanillaExport(half)).toThrow(LipschitzConfigError);
    expect(() => vanillaExport(half)).toThrow(/layer 'half' \(TestHalfScale\) is a tfjs-lip layer that cannot be condensed/);
    const custom = tfl.sequential({ layers: [lipDense({ units: 3, inputShape: [2] }), new TestTriple({ name: 'triple' })] });
    expect(() => vanillaExport(custom)).toThrow(/layer 'triple' \(TestTriple\) is neither a tfjs built-in layer nor a condensable tfjs-lip layer/);
    expect(() => vanillaExport({} as tfl.LayersModel)).toThrow(LipschitzConfigError);
  });
});

describe('condense', () => {
  it('writes the normalized kernels: predictions unchanged (1e-4), raw kernels now have all singular values kCoefLip^(1/n)', () => {
    const model = sequentialModel();
    const input = x();
    const before = predictArray(model, input);
    condense(model);
    expect(maxAbsDiff(predictArray(model, input), before)).toBeLessThanOrEqual(1e-4);
    const share = Math.pow(2, 1 / 3);
    const dense = model.layers.filter((l) => l.getClassName() === 'SpectralDense');
    expect(dense).toHaveLength(3);
    for (const layer of dense) {
      const kernel = layer.weights.find((w) => w.originalName.endsWith('/kernel'))!.read().arraySync() as number[][];
      for (const s of singularValues(kernel)) expect(Math.abs(s - share)).toBeLessThan(1e-3);
    }
    tf.dispose(input);
    model.dispose();
  });
});
