/**
 * Reusable W-bar logic for the normalized-kernel layers (SpectralDense, FrobeniusDense, the
 * spectral convolutions).
 *
 * A layer owning a raw trainable `kernel` keeps, as non-trainable weights (so they are saved and
 * loaded): `wBar` (the normalized kernel used in inference), and for spectral normalization `u`
 * (power-iteration vector, `[1, lastDim]`), `sigma` (`[1, 1]`) and the orthogonalizer's warm start
 * (`bjorck`, `[k, k]` with `k = min(size / lastDim, lastDim)`, for Björck).
 *
 * The layers create it at build (`kernel_layer.ts`): their normalization (`kernel_normalization.ts`)
 * adds the state weights and computes W-bar from the kernel; the kernel state caches it.
 *
 * `normalizedKernel(true)` (training) recomputes W-bar on the gradient tape and writes `u`,
 * `sigma` and the orthogonalizer's state; `normalizedKernel(false)` returns the cached `wBar`.
 * The cache always belongs to the kernel as it is now: it records which kernel tensor it was
 * computed from (the variable's `dataId`, which every optimizer update and every write replaces).
 * A training call on an unchanged kernel leaves it alone (so a stray `training: true` call after
 * `fit` changes no prediction), and the first inference read after the optimizer moved the kernel
 * recomputes it from the current kernel and state (once per training phase; the steps themselves
 * pay nothing). A write of the kernel or of `wBar` (`setWeights`, loading) is trusted as
 * belonging together, as before.
 *
 * When the normalization does not make W-bar orthonormal (`scaleVerified: true`: spectral
 * normalization alone), its scale rests on the power iteration's sigma, which a few iterations per
 * step underestimate: the first read of W-bar after training checks the certified norm of W-bar
 * against `targetNorm()` and scales W-bar down onto it when it is above (one float64 check per
 * training phase), so that the layer keeps its promised bound.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { certifiedSpectralNorm } from '../linalg/spectral_norm';
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
  /** The orthogonalizer's warm start (`bjorck`, `[k, k]` for Björck), or none. */
  bjorck?: LayerVariable | null;
}

/** How a kernel state finishes and checks W-bar (given by the layer). */
export interface KernelStateOptions {
  /**
   * Applied to W-bar by `condense` (off the tape): e.g. a few more orthogonalizer steps that bring
   * every singular value onto the target within float32 rounding. Identity when absent.
   */
  refine?: (wBar: tf.Tensor) => tf.Tensor;
  /**
   * True when W-bar's scale rests on sigma alone (no orthonormalization): `condense` then runs the
   * power iteration to convergence, and the first read after training verifies the certified
   * norm against `targetNorm` (see the module comment).
   */
  scaleVerified?: boolean;
  /** The norm W-bar (reshaped, permuted by `perm`) must not exceed: `kCoefLip` times the corrective coefficient. */
  targetNorm?: () => number;
  /** Axis order making W-bar's `[-1, lastDim]` reshape the normalized matrix (none: as stored). */
  perm?: number[];
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

/** A W-bar known as a product `kernel factor` that has not been formed yet. */
interface DeferredWBar {
  kernel: tf.Tensor2D;
  factor: tf.Tensor2D;
}

/** Training/inference W-bar of one kernel; see the module comment. */
export class KernelState {
  private deferred: DeferredWBar | null = null;
  private readonly writeWBar: (value: tf.Tensor) => void;

  /** The kernel tensor (its `dataId`) whose W-bar `wBar` holds, or will hold once `deferred` is formed. */
  private cachedFor: object | null = null;

  /** W-bar was written by a training step and its scale not verified yet (`scaleVerified` only). */
  private unverified = false;
  private readonly readWBar: () => tf.Tensor;

  constructor(
    readonly kernel: LayerVariable,
    readonly vars: KernelStateVariables,
    private readonly normalize: KernelNormalizer,
    private readonly options: KernelStateOptions = {},
  ) {
    // A deferred W-bar (see `deferWBar`) is formed on the first read of the weight, whoever reads
    // it (inference, getWeights, save, export, condense); any other write of the weight (setWeights,
    // loadWeights) replaces it.
    const wBar = vars.wBar;
    const read = wBar.read.bind(wBar);
    const write = wBar.write.bind(wBar);
    this.writeWBar = write;
    this.readWBar = read;
    wBar.read = () => {
      this.syncToKernel();
      this.formDeferred();
      this.verifyScale();
      return read();
    };
    wBar.write = (value: tf.Tensor) => {
      this.dropDeferred();
      this.unverified = false;
      const written = write(value);
      this.cachedFor = this.kernelId();
      return written;
    };
    // An explicit write of the kernel (setWeights, loading, condense) keeps W-bar as its partner,
    // as it always did; only the optimizer's updates (which bypass `write`) make it stale.
    const writeKernel = kernel.write.bind(kernel);
    kernel.write = (value: tf.Tensor) => {
      const current = this.cachedFor === this.kernelId();
      const written = writeKernel(value);
      if (current) this.cachedFor = this.kernelId();
      return written;
    };
  }

