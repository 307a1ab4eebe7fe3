/**
 * Local Lipschitz bounds (`lip.local`, Local-Lip, seed 003): per-sample bounds of every layer
 * output over an L2 ball around each input (`intervalBounds`), the per-sample local Lipschitz
 * bound over the units that can change state (`lipschitzBound`), and the local certification
 * built on them (`worstCaseLogits`, `certify`, `certifiedAccuracy`, `certifiedRadius`).
 */
export { intervalBounds, disposeBounds } from './interval_bounds';
export type { IntervalBoundsOptions, LayerBounds, Box } from './interval_bounds';
export { MONOTONE_ACTIVATIONS } from './rules';
export { worstCaseLogits, certify, certifiedAccuracy, certifiedRadius } from './certify';
export type { LocalCertifyArgs, CertifiedRadiusArgs, WorstCaseArgs, HeadRadius } from './certify';
export { lipschitzBound, disposeWarmStart, DEFAULT_LOCAL_ITERATIONS } from './local_bound';
export { MAX_CERTIFIED_SIZE, MAX_MATRIX_ENTRIES } from './masked_operator';
export type { LocalLipschitzOptions, LocalLipschitzBound, LocalPieceBound, LocalWarmStart } from './local_bound';
