import { LipschitzConfigError } from '../../src/core/errors';

/** The error `f` throws, checked to be an instance of `type` when given (fails the test when `f` throws nothing). */
export function thrown(f: () => unknown, type?: abstract new (...args: never[]) => Error): Error {
  try {
    f();
  } catch (e) {
    if (type !== undefined) expect(e).toBeInstanceOf(type);
    return e as Error;
  }
  throw new Error(`expected ${type?.name ?? 'an error'}, nothing was thrown`);
}

/** The `LipschitzConfigError` `f` throws (fails the test for anything else). */
export function thrownConfigError(f: () => unknown): Error {
  return thrown(f, LipschitzConfigError);
}
