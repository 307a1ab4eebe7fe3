/**
 * Smoke test of the benchmark harness (`bench/run.mjs`): runs it in quick mode (3 timed runs, tiny
 * epochs, wasm only) as a child process on the built library (`npm test` builds `dist/` before
 * jest), then checks that the JSON it writes is complete and self-consistent: every ratio is the
 * quotient of the medians it reports, no tensor leaks across epochs, the Björck iteration counts
 * are within the layer's limit. Timings themselves are never asserted.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(__dirname, '..');

interface LongRunRow {
  lipP50: number;
  lipP95: number;
  plainP50: number;
  plainP95: number;
  firstKernelCondition: number;
  firstLayerBjorckIterations: number;
}

interface BackendResult {
  longRun: string | {
    epochs: number;
    perEpoch: LongRunRow[];
    stepMs: { lip: { p50: number; p95: number }; plain: { p50: number; p95: number } };
    ratio: { p50: number; p95: number };
  };
  mlpTrainStepMs: { plain: number; spectralDense: number; spectralDenseGroupSort2: number };
  mlpRatio: number;
  mlpGroupSortRatio: number;
  cnnTrainStepMs: { plain: number; lipAvgPool: number; lipL2Pool: number };
  cnnRatio: number;
  cnnL2Ratio: number;
  predictMs: { plain: number; lip: number; exported: number };
  predictLipRatio: number;
  predictExportRatio: number;
  exportPredict: {
    batch: number;
    models: Record<string, { ms: { lip: number; builtin: number; inference: number }; builtinRatio: number; inferenceRatio: number; boundRelativeGap: number }>;
  };
  normalizersMs: Record<string, number>;
  bjorckIterations: {
    steps: number;
    perLayer: Record<string, Record<string, { firstStep: number; meanAfterFirst: number; maxAfterFirst: number; histogram: Record<string, number> }>>;
  };
  memory: Record<string, { rows: Array<{ epoch: number; numTensors: number; rssMB: number }>; numTensorsGrowth: number; rssGrowthMB: number }>;
  numTensorsGrowth: number;
  fullMnistSecondsPerEpoch?: { samples: number; mlpGroupSort2: number; deelLipTutorialCnn: number };
  fullMnist?: string;
  [key: string]: unknown;
}

/** `ratio` is `num / den` rounded to `digits` decimals (the medians are themselves rounded to 1e-3 ms). */
function expectRatio(ratio: number, num: number, den: number, digits: number): void {
  expect(num).toBeGreaterThan(0);
  expect(den).toBeGreaterThan(0);
  const exact = num / den;
  // Rounding of the ratio (half a unit of the last digit) plus that of the two medians.
  const tol = 0.5 * 10 ** -digits + exact * (0.0005 / num + 0.0005 / den) + 1e-12;
  expect(Math.abs(ratio - exact)).toBeLessThanOrEqual(tol);
}

