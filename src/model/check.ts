/**
 * `lip.checkModel`: the layer rules of `lip.sequential` applied to any tfjs `LayersModel`
 * (`tf.sequential`, functional `tf.model`, nested models), and the once-per-model warning of
 * `lip.lipschitzBound` and `lip.certify` for a model that fails them.
 *
 * The rules (one source of truth, shared with `lip.sequential`): a tfjs-lip Lipschitz layer
 * passes (it carries its own constant); a tfjs built-in passes when `lipschitzRisk` (the table
 * of bound.ts) finds it cannot exceed 1-Lipschitz whatever training does to its weights, and fails
 * with the table's reason otherwise (a plain Dense or Conv2D, whose kernel is free; BatchNormalization;
 * a non-1-Lipschitz activation; overlapping pooling windows; ...); merges pass when
 * `lipschitzBound` has a rule for them (Add, Subtract, Average, Concatenate, Maximum, Minimum)
 * and fail when they multiply their inputs (Multiply, Dot); any other layer fails. Nested models
 * are walked layer by layer here; `lip.sequential` refuses them (it cannot give their layers a
 * share of kCoefLip).
 *
 * The rules are about training: they flag every layer whose weights or settings can make the
 * model exceed its bound once it is trained. A model with no tfjs-lip layer at all is checked by
 * the same rules, so a model exported by `lip.vanillaExport` (plain Dense kernels) fails them:
 * it is made for inference, and `lipschitzBound` certifies its fixed weights. The warning of
 * `lipschitzBound`/`certify` is therefore given only for a model holding at least one tfjs-lip
 * Lipschitz layer, where a plain layer next to them is most likely a mistake (docs/toolkit.md).
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { configError, LipschitzConfigError } from '../core/errors';
import { isLipschitzLayer } from '../core/contracts';
import { checkBoolean, checkKnownKeys, optionNames } from '../core/validation';
import { lipschitzRisk } from './bound';
import { installUncheckedModelWarner } from './check_hook';
import { evaluateGraph, isContainer, nodeInputShapes, type ShapeLike } from '../core/graph';
import { checkModelArgument } from './model_argument';

type Layer = tfl.layers.Layer;

/** One layer that can break the Lipschitz bound. */
export interface ModelProblem {
  /** The layer's name; inside a nested model, prefixed by the nested model names (`'encoder/dense_1'`). */
  layer: string;
  /** The layer's class name (`'Dense'`, `'BatchNormalization'`, ...). */
  className: string;
  /** Why it can break the bound (`'a plain Dense kernel is unconstrained during training (...)'`). */
  reason: string;
}

/** What `lip.checkModel` returns. */
export interface ModelCheckResult {
  /** True when no layer can break the bound. */
  ok: boolean;
  /** Every offending layer in graph order, each once (also when it is called several times). */
  problems: ModelProblem[];
  /** Number of tfjs-lip Lipschitz layers met: 0 for a plain tfjs model (e.g. a `lip.vanillaExport`). */
  lipschitzLayers: number;
  /**
   * The problems in one sentence, as the strict error and the warnings print them:
   * `model 'm': layer 'd' (Dense) can break the Lipschitz bound: <reason>; layer ...`. `''` when ok.
   */
  message: string;
}

/** Options of `lip.checkModel`. */
export interface CheckModelArgs {
  /** true (default): throw `LipschitzConfigError` listing every problem; false: return them only. */
  strict?: boolean;
}

const CHECK_MODEL_OPTIONS = optionNames<CheckModelArgs>({ strict: true });

/** What to do with a nested model: walk its layers (`checkModel`), or report it (`lip.sequential`). */
export type NestedModels = 'walk' | 'reject';

/** `layer 'name' (Class) can break the Lipschitz bound: reason`, joined by `'; '`: the wording of every message. */
export function describeProblems(problems: readonly ModelProblem[]): string {
  return problems.map((p) => `layer '${p.layer}' (${p.className}) can break the Lipschitz bound: ${p.reason}`).join('; ');
}

/**
 * Applies the rules to every layer of `model` that its outputs depend on (every layer of
 * `model.layers` when it has no graph yet, as an empty `tf.sequential()`).
 * Never throws for a problem; throws `LipschitzConfigError` only for a graph it cannot walk.
 */
