/**
 * Conditional suites and tests whose skipped title carries the reason: the summary reporter
 * (test/summary_reporter.js) prints every skipped title, so the suite's output says why a suite
 * was skipped (no Chromium, no ../shared/data, dist/ not built, running as root, ...).
 */

/** Marks a skipped title with its reason, in the form the summary reporter reads. */
export function skippedTitle(title: string, reason: string): string {
  return `${title} [skipped: ${reason}]`;
}

/** `describe` when `condition` holds; otherwise `describe.skip` with the reason in the title. */
export function describeIf(condition: boolean, reason: string): (title: string, fn: () => void) => void {
  return condition ? describe : (title, fn) => describe.skip(skippedTitle(title, reason), fn);
}

/** `it` when `condition` holds; otherwise `it.skip` with the reason in the title. */
export function itIf(condition: boolean, reason: string): (title: string, fn: () => unknown, timeout?: number) => void {
  return condition
    ? (title, fn, timeout) => it(title, fn as jest.ProvidesCallback, timeout)
    : (title, fn, timeout) => it.skip(skippedTitle(title, reason), fn as jest.ProvidesCallback, timeout);
}
