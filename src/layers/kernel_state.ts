/**
 * Reusable W-bar logic for the normalized-kernel layers (SpectralDense, FrobeniusDense, the
 * spectral convolutions).
 *
 * A layer owning a raw trainable `kernel` keeps, as non-trainable weights (so they are saved and
 * loaded): `wBar` (the normalized kernel used in inference), and for spectral normalization `u`
 * (power-iteration vector, `[1, lastDim]`), `sigma` (`[1, 1]`) and `bjorck` (Björck warm start,
 * `[k, k]` with `k = min(size / lastDim, lastDim)`).
 *
 * How a layer uses it:
 *
 * ```ts
 * build(inputShape) {
 *   this.kernel = this.addWeight('kernel', shape, 'float32', init, reg, true);
 *   const vars = addSpectralStateWeights((...a) => this.addWeight(...a), shape, useBjorck);
 *   this.kernelState = new KernelState(this.kernel, vars, (kernel, state) =>
 *     reshapedKernelOrthogonalization(kernel, state.u, this.kCoefLip * coef, {...opts,
 *       bjorckState: state.bjorckState}));
 *   this.kernelState.refresh();            // wBar valid right after build
 * }
 * call(x, kwargs) {
 *   const w = this.kernelState.normalizedKernel(kwargs.training === true);
 *   ...  // use w
 * }
 * condense() { this.kernelState.condense(); }
 * ```
 *
 * `normalizedKernel(true)` (training) recomputes W-bar on the gradient tape and writes `u`,
 * `sigma`, `bjorck` and `wBar`; `normalizedKernel(false)` returns the cached `wBar` at no cost.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { certifiedSpectralNorm } from '../linalg/spectral_norm';
import { bjorckIterate } from '../normalizers/bjorck';
import { untaped } from '../normalizers/power_iteration';

/** A tfjs-layers weight. */
export type LayerVariable = tfl.LayerVariable;

/** The state weights next to the kernel. */
export interface KernelStateVariables {
  /** Normalized kernel used in inference (kernel's shape). */
  wBar: LayerVariable;
  /** Power-iteration vector `[1, lastDim]` (spectral normalization only). */
  u?: LayerVariable | null;
  /** Largest singular value `[1, 1]` (spectral normalization only). */
  sigma?: LayerVariable | null;
  /** Björck warm start `[k, k]` (Björck only). */
  bjorck?: LayerVariable | null;
}

/** What the normalization function receives: the current state (detached) . */
export interface KernelNormalizerState {
  u: tf.Tensor | null;
  bjorckState: tf.Tensor2D | null;
}

/** What the normalization function returns (the `wBar` differentiable with respect to `kernel`). */
export interface KernelNormalizerResult {
  wBar: tf.Tensor;
  u?: tf.Tensor | null;
  sigma?: tf.Tensor | null;
  bjorckState?: tf.Tensor2D | null;
}

/** A kernel normalization (e.g. a closure over `reshapedKernelOrthogonalization`). */
export type KernelNormalizer = (kernel: tf.Tensor, state: KernelNormalizerState) => KernelNormalizerResult;

/** The signature of `Layer.addWeight` (pass `(...a) => this.addWeight(...a)` from the layer). */
export type AddWeight = (
  name: string,
  shape: number[],
  dtype?: tf.DataType,
  initializer?: ReturnType<typeof tfl.initializers.zeros>,
  regularizer?: ReturnType<typeof tfl.regularizers.l2>,
  trainable?: boolean,
) => LayerVariable;

/**
 * Adds the non-trainable state weights of a spectrally normalized kernel of shape `kernelShape`:
 * `u` (`[1, lastDim]`, random normal as DEEL-LIP), `sigma` (`[1, 1]`, ones), `wBar` (kernel's
 * shape), and `bjorck` (`[k, k]`, zeros = no warm start) when `useBjorck`.
 */
