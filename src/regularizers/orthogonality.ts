/**
 * Orthogonality regularizers of DEEL-LIP (deel/lip/regularizers.py): `OrthDenseRegularizer`
 * and `LorthRegularizer` (2-D convolutions), as tfjs regularizers usable as `kernelRegularizer`
 * of `tf.layers.dense` / `tf.layers.conv2d` (or any layer taking a tfjs Regularizer).
 *
 * OrthDense: for a kernel W of shape [in, out],
 *     R(W) = lambdaOrth * || G - I ||_F^2,   G = W W^T if in <= out, else W^T W,
 * zero exactly when W has orthonormal rows (in <= out) or columns (in > out).
 *
 * Lorth (Achour et al.): for a convolution kernel K of shape [R, R, C, M] and stride s,
 *     R(K) = lambdaLorth * ( || conv(K, K) - I_0 ||_F^2 - delta ),
 * where conv(K, K)[m, p, q, m'] = sum_{i,j,c} K[i + p s - P, j + q s - P, c, m] K[i, j, c, m']
 * (the cross-correlations of the filters at the offsets multiple of s within the padding
 * P = floor((R - 1) / s) s), I_0 is the identity placed at offset (0, 0), and
 * delta = max(0, M - s^2 C) (or max(0, C - s^2 M) with `flagDeconv`) is the minimum of the
 * first term when the convolution cannot be orthogonal in the row sense. The term vanishes for
 * an orthogonal convolution.
 *
 * References: Achour, Malgouyres, Mamalet, Existence, Stability and Scalability of Orthogonal
 * Convolutional Neural Networks (JMLR 2022), https://arxiv.org/abs/2108.09058; Wang et al.,
 * Orthogonal Convolutional Neural Networks (CVPR 2020).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { configError } from '../core/errors';
import { checkBoolean, checkKnownKeys, checkPositiveFinite, checkPositiveInt, serializableOptionNames } from '../core/validation';

type RegularizerInstance = tf.serialization.Serializable & { apply(x: tf.Tensor): tf.Scalar };
type RegularizerCtor = abstract new () => RegularizerInstance;

/**
 * tfjs-layers accepts a regularizer object only if it is an instance of its (unexported)
 * `Regularizer` base class; that class is the parent of the exported `L1L2` regularizer.
 */
const RegularizerBase: RegularizerCtor = (() => {
  const parent = Object.getPrototypeOf(tfl.regularizers.l1l2().constructor) as unknown;
  if (typeof parent === 'function' && parent.prototype instanceof tf.serialization.Serializable) {
    return parent as RegularizerCtor;
  }
  return tf.serialization.Serializable as unknown as RegularizerCtor;
})();

/** Base of the regularizers here: their constructor accepts exactly their `getConfig()` output. */
abstract class ConfigRegularizer extends RegularizerBase {
  /** Builds the regularizer from `getConfig()` output. */
  static fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    return new cls(config);
  }
}

/** Options of `orthDense`. */
export interface OrthDenseRegularizerArgs {
  /** Weight of the regularization (> 0). Default 1. */
  lambdaOrth?: number;
}

const ORTH_DENSE_OPTIONS = serializableOptionNames<OrthDenseRegularizerArgs>({ lambdaOrth: true });

/** || W W^T - I ||_F^2 (or with W^T W) of a 2-D dense kernel, times `lambdaOrth`. */
export class OrthDenseRegularizer extends ConfigRegularizer {
  static className = 'OrthDenseRegularizer';
  readonly lambdaOrth: number;

  constructor(args: OrthDenseRegularizerArgs = {}) {
    super();
    checkKnownKeys('orthDense', args, ORTH_DENSE_OPTIONS);
    this.lambdaOrth = checkPositiveFinite('lambdaOrth', args.lambdaOrth ?? 1);
  }

