/**
 * Every public factory that takes an options object rejects an unknown key with a
 * LipschitzConfigError naming the factory, the key and the closest known name; every registered
 * tfjs-lip class still rebuilds from its own getConfig() (what saving and loading a model does).
 */
import * as os from 'os';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as lip from '../src';
import { LipschitzConfigError } from '../src/core/errors';
import { layerLinearMatrix } from '../src/evaluation/layer_sv';
import { InferenceGroupSort, InferenceL2NormPooling2D } from '../src/inference';
import { closestName } from '../src/core/validation';
import { thrownConfigError } from './helpers/thrown';

const tinyModel = () => tfl.sequential({ layers: [lip.layers.spectralDense({ units: 2, inputShape: [3] })] });

describe("the user's four misspellings", () => {
  it.each([
    ['k_coef_lip', 'kCoefLip'],
    ['kcoeflip', 'kCoefLip'],
  ])("spectralDense({%s}) suggests '%s'", (bad, good) => {
    const message = thrownConfigError(() => lip.layers.spectralDense({ units: 4, [bad]: 2 } as never)).message;
    expect(message).toBe(`spectralDense: unknown option '${bad}' (did you mean '${good}'?).`);
  });

  it("multiclassHKR({min_margin}) suggests 'minMargin' instead of using the default margin", () => {
    expect(thrownConfigError(() => lip.losses.multiclassHKR({ alpha: 10, min_margin: 0.5 } as never)).message).toBe(
      "multiclassHKR: unknown option 'min_margin' (did you mean 'minMargin'?).",
    );
  });

  it("'normalize' is close to no option: the message lists the known ones", () => {
    expect(thrownConfigError(() => lip.losses.hkr({ alpha: 1, normalize: true } as never)).message).toBe(
      "hkr: unknown option 'normalize'. Known options: 'alpha', 'minMargin', 'reduction', 'name', 'checkLabels'.",
    );
    const message = thrownConfigError(() => lip.layers.spectralDense({ units: 4, normalize: true } as never)).message;
    expect(message).toMatch(/^spectralDense: unknown option 'normalize'\. Known options: 'units', 'activation', .*'kCoefLip', .*'inputShape', .*'inputDType'\.$/);
    expect(message).not.toContain('customObjects');
  });

  it('several unknown keys are listed in one message; a key whose value is undefined is ignored', () => {
    expect(thrownConfigError(() => lip.layers.spectralDense({ units: 4, unit: 3, eps_bjorck: 1e-3 } as never)).message).toBe(
      "spectralDense: unknown options 'unit' (did you mean 'units'?), 'eps_bjorck' (did you mean 'epsBjorck'?).",
    );
    const layer = lip.layers.spectralDense({ units: 4, k_coef_lip: undefined } as never);
    expect(layer.kCoefLip).toBe(1);
  });

  it('closestName ignores case, underscores and hyphens, and gives up beyond length/3 edits', () => {
    const known = ['kCoefLip', 'minMargin', 'units', 'epsBjorck'];
    expect(closestName('K-COEF-LIP', known)).toBe('kCoefLip');
    expect(closestName('kCoefLpi', known)).toBe('kCoefLip');
    expect(closestName('unit', known)).toBe('units');
    expect(closestName('margin', known)).toBeUndefined();
    expect(closestName('normalize', known)).toBeUndefined();
  });
});

/** [factory as named in the message, call with the misspelled key, misspelled key, suggestion]. */
type Row = [string, () => unknown, string, string];

