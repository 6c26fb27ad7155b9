/**
 * Aggregator function tables, post-aggregators, having, limitSpec, topN ordering, and merging
 * and finalizing hand-written partial results into Druid's response shapes.
 */
import t from 'tap';
import type { LoadedSegment } from '../segment/types.js';
import { aggregatorFunctions } from './aggregators.js';
import { QueryError } from './errors.js';
import { finalizeResult } from './finalize.js';
import { hllToJSON, hllNew, hllAdd } from './hll.js';
import { markDistinctRows, mergePartials } from './merge.js';
import { parseQuery } from './parse.js';
import { partialDimValue, type AggregatePartial, type ScanPartial, type SegmentAnalysis } from './partial.js';
import { evalPostAggregator, type RowValue } from './post-aggregators.js';
import { QuantileSketch } from './quantiles.js';
import type { Aggregator, PostAggregator } from './types.js';

/** A tiny segment: d (string), l (long), x (double with a null). */
function segment(): LoadedSegment {
  const dictionary = ['a', 'b'];
  return {
    id: 's',
    rowCount: 4,
    time: Float64Array.from([0, 1, 2, 3]),
    dimensions: new Map([['d', { name: 'd', codes: Int32Array.from([0, 1, -1, 0]), dictionary, hasNulls: true }]]),
    metrics: new Map([
      ['l', { name: 'l', type: 'long' as const, values: Float64Array.from([1, 2, 3, 4]), hasNulls: false }],
      ['x', { name: 'x', type: 'double' as const, values: Float64Array.from([1.5, NaN, -2.25, 8]), hasNulls: true }],
    ]),
    meta: {} as LoadedSegment['meta'],
  };
}

function aggregate(spec: Aggregator, rows = [0, 1, 2, 3]) {
  const f = aggregatorFunctions(spec);
  const seg = segment();
  // Two partial states combined must equal one state over all rows.
  let a = f.init();
  let b = f.init();
  rows.forEach((r, i) => {
    if (i % 2) a = f.update(a, seg, r);
    else b = f.update(b, seg, r);
  });
  const combined = f.combine(f.fromJSON(JSON.parse(JSON.stringify(f.toJSON(a)))), f.fromJSON(JSON.parse(JSON.stringify(f.toJSON(b)))));
  let whole = f.init();
  for (const r of rows) whole = f.update(whole, seg, r);
  return { split: f.finalize(combined), whole: f.finalize(whole), empty: f.finalize(f.init()) };
}

t.test('aggregator function tables: init, update, combine, finalize, JSON', async (t) => {
  const cases: [Aggregator, number | null, number | null][] = [
    [{ type: 'count', name: 'c' }, 4, 0],
    [{ type: 'longSum', name: 's', fieldName: 'l' }, 10, null],
    [{ type: 'longSum', name: 's', fieldName: 'x' }, 1 + -2 + 8, null],
    [{ type: 'doubleSum', name: 's', fieldName: 'x' }, 7.25, null],
    [{ type: 'doubleMin', name: 's', fieldName: 'x' }, -2.25, null],
    [{ type: 'doubleMax', name: 's', fieldName: 'x' }, 8, null],
    [{ type: 'longMin', name: 's', fieldName: 'l' }, 1, null],
    [{ type: 'longMax', name: 's', fieldName: 'l' }, 4, null],
    [{ type: 'longSum', name: 's', fieldName: 'missing' }, null, null],
    [{ type: 'filtered', name: 'f', filter: { type: 'selector', dimension: 'd', value: 'a' }, aggregator: { type: 'longSum', name: 'i', fieldName: 'l' } }, 5, null],
    [{ type: 'filtered', name: 'f', filter: { type: 'not', field: { type: 'selector', dimension: 'd', value: 'a' } }, aggregator: { type: 'count', name: 'i' } }, 1, 0],
    [{ type: 'cardinality', name: 'u', fields: ['d'], byRow: false, round: false }, null, 0],
    [{ type: 'quantilesDoublesSketch', name: 'q', fieldName: 'x', k: 128 }, 3, 0],
  ];
  for (const [spec, want, empty] of cases) {
    const r = aggregate(spec);
    if (want === null && spec.type === 'cardinality') {
      t.ok(Math.abs(r.whole! - 2) < 0.01, `cardinality of {a, b} ~ 2 (${r.whole})`);
    } else {
      t.equal(r.whole, want, `${JSON.stringify(spec)}`);
    }
    t.equal(r.split, r.whole, `${spec.type}: combine of halves equals one pass`);
    t.equal(r.empty, empty, `${spec.type}: no rows`);
  }
  const rounded = aggregatorFunctions({ type: 'cardinality', name: 'u', fields: ['d'], byRow: false, round: true });
  t.equal(rounded.finalize(rounded.update(rounded.init(), segment(), 0)), 1);
  t.throws(() => aggregatorFunctions({ type: 'count', name: 'c' }).fromJSON('x'), TypeError);
  t.throws(() => aggregatorFunctions({ type: 'longSum', name: 'c', fieldName: 'l' }).fromJSON('x'), TypeError);
});

