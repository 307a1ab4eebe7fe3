/**
 * Names a config may use, resolved against the library's own barrels at run time: a layer
 * (`lip.layers`, `lip.activations`, then `tf.layers`), a loss (`lip.losses`), a penalty
 * (`lip.penalties`), an attack (`lip.attacks`), a Wasserstein pair (`lip.tasks.wasserstein`). A
 * name the installed library does not provide fails with `LipschitzConfigError` naming the field,
 * the value and the missing piece, so that a config written for a later version says what it needs.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { LipschitzConfigError, describeValue } from '../core/errors';
import * as activations from '../activations';
import * as attacks from '../attacks';
import * as layers from '../layers';
import * as losses from '../losses';
import { localLipschitzCertified } from '../local/certified_loss';
import * as penalties from '../penalties';
import * as wasserstein from '../tasks/wasserstein';

type Factory = (args: Record<string, unknown>) => unknown;

function functionsOf(module: object): Map<string, Factory> {
  const out = new Map<string, Factory>();
  for (const [key, value] of Object.entries(module)) {
    if (typeof value === 'function' && /^[a-z]/.test(key)) out.set(key, value as Factory);
  }
  return out;
}

/** `softmaxCrossEntropy`: per-sample softmax cross-entropy on logits (tf.losses, no reduction). */
function softmaxCrossEntropy(): (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor {
  return (yTrue, yPred) => tf.losses.softmaxCrossEntropy(yTrue, yPred, undefined, undefined, tf.Reduction.NONE);
}

/** The pieces of one kind: where they come from (for messages) and their factories. */
interface Kind {
  where: string;
  factories: () => Map<string, Factory>;
}

const KINDS = {
  layer: {
    where: 'lip.layers, lip.activations or tf.layers',
    factories: () => new Map([...functionsOf(tfl.layers), ...functionsOf(activations), ...functionsOf(layers)]),
  },
  loss: {
    where: 'lip.losses (or softmaxCrossEntropy, categoricalCrossentropy)',
    factories: () =>
      new Map<string, Factory>([
        ...[...functionsOf(losses)].filter(([name]) => name !== 'makeLoss'),
        ['softmaxCrossEntropy', softmaxCrossEntropy as Factory],
        ['categoricalCrossentropy', (() => 'categoricalCrossentropy') as Factory],
      ]),
  },
  certifiedLoss: {
    where: 'lip.losses (a certified training loss)',
    factories: () => new Map<string, Factory>([['localLipschitzCertified', localLipschitzCertified as unknown as Factory]]),
  },
  penalty: { where: 'lip.penalties', factories: () => functionsOf(penalties) },
  attack: {
    where: 'lip.attacks',
    factories: () => {
      const out = functionsOf(attacks);
      out.delete('robustAccuracy');
      return out;
    },
  },
  pair: {
    where: 'lip.tasks.wasserstein',
    factories: () => {
      const out = functionsOf(wasserstein);
      out.delete('trainDual');
      return out;
    },
  },
} satisfies Record<string, Kind>;
export type PieceKind = keyof typeof KINDS;

/** Factories that take a `seed` option: the run's seed is passed to them unless the config sets one. */
const SEEDED = new Set(['pgd', 'gaussianNoise', 'clip', 'jacobianSpectral', 'localLipschitzCertified']);

/** `args` with the run's seed added when the factory `name` takes one and the config gave none. */
export function withSeed(name: string, args: Record<string, unknown>, seed: number): Record<string, unknown> {
  return SEEDED.has(name) && args.seed === undefined ? { ...args, seed } : args;
}

/** Names available for a kind (`tfjs-lip list` prints them). */
export function availableNames(kind: PieceKind): string[] {
  return [...KINDS[kind].factories().keys()].sort();
}

/**
 * Calls the factory `name` of `kind` with `args`. `field` is the config path shown in errors
 * (`training.penalties[0].name`). Errors thrown by the factory keep their message, prefixed with
 * the field.
 */
export function build<T>(kind: PieceKind, field: string, name: string, args: Record<string, unknown>): T {
  const factory = KINDS[kind].factories().get(name);
  if (factory === undefined) {
    throw new LipschitzConfigError(
      `${field} expected a name from ${KINDS[kind].where}, but got ${describeValue(name)}: this version of tfjs-lip does not provide ` +
        `'${name}' (missing piece: ${KINDS[kind].where.split(' ')[0]}.${name}). Available: ${availableNames(kind).join(', ')}.`,
    );
  }
  try {
    return factory(args) as T;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new LipschitzConfigError(`${field} '${name}' with args ${describeValue(args)}: ${message}`);
  }
}
