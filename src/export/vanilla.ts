/**
 * `lip.vanillaExport` and `lip.condense`, after DEEL-LIP's `Model.vanilla_export`: a new model
 * made only of tfjs built-in layers, computing what the original computes in inference (the
 * rewrite itself is `exporter.ts`), with its certificate in its metadata.
 */
import type * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { configError } from '../core/errors';
import { isCondensable } from '../core/contracts';
import { lipschitzBound } from '../model/bound';
import { checkBoolean, checkKnownKeys, optionNames } from '../core/validation';
import { VERSION } from '../core/version';
import { evaluateGraph, isContainer } from '../core/graph';
import { assertFiniteWeights } from '../model/finite';
import { Exporter } from './exporter';

type Layer = tfl.layers.Layer;

/** Options of {@link vanillaExport}. */
export interface VanillaExportOptions {
  /**
   * `false` (default): built-in tfjs layers only. `true`: the L2-norm poolings and the sorting
   * activations (GroupSort of any group size, GroupSort2, FullSort) become the inference layers
   * of `tfjs-lip/inference`, which compute them with the model's own ops; the deployment must
   * import that module before loading the model (docs/export.md, "Inference layers").
   */
  inferenceLayers?: boolean;
}

const VANILLA_EXPORT_OPTIONS = optionNames<VanillaExportOptions>({ inferenceLayers: true });

/** What an exported model's `model.json` says about its certificate (`userDefinedMetadata.tfjsLip`). */
export interface ExportCertificate {
  /** tfjs-lip version that made the export. */
  version: string;
  /** Certified L2 Lipschitz bound of the exported model, computed from the exported graph and weights. */
  lipschitzBound: number;
  /** Norm of the bound and of the certified radii. */
  norm: 'l2';
  /** How to certify a prediction with the bound. */
  certificate: string;
  /** Whether the model needs `tfjs-lip/inference` to load (exported with `inferenceLayers: true`). */
  inferenceLayers: boolean;
}

/** The certificate of an exported model, its bound derived from the exported graph itself. */
function exportCertificate(exported: tfl.LayersModel, inferenceLayers: boolean): ExportCertificate {
  return {
    version: VERSION,
    lipschitzBound: lipschitzBound(exported),
    norm: 'l2',
    certificate:
      'radius(x) = (largest logit - second largest logit) / (sqrt(2) * lipschitzBound): ' +
      'no L2 perturbation of x smaller than radius(x) changes the predicted class',
    inferenceLayers,
  };
}

/**
 * Returns a new model made only of tfjs built-in layers that predicts what `model` predicts:
 * each tfjs-lip `Condensable` layer is replaced by its `vanillaExport` (its normalized kernel in a
 * plain Dense/Conv2D, ...), each built-in layer by a copy with copied weights; layer names are
 * kept. The result is a functional `tf.LayersModel` (also for a Sequential input, whose export
 * starts with its InputLayer), independent of `model`: disposing or training either leaves the
 * other unchanged. `model` itself is not modified (it is not condensed).
 *
 * The export costs no more than the model's own inference: GroupSort2 becomes one `prelu`
 * whose orthogonal pair maps are folded into the neighbouring Dense/convolution kernels, and the
 * poolings' scales are folded into the next kernel (docs/export.md). `lip.lipschitzBound` of the
 * export equals the model's (it recognizes the export's compositions from the graph and the
 * weights), and the export's `userDefinedMetadata.tfjsLip` (saved in `model.json`) carries that
 * bound and the certificate formula (`ExportCertificate`).
 *
 * With `{inferenceLayers: true}`, layers whose built-in composition is slow or impossible (the
 * L2-norm poolings, GroupSort with groups > 2) become the inference layers of
 * `tfjs-lip/inference`, which the deployment then imports.
 *
 * Throws `LipschitzConfigError` naming the layer for a tfjs-lip layer that is not condensable,
 * a custom layer that is not a tfjs built-in, a non-finite weight, or an unbuilt model.
 */
export function vanillaExport(model: tfl.LayersModel, options: VanillaExportOptions = {}): tfl.LayersModel {
  if (!isContainer(model)) configError('vanillaExport model', 'a tfjs LayersModel', model);
  assertFiniteWeights(model, 'vanillaExport');
  if (typeof options !== 'object' || options === null) configError('vanillaExport options', 'an object {inferenceLayers?}', options);
  checkKnownKeys('vanillaExport', options, VANILLA_EXPORT_OPTIONS);
  const inferenceLayers = checkBoolean('inferenceLayers', options.inferenceLayers ?? false);
  if (!Array.isArray(model.outputs) || model.outputs.length === 0) {
    configError('vanillaExport model', 'a built model (give the first layer an inputShape)', model.name);
  }
  const inputs = model.inputs.map((tensor) => {
    const config = tensor.sourceLayer.getConfig() as { batchInputShape?: Array<number | null>; dtype?: tf.DataType };
    return tfl.input({
      batchShape: config.batchInputShape ?? tensor.shape,
      dtype: config.dtype ?? tensor.dtype,
      name: tensor.sourceLayer.name,
    });
  });
  const exporter = new Exporter(model, inferenceLayers);
  const outputs = evaluateGraph(model, inputs, exporter.visit).map((t) => exporter.resolve(t));
  const exported = tfl.model({ inputs, outputs, name: model.name });
  exported.setUserDefinedMetadata({ tfjsLip: exportCertificate(exported, inferenceLayers) });
  return exported;
}

/**
 * Calls `condense()` on every Condensable layer of `model` (nested models included): the
 * normalized kernel is written into the trainable kernel, so the model keeps predicting the same
 * while its raw weights become the constrained ones.
 */
export function condense(model: tfl.LayersModel): void {
  if (!isContainer(model)) configError('condense model', 'a tfjs LayersModel', model);
  const seen = new Set<number>();
  const walk = (layers: Layer[]): void => {
    for (const layer of layers) {
      if (seen.has(layer.id)) continue;
      seen.add(layer.id);
      if (isCondensable(layer)) layer.condense();
      else if (isContainer(layer)) walk(layer.layers);
    }
  };
  walk(model.layers);
}
