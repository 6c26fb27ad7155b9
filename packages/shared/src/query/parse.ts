/**
 * `parseQuery`: Druid native query JSON in, the normalized `Query` out, or a `QueryError` whose
 * message names every field at fault (`aggregations[2].fieldName: required`).
 */
import { z } from 'zod';
import { INSTANT_MAX, INSTANT_MIN } from '../time.js';
import { formatPath, zodIssuesShownMax } from '../zod-error.js';
import { invalidQuery, QueryError } from './errors.js';
import {
  aggregatorSchema,
  aggregationsMax,
  booleanSchema,
  contextSchema,
  dataSourceSchema,
  dimensionSpecSchema,
  dimensionsMax,
  filterSchema,
  granularitySchema,
  havingSchema,
  intervalsSchema,
  intSchema,
  limitSpecSchema,
  optionalSchema,
  postAggregationsMax,
  postAggregatorSchema,
  topNMetricSchema,
  topNThresholdMax,
  UNSUPPORTED_PARAM,
  unsupportedSchema,
} from './schema.js';
import type { Aggregator, HavingSpec, PostAggregator, Query, QueryType, SegmentAnalysisType, TopNMetricSpec } from './types.js';

/** All of time, as intervals default to for timeBoundary and segmentMetadata. */
export const ETERNITY = { start: INSTANT_MIN, end: INSTANT_MAX + 1 } as const;
/** Objects and arrays nested deeper than this are refused before validation (filters recurse). */
export const queryDepthMax = 64;

/** How deeply arrays and objects nest in a JSON value, iteratively (a hostile value cannot exhaust the stack). */
function nestingDepth(value: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (d > max) max = d;
    if (max > queryDepthMax) return max;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
}

/** Druid's default scan batch size (events per batch in the response). */
export const scanBatchSizeDefault = 20_480;
export const scanBatchSizeMax = 1_000_000;

const opt = optionalSchema;
const int = intSchema;

const virtualColumns = z.unknown().optional().superRefine((v, ctx) => {
  if (v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0)) {
    ctx.addIssue({ code: 'custom', message: 'virtual columns are not supported', params: { [UNSUPPORTED_PARAM]: true } });
  }
});

const common = {
  queryType: z.string(),
  dataSource: dataSourceSchema,
  intervals: intervalsSchema,
  filter: opt(filterSchema, null),
  context: opt(contextSchema, {}),
  virtualColumns,
};
const eternal = { ...common, intervals: opt(intervalsSchema, [{ ...ETERNITY }]) };

const aggregating = {
  granularity: granularitySchema,
  aggregations: opt(z.array(aggregatorSchema).max(aggregationsMax), []),
  postAggregations: opt(z.array(postAggregatorSchema).max(postAggregationsMax), []),
};

const ANALYSIS_TYPES = ['cardinality', 'minmax', 'size', 'interval', 'timestampSpec', 'queryGranularity', 'aggregators', 'rollup'] as const;

