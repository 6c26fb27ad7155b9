/**
 * Builds a `LoadedSegment` from plain rows, for tests and benchmarks: rows sorted by time
 * (stably, so rows with equal times keep their order), dictionaries sorted ascending, nulls as
 * code -1 and NaN. Not for production ingestion (it is row-at-a-time).
 */
import { formatInstant, type LoadedSegment, type MetricType, type SegmentMeta, TIME_COLUMN } from '@cairn/shared';

export interface RowsSpec {
  dataSource?: string;
  /** The segment's interval; defaults to [min time, max time + 1). */
  start?: number;
  end?: number;
  version?: string;
  partition?: number;
  dimensions: readonly string[];
  metrics: readonly { name: string; type: MetricType }[];
  rows: readonly Record<string, unknown>[];
}

/** A segment holding `spec.rows` (each with `__time` in epoch ms, dimension strings or null, metric numbers or null). */
export function segmentFromRows(spec: RowsSpec): LoadedSegment {
  const order = spec.rows.map((_, i) => i);
  const timeOf = (i: number) => spec.rows[i]![TIME_COLUMN] as number;
  order.sort((a, b) => timeOf(a) - timeOf(b) || a - b);
  const n = order.length;
  const time = new Float64Array(n);
  order.forEach((r, i) => {
    time[i] = timeOf(r);
  });
  const dimensions = new Map<string, { name: string; codes: Int32Array; dictionary: string[]; hasNulls: boolean }>();
  for (const name of spec.dimensions) {
    const values = new Set<string>();
    for (const row of spec.rows) {
      const v = row[name];
      if (v !== null && v !== undefined) values.add(String(v));
    }
    const dictionary = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const index = new Map(dictionary.map((v, i) => [v, i]));
    const codes = new Int32Array(n);
    let hasNulls = false;
    order.forEach((r, i) => {
      const v = spec.rows[r]![name];
      if (v === null || v === undefined) {
        codes[i] = -1;
        hasNulls = true;
      } else {
        codes[i] = index.get(String(v))!;
      }
    });
    dimensions.set(name, { name, codes, dictionary, hasNulls });
  }
  const metrics = new Map<string, { name: string; type: MetricType; values: Float64Array; hasNulls: boolean }>();
  for (const { name, type } of spec.metrics) {
    const values = new Float64Array(n);
    let hasNulls = false;
    order.forEach((r, i) => {
      const v = spec.rows[r]![name];
      if (v === null || v === undefined) {
        values[i] = NaN;
        hasNulls = true;
      } else {
        values[i] = Number(v);
      }
    });
    metrics.set(name, { name, type, values, hasNulls });
  }
  const minTime = n > 0 ? time[0]! : 0;
  const maxTime = n > 0 ? time[n - 1]! : 0;
  const start = spec.start ?? minTime;
  const end = spec.end ?? (n > 0 ? maxTime + 1 : start + 1);
  const dataSource = spec.dataSource ?? 'test';
  const version = spec.version ?? '2020-01-01T00:00:00.000Z';
  const partition = spec.partition ?? 0;
  const meta: SegmentMeta = {
    formatVersion: 1,
    dataSource,
    start,
    end,
    version,
    partition,
    partitions: 1,
    rowCount: n,
    minTime,
    maxTime,
    rollup: false,
    queryGranularity: 'none',
    dimensions: [...spec.dimensions],
    metrics: spec.metrics.map((m) => ({ name: m.name, type: m.type === 'long' ? 'longSum' : 'doubleSum', fieldName: m.name })),
    columns: [],
  };
  return {
    id: `${dataSource}_${formatInstant(start)}_${formatInstant(end)}_${version}${partition ? `_${partition}` : ''}`,
    meta,
    rowCount: n,
    time,
    dimensions,
    metrics,
  };
}