t.test('post-aggregators follow Druid: / by zero is 0, quotient divides, null is contagious', async (t) => {
  const values: Record<string, RowValue> = { a: 6, b: 0, n: null, c: 3 };
  const sketch = new QuantileSketch(8);
  [5, 1, 3, 2, 4].forEach((v) => sketch.update(v));
  const hll = hllNew();
  hllAdd(hll, 'x');
  const env = {
    raw: (name: string) => (name === 's' ? sketch : name === 'h' ? hll : values[name]!),
    finalized: (name: string) => (name === 's' ? sketch.n : name === 'h' ? 1 : values[name]!),
  };
  const fa = (fieldName: string): PostAggregator => ({ type: 'fieldAccess', name: fieldName, fieldName });
  const ar = (fn: '+' | '-' | '*' | '/' | 'quotient', ...fields: PostAggregator[]): PostAggregator => ({ type: 'arithmetic', name: 'r', fn, fields, ordering: null });
  t.equal(evalPostAggregator(ar('/', fa('a'), fa('b')), env), 0);
  t.equal(evalPostAggregator(ar('quotient', fa('a'), fa('b')), env), Infinity);
  t.equal(evalPostAggregator(ar('/', fa('a'), fa('c')), env), 2);
  t.equal(evalPostAggregator(ar('-', fa('a'), fa('c'), fa('c')), env), 0, 'left to right');
  t.equal(evalPostAggregator(ar('*', fa('a'), { type: 'constant', name: 'k', value: 0.5 }), env), 3);
  t.equal(evalPostAggregator(ar('+', fa('a'), fa('n')), env), null);
  t.equal(evalPostAggregator(ar('/', fa('n'), fa('b')), env), null, 'null before the zero check');
  t.equal(evalPostAggregator({ type: 'doubleGreatest', name: 'g', fields: [fa('a'), fa('n'), fa('c')] }, env), 6);
  t.equal(evalPostAggregator({ type: 'longLeast', name: 'g', fields: [fa('n')] }, env), null);
  t.equal(evalPostAggregator({ type: 'quantilesDoublesSketchToQuantile', name: 'q', field: fa('s'), fraction: 0.5 }, env), 3);
  t.same(evalPostAggregator({ type: 'quantilesDoublesSketchToQuantiles', name: 'q', field: fa('s'), fractions: [0, 1] }, env), [1, 5]);
  t.equal(evalPostAggregator({ type: 'finalizingFieldAccess', name: 'f', fieldName: 's' }, env), 5);
  t.ok(Math.abs((evalPostAggregator({ type: 'hyperUniqueCardinality', name: 'u', fieldName: 'h' }, env) as number) - 1) < 0.001);
  t.ok(Math.abs((evalPostAggregator(ar('+', fa('h'), fa('a')), env) as number) - 7) < 0.001, 'a raw sketch in arithmetic counts as its finalized value');
});

const base = { dataSource: 'x', intervals: ['2020-01-01/2020-01-03'] };
const T1 = Date.UTC(2020, 0, 1);
const T2 = Date.UTC(2020, 0, 2);

function groupPartial(rows: [number, string | null, number, number | null][]): AggregatePartial {
  return {
    queryType: 'groupBy',
    allTime: T1,
    time: rows.map((r) => r[0]),
    dims: [rows.map((r) => r[1])],
    counts: rows.map((r) => r[2]),
    aggs: [rows.map((r) => r[2]), rows.map((r) => r[3])],
  };
}

