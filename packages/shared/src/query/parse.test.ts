import t, { type Test } from 'tap';
import { QueryError } from './errors.js';
import { ETERNITY, parseQuery } from './parse.js';
import type { GroupByQuery, ScanQuery, TimeseriesQuery, TopNQuery } from './types.js';

const base = { dataSource: 'wiki', intervals: ['2020-01-01/2020-01-02'] };

function fails(t: Test, raw: unknown, code: string, message: RegExp | string): void {
  try {
    parseQuery(raw);
    t.fail(`accepted ${JSON.stringify(raw)}`);
  } catch (err) {
    t.type(err, QueryError);
    t.equal((err as QueryError).code, code, (err as Error).message);
    if (typeof message === 'string') t.equal((err as Error).message, message);
    else t.match((err as Error).message, message);
  }
}

t.test('messages name the field at fault', async (t) => {
  fails(t, { ...base, queryType: 'timeseries', granularity: 'day', aggregations: [{ type: 'count', name: 'c' }, { type: 'count', name: 'd' }, { type: 'longSum', name: 's' }] }, 'INVALID_QUERY', 'aggregations[2].fieldName: required');
  fails(t, { ...base, queryType: 'topN', granularity: 'all', dimension: 'd', metric: 'c', aggregations: [{ type: 'count', name: 'c' }] }, 'INVALID_QUERY', 'threshold: required');
  fails(t, { ...base, queryType: 'timeseries', granularity: 'fortnight' }, 'INVALID_QUERY', /^granularity: unknown granularity "fortnight"/);
  fails(t, { ...base, queryType: 'timeseries', granularity: 'day', filter: { type: 'and', fields: [{ type: 'nope' }] } }, 'INVALID_QUERY', /^filter\.fields\[0\]\.type: unknown filter type "nope"; expected one of/);
  fails(t, { ...base, queryType: 'timeseries', granularity: 'day', filter: { type: 'selector', value: 'x' } }, 'INVALID_QUERY', 'filter.dimension: required');
  fails(t, { ...base, queryType: 'scan', intervals: ['2020-01-02/2020-01-01'] }, 'INVALID_QUERY', /^intervals\[0\]: invalid ISO-8601 interval .*ends before it starts/);
  fails(t, { ...base, queryType: 'timeseries', granularity: { type: 'period', period: 'P1D', timeZone: 'Mars/Olympus' } }, 'INVALID_QUERY', 'granularity.timeZone: unknown time zone');
  fails(t, { ...base, queryType: 'timeseries', granularity: 'day', filter: { type: 'regex', dimension: 'd', pattern: '(' } }, 'INVALID_QUERY', /^filter\.pattern: invalid regular expression/);
  fails(t, { ...base, queryType: 'timeseries', granularity: 'day', filter: { type: 'bound', dimension: 'd' } }, 'INVALID_QUERY', 'filter.lower: at least one of lower and upper is required');
  fails(t, { ...base, queryType: 'timeseries', granularity: 'day', aggregations: [{ type: 'quantilesDoublesSketch', name: 'q', fieldName: 'x', k: 100 }] }, 'INVALID_QUERY', /aggregations\[0\]\.k: must be a power of 2/);
  fails(t, { queryType: 'timeseries' }, 'INVALID_QUERY', 'dataSource: required; intervals: required; granularity: required');
  fails(t, null, 'INVALID_QUERY', '(root): expected a query object');
  fails(t, { dataSource: 'x' }, 'INVALID_QUERY', 'queryType: required');
  fails(t, { queryType: 'select' }, 'UNSUPPORTED', /^queryType: "select" queries are not supported/);
  fails(t, { queryType: 'sql' }, 'INVALID_QUERY', /^queryType: unknown query type "sql"/);
  let deep: unknown = { type: 'true' };
  for (let i = 0; i < 10_000; i++) deep = { type: 'not', field: deep };
  fails(t, { ...base, queryType: 'scan', filter: deep }, 'INVALID_QUERY', /^\(root\): nested 6[5-9] levels deep; at most 64 are allowed$/);
});

