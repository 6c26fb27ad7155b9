/**
 * A quick speed measurement of the engine against DuckDB (single-threaded), over the same
 * generated table: 10 million rows (`CAIRN_ROWS` to change), one row every 360 ms, dimensions of
 * 1000, 100 and 50 values, a long and a double metric. Prints rows per second per query shape,
 * best of `CAIRN_RUNS` runs. Not a test: speed is never asserted.
 *
 *   npx tsx packages/worker/src/engine/speed.ts
 *   CAIRN_SEGMENTS=100 npx tsx packages/worker/src/engine/speed.ts   # 100 segments of 100,000 rows
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { finalizeResult, mergePartials, parseQuery, type LoadedSegment } from '@cairn/shared';
import { runOnSegment } from './run.js';

const rows = Number(process.env['CAIRN_ROWS'] ?? 10_000_000);
/** The table as this many time-sliced segments (merged with mergePartials), as a worker would hold it. */
const segmentCount = Number(process.env['CAIRN_SEGMENTS'] ?? 1);
const runs = Number(process.env['CAIRN_RUNS'] ?? 5);
const T0 = Date.UTC(2024, 0, 1);
const STEP = 360;

/** The same integer formulas in JS and SQL, so both sides hold identical data. */
const mix = (i: number, a: number) => (i * a) % 2147483647;
const formulas = {
  d1: (i: number) => mix(i, 48271) % 1000,
  d2: (i: number) => mix(i, 69621) % 100,
  d3: (i: number) => mix(i, 40692) % 50,
  m1: (i: number) => mix(i, 16807) % 1000,
  m2: (i: number) => (mix(i, 16807) % 10000) / 100,
};
const sqlFormulas = {
  d1: `'v' || ((i * 48271) % 2147483647) % 1000`,
  d2: `'w' || ((i * 69621) % 2147483647) % 100`,
  d3: `'x' || ((i * 40692) % 2147483647) % 50`,
  m1: `((i * 16807) % 2147483647) % 1000`,
  m2: `(((i * 16807) % 2147483647) % 10000) / 100.0`,
};

function dimension(name: string, prefix: string, card: number, f: (i: number) => number) {
  const values = Array.from({ length: card }, (_, k) => `${prefix}${k}`);
  const dictionary = [...values].sort();
  const codeOf = new Int32Array(card);
  values.forEach((v, k) => {
    codeOf[k] = dictionary.indexOf(v);
  });
  const codes = new Int32Array(rows);
  for (let i = 0; i < rows; i++) codes[i] = codeOf[f(i)]!;
  return { name, codes, dictionary, hasNulls: false };
}

function buildSegment(): LoadedSegment {
  const time = new Float64Array(rows);
  const m1 = new Float64Array(rows);
  const m2 = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    time[i] = T0 + i * STEP;
    m1[i] = formulas.m1(i);
    m2[i] = formulas.m2(i);
  }
  const end = T0 + rows * STEP;
  return {
    id: 'bench',
    rowCount: rows,
    time,
    dimensions: new Map([
      ['d1', dimension('d1', 'v', 1000, formulas.d1)],
      ['d2', dimension('d2', 'w', 100, formulas.d2)],
      ['d3', dimension('d3', 'x', 50, formulas.d3)],
    ]),
    metrics: new Map([
      ['m1', { name: 'm1', type: 'long' as const, values: m1, hasNulls: false }],
      ['m2', { name: 'm2', type: 'double' as const, values: m2, hasNulls: false }],
    ]),
    meta: {
      formatVersion: 1,
      dataSource: 'bench',
      start: T0,
      end,
      version: 'v1',
      partition: 0,
      partitions: 1,
      rowCount: rows,
      minTime: T0,
      maxTime: end - STEP,
      rollup: false,
      queryGranularity: 'none',
      dimensions: ['d1', 'd2', 'd3'],
      metrics: [],
      columns: [],
    },
  };
}

