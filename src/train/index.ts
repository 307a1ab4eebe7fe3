/**
 * `lip.train`: a training loop with `model.fit`'s contract plus penalties, adversarial batches,
 * constraints after every step and step schedules (issue 12); LNets' orthonormal fine-tuning
 * (issue 15).
 */
export { fit } from './fit';
export { orthonormalFinetune } from './orthonormal_finetune';
export type { OrthonormalFinetuneArgs } from './orthonormal_finetune';
export type { StepLogs, TrainFitArgs } from './args';
export type { AdversarialTraining, Penalty, PenaltyContext, PenaltyStepContext, PerSampleLoss, TrainingLoss } from './types';
