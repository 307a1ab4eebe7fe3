/**
 * The contract of a tfjs-lip merge layer (several inputs of one shape, one output), the
 * counterpart of `LipschitzLayer` for layers such as `LipResidual`: `lip.lipschitzBound` asks it
 * how the bounds of its inputs combine, `lip.vanillaExport` asks it for built-in layers applied
 * to all its inputs. Kept apart from `contracts.ts` so single-input layers need not know it.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ExportContext } from './contracts';

/** A merge layer with a certified combination rule and an exact built-in export. */
export interface LipschitzMerge {
  /** Type tag, always `true`. */
  readonly isLipschitzMerge: true;
  /**
   * Certified bound of the output when input `i` is `bounds[i]`-Lipschitz with respect to a
   * common variable (all finite; the caller handles Infinity), for the current weights.
   */
  mergeLipschitzBound(bounds: readonly number[]): number;
  /**
   * Builds tfjs built-in layers computing exactly what this layer computes in inference on
   * `inputs`, and returns their output; the first layer built takes this layer's name, any further
   * ones `${name}_<suffix>`. Throws
   * `LipschitzConfigError` naming the layer when no exact built-in equivalent exists.
   */
  vanillaExportMerge(inputs: tfl.SymbolicTensor[], context?: ExportContext): tfl.SymbolicTensor;
}

/** Run-time test for the `LipschitzMerge` contract. */
export function isLipschitzMerge(layer: unknown): layer is LipschitzMerge & tfl.layers.Layer {
  return typeof layer === 'object' && layer !== null && (layer as { isLipschitzMerge?: unknown }).isLipschitzMerge === true;
}
