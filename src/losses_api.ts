/**
 * `lip.losses`: the losses of `src/losses/` and Local-Lip's certified training loss, which lives
 * with the local bounds it is built from (`src/local/`, a folder above `losses/`).
 */
export * from './losses';
export { localLipschitzCertified } from './local/certified_loss';
export type { LocalCertifiedLossArgs, LocalCertifiedLoss, CertifiedLossContext } from './local/certified_loss';