t.test('references must resolve and names be unique', async (t) => {
  const agg = { ...base, queryType: 'groupBy', granularity: 'all', dimensions: ['d'], aggregations: [{ type: 'count', name: 'c' }] };
  fails(t, { ...agg, postAggregations: [{ type: 'arithmetic', name: 'r', fn: '/', fields: [{ type: 'fieldAccess', fieldName: 'c' }, { type: 'fieldAccess', fieldName: 'zz' }] }] }, 'INVALID_QUERY', 'postAggregations[0].fields[1].fieldName: unknown aggregation or post-aggregation "zz"');
  fails(t, { ...agg, postAggregations: [{ type: 'constant', value: 1 }] }, 'INVALID_QUERY', 'postAggregations[0].name: required');
  fails(t, { ...agg, aggregations: [{ type: 'count', name: 'd' }] }, 'INVALID_QUERY', /^aggregations\[0\]\.name: "d" is already defined \(at dimensions\[0\]\.outputName\)/);
  fails(t, { ...agg, having: { type: 'greaterThan', aggregation: 'nope', value: 1 } }, 'INVALID_QUERY', 'having.aggregation: unknown aggregation or post-aggregation "nope"');
  fails(t, { ...agg, limitSpec: { type: 'default', columns: ['c', { dimension: 'x' }] } }, 'INVALID_QUERY', /^limitSpec\.columns\[1\]\.dimension: unknown column "x"/);
  fails(t, { ...base, queryType: 'topN', granularity: 'all', dimension: 'd', threshold: 3, metric: { type: 'inverted', metric: 'm' }, aggregations: [{ type: 'count', name: 'c' }] }, 'INVALID_QUERY', /^metric\.metric: unknown metric "m"/);
  fails(
    t,
    { ...agg, postAggregations: [{ type: 'quantilesDoublesSketchToQuantile', name: 'p', field: { type: 'fieldAccess', fieldName: 'c' }, fraction: 0.5 }] },
    'INVALID_QUERY',
    'postAggregations[0].field.fieldName: "c" is a count aggregation, not a quantilesDoublesSketch',
  );
  // A post-aggregator may use earlier post-aggregators.
  const ok = parseQuery({ ...agg, postAggregations: [{ type: 'constant', name: 'one', value: 1 }, { type: 'arithmetic', name: 'x', fn: '+', fields: [{ type: 'fieldAccess', fieldName: 'one' }, { type: 'fieldAccess', fieldName: 'c' }] }] });
  t.equal(ok.queryType, 'groupBy');
});

t.test('Druid features this engine lacks answer UNSUPPORTED (501)', async (t) => {
  const ts = { ...base, queryType: 'timeseries', granularity: 'all' };
  fails(t, { ...ts, aggregations: [{ type: 'thetaSketch', name: 't', fieldName: 'u' }] }, 'UNSUPPORTED', 'aggregations[0].type: aggregator type "thetaSketch" is not supported');
  fails(t, { ...ts, filter: { type: 'selector', dimension: 'd', value: 'x', extractionFn: { type: 'upper' } } }, 'UNSUPPORTED', 'filter.extractionFn: extractionFn is not supported');
  fails(t, { ...ts, filter: { type: 'expression', expression: 'x > 1' } }, 'UNSUPPORTED', /filter\.type: filter type "expression" is not supported/);
  fails(t, { ...ts, dataSource: { type: 'query', query: {} } }, 'UNSUPPORTED', 'dataSource.type: data source type "query" is not supported');
  fails(t, { ...ts, virtualColumns: [{ type: 'expression' }] }, 'UNSUPPORTED', 'virtualColumns: virtual columns are not supported');
  fails(t, { ...base, queryType: 'groupBy', granularity: 'all', subtotalsSpec: [['a']] }, 'UNSUPPORTED', 'subtotalsSpec: subtotalsSpec is not supported');
  const err = (() => {
    try {
      parseQuery({ ...ts, aggregations: [{ type: 'doubleMean', name: 'm', fieldName: 'x' }] });
    } catch (e) {
      return e as QueryError;
    }
    return null;
  })()!;
  t.equal(err.status, 501);
  t.same(err.toDruid(), { error: 'Unsupported query', errorMessage: err.message, errorClass: 'org.apache.druid.query.QueryUnsupportedException', host: null });
});

