/**
 * `LipResidual` (deel-torchlip's `LipResidual`): the learnable convex combination
 * `sigma(alpha) x + (1 - sigma(alpha)) f(x)` of a skip branch `x` and a residual branch `f(x)`,
 * as a tfjs merge layer applied to `[x, fx]` (two tensors of one shape).
 *
 * Bound (docs/residual_centering.md): with s = sigma(alpha) and t = 1 - s, both in [0, 1],
 * `||s (x - x') + t (f(x) - f(x'))|| <= s ||x - x'|| + t ||f(x) - f(x')||`, so when the skip input
 * is `Bx`-Lipschitz and the branch `Bf`-Lipschitz (in a common input), the output is
 * `s Bx + t Bf`-Lipschitz: `s + (1 - s) L <= max(1, L)` for a block `x -> mix(x, f(x))` with
 * `f` L-Lipschitz. `lip.lipschitzBound(model)` applies that rule to the graph
 * (`LipschitzMerge`, `core/merge_contract.ts`).
 *
 * References: deel-torchlip `deel/torchlip/modules/residual.py`.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { configError, LipschitzConfigError } from '../core/errors';
import type { ExportContext, LipschitzLayer } from '../core/contracts';
import type { LipschitzMerge } from '../core/merge_contract';
import { checkLayerShapeArgs } from '../core/input_shape';
import { checkKnownKeys, layerOptionNames, type TfjsLayerArgs } from '../core/validation';

type Kwargs = Record<string, unknown>;

/** Options of {@link lipResidual}. */
export interface LipResidualArgs extends TfjsLayerArgs {
  /** Initial value of the learnable logit alpha (default 0: both branches weigh 1/2). */
  initialAlpha?: number;
}

const LIP_RESIDUAL_OPTIONS = layerOptionNames<LipResidualArgs>({ initialAlpha: true });

/** A finite number. */
function checkFinite(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) configError(name, 'a finite number', value);
  return value;
}

/** The two shapes of a merge build, or a `LipschitzConfigError` naming the layer. */
function pairOfShapes(owner: string, inputShape: tfl.Shape | tfl.Shape[]): [tfl.Shape, tfl.Shape] {
  const shapes = Array.isArray(inputShape[0]) ? (inputShape as tfl.Shape[]) : [inputShape as tfl.Shape];
  const [a, b] = shapes;
  if (shapes.length !== 2 || a === undefined || b === undefined) {
    configError(`${owner} inputs`, 'two tensors [x, fx] of the same shape', shapes);
  }
  const same = a.length === b.length && a.every((d, i) => i === 0 || d === b[i] || d == null || b[i] == null);
  if (!same) configError(`${owner} inputs`, 'two tensors [x, fx] of the same shape', shapes);
  return [a, b];
}

/**
 * `sigma(alpha) x + (1 - sigma(alpha)) fx` on inputs `[x, fx]`, alpha a trainable scalar. A
 * `LipschitzLayer` whose own bound (with respect to the concatenated inputs) is
 * `sqrt(s^2 + (1 - s)^2) <= 1`, and a `LipschitzMerge` whose graph rule is `s Bx + (1 - s) Bf`.
 */
export class LipResidual extends tfl.layers.Layer implements LipschitzLayer, LipschitzMerge {
  static className = 'LipResidual';
  readonly isLipschitzLayer = true as const;
  readonly isLipschitzMerge = true as const;
  readonly initialAlpha: number;
  private alpha: tfl.LayerVariable | null = null;

  constructor(args: LipResidualArgs = {}) {
    if (new.target === LipResidual) checkKnownKeys('lipResidual', args, LIP_RESIDUAL_OPTIONS);
    super(args);
    checkLayerShapeArgs(args);
    this.initialAlpha = checkFinite('initialAlpha', args.initialAlpha ?? 0);
  }

  /** Always 1: a convex combination has no scale to set (`lip.sequential` cannot hold a merge). */
  get kCoefLip(): number {
    return 1;
  }

  set kCoefLip(value: number) {
    if (value !== 1) configError('kCoefLip', '1 (LipResidual is a convex combination, it has no scale)', value);
  }

