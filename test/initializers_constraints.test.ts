/**
 * lip.initializers.spectral and lip.constraints.*: the mathematics (float64 singular values,
 * norms, clipping bounds), use by tfjs built-in layers, and serialization.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as constraints from '../src/constraints';
import * as initializers from '../src/initializers';
import { LipschitzConfigError } from '../src/core/errors';
import { singularValues } from './helpers/oracles';
import { randomMatrix } from './helpers/dense';

describe('initializers.spectral', () => {
  it.each([
    [[40, 12], 1],
    [[12, 40], 1],
    [[30, 30], 2.5],
    [[3, 3, 4, 6], 1],
  ])('shape %j: every singular value of the [-1, lastDim] kernel is kCoefLip=%f (float64)', (shape, k) => {
    const init = initializers.spectral({ kCoefLip: k });
    const w = init.apply(shape as number[]);
    expect(w.shape).toEqual(shape);
    const last = (shape as number[])[(shape as number[]).length - 1]!;
    const sv = singularValues(tf.reshape(w, [-1, last]));
    sv.forEach((s) => expect(Math.abs(s - k)).toBeLessThan(1e-4 * k));
    w.dispose();
  });

  it('is accepted by a tfjs built-in dense layer and serializes by class name', () => {
    const layer = tfl.layers.dense({ units: 6, inputShape: [10], kernelInitializer: initializers.spectral({ kCoefLip: 2 }) });
    const model = tfl.sequential({ layers: [layer] });
    const sv = singularValues(layer.getWeights()[0]!);
    sv.forEach((s) => expect(Math.abs(s - 2)).toBeLessThan(2e-4));
    const config = layer.getConfig()['kernelInitializer'] as { className: string; config: Record<string, unknown> };
    expect(config.className).toBe('SpectralInitializer');
    expect(config.config['kCoefLip']).toBe(2);
    const copy = tfl.layers.dense(layer.getConfig() as never);
    expect((copy.getConfig()['kernelInitializer'] as { className: string }).className).toBe('SpectralInitializer');
    model.dispose();
  });

  it('round-trips its config', () => {
    const init = initializers.spectral({ kCoefLip: 3, epsBjorck: null, baseInitializer: 'glorotUniform' });
    const copy = new initializers.SpectralInitializer(init.getConfig() as never);
    expect(copy.getConfig()).toEqual(init.getConfig());
    expect(init.getClassName()).toBe('SpectralInitializer');
  });

  it('rejects bad settings with LipschitzConfigError', () => {
    expect(() => initializers.spectral({ kCoefLip: 0 })).toThrow(LipschitzConfigError);
    expect(() => initializers.spectral({ betaBjorck: 2 })).toThrow(/betaBjorck.*2/);
  });
});

describe('constraints', () => {
  it.each([
    [20, 8, 1],
    [8, 20, 2.5],
  ])('spectral (%i x %i, kCoefLip %f): every singular value kCoefLip (float64)', (m, n, k) => {
    const w = tf.tensor2d(randomMatrix(m, n, m * n, 4));
    const out = constraints.spectral({ kCoefLip: k, maxIterBjorck: 30, maxIterSpectral: 50 }).apply(w);
    singularValues(out).forEach((s) => expect(Math.abs(s - k)).toBeLessThan(1e-3 * k));
    tf.dispose([w, out]);
  });

  it('frobenius: Frobenius norm 1 (minus eps)', () => {
    const a = randomMatrix(6, 5, 3, 7);
    const out = constraints.frobenius().apply(tf.tensor2d(a)).arraySync() as number[][];
    const norm = Math.sqrt(out.flat().reduce((s, x) => s + x * x, 0));
    expect(Math.abs(norm - 1)).toBeLessThan(1e-5);
    const normA = Math.sqrt(a.flat().reduce((s, x) => s + x * x, 0));
    out.forEach((row, i) => row.forEach((x, j) => expect(x).toBeCloseTo(a[i]![j]! / normA, 6)));
  });

  it('weightClip: clipped to [-cValue, cValue], others unchanged', () => {
    const a = randomMatrix(5, 5, 8, 3);
    const out = constraints.weightClip({ cValue: 1.5 }).apply(tf.tensor2d(a)).arraySync() as number[][];
    out.forEach((row, i) =>
      row.forEach((x, j) => expect(x).toBeCloseTo(Math.min(1.5, Math.max(-1.5, a[i]![j]!)), 6)),
    );
    expect(a.flat().some((x) => Math.abs(x) > 1.5)).toBe(true);
  });

  it('autoWeightClip: bound 1 / (scale * sqrt(size)) (DEEL-LIP)', () => {
    const a = randomMatrix(4, 25, 9);
    const c = 1 / (2 * Math.sqrt(100));
    const out = constraints.autoWeightClip({ scale: 2 }).apply(tf.tensor2d(a)).arraySync() as number[][];
    out.forEach((row, i) => row.forEach((x, j) => expect(x).toBeCloseTo(Math.min(c, Math.max(-c, a[i]![j]!)), 6)));
    expect(Math.max(...out.flat().map(Math.abs))).toBeCloseTo(c, 6);
  });

  it('are accepted by tfjs built-in layers (applied on weight writes) and serialize by class name', async () => {
    // tfjs-layers applies a kernel constraint when the weight is written (setWeights, load), not
    // inside fit; see docs/normalizers.md.
    const dense = tfl.layers.dense({ units: 3, inputShape: [4], kernelConstraint: constraints.weightClip({ cValue: 0.05 }) });
    const model = tfl.sequential({ layers: [dense] });
    const big = tf.tensor2d(randomMatrix(4, 3, 1, 5));
    dense.setWeights([big, tf.zeros([3])]);
    const kernel = dense.getWeights()[0]!.arraySync() as number[][];
    expect(Math.max(...kernel.flat().map(Math.abs))).toBeCloseTo(0.05, 6);
    const x = tf.tensor2d(randomMatrix(8, 4, 1));
    const y = tf.tensor2d(randomMatrix(8, 3, 2));
    const json = model.toJSON(null, false) as unknown as object;
    const restored = await tfl.models.modelFromJSON(json as never);
    const cfg = restored.layers[0]!.getConfig()['kernelConstraint'] as { className: string; config: Record<string, unknown> };
    expect(cfg.className).toBe('WeightClipConstraint');
    expect(cfg.config['cValue']).toBe(0.05);
    for (const [make, name] of [
      [() => constraints.spectral({ kCoefLip: 2 }), 'SpectralConstraint'],
      [() => constraints.frobenius(), 'FrobeniusConstraint'],
      [() => constraints.autoWeightClip({ scale: 3 }), 'AutoWeightClipConstraint'],
    ] as Array<[() => tf.serialization.Serializable, string]>) {
      const c = make();
      expect(c.getClassName()).toBe(name);
      const entry = tf.serialization.SerializationMap.getMap().classNameMap[name]!;
      const copy = entry[1](entry[0], c.getConfig());
      expect(copy.getConfig()).toEqual(c.getConfig());
    }
    tf.dispose([x, y, big]);
    model.dispose();
    restored.dispose();
  });

  it('reject bad settings with LipschitzConfigError naming the argument', () => {
    expect(() => constraints.weightClip({ cValue: -1 })).toThrow(/cValue.*-1/);
    expect(() => constraints.autoWeightClip({ scale: 0 })).toThrow(/scale.*0/);
    expect(() => constraints.spectral({ epsSpectral: 0 })).toThrow(LipschitzConfigError);
    expect(() => constraints.frobenius({ eps: NaN })).toThrow(/eps.*NaN/);
  });
});
