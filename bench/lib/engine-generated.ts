/**
 * The generated table of the engine benchmark: the same rows built as Cairn segments in JS and
 * as a DuckDB table in SQL, from integer formulas both evaluate exactly (no float rounding, no
 * random generator to keep in step), keyed by a seed.
 *
 * Row i of N: `__time` = T0 + i * stepMs (stepMs = floor(days * 1 day / N), so daily segments
 * hold equal counts); three string dimensions with skewed (product-of-two-uniforms) popularity,
 * like real traffic: `country` 50 values, `product` 2,000, `user` 100,000; a long metric
 * `amount` (0..9,999) and a double `score` (0.00..999.99). A value k of a dimension prints as the
 * prefix and k zero-padded, so string order is k order.
 */
import type { LoadedSegment, MetricSpec } from '@cairn/shared';
import { readSegment, writeSegment } from '@cairn/shared/segment';
import type { DimensionColumn } from '@cairn/shared';

const P = 2_147_483_647;
const DAY_MS = 86_400_000;

export interface GeneratedConfig {
  readonly rows: number;
  readonly days: number;
  readonly seed: number;
  /** First row's time, epoch ms (midnight UTC). */
  readonly t0: number;
}

/** One hash stream: ((i*a + b) mod P, xor-shift, *c mod P, xor-shift); every step stays below 2^53. */
interface Stream {
  readonly a: number;
  readonly b: number;
  readonly c: number;
}

interface DimensionDef {
  readonly name: string;
  readonly prefix: string;
  readonly cardinality: number;
  readonly width: number;
  /** The two hash streams whose product (scaled) picks the value. */
  readonly streams: readonly [number, number];
}

export const DIMENSIONS: readonly DimensionDef[] = [
  { name: 'country', prefix: 'c', cardinality: 50, width: 2, streams: [0, 1] },
  { name: 'product', prefix: 'p', cardinality: 2000, width: 4, streams: [2, 3] },
  { name: 'user', prefix: 'u', cardinality: 100_000, width: 5, streams: [4, 5] },
];
const AMOUNT_STREAM = 6;
const SCORE_STREAM = 7;
const STREAMS = 8;

/** mulberry32: the constants of the hash streams, from the seed. */
function streamsFor(seed: number): Stream[] {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: STREAMS }, () => ({
    a: 1_048_576 + Math.floor(next() * 1_048_576),
    b: Math.floor(next() * P),
    c: 1_048_576 + Math.floor(next() * 1_048_576),
  }));
}

function hash(i: number, k: Stream): number {
  let x = (i * k.a + k.b) % P;
  x ^= x >>> 16;
  x = (x * k.c) % P;
  return x ^ (x >>> 13);
}

export function stepMs(cfg: GeneratedConfig): number {
  const step = Math.floor((cfg.days * DAY_MS) / cfg.rows);
  if (step < 1) throw new Error(`${cfg.rows} rows do not fit in ${cfg.days} days at one row per ms`);
  return step;
}

const label = (d: DimensionDef, k: number) => `${d.prefix}${String(k).padStart(d.width, '0')}`;

/** The value index of dimension `d` in row i. */
function dimValue(d: DimensionDef, i: number, s: readonly Stream[]): number {
  const n = d.cardinality;
  return Math.floor(((hash(i, s[d.streams[0]]!) % n) * (hash(i, s[d.streams[1]]!) % n)) / n);
}

export interface GeneratedSegments {
  readonly segments: LoadedSegment[];
  /** Distinct values per dimension over the whole table, and the largest per segment. */
  readonly distinct: Record<string, { readonly table: number; readonly perSegmentMax: number }>;
  /** Rows whose value is the k-th most popular, per dimension (for choosing filters). */
  readonly counts: Record<string, Float64Array>;
}

/**
 * Builds the table as daily segments, each written with `writeSegment` and read back with
 * `readSegment`, so the engine runs over what a worker would load: per-segment sorted
 * dictionaries of the values present, Float64Array times and metrics.
 */