const LAYER_ROWS: Row[] = [
  ['spectralDense', () => lip.layers.spectralDense({ units: 2, max_iter_spectral: 3 } as never), 'max_iter_spectral', 'maxIterSpectral'],
  ['frobeniusDense', () => lip.layers.frobeniusDense({ units: 2, disjoint_neurons: false } as never), 'disjoint_neurons', 'disjointNeurons'],
  ['spectralConv2d', () => lip.layers.spectralConv2d({ filters: 2, kernelSize: 3, eps_spectral: 1e-3 } as never), 'eps_spectral', 'epsSpectral'],
  ['frobeniusConv2d', () => lip.layers.frobeniusConv2d({ filters: 2, kernelSize: 3, use_bias: false } as never), 'use_bias', 'useBias'],
  ['lInfProjectedDense', () => lip.layers.lInfProjectedDense({ units: 2, k_coef_lip: 1 } as never), 'k_coef_lip', 'kCoefLip'],
  ['lInfProjectedConv2d', () => lip.layers.lInfProjectedConv2d({ filters: 2, kernelSize: 3, kernel_size: 3 } as never), 'kernel_size', 'kernelSize'],
  ['spectralConv2dTranspose', () => lip.layers.spectralConv2dTranspose({ filters: 2, kernelSize: 3, beta_bjorck: 0.5 } as never), 'beta_bjorck', 'betaBjorck'],
  ['scaledAveragePooling2d', () => lip.layers.scaledAveragePooling2d({ pool_size: 2 } as never), 'pool_size', 'poolSize'],
  ['scaledL2NormPooling2d', () => lip.layers.scaledL2NormPooling2d({ eps_grad_sqrt: 1e-6 } as never), 'eps_grad_sqrt', 'epsGradSqrt'],
  ['scaledGlobalAveragePooling2d', () => lip.layers.scaledGlobalAveragePooling2d({ data_format: 'channelsLast' } as never), 'data_format', 'dataFormat'],
  ['scaledGlobalL2NormPooling2d', () => lip.layers.scaledGlobalL2NormPooling2d({ kCoefLp: 1 } as never), 'kCoefLp', 'kCoefLip'],
  ['invertibleDownSampling', () => lip.layers.invertibleDownSampling({ poolSize: 2, input_shape: [4, 4, 1] } as never), 'input_shape', 'inputShape'],
  ['invertibleUpSampling', () => lip.layers.invertibleUpSampling({ poolSize: 2, trainabel: false } as never), 'trainabel', 'trainable'],
  ['spectralConv1d', () => lip.layers.spectralConv1d({ filters: 2, kernelSize: 3, kernel_size: 3 } as never), 'kernel_size', 'kernelSize'],
  ['frobeniusConv1d', () => lip.layers.frobeniusConv1d({ filters: 2, kernelSize: 3, paddding: 'same' } as never), 'paddding', 'padding'],
  ['lipResidual', () => lip.layers.lipResidual({ initial_alpha: 0 } as never), 'initial_alpha', 'initialAlpha'],
  ['layerCentering', () => lip.layers.layerCentering({ use_bias: false } as never), 'use_bias', 'useBias'],
  ['batchCentering', () => lip.layers.batchCentering({ Momentum: 0.1 } as never), 'Momentum', 'momentum'],
  ['batchLipNorm', () => lip.layers.batchLipNorm({ epsilon_: 1e-3 } as never), 'epsilon_', 'epsilon'],
];

const ACTIVATION_ROWS: Row[] = [
  ['groupSort', () => lip.activations.groupSort({ group_size: 2 } as never), 'group_size', 'groupSize'],
  ['groupSort2', () => lip.activations.groupSort2({ k_coef_lip: 2 } as never), 'k_coef_lip', 'kCoefLip'],
  ['fullSort', () => lip.activations.fullSort({ dataformat: 'channelsLast' } as never), 'dataformat', 'dataFormat'],
  ['maxMin', () => lip.activations.maxMin({ kcoeflip: 1 } as never), 'kcoeflip', 'kCoefLip'],
  ['maxOut', () => lip.activations.maxOut({ num_units: 2 } as never), 'num_units', 'numUnits'],
  ['lnetsMaxMin', () => lip.activations.lnetsMaxMin({ num_units: 2 } as never), 'num_units', 'numUnits'],
  ['pReLULip', () => lip.activations.pReLULip({ initial_alpha: 0 } as never), 'initial_alpha', 'initialAlpha'],
  ['householder', () => lip.activations.householder({ initial_theta: 1 } as never), 'initial_theta', 'initialTheta'],
  ['clippedReLU', () => lip.activations.clippedReLU({ per_unit: true } as never), 'per_unit', 'perUnit'],
  ['clampedMaxMin', () => lip.activations.clampedMaxMin({ max_threshold: 1 } as never), 'max_threshold', 'maxThreshold'],
];