  /** Identity of the kernel tensor now in the variable (replaced by every update). */
  private kernelId(): object {
    return (this.kernel.read() as unknown as { dataId: object }).dataId;
  }

  /**
   * Recomputes W-bar from the current kernel when the optimizer has moved the kernel since W-bar
   * was computed (off the gradient tape, state weights untouched); see the module comment.
   */
  private syncToKernel(): void {
    const id = this.kernelId();
    if (this.cachedFor === id) return;
    this.dropDeferred();
    const [wBar] = untaped(() => tf.tidy(() => [this.normalize(this.kernel.read(), this.state()).wBar]));
    this.writeWBar(wBar);
    wBar.dispose();
    this.cachedFor = id;
    this.unverified = this.options.scaleVerified === true;
  }

  /** Scales W-bar down onto `targetNorm` when its certified norm is above it (see the module comment). */
  private verifyScale(): void {
    if (!this.unverified) return;
    this.unverified = false;
    const target = this.options.targetNorm?.();
    if (target === undefined) return;
    const norm = this.certifiedNormOf(this.readWBar());
    if (!(norm > target)) return;
    const scaled = tf.tidy(() => tf.mul(this.readWBar(), target / norm));
    this.writeWBar(scaled);
    scaled.dispose();
  }

  /**
   * Records that W-bar is `kernel factor` (2-D, the kernel as used in the training step that
   * produced the factor) without forming the product: training steps that never read W-bar pay
   * nothing for it. Takes ownership of both tensors. Also writes the state weights of `state`.
   */
  deferWBar(kernel: tf.Tensor2D, factor: tf.Tensor2D, state: Omit<KernelNormalizerResult, 'wBar'>): void {
    this.storeState(state);
    const id = this.kernelId();
    // W-bar of this very kernel is cached already: the tensors stay the step's own intermediates.
    if (this.cachedFor === id) return;
    this.dropDeferred();
    this.deferred = { kernel: tf.keep(kernel), factor: tf.keep(factor) };
    this.cachedFor = id;
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

  /** Writes the state weights, and `wBar` when `force` or when the cache is not this kernel's yet. */
  private store(res: KernelNormalizerResult, force: boolean): void {
    this.storeState(res);
    if (!force && this.cachedFor === this.kernelId()) return;
    this.vars.wBar.write(res.wBar);
    this.unverified = this.options.scaleVerified === true;
  }

  /**
   * The normalized kernel. `training`: recomputed from the kernel on the gradient tape (the
   * gradient flows to the kernel), state weights updated, the cache written only when it is not
   * this kernel's already. Otherwise: the cached `wBar` weight (recomputed first if stale).
   */
  normalizedKernel(training: boolean, force = false): tf.Tensor {
    if (!training) return this.vars.wBar.read();
    const res = this.normalize(this.kernel.read(), this.state());
    this.store(res, force);
    tf.dispose([res.u ?? [], res.sigma ?? [], res.bjorckState ?? []] as tf.Tensor[]);
    return res.wBar;
  }

  /** Recomputes `wBar` and the state from the kernel (no gradient). Call after build or after setting the kernel. */
  refresh(): void {
    tf.tidy(() => {
      this.normalizedKernel(true, true);
    });
  }

  /**
   * Writes the normalized kernel into the kernel (DEEL-LIP's `condense`), then refreshes the state
   * so that `wBar` is the normalization of the new kernel; the layer's `refine` (a few more
   * orthogonalizer steps) is applied to W-bar first, bringing every singular value to the target
   * within float32 rounding.
   */
  condense(): void {
    this.refreshToConvergedSigma();
    tf.tidy(() => {
      const w = this.vars.wBar.read();
      this.kernel.write(this.options.refine === undefined ? w : this.options.refine(w));
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
   * error by a few times 1e-6. Only spectral normalization alone (`scaleVerified`) needs it: an
   * orthonormalized result does not depend on the scale sigma sets, so with an orthogonalizer, or
   * without a sigma weight (Frobenius), this is one `refresh()`.
   */
  private refreshToConvergedSigma(maxRefreshes = 200): void {
    const sigmaVar = this.vars.sigma;
    this.refresh();
    if (sigmaVar == null || this.options.scaleVerified !== true) return;
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
   * or to each patch (convolutions, before the patch-coverage factor); the option `perm` first
   * transposes W-bar (the transposed convolution's matrix is `[kh*kw*cin, filters]`). Unlike the nominal
   * `kCoefLip`, it also covers what the finite iterations and float32 leave over.
   */
  certifiedWBarNorm(): number {
    return this.certifiedNormOf(this.vars.wBar.read());
  }

  private certifiedNormOf(wBar: tf.Tensor): number {
    const perm = this.options.perm;
    const w = perm === undefined ? wBar : tf.transpose(wBar, perm);
    const lastDim = w.shape[w.shape.length - 1] ?? 1;
    const values = w.dataSync();
    if (perm !== undefined) w.dispose();
    return certifiedSpectralNorm(values, w.size / lastDim, lastDim);
  }
}