t.test('queries are normalized', async (t) => {
  const q = parseQuery({
    queryType: 'timeseries',
    dataSource: { type: 'table', name: 'wiki' },
    intervals: ['2020-01-02/2020-01-03', '2020-01-01/2020-01-02T12:00Z', '2020-01-05/2020-01-05'],
    granularity: 'WEEK',
    descending: 'true',
    filter: { type: 'bound', dimension: 'd', upper: 5, alphaNumeric: true },
    aggregations: [{ type: 'floatSum', name: 'f', fieldName: 'x' }, { type: 'filtered', filter: { type: 'true' }, aggregator: { type: 'count', name: 'inner' } }],
    context: { timeout: '1000', priority: 5, queryId: 'q1', lane: 'low', custom: { a: 1 } },
  }) as TimeseriesQuery;
  t.equal(q.dataSource, 'wiki');
  t.same(q.intervals, [{ start: Date.UTC(2020, 0, 1), end: Date.UTC(2020, 0, 3) }], 'sorted, merged, empty ones dropped');
  t.same(q.granularity, { type: 'duration', duration: 7 * 86_400_000, origin: Date.UTC(1970, 0, 5) }, 'weeks start on Monday');
  t.equal(q.descending, true);
  t.same(q.filter, { type: 'bound', dimension: 'd', lower: null, upper: '5', lowerStrict: false, upperStrict: false, ordering: 'alphanumeric' });
  t.same(q.aggregations[0], { type: 'doubleSum', name: 'f', fieldName: 'x' });
  t.equal(q.aggregations[1]!.name, 'inner', 'a filtered aggregator without a name takes its inner name');
  t.same(q.context, { timeout: 1000, priority: 5, queryId: 'q1', lane: 'low', custom: { a: 1 } }, 'context is carried through');

  const g = parseQuery({ ...base, queryType: 'groupBy', granularity: { type: 'period', period: 'PT1H' }, dimensions: ['a', { type: 'default', dimension: 'b', outputName: 'B' }], limitSpec: { columns: ['a', { dimension: 'B', direction: 'DESC', dimensionOrder: { type: 'numeric' } }] } }) as GroupByQuery;
  t.same(g.granularity, { type: 'duration', duration: 3_600_000, origin: 0 }, 'a UTC period of fixed length is a duration');
  t.same(g.dimensions, [{ dimension: 'a', outputName: 'a' }, { dimension: 'b', outputName: 'B' }]);
  t.same(g.limitSpec, { type: 'default', limit: null, offset: 0, columns: [{ dimension: 'a', direction: 'ascending', dimensionOrder: 'lexicographic' }, { dimension: 'B', direction: 'descending', dimensionOrder: 'numeric' }] });

  const p = parseQuery({ ...base, queryType: 'topN', granularity: { type: 'period', period: 'P1M', timeZone: 'America/New_York', origin: '2020-01-01T00:00:00-05:00' }, dimension: 'd', threshold: '5', metric: { type: 'alphaNumeric', previousStop: 'b' } }) as TopNQuery;
  t.same(p.granularity, { type: 'period', period: 'P1M', timeZone: 'America/New_York', origin: Date.UTC(2020, 0, 1, 5) });
  t.same(p.metric, { type: 'dimension', ordering: 'alphanumeric', previousStop: 'b' });
  t.equal(p.threshold, 5);

  const s = parseQuery({ queryType: 'scan', dataSource: 'w', intervals: '2020-01-01/P1D', filter: { type: 'equals', column: 'x', matchValueType: 'FLOAT', matchValue: 1.5 } }) as ScanQuery;
  t.same(s.intervals, [{ start: Date.UTC(2020, 0, 1), end: Date.UTC(2020, 0, 2) }], 'one interval string, with a period');
  t.same(s.filter, { type: 'equals', column: 'x', matchValueType: 'DOUBLE', matchValue: 1.5 });
  t.same([s.columns, s.limit, s.offset, s.order, s.resultFormat, s.batchSize], [[], null, 0, 'none', 'list', 20480]);

  const tb = parseQuery({ queryType: 'timeBoundary', dataSource: 'w' });
  t.same(tb.intervals, [ETERNITY], 'timeBoundary defaults to all of time');
  const sm = parseQuery({ queryType: 'segmentMetadata', dataSource: 'w', toInclude: { type: 'list', columns: ['a'] } });
  t.same(sm.queryType === 'segmentMetadata' && [sm.analysisTypes, sm.toInclude, sm.merge], [['cardinality', 'interval', 'minmax'], { type: 'list', columns: ['a'] }, false]);
});

t.test('a parsed query is plain JSON', async (t) => {
  const q = parseQuery({ ...base, queryType: 'groupBy', granularity: 'day', dimensions: ['d'], aggregations: [{ type: 'cardinality', name: 'u', fields: ['a', { type: 'default', dimension: 'b' }], byRow: true }], filter: { type: 'interval', dimension: '__time', intervals: ['2020-01-01T06:00Z/2020-01-01T07:00Z'] } });
  t.same(JSON.parse(JSON.stringify(q)), q);
});