  /** 1: nothing to correct. */
  correctiveCoefficient(): number {
    return 1;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    pairOfShapes(`lipResidual '${this.name}'`, inputShape);
    this.alpha = this.addWeight('alpha', [], 'float32', tfl.initializers.constant({ value: this.initialAlpha }), undefined, true);
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return pairOfShapes(`lipResidual '${this.name}'`, inputShape)[0];
  }

  private requireAlpha(): tfl.LayerVariable {
    if (this.alpha === null) throw new LipschitzConfigError(`LipResidual '${this.name}' is not built yet (call it on [x, fx] first).`);
    return this.alpha;
  }

  /** `[s, 1 - s]` as the float32 values the layer multiplies by (s = sigmoid(alpha)). */
  mixingWeights(): [number, number] {
    const alpha = this.requireAlpha();
    const s = tf.tidy(() => {
      const value = tf.sigmoid(alpha.read());
      return value.dataSync()[0]!;
    });
    return [s, Math.fround(1 - s)];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const [x, fx] = Array.isArray(inputs) ? inputs : [inputs];
      if (x === undefined || fx === undefined || (inputs as tf.Tensor[]).length !== 2) {
        throw new LipschitzConfigError(`LipResidual '${this.name}' expects two input tensors [x, fx].`);
      }
      const s = tf.sigmoid(this.requireAlpha().read());
      const t = tf.sub(tf.scalar(1), s);
      return tf.add(tf.mul(x, s), tf.mul(fx, t));
    });
  }

  /** Bound with respect to the concatenation [x; fx]: sqrt(s^2 + (1 - s)^2) (1 before build). */
  lipschitzBound(): number {
    if (this.alpha === null) return 1;
    const [s, t] = this.mixingWeights();
    return Math.hypot(s, t);
  }

  /** `s Bx + (1 - s) Bf` for inbound bounds `[Bx, Bf]` (triangle inequality). */
  mergeLipschitzBound(bounds: readonly number[]): number {
    if (bounds.length !== 2) return Infinity;
    const [s, t] = this.mixingWeights();
    return s * bounds[0]! + t * bounds[1]!;
  }

  /**
   * `add([rescaling(s)(x), rescaling(1 - s)(fx)])`: the `Add` takes the layer's name, the
   * rescalings `${name}_skip` and `${name}_branch`. Same float32 operations as `call`, so the
   * export predicts bit for bit the same, and its graph bound (`|scale|` times, then a sum) is
   * the layer's.
   */
  vanillaExportMerge(inputs: tfl.SymbolicTensor[], _context?: ExportContext): tfl.SymbolicTensor {
    const [x, fx] = inputs;
    if (inputs.length !== 2 || x === undefined || fx === undefined) {
      throw new LipschitzConfigError(`LipResidual '${this.name}' has no vanilla export for ${inputs.length} inputs: it merges [x, fx].`);
    }
    const [s, t] = this.mixingWeights();
    const add = tfl.layers.add({ name: this.name });
    const skip = tfl.layers.rescaling({ scale: s, name: `${this.name}_skip` }).apply(x) as tfl.SymbolicTensor;
    const branch = tfl.layers.rescaling({ scale: t, name: `${this.name}_branch` }).apply(fx) as tfl.SymbolicTensor;
    return add.apply([skip, branch]) as tfl.SymbolicTensor;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { initialAlpha: this.initialAlpha, ...super.getConfig() };
  }
}
tf.serialization.registerClass(LipResidual);

/**
 * The Lipschitz residual merge `sigma(alpha) x + (1 - sigma(alpha)) fx`, applied to `[x, fx]`:
 * `lip.layers.lipResidual().apply([x, f.apply(x)])`. If `f` is L-Lipschitz the block is
 * `s + (1 - s) L <= max(1, L)`-Lipschitz; `lip.lipschitzBound(model)` certifies it from alpha.
 */
export function lipResidual(args: LipResidualArgs = {}): LipResidual {
  return new LipResidual(args);
}
