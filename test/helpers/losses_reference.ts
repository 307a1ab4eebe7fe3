/**
 * Float64 plain-JS references of DEEL-LIP's loss formulas (deel/lip/losses.py, TF 1.5) and of
 * deel-torchlip's SoftHKRMulticlassLoss, written from the formulas, independently of src/losses.
 * Each returns per-sample values; `reduceRef` applies a reduction.
 */
export type Matrix = number[][];

const EPS = 1e-7;

export function reduceRef(values: number[], reduction: 'mean' | 'sum' | 'none'): number | number[] {
  const sum = values.reduce((a, b) => a + b, 0);
  if (reduction === 'sum') return sum;
  if (reduction === 'mean') return sum / values.length;
  return values;
}

const relu = (v: number): number => (v > 0 ? v : 0);
const isPos = (v: number): boolean => v > 0;

/** KR: mean_c B f (S/(n+eps) - (1-S)/(B-n+eps)). */
export function krRef(yTrue: Matrix, yPred: Matrix): number[] {
  const b = yPred.length;
  const c = yPred[0]!.length;
  const counts = new Array<number>(c).fill(0);
  yTrue.forEach((row) => row.forEach((v, j) => (counts[j]! += isPos(v) ? 1 : 0)));
  return yPred.map((row, i) => {
    let acc = 0;
    row.forEach((f, j) => {
      const s = isPos(yTrue[i]![j]!) ? 1 : 0;
      acc += b * f * (s / (counts[j]! + EPS) - (1 - s) / (b - counts[j]! + EPS));
    });
    return acc / c;
  });
}

/** Binary hinge: mean_c relu(m/2 - sign f). */
export function hingeRef(yTrue: Matrix, yPred: Matrix, m: number): number[] {
  return yPred.map((row, i) => {
    const total = row.reduce((acc, f, j) => acc + relu(m / 2 - (isPos(yTrue[i]![j]!) ? 1 : -1) * f), 0);
    return total / row.length;
  });
}

export function hkrRef(yTrue: Matrix, yPred: Matrix, alpha: number, m: number): number[] {
  const k = krRef(yTrue, yPred);
  const h = hingeRef(yTrue, yPred, m);
  if (alpha === Infinity) return h;
  return k.map((v, i) => -v + alpha * h[i]!);
}

/**
 * Multiclass hinge in the older DEEL-LIP form (independent of the weighting form in src):
 * sum_{c != t} [relu(m/2 - f_t) + relu(m/2 + f_c)] / C.
 */
export function multiclassHingeRef(yTrue: Matrix, yPred: Matrix, m: number): number[] {
  return yPred.map((row, i) => {
    const t = yTrue[i]!.findIndex(isPos);
    const ft = row[t]!;
    let acc = 0;
    row.forEach((f, j) => {
      if (j !== t) acc += relu(m / 2 - ft) + relu(m / 2 + f);
    });
    return acc / row.length;
  });
}

export function multiclassHKRRef(yTrue: Matrix, yPred: Matrix, alpha: number, m: number): number[] {
  const k = krRef(yTrue, yPred);
  const h = multiclassHingeRef(yTrue, yPred, m);
  if (alpha === Infinity) return h;
  return k.map((v, i) => -v + alpha * h[i]!);
}

export function multiMarginRef(yTrue: Matrix, yPred: Matrix, m: number): number[] {
  return yPred.map((row, i) => {
    const t = yTrue[i]!.findIndex(isPos);
    let acc = 0;
    row.forEach((f, j) => {
      if (j !== t) acc += relu(m - row[t]! + f);
    });
    return acc / row.length;
  });
}

export function categoricalHingeRef(yTrue: Matrix, yPred: Matrix, m: number): number[] {
  return yPred.map((row, i) => {
    const t = yTrue[i]!.findIndex(isPos);
    const neg = Math.max(...row.filter((_, j) => j !== t));
    return relu(m - (row[t]! - neg));
  });
}

function logSumExp(v: number[]): number {
  const mx = Math.max(...v);
  return mx + Math.log(v.reduce((a, x) => a + Math.exp(x - mx), 0));
}

export function tauCategoricalRef(yTrue: Matrix, yPred: Matrix, tau: number): number[] {
  return yPred.map((row, i) => {
    const z = row.map((f) => tau * f);
    const lse = logSumExp(z);
    return -yTrue[i]!.reduce((a, y, j) => a + y * (z[j]! - lse), 0) / tau;
  });
}

export function tauSparseRef(labels: number[], yPred: Matrix, tau: number): number[] {
  return yPred.map((row, i) => {
    const z = row.map((f) => tau * f);
    return -(z[labels[i]!]! - logSumExp(z)) / tau;
  });
}

export function tauBinaryRef(yTrue: Matrix, yPred: Matrix, tau: number): number[] {
  return yPred.map((row, i) => {
    const total = row.reduce((acc, f, j) => {
      const y = isPos(yTrue[i]![j]!) ? 1 : 0;
      const p = 1 / (1 + Math.exp(-tau * f));
      return acc - (y * Math.log(p) + (1 - y) * Math.log(1 - p));
    }, 0);
    return total / row.length / tau;
  });
}

/**
 * deel-torchlip SoftHKRMulticlassLoss, one call: returns the per-sample values, the stored running
 * mean after the call and the temperature used. `fixedTemperature` replaces the computed one (the
 * gradient treats it as a constant).
 */
export function softHKRRef(
  yTrue: Matrix,
  yPred: Matrix,
  opts: { alpha: number; minMargin: number; alphaMean: number; temperature: number },
  mean: number,
  fixedTemperature?: number,
): { values: number[]; mean: number; temperature: number } {
  const { alpha, minMargin: m, alphaMean, temperature } = opts;
  const count = yPred.length * yPred[0]!.length;
  const absMean = yPred.flat().reduce((a, v) => a + Math.abs(v), 0) / count;
  const updated = alphaMean * mean + (1 - alphaMean) * absMean;
  const clip = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
  const stored = clip(updated, 0.005, 1000);
  const total = clip(updated, m, 20000);
  const temp = fixedTemperature ?? clip((temperature * m) / total, 0.005, 250);
  const values = yPred.map((row, i) => {
    const pos = yTrue[i]!.map(isPos);
    const others = row.map((f, j) => (pos[j] ? -Infinity : temp * f));
    const mx = Math.max(...others);
    const exps = others.map((v) => (v === -Infinity ? 0 : Math.exp(v - mx)));
    const z = exps.reduce((a, v) => a + v, 0);
    const w = exps.map((e, j) => (pos[j] ? 1 : e / z));
    let kr = 0;
    let hinge = 0;
    row.forEach((f, j) => {
      const s = (pos[j] ? 1 : -1) * f;
      kr += w[j]! * -s;
      hinge += w[j]! * relu(m / 2 - s);
    });
    return (1 - alpha) * kr + alpha * hinge;
  });
  return { values, mean: stored, temperature: temp };
}