  override apply(x: tf.Tensor): tf.Scalar {
    if (x.rank !== 2) configError('OrthDenseRegularizer kernel', 'a 2-D kernel [in, out]', x.shape);
    return tf.tidy(() => {
      const w = x as tf.Tensor2D;
      const rowsFirst = (w.shape[0] as number) <= (w.shape[1] as number);
      const gram = rowsFirst ? tf.matMul(w, w, false, true) : tf.matMul(w, w, true, false);
      const eye = tf.eye(gram.shape[0] as number);
      return tf.mul(tf.sum(tf.square(tf.sub(gram, eye))), this.lambdaOrth) as tf.Scalar;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { lambdaOrth: this.lambdaOrth };
  }
}
tf.serialization.registerClass(OrthDenseRegularizer);

/** Options of `lorth2d`. */
export interface LorthRegularizerArgs {
  /** Kernel shape [R, R, C, M]; optional (read from the kernel at each call), checked when given. */
  kernelShape?: number[] | null;
  /** Stride of the convolution the kernel belongs to. Default 1. */
  stride?: number;
  /** Weight of the regularization (> 0). Default 1. */
  lambdaLorth?: number;
  /** Spatial dimension; only 2 is supported. Default 2. */
  dim?: number;
  /** True when the output dimension is larger than the input one (transposed convolution). Default false. */
  flagDeconv?: boolean;
}

const LORTH_OPTIONS = serializableOptionNames<LorthRegularizerArgs>({
  kernelShape: true,
  stride: true,
  lambdaLorth: true,
  dim: true,
  flagDeconv: true,
});

/** Checks a [R, R, C, M] kernel shape for Lorth and returns its parts. */
function lorthGeometry(shape: readonly number[], stride: number, flagDeconv: boolean) {
  if (shape.length !== 4 || !shape.every((d) => Number.isInteger(d) && d > 0) || shape[0] !== shape[1]) {
    configError('kernelShape', 'a square 2-D convolution kernel shape [R, R, C, M]', shape);
  }
  const [r, , c, m] = shape as [number, number, number, number];
  if (r % 2 !== 1) configError('kernelShape', 'an odd kernel size R (Lorth)', shape);
  const s2 = stride * stride;
  if (c * s2 >= m) {
    if (m > c * r * r) configError('kernelShape', `a shape admitting an orthogonal convolution (M <= C R^2 at stride ${stride})`, shape);
  } else if (stride > r) {
    configError('stride', `a stride <= the kernel size ${r} (no orthogonal convolution otherwise)`, stride);
  }
  const delta = Math.max(0, flagDeconv ? c - s2 * m : m - s2 * c);
  const padding = Math.floor((r - 1) / stride) * stride;
  return { r, c, m, delta, padding };
}

/** Lorth orthogonality regularizer of a 2-D convolution kernel [R, R, C, M]. */
export class LorthRegularizer extends ConfigRegularizer {
  static className = 'LorthRegularizer';
  readonly kernelShape: number[] | null;
  readonly stride: number;
  readonly lambdaLorth: number;
  readonly dim: number;
  readonly flagDeconv: boolean;

  constructor(args: LorthRegularizerArgs = {}) {
    super();
    checkKnownKeys('lorth2d', args, LORTH_OPTIONS);
    this.stride = checkPositiveInt('stride', args.stride ?? 1);
    this.lambdaLorth = checkPositiveFinite('lambdaLorth', args.lambdaLorth ?? 1);
    this.dim = args.dim ?? 2;
    if (this.dim !== 2) configError('dim', '2 (only 2-D convolutions are supported)', args.dim);
    this.flagDeconv = checkBoolean('flagDeconv', args.flagDeconv ?? false);
    this.kernelShape = args.kernelShape == null ? null : [...args.kernelShape];
    if (this.kernelShape !== null) lorthGeometry(this.kernelShape, this.stride, this.flagDeconv);
  }

  override apply(x: tf.Tensor): tf.Scalar {
    const { m, delta, padding } = lorthGeometry(x.shape, this.stride, this.flagDeconv);
    return tf.tidy(() => {
      const w = x as tf.Tensor4D;
      // Each output filter K[:, :, :, m] becomes an image; convolving it with K gives the
      // cross-correlations of every pair of filters at the offsets p s - P.
      const images = tf.transpose(w, [3, 0, 1, 2]);
      const padded = tf.pad(images, [
        [0, 0],
        [padding, padding],
        [padding, padding],
        [0, 0],
      ]);
      const corr = tf.conv2d(padded as tf.Tensor4D, w, this.stride, 'valid');
      const out = corr.shape[1] as number;
      const center = Math.floor(out / 2);
      const target = tf.buffer([m, out, out, m], 'float32');
      for (let k = 0; k < m; k++) target.set(1, k, center, center, k);
      const sq = tf.sum(tf.square(tf.sub(corr, target.toTensor())));
      return tf.mul(tf.sub(sq, delta), this.lambdaLorth) as tf.Scalar;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      kernelShape: this.kernelShape,
      stride: this.stride,
      lambdaLorth: this.lambdaLorth,
      dim: this.dim,
      flagDeconv: this.flagDeconv,
    };
  }
}
tf.serialization.registerClass(LorthRegularizer);

/** `OrthDenseRegularizer` factory: lambdaOrth * ||W W^T - I||_F^2 on a dense kernel. */
export function orthDense(args: OrthDenseRegularizerArgs = {}): OrthDenseRegularizer {
  return new OrthDenseRegularizer(args);
}

/** `LorthRegularizer` factory for 2-D convolution kernels (DEEL-LIP's Lorth2D). */
export function lorth2d(args: LorthRegularizerArgs = {}): LorthRegularizer {
  return new LorthRegularizer(args);
}