const interval = [`${new Date(T0).toISOString()}/${new Date(T0 + rows * STEP).toISOString()}`];
const base = { dataSource: 'bench', intervals: interval };
const shapes: { name: string; druid: object; sql: string }[] = [
  {
    name: 'filtered timeseries (hour, d2 = w7, count+sum+sum)',
    druid: {
      ...base,
      queryType: 'timeseries',
      granularity: 'hour',
      filter: { type: 'selector', dimension: 'd2', value: 'w7' },
      aggregations: [{ type: 'count', name: 'c' }, { type: 'longSum', name: 's', fieldName: 'm1' }, { type: 'doubleSum', name: 'x', fieldName: 'm2' }],
    },
    sql: `SELECT t - t % 3600000 AS h, count(*), sum(m1), sum(m2) FROM bench WHERE d2 = 'w7' GROUP BY 1`,
  },
  {
    name: 'topN (d1 by longSum, threshold 10)',
    druid: { ...base, queryType: 'topN', granularity: 'all', dimension: 'd1', metric: 's', threshold: 10, aggregations: [{ type: 'longSum', name: 's', fieldName: 'm1' }] },
    sql: `SELECT d1, sum(m1) AS s FROM bench GROUP BY d1 ORDER BY s DESC LIMIT 10`,
  },
  {
    name: 'groupBy two dimensions (d2, d3: count+sum)',
    druid: {
      ...base,
      queryType: 'groupBy',
      granularity: 'all',
      dimensions: ['d2', 'd3'],
      aggregations: [{ type: 'count', name: 'c' }, { type: 'longSum', name: 's', fieldName: 'm1' }],
    },
    sql: `SELECT d2, d3, count(*), sum(m1) FROM bench GROUP BY d2, d3`,
  },
  {
    name: 'timeseries all (count, sum, min, max)',
    druid: {
      ...base,
      queryType: 'timeseries',
      granularity: 'all',
      aggregations: [
        { type: 'count', name: 'c' },
        { type: 'longSum', name: 's', fieldName: 'm1' },
        { type: 'doubleMin', name: 'lo', fieldName: 'm2' },
        { type: 'doubleMax', name: 'hi', fieldName: 'm2' },
      ],
    },
    sql: `SELECT count(*), sum(m1), min(m2), max(m2) FROM bench`,
  },
  {
    name: 'filtered timeseries (day, in + numeric bound)',
    druid: {
      ...base,
      queryType: 'timeseries',
      granularity: 'day',
      filter: {
        type: 'and',
        fields: [
          { type: 'in', dimension: 'd1', values: ['v1', 'v2', 'v3', 'v500', 'v999'] },
          { type: 'bound', dimension: 'm1', lower: '500', ordering: 'numeric' },
        ],
      },
      aggregations: [{ type: 'count', name: 'c' }, { type: 'doubleSum', name: 'x', fieldName: 'm2' }],
    },
    sql: `SELECT t - t % 86400000 AS h, count(*), sum(m2) FROM bench WHERE d1 IN ('v1', 'v2', 'v3', 'v500', 'v999') AND m1 >= 500 GROUP BY 1`,
  },
  {
    name: 'groupBy 100k groups (d1, d2: count+sum)',
    druid: { ...base, queryType: 'groupBy', granularity: 'all', dimensions: ['d1', 'd2'], aggregations: [{ type: 'count', name: 'c' }, { type: 'doubleSum', name: 'x', fieldName: 'm2' }] },
    sql: `SELECT d1, d2, count(*), sum(m2) FROM bench GROUP BY d1, d2`,
  },
  {
    name: 'groupBy hourly by d3 (12k groups)',
    druid: { ...base, queryType: 'groupBy', granularity: 'day', dimensions: ['d3'], aggregations: [{ type: 'longSum', name: 's', fieldName: 'm1' }] },
    sql: `SELECT t - t % 86400000 AS h, d3, sum(m1) FROM bench GROUP BY 1, 2`,
  },
  {
    name: 'cardinality (HLL) of d1 vs count(DISTINCT)',
    druid: { ...base, queryType: 'timeseries', granularity: 'all', aggregations: [{ type: 'cardinality', name: 'u', fields: ['d1'] }] },
    sql: `SELECT count(DISTINCT d1) FROM bench`,
  },
  {
    name: 'quantiles sketch of m2 vs quantile_cont',
    druid: {
      ...base,
      queryType: 'timeseries',
      granularity: 'all',
      aggregations: [{ type: 'quantilesDoublesSketch', name: 'q', fieldName: 'm2' }],
      postAggregations: [{ type: 'quantilesDoublesSketchToQuantile', name: 'p95', field: { type: 'fieldAccess', fieldName: 'q' }, fraction: 0.95 }],
    },
    sql: `SELECT quantile_cont(m2, 0.95) FROM bench`,
  },
  {
    name: 'scan 1000 rows with a filter',
    druid: { ...base, queryType: 'scan', limit: 1000, filter: { type: 'selector', dimension: 'd1', value: 'v7' } },
    sql: `SELECT * FROM bench WHERE d1 = 'v7' LIMIT 1000`,
  },
];