const LOSS_ROWS: Row[] = [
  ['kr', () => lip.losses.kr({ reductions: 'sum' } as never), 'reductions', 'reduction'],
  ['hingeMargin', () => lip.losses.hingeMargin({ min_margin: 1 } as never), 'min_margin', 'minMargin'],
  ['hkr', () => lip.losses.hkr({ alpha: 1, minmargin: 1 } as never), 'minmargin', 'minMargin'],
  ['multiclassKR', () => lip.losses.multiclassKR({ Name: 'x' } as never), 'Name', 'name'],
  ['multiclassHinge', () => lip.losses.multiclassHinge({ min_margin: 1 } as never), 'min_margin', 'minMargin'],
  ['multiclassHKR', () => lip.losses.multiclassHKR({ Alpha: 10 } as never), 'Alpha', 'alpha'],
  ['multiclassSoftHKR', () => lip.losses.multiclassSoftHKR({ alpha_mean: 0.9 } as never), 'alpha_mean', 'alphaMean'],
  ['multiMargin', () => lip.losses.multiMargin({ min_margin: 1 } as never), 'min_margin', 'minMargin'],
  ['categoricalHinge', () => lip.losses.categoricalHinge({ min_margin: 1 } as never), 'min_margin', 'minMargin'],
  ['tauCategoricalCrossentropy', () => lip.losses.tauCategoricalCrossentropy({ Tau: 10 } as never), 'Tau', 'tau'],
  ['tauSparseCategoricalCrossentropy', () => lip.losses.tauSparseCategoricalCrossentropy({ tau: 10, reduction_: 'sum' } as never), 'reduction_', 'reduction'],
  ['tauBinaryCrossentropy', () => lip.losses.tauBinaryCrossentropy({ taus: 10 } as never), 'taus', 'tau'],
];

const METRIC_ROWS: Row[] = [
  ['categoricalProvableRobustAccuracy', () => lip.metrics.categoricalProvableRobustAccuracy({ lip_const: 1 } as never), 'lip_const', 'lipConst'],
  ['binaryProvableRobustAccuracy', () => lip.metrics.binaryProvableRobustAccuracy({ epsilon_: 0.1 } as never), 'epsilon_', 'epsilon'],
  ['categoricalProvableAvgRobustness', () => lip.metrics.categoricalProvableAvgRobustness({ disjoint_neurons: true } as never), 'disjoint_neurons', 'disjointNeurons'],
  ['binaryProvableAvgRobustness', () => lip.metrics.binaryProvableAvgRobustness({ negative_robustness: true } as never), 'negative_robustness', 'negativeRobustness'],
];

const TOOLKIT_ROWS: Row[] = [
  ['condenseCallback', () => lip.callbacks.condenseCallback({ on_epoch: true } as never), 'on_epoch', 'onEpoch'],
  ['monitorCallback', () => lip.callbacks.monitorCallback({ layer_names: ['a'] } as never), 'layer_names', 'layerNames'],
  ['lossParamScheduler', () => lip.callbacks.lossParamScheduler({ param: 'alpha', schedule: { 0: 1 }, steps: 2 } as never), 'steps', 'step'],
  ['initializers.spectral', () => lip.initializers.spectral({ k_coef_lip: 2 } as never), 'k_coef_lip', 'kCoefLip'],
  ['constraints.spectral', () => lip.constraints.spectral({ eps_bjorck: 1e-3 } as never), 'eps_bjorck', 'epsBjorck'],
  ['constraints.frobenius', () => lip.constraints.frobenius({ Eps: 1e-6 } as never), 'Eps', 'eps'],
  ['constraints.weightClip', () => lip.constraints.weightClip({ c_value: 1 } as never), 'c_value', 'cValue'],
  ['constraints.autoWeightClip', () => lip.constraints.autoWeightClip({ scales: 2 } as never), 'scales', 'scale'],
  ['orthDense', () => lip.regularizers.orthDense({ lambda_orth: 0.1 } as never), 'lambda_orth', 'lambdaOrth'],
  ['lorth2d', () => lip.regularizers.lorth2d({ lambda_lorth: 0.1 } as never), 'lambda_lorth', 'lambdaLorth'],
  ['loadMnist', () => lip.data.loadMnist({ train_size: 10 } as never), 'train_size', 'trainSize'],
  ['loadModel', () => lip.io.loadModel(os.tmpdir(), { weight_path_prefix: '' } as never), 'weight_path_prefix', 'weightPathPrefix'],
];

/** Factories that take a model or tensors: those are built here and disposed after the call. */
function withModel(call: (model: tfl.Sequential, x: tf.Tensor2D) => unknown): () => unknown {
  return () => {
    const model = tinyModel();
    const x = tf.tensor2d([[0.1, 0.2, 0.3]]);
    try {
      return call(model, x);
    } finally {
      x.dispose();
      model.dispose();
    }
  };
}

