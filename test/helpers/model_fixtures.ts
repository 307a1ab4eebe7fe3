/**
 * Test-only layers for the model-level API: a Lipschitz, condensable dense layer normalized by
 * its Frobenius norm (W-bar = kCoefLip * W / ||W||_F, so ||W-bar||_2 <= kCoefLip), a Lipschitz
 * layer that is not condensable, and a plain custom layer. Plus helpers shared by the tests.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { Condensable, LipschitzLayer } from '../../src/core/contracts';

type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;

export interface TestFrobeniusDenseArgs extends LayerArgs {
  units: number;
  activation?: 'linear' | 'relu';
  kCoefLip?: number;
}

export class TestFrobeniusDense extends tfl.layers.Layer implements LipschitzLayer, Condensable {
  static className = 'TestFrobeniusDense';
  readonly isLipschitzLayer = true as const;
  readonly isCondensable = true as const;
  kCoefLip: number;
  readonly units: number;
  readonly activation: 'linear' | 'relu';
  private kernel!: tfl.LayerVariable;
  private bias!: tfl.LayerVariable;
  /** Frobenius norm seen at the last training call (saved state, like DEEL-LIP's sigma). */
  private sigma!: tfl.LayerVariable;

  constructor(args: TestFrobeniusDenseArgs) {
    super(args);
    this.units = args.units;
    this.activation = args.activation ?? 'linear';
    this.kCoefLip = args.kCoefLip ?? 1;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const inDim = shape[shape.length - 1] as number;
    this.kernel = this.addWeight('kernel', [inDim, this.units], 'float32', tfl.initializers.glorotUniform({}));
    this.bias = this.addWeight('bias', [this.units], 'float32', tfl.initializers.randomNormal({ stddev: 0.1 }));
    this.sigma = this.addWeight('sigma', [1], 'float32', tfl.initializers.ones(), undefined, false);
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    return [...shape.slice(0, -1), this.units];
  }

  /** kCoefLip * W / ||W||_F. */
  normalizedKernel(): tf.Tensor2D {
    return tf.tidy(() => {
      const w = this.kernel.read();
      return tf.mul(w, tf.div(this.kCoefLip, tf.norm(w))) as tf.Tensor2D;
    });
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0]! : inputs;
      const w = this.kernel.read();
      const norm = tf.norm(w);
      if (kwargs.training === true) this.sigma.write(tf.reshape(tf.clone(norm), [1]));
      const y = tf.add(tf.matMul(x, tf.mul(w, tf.div(this.kCoefLip, norm))), this.bias.read());
      return this.activation === 'relu' ? tf.relu(y) : y;
    });
  }

  correctiveCoefficient(): number {
    return 1;
  }

  lipschitzBound(): number {
    return this.kCoefLip;
  }

  condense(): void {
    const w = this.normalizedKernel();
    this.kernel.write(w);
    w.dispose();
  }

  vanillaExport(input: tfl.SymbolicTensor): tfl.SymbolicTensor {
    const dense = tfl.layers.dense({ units: this.units, activation: this.activation, name: this.name });
    const out = dense.apply(input) as tfl.SymbolicTensor;
    const w = this.normalizedKernel();
    const b = tf.clone(this.bias.read());
    dense.setWeights([w, b]);
    tf.dispose([w, b]);
    return out;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { units: this.units, activation: this.activation, kCoefLip: this.kCoefLip, ...super.getConfig() };
  }
}
tf.serialization.registerClass(TestFrobeniusDense);

export function testFrobeniusDense(args: TestFrobeniusDenseArgs): TestFrobeniusDense {
  return new TestFrobeniusDense(args);
}

/** A Lipschitz layer (x -> kCoefLip * x / 2 ... bounded by kCoefLip) that cannot be condensed. */
export class TestHalfScale extends tfl.layers.Layer implements LipschitzLayer {
  static className = 'TestHalfScale';
  readonly isLipschitzLayer = true as const;
  kCoefLip = 1;
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    return tf.mul(x, 0.5 * this.kCoefLip);
  }
  correctiveCoefficient(): number {
    return 1;
  }
  lipschitzBound(): number {
    return 0.5 * this.kCoefLip;
  }
}
tf.serialization.registerClass(TestHalfScale);

/** A custom layer that is neither Lipschitz nor built-in (x -> 3x). */
export class TestTriple extends tfl.layers.Layer {
  static className = 'TestTriple';
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    return tf.mul(x, 3);
  }
}
tf.serialization.registerClass(TestTriple);

/** Deterministic pseudo-random numbers in [-1, 1) (no dependence on tf's global seed). */
export function seededValues(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/** Predictions of a model as nested arrays (no tensor kept). */
export function predictArray(model: tfl.LayersModel, x: tf.Tensor): number[][] {
  return tf.tidy(() => (model.predict(x) as tf.Tensor).arraySync() as number[][]);
}

/** Largest absolute difference between two equally shaped nested arrays. */
export function maxAbsDiff(a: number[][], b: number[][]): number {
  let best = 0;
  a.forEach((row, i) => row.forEach((v, j) => (best = Math.max(best, Math.abs(v - b[i]![j]!)))));
  return best;
}
