/**
 * The contracts of `lip.train.fit`: penalties (`lip.penalties.*`) and the adversarial option.
 */
import type { Attack } from '../attacks/types';

/**
 * The penalty contract has one definition, in `penalties/types.ts` (the penalties sit below the
 * loop and cannot import it); the loop names it as follows.
 */
export type {
  PenaltyLoss as PerSampleLoss,
  PenaltyCallContext as PenaltyContext,
  PenaltyBatchEndContext as PenaltyStepContext,
  PenaltyFunction as Penalty,
  TrainingLossFunction as TrainingLoss,
} from '../penalties/types';

/** The `adversarial` option of `lip.train.fit`. */
export interface AdversarialTraining {
  /** Made by `lip.attacks.*` (Tulip's J1 = fgsm linf, J2 = fgsm l2, Jinf = fgsm l1, PGDinf = pgd linf). */
  attack: Attack;
  /**
   * Loss = (1 - weight) L(x) + weight L(xAdv): 1 (default) replaces the batch, 0.5 is the usual
   * half-and-half mix.
   */
  weight?: number;
}
