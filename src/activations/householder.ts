/**
 * Householder activation (DEEL-LIP `Householder`, from Singla & Feizi's SOC repository): the
 * channels are split into two halves `z1 = x[..., :C/2]`, `z2 = x[..., C/2:]`; each pair
 * `(z1_i, z2_i)` is kept when it lies on one side of the line of angle `theta_i / 2`
 * (`z1 sin(theta/2) - z2 cos(theta/2) <= 0`) and reflected across that line otherwise:
 * `(z1 cos(theta) + z2 sin(theta), z1 sin(theta) - z2 cos(theta))`. Both pieces are orthogonal and
 * agree on the line, so the map is 1-Lipschitz with an orthogonal Jacobian. `theta` (one angle
 * per pair, learnable) starts at `pi/2`, where the activation is `(min, max)` of each pair
 * `(x_i, x_{i+C/2})`, i.e. GroupSort2 up to a channel permutation.
 *
 * Unlike DEEL-LIP, which ignores `k_coef_lip` in this layer, the output is multiplied by
 * `kCoefLip` (default 1, identical), so that `lipschitzBound()` holds whatever it is set to.
 *
 * References: S. Singla, S. Singla, S. Feizi, "Improved deterministic l2 robustness on CIFAR-10
 * and CIFAR-100", ICLR 2022 (https://openreview.net/pdf?id=tD7eCtaSkR).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { configError, LipschitzConfigError } from '../core/errors';
import { checkKnownKeys, checkOneOf, layerOptionNames } from '../core/validation';
import { Kwargs, LipschitzActivation, LipschitzActivationArgs, single, singleShape } from './base';

/** Options of `Householder`. */
export interface HouseholderArgs extends LipschitzActivationArgs {
  /** Initial value of every angle (default `pi/2`, which is GroupSort2 on the pairs). */
  initialTheta?: number;
  /** Only `'channelsLast'` (default), as in DEEL-LIP. */
  dataFormat?: 'channelsLast';
}

const HOUSEHOLDER_OPTIONS = layerOptionNames<HouseholderArgs>({ kCoefLip: true, initialTheta: true, dataFormat: true });

/** Householder reflection of each channel pair `(x_i, x_{i+C/2})` across a learnable line. */
export class Householder extends LipschitzActivation {
  static className = 'Householder';
  readonly initialTheta: number;
  readonly dataFormat: 'channelsLast';
  private theta: tfl.LayerVariable | null = null;

  constructor(args: HouseholderArgs = {}) {
    if (new.target === Householder) checkKnownKeys('householder', args, HOUSEHOLDER_OPTIONS);
    super(args);
    const initial = args.initialTheta ?? Math.PI / 2;
    if (typeof initial !== 'number' || !Number.isFinite(initial)) {
      configError('initialTheta', 'a finite number (an angle in radians)', initial);
    }
    this.initialTheta = initial;
    this.dataFormat = checkOneOf('dataFormat', args.dataFormat ?? 'channelsLast', ['channelsLast'] as const);
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const channels = this.channelsOf(singleShape(inputShape));
    if (channels % 2 !== 0) {
      throw new LipschitzConfigError(
        `Householder '${this.name}': groupSize 2 must divide the number of channels ${channels}.`,
      );
    }
    this.theta = this.addWeight(
      'theta',
      [channels / 2],
      'float32',
      tfl.initializers.constant({ value: this.initialTheta }),
    );
    super.build(inputShape);
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return singleShape(inputShape);
  }

  /** The angles (a new tensor; dispose it). */
  angles(): tf.Tensor1D {
    if (this.theta === null) configError(`Householder '${this.name}' angles`, 'a built layer', 'unbuilt');
    return tf.clone(this.theta.read()) as tf.Tensor1D;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = single(inputs);
      if (this.theta === null) configError(`Householder '${this.name}'`, 'a built layer', 'unbuilt');
      const theta = this.theta.read();
      const [z1, z2] = tf.split(x, 2, -1) as [tf.Tensor, tf.Tensor];
      const half = tf.mul(theta, tf.scalar(0.5));
      const selector = tf.sub(tf.mul(z1, tf.sin(half)), tf.mul(z2, tf.cos(half)));
      const cos = tf.cos(theta);
      const sin = tf.sin(theta);
      const reflected1 = tf.add(tf.mul(z1, cos), tf.mul(z2, sin));
      const reflected2 = tf.sub(tf.mul(z1, sin), tf.mul(z2, cos));
      // selector <= 0, written as 0 >= selector: GreaterEqual has a (zero) gradient, LessEqual none.
      const keep = tf.greaterEqual(tf.zerosLike(selector), selector);
      const a = tf.where(keep, z1, reflected1);
      const b = tf.where(keep, z2, reflected2);
      return this.scaled(tf.concat([a, b], -1));
    });
  }

  override vanillaExport(_input: tfl.SymbolicTensor): tfl.SymbolicTensor {
    return this.refuseExport('the side-of-line selection has no exact tfjs built-in layer');
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { initialTheta: this.initialTheta, dataFormat: this.dataFormat, ...super.getConfig() };
  }
}
tf.serialization.registerClass(Householder);
