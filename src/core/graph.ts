/**
 * Walking the layer graph of a tfjs `LayersModel` (functional or Sequential): every node is
 * visited once, after the nodes that feed it, starting from the model outputs.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { LipschitzConfigError } from './errors';

/** A layer call in a model graph (tfjs-layers does not export the `Node` class itself). */
export type GraphNode = tfl.layers.Layer['inboundNodes'][number];

/** Shape of one tensor, batch dimension first (`null` where unknown). */
export type ShapeLike = Array<number | null>;

/** True for tfjs containers (functional models, Sequential) used as layers. */
export function isContainer(layer: unknown): layer is tfl.LayersModel {
  return (
    typeof layer === 'object' &&
    layer !== null &&
    Array.isArray((layer as { layers?: unknown }).layers) &&
    Array.isArray((layer as { inputs?: unknown }).inputs) &&
    Array.isArray((layer as { outputs?: unknown }).outputs)
  );
}

/** The input shapes of a node as a list (tfjs stores a single shape unwrapped). */
export function nodeInputShapes(node: GraphNode): ShapeLike[] {
  const shapes = node.inputShapes as unknown;
  if (!Array.isArray(shapes) || shapes.length === 0) return [];
  return Array.isArray(shapes[0]) ? (shapes as ShapeLike[]) : [shapes as ShapeLike];
}

/** The node that produced a symbolic tensor. */
export function producingNode(tensor: tfl.SymbolicTensor): GraphNode {
  const node = tensor.sourceLayer.inboundNodes[tensor.nodeIndex];
  if (node === undefined) {
    throw new LipschitzConfigError(`Tensor '${tensor.name}' has no producing node in layer '${tensor.sourceLayer.name}'.`);
  }
  return node;
}

/** Throws when a model has no graph yet (a Sequential whose first layer got no input shape). */
export function assertGraph(model: tfl.LayersModel, what: string): void {
  if (!Array.isArray(model.inputs) || !Array.isArray(model.outputs) || model.outputs.length === 0) {
    throw new LipschitzConfigError(
      `${what} expected a built model (give the first layer an inputShape), but got model '${model.name}' without inputs.`,
    );
  }
}

/**
 * Evaluates `visit` over the graph of `model`: `inputs[i]` is the value of `model.inputs[i]`,
 * `visit(node, values)` returns one value per output tensor of `node`. Returns one value per
 * model output. Nodes are memoized, so shared sub-graphs are visited once.
 */
export function evaluateGraph<T>(
  model: tfl.LayersModel,
  inputs: T[],
  visit: (node: GraphNode, values: T[]) => T[],
): T[] {
  assertGraph(model, 'The graph walk');
  const memo = new Map<number, T[]>();
  model.inputs.forEach((tensor, i) => {
    const value = inputs[i];
    if (value === undefined) throw new Error(`evaluateGraph: no value given for input ${i} of '${model.name}'.`);
    memo.set(producingNode(tensor).id, [value]);
  });
  const valueOf = (tensor: tfl.SymbolicTensor): T => {
    const node = producingNode(tensor);
    let outputs = memo.get(node.id);
    if (outputs === undefined) {
      if (node.inboundLayers.length === 0) {
        throw new LipschitzConfigError(
          `Layer '${tensor.sourceLayer.name}' is an input of the graph that is not an input of model '${model.name}'.`,
        );
      }
      outputs = visit(node, node.inputTensors.map(valueOf));
      memo.set(node.id, outputs);
    }
    const value = outputs[tensor.tensorIndex];
    if (value === undefined) throw new Error(`evaluateGraph: layer '${tensor.sourceLayer.name}' gave no output ${tensor.tensorIndex}.`);
    return value;
  };
  return model.outputs.map(valueOf);
}
