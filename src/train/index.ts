/**
 * `lip.train`: a training loop with `model.fit`'s contract plus penalties, adversarial batches,
 * constraints after every step and step schedules (issue 12).
 */
export { fit } from './fit';
export type { StepLogs, TrainFitArgs } from './args';
export type { AdversarialTraining, Penalty, PenaltyContext, PenaltyStepContext, PerSampleLoss } from './types';
