/**
 * No orthogonalization: the spectrally normalized kernel as it is (largest singular value at most
 * 1, the others below), DEEL-LIP's `eps_bjorck=None`. The layer is then at most `kCoefLip`-
 * Lipschitz but does not preserve gradient norms.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Orthogonalizer, OrthogonalizeResult } from './types';

/** The identity orthogonalizer (`orthogonalizer: 'none'`, or `epsBjorck: null`). */
export class NoOrthogonalizer implements Orthogonalizer {
  readonly name = 'none';
  readonly orthonormal = false;

  stateWeight(): null {
    return null;
  }

  orthogonalize(w: tf.Tensor2D): OrthogonalizeResult {
    return { wBar: tf.clone(w), state: null, iterations: 0 };
  }

  config(): Record<string, number | null> {
    return { epsBjorck: null };
  }
}
