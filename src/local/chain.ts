/**
 * The layers of a model that is a single chain (a `tf.sequential`, or a functional model whose
 * layers each take the previous one's output), in order, with the input shape of each call; and
 * the check of a batch `x` against the model input. The local bounds walk such chains only.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { configError, LipschitzConfigError } from '../core/errors';
import { assertGraph, isContainer, nodeInputShapes, producingNode, type ShapeLike } from '../core/graph';
import { checkModelArgument } from '../model/model_argument';

/** One layer call of a chain. */
export interface ChainLink {
  layer: tfl.layers.Layer;
  /** Input shape of this call, batch first (`null` where unknown). */
  inputShape: ShapeLike;
}

/**
 * The calls of `model` from its input to its output. Throws `LipschitzConfigError` when the model
 * has several inputs or outputs, a layer with several inputs (a merge), or a nested model.
 */
export function modelChain(what: string, model: unknown): ChainLink[] {
  checkModelArgument(what, model, 'the local bounds need the whole model');
  assertGraph(model, what);
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new LipschitzConfigError(
      `${what} expected a model with one input and one output (a chain of layers), but model '${model.name}' has ` +
        `${model.inputs.length} inputs and ${model.outputs.length} outputs.`,
    );
  }
  const start = producingNode(model.inputs[0]!);
  const links: ChainLink[] = [];
  let tensor = model.outputs[0]!;
  for (let node = producingNode(tensor); node !== start; node = producingNode(tensor)) {
    const layer = tensor.sourceLayer;
    if (node.inputTensors.length !== 1) {
      throw new LipschitzConfigError(
        `${what}: layer '${layer.name}' (${layer.getClassName()}) takes ${node.inputTensors.length} inputs; only a chain of ` +
          'one-input layers is supported.',
      );
    }
    if (isContainer(layer)) {
      throw new LipschitzConfigError(`${what}: layer '${layer.name}' is a nested model; add its layers to the chain directly.`);
    }
    links.push({ layer, inputShape: nodeInputShapes(node)[0] ?? [] });
    tensor = node.inputTensors[0]!;
  }
  return links.reverse();
}

/** Throws unless `x` is a float tensor of the model input's shape with a batch axis first. */
export function checkBatch(model: tfl.LayersModel, x: unknown): tf.Tensor {
  const shape = model.inputs[0]!.shape;
  const expected = `a float32 tensor of shape [batch, ${shape.slice(1).join(', ')}] (the model input)`;
  const t = x as Partial<tf.Tensor> | null;
  const isTensor = typeof t === 'object' && t !== null && Array.isArray(t.shape) && t.dataId !== undefined && t.isDisposed === false;
  if (!isTensor || t.dtype !== 'float32' || t.shape!.length !== shape.length) configError('x', expected, x);
  if (shape.some((d, i) => i > 0 && d !== null && d !== t.shape![i])) configError('x', expected, x);
  return x as tf.Tensor;
}
