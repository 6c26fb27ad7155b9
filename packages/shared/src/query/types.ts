/**
 * The query model after validation: Druid's native query shapes with every default filled in,
 * aliases resolved (`equals` on a string becomes comparable with `selector`, `floatSum` is
 * `doubleSum`, a bare dimension name is a default DimensionSpec) and intervals parsed to epoch
 * milliseconds. Plain JSON-safe data: it can be logged, copied and sent as it is.
 */
import type { Interval } from '../time.js';

export type MatchValueType = 'STRING' | 'LONG' | 'DOUBLE';
/** Druid's StringComparators; `version` is not implemented. */
export type StringOrdering = 'lexicographic' | 'alphanumeric' | 'numeric' | 'strlen';

export type SearchQuerySpec =
  | { type: 'contains'; value: string; caseSensitive: boolean }
  | { type: 'insensitive_contains'; value: string }
  | { type: 'fragment'; values: string[]; caseSensitive: boolean };

export type Filter =
  | { type: 'true' }
  | { type: 'false' }
  | { type: 'and'; fields: Filter[] }
  | { type: 'or'; fields: Filter[] }
  | { type: 'not'; field: Filter }
  /** `value: null` matches nulls. */
  | { type: 'selector'; dimension: string; value: string | null }
  /** Empty `values` matches nothing; a null among them matches nulls. */
  | { type: 'in'; dimension: string; values: (string | null)[] }
  /** A missing `lower` also matches nulls (Druid sorts null first). */
  | {
      type: 'bound';
      dimension: string;
      lower: string | null;
      upper: string | null;
      lowerStrict: boolean;
      upperStrict: boolean;
      ordering: StringOrdering;
    }
  | { type: 'equals'; column: string; matchValueType: MatchValueType; matchValue: string | number }
  /** Never matches null; at least one bound. */
  | {
      type: 'range';
      column: string;
      matchValueType: MatchValueType;
      lower: string | number | null;
      upper: string | number | null;
      lowerOpen: boolean;
      upperOpen: boolean;
    }
  | { type: 'null'; column: string }
  /** Java-style `find()`: the pattern may match anywhere in the value. */
  | { type: 'regex'; dimension: string; pattern: string }
  | { type: 'like'; dimension: string; pattern: string; escape: string | null }
  | { type: 'search'; dimension: string; query: SearchQuerySpec }
  /** Half-open intervals on a numeric column (usually `__time`). */
  | { type: 'interval'; dimension: string; intervals: Interval[] };

export type FilterType = Filter['type'];

export type SimpleAggregatorType = 'longSum' | 'doubleSum' | 'longMin' | 'longMax' | 'doubleMin' | 'doubleMax';

export type Aggregator =
  | { type: 'count'; name: string }
  | { type: SimpleAggregatorType; name: string; fieldName: string }
  | { type: 'filtered'; name: string; filter: Filter; aggregator: Aggregator }
  /** HyperLogLog over the values of one or more string columns (or their combination per row). */
  | { type: 'cardinality'; name: string; fields: string[]; byRow: boolean; round: boolean }
  /** Druid's hyperUnique, here computed from a string column (no pre-aggregated HLL columns). */
  | { type: 'hyperUnique'; name: string; fieldName: string; round: boolean }
  /** DataSketches' quantiles sketch: finalizes to the number of values; query it with post-aggregators. */
  | { type: 'quantilesDoublesSketch'; name: string; fieldName: string; k: number };

export type ArithmeticFn = '+' | '-' | '*' | '/' | 'quotient';

export type PostAggregator =
  | { type: 'arithmetic'; name: string; fn: ArithmeticFn; fields: PostAggregator[]; ordering: 'numericFirst' | null }
  | { type: 'fieldAccess'; name: string; fieldName: string }
  | { type: 'finalizingFieldAccess'; name: string; fieldName: string }
  | { type: 'constant'; name: string; value: number }
  | { type: 'hyperUniqueCardinality'; name: string; fieldName: string }
  | { type: 'doubleGreatest' | 'doubleLeast' | 'longGreatest' | 'longLeast'; name: string; fields: PostAggregator[] }
  | { type: 'quantilesDoublesSketchToQuantile'; name: string; field: PostAggregator; fraction: number }
  | { type: 'quantilesDoublesSketchToQuantiles'; name: string; field: PostAggregator; fractions: number[] };

export interface DimensionSpec {
  dimension: string;
  outputName: string;
}

