/**
 * `lip.tasks`: benchmark tasks with known answers, to measure what an architecture can express.
 * `wasserstein`: Wasserstein-1 estimation between distributions with a closed-form distance.
 */
export * as wasserstein from './wasserstein';