export function generateSegments(cfg: GeneratedConfig): GeneratedSegments {
  const s = streamsFor(cfg.seed);
  const step = stepMs(cfg);
  const segments: LoadedSegment[] = [];
  const counts: Record<string, Float64Array> = {};
  const perSegmentMax: Record<string, number> = {};
  for (const d of DIMENSIONS) {
    counts[d.name] = new Float64Array(d.cardinality);
    perSegmentMax[d.name] = 0;
  }
  const version = new Date(cfg.t0).toISOString();
  const metrics: MetricSpec[] = [
    { name: 'amount', type: 'longSum', fieldName: 'amount' },
    { name: 'score', type: 'doubleSum', fieldName: 'score' },
  ];
  for (let day = 0, lo = 0; lo < cfg.rows; day++) {
    const end = cfg.t0 + (day + 1) * DAY_MS;
    // Rows whose time falls before the day's end: i * step < (day + 1) * DAY_MS.
    const hi = Math.min(cfg.rows, Math.ceil(((day + 1) * DAY_MS) / step));
    const n = hi - lo;
    if (n <= 0) continue;
    const time = new Float64Array(n);
    const amount = new Float64Array(n);
    const score = new Float64Array(n);
    for (let r = 0; r < n; r++) {
      const i = lo + r;
      time[r] = cfg.t0 + i * step;
      amount[r] = hash(i, s[AMOUNT_STREAM]!) % 10_000;
      score[r] = (hash(i, s[SCORE_STREAM]!) % 100_000) / 100;
    }
    const dimensions: DimensionColumn[] = DIMENSIONS.map((d) => {
      const values = new Int32Array(n);
      const present = new Uint8Array(d.cardinality);
      const c = counts[d.name]!;
      for (let r = 0; r < n; r++) {
        const v = dimValue(d, lo + r, s);
        values[r] = v;
        present[v] = 1;
        c[v]!++;
      }
      // A per-segment sorted dictionary of the values present, as ingestion writes it.
      const codeOf = new Int32Array(d.cardinality);
      const dictionary: string[] = [];
      for (let k = 0; k < d.cardinality; k++) {
        if (present[k]) {
          codeOf[k] = dictionary.length;
          dictionary.push(label(d, k));
        }
      }
      perSegmentMax[d.name] = Math.max(perSegmentMax[d.name]!, dictionary.length);
      for (let r = 0; r < n; r++) values[r] = codeOf[values[r]!]!;
      return { name: d.name, codes: values, dictionary, hasNulls: false };
    });
    const w = writeSegment({
      dataSource: 'gen',
      start: cfg.t0 + day * DAY_MS,
      end,
      version,
      partition: 0,
      partitions: 1,
      rollup: false,
      queryGranularity: 'none',
      time,
      dimensions,
      metrics: [
        { name: 'amount', type: 'long', values: amount, hasNulls: false, spec: metrics[0]! },
        { name: 'score', type: 'double', values: score, hasNulls: false, spec: metrics[1]! },
      ],
    });
    segments.push(readSegment(w.bytes, w.checksum));
    lo = hi;
  }
  const distinct: GeneratedSegments['distinct'] = {};
  for (const d of DIMENSIONS) {
    distinct[d.name] = { table: counts[d.name]!.reduce((a, c) => a + (c > 0 ? 1 : 0), 0), perSegmentMax: perSegmentMax[d.name]! };
  }
  return { segments, distinct, counts };
}

/** The value label of dimension `name` at index k. */
export function valueLabel(name: string, k: number): string {
  const d = DIMENSIONS.find((x) => x.name === name);
  if (!d) throw new Error(`no dimension ${name}`);
  return label(d, k);
}

/**
 * SQL statements creating the same table in DuckDB as `table`, with every dimension as an ENUM
 * type (`<name>_t`) listing all its values in order.
 */
export function duckdbStatements(cfg: GeneratedConfig, table: string): string[] {
  const s = streamsFor(cfg.seed);
  const step = stepMs(cfg);
  const h = (k: Stream) => `gen_hash(i, ${k.a}, ${k.b}, ${k.c})`;
  const dimSql = (d: DimensionDef) => {
    const n = d.cardinality;
    return `labels.${d.name}[((${h(s[d.streams[0]]!)} % ${n}) * (${h(s[d.streams[1]]!)} % ${n})) // ${n} + 1] AS ${d.name}`;
  };
  // Each dimension's values as a list of ENUM values indexed by k + 1: 3x faster than casting
  // a built string per row (the load is not measured, but it is part of the run's length).
  const labelList = (d: DimensionDef) =>
    `(SELECT list(('${d.prefix}' || lpad(k::VARCHAR, ${d.width}, '0'))::${d.name}_t ORDER BY k) FROM range(${d.cardinality}) r(k)) AS ${d.name}`;
  return [
    `CREATE OR REPLACE MACRO gen_xs(x, k) AS xor(x, x >> k)`,
    `CREATE OR REPLACE MACRO gen_hash(i, a, b, c) AS gen_xs((gen_xs((i * a + b) % ${P}, 16) * c) % ${P}, 13)`,
    ...DIMENSIONS.map((d) =>
      `CREATE TYPE ${d.name}_t AS ENUM (SELECT '${d.prefix}' || lpad(k::VARCHAR, ${d.width}, '0') FROM range(${d.cardinality}) r(k) ORDER BY 1)`),
    `CREATE TABLE ${table} AS WITH labels AS (SELECT ${DIMENSIONS.map(labelList).join(', ')}) ` +
      `SELECT epoch_ms(${cfg.t0}::BIGINT + i * ${step}) AS t, ` +
      `${DIMENSIONS.map(dimSql).join(', ')}, ` +
      `${h(s[AMOUNT_STREAM]!)} % 10000 AS amount, ` +
      `(${h(s[SCORE_STREAM]!)} % 100000) / 100.0::DOUBLE AS score ` +
      `FROM range(${cfg.rows}) r(i), labels`,
  ];
}

/** SQL answering true when the table's rows are stored in generation (time) order. */
export function duckdbOrderCheck(cfg: GeneratedConfig, table: string): string {
  return `SELECT bool_and(t = epoch_ms(${cfg.t0}::BIGINT + rowid * ${stepMs(cfg)})) FROM ${table}`;
}
