/** runOnSegment: cancellation, deadlines, named limits, and edge cases of segments and queries. */
import { finalizeResult, mergePartials, parseQuery, QueryError, type LoadedSegment, type Query } from '@cairn/shared';
import t from 'tap';
import { chunkRows } from './execution.js';
import { runOnSegment } from './run.js';
import { specializeRowsMin } from './fused.js';
import { segmentFromRows } from './segment-from-rows.js';

const DAY = Date.UTC(2024, 0, 1);
function segment(rows: number, start = DAY): LoadedSegment {
  return segmentFromRows({
    start,
    end: start + 86_400_000,
    dimensions: ['d', 'u'],
    metrics: [{ name: 'm', type: 'long' }],
    rows: Array.from({ length: rows }, (_, i) => ({ __time: start + Math.floor((i * 86_400_000) / Math.max(rows, 1)), d: `d${i % 7}`, u: `u${i}`, m: i % 100 })),
  });
}
const base = { dataSource: 'test', intervals: ['2024-01-01/2024-01-02'] };
const answer = (q: Query, segs: LoadedSegment[]) => finalizeResult(q, mergePartials(q, segs.map((s) => runOnSegment(q, s))));

t.test('isCancelled stops a query between chunks', async (t) => {
  const seg = segment(5 * chunkRows);
  const q = parseQuery({ ...base, queryType: 'groupBy', granularity: 'all', dimensions: ['d'], aggregations: [{ type: 'count', name: 'c' }] });
  let calls = 0;
  t.throws(() => runOnSegment(q, seg, { isCancelled: () => ++calls > 2 }), { code: 'QUERY_CANCELLED' });
  t.equal(calls, 3, 'it stopped at the first check that saw the cancellation');
  const err = (() => {
    try {
      runOnSegment(q, seg, { isCancelled: () => true });
    } catch (e) {
      return e as QueryError;
    }
  })()!;
  t.same(err.toDruid().error, 'Query cancelled');
});

t.test('a deadline on an injected clock times the query out', async (t) => {
  const seg = segment(5 * chunkRows);
  const q = parseQuery({ ...base, queryType: 'timeseries', granularity: 'hour', aggregations: [{ type: 'longSum', name: 's', fieldName: 'm' }], context: { timeout: 10 } });
  let now = 0;
  t.throws(() => runOnSegment(q, seg, { deadlineMs: 3, now: () => now++ }), { code: 'QUERY_TIMEOUT' });
  t.ok(now < 10, `stopped after ${now} clock reads`);
  t.doesNotThrow(() => runOnSegment(q, seg, { deadlineMs: 1e9, now: () => 0 }));
  t.equal(new QueryError('QUERY_TIMEOUT', 'x').status, 504);
});

t.test('named limits answer RESOURCE_LIMIT instead of exhausting memory', async (t) => {
  const seg = segment(1000);
  const buckets = parseQuery({ queryType: 'timeseries', dataSource: 'test', intervals: ['2000/2030'], granularity: 'second', aggregations: [{ type: 'count', name: 'c' }] });
  const decades = segmentFromRows({ start: Date.UTC(2000, 0, 1), end: Date.UTC(2030, 0, 1), dimensions: [], metrics: [], rows: [] });
  t.throws(() => runOnSegment(buckets, decades), { code: 'RESOURCE_LIMIT' }, 'a billion one-second buckets');
  const scan = (extra: object) => parseQuery({ ...base, queryType: 'scan', order: 'ascending', ...extra });
  t.throws(() => runOnSegment(scan({}), seg), { code: 'RESOURCE_LIMIT' }, 'ordered scans need a limit');
  t.throws(() => runOnSegment(scan({ limit: 200_000 }), seg), { code: 'RESOURCE_LIMIT' }, 'at most maxRowsQueuedForOrdering (100000)');
  t.equal((answer(scan({ limit: 200_000, context: { maxRowsQueuedForOrdering: 1e6 } }), [seg]) as { events: unknown[] }[])[0]!.events.length, 1000, 'unless the context raises the bound');
});

