/**
 * The experiment config of `tfjs-lip run`, as a zod schema: one source of truth for the fields,
 * their types and defaults. `parseConfig` reports every invalid field at once, each with its JSON
 * path (`model.layers[2].type`), in one `LipschitzConfigError` (docs/results.md).
 */
import { z } from 'zod';
import { LipschitzConfigError } from '../core/errors';

/** A library piece called by name with an options object: `{name: 'pgd', args: {epsilon: 2}}`. */
const named = z
  .object({
    name: z.string().min(1),
    args: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();
export type NamedCall = z.infer<typeof named>;

const layerSpec = z
  .object({
    /** A factory of lip.layers, lip.activations or tf.layers (`spectralConv2d`, `groupSort2`, `flatten`). */
    type: z.string().min(1),
    args: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();
export type LayerSpec = z.infer<typeof layerSpec>;

const dataSchema = z
  .object({
    /** `embedded`: the digits of the `mnist` package; `idx`: an IDX folder (MNIST, Fashion-MNIST). */
    source: z.enum(['embedded', 'idx']).default('embedded'),
    /** The IDX folder (relative to the working directory); `--data` overrides it. */
    dir: z.string().min(1).optional(),
    /** `image`: [n, rows, cols, 1]; `flat`: [n, rows * cols]. */
    shape: z.enum(['image', 'flat']).default('flat'),
    trainSize: z.number().int().positive().optional(),
    testSize: z.number().int().positive().optional(),
  })
  .strict();

const modelSchema = z.union([
  z.object({ architecture: z.string().min(1), args: z.record(z.string(), z.unknown()).default({}) }).strict(),
  z
    .object({
      /** `lip` (default): lip.sequential, whose bound is checked; `tf`: a plain tf.sequential. */
      container: z.enum(['lip', 'tf']).default('lip'),
      layers: z.array(layerSpec).min(1),
    })
    .strict(),
]);

const optimizerSchema = z
  .object({
    name: z.enum(['adam', 'sgd', 'momentum', 'rmsprop']),
    learningRate: z.number().positive(),
    momentum: z.number().min(0).max(1).optional(),
  })
  .strict();

const trainingSchema = z.discriminatedUnion('method', [
  z.object({ method: z.literal('plain') }).strict(),
  z.object({ method: z.literal('penalty'), penalties: z.array(named).min(1) }).strict(),
  z
    .object({ method: z.literal('adversarial'), attack: named, weight: z.number().min(0).max(1).optional() })
    .strict(),
  z.object({ method: z.literal('certified'), loss: named }).strict(),
]);

const evaluationSchema = z
  .object({
    /** Test images evaluated (default: all). */
    samples: z.number().int().positive().optional(),
    cleanAccuracy: z.boolean().default(true),
    /** L2 radii of the certified accuracy (the global bound lip.lipschitzBound); [] for none. */
    certifiedRadii: z.array(z.number().nonnegative()).default([]),
    /** Attacks evaluated with lip.attacks.robustAccuracy, each `{label?, name, args}`. */
    attacks: z.array(named.extend({ label: z.string().min(1).optional() }).strict()).default([]),
    /** The certified bound of the model (lip.lipschitzBound) and an empirical estimate (lip.evaluateLipConst). */
    lipschitz: z.object({ bound: z.boolean().default(true), empirical: z.boolean().default(false) }).strict().default({ bound: true, empirical: false }),
    /** Local-Lip certified accuracy at these radii (lip.local.certifiedAccuracy). */
    localCertifiedRadii: z.array(z.number().positive()).default([]),
  })
  .strict();

const wassersteinSchema = z
  .object({
    /** A pair of lip.tasks.wasserstein (`absoluteValue`, `threeCones`, `highDimensionalCone`). */
    pair: named,
    steps: z.number().int().positive(),
    batchSize: z.number().int().positive(),
    learningRate: z.number().positive().default(0.01),
    evalSize: z.number().int().positive().default(4096),
  })
  .strict();

/** Published figures the config targets, by result key (`cleanAccuracy`, `meanCertificate`, ...). */
const referenceSchema = z
  .object({
    source: z.string().min(1),
    figures: z.record(z.string(), z.number()).default({}),
  })
  .strict();

const runFields = {
  description: z.string().optional(),
  reference: referenceSchema.optional(),
  model: modelSchema,
  loss: named.optional(),
  optimizer: optimizerSchema.optional(),
  epochs: z.number().int().positive().optional(),
  batchSize: z.number().int().positive().optional(),
  training: trainingSchema.default({ method: 'plain' }),
  evaluation: evaluationSchema.default({ cleanAccuracy: true, certifiedRadii: [], attacks: [], lipschitz: { bound: true, empirical: false }, localCertifiedRadii: [] }),
  wasserstein: wassersteinSchema.optional(),
};

/** One run, after its variant's overrides are merged into the base config. */
export const runSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only'),
    task: z.enum(['classification', 'wasserstein']).default('classification'),
    data: dataSchema.default({ source: 'embedded', shape: 'flat' }),
    seed: z.number().int().nonnegative().default(0),
    ...runFields,
  })
  .strict()
  .superRefine((run, ctx) => {
    if (run.task === 'wasserstein' && run.wasserstein === undefined) {
      ctx.addIssue({ code: 'custom', path: ['wasserstein'], message: "required when task is 'wasserstein'" });
    }
    if (run.task === 'classification') {
      for (const key of ['loss', 'optimizer', 'epochs', 'batchSize'] as const) {
        if (run[key] === undefined) ctx.addIssue({ code: 'custom', path: [key], message: "required when task is 'classification'" });
      }
    }
  });
export type RunConfig = z.infer<typeof runSchema>;

/** The file: a base run, and optionally `variants` (partial overrides, each a run of its own). */
const fileSchema = z
  .object({
    name: z.string().min(1),
    variants: z.array(z.record(z.string(), z.unknown())).min(1).optional(),
  })
  .passthrough();

/** `a.b[2].c` from a zod path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : `${out === '' ? '' : '.'}${String(part)}`;
  return out === '' ? '(root)' : out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep merge for variants: objects merge key by key, anything else (arrays included) replaces. */
export function mergeOverrides(base: unknown, override: unknown): unknown {
  if (!isObject(base) || !isObject(override)) return override === undefined ? base : override;
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) out[key] = mergeOverrides(base[key], value);
  return out;
}

/**
 * One line per issue: `  path: message (got value)`. In a variant, a field the variant itself sets
 * is reported under `variants[i]`, one it inherits under its base path.
 */
function issueLines(issues: readonly z.core.$ZodIssue[], received: unknown, variant?: { index: number; override: unknown }): string[] {
  return issues.map((issue) => {
    const own = variant !== undefined && valueAt(variant.override, issue.path) !== undefined;
    const path = own ? [`variants[${variant.index}]`, ...issue.path] : issue.path;
    const value = valueAt(received, issue.path);
    const shown = value === undefined ? 'missing' : JSON.stringify(value)?.slice(0, 60);
    return `  ${formatPath(path)}: ${issue.message} (got ${shown})`;
  });
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node: unknown = root;
  for (const part of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[part];
  }
  return node;
}

/**
 * Validates a config file's JSON and expands it into runs (one per variant, or the base alone).
 * Throws one `LipschitzConfigError` listing every invalid field with its path.
 */
export function parseConfig(json: unknown, source = 'config'): RunConfig[] {
  const file = fileSchema.safeParse(json);
  if (!file.success) throw configFailure(source, issueLines(file.error.issues, json));
  const { variants, ...base } = file.data as Record<string, unknown> & { variants?: Record<string, unknown>[] };
  const inputs = variants === undefined ? [base] : variants.map((v) => mergeOverrides(base, v));
  const runs: RunConfig[] = [];
  const lines: string[] = [];
  inputs.forEach((input, i) => {
    const parsed = runSchema.safeParse(input);
    if (parsed.success) runs.push(parsed.data);
    else lines.push(...issueLines(parsed.error.issues, input, variants === undefined ? undefined : { index: i, override: variants[i] }));
  });
  if (lines.length > 0) throw configFailure(source, [...new Set(lines)]);
  return runs;
}

function configFailure(source: string, lines: string[]): LipschitzConfigError {
  return new LipschitzConfigError(`${source} expected a valid experiment config, but got ${lines.length} invalid field(s):\n${lines.join('\n')}`);
}
