/**
 * The two contracts every tfjs-lip layer keeps (DEEL-LIP's `LipschitzLayer` and `Condensable`).
 * Layers only wire the pure functions of `src/normalizers` together; these interfaces are what
 * `lip.sequential`, `lip.lipschitzBound`, `lip.condense` and `lip.vanillaExport` rely on.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ChannelMap, PairMatrix } from './channel_map';

/**
 * What `lip.vanillaExport` offers a layer's export beyond applying built-in layers: folding
 * channel maps into neighbouring Dense/convolution kernels instead of emitting them as layers
 * (docs/export.md, "Folding").
 */
export interface ExportContext {
  /**
   * True when the export may use the inference-only layers of `tfjs-lip/inference` where no
   * cheap built-in composition exists (`lip.vanillaExport` option `inferenceLayers`).
   */
  readonly inferenceLayers: boolean;
  /**
   * Folds `pair` into the output channels of the built-in linear layer that produced `input`
   * (kernel and bias), when that layer has a linear activation and `input` feeds only the layer
   * being exported; returns whether it did (then `input` carries `pair` applied to its channels).
   */
  foldIntoProducer(input: tfl.SymbolicTensor, pair: PairMatrix): boolean;
  /**
   * Returns `output` with `map` still to be applied to its last axis: the exporter folds it into
   * the next Dense/convolution kernel, passes it through layers that commute with it, or emits
   * it as layers named `${owner}_...` when nothing can take it.
   */
  defer(output: tfl.SymbolicTensor, map: ChannelMap, owner: string): tfl.SymbolicTensor;
}

/** A layer with a certified Lipschitz constant. */
export interface LipschitzLayer {
  /** Type tag, always `true` (TypeScript interfaces do not exist at run time). */
  readonly isLipschitzLayer: true;
  /** The Lipschitz constant this layer is asked to have. `lip.sequential` may set it before build. */
  kCoefLip: number;
  /**
   * Corrective coefficient multiplied into the normalized operator so that the layer reaches
   * `kCoefLip` (1 for dense layers; the padding/stride factor for convolutions; sqrt(area)
   * for scaled poolings). Valid once the layer is built.
   */
  correctiveCoefficient(): number;
  /** Certified upper bound of this layer's Lipschitz constant (L2 to L2); usually `kCoefLip`. */
  lipschitzBound(): number;
  /**
   * Set when the bound cannot go below this value whatever `kCoefLip` is (`PReLULip`: its positive
   * side has slope 1, so its bound is `max(1, kCoefLip)`). `lip.sequential` gives such a layer no
   * share of a `kCoefLip` below it.
   */
  readonly minimumBound?: number;
}

/** A layer that can write its normalized weights back and be replaced by tfjs built-in layers. */
export interface Condensable {
  /** Type tag, always `true`. */
  readonly isCondensable: true;
  /** Writes the normalized kernel (W-bar) into the trainable kernel and refreshes the cached state. */
  condense(): void;
  /**
   * Builds tfjs built-in layers computing exactly what this layer computes in inference, applies
   * them to `input` and returns the output. The first layer built takes this layer's name; any
   * further ones take `${name}_<suffix>`. Throws `LipschitzConfigError` naming the layer when no
   * exact built-in equivalent exists. With a `context` (given by `lip.vanillaExport`), the layer
   * may fold maps into its neighbours; without one the result stands alone.
   */
  vanillaExport(input: tfl.SymbolicTensor, context?: ExportContext): tfl.SymbolicTensor;
}

/** Run-time test for the `LipschitzLayer` contract. */
export function isLipschitzLayer(layer: unknown): layer is LipschitzLayer & tfl.layers.Layer {
  return typeof layer === 'object' && layer !== null && (layer as { isLipschitzLayer?: unknown }).isLipschitzLayer === true;
}

/** Run-time test for the `Condensable` contract. */
export function isCondensable(layer: unknown): layer is Condensable & tfl.layers.Layer {
  return typeof layer === 'object' && layer !== null && (layer as { isCondensable?: unknown }).isCondensable === true;
}
