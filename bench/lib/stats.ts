/** Latency and metrics arithmetic for the benchmark. */

export function sortedCopy(xs: ArrayLike<number>): Float64Array {
  const a = Float64Array.from(xs as ArrayLike<number>);
  a.sort();
  return a;
}

/** The q-quantile (nearest rank) of an ascending array; NaN when empty. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(xs: readonly number[]): number {
  return quantile(sortedCopy(xs), 0.5);
}

export function max(xs: readonly number[]): number {
  return xs.length === 0 ? Number.NaN : Math.max(...xs);
}

/** Prometheus text format: every sample as {name, labels, value}. */
export interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[3]) for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[4]) });
  }
  return out;
}

/** Sum of every sample named `name` whose labels include `match`. */
export function metric(samples: readonly Sample[], name: string, match: Record<string, string> = {}): number {
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}

/** Cumulative histogram buckets (le -> count) of `name`. */
export function histogram(samples: readonly Sample[], name: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket`) continue;
    const le = s.labels['le'] === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels['le']);
    out.set(le, (out.get(le) ?? 0) + s.value);
  }
  return out;
}

/**
 * The bucket upper bound holding the q-quantile of the observations made between two scrapes
 * of a cumulative histogram (what Prometheus' histogram_quantile would bound it by).
 */
export function histogramQuantileBound(before: Map<number, number>, after: Map<number, number>, q: number): { bound: number; count: number } {
  const les = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Number.POSITIVE_INFINITY) ?? 0) - (before.get(Number.POSITIVE_INFINITY) ?? 0);
  if (total <= 0) return { bound: Number.NaN, count: 0 };
  for (const le of les) {
    const c = (after.get(le) ?? 0) - (before.get(le) ?? 0);
    if (c >= q * total) return { bound: le, count: total };
  }
  return { bound: Number.POSITIVE_INFINITY, count: total };
}

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return 'n/a';
  return ms >= 100 ? `${ms.toFixed(0)} ms` : ms >= 10 ? `${ms.toFixed(1)} ms` : `${ms.toFixed(2)} ms`;
}

export function fmtBytes(b: number | null): string {
  if (b === null || !Number.isFinite(b)) return 'n/a';
  if (b >= 1 << 30) return `${(b / (1 << 30)).toFixed(2)} GiB`;
  if (b >= 1 << 20) return `${(b / (1 << 20)).toFixed(1)} MiB`;
  if (b >= 1 << 10) return `${(b / (1 << 10)).toFixed(1)} KiB`;
  return `${b} B`;
}

export function fmtRate(perSec: number, unit = 'ops/s'): string {
  if (!Number.isFinite(perSec)) return 'n/a';
  return `${perSec >= 100 ? perSec.toFixed(0) : perSec.toFixed(1)} ${unit}`;
}
