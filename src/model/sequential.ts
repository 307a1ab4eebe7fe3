/**
 * `lip.sequential`: a tfjs Sequential whose Lipschitz layers share a global constant, after
 * DEEL-LIP's `deel.lip.model.Sequential` (each of the n Lipschitz layers gets kCoefLip^(1/n)),
 * with a strict check (the rules of `lip.checkModel`) that no other layer can break the bound.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { DEFAULT_K_COEF_LIP } from '../core/defaults';
import { configError, LipschitzConfigError } from '../core/errors';
import { isLipschitzLayer } from '../core/contracts';
import type { LipschitzLayer } from '../core/contracts';
import { givenKCoefLipOf } from '../core/normalization_args';
import { checkBoolean, checkKnownKeys, checkPositiveFinite, optionNames } from '../core/validation';
import { describeProblems, inspectModel, markModelWarned } from './check';
import { requireBackend } from '../backend/require_backend';

/** Arguments of `lip.sequential`. */
export interface LipschitzSequentialArgs {
  /** The layers, in order; the first one needs an `inputShape` (or `batchInputShape`). */
  layers: tfl.layers.Layer[];
  /** Lipschitz constant of the whole model, split evenly (geometrically) over its Lipschitz layers (default 1). */
  kCoefLip?: number;
  /**
   * `true` (default): a layer that can break the bound (plain Dense/Conv, BatchNormalization,
   * a non-1-Lipschitz activation, an unknown custom layer, ...) throws `LipschitzConfigError`;
   * `false`: it is reported with `console.warn` only.
   */
  strict?: boolean;
  /** Name of the model. */
  name?: string;
}

const SEQUENTIAL_OPTIONS = optionNames<LipschitzSequentialArgs>({ layers: true, kCoefLip: true, strict: true, name: true });

/** True when `a` equals `b` to 1e-12 relative. */
function sameShare(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-12 * Math.max(Math.abs(a), Math.abs(b));
}

/**
 * Throws when a Lipschitz layer was given an explicit `kCoefLip` other than its share, or was
 * already built with another one (its normalized weights were made for that constant).
 */
function checkShares(layers: Array<LipschitzLayer & tfl.layers.Layer>, share: number, kCoefLip: number): void {
  const conflicts: string[] = [];
  for (const layer of layers) {
    const given = givenKCoefLipOf(layer);
    if (given !== undefined && !sameShare(given, share)) {
      conflicts.push(`layer '${layer.name}' kCoefLip expected ${share}, but got ${given}`);
    }
  }
  if (conflicts.length > 0) {
    throw new LipschitzConfigError(
      `lip.sequential: ${conflicts.join('; ')}. The model gives each of its ${layers.length} Lipschitz layers ` +
        `kCoefLip^(1/${layers.length}) = ${share} (kCoefLip ${kCoefLip}): leave kCoefLip out of these layers ` +
        "(lip.sequential sets it), or change lip.sequential's kCoefLip.",
    );
  }
  for (const layer of layers) {
    if (layer.built && !sameShare(layer.kCoefLip, share)) {
      throw new LipschitzConfigError(
        `lip.sequential: layer '${layer.name}' is already built with kCoefLip ${layer.kCoefLip}; ` +
          `pass layers that were not used yet so they can get kCoefLip ${share}.`,
      );
    }
  }
}

/**
 * The Lipschitz layers that carry a share of `kCoefLip`, and those that cannot: below 1, a layer
 * with a `minimumBound` (`PReLULip`, bound `max(1, k)`) would still have bound 1, so it gets
 * `kCoefLip = minimumBound` and the others share the whole `kCoefLip`.
 */
function splitShares(
  layers: Array<LipschitzLayer & tfl.layers.Layer>,
  kCoefLip: number,
): { carriers: Array<LipschitzLayer & tfl.layers.Layer>; floored: Array<LipschitzLayer & tfl.layers.Layer> } {
  const floors = (layer: LipschitzLayer): boolean => layer.minimumBound !== undefined && kCoefLip < 1;
  return { carriers: layers.filter((l) => !floors(l)), floored: layers.filter(floors) };
}

/**
 * Builds a tfjs `Sequential` from `layers`, after setting `kCoefLip^(1/n)` on each of its n
 * tfjs-lip Lipschitz layers (before they are built), so that the model is kCoefLip-Lipschitz.
 * A layer given an explicit `kCoefLip` other than that share throws. Every layer is checked with
 * the rules of `lip.checkModel` (and a nested model is refused, since its layers get no share):
 * `LipschitzConfigError` (or, when `strict` is false, a `console.warn`) names every layer that
 * can break the bound and why.
 */
export function sequential(args: LipschitzSequentialArgs): tfl.Sequential {
  if (typeof args !== 'object' || args === null) {
    configError('sequential args', 'an object {layers, kCoefLip?, strict?, name?}', args);
  }
  checkKnownKeys('lip.sequential', args, SEQUENTIAL_OPTIONS);
  const kCoefLip = checkPositiveFinite('kCoefLip', args.kCoefLip ?? DEFAULT_K_COEF_LIP);
  const strict = checkBoolean('strict', args.strict ?? true);
  const layers = args.layers;
  if (!Array.isArray(layers) || layers.length === 0) configError('layers', 'a non-empty array of layers', layers);
  layers.forEach((layer, i) => {
    if (!(layer instanceof tfl.layers.Layer)) configError(`layers[${i}]`, 'a tfjs layer', layer);
  });

  const { carriers, floored } = splitShares(layers.filter(isLipschitzLayer), kCoefLip);
  if (carriers.length === 0 && kCoefLip !== 1) {
    configError('kCoefLip', '1 when no Lipschitz layer can carry it', kCoefLip);
  }
  const share = carriers.length === 0 ? 1 : Math.pow(kCoefLip, 1 / carriers.length);
  checkShares(carriers, share, kCoefLip);
  for (const layer of carriers) layer.kCoefLip = share;
  for (const layer of floored) {
    checkShares([layer], layer.minimumBound!, kCoefLip);
    layer.kCoefLip = layer.minimumBound!;
  }

  requireBackend('lip.sequential');
  const model = tfl.sequential({ layers, name: args.name });
  const { problems } = inspectModel(model, 'reject');
  if (problems.length > 0) {
    const message =
      `lip.sequential: ${describeProblems(problems)}. ` +
      (strict
        ? 'Replace it with a tfjs-lip layer, or pass strict: false to accept it (lip.lipschitzBound then reports the real bound).'
        : `The model may not be ${kCoefLip}-Lipschitz; lip.lipschitzBound reports the certified bound.`);
    if (strict) throw new LipschitzConfigError(message);
    console.warn(message);
    markModelWarned(model);
  }
  return model;
}
