/**
 * Output of the runs: per run a folder with results.json, summary.md and its plots; per output
 * folder a summary.md over every run found and, per config, the training curves and certified
 * accuracy of its runs on one chart; and the results page (docs/results.md), which sets each
 * run's figures next to the published ones.
 */
import * as fs from 'fs';
import * as path from 'path';
import { certifiedSpec, renderSvg, trainingCurvesSpec } from './plots';
import type { RunRecord } from './run';

type Figures = Record<string, unknown>;

function fmt(value: unknown): string {
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(4);
  if (value === null || value === undefined) return '-';
  return String(value);
}

/** Scalar figures of a run, flattened (`certifiedAccuracy@0.5`, `attacks.pgd`). */
export function flatFigures(results: Figures): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(results)) {
    if (typeof value === 'number') out[key] = value;
    else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) if (typeof v === 'number') out[key === 'certifiedAccuracy' || key === 'localCertifiedAccuracy' ? `${key}@${k}` : `${key}.${k}`] = v;
    }
  }
  return out;
}

/** The markdown of one run: provenance, figures against the reference, timings. */
export function runSummary(record: RunRecord): string {
  const figures = flatFigures(record.results as unknown as Figures);
  const reference = record.reference?.figures ?? {};
  const lines = [
    `## ${record.name}`,
    '',
    record.config.description ?? '',
    '',
    `- config: \`${record.configFile}\`, seed ${record.seed}`,
    `- ${record.provenance.package} ${record.provenance.version}, commit ${record.provenance.commit}, backend ${record.provenance.backend}, Node ${record.provenance.node}, tfjs ${record.provenance.tfjs}`,
    `- time per epoch: ${record.timings.secondsPerEpoch === null ? '-' : `${record.timings.secondsPerEpoch.toFixed(1)} s`}, training ${record.timings.trainSeconds.toFixed(1)} s, total ${record.timings.totalSeconds.toFixed(1)} s`,
    '',
    '| figure | ours | published |',
    '| --- | --- | --- |',
    ...Object.entries(figures).map(([k, v]) => `| ${k} | ${fmt(v)} | ${fmt(reference[k])} |`),
    ...Object.entries(reference)
      .filter(([k]) => figures[k] === undefined)
      .map(([k, v]) => `| ${k} | - | ${fmt(v)} |`),
  ];
  if (record.reference !== undefined) lines.push('', `Published figures: ${record.reference.source}`);
  return `${lines.join('\n')}\n`;
}

/** Writes a run's folder: results.json, summary.md, training_curves.svg (and dual_surface.svg). */
export async function writeRun(outDir: string, record: RunRecord, dualSpec?: Record<string, unknown>): Promise<string> {
  const dir = path.join(outDir, record.name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'results.json'), `${JSON.stringify(record, null, 2)}\n`);
  fs.writeFileSync(path.join(dir, 'summary.md'), runSummary(record));
  fs.writeFileSync(path.join(dir, 'training_curves.svg'), await renderSvg(trainingCurvesSpec([{ name: record.name, history: record.history }])));
  if (dualSpec !== undefined) fs.writeFileSync(path.join(dir, 'dual_surface.svg'), await renderSvg(dualSpec));
  return dir;
}

/** Every results.json one level under `outDir`, sorted by config then name. */
export function readRuns(outDir: string): RunRecord[] {
  if (!fs.existsSync(outDir)) return [];
  return fs
    .readdirSync(outDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(outDir, e.name, 'results.json')))
    .map((e) => JSON.parse(fs.readFileSync(path.join(outDir, e.name, 'results.json'), 'utf8')) as RunRecord)
    .sort((a, b) => a.configFile.localeCompare(b.configFile) || a.name.localeCompare(b.name));
}

/** Runs grouped by the config file they came from (`configs/clip_table.json` -> `clip_table`). */
export function groupByConfig(runs: RunRecord[]): Map<string, RunRecord[]> {
  const groups = new Map<string, RunRecord[]>();
  for (const run of runs) {
    const key = path.basename(run.configFile, '.json');
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  return groups;
}

/** Per config: `<config>_training.svg` and, when certified, `<config>_certified.svg`, in `dir`. */
export async function writeGroupPlots(dir: string, group: string, runs: RunRecord[]): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const training = path.join(dir, `${group}_training.svg`);
  fs.writeFileSync(training, await renderSvg(trainingCurvesSpec(runs.map((r) => ({ name: r.name, history: r.history })))));
  files.push(training);
  const certified = runs
    .map((r) => ({ name: r.name, certified: (r.results as { certifiedAccuracy?: Record<string, number> }).certifiedAccuracy }))
    .filter((r): r is { name: string; certified: Record<string, number> } => r.certified !== undefined && Object.keys(r.certified).length > 0);
  if (certified.length > 0) {
    const file = path.join(dir, `${group}_certified.svg`);
    fs.writeFileSync(file, await renderSvg(certifiedSpec(certified)));
    files.push(file);
  }
  return files;
}

/** `tfjs-lip report <outDir>`: summary.md and the per-config plots of every run in `outDir`. */
export async function writeReport(outDir: string): Promise<{ summary: string; plots: string[]; runs: number }> {
  const runs = readRuns(outDir);
  const plots: string[] = [];
  const parts = [`# Results in ${outDir}`, ''];
  for (const [group, groupRuns] of groupByConfig(runs)) {
    const files = await writeGroupPlots(outDir, group, groupRuns);
    plots.push(...files);
    parts.push(`# ${group}`, '', ...files.map((f) => `![${path.basename(f)}](${path.basename(f)})`), '', ...groupRuns.map(runSummary));
  }
  const summary = path.join(outDir, 'summary.md');
  fs.writeFileSync(summary, `${parts.join('\n')}\n`);
  return { summary, plots, runs: runs.length };
}