const QUERY_SCHEMAS: Record<QueryType, z.ZodType<Query>> = {
  timeseries: z
    .object({ ...common, ...aggregating, descending: opt(booleanSchema, false), limit: opt(int(1, Number.MAX_SAFE_INTEGER), null) })
    .transform((q): Query => ({ ...pick(q), queryType: 'timeseries', granularity: q.granularity, aggregations: q.aggregations, postAggregations: q.postAggregations, descending: q.descending, limit: q.limit })),
  topN: z
    .object({ ...common, ...aggregating, dimension: dimensionSpecSchema, metric: topNMetricSchema, threshold: int(1, topNThresholdMax) })
    .transform(
      (q): Query => ({
        ...pick(q),
        queryType: 'topN',
        granularity: q.granularity,
        dimension: q.dimension,
        metric: q.metric,
        threshold: q.threshold,
        aggregations: q.aggregations,
        postAggregations: q.postAggregations,
      }),
    ),
  groupBy: z
    .object({
      ...common,
      ...aggregating,
      dimensions: opt(z.array(dimensionSpecSchema).max(dimensionsMax), []),
      having: opt(havingSchema, null),
      limitSpec: opt(limitSpecSchema, null),
      subtotalsSpec: unsupportedSchema('subtotalsSpec'),
    })
    .transform(
      (q): Query => ({
        ...pick(q),
        queryType: 'groupBy',
        granularity: q.granularity,
        dimensions: q.dimensions,
        aggregations: q.aggregations,
        postAggregations: q.postAggregations,
        having: q.having,
        limitSpec: q.limitSpec,
      }),
    ),
  scan: z
    .object({
      ...common,
      columns: opt(z.array(z.string().min(1)).max(10_000), []),
      limit: opt(int(0, Number.MAX_SAFE_INTEGER), null),
      offset: opt(int(0, Number.MAX_SAFE_INTEGER), 0),
      order: opt(z.enum(['none', 'ascending', 'descending'], { error: () => 'expected none, ascending or descending' }), 'none' as const),
      resultFormat: opt(z.enum(['list', 'compactedList'], { error: () => 'expected list or compactedList' }), 'list' as const),
      batchSize: opt(int(1, scanBatchSizeMax), scanBatchSizeDefault),
      legacy: opt(booleanSchema, false).refine((l) => !l, { message: 'legacy scan is not supported', params: { [UNSUPPORTED_PARAM]: true } }),
    })
    .transform(
      (q): Query => ({
        ...pick(q),
        queryType: 'scan',
        columns: q.columns,
        limit: q.limit,
        offset: q.offset,
        order: q.order,
        resultFormat: q.resultFormat,
        batchSize: q.batchSize,
      }),
    ),
  timeBoundary: z
    .object({ ...eternal, bound: opt(z.enum(['minTime', 'maxTime'], { error: () => 'expected minTime or maxTime' }), null) })
    .transform((q): Query => ({ ...pick(q), queryType: 'timeBoundary', bound: q.bound })),
  segmentMetadata: z
    .object({
      ...eternal,
      toInclude: opt(
        z.discriminatedUnion('type', [
          z.object({ type: z.literal('all') }),
          z.object({ type: z.literal('none') }),
          z.object({ type: z.literal('list'), columns: z.array(z.string()) }),
        ]),
        { type: 'all' as const },
      ),
      analysisTypes: opt(z.array(z.enum(ANALYSIS_TYPES, { error: () => `expected one of ${ANALYSIS_TYPES.join(', ')}` })), ['cardinality', 'interval', 'minmax'] as SegmentAnalysisType[]),
      merge: opt(booleanSchema, false),
    })
    .transform(
      (q): Query => ({
        ...pick(q),
        queryType: 'segmentMetadata',
        toInclude: q.toInclude.type === 'list' ? { type: 'list', columns: q.toInclude.columns } : { type: q.toInclude.type },
        analysisTypes: [...new Set(q.analysisTypes)],
        merge: q.merge,
      }),
    ),
};

function pick(q: { dataSource: string; intervals: Query['intervals']; filter: Query['filter']; context: Query['context'] }) {
  return { dataSource: q.dataSource, intervals: q.intervals, filter: q.filter, context: q.context };
}

function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') return /received undefined$/.test(issue.message) ? 'required' : issue.message.replace(/^Invalid input: /, '');
  return issue.message;
}

/** Raises the issues of a failed parse as one QueryError: 501 if any names an unsupported feature, else 400. */
function raise(error: z.core.$ZodError, prefix: readonly PropertyKey[] = []): never {
  const issues = error.issues;
  const shown = issues.slice(0, zodIssuesShownMax).map((i) => `${formatPath([...prefix, ...i.path])}: ${issueMessage(i)}`);
  if (issues.length > zodIssuesShownMax) shown.push(`and ${issues.length - zodIssuesShownMax} more`);
  const unsupported = issues.some(
    (i) => (i.code === 'custom' && (i.params as Record<string, unknown> | undefined)?.[UNSUPPORTED_PARAM] === true) || / (is|are) not supported$/.test(i.message),
  );
  throw new QueryError(unsupported ? 'UNSUPPORTED' : 'INVALID_QUERY', shown.join('; '));
}

/**
 * Validates a Druid native query and normalizes it.
 * @throws QueryError INVALID_QUERY naming the field (`threshold: required`), or UNSUPPORTED.
 * @example parseQuery({queryType: 'timeBoundary', dataSource: 'wiki'}).intervals[0].start === INSTANT_MIN
 */
export function parseQuery(raw: unknown): Query {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalidQuery('(root)', 'expected a query object');
  const queryType = (raw as Record<string, unknown>)['queryType'];
  if (queryType === undefined || queryType === null) throw invalidQuery('queryType', 'required');
  const schema = typeof queryType === 'string' ? QUERY_SCHEMAS[queryType as QueryType] : undefined;
  if (!schema || !Object.hasOwn(QUERY_SCHEMAS, queryType as string)) {
    const known = Object.keys(QUERY_SCHEMAS).join(', ');
    if (queryType === 'search' || queryType === 'dataSourceMetadata' || queryType === 'select') {
      throw new QueryError('UNSUPPORTED', `queryType: "${queryType}" queries are not supported; supported: ${known}`);
    }
    throw invalidQuery('queryType', `unknown query type ${JSON.stringify(queryType)}; expected one of ${known}`);
  }
  const depth = nestingDepth(raw);
  if (depth > queryDepthMax) throw invalidQuery('(root)', `nested ${depth} levels deep; at most ${queryDepthMax} are allowed`);
  let parsed: ReturnType<typeof schema.safeParse>;
  try {
    parsed = schema.safeParse(raw);
  } catch (err) {
    throw invalidQuery('(root)', `cannot read the query: ${(err as Error).message}`);
  }
  if (!parsed.success) raise(parsed.error);
  checkReferences(parsed.data);
  return parsed.data;
}