export function addSpectralStateWeights(addWeight: AddWeight, kernelShape: number[], useBjorck: boolean): KernelStateVariables {
  const lastDim = kernelShape[kernelShape.length - 1]!;
  const rows = kernelShape.reduce((p, d) => p * d, 1) / lastDim;
  const k = Math.min(rows, lastDim);
  const u = addWeight('u', [1, lastDim], 'float32', tfl.initializers.randomNormal({ mean: 0, stddev: 1 }), undefined, false);
  const sigma = addWeight('sigma', [1, 1], 'float32', tfl.initializers.ones(), undefined, false);
  const wBar = addWeight('w_bar', kernelShape, 'float32', tfl.initializers.zeros(), undefined, false);
  const bjorck = useBjorck ? addWeight('bjorck', [k, k], 'float32', tfl.initializers.zeros(), undefined, false) : null;
  return { u, sigma, wBar, bjorck };
}

/** Adds only the `wBar` weight (normalizations without state, e.g. Frobenius). */
export function addWBarWeight(addWeight: AddWeight, kernelShape: number[]): KernelStateVariables {
  return { wBar: addWeight('w_bar', kernelShape, 'float32', tfl.initializers.zeros(), undefined, false) };
}

/** A W-bar known as a product `kernel factor` that has not been formed yet. */
interface DeferredWBar {
  kernel: tf.Tensor2D;
  factor: tf.Tensor2D;
}

/** Training/inference W-bar of one kernel; see the module comment. */
export class KernelState {
  private deferred: DeferredWBar | null = null;
  private readonly writeWBar: (value: tf.Tensor) => void;

  constructor(
    readonly kernel: LayerVariable,
    readonly vars: KernelStateVariables,
    private readonly normalize: KernelNormalizer,
  ) {
    // A deferred W-bar (see `deferWBar`) is formed on the first read of the weight, whoever reads
    // it (inference, getWeights, save, export, condense); any other write of the weight (setWeights,
    // loadWeights) replaces it.
    const wBar = vars.wBar;
    const read = wBar.read.bind(wBar);
    const write = wBar.write.bind(wBar);
    this.writeWBar = write;
    wBar.read = () => {
      this.formDeferred();
      return read();
    };
    wBar.write = (value: tf.Tensor) => {
      this.dropDeferred();
      return write(value);
    };
  }

  /**
   * Records that W-bar is `kernel factor` (2-D, the kernel as used in the training step that
   * produced the factor) without forming the product: training steps that never read W-bar pay
   * nothing for it. Takes ownership of both tensors. Also writes the state weights of `state`.
   */
  deferWBar(kernel: tf.Tensor2D, factor: tf.Tensor2D, state: Omit<KernelNormalizerResult, 'wBar'>): void {
    this.storeState(state);
    this.dropDeferred();
    this.deferred = { kernel: tf.keep(kernel), factor: tf.keep(factor) };
  }

  private formDeferred(): void {
    const d = this.deferred;
    if (d == null) return;
    this.deferred = null;
    const [product] = untaped(() => [tf.reshape(tf.matMul(d.kernel, d.factor), this.kernel.shape as number[])]);
    this.writeWBar(product);
    tf.dispose([product, d.kernel, d.factor]);
  }

  private dropDeferred(): void {
    if (this.deferred == null) return;
    tf.dispose([this.deferred.kernel, this.deferred.factor]);
    this.deferred = null;
  }

  /** Releases what the state holds outside its weights (call when the layer is disposed). */
  release(): void {
    this.dropDeferred();
  }

  /** The current power-iteration vector and Björck warm start (detached reads of the weights). */
  state(): KernelNormalizerState {
    return {
      u: this.vars.u?.read() ?? null,
      bjorckState: (this.vars.bjorck?.read() as tf.Tensor2D | undefined) ?? null,
    };
  }

  private storeState(res: Omit<KernelNormalizerResult, 'wBar'>): void {
    if (this.vars.u != null && res.u != null) this.vars.u.write(res.u);
    if (this.vars.sigma != null && res.sigma != null) this.vars.sigma.write(tf.reshape(res.sigma, [1, 1]));
    if (this.vars.bjorck != null && res.bjorckState != null) this.vars.bjorck.write(res.bjorckState);
  }

  private store(res: KernelNormalizerResult): void {
    this.storeState(res);
    this.vars.wBar.write(res.wBar);
  }

