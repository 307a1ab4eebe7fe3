/**
 * Björck orthonormalization as an orthogonalizer (`orthogonalizer: 'bjorck'`, the default):
 * warm-started from the factor saved with the layer (`bjorck` weight), finished by a polynomial
 * step, with a fused training product for tall dense kernels. See bjorck.ts for the method.
 */
import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_BETA_BJORCK, DEFAULT_BJORCK_ORDER, DEFAULT_EPS_BJORCK, DEFAULT_MAX_ITER_BJORCK } from '../../../core/defaults';
import { checkInLeftOpenRange, checkPositiveFinite, checkPositiveInt } from '../../../core/validation';
import type { FusedProduct, Orthogonalizer, OrthogonalizeResult } from '../types';
import { bjorckOrthogonalize } from './bjorck';
import { orthogonalMatMul, orthogonalMatMulPays } from './fused_matmul';
import { bjorckIterate } from './iterate';
import { checkBjorckOrder } from './orders';
import { nextProbeSeed } from './residuals';

/** Settings of the Björck orthogonalizer, in DEEL-LIP's names. */
export interface BjorckSettings {
  /** Stop once an iteration changes the matrix by less than this (Frobenius; default 1e-3). */
  epsBjorck?: number;
  /** Step size in (0, 0.5] (default 0.5). */
  betaBjorck?: number;
  /** Maximum number of iterations (default 15). */
  maxIterBjorck?: number;
  /**
   * Taylor order of the update, 1 to 4 (LNets' `bjorck_order`; default 1, DEEL-LIP's
   * `(1 + beta) W - beta W WᵀW`); orders above 1 need `betaBjorck` 0.5 (orders.ts).
   */
  bjorckOrder?: number;
}

/** Extra Björck steps of `condense` (beta 0.5, from an already orthonormal kernel). */
const REFINE_STEPS = 2;

export class BjorckOrthogonalizer implements Orthogonalizer {
  readonly name = 'bjorck';
  readonly orthonormal = true;
  readonly epsBjorck: number;
  readonly betaBjorck: number;
  readonly maxIterBjorck: number;
  readonly bjorckOrder: number;
  readonly fusedProduct: FusedProduct;
  /** The probe seed of the last call: each call draws new probe vectors, deterministically. */
  private seed = 1;

  constructor(settings: BjorckSettings = {}) {
    this.epsBjorck = checkPositiveFinite('epsBjorck', settings.epsBjorck ?? DEFAULT_EPS_BJORCK);
    this.betaBjorck = checkInLeftOpenRange('betaBjorck', settings.betaBjorck ?? DEFAULT_BETA_BJORCK, 0, 0.5);
    this.maxIterBjorck = checkPositiveInt('maxIterBjorck', settings.maxIterBjorck ?? DEFAULT_MAX_ITER_BJORCK);
    this.bjorckOrder = checkBjorckOrder(settings.bjorckOrder ?? DEFAULT_BJORCK_ORDER, this.betaBjorck);
    this.fusedProduct = {
      pays: orthogonalMatMulPays,
      apply: (x, kernel, u, kCoefLip, spectral, state) => {
        const res = orthogonalMatMul(x, kernel, u, kCoefLip, { ...spectral, ...this.config(), bjorckState: state, seed: this.nextSeed() });
        return { y: res.y, kernel: res.kernel, factor: res.factor, u: res.u, sigma: res.sigma, state: res.bjorckState };
      },
    };
  }

  private nextSeed(): number {
    this.seed = nextProbeSeed(this.seed);
    return this.seed;
  }

  stateWeight(rows: number, cols: number): { name: string; shape: [number, number] } {
    const k = Math.min(rows, cols);
    return { name: 'bjorck', shape: [k, k] };
  }

  orthogonalize(w: tf.Tensor2D, state: tf.Tensor2D | null): OrthogonalizeResult {
    const res = bjorckOrthogonalize(w, state, { ...this.config(), seed: this.nextSeed() });
    return { wBar: res.wBar, state: res.p, iterations: res.iterations };
  }

  refine(w: tf.Tensor2D): tf.Tensor2D {
    const res = bjorckIterate(w, null, 1e-12, 0.5, REFINE_STEPS, REFINE_STEPS, this.nextSeed());
    tf.dispose([res.p, res.state]);
    return res.z;
  }

  config(): { epsBjorck: number; betaBjorck: number; maxIterBjorck: number; bjorckOrder: number } {
    return { epsBjorck: this.epsBjorck, betaBjorck: this.betaBjorck, maxIterBjorck: this.maxIterBjorck, bjorckOrder: this.bjorckOrder };
  }
}
