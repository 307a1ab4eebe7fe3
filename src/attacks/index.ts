/**
 * Attacks (`lip.attacks.*`): adversarial perturbations of a batch for evaluation and adversarial
 * training, and robust accuracy (issue 12). Formulas, options, defaults and costs: docs/attacks.md.
 */
export type { Attack, AttackTarget } from './types';
export type { AttackLoss, AttackNorm } from './common';
export { gaussianNoise } from './gaussian_noise';
export type { GaussianNoiseArgs } from './gaussian_noise';
export { fgsm } from './fgsm';
export type { FgsmArgs } from './fgsm';
export { pgd } from './pgd';
export type { PgdArgs } from './pgd';
export { robustAccuracy } from './robust_accuracy';
export type { RobustAccuracyArgs } from './robust_accuracy';
export { nearestNeighbourDistance } from './nearest_neighbour';
export type { NearestNeighbourArgs } from './nearest_neighbour';