t.test('groupBy: merge combines groups; having and limitSpec as in Druid', async (t) => {
  const q = (extra: object) =>
    parseQuery({
      ...base,
      queryType: 'groupBy',
      granularity: 'day',
      dimensions: [{ type: 'default', dimension: 'd', outputName: 'D' }],
      aggregations: [{ type: 'count', name: 'c' }, { type: 'longSum', name: 's', fieldName: 'l' }],
      postAggregations: [{ type: 'arithmetic', name: 'avg', fn: '/', fields: [{ type: 'fieldAccess', fieldName: 's' }, { type: 'fieldAccess', fieldName: 'c' }] }],
      ...extra,
    });
  const p1 = groupPartial([
    [T1, 'a', 1, 10],
    [T1, null, 2, null],
    [T2, 'b', 1, 5],
  ]);
  const p2 = groupPartial([
    [T1, 'a', 3, 2],
    [T2, 'a', 1, -1],
  ]);
  const all = q({});
  const merged = mergePartials(all, [p1, p2]);
  t.same(mergePartials(all, [mergePartials(all, [p1]), mergePartials(all, [p2])]), merged, 'merging is associative');
  const events = (query: ReturnType<typeof q>) => (finalizeResult(query, mergePartials(query, [p2, p1])) as { timestamp: string; event: Record<string, unknown> }[]).map((r) => [r.timestamp.slice(8, 10), r.event['D'], r.event['c'], r.event['s'], r.event['avg']]);
  t.same(events(all), [
    ['01', null, 2, null, null],
    ['01', 'a', 4, 12, 3],
    ['02', 'a', 1, -1, -1],
    ['02', 'b', 1, 5, 5],
  ], 'natural order: time, then dimensions with null first');
  t.same(events(q({ having: { type: 'greaterThan', aggregation: 'c', value: 1 } })).map((e) => e[1]), [null, 'a']);
  t.same(events(q({ having: { type: 'not', havingSpec: { type: 'greaterThan', aggregation: 's', value: 0 } } })).map((e) => e[1]), [null, 'a'], 'null > 0 is false, so not() keeps it');
  t.same(events(q({ having: { type: 'or', havingSpecs: [{ type: 'equalTo', aggregation: 'avg', value: 5 }, { type: 'dimSelector', dimension: 'D', value: null }] } })).map((e) => e[1]), [null, 'b']);
  t.same(events(q({ having: { type: 'filter', filter: { type: 'and', fields: [{ type: 'selector', dimension: 'D', value: 'a' }, { type: 'bound', dimension: 's', lower: '0', ordering: 'numeric' }] } } })).map((e) => e[2]), [4]);
  t.same(events(q({ having: { type: 'lessThan', aggregation: 'avg', value: 0 } })).map((e) => e[4]), [-1]);
  t.same(events(q({ limitSpec: { columns: [{ dimension: 's', direction: 'descending' }] } })).map((e) => e[3]), [12, null, 5, -1], 'time first, then the column; descending puts null last');
  t.same(events(q({ limitSpec: { columns: ['s'] } })).map((e) => e[3]), [null, 12, -1, 5], 'ascending: null first');
  t.same(events(q({ limitSpec: { columns: ['s'], limit: 2, offset: 1 } })).map((e) => e[3]), [12, -1], 'offset, then limit');
  t.same(events(q({ limitSpec: { columns: [{ dimension: 'D', direction: 'descending' }] }, context: { sortByDimsFirst: true } })).map((e) => [e[0], e[1]]), [
    ['01', 'a'],
    ['02', 'a'],
    ['02', 'b'],
    ['01', null],
  ].sort((x, y) => (x[1] === y[1] ? 0 : x[1] === null ? 1 : y[1] === null ? -1 : x[1]! < y[1]! ? 1 : -1) || (x[0]! < y[0]! ? -1 : 1)), 'sortByDimsFirst');
  t.same(events(q({ granularity: 'all', limitSpec: { columns: [{ dimension: 'c', direction: 'descending' }], limit: 1 } })), [['01', 'a', 5, 11, 2.2]], 'granularity all merges the days');
});

t.test('limitSpec dimension orders', async (t) => {
  const q = (order: string) =>
    parseQuery({ ...base, queryType: 'groupBy', granularity: 'all', dimensions: ['d'], aggregations: [{ type: 'count', name: 'c' }], limitSpec: { columns: [{ dimension: 'd', dimensionOrder: order }] } });
  const p: AggregatePartial = { queryType: 'groupBy', allTime: T1, time: [T1, T1, T1, T1], dims: [['10', '9', 'abc', '2.5']], counts: [1, 1, 1, 1], aggs: [[1, 1, 1, 1]] };
  const dims = (order: string) => (finalizeResult(q(order), p) as { event: { d: string } }[]).map((r) => r.event.d);
  t.same(dims('lexicographic'), ['10', '2.5', '9', 'abc']);
  t.same(dims('numeric'), ['abc', '2.5', '9', '10']);
  t.same(dims('strlen'), ['9', '10', '2.5', 'abc']);
});