t.test('empty segments, missing columns and disjoint intervals', async (t) => {
  const empty = segmentFromRows({ start: DAY, end: DAY + 86_400_000, dimensions: ['d'], metrics: [{ name: 'm', type: 'long' }], rows: [] });
  const ts = parseQuery({ ...base, queryType: 'timeseries', granularity: 'all', aggregations: [{ type: 'count', name: 'c' }, { type: 'longSum', name: 's', fieldName: 'nope' }] });
  t.same(answer(ts, [empty]), [{ timestamp: '2024-01-01T00:00:00.000Z', result: { c: 0, s: null } }], 'an empty segment still yields its (empty) bucket');
  t.same(answer(ts, [segment(10)]), [{ timestamp: '2024-01-01T00:00:00.000Z', result: { c: 10, s: null } }], 'a missing column is null');
  const elsewhere = parseQuery({ ...ts, intervals: ['2025/2026'], queryType: 'timeseries', dataSource: 'test', granularity: 'all', aggregations: [{ type: 'count', name: 'c' }] });
  t.same(answer(elsewhere, [segment(10)]), [], 'no overlap, no rows');
  const gb = parseQuery({ ...base, queryType: 'groupBy', granularity: 'all', dimensions: ['missing', 'd'], aggregations: [{ type: 'count', name: 'c' }], limitSpec: { limit: 2 } });
  t.same(answer(gb, [segment(14)]), [
    { version: 'v1', timestamp: '2024-01-01T00:00:00.000Z', event: { missing: null, d: 'd0', c: 2 } },
    { version: 'v1', timestamp: '2024-01-01T00:00:00.000Z', event: { missing: null, d: 'd1', c: 2 } },
  ]);
  const summary = parseQuery({ ...base, queryType: 'groupBy', granularity: 'all', filter: { type: 'false' }, aggregations: [{ type: 'count', name: 'c' }] });
  t.same(answer(summary, [segment(5)]), [{ version: 'v1', timestamp: '2024-01-01T00:00:00.000Z', event: { c: 0 } }], 'groupBy without dimensions over no rows: one summary row');
  const tb = parseQuery({ queryType: 'timeBoundary', dataSource: 'test', filter: { type: 'selector', dimension: 'd', value: 'none' } });
  t.same(answer(tb, [segment(5), empty]), []);
  const sm = parseQuery({ queryType: 'segmentMetadata', dataSource: 'test', analysisTypes: ['cardinality', 'aggregators', 'queryGranularity', 'rollup', 'timestampSpec'] });
  const [analysis] = answer(sm, [segment(20)]) as { columns: Record<string, { cardinality: number | null; size: number }>; aggregators: unknown; rollup: boolean; queryGranularity: unknown; numRows: number }[];
  t.same([analysis!.numRows, analysis!.columns['u']!.cardinality, analysis!.columns['__time']!.cardinality, analysis!.columns['m']!.size, analysis!.rollup], [20, 20, null, 0, false]);
  t.same(analysis!.aggregators, { m: { type: 'longSum', name: 'm', fieldName: 'm' } });
  t.same(analysis!.queryGranularity, { type: 'none' });
});

t.test('partials are JSON and the same with or without the trip', async (t) => {
  const segs = [segment(3000), segment(2000, DAY + 86_400_000)];
  const q = parseQuery({
    dataSource: 'test',
    intervals: ['2024-01-01/2024-01-03'],
    queryType: 'topN',
    granularity: 'day',
    dimension: 'd',
    metric: 'u',
    threshold: 3,
    aggregations: [{ type: 'cardinality', name: 'u', fields: ['u'] }, { type: 'quantilesDoublesSketch', name: 'q', fieldName: 'm', k: 32 }],
    postAggregations: [{ type: 'quantilesDoublesSketchToQuantiles', name: 'p', field: { type: 'fieldAccess', fieldName: 'q' }, fractions: [0.5, 0.9] }],
  });
  const partials = segs.map((s) => runOnSegment(q, s));
  const tripped = partials.map((p) => JSON.parse(JSON.stringify(p)));
  t.same(finalizeResult(q, mergePartials(q, tripped)), finalizeResult(q, mergePartials(q, partials)));
});

