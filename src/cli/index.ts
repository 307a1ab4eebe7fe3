/**
 * `tfjs-lip`: the experiments command line (bin/tfjs-lip.js). A separate entry point, not part of
 * the library's API.
 *
 *   tfjs-lip run <config.json...> [--data <dir>] [--epochs N] [--out <dir>] [--seed N] [--backend b]
 *   tfjs-lip list                       the shipped configs (configs/*.json) and the names a config may use
 *   tfjs-lip report <out-dir> [--page docs/results.md]
 */
import * as fs from 'fs';
import * as path from 'path';
import { Command, InvalidArgumentError } from 'commander';
import * as tf from '@tensorflow/tfjs-core';
import { useFastest } from '../backend';
import { LipschitzConfigError } from '../core/errors';
import { architectureNames } from './model';
import { writeResultsPage, type ShippedConfig } from './page';
import { packageRoot } from './provenance';
import { availableNames } from './registry';
import { writeReport, writeRun } from './report';
import { runOne } from './run';
import { parseConfig } from './schema';

function integer(name: string, min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} expected an integer >= ${min}, but got '${value}'.`);
    return n;
  };
}

/** Reads and validates a config file (every invalid field reported at once). */
export function loadConfig(file: string): ReturnType<typeof parseConfig> {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new LipschitzConfigError(`config expected a readable JSON file, but got '${file}': ${error instanceof Error ? error.message : String(error)}`);
  }
  return parseConfig(json, file);
}

/** The shipped configs, from the package's configs/ folder. */
export function shippedConfigs(): ShippedConfig[] {
  const dir = path.join(packageRoot(), 'configs');
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const json = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as { description?: string };
      return { file: `configs/${f}`, name: path.basename(f, '.json'), description: json.description ?? '' };
    });
}

async function setupBackend(choice: string): Promise<void> {
  if (choice === 'cpu') await useFastest({ native: false, wasm: false });
  else if (choice === 'wasm') await useFastest({ native: false });
  else await useFastest();
  await tf.ready();
}

interface RunOptions {
  data?: string;
  epochs?: number;
  out: string;
  seed?: number;
  backend: string;
  report: boolean;
  only?: string[];
}

async function runCommand(files: string[], options: RunOptions): Promise<void> {
  const configs = files.map((file) => ({ file, runs: loadConfig(file).filter((r) => options.only === undefined || options.only.includes(r.name)) }));
  if (configs.every((c) => c.runs.length === 0)) throw new LipschitzConfigError(`--only expected names of runs in the configs, but got ${JSON.stringify(options.only)}.`);
  await setupBackend(options.backend);
  for (const { file, runs } of configs) {
    for (const run of runs) {
      const record = await runOne(run, file, { dataDir: options.data, epochs: options.epochs, seed: options.seed });
      const { plots, ...rest } = record;
      const dir = await writeRun(options.out, rest, plots.dual);
      process.stdout.write(`${run.name}: results in ${dir}\n`);
    }
  }
  if (options.report) {
    const report = await writeReport(options.out);
    process.stdout.write(`summary of ${report.runs} run(s): ${report.summary}\n`);
  }
}

function listCommand(): void {
  const lines = ['shipped configs (npx tfjs-lip run <file>):'];
  for (const c of shippedConfigs()) lines.push(`  ${c.file.padEnd(36)} ${c.description.split('\n')[0]!.slice(0, 110)}`);
  lines.push('', `architectures: ${architectureNames().join(', ')}`);
  for (const kind of ['loss', 'penalty', 'attack', 'certifiedLoss', 'pair'] as const) lines.push(`${kind} names: ${availableNames(kind).join(', ')}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function reportCommand(outDir: string, options: { page?: string }): Promise<void> {
  const report = await writeReport(outDir);
  process.stdout.write(`summary of ${report.runs} run(s): ${report.summary}\n${report.plots.map((p) => `plot: ${p}`).join('\n')}\n`);
  if (options.page !== undefined) process.stdout.write(`results page: ${await writeResultsPage(outDir, options.page, shippedConfigs())}\n`);
}

/** The commander program (exported for tests of the argument parsing). */
export function program(): Command {
  const cmd = new Command('tfjs-lip').description('Experiments with Lipschitz networks: run configs, list them, report results.').showHelpAfterError();
  cmd
    .command('run')
    .description('train and evaluate each run of the config files; write results.json, summary.md and SVG plots per run')
    .argument('<config...>', 'experiment config JSON file(s)')
    .option('--data <dir>', 'IDX folder (MNIST or Fashion-MNIST) instead of the config\'s data')
    .option('--epochs <n>', 'override the epochs of every run', integer('--epochs', 1))
    .option('--out <dir>', 'output folder', 'results')
    .option('--seed <n>', 'override the seed of every run', integer('--seed', 0))
    .option('--backend <name>', 'fastest, wasm or cpu', 'fastest')
    .option('--only <names...>', 'run only these runs (variant names)')
    .option('--no-report', 'skip the summary of the output folder')
    .action((files: string[], options: RunOptions) => runCommand(files, options));
  cmd.command('list').description('list the shipped configs and the names a config may use').action(listCommand);
  cmd
    .command('report')
    .description('summarize every run of an output folder (summary.md, plots per config)')
    .argument('<out-dir>', 'output folder of tfjs-lip run')
    .option('--page <file>', 'also write the results page (e.g. docs/results.md)')
    .action(reportCommand);
  return cmd;
}

/** Runs the command line; exits 1 with the message on a config error. */
export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await program().parseAsync(argv);
  } catch (error) {
    if (error instanceof LipschitzConfigError) {
      process.stderr.write(`tfjs-lip: ${error.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw error;
  }
}