/**
 * `all`, `none`, a fixed duration from an origin (the simple strings up to `day`, and `week`,
 * which is seven days from Monday 1970-01-05), or a calendar period in a time zone.
 */
export type Granularity =
  | { type: 'all' }
  | { type: 'none' }
  | { type: 'duration'; duration: number; origin: number }
  | { type: 'period'; period: string; timeZone: string; origin: number | null };

export type HavingSpec =
  | { type: 'greaterThan' | 'lessThan' | 'equalTo'; aggregation: string; value: number }
  | { type: 'dimSelector'; dimension: string; value: string | null }
  | { type: 'filter'; filter: Filter }
  | { type: 'and' | 'or'; havingSpecs: HavingSpec[] }
  | { type: 'not'; havingSpec: HavingSpec }
  | { type: 'always' | 'never' };

export interface OrderByColumn {
  dimension: string;
  direction: 'ascending' | 'descending';
  dimensionOrder: StringOrdering;
}

export interface LimitSpec {
  type: 'default';
  limit: number | null;
  offset: number;
  columns: OrderByColumn[];
}

export type TopNMetricSpec =
  | { type: 'numeric'; metric: string }
  | { type: 'dimension'; ordering: StringOrdering; previousStop: string | null }
  | { type: 'inverted'; metric: TopNMetricSpec };

/**
 * The context keys the engine reads; others are carried through untouched. `timeout` is in
 * milliseconds (0: none), `minTopNThreshold` is Druid's per-segment topN depth (default 1000).
 */
export interface QueryContext {
  timeout?: number;
  priority?: number;
  queryId?: string;
  lane?: string;
  minTopNThreshold?: number;
  skipEmptyBuckets?: boolean;
  grandTotal?: boolean;
  sortByDimsFirst?: boolean;
  maxRowsQueuedForOrdering?: number;
  /** Bytes of worker answers the client may gather for the query (Druid's broker setting of that name). */
  maxScatterGatherBytes?: number;
  [key: string]: unknown;
}

interface QueryCommon {
  dataSource: string;
  /** Sorted, disjoint, non-empty half-open intervals (Druid condenses them too). */
  intervals: Interval[];
  filter: Filter | null;
  context: QueryContext;
}

export interface TimeseriesQuery extends QueryCommon {
  queryType: 'timeseries';
  granularity: Granularity;
  aggregations: Aggregator[];
  postAggregations: PostAggregator[];
  descending: boolean;
  limit: number | null;
}

export interface TopNQuery extends QueryCommon {
  queryType: 'topN';
  granularity: Granularity;
  dimension: DimensionSpec;
  metric: TopNMetricSpec;
  threshold: number;
  aggregations: Aggregator[];
  postAggregations: PostAggregator[];
}

export interface GroupByQuery extends QueryCommon {
  queryType: 'groupBy';
  granularity: Granularity;
  dimensions: DimensionSpec[];
  aggregations: Aggregator[];
  postAggregations: PostAggregator[];
  having: HavingSpec | null;
  limitSpec: LimitSpec | null;
}

export interface ScanQuery extends QueryCommon {
  queryType: 'scan';
  /** Empty: every column of each segment (`__time`, dimensions, metrics). */
  columns: string[];
  limit: number | null;
  offset: number;
  order: 'none' | 'ascending' | 'descending';
  resultFormat: 'list' | 'compactedList';
  batchSize: number;
}

export interface TimeBoundaryQuery extends QueryCommon {
  queryType: 'timeBoundary';
  bound: 'minTime' | 'maxTime' | null;
}

export type SegmentAnalysisType = 'cardinality' | 'minmax' | 'size' | 'interval' | 'timestampSpec' | 'queryGranularity' | 'aggregators' | 'rollup';

export interface SegmentMetadataQuery extends QueryCommon {
  queryType: 'segmentMetadata';
  toInclude: { type: 'all' } | { type: 'none' } | { type: 'list'; columns: string[] };
  analysisTypes: SegmentAnalysisType[];
  merge: boolean;
}

export type Query = TimeseriesQuery | TopNQuery | GroupByQuery | ScanQuery | TimeBoundaryQuery | SegmentMetadataQuery;
export type QueryType = Query['queryType'];
/** The query types that aggregate (and so have aggregators, post-aggregators and buckets). */
export type AggregatingQuery = TimeseriesQuery | TopNQuery | GroupByQuery;
