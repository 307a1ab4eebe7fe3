/**
 * The one error type of tfjs-lip: a setting that would break the Lipschitz bound or makes no
 * sense. The message names the argument and echoes the value received.
 */
export class LipschitzConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LipschitzConfigError';
    Object.setPrototypeOf(this, LipschitzConfigError.prototype);
  }
}

/**
 * A tfjs object rendered by what identifies it rather than by its fields: `layer 'd1'
 * (SpectralDense)`, `model 'm' (Sequential)`, `a float32 tensor of shape [784]`; undefined for
 * anything else. Duck-typed, so that this module needs no tfjs import.
 */
function describeTfjsObject(value: object): string | undefined {
  const v = value as { getClassName?: unknown; name?: unknown; layers?: unknown; shape?: unknown; dtype?: unknown; dataId?: unknown };
  if (typeof v.getClassName === 'function' && typeof v.name === 'string') {
    const kind = Array.isArray(v.layers) ? 'model' : 'layer';
    return `${kind} '${v.name}' (${String((v.getClassName as () => unknown).call(value))})`;
  }
  if (Array.isArray(v.shape) && typeof v.dtype === 'string' && v.dataId !== undefined) {
    return `a ${v.dtype} tensor of shape ${JSON.stringify(v.shape)}`;
  }
  if (Array.isArray(v.shape) && typeof v.name === 'string' && (v as { sourceLayer?: unknown }).sourceLayer !== undefined) {
    return `the symbolic tensor '${v.name}' of shape ${JSON.stringify(v.shape)}`;
  }
  return undefined;
}

/** Renders a received value for an error message (`2.5`, `'selu'`, `null`, `[3,3]`). */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  const tfjs = typeof value === 'object' ? describeTfjsObject(value) : undefined;
  if (tfjs !== undefined) return tfjs;
  if (Array.isArray(value) && value.some((item) => typeof item === 'object' && item !== null && describeTfjsObject(item) !== undefined)) {
    const items = value.slice(0, 3).map((item) => describeValue(item));
    return `[${items.join(', ')}${value.length > 3 ? `, ... (${value.length} items)` : ''}]`;
  }
  try {
    const json = JSON.stringify(value);
    if (json !== undefined) return json.length > 80 ? `${json.slice(0, 77)}...` : json;
  } catch {
    /* fall through */
  }
  return Object.prototype.toString.call(value);
}

/** Throws `LipschitzConfigError` with the tfjs-style sentence `name expected X, but got V.` */
export function configError(name: string, expected: string, value: unknown): never {
  throw new LipschitzConfigError(`${name} expected ${expected}, but got ${describeValue(value)}.`);
}