t.test('topN: per-bucket ordering, threshold, inverted and dimension metrics', async (t) => {
  const p: AggregatePartial = {
    queryType: 'topN',
    allTime: T1,
    time: [T1, T1, T1, T1, T2],
    dims: [['a', 'b', 'c', null, 'a']],
    counts: [1, 1, 1, 1, 1],
    aggs: [[5, 9, 5, 1, 3]],
  };
  const q = (metric: unknown, threshold = 2, extra: object = {}) =>
    parseQuery({ ...base, queryType: 'topN', granularity: 'day', dimension: 'd', metric, threshold, aggregations: [{ type: 'longSum', name: 's', fieldName: 'l' }], ...extra });
  const top = (query: ReturnType<typeof q>) => (finalizeResult(query, mergePartials(query, [p])) as { result: { d: string | null; s: number }[] }[]).map((b) => b.result.map((r) => r.d));
  t.same(top(q('s')), [['b', 'a'], ['a']], 'ties broken by value');
  t.same(top(q({ type: 'inverted', metric: 's' })), [[null, 'a'], ['a']]);
  t.same(top(q({ type: 'dimension' }, 3)), [[null, 'a', 'b'], ['a']], 'null first in lexicographic order');
  t.same(top(q({ type: 'dimension', previousStop: 'a' }, 3)), [['b', 'c']], 'previousStop is exclusive');
  t.same(top(q({ type: 'inverted', metric: { type: 'dimension' } }, 2)), [['c', 'b'], ['a']]);
  // The merge keeps max(threshold, minTopNThreshold) values per bucket.
  const merged = mergePartials(q('s', 1, { context: { minTopNThreshold: 2 } }), [p]) as AggregatePartial;
  t.same(Array.from(merged.time, (_, i) => partialDimValue(merged, 0, i)), ['b', 'a', 'a']);
});

t.test('partials with and without dictionaries merge together (rolling upgrades)', async (t) => {
  const q = parseQuery({
    ...base,
    queryType: 'groupBy',
    granularity: 'day',
    dimensions: ['d', 'e'],
    aggregations: [{ type: 'count', name: 'c' }, { type: 'longMin', name: 'mn', fieldName: 'l' }, { type: 'doubleMax', name: 'mx', fieldName: 'l' }],
  });
  const old: AggregatePartial = { queryType: 'groupBy', allTime: T1, time: [T1, T1, T2], dims: [['a', null, 'a'], ['x', 'x', 'y']], counts: [1, 2, 3], aggs: [[1, 2, 3], [5, null, 7], [5, null, 7]] };
  const coded: AggregatePartial = { queryType: 'groupBy', allTime: T1, time: [T2, T1, T1], dicts: [[null, 'a'], ['y', 'x']], dims: [[1, 0, 1], [0, 1, 0]], counts: [4, 5, 6], aggs: [[4, 5, 6], [-1, 3, 2], [-1, 3, 2]] };
  const events = (ps: AggregatePartial[]) => (finalizeResult(q, mergePartials(q, ps)) as { timestamp: string; event: Record<string, unknown> }[]).map((r) => [r.timestamp.slice(8, 10), r.event['d'], r.event['e'], r.event['c'], r.event['mn'], r.event['mx']]);
  const want = [
    ['01', null, 'x', 7, 3, 3],
    ['01', 'a', 'x', 1, 5, 5],
    ['01', 'a', 'y', 6, 2, 2],
    ['02', 'a', 'y', 7, -1, 7],
  ];
  t.same(events([old, coded]), want);
  t.same(events([coded, old]), want, 'in either order');
  t.same(events([mergePartials(q, [old, coded]) as AggregatePartial]), want, 'a merged partial finalizes the same');
  t.same(events([JSON.parse(JSON.stringify(mergePartials(q, [coded, old]))) as AggregatePartial]), want, 'through JSON');
  t.throws(() => mergePartials(q, [old, { ...coded, dims: [[2, 0, 1], [0, 1, 0]] }]), { code: 'INTERNAL' }, 'an index outside the dictionary');
});

