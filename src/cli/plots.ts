/**
 * SVG plots of the experiments, drawn by Vega-Lite specs rendered to SVG by Vega in Node
 * (`view.toSVG()`): training curves, certified accuracy against radius (several runs on one
 * chart), and the learned Wasserstein dual potential against the analytic one. Every chart has
 * titled axes with their units and a legend.
 */

type Row = Record<string, number | string>;

/** Vega and Vega-Lite are ES modules only: loaded with a real dynamic import, not `require`. */
const importModule = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;

interface VegaModules {
  vega: { View: new (runtime: unknown, options: { renderer: string }) => { toSVG(): Promise<string>; finalize(): void }; parse(spec: unknown): unknown };
  vegaLite: { compile(spec: unknown): { spec: unknown } };
}

let modules: Promise<VegaModules> | undefined;
function loadVega(): Promise<VegaModules> {
  modules ??= Promise.all([importModule('vega'), importModule('vega-lite')]).then(([vega, vegaLite]) => ({
    vega: vega as VegaModules['vega'],
    vegaLite: vegaLite as VegaModules['vegaLite'],
  }));
  return modules;
}

/** Renders a Vega-Lite spec to an SVG string. */
export async function renderSvg(spec: Record<string, unknown>): Promise<string> {
  const { vega, vegaLite } = await loadVega();
  const full = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', width: 420, height: 260, background: 'white', ...spec };
  const view = new vega.View(vega.parse(vegaLite.compile(full).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function lineChart(args: { title: string; rows: Row[]; x: string; xTitle: string; y: string; yTitle: string; series: string; legend: string; yDomain?: [number, number]; facet?: { field: string; title: string } }): Record<string, unknown> {
  const encoding: Record<string, unknown> = {
    x: { field: args.x, type: 'quantitative', title: args.xTitle },
    y: { field: args.y, type: 'quantitative', title: args.yTitle, ...(args.yDomain ? { scale: { domain: args.yDomain } } : {}) },
    color: { field: args.series, type: 'nominal', title: args.legend, legend: { orient: 'right' } },
  };
  const layer = { mark: { type: 'line', point: args.rows.length <= 60 }, encoding };
  if (args.facet === undefined) return { title: args.title, data: { values: args.rows }, ...layer };
  return {
    title: args.title,
    data: { values: args.rows },
    facet: { field: args.facet.field, type: 'nominal', title: args.facet.title },
    columns: 2,
    spec: { width: 300, height: 200, ...layer },
    resolve: { scale: { y: 'independent' } },
  };
}

/**
 * Training curves: one panel per logged quantity (loss, accuracy, penalties), one line per run,
 * against the epoch.
 */
export function trainingCurvesSpec(runs: { name: string; history: Record<string, number[]> }[]): Record<string, unknown> {
  const rows: Row[] = [];
  for (const run of runs) {
    for (const [metric, values] of Object.entries(run.history)) {
      values.forEach((value, i) => {
        if (Number.isFinite(value)) rows.push({ run: run.name, metric: metricTitle(metric), epoch: i + 1, value });
      });
    }
  }
  return lineChart({ title: 'Training curves', rows, x: 'epoch', xTitle: 'epoch (passes over the training set)', y: 'value', yTitle: 'value (loss: loss units; accuracy: fraction)', series: 'run', legend: 'run', facet: { field: 'metric', title: 'logged quantity' } });
}

function metricTitle(key: string): string {
  if (key === 'acc' || key === 'accuracy') return 'training accuracy (fraction)';
  if (key === 'loss') return 'training loss';
  return key.replace(/_/g, ' ');
}

/** Certified accuracy (fraction of test images) against the L2 radius, one line per run. */
export function certifiedSpec(runs: { name: string; certified: Record<string, number> }[]): Record<string, unknown> {
  const rows: Row[] = runs.flatMap((run) => Object.entries(run.certified).map(([radius, accuracy]) => ({ run: run.name, radius: Number(radius), accuracy })));
  return lineChart({ title: 'Certified accuracy against radius', rows, x: 'radius', xTitle: 'L2 radius epsilon (input units, pixels in [0, 1])', y: 'accuracy', yTitle: 'certified accuracy (fraction of test images)', series: 'run', legend: 'run', yDomain: [0, 1] });
}

/** The learned dual potential and the analytic one along a line through the input space. */
export function dualSurfaceSpec(args: { title: string; t: number[]; learned: number[]; analytic: number[] }): Record<string, unknown> {
  const rows: Row[] = [];
  args.t.forEach((t, i) => {
    rows.push({ t, value: args.learned[i]!, potential: 'learned f (network)' });
    rows.push({ t, value: args.analytic[i]!, potential: 'analytic f* (optimal dual)' });
  });
  return lineChart({ title: args.title, rows, x: 't', xTitle: 't: position along the first axis through the first center (input units)', y: 'value', yTitle: 'potential f(x) (output units, shifted to equal means)', series: 'potential', legend: 'potential' });
}
