/**
 * Training callbacks (`lip.callbacks.*`, DEEL-LIP's deel/lip/callbacks.py), tfjs `Callback`
 * subclasses for `model.fit({callbacks: [...]})`, one file each:
 *
 * - `applyConstraints`: applies every weight constraint of the model (`kernelConstraint`, ...)
 *   after each batch, which tfjs-layers never does inside `fit` (apply_constraints.ts);
 * - `condenseCallback`: calls `condense()` on every Condensable layer (kernel <- W-bar) after each
 *   epoch and/or batch, keeping the unconstrained kernel from drifting (condense.ts);
 * - `monitorCallback`: records the smallest and largest singular values of each monitored layer's
 *   normalized kernel W-bar (or raw kernel), reshaped to [-1, units], in float64 (monitor.ts);
 * - `lossParamScheduler`: changes a parameter of the loss (alpha, tau, minMargin, ...) by epoch
 *   or by step (loss_param_scheduler.ts);
 * - `terminateOnNaN`: stops training at the first NaN/infinite batch loss and makes `fit` reject
 *   with an error naming the epoch and the batch (terminate_on_nan.ts);
 * - `perEpochProjection`: LNets' per-epoch projection (`lip.constraints.projection`) of every
 *   built-in layer's kernel every n epochs (per_epoch_projection.ts).
 */
export { applyConstraints, ApplyConstraints } from './apply_constraints';
export { condenseCallback, CondenseCallback } from './condense';
export type { CondenseCallbackArgs } from './condense';
export { monitorCallback, MonitorCallback } from './monitor';
export type { MonitorCallbackArgs, MonitorTarget, SingularValueRecord } from './monitor';
export { lossParamScheduler, LossParamScheduler, setLossParam, getLossParam } from './loss_param_scheduler';
export type { LossParamSchedulerArgs, EpochSchedule, TunableLoss } from './loss_param_scheduler';
export { terminateOnNaN, TerminateOnNaN, NonFiniteLossError } from './terminate_on_nan';
export type { TerminateOnNaNArgs } from './terminate_on_nan';
export { perEpochProjection, PerEpochProjection } from './per_epoch_projection';
export type { PerEpochProjectionArgs } from './per_epoch_projection';
