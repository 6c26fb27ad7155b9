import type { SegmentColumns } from '@cairn/shared/segment';
import type { DimensionColumn, MetricColumn, MetricSpec } from '@cairn/shared';
import { bucketEnd, truncate } from './granularity.js';
import type { IngestionSpec, MetricSpecInput } from './spec.js';
import { parseTimestamp } from './timestamp.js';

/** A growable typed array: appends amortized O(1), exposes the filled prefix. */
class Column<T extends Float64Array | Int32Array> {
  length = 0;
  constructor(private data: T, private readonly make: (n: number) => T) {}
  push(v: number): void {
    if (this.length === this.data.length) {
      const bigger = this.make(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = v;
  }
  get(i: number): number {
    return this.data[i]!;
  }
  set(i: number, v: number): void {
    this.data[i] = v;
  }
  view(): T {
    return this.data.subarray(0, this.length) as T;
  }
}

const f64 = (n: number) => new Float64Array(n);
const i32 = (n: number) => new Int32Array(n);
const INITIAL_ROWS = 1024;

/** Rows of one segment interval, columnar, with per-interval dictionaries in arrival order. */
class IntervalRows {
  readonly time = new Column(f64(INITIAL_ROWS), f64);
  readonly codes: Column<Int32Array>[];
  readonly dictionaries: Map<string, number>[];
  readonly values: string[][];
  readonly metrics: Column<Float64Array>[];
  readonly rollupIndex: Map<string, number> | null;

  constructor(readonly start: number, readonly end: number, dims: number, metrics: number, rollup: boolean) {
    this.codes = Array.from({ length: dims }, () => new Column(i32(INITIAL_ROWS), i32));
    this.dictionaries = Array.from({ length: dims }, () => new Map());
    this.values = Array.from({ length: dims }, () => []);
    this.metrics = Array.from({ length: metrics }, () => new Column(f64(INITIAL_ROWS), f64));
    this.rollupIndex = rollup ? new Map() : null;
  }

  code(dim: number, value: string | null): number {
    if (value === null) return -1;
    const dict = this.dictionaries[dim]!;
    let c = dict.get(value);
    if (c === undefined) {
      c = dict.size;
      dict.set(value, c);
      this.values[dim]!.push(value);
    }
    return c;
  }

  get rows(): number {
    return this.time.length;
  }
}

export interface BuildStats {
  rowsRead: number;
  rowsRejected: number;
  /** Rows stored after rollup. */
  rowsStored: number;
}

/**
 * Turns input rows into segments: each row's timestamp is truncated to the query granularity,
 * rows are grouped into segment intervals, rolled up if asked (equal truncated time and
 * dimensions combine with each metric's aggregator, and `count` counts the rows combined), sorted
 * by time, and cut into partitions of at most `maxRowsPerSegment` rows.
 */
export class SegmentBuilder {
  private readonly intervals = new Map<number, IntervalRows>();
  private readonly metricInputs: readonly MetricSpecInput[];
  readonly stats: BuildStats = { rowsRead: 0, rowsRejected: 0, rowsStored: 0 };
  private readonly scratch: Float64Array;
  private readonly codeScratch: Int32Array;

  constructor(private readonly spec: IngestionSpec) {
    this.metricInputs = spec.metrics;
    this.scratch = new Float64Array(spec.metrics.length);
    this.codeScratch = new Int32Array(spec.dimensions.length);
  }

  /** Adds one row; returns why it was rejected, or null. A rejected row changes nothing. */
  add(row: Record<string, unknown>): string | null {
    return this.addFrom((name) => row[name]);
  }

  /** Adds one row read through `get` (a column lookup), so columnar inputs need no row objects. */
  addFrom(get: (column: string) => unknown): string | null {
    this.stats.rowsRead++;
    const spec = this.spec;
    const raw = get(spec.timestamp.column);
    const ts = parseTimestamp(raw, spec.timestamp.format);
    if (Number.isNaN(ts)) {
      this.stats.rowsRejected++;
      return raw === undefined || raw === null || raw === ''
        ? `no timestamp in column ${JSON.stringify(spec.timestamp.column)}`
        : `cannot parse timestamp ${preview(raw)} as ${spec.timestamp.format}`;
    }
    // Read every metric input before changing anything.
    for (let m = 0; m < this.metricInputs.length; m++) {
      const spec2 = this.metricInputs[m]!;
      if (spec2.type === 'count') continue;
      const v = toNumber(get(spec2.fieldName!));
      if (v === undefined) {
        this.stats.rowsRejected++;
        return `metric ${spec2.name}: ${JSON.stringify(spec2.fieldName)} is not a number (${preview(get(spec2.fieldName!))})`;
      }
      this.scratch[m] = isLong(spec2) && !Number.isNaN(v) ? Math.trunc(v) : v;
    }
    const t = truncate(ts, spec.queryGranularity);
    const start = truncate(t, spec.segmentGranularity);
    let rows = this.intervals.get(start);
    if (!rows) {
      rows = new IntervalRows(start, bucketEnd(start, spec.segmentGranularity), spec.dimensions.length, this.metricInputs.length, spec.rollup);
      this.intervals.set(start, rows);
    }
    for (let d = 0; d < spec.dimensions.length; d++) this.codeScratch[d] = rows.code(d, toDimension(get(spec.dimensions[d]!)));
    if (rows.rollupIndex) {
      const key = `${t}|${this.codeScratch.join(',')}`;
      const at = rows.rollupIndex.get(key);
      if (at !== undefined) {
        for (let m = 0; m < this.metricInputs.length; m++) {
          const col = rows.metrics[m]!;
          col.set(at, combine(this.metricInputs[m]!.type, col.get(at), this.metricInputs[m]!.type === 'count' ? 1 : this.scratch[m]!));
        }
        return null;
      }
      rows.rollupIndex.set(key, rows.rows);
    }
    rows.time.push(t);
    for (let d = 0; d < spec.dimensions.length; d++) rows.codes[d]!.push(this.codeScratch[d]!);
    for (let m = 0; m < this.metricInputs.length; m++) rows.metrics[m]!.push(this.metricInputs[m]!.type === 'count' ? 1 : this.scratch[m]!);
    this.stats.rowsStored++;
    return null;
  }

  /** The segments, interval by interval in time order, each interval cut into partitions. */
  *segments(version: string): Generator<SegmentColumns> {
    const spec = this.spec;
    const starts = [...this.intervals.keys()].sort((a, b) => a - b);
    for (const start of starts) {
      const rows = this.intervals.get(start)!;
      const order = timeOrder(rows.time.view());
      const partitions = Math.max(1, Math.ceil(order.length / spec.maxRowsPerSegment));
      const per = Math.ceil(order.length / partitions);
      for (let p = 0; p < partitions; p++) {
        const slice = order.subarray(p * per, Math.min(order.length, (p + 1) * per));
        yield this.partition(rows, slice, version, p, partitions);
      }
    }
  }

  get intervalCount(): number {
    return this.intervals.size;
  }

  private partition(rows: IntervalRows, order: Int32Array, version: string, partition: number, partitions: number): SegmentColumns {
    const spec = this.spec;
    const n = order.length;
    const time = new Float64Array(n);
    const t = rows.time.view();
    for (let i = 0; i < n; i++) time[i] = t[order[i]!]!;
    const dimensions: DimensionColumn[] = spec.dimensions.map((name, d) => remap(name, rows.codes[d]!.view(), rows.values[d]!, order));
    const metrics = this.metricInputs.map((m, i) => {
      const src = rows.metrics[i]!.view();
      const values = new Float64Array(n);
      let hasNulls = false;
      for (let r = 0; r < n; r++) {
        const v = src[order[r]!]!;
        values[r] = v;
        if (Number.isNaN(v)) hasNulls = true;
      }
      const column: MetricColumn & { spec: MetricSpec } = {
        name: m.name,
        type: isLong(m) ? 'long' : 'double',
        values,
        hasNulls,
        spec: { name: m.name, type: m.type, ...(m.fieldName !== undefined ? { fieldName: m.fieldName } : {}) },
      };
      return column;
    });
    return {
      dataSource: spec.dataSource,
      start: rows.start,
      end: rows.end,
      version,
      partition,
      partitions,
      rollup: spec.rollup,
      queryGranularity: spec.queryGranularity,
      time,
      dimensions,
      metrics,
    };
  }
}

function isLong(m: MetricSpecInput): boolean {
  return m.type === 'count' || m.type === 'longSum' || m.type === 'longMin' || m.type === 'longMax';
}

/** Rollup's combine; NaN is null and is ignored, as Druid's null handling does for these aggregators. */
function combine(type: MetricSpecInput['type'], acc: number, v: number): number {
  if (type === 'count') return acc + 1;
  if (Number.isNaN(v)) return acc;
  if (Number.isNaN(acc)) return v;
  switch (type) {
    case 'longSum':
    case 'doubleSum':
      return acc + v;
    case 'longMin':
    case 'doubleMin':
      return v < acc ? v : acc;
    case 'longMax':
    case 'doubleMax':
      return v > acc ? v : acc;
  }
}

/** A permutation sorting rows by time, stable; free when the input was already in time order. */
function timeOrder(time: Float64Array): Int32Array {
  const n = time.length;
  const order = new Int32Array(n);
  let sorted = true;
  for (let i = 0; i < n; i++) {
    order[i] = i;
    if (i > 0 && time[i]! < time[i - 1]!) sorted = false;
  }
  if (!sorted) order.sort((a, b) => time[a]! - time[b]! || a - b);
  return order;
}

/** Re-encodes a partition's dimension with a sorted dictionary of just the values it holds. */
function remap(name: string, codes: Int32Array, values: readonly string[], order: Int32Array): DimensionColumn {
  const used = new Uint8Array(values.length);
  let hasNulls = false;
  for (let r = 0; r < order.length; r++) {
    const c = codes[order[r]!]!;
    if (c < 0) hasNulls = true;
    else used[c] = 1;
  }
  const present: number[] = [];
  for (let c = 0; c < used.length; c++) if (used[c]) present.push(c);
  present.sort((a, b) => (values[a]! < values[b]! ? -1 : values[a]! > values[b]! ? 1 : 0));
  const newCode = new Int32Array(values.length);
  present.forEach((old, i) => (newCode[old] = i));
  const out = new Int32Array(order.length);
  for (let r = 0; r < order.length; r++) {
    const c = codes[order[r]!]!;
    out[r] = c < 0 ? -1 : newCode[c]!;
  }
  return { name, codes: out, dictionary: present.map((c) => values[c]!), hasNulls };
}

/** A dimension value as text: null stays null; numbers and booleans print; objects become JSON. */
function toDimension(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v === '' ? null : v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v instanceof Date) return v.toISOString();
  return JSON.stringify(v);
}

/** A metric input: a number (NaN for null), or undefined if it is not numeric. */
function toNumber(v: unknown): number | undefined {
  if (v === null || v === undefined || v === '') return NaN;
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') {
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

function preview(v: unknown): string {
  const text = typeof v === 'string' ? JSON.stringify(v) : String(JSON.stringify(v) ?? v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