const MODEL_ROWS: Row[] = [
  ['lip.sequential', () => lip.sequential({ layers: [lip.layers.spectralDense({ units: 2, inputShape: [3] })], k_coef_lip: 2 } as never), 'k_coef_lip', 'kCoefLip'],
  ['lip.checkModel', withModel((m) => lip.checkModel(m, { stric: false } as never)), 'stric', 'strict'],
  ['certify', withModel((m, x) => lip.certify(m, x, { batch_size: 4 } as never)), 'batch_size', 'batchSize'],
  ['certifyLogits', withModel((_m, x) => lip.certifyLogits(x, { lipconst: 2 } as never)), 'lipconst', 'lipConst'],
  ['evaluateLipConst', withModel((m, x) => lip.evaluateLipConst(m, x, { num_samples: 2 } as never)), 'num_samples', 'numSamples'],
  ['computeLayerSV', withModel((m) => lip.computeLayerSV(m.layers[0]!, { max_gram_size: 8 } as never)), 'max_gram_size', 'maxGramSize'],
  ['layerLinearMatrix', withModel((m) => layerLinearMatrix(m.layers[0]!, { input_shape: [3] } as never)), 'input_shape', 'inputShape'],
  ['computeModelSV', withModel((m) => lip.computeModelSV(m, { maxGramSizes: 8 } as never)), 'maxGramSizes', 'maxGramSize'],
];

describe('every factory names itself, the bad key and the closest known one', () => {
  it.each([...LAYER_ROWS, ...ACTIVATION_ROWS, ...LOSS_ROWS, ...METRIC_ROWS, ...TOOLKIT_ROWS, ...MODEL_ROWS])(
    '%s',
    (factory, call, bad, good) => {
      expect(thrownConfigError(call).message).toBe(`${factory}: unknown option '${bad}' (did you mean '${good}'?).`);
    },
  );

  it('loadIdx and useFastest reject their promise', async () => {
    await expect(lip.data.loadIdx(os.tmpdir(), { test_size: 5 } as never)).rejects.toThrow(
      new LipschitzConfigError("loadIdx: unknown option 'test_size' (did you mean 'testSize'?)."),
    );
    const backend = tf.getBackend();
    await expect(lip.backend.useFastest({ Wasm: false } as never)).rejects.toThrow(
      "useFastest: unknown option 'Wasm' (did you mean 'wasm'?).",
    );
    expect(tf.getBackend()).toBe(backend);
  });

  it('a misspelled key wins over a missing required option (the typo is the real mistake)', () => {
    expect(thrownConfigError(() => lip.layers.spectralDense({ unit: 4 } as never)).message).toBe(
      "spectralDense: unknown option 'unit' (did you mean 'units'?).",
    );
    expect(thrownConfigError(() => lip.losses.tauCategoricalCrossentropy({ temperature: 10 } as never)).message).toBe(
      "tauCategoricalCrossentropy: unknown option 'temperature'. Known options: 'tau', 'reduction', 'name', 'checkLabels'.",
    );
  });

  it('FrobeniusConv2D keeps its specific message for the normalization settings it has no use for', () => {
    expect(thrownConfigError(() => lip.layers.frobeniusConv2d({ filters: 2, kernelSize: 3, epsSpectral: 1e-3 } as never)).message).toBe(
      'epsSpectral expected nothing (FrobeniusConv2D has no iterative normalization), but got 0.001.',
    );
  });

  it('a subclass of a tfjs-lip layer may add options of its own', () => {
    class WithExtra extends lip.layers.SpectralDense {
      readonly extra: number;
      constructor(args: lip.layers.SpectralDenseArgs & { extra: number }) {
        super(args);
        this.extra = args.extra;
      }
    }
    expect(new WithExtra({ units: 2, extra: 7 }).extra).toBe(7);
  });
});