describe('bench/run.mjs --quick', () => {
  let result: { quick: boolean; runs: number; machine: Record<string, unknown>; versions: Record<string, string>; backends: Record<string, BackendResult> };
  const out = path.join(os.tmpdir(), `tfjs-lip-bench-smoke-${process.pid}-${Date.now()}.json`);
  const docs = path.join(root, 'docs', 'benchmarks.md');

  beforeAll(() => {
    if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) {
      throw new Error('dist/ is missing: run `npm run build` first (`npm test` does).');
    }
    const docsBefore = fs.existsSync(docs) ? fs.readFileSync(docs, 'utf8') : null;
    execFileSync(process.execPath, ['--expose-gc', path.join(root, 'bench', 'run.mjs'), '--quick', '--backends', 'wasm', '--out', out], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 240_000,
    });
    result = JSON.parse(fs.readFileSync(out, 'utf8'));
    // A quick run never overwrites the published figures.
    expect(fs.existsSync(docs) ? fs.readFileSync(docs, 'utf8') : null).toBe(docsBefore);
  }, 270_000);

  afterAll(() => {
    if (fs.existsSync(out)) fs.unlinkSync(out);
  });

  it('records the machine, the versions and the run counts', () => {
    expect(result.quick).toBe(true);
    expect(result.runs).toBe(3);
    expect(typeof result.machine['cpuModel']).toBe('string');
    expect(result.versions['tfjs-core']).toMatch(/^\d+\.\d+\.\d+/);
    expect(result.versions['tfjs-backend-wasm']).toMatch(/^\d+\.\d+\.\d+/);
    expect(Object.keys(result.backends)).toEqual(['wasm']);
  });

  it('reports every row without error, each ratio the quotient of the reported medians', () => {
    const r = result.backends['wasm']!;
    const errors = Object.keys(r).filter((k) => k.endsWith('Error'));
    expect(errors.map((k) => `${k}: ${String(r[k])}`)).toEqual([]);
    expectRatio(r.mlpRatio, r.mlpTrainStepMs.spectralDense, r.mlpTrainStepMs.plain, 2);
    expectRatio(r.mlpGroupSortRatio, r.mlpTrainStepMs.spectralDenseGroupSort2, r.mlpTrainStepMs.plain, 2);
    expectRatio(r.cnnRatio, r.cnnTrainStepMs.lipAvgPool, r.cnnTrainStepMs.plain, 2);
    expectRatio(r.cnnL2Ratio, r.cnnTrainStepMs.lipL2Pool, r.cnnTrainStepMs.plain, 2);
    expectRatio(r.predictLipRatio, r.predictMs.lip, r.predictMs.plain, 3);
    expectRatio(r.predictExportRatio, r.predictMs.exported, r.predictMs.plain, 3);
    // Exports of the README architectures: each ratio from its medians, bounds kept to 1e-6.
    expect(Object.keys(r.exportPredict.models).sort()).toEqual(['cnnGroupSort2AvgPool', 'cnnGroupSort2L2Pool', 'mlpGroupSort2']);
    for (const m of Object.values(r.exportPredict.models)) {
      expectRatio(m.builtinRatio, m.ms.builtin, m.ms.lip, 3);
      expectRatio(m.inferenceRatio, m.ms.inference, m.ms.lip, 3);
      expect(m.boundRelativeGap).toBeLessThan(1e-6);
    }
    const normalizers = Object.entries(r.normalizersMs);
    expect(normalizers.length).toBeGreaterThanOrEqual(3);
    normalizers.forEach(([, ms]) => expect(ms).toBeGreaterThan(0));
  });

  it('records the long run (full MNIST when ../shared/data/mnist is present): per-epoch rows, percentiles, their ratio', () => {
    const l = result.backends['wasm']!.longRun;
    if (typeof l === 'string') {
      expect(l).toMatch(/^skipped: .* absent$/);
      return;
    }
    expect(l.perEpoch).toHaveLength(l.epochs);
    for (const p of l.perEpoch) {
      expect(p.lipP95).toBeGreaterThanOrEqual(p.lipP50);
      expect(p.plainP95).toBeGreaterThanOrEqual(p.plainP50);
      expect(p.firstKernelCondition).toBeGreaterThanOrEqual(1);
      expect(p.firstLayerBjorckIterations).toBeLessThanOrEqual(15);
    }
    expectRatio(l.ratio.p50, l.stepMs.lip.p50, l.stepMs.plain.p50, 2);
    expectRatio(l.ratio.p95, l.stepMs.lip.p95, l.stepMs.plain.p95, 2);
  });

  it("records the cost of Local-Lip's certified loss per step and of the local certificate per sample", () => {
    const r = result.backends['wasm']! as BackendResult & {
      localLossStepMs: { plain: number; local: number; global: number };
      localLoss: { localRatio: number; globalRatio: number };
      localCertifyMsPerSample: { local: number; global: number };
    };
    expectRatio(r.localLoss.localRatio, r.localLossStepMs.local, r.localLossStepMs.plain, 2);
    expectRatio(r.localLoss.globalRatio, r.localLossStepMs.global, r.localLossStepMs.plain, 2);
    expect(r.localCertifyMsPerSample.local).toBeGreaterThan(0);
    expect(r.localCertifyMsPerSample.global).toBeGreaterThan(0);
  });

  it('counts the Björck iterations of every normalized layer within maxIterBjorck (15)', () => {
    const { perLayer, steps } = result.backends['wasm']!.bjorckIterations;
    expect(Object.keys(perLayer).sort()).toEqual(['cnn', 'mlp']);
    expect(Object.keys(perLayer['mlp']!)).toHaveLength(3);
    expect(Object.keys(perLayer['cnn']!)).toHaveLength(3);
    for (const layers of Object.values(perLayer)) {
      for (const s of Object.values(layers)) {
        const counts = Object.entries(s.histogram);
        expect(counts.reduce((a, [, c]) => a + c, 0)).toBe(steps - 1);
        counts.forEach(([k]) => expect(Number(k)).toBeLessThanOrEqual(15));
        expect(s.maxAfterFirst).toBe(Math.max(...counts.map(([k]) => Number(k))));
        expect(s.firstStep).toBeLessThanOrEqual(15);
      }
    }
  });

  it('no tensor is leaked across 10 epochs; memory rows are complete', () => {
    const r = result.backends['wasm']!;
    expect(Object.keys(r.memory).sort()).toEqual(['cnn', 'mlp']);
    for (const m of Object.values(r.memory)) {
      expect(m.rows.map((row) => row.epoch)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(m.numTensorsGrowth).toBe(m.rows[9]!.numTensors - m.rows[0]!.numTensors);
      expect(m.numTensorsGrowth).toBe(0);
      expect(m.rssGrowthMB).toBeCloseTo(m.rows[9]!.rssMB - m.rows[0]!.rssMB, 5);
    }
    expect(r.numTensorsGrowth).toBe(0);
  });

  it('times MNIST epochs when the data is present', () => {
    const r = result.backends['wasm']!;
    if (r.fullMnistSecondsPerEpoch == null) {
      expect(r.fullMnist).toMatch(/absent/);
      return;
    }
    expect(r.fullMnistSecondsPerEpoch.samples).toBe(1024);
    expect(r.fullMnistSecondsPerEpoch.mlpGroupSort2).toBeGreaterThan(0);
    expect(r.fullMnistSecondsPerEpoch.deelLipTutorialCnn).toBeGreaterThan(0);
  });
});
