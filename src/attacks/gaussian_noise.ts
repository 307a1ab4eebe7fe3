/**
 * `lip.attacks.gaussianNoise`: the random baseline, x_adv = clip(x + stddev * z), z ~ N(0, I)
 * (CLIP's `gauss_attack(nl)`). It ignores the model and the labels, which are still checked so
 * that it can replace a gradient attack anywhere.
 *
 * References: Bungert, Raab, Roith, Schwinn, Tenbrinck, CLIP: Cheap Lipschitz Training of Neural
 * Networks (SSVM 2021), https://github.com/TimRoith/CLIP (`adversarial_attacks.py`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { configError } from '../core/errors';
import { checkKnownKeys, checkPositiveFinite, optionNames } from '../core/validation';
import { checkBatch, clampToBox, makeAttack, resolveClip, resolveSeed, seedCounter, targetFunction } from './common';
import type { Attack } from './types';

/** Options of `gaussianNoise`. */
export interface GaussianNoiseArgs {
  /** Standard deviation of the noise (CLIP's `nl`). Default 1. */
  stddev?: number;
  /** Box [low, high] the result is clamped to, or null for none. Default [0, 1]. */
  clip?: [number, number] | null;
  /** Seed: two attacks made with the same seed return the same sequence of noises. Default none. */
  seed?: number;
}

const GAUSSIAN_NOISE_OPTIONS = optionNames<GaussianNoiseArgs>({ stddev: true, clip: true, seed: true });

/**
 * Gaussian noise "attack": `x + stddev * z`, z standard normal (per coordinate, independent),
 * then clamped to the box `clip` (see docs/attacks.md; x itself is never moved by the clamp).
 * Cost: no forward or backward pass.
 *
 * References: CLIP (Bungert et al., SSVM 2021), `gauss_attack`.
 */
export function gaussianNoise(args: GaussianNoiseArgs = {}): Attack {
  checkKnownKeys('gaussianNoise', args, GAUSSIAN_NOISE_OPTIONS);
  const stddev = checkPositiveFinite('gaussianNoise stddev', args.stddev ?? 1);
  const clip = resolveClip('gaussianNoise', args.clip);
  const seed = resolveSeed('gaussianNoise', args.seed);
  const nextSeed = seedCounter(seed);
  return makeAttack('gaussianNoise', { stddev, clip, seed: seed ?? null }, (model, x, labels) => {
    targetFunction('gaussianNoise', model);
    const batch = checkBatch('gaussianNoise', 'x', x);
    if (!(labels instanceof tf.Tensor) || labels.rank > 2 || labels.shape[0] !== batch.shape[0]) {
      configError('gaussianNoise labels', `one label per sample ([${batch.shape[0]}] or [${batch.shape[0]}, classes])`, labels);
    }
    return tf.tidy(() => clampToBox(tf.add(batch, tf.randomNormal(batch.shape, 0, stddev, 'float32', nextSeed())), batch, clip));
  });
}