/** One instance of every registered tfjs-lip class, with settings away from the defaults. */
const INSTANCES: Record<string, () => tf.serialization.Serializable> = {
  SpectralDense: () =>
    lip.layers.spectralDense({
      units: 3,
      activation: 'relu',
      kCoefLip: 2,
      epsSpectral: 1e-4,
      epsBjorck: null,
      betaBjorck: 0.4,
      maxIterSpectral: 5,
      maxIterBjorck: 7,
      inputShape: [4],
      name: 'rt_spectral_dense',
      kernelRegularizer: lip.regularizers.orthDense({ lambdaOrth: 0.5 }),
      biasConstraint: 'nonNeg',
    }),
  FrobeniusDense: () => lip.layers.frobeniusDense({ units: 2, disjointNeurons: false, kCoefLip: 0.5, inputDim: 3, trainable: false }),
  SpectralConv2D: () =>
    lip.layers.spectralConv2d({ filters: 2, kernelSize: [3, 1], strides: 2, padding: 'valid', activation: 'tanh', kCoefLip: 1.5, epsBjorck: 1e-4, inputShape: [6, 6, 1] }),
  FrobeniusConv2D: () => lip.layers.frobeniusConv2d({ filters: 2, kernelSize: 3, kCoefLip: 2, dtype: 'float32' }),
  SpectralConv2DTranspose: () => lip.layers.spectralConv2dTranspose({ filters: 2, kernelSize: 3, strides: 2, useBias: false, maxIterBjorck: 4 }),
  LInfProjectedDense: () => lip.layers.lInfProjectedDense({ units: 3, kCoefLip: 2, activation: 'relu', inputDim: 4, useBias: false }),
  LInfProjectedConv2D: () => lip.layers.lInfProjectedConv2d({ filters: 2, kernelSize: [3, 1], strides: 2, padding: 'valid', kCoefLip: 0.5 }),
  SpectralConv1D: () => lip.layers.spectralConv1d({ filters: 2, kernelSize: 3, strides: 2, padding: 'reflect', kCoefLip: 1.5, maxIterBjorck: 6, inputShape: [7, 2] }),
  FrobeniusConv1D: () => lip.layers.frobeniusConv1d({ filters: 1, kernelSize: [2], padding: 'circular', useBias: false, kCoefLip: 2 }),
  ScaledAveragePooling2D: () => lip.layers.scaledAveragePooling2d({ poolSize: [2, 3], kCoefLip: 2, dataFormat: 'channelsFirst' }),
  ScaledL2NormPooling2D: () => lip.layers.scaledL2NormPooling2d({ poolSize: 2, epsGradSqrt: 1e-5 }),
  ScaledGlobalAveragePooling2D: () => lip.layers.scaledGlobalAveragePooling2d({ kCoefLip: 3 }),
  ScaledGlobalL2NormPooling2D: () => lip.layers.scaledGlobalL2NormPooling2d({ epsGradSqrt: 1e-4, dataFormat: 'channelsFirst' }),
  InvertibleDownSampling: () => lip.layers.invertibleDownSampling({ poolSize: 2, kCoefLip: 2 }),
  InvertibleUpSampling: () => lip.layers.invertibleUpSampling({ poolSize: [1, 2], dataFormat: 'channelsFirst' }),
  LipResidual: () => lip.layers.lipResidual({ initialAlpha: -0.5 }),
  LayerCentering: () => lip.layers.layerCentering({ axis: [1, 2], useBias: false, kCoefLip: 2 }),
  BatchCentering: () => lip.layers.batchCentering({ momentum: 0.1, kCoefLip: 0.5 }),
  BatchLipNorm: () => lip.layers.batchLipNorm({ momentum: 0.3, epsilon: 0, useBias: false, kCoefLip: 2 }),
  GroupSort: () => lip.activations.groupSort({ groupSize: 4, kCoefLip: 2 }),
  GroupSort2: () => lip.activations.groupSort2({ kCoefLip: 0.5 }),
  FullSort: () => lip.activations.fullSort({ batchInputShape: [null, 4] }),
  Householder: () => lip.activations.householder({ initialTheta: 0.3 }),
  MaxMin: () => lip.activations.maxMin({ dataFormat: 'channelsFirst' }),
  MaxOut: () => lip.activations.maxOut({ numUnits: 3 }),
  LNetsMaxMin: () => lip.activations.lnetsMaxMin({ numUnits: 3, kCoefLip: 2 }),
  PReLULip: () => lip.activations.pReLULip({ initialAlpha: 0.2, sharedAxes: [1], kCoefLip: 1.5 }),
  ClippedReLU: () => lip.activations.clippedReLU({ threshold: 0.7, perUnit: false, kCoefLip: 2 }),
  ClampedMaxMin: () => lip.activations.clampedMaxMin({ maxThreshold: 1, minThreshold: -0.25, perUnit: false, trainable: false }),
  SpectralInitializer: () => lip.initializers.spectral({ kCoefLip: 2, epsBjorck: null, baseInitializer: 'glorotUniform' }),
  SpectralConstraint: () => lip.constraints.spectral({ kCoefLip: 2, maxIterBjorck: 5 }),
  ProjectionConstraint: () => lip.constraints.projection({ projection: 'linf', kCoefLip: 2, bjorckIter: 3 }),
  FrobeniusConstraint: () => lip.constraints.frobenius({ eps: 1e-6 }),
  WeightClipConstraint: () => lip.constraints.weightClip({ cValue: 0.5 }),
  AutoWeightClipConstraint: () => lip.constraints.autoWeightClip({ scale: 2 }),
  OrthDenseRegularizer: () => lip.regularizers.orthDense({ lambdaOrth: 0.1 }),
  LorthRegularizer: () => lip.regularizers.lorth2d({ kernelShape: [3, 3, 2, 4], lambdaLorth: 0.2 }),
  // The inference-only layers of lip.vanillaExport(model, {inferenceLayers: true}).
  TfjsLipInferenceGroupSort: () => new InferenceGroupSort({ groupSize: 3, scale: 2 }),
  TfjsLipInferenceL2NormPooling2D: () => new InferenceL2NormPooling2D({ poolSize: [2, 2], scale: 0.5, dataFormat: 'channelsFirst' }),
};

