/**
 * Empirical and exact Lipschitz evaluation (`lip.evaluateLipConst`, `lip.computeLayerSV`,
 * `lip.computeModelSV`; DEEL-LIP's `evaluate_lip_const` and deel/lip/compute_layer_sv.py).
 */
export { evaluateLipConst } from './lip_const';
export type { EvaluateLipConstArgs, LipConstEstimate, Differentiable } from './lip_const';
export { computeLayerSV, computeModelSV } from './layer_sv';
export type { ComputeLayerSVArgs, LayerSV } from './layer_sv';