t.test('the topN approximation: each segment sends only its best max(threshold, minTopNThreshold)', async (t) => {
  // "x" ranks second in every segment, but the first place differs per segment: with depth 1,
  // each segment sends only its winner and "x" is lost; with the default depth it is found.
  const seg = (winner: string, start: number) =>
    segmentFromRows({ start, end: start + 1000, dimensions: ['d'], metrics: [{ name: 'm', type: 'long' }], rows: [{ __time: start, d: winner, m: 10 }, { __time: start, d: 'x', m: 9 }] });
  const segs = ['a', 'b', 'c'].map((w, i) => seg(w, DAY + i * 1000));
  const q = (extra: object) => parseQuery({ ...base, queryType: 'topN', granularity: 'all', dimension: 'd', metric: 's', threshold: 1, aggregations: [{ type: 'longSum', name: 's', fieldName: 'm' }], ...extra });
  t.same((answer(q({}), segs) as { result: { d: string; s: number }[] }[])[0]!.result, [{ d: 'x', s: 27 }], 'exact below 1000 values per segment');
  t.same((answer(q({ context: { minTopNThreshold: 1 } }), segs) as { result: { d: string; s: number }[] }[])[0]!.result, [{ d: 'a', s: 10 }], 'approximate when each segment sends one');
});

t.test('large segments (their own compiled loops) agree with plain loops', async (t) => {
  const n = specializeRowsMin + 50_000;
  const time = new Float64Array(n);
  const codes = new Int32Array(n);
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    time[i] = DAY + i;
    codes[i] = (i * 7919) % 13;
    values[i] = i % 5 === 0 ? NaN : (i % 1000) - 300;
  }
  const dictionary = Array.from({ length: 13 }, (_, k) => `k${String(k).padStart(2, '0')}`);
  const seg: LoadedSegment = {
    id: 'big',
    rowCount: n,
    time,
    dimensions: new Map([['d', { name: 'd', codes, dictionary, hasNulls: false }]]),
    metrics: new Map([['m', { name: 'm', type: 'long' as const, values, hasNulls: true }]]),
    meta: { ...segment(0).meta, start: DAY, end: DAY + n, rowCount: n },
  };
  const aggregations = [{ type: 'count', name: 'c' }, { type: 'longSum', name: 's', fieldName: 'm' }, { type: 'longMin', name: 'lo', fieldName: 'm' }, { type: 'longMax', name: 'hi', fieldName: 'm' }];
  const count = new Array(13).fill(0);
  const sum = new Array(13).fill(0);
  const lo = new Array(13).fill(Infinity);
  const hi = new Array(13).fill(-Infinity);
  for (let i = 0; i < n; i++) {
    const g = codes[i]!;
    count[g]++;
    if (!Number.isNaN(values[i]!)) {
      sum[g] += values[i]!;
      lo[g] = Math.min(lo[g], values[i]!);
      hi[g] = Math.max(hi[g], values[i]!);
    }
  }
  const gb = parseQuery({ ...base, queryType: 'groupBy', granularity: 'all', dimensions: ['d'], aggregations });
  t.same(
    (answer(gb, [seg]) as { event: Record<string, unknown> }[]).map((r) => r.event),
    dictionary.map((d, g) => ({ d, c: count[g], s: sum[g], lo: lo[g], hi: hi[g] })),
  );
  const ts = parseQuery({ ...base, queryType: 'timeseries', granularity: 'all', filter: { type: 'in', dimension: 'd', values: ['k03', 'k07'] }, aggregations });
  t.same((answer(ts, [seg]) as { result: Record<string, unknown> }[])[0]!.result, {
    c: count[3] + count[7],
    s: sum[3] + sum[7],
    lo: Math.min(lo[3], lo[7]),
    hi: Math.max(hi[3], hi[7]),
  });
});
