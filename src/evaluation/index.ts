/**
 * Empirical and exact Lipschitz evaluation (`lip.evaluation.*`; `evaluateLipConst`,
 * `computeLayerSV` and `computeModelSV` are also top-level, as DEEL-LIP's `evaluate_lip_const`
 * and deel/lip/compute_layer_sv.py), and Tulip's robustness summary of a classifier
 * (`lip.evaluation.summary`).
 */
export { evaluateLipConst } from './lip_const';
export type { EvaluateLipConstArgs, LipConstEstimate, Differentiable } from './lip_const';
export { computeLayerSV, computeModelSV } from './layer_sv';
export type { ComputeLayerSVArgs, LayerSV } from './layer_sv';
export { summary } from './summary';
export type { SummaryArgs, EvaluationSummary } from './summary';