  /**
   * The normalized kernel. `training`: recomputed from the kernel on the gradient tape (the
   * gradient flows to the kernel), state weights updated. Otherwise: the cached `wBar` weight.
   */
  normalizedKernel(training: boolean): tf.Tensor {
    if (!training) return this.vars.wBar.read();
    const res = this.normalize(this.kernel.read(), this.state());
    this.store(res);
    tf.dispose([res.u ?? [], res.sigma ?? [], res.bjorckState ?? []] as tf.Tensor[]);
    return res.wBar;
  }

  /** Recomputes `wBar` and the state from the kernel (no gradient). Call after build or after setting the kernel. */
  refresh(): void {
    tf.tidy(() => {
      this.normalizedKernel(true);
    });
  }

  /**
   * Writes the normalized kernel into the kernel (DEEL-LIP's `condense`), then refreshes the state
   * so that `wBar` is the normalization of the new kernel. With `orthogonalRefineSteps > 0` and a
   * kernel orthonormalized by Björck, that many extra Björck steps (beta 0.5) are applied to the
   * result first, bringing every singular value to `scale` within float32 rounding.
   */
  condense(orthogonalRefineSteps = 0, scale = 1): void {
    this.refreshToConvergedSigma();
    tf.tidy(() => {
      let w = this.vars.wBar.read() as tf.Tensor;
      if (orthogonalRefineSteps > 0) {
        const shape = w.shape;
        const lastDim = shape[shape.length - 1]!;
        const w2d = tf.reshape(tf.div(w, scale), [-1, lastDim]) as tf.Tensor2D;
        const res = bjorckIterate(w2d, null, 1e-12, 0.5, orthogonalRefineSteps, orthogonalRefineSteps);
        w = tf.reshape(tf.mul(res.z, scale), shape);
      }
      this.kernel.write(w);
    });
    this.refreshToConvergedSigma();
  }

  /**
   * `refresh()` repeated, each pass continuing the power iteration from the `u` the last one
   * stored, until sigma moves by less than 1e-6 relative (about 8 float32 ulps) between two
   * passes (at most `maxRefreshes` passes). One pass stops on DEEL-LIP's test `||u_k - u_{k-1}|| < epsSpectral`,
   * which a kernel whose largest singular values are close meets long before sigma is reached
   * (sigma low by 0.6% on a 10x300 Gaussian kernel): W-bar would then exceed `kCoefLip`. Each pass
   * moves sigma by a fixed fraction of its remaining error, so the relative test bounds that
   * error by a few times 1e-6. Only spectral normalization alone needs it: Björck's result does not
   * depend on the scale sigma sets (any sigma above 1/sqrt(3) of the true one converges to the
   * same polar factor), so with a Björck state, or without a sigma weight (Frobenius), this is one
   * `refresh()`.
   */
  private refreshToConvergedSigma(maxRefreshes = 200): void {
    const sigmaVar = this.vars.sigma;
    this.refresh();
    if (sigmaVar == null || this.vars.bjorck != null) return;
    let previous = sigmaVar.read().dataSync()[0]!;
    for (let pass = 1; pass < maxRefreshes; pass++) {
      this.refresh();
      const sigma = sigmaVar.read().dataSync()[0]!;
      const converged = Math.abs(sigma - previous) <= 1e-6 * Math.abs(sigma);
      previous = sigma;
      if (converged) return;
    }
  }

  /**
   * Certified upper bound (float64, see `certifiedSpectralNorm`) of the spectral norm of the
   * cached `wBar` reshaped to `[-1, lastDim]`: the matrix the layer applies in inference (dense),
   * or to each patch (convolutions, before the patch-coverage factor); `perm` first transposes
   * W-bar (the transposed convolution's matrix is `[kh*kw*cin, filters]`). Unlike the nominal
   * `kCoefLip`, it also covers what the finite iterations and float32 leave over.
   */
  certifiedWBarNorm(perm?: number[]): number {
    const w = perm === undefined ? this.vars.wBar.read() : tf.transpose(this.vars.wBar.read(), perm);
    const lastDim = w.shape[w.shape.length - 1] ?? 1;
    const values = w.dataSync();
    if (perm !== undefined) w.dispose();
    return certifiedSpectralNorm(values, w.size / lastDim, lastDim);
  }
}
