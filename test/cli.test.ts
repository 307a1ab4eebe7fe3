/**
 * The experiments command line (src/cli, bin/tfjs-lip.js): config validation reports every bad
 * field with its path in one error; a config naming a piece the library lacks says which; the
 * built CLI runs a 1-epoch, 500-sample config end to end in a child process (results JSON,
 * markdown, SVG plots), twice with the same seed for identical results except timings; `list` and
 * `report --page`. Needs dist/ (npm run build); skipped with the reason otherwise.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { LipschitzConfigError } from '../src/core/errors';
import { build } from '../src/cli/registry';
import { parseConfig } from '../src/cli/schema';
import { describeIf } from './helpers/skip';

const ROOT = path.join(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'tfjs-lip.js');
const FIXTURES = path.join(__dirname, 'fixtures', 'cli');
const built = fs.existsSync(path.join(ROOT, 'dist', 'cli', 'index.js'));
const run = promisify(execFile);

function cli(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, CI: '1' }, maxBuffer: 1 << 24 });
}

const GOOD = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'tiny_hkr.json'), 'utf8')) as Record<string, unknown>;

describe('config validation', () => {
  it('accepts the shipped configs and the fixtures', () => {
    for (const dir of [path.join(ROOT, 'configs'), FIXTURES]) {
      for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.json'))) {
        expect(() => parseConfig(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')), f)).not.toThrow();
      }
    }
  });

  it('reports every invalid field with its path in one error', () => {
    const bad = {
      ...GOOD,
      epochs: 0,
      batchSize: 'big',
      data: { source: 'internet', shape: 'flat' },
      optimizer: { name: 'adamw', learningRate: -1 },
      model: { layers: [{ type: 'spectralDense', args: { units: 8 } }, { kind: 'groupSort2' }] },
      evaluation: { certifiedRadii: [0.1, -2] },
      surprise: true,
    };
    let error: unknown;
    try {
      parseConfig(bad, 'bad.json');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LipschitzConfigError);
    const message = (error as Error).message;
    for (const p of ['epochs:', 'batchSize:', 'data.source:', 'optimizer.name:', 'optimizer.learningRate:', 'model', 'evaluation.certifiedRadii[1]:', '(root):']) {
      expect(message).toContain(`  ${p}`);
    }
    expect(message).toMatch(/got 0\)/);
    expect(message).toMatch(/got "adamw"\)/);
    expect(message.split('\n').length).toBeGreaterThanOrEqual(9);
  });

  it('reports a variant\'s own bad field under variants[i] and required fields by task', () => {
    const bad = { ...GOOD, variants: [{ name: 'a', batchSize: -1 }, { name: 'b', epochs: 1.5 }], loss: undefined };
    expect(() => parseConfig(bad, 'v.json')).toThrow(LipschitzConfigError);
    const message = (() => {
      try {
        parseConfig(bad, 'v.json');
        return '';
      } catch (e) {
        return (e as Error).message;
      }
    })();
    for (const line of ['variants[0].batchSize:', 'variants[1].epochs:', "loss: required when task is 'classification'"]) expect(message).toContain(`  ${line}`);
  });

  it('names the missing piece when a config asks for something the library lacks', () => {
    expect(() => build('penalty', 'training.penalties[0].name', 'lipschitzMargin', {})).toThrow(
      /training\.penalties\[0\]\.name expected a name from lip\.penalties, but got 'lipschitzMargin'.*missing piece: lip\.penalties\.lipschitzMargin/,
    );
  });
});

describeIf(built, 'dist/ is not built (npm run build)')('tfjs-lip command line (built, child processes)', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-lip-cli-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const withoutTimings = (file: string): unknown => {
    const json = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    delete json.timings;
    return json;
  };

  it('runs a 1-epoch 500-sample config end to end, twice with the same seed identically (except timings)', async () => {
    const config = path.join(FIXTURES, 'tiny_hkr.json');
    const [a, b] = [path.join(tmp, 'a'), path.join(tmp, 'b')];
    const first = await cli(['run', config, path.join(FIXTURES, 'tiny_wasserstein.json'), '--out', a, '--backend', 'cpu', '--seed', '5']);
    await cli(['run', config, '--out', b, '--backend', 'cpu', '--seed', '5']);
    expect(first.stdout).toMatch(/tiny_hkr epoch 1\/1 {2}loss [-\d.]+ {2}acc [\d.]+/);
    for (const f of ['results.json', 'summary.md', 'training_curves.svg']) expect(fs.existsSync(path.join(a, 'tiny_hkr', f))).toBe(true);
    expect(fs.existsSync(path.join(a, 'tiny_wasserstein', 'dual_surface.svg'))).toBe(true);
    for (const f of ['summary.md', 'tiny_hkr_certified.svg', 'tiny_hkr_training.svg']) expect(fs.existsSync(path.join(a, f))).toBe(true);
    const record = JSON.parse(fs.readFileSync(path.join(a, 'tiny_hkr', 'results.json'), 'utf8'));
    expect(record.seed).toBe(5);
    expect(record.provenance).toEqual(expect.objectContaining({ package: 'tfjs-lip', backend: 'cpu', version: expect.any(String), commit: expect.any(String) }));
    expect(record.config.name).toBe('tiny_hkr');
    expect(record.data.trainSamples).toBe(500);
    expect(record.results.cleanAccuracy).toBeGreaterThan(0.1);
    expect(Object.keys(record.results.certifiedAccuracy)).toEqual(['0', '0.05', '0.1', '0.2']);
    expect(record.timings.epochSeconds).toHaveLength(1);
    expect(withoutTimings(path.join(b, 'tiny_hkr', 'results.json'))).toEqual(withoutTimings(path.join(a, 'tiny_hkr', 'results.json')));
    const svg = fs.readFileSync(path.join(a, 'tiny_hkr_certified.svg'), 'utf8');
    expect(svg).toMatch(/^<svg/);
    expect(svg).toContain('L2 radius epsilon (input units');
    expect(svg).toContain('role-legend');
  }, 120000);

  it('reports a bad config file with every invalid field, exit code 1', async () => {
    const file = path.join(tmp, 'bad.json');
    fs.writeFileSync(file, JSON.stringify({ ...GOOD, epochs: -3, optimizer: { name: 'adamw', learningRate: 0.1 } }));
    const error = (await cli(['run', file, '--out', path.join(tmp, 'bad')]).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(error.code).toBe(1);
    expect(error.stderr).toMatch(/ {2}epochs: .*got -3/);
    expect(error.stderr).toMatch(/ {2}optimizer\.name: .*got "adamw"/);
  }, 60000);

  it('lists the shipped configs and writes the results page from an output folder', async () => {
    const list = await cli(['list']);
    expect(list.stdout).toContain('configs/getting_started_2_hkr.json');
    expect(list.stdout).toContain('penalty names: clip, gradientNorm, jacobianSpectral');
    const out = path.join(tmp, 'a');
    if (!fs.existsSync(path.join(out, 'tiny_hkr', 'results.json'))) return; // the run test failed: it says why
    const page = path.join(tmp, 'page', 'results.md');
    const report = await cli(['report', out, '--page', page]);
    expect(report.stdout).toContain('summary of 2 run(s)');
    const text = fs.readFileSync(page, 'utf8');
    expect(text).toContain('## getting_started_2_hkr');
    expect(text).toContain('Not run on this hardware yet');
  }, 60000);
});
