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

/** Renders a received value for an error message (`2.5`, `'selu'`, `null`, `[3,3]`). */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
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