/** A config as saved in model.json (JSON types only). */
const asJson = (config: tf.serialization.ConfigDict): tf.serialization.ConfigDict => JSON.parse(JSON.stringify(config));

describe('fromConfig round trip of every registered tfjs-lip class', () => {
  it('the table covers every class tfjs-lip registers', () => {
    const registered = Object.keys(tf.serialization.SerializationMap.getMap().classNameMap).filter(
      (name) => !lip.TFJS_BUILTIN_CLASS_NAMES.has(name) && !name.startsWith('Test'),
    );
    expect(registered.sort()).toEqual(Object.keys(INSTANCES).sort());
  });

  it.each(Object.keys(INSTANCES))('%s: the constructor accepts every key of getConfig() and gives back the same config', (className) => {
    const original = INSTANCES[className]!();
    expect(original.getClassName()).toBe(className);
    const config = asJson(original.getConfig());
    const [cls, fromConfig] = tf.serialization.SerializationMap.getMap().classNameMap[className]!;
    // tfjs' deserialization adds `customObjects` to the config it passes to the constructor.
    const copy = fromConfig(cls, { ...config, customObjects: {} });
    expect(copy.getClassName()).toBe(className);
    expect(asJson(copy.getConfig())).toEqual(config);
  });

  it('a lip.sequential model rebuilds from its JSON (tfl.models.modelFromJSON) and predicts the same', async () => {
    const model = lip.sequential({
      layers: [
        lip.layers.spectralDense({ units: 4, inputShape: [3], name: 'rt_a' }),
        lip.activations.groupSort2({ name: 'rt_sort' }),
        lip.layers.frobeniusDense({ units: 2, name: 'rt_b' }),
      ],
      kCoefLip: 4,
    });
    const copy = await tfl.models.modelFromJSON({ modelTopology: model.toJSON(null, false) as tf.io.ModelJSON['modelTopology'] });
    copy.setWeights(model.getWeights());
    const x = tf.tensor2d([[0.3, -0.1, 0.5]]);
    const [a, b] = [model.predict(x) as tf.Tensor, copy.predict(x) as tf.Tensor];
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    // Three Lipschitz layers share kCoefLip 4; the rebuilt layers carry the share from their config.
    for (const layer of copy.layers) expect((layer as unknown as { kCoefLip: number }).kCoefLip).toBeCloseTo(Math.cbrt(4), 12);
    tf.dispose([x, a, b]);
    model.dispose();
    copy.dispose();
  });
});


describe('options that are not an object', () => {
  it('name the factory and the value (a number, a string, null, an array)', async () => {
    await expect(lip.backend.useFastest(5 as never)).rejects.toThrow('useFastest options expected an object of options, but got 5.');
    expect(() => lip.callbacks.condenseCallback('every' as never)).toThrow("condenseCallback options expected an object of options, but got 'every'.");
    expect(() => lip.layers.spectralDense(null as never)).toThrow('spectralDense options expected an object of options, but got null.');
    expect(() => lip.losses.multiclassHKR([1, 2] as never)).toThrow('multiclassHKR options expected an object of options, but got [1,2].');
  });
});
