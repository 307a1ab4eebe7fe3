/**
 * Builds the model of a run: a list of layers named in the config, or a named architecture
 * (the shipped configs' networks). The first layer gets the data's input shape unless it names one.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { LipschitzConfigError, describeValue } from '../core/errors';
import { sequential } from '../model';
import { build } from './registry';
import type { LayerSpec, RunConfig } from './schema';

type Args = Record<string, unknown>;

/** DEEL-LIP's Getting_started_2 CNN (docs/notebooks/Getting_started_2.ipynb, `create_conv_model`). */
function deelGettingStarted2(args: Args): LayerSpec[] {
  const classes = (args.classes as number | undefined) ?? 10;
  const init = { kernelInitializer: 'orthogonal' };
  return [
    { type: 'spectralConv2d', args: { filters: 16, kernelSize: 3, useBias: true, ...init } },
    { type: 'groupSort2', args: {} },
    { type: 'scaledL2NormPooling2d', args: { poolSize: 2 } },
    { type: 'spectralConv2d', args: { filters: 32, kernelSize: 3, useBias: true, ...init } },
    { type: 'groupSort2', args: {} },
    { type: 'scaledL2NormPooling2d', args: { poolSize: 2 } },
    { type: 'flatten', args: {} },
    { type: 'spectralDense', args: { units: 64, useBias: true, ...init } },
    { type: 'groupSort2', args: {} },
    { type: 'spectralDense', args: { units: classes, useBias: false, ...init } },
  ];
}

/**
 * `denseStack`: `units` hidden layers of type `layer` (`spectralDense`, `frobeniusDense` or
 * `dense`), each followed by `activation` (a layer name such as `groupSort2`, or a tf activation
 * string for `dense`), then an output layer of `outputs` units (LNets' fully connected networks).
 */
function denseStack(args: Args): LayerSpec[] {
  const units = args.units as number[] | undefined;
  if (!Array.isArray(units) || units.length === 0) throw new LipschitzConfigError(`model.args.units expected a non-empty array of integers, but got ${describeValue(units)}.`);
  const layer = (args.layer as string | undefined) ?? 'spectralDense';
  const activation = (args.activation as string | undefined) ?? 'groupSort2';
  const layerArgs = (args.layerArgs as Args | undefined) ?? {};
  const out: LayerSpec[] = [];
  for (const u of units) {
    out.push({ type: layer, args: { units: u, ...layerArgs } });
    out.push(activation === 'relu' || activation === 'sigmoid' || activation === 'tanh' ? { type: 'activation', args: { activation } } : { type: activation, args: {} });
  }
  out.push({ type: layer, args: { units: (args.outputs as number | undefined) ?? 10, ...layerArgs } });
  return out;
}

const ARCHITECTURES: Record<string, (args: Args) => LayerSpec[]> = { deelGettingStarted2, denseStack };

/** Names of the built-in architectures. */
export function architectureNames(): string[] {
  return Object.keys(ARCHITECTURES).sort();
}

function layerSpecs(model: RunConfig['model']): { specs: LayerSpec[]; container: 'lip' | 'tf' } {
  if ('layers' in model) return { specs: model.layers, container: model.container };
  const make = ARCHITECTURES[model.architecture];
  if (make === undefined) {
    throw new LipschitzConfigError(`model.architecture expected one of ${architectureNames().join(', ')}, but got ${describeValue(model.architecture)}.`);
  }
  return { specs: make(model.args), container: 'lip' };
}

/** The run's model for inputs of shape `[null, ...inputShape]`. */
export function buildModel(run: RunConfig, inputShape: number[]): tfl.Sequential {
  const { specs, container } = layerSpecs(run.model);
  const built = specs.map((spec, i) => {
    const args: Args = { ...spec.args };
    if (i === 0 && args.inputShape === undefined && args.batchInputShape === undefined) args.inputShape = inputShape;
    const field = 'layers' in run.model ? `model.layers[${i}].type` : `model.architecture (layer ${i})`;
    const layer = build<unknown>('layer', field, spec.type, args);
    if (!(layer instanceof tfl.layers.Layer)) throw new LipschitzConfigError(`${field} expected a layer factory, but got ${describeValue(spec.type)}.`);
    return layer;
  });
  return container === 'tf' ? tfl.sequential({ layers: built }) : sequential({ layers: built, name: run.name.replace(/[^A-Za-z0-9_]/g, '_') });
}