export function inspectModel(model: tfl.LayersModel, nested: NestedModels): ModelCheckResult {
  const problems: ModelProblem[] = [];
  const seen = new Set<number>();
  let lipschitzLayers = 0;
  const visit = (layer: Layer, inputShape: ShapeLike | undefined, prefix: string): void => {
    if (seen.has(layer.id)) return;
    seen.add(layer.id);
    if (isLipschitzLayer(layer)) {
      lipschitzLayers++;
    } else if (nested === 'walk' && isContainer(layer)) {
      walk(layer, `${prefix}${layer.name}/`);
    } else {
      const reason = lipschitzRisk(layer, inputShape);
      if (reason !== null) problems.push({ layer: prefix + layer.name, className: layer.getClassName(), reason });
    }
  };
  const walk = (m: tfl.LayersModel, prefix: string): void => {
    if (!Array.isArray(m.outputs) || m.outputs.length === 0) {
      for (const layer of m.layers) visit(layer, undefined, prefix);
      return;
    }
    evaluateGraph(m, m.inputs.map(() => null), (node) => {
      visit(node.outboundLayer, nodeInputShapes(node)[0], prefix);
      return node.outputTensors.map(() => null);
    });
  };
  walk(model, '');
  const ok = problems.length === 0;
  return { ok, problems, lipschitzLayers, message: ok ? '' : `model '${model.name}': ${describeProblems(problems)}` };
}

/**
 * Checks that no layer of `model` can break its Lipschitz bound, with the rules and wording of
 * `lip.sequential` (see the module comment), for a `tf.sequential`, a functional `tf.model` or
 * a model built by `lip.sequential`; nested models are walked (their layers are named
 * `'nested/layer'`).
 *
 * With `strict: true` (default) throws `LipschitzConfigError` naming every offending layer, its
 * class and the reason; with `strict: false` returns them without throwing or printing. A model
 * with no tfjs-lip layer is checked by the same rules (`lipschitzLayers` is then 0): an exported
 * model made of plain Dense layers fails them, since training it could break its bound.
 *
 * @returns `{ok, problems: [{layer, className, reason}], lipschitzLayers, message}`.
 */
export function checkModel(model: tfl.LayersModel, args: CheckModelArgs = {}): ModelCheckResult {
  checkModelArgument('checkModel', model, 'the rules apply to models: wrap the layer in tf.sequential, or see lip.lipschitzRisk(layer)');
  if (typeof args !== 'object' || args === null) configError('checkModel args', 'an object {strict?}', args);
  checkKnownKeys('lip.checkModel', args, CHECK_MODEL_OPTIONS);
  const strict = checkBoolean('strict', args.strict ?? true);
  const result = inspectModel(model, 'walk');
  if (strict && !result.ok) {
    throw new LipschitzConfigError(
      `lip.checkModel: ${result.message}. Replace each with a tfjs-lip layer, or pass strict: false to get ` +
        'the problems as a list (lip.lipschitzBound certifies the current weights either way).',
    );
  }
  return result;
}

/** Models already warned about (or told by `lip.sequential`): each is warned about once. */
const warned = new WeakSet<object>();

/**
 * Prints, once per model object, `<caller>: <checkModel's message>. ...` with `console.warn` when
 * `model` holds at least one tfjs-lip Lipschitz layer and fails `checkModel`: its bound is then
 * certified for the current weights only. Silent for a model without tfjs-lip layers (an export)
 * and for anything `checkModel` cannot walk (the caller reports that itself).
 */
export function warnIfUnchecked(model: unknown, caller: string): void {
  if (!isContainer(model) || warned.has(model)) return;
  let result: ModelCheckResult;
  try {
    result = inspectModel(model, 'walk');
  } catch {
    return;
  }
  if (result.ok || result.lipschitzLayers === 0) return;
  warned.add(model);
  console.warn(
    `${caller}: ${result.message}. The bound holds for the current weights only, and training can break it ` +
      '(lip.checkModel lists these layers; this warning is given once per model).',
  );
}

/** Records that the user was already told about `model`'s problems (by `lip.sequential` with `strict: false`). */
export function markModelWarned(model: object): void {
  warned.add(model);
}

installUncheckedModelWarner(warnIfUnchecked);