/** Rows [lo, hi) of a segment, as a segment of their own (views, no copies). */
function slice(s: LoadedSegment, lo: number, hi: number, index: number): LoadedSegment {
  const start = T0 + lo * STEP;
  const end = T0 + hi * STEP;
  return {
    id: `bench_${index}`,
    rowCount: hi - lo,
    time: s.time.subarray(lo, hi),
    dimensions: new Map([...s.dimensions].map(([k, d]) => [k, { ...d, codes: d.codes.subarray(lo, hi) }])),
    metrics: new Map([...s.metrics].map(([k, m]) => [k, { ...m, values: m.values.subarray(lo, hi) }])),
    meta: { ...s.meta, start, end, rowCount: hi - lo, minTime: start, maxTime: end - STEP },
  };
}

function best(f: () => void): number {
  let min = Infinity;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    f();
    min = Math.min(min, performance.now() - t0);
  }
  return min;
}

async function main(): Promise<void> {
  console.log(`building ${rows.toLocaleString()} rows...`);
  const whole = buildSegment();
  const segments = Array.from({ length: segmentCount }, (_, i) => slice(whole, Math.floor((i * rows) / segmentCount), Math.floor(((i + 1) * rows) / segmentCount), i));
  console.log(`${segmentCount} segment(s)`);
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const duck = await instance.connect();
  await duck.run(
    `CREATE TABLE bench AS SELECT ${T0}::BIGINT + i * ${STEP} AS t, ${sqlFormulas.d1} AS d1, ${sqlFormulas.d2} AS d2, ${sqlFormulas.d3} AS d3, ${sqlFormulas.m1} AS m1, ${sqlFormulas.m2}::DOUBLE AS m2 FROM range(${rows}) r(i)`,
  );
  console.log('| shape | engine ms | engine rows/s | DuckDB ms | DuckDB rows/s | ratio |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const s of shapes) {
    const q = parseQuery(s.druid);
    let result: unknown;
    const ms = best(() => {
      result = finalizeResult(q, mergePartials(q, segments.map((seg) => runOnSegment(q, seg))));
    });
    void result;
    let dms = Infinity;
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      await duck.runAndReadAll(s.sql);
      dms = Math.min(dms, performance.now() - t0);
    }
    const rate = (x: number) => `${((rows / x) * 1000 / 1e6).toFixed(0)}M`;
    console.log(`| ${s.name} | ${ms.toFixed(1)} | ${rate(ms)} | ${dms.toFixed(1)} | ${rate(dms)} | ${(dms / ms).toFixed(2)}x |`);
  }
  duck.closeSync();
  instance.closeSync();
}

await main();