t.test('a partial marked as holding distinct rows finalizes as the same partial unmarked', async (t) => {
  // Hundreds of groups over two days and two dimensions (nulls included), so that the natural
  // order takes the placement path (>= 64 rows, keys not much more than the rows).
  let seed = 7;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const dictD = [null, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k'];
  const dictE = ['x', 'y', null, 'w', 'v', 'u', 'z', 't', 's', 'r'];
  const rows: [number, number, number][] = [];
  for (const time of [T2, T1]) for (let d = 0; d < dictD.length; d++) for (let e = 0; e < dictE.length; e++) if (rand(5) > 0) rows.push([time, d, e]);
  for (let i = rows.length - 1; i > 0; i--) {
    const j = rand(i + 1);
    [rows[i], rows[j]] = [rows[j]!, rows[i]!];
  }
  const partial = (): AggregatePartial => ({
    queryType: 'groupBy',
    allTime: T1,
    time: rows.map((r) => r[0]),
    dicts: [dictD, dictE],
    dims: [rows.map((r) => r[1]), rows.map((r) => r[2])],
    counts: rows.map((_, i) => 1 + (i % 3)),
    aggs: [rows.map((_, i) => 1 + (i % 3)), rows.map((_, i) => (i % 7 === 0 ? null : (i * 37) % 101)), rows.map((_, i) => (i % 5 === 0 ? null : -i))],
  });
  const q = (extra: object) =>
    parseQuery({
      ...base,
      queryType: 'groupBy',
      granularity: 'day',
      dimensions: ['d', 'e'],
      aggregations: [{ type: 'count', name: 'c' }, { type: 'longSum', name: 's', fieldName: 'l' }, { type: 'longMin', name: 'm', fieldName: 'l' }],
      ...extra,
    });
  const answers = (query: ReturnType<typeof q>) => {
    const plain = finalizeResult(query, partial());
    const marked = finalizeResult(query, markDistinctRows(partial()));
    return { plain, marked };
  };
  const natural = answers(q({}));
  t.equal(natural.plain.length, rows.length);
  t.same(natural.marked, natural.plain, 'natural order');
  const key = (r: { timestamp: string; event: Record<string, unknown> }) => [r.timestamp, r.event['d'], r.event['e']] as const;
  const cmp = (a: string | null, b: string | null) => (a === b ? 0 : a === null ? -1 : b === null ? 1 : a < b ? -1 : 1);
  const expected = [...(natural.plain as { timestamp: string; event: Record<string, unknown> }[])].sort((x, y) => {
    const [tx, dx, ex] = key(x);
    const [ty, dy, ey] = key(y);
    return cmp(tx, ty) || cmp(dx as string | null, dy as string | null) || cmp(ex as string | null, ey as string | null);
  });
  t.same(natural.plain, expected, 'time, then each dimension with null first');
  const limited = answers(q({ limitSpec: { columns: [{ dimension: 's', direction: 'descending' }, { dimension: 'm' }], limit: 10 } }));
  t.same(limited.marked, limited.plain, 'ordered limit');
  const topQuery = parseQuery({ ...base, queryType: 'topN', granularity: 'day', dimension: 'd', metric: 's', threshold: 3, aggregations: [{ type: 'longSum', name: 's', fieldName: 'l' }] });
  const topPartial = (): AggregatePartial => ({ ...partial(), queryType: 'topN', dicts: [dictD], dims: [rows.map((r) => r[1])], aggs: [partial().aggs[1]!] });
  // (One topN row per bucket and value: the rows above hold many per value, so keep the first.)
  const seen = new Set<string>();
  const firsts = rows.map((r, i) => [r, i] as const).filter(([r]) => !seen.has(`${r[0]},${r[1]}`) && seen.add(`${r[0]},${r[1]}`)).map(([, i]) => i);
  const pick = (p: AggregatePartial): AggregatePartial => ({
    ...p,
    time: firsts.map((i) => p.time[i] as number),
    dims: [firsts.map((i) => p.dims[0]![i] as number)],
    counts: firsts.map((i) => p.counts[i] as number),
    aggs: [firsts.map((i) => p.aggs[0]![i] as number | null)],
  });
  t.same(finalizeResult(topQuery, mergePartials(topQuery, [markDistinctRows(pick(topPartial()))])), finalizeResult(topQuery, mergePartials(topQuery, [pick(topPartial())])), 'topN');
  t.throws(() => finalizeResult(q({}), markDistinctRows({ ...partial(), dims: [rows.map(() => 12), rows.map((r) => r[2])] })), { code: 'INTERNAL' }, 'an index outside the dictionary');
  t.throws(() => finalizeResult(q({}), markDistinctRows({ ...partial(), time: rows.map(() => 'x') as unknown as number[] })), { code: 'INTERNAL' }, 'a time that is not a number');
});

t.test('an ordered limit far below the rows picks the rows a full sort would (nulls, ties, both directions)', async (t) => {
  const n = 300;
  const values = Array.from({ length: n }, (_, i) => `v${String((i * 7919) % n).padStart(3, '0')}`);
  const sums = Array.from({ length: n }, (_, i) => (i % 11 === 0 ? null : i % 13 === 0 ? -Infinity : (i * 37) % 23));
  const p: AggregatePartial = { queryType: 'groupBy', allTime: T1, time: values.map(() => T1), dims: [values], counts: values.map(() => 1), aggs: [values.map(() => 1), sums] };
  const q = (direction: string, limit: number, offset = 0) =>
    parseQuery({
      ...base,
      queryType: 'groupBy',
      granularity: 'all',
      dimensions: ['d'],
      aggregations: [{ type: 'count', name: 'c' }, { type: 'doubleSum', name: 's', fieldName: 'x' }],
      limitSpec: { columns: [{ dimension: 's', direction, dimensionOrder: 'numeric' }], limit, offset },
    });
  const got = (query: ReturnType<typeof q>) => (finalizeResult(query, p) as { event: { d: string } }[]).map((r) => r.event.d);
  const want = (direction: string, limit: number, offset = 0) => {
    const sign = direction === 'descending' ? -1 : 1;
    const key = (i: number) => (sums[i] === null ? -Infinity : sums[i]!);
    const rank = (i: number) => (sums[i] === null ? 0 : 1);
    return Array.from({ length: n }, (_, i) => i)
      .sort((a, b) => sign * (rank(a) - rank(b) || (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)) || (values[a]! < values[b]! ? -1 : 1))
      .slice(offset, offset + limit)
      .map((i) => values[i]!);
  };
  for (const [direction, limit, offset] of [['descending', 7, 0], ['ascending', 5, 2], ['ascending', 30, 0], ['descending', 40, 3]] as const) {
    t.same(got(q(direction, limit, offset)), want(direction, limit, offset), `${direction}, limit ${limit}, offset ${offset}`);
  }
});

t.test('timeseries: zero-filled buckets, skipEmptyBuckets, descending, limit, grandTotal', async (t) => {
  const p: AggregatePartial = { queryType: 'timeseries', allTime: T1, time: [T1, T2, T2 + 86_400_000], dims: [], counts: [2, 0, 1], aggs: [[2, 0, 1], [7, null, 3]] };
  const q = (extra: object) => parseQuery({ ...base, queryType: 'timeseries', granularity: 'day', aggregations: [{ type: 'count', name: 'c' }, { type: 'longSum', name: 's', fieldName: 'l' }], ...extra });
  t.same(finalizeResult(q({}), p), [
    { timestamp: '2020-01-01T00:00:00.000Z', result: { c: 2, s: 7 } },
    { timestamp: '2020-01-02T00:00:00.000Z', result: { c: 0, s: null } },
    { timestamp: '2020-01-03T00:00:00.000Z', result: { c: 1, s: 3 } },
  ]);
  t.same((finalizeResult(q({ context: { skipEmptyBuckets: true } }), p) as { result: { c: number } }[]).map((r) => r.result.c), [2, 1]);
  t.same((finalizeResult(q({ descending: true, limit: 2, context: { grandTotal: true } }), p) as { timestamp: string | null; result: { c: number; s: number } }[]).map((r) => [r.timestamp?.slice(8, 10) ?? null, r.result.c, r.result.s]), [
    ['03', 1, 3],
    ['02', 0, null],
    [null, 3, 10],
  ], 'the grand total covers every bucket and comes last');
  t.same(finalizeResult(q({}), { ...p, time: [], counts: [], aggs: [[], []] }), []);
  const all = parseQuery({ ...base, queryType: 'timeseries', granularity: 'all', aggregations: [{ type: 'count', name: 'c' }] });
  const a1: AggregatePartial = { queryType: 'timeseries', allTime: T2, time: [T2], dims: [], counts: [1], aggs: [[1]] };
  const a2: AggregatePartial = { queryType: 'timeseries', allTime: T1, time: [T1], dims: [], counts: [2], aggs: [[2]] };
  t.same(finalizeResult(all, mergePartials(all, [a1, a2])), [{ timestamp: '2020-01-01T00:00:00.000Z', result: { c: 3 } }], 'all: the earliest queried instant');
});

t.test('scan merges: concatenation with offset and limit, or ordered by time', async (t) => {
  const b1 = { segmentId: 's1', columns: ['__time', 'd'], time: [1, 3, 5], values: [[1, 3, 5], ['a', 'b', 'c']] };
  const b2 = { segmentId: 's2', columns: ['__time', 'e'], time: [2, 4], values: [[2, 4], ['x', 'y']] };
  const parts: ScanPartial[] = [{ queryType: 'scan', batches: [b1] }, { queryType: 'scan', batches: [b2] }];
  const q = (extra: object) => parseQuery({ ...base, queryType: 'scan', ...extra });
  t.same(finalizeResult(q({ limit: 3, offset: 1, batchSize: 1 }), mergePartials(q({ limit: 3, offset: 1 }), parts)), [
    { segmentId: 's1', columns: ['__time', 'd'], events: [{ __time: 3, d: 'b' }] },
    { segmentId: 's1', columns: ['__time', 'd'], events: [{ __time: 5, d: 'c' }] },
    { segmentId: 's2', columns: ['__time', 'e'], events: [{ __time: 2, e: 'x' }] },
  ]);
  t.same(finalizeResult(q({ order: 'ascending', limit: 4, resultFormat: 'compactedList' }), mergePartials(q({ order: 'ascending', limit: 4 }), parts)), [
    { segmentId: null, columns: ['__time', 'd', 'e'], events: [[1, 'a', null], [2, null, 'x'], [3, 'b', null], [4, null, 'y']] },
  ]);
  const desc = q({ order: 'descending', limit: 2, resultFormat: 'compactedList' });
  const descParts: ScanPartial[] = [
    { queryType: 'scan', batches: [{ ...b1, time: [5, 3, 1], values: [[5, 3, 1], ['c', 'b', 'a']] }] },
    { queryType: 'scan', batches: [{ ...b2, time: [4, 2], values: [[4, 2], ['y', 'x']] }] },
  ];
  t.same((finalizeResult(desc, mergePartials(desc, descParts)) as { events: unknown[] }[])[0]!.events, [[5, 'c', null], [4, null, 'y']]);
  t.throws(() => mergePartials(q({ order: 'ascending' }), parts), { code: 'RESOURCE_LIMIT' }, 'an ordered scan needs a limit');
});

t.test('timeBoundary and segmentMetadata merges', async (t) => {
  const tb = parseQuery({ queryType: 'timeBoundary', dataSource: 'x' });
  const m = mergePartials(tb, [
    { queryType: 'timeBoundary', minTime: T2, maxTime: T2 + 5 },
    { queryType: 'timeBoundary', minTime: null, maxTime: null },
    { queryType: 'timeBoundary', minTime: T1, maxTime: T1 + 5 },
  ]);
  t.same(finalizeResult(tb, m), [{ timestamp: '2020-01-01T00:00:00.000Z', result: { minTime: '2020-01-01T00:00:00.000Z', maxTime: '2020-01-02T00:00:00.005Z' } }]);
  const maxOnly = parseQuery({ queryType: 'timeBoundary', dataSource: 'x', bound: 'maxTime' });
  t.same(finalizeResult(maxOnly, m), [{ timestamp: '2020-01-02T00:00:00.005Z', result: { maxTime: '2020-01-02T00:00:00.005Z' } }]);
  t.same(finalizeResult(tb, { queryType: 'timeBoundary', minTime: null, maxTime: null }), []);

  const col = (type: string, cardinality: number | null, min: string | number | null, max: string | number | null, size: number) => ({
    type,
    typeSignature: type,
    hasMultipleValues: false,
    hasNulls: false,
    size,
    cardinality,
    minValue: min,
    maxValue: max,
    errorMessage: null,
  });
  const seg = (id: string, interval: string, d: ReturnType<typeof col>): SegmentAnalysis => ({
    id,
    intervals: [interval],
    columns: { d },
    size: d.size,
    numRows: 10,
    aggregators: null,
    timestampSpec: null,
    queryGranularity: null,
    rollup: null,
  });
  const sm = parseQuery({ queryType: 'segmentMetadata', dataSource: 'x', merge: true });
  const merged = finalizeResult(sm, mergePartials(sm, [
    { queryType: 'segmentMetadata', analyses: [seg('a', '2020-01-01T00:00:00.000Z/2020-01-02T00:00:00.000Z', col('STRING', 3, 'b', 'x', 5))] },
    { queryType: 'segmentMetadata', analyses: [seg('b', '2020-01-02T00:00:00.000Z/2020-01-03T00:00:00.000Z', col('STRING', 7, 'a', 'q', 6))] },
  ])) as unknown as SegmentAnalysis[];
  t.equal(merged.length, 1);
  t.same([merged[0]!.id, merged[0]!.numRows, merged[0]!.intervals, merged[0]!.columns['d']!.cardinality, merged[0]!.columns['d']!.minValue, merged[0]!.columns['d']!.maxValue, merged[0]!.columns['d']!.size], [
    'merged',
    20,
    ['2020-01-01T00:00:00.000Z/2020-01-03T00:00:00.000Z'],
    7,
    'a',
    'x',
    11,
  ]);
  const clash = mergePartials(sm, [
    { queryType: 'segmentMetadata', analyses: [seg('a', '2020-01-01/2020-01-02', col('STRING', 3, 'b', 'x', 5))] },
    { queryType: 'segmentMetadata', analyses: [seg('b', '2020-01-02/2020-01-03', col('LONG', null, 1, 2, 6))] },
  ]);
  t.match((clash as { analyses: SegmentAnalysis[] }).analyses[0]!.columns['d']!.errorMessage, /cannot_merge_diff_types/);
});

t.test('malformed or mismatched partials fail as INTERNAL errors', async (t) => {
  const q = parseQuery({ ...base, queryType: 'timeseries', granularity: 'day', aggregations: [{ type: 'count', name: 'c' }] });
  t.throws(() => mergePartials(q, [{ queryType: 'scan', batches: [] }]), QueryError);
  t.throws(() => mergePartials(q, [{ queryType: 'timeseries', allTime: 0, time: [1], dims: [], counts: [], aggs: [[1]] }, { queryType: 'timeseries', allTime: 0, time: [], dims: [], counts: [], aggs: [[]] }]), { code: 'INTERNAL' });
  t.throws(() => finalizeResult(q, { queryType: 'scan', batches: [] }), { code: 'INTERNAL' });
  const hll = hllNew();
  hllAdd(hll, 'z');
  const u = parseQuery({ ...base, queryType: 'timeseries', granularity: 'all', aggregations: [{ type: 'hyperUnique', name: 'u', fieldName: 'd' }], postAggregations: [{ type: 'fieldAccess', name: 'raw', fieldName: 'u' }] });
  const out = finalizeResult(u, { queryType: 'timeseries', allTime: T1, time: [T1], dims: [], counts: [1], aggs: [[hllToJSON(hll)]] }) as { result: { u: number; raw: string } }[];
  t.ok(Math.abs(out[0]!.result.u - 1) < 0.01);
  t.equal(out[0]!.result.raw, hllToJSON(hll), 'fieldAccess to a sketch outputs its state');
});

t.test('groupBy rows: fields in order, for any names, "__proto__" and names of two queries alike', async (t) => {
  const p = groupPartial([
    [T1, 'a', 1, 10],
    [T1, 'b', 2, 5],
  ]);
  const run = (outputName: string, names: [string, string]) => {
    const query = parseQuery({
      ...base,
      queryType: 'groupBy',
      granularity: 'all',
      dimensions: [{ type: 'default', dimension: 'd', outputName }],
      aggregations: [{ type: 'count', name: names[0] }, { type: 'longSum', name: names[1], fieldName: 'l' }],
    });
    return (finalizeResult(query, mergePartials(query, [p])) as { event: Record<string, unknown> }[]).map((r) => r.event);
  };
  const plain = run('D', ['c', 's']);
  t.same(plain.map((e) => Object.keys(e)), [['D', 'c', 's'], ['D', 'c', 's']], 'dimensions first, then aggregators, in query order');
  t.same(plain.map((e) => [e['D'], e['c'], e['s']]), [['a', 1, 10], ['b', 2, 5]]);
  const odd = run('__proto__', ['constructor', 'x y"z']);
  for (const e of odd) {
    t.ok(Object.prototype.hasOwnProperty.call(e, '__proto__'), '"__proto__" is an own field');
    t.equal(Object.getPrototypeOf(e), Object.prototype, 'and the prototype is untouched');
  }
  t.same(odd.map((e) => [Object.getOwnPropertyDescriptor(e, '__proto__')!.value, e['constructor'], e['x y"z']]), [['a', 1, 10], ['b', 2, 5]]);
  t.same(JSON.parse(JSON.stringify(odd[0])), { ['__proto__']: 'a', constructor: 1, 'x y"z': 10 });
});

t.test('groupBy rows: the same names split differently between dimensions and aggregators, and "__proto__" beside post-aggregators', async (t) => {
  const p = groupPartial([
    [T1, 'a', 1, 10],
    [T1, null, 2, 5],
  ]);
  const events = (raw: Record<string, unknown>) => {
    const query = parseQuery({ ...base, queryType: 'groupBy', granularity: 'all', ...raw });
    return (finalizeResult(query, mergePartials(query, [p])) as { event: Record<string, unknown> }[]).map((r) => r.event);
  };
  // One field list, x y z, once as one dimension and two aggregators, once as two dimensions and one.
  const first = events({ dimensions: [{ type: 'default', dimension: 'd', outputName: 'x' }], aggregations: [{ type: 'count', name: 'y' }, { type: 'longSum', name: 'z', fieldName: 'l' }] });
  t.same(first, [{ x: null, y: 2, z: 5 }, { x: 'a', y: 1, z: 10 }]);
  const pTwo = { ...p, dims: [p.dims[0]!, p.dims[0]!], aggs: [p.aggs[0]!] } as AggregatePartial;
  const q2 = parseQuery({ ...base, queryType: 'groupBy', granularity: 'all', dimensions: [{ type: 'default', dimension: 'd', outputName: 'x' }, { type: 'default', dimension: 'd2', outputName: 'y' }], aggregations: [{ type: 'count', name: 'z' }] });
  const second = (finalizeResult(q2, mergePartials(q2, [pTwo])) as { event: Record<string, unknown> }[]).map((r) => r.event);
  t.same(second, [{ x: null, y: null, z: 2 }, { x: 'a', y: 'a', z: 1 }], 'the second split is built by its own maker');
  const withPost = events({
    dimensions: [{ type: 'default', dimension: 'd', outputName: '__proto__' }],
    aggregations: [{ type: 'count', name: 'c' }, { type: 'longSum', name: 's', fieldName: 'l' }],
    postAggregations: [{ type: 'arithmetic', name: 'twice', fn: '+', fields: [{ type: 'fieldAccess', fieldName: 'c' }, { type: 'fieldAccess', fieldName: 'c' }] }],
  });
  for (const e of withPost) {
    t.ok(Object.prototype.hasOwnProperty.call(e, '__proto__'), 'an own field beside post-aggregators too');
    t.equal(Object.getPrototypeOf(e), Object.prototype);
  }
  t.same(withPost.map((e) => [Object.getOwnPropertyDescriptor(e, '__proto__')!.value, e['c'], e['twice']]), [[null, 2, 4], ['a', 1, 2]]);
});