/** Names must be unique and every reference (post-aggregators, having, limitSpec, topN metric) must resolve. */
function checkReferences(q: Query): void {
  if (q.queryType !== 'timeseries' && q.queryType !== 'topN' && q.queryType !== 'groupBy') return;
  const defined = new Map<string, string>();
  const define = (name: string, path: string) => {
    if (defined.has(name)) throw invalidQuery(path, `${JSON.stringify(name)} is already defined (at ${defined.get(name)})`);
    defined.set(name, path);
  };
  const dims = q.queryType === 'groupBy' ? q.dimensions : q.queryType === 'topN' ? [q.dimension] : [];
  dims.forEach((d, i) => define(d.outputName, q.queryType === 'topN' ? 'dimension.outputName' : `dimensions[${i}].outputName`));
  const aggTypes = new Map<string, Aggregator['type']>();
  q.aggregations.forEach((a, i) => {
    define(a.name, `aggregations[${i}].name`);
    aggTypes.set(a.name, innermost(a).type);
  });
  const metrics = new Set(aggTypes.keys());
  q.postAggregations.forEach((p, i) => {
    const path = `postAggregations[${i}]`;
    if (p.name === '') throw invalidQuery(`${path}.name`, 'required');
    checkPostAggregator(p, path, metrics, aggTypes);
    define(p.name, `${path}.name`);
    metrics.add(p.name);
  });
  if (q.queryType === 'topN') checkTopNMetric(q.metric, 'metric', metrics);
  if (q.queryType === 'groupBy') {
    if (q.having) checkHaving(q.having, 'having', metrics);
    q.limitSpec?.columns.forEach((c, i) => {
      if (!defined.has(c.dimension)) throw invalidQuery(`limitSpec.columns[${i}].dimension`, `unknown column ${JSON.stringify(c.dimension)}; expected a dimension, aggregation or post-aggregation name`);
    });
  }
}

function innermost(a: Aggregator): Aggregator {
  return a.type === 'filtered' ? innermost(a.aggregator) : a;
}

function checkPostAggregator(p: PostAggregator, path: string, metrics: ReadonlySet<string>, aggTypes: ReadonlyMap<string, Aggregator['type']>): void {
  switch (p.type) {
    case 'fieldAccess':
    case 'finalizingFieldAccess':
    case 'hyperUniqueCardinality':
      if (!metrics.has(p.fieldName)) throw invalidQuery(`${path}.fieldName`, `unknown aggregation or post-aggregation ${JSON.stringify(p.fieldName)}`);
      return;
    case 'constant':
      return;
    case 'arithmetic':
    case 'doubleGreatest':
    case 'doubleLeast':
    case 'longGreatest':
    case 'longLeast':
      p.fields.forEach((f, i) => checkPostAggregator(f, `${path}.fields[${i}]`, metrics, aggTypes));
      return;
    case 'quantilesDoublesSketchToQuantile':
    case 'quantilesDoublesSketchToQuantiles': {
      checkPostAggregator(p.field, `${path}.field`, metrics, aggTypes);
      const f = p.field;
      if (f.type === 'fieldAccess' || f.type === 'finalizingFieldAccess') {
        const t = aggTypes.get(f.fieldName);
        if (t !== undefined && t !== 'quantilesDoublesSketch') {
          throw invalidQuery(`${path}.field.fieldName`, `${JSON.stringify(f.fieldName)} is a ${t} aggregation, not a quantilesDoublesSketch`);
        }
      } else {
        throw invalidQuery(`${path}.field`, 'expected a fieldAccess to a quantilesDoublesSketch aggregation');
      }
      return;
    }
  }
}

function checkTopNMetric(m: TopNMetricSpec, path: string, metrics: ReadonlySet<string>): void {
  if (m.type === 'numeric' && !metrics.has(m.metric)) throw invalidQuery(path, `unknown metric ${JSON.stringify(m.metric)}; expected an aggregation or post-aggregation name`);
  if (m.type === 'inverted') checkTopNMetric(m.metric, `${path}.metric`, metrics);
}

function checkHaving(h: HavingSpec, path: string, metrics: ReadonlySet<string>): void {
  switch (h.type) {
    case 'greaterThan':
    case 'lessThan':
    case 'equalTo':
      if (!metrics.has(h.aggregation)) throw invalidQuery(`${path}.aggregation`, `unknown aggregation or post-aggregation ${JSON.stringify(h.aggregation)}`);
      return;
    case 'and':
    case 'or':
      h.havingSpecs.forEach((s, i) => checkHaving(s, `${path}.havingSpecs[${i}]`, metrics));
      return;
    case 'not':
      checkHaving(h.havingSpec, `${path}.havingSpec`, metrics);
      return;
    default:
      return;
  }
}
