/**
 * The shape options every tfjs-lip layer passes to tfjs (`inputShape`, `batchInputShape`),
 * checked once, in the constructors of the four layer base classes. tfjs-layers itself accepts a
 * string such as `'784'` and fails much later inside a tensor op with a message about the kernel
 * (`Tensor must have a shape comprised of positive integers but got shape [784,4]`).
 */
import { configError } from './errors';

/** A dimension of a layer input: a positive integer, or null for one left free. */
function isDimension(value: unknown): boolean {
  return value === null || (typeof value === 'number' && Number.isInteger(value) && value >= 1);
}

/**
 * Throws `LipschitzConfigError` when `inputShape` is given and is not an array of positive
 * integers (null allowed for a free dimension), or `batchInputShape` is given and is not such an
 * array with a leading batch size. Anything else in `args` is left to the layer.
 */
export function checkLayerShapeArgs(args: unknown): void {
  if (typeof args !== 'object' || args === null) return;
  const { inputShape, batchInputShape } = args as { inputShape?: unknown; batchInputShape?: unknown };
  if (inputShape != null && !(Array.isArray(inputShape) && inputShape.length > 0 && inputShape.every(isDimension))) {
    configError('inputShape', 'an array of positive integers like [784] or [28, 28, 1] (the shape of one sample)', inputShape);
  }
  if (
    batchInputShape != null &&
    !(Array.isArray(batchInputShape) && batchInputShape.length > 1 && batchInputShape.every(isDimension))
  ) {
    configError('batchInputShape', 'an array [batchSize or null, ...shape of one sample] like [null, 784]', batchInputShape);
  }
}
