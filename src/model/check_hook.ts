/**
 * The seam between `lipschitzBound` (bound.ts) and the whole-model check (check.ts). check.ts
 * imports bound.ts for its rules, so bound.ts cannot import check.ts back: check.ts installs its
 * warning here when it loads, and bound.ts calls {@link warnIfUnchecked} from here. Loading
 * tfjs-lip (`src/index.ts`, or `src/model`) loads check.ts, so the warning is always installed
 * for users; a module that imports only bound.ts gets no warning.
 */

/** Warns (once per model) when `model` fails `lip.checkModel`; `caller` names the public function. */
export type UncheckedModelWarner = (model: unknown, caller: string) => void;

let warner: UncheckedModelWarner | null = null;

/** Called once by check.ts. */
export function installUncheckedModelWarner(fn: UncheckedModelWarner): void {
  warner = fn;
}

/** Runs the installed warning, if any (see `warnIfUnchecked` in check.ts for what it says). */
export function warnIfUnchecked(model: unknown, caller: string): void {
  warner?.(model, caller);
}
