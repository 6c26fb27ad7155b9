/**
 * Partial results: what a worker answers for one segment, and what merging any number of them
 * gives back (merging is associative, so partials can be merged in a tree). Plain JSON: they
 * cross HTTP as they are.
 */
import type { JsonValue } from '../json.js';

/**
 * The partial of timeseries, topN and groupBy, column-wise: row i is bucket `time[i]`, group
 * `dims[d][i]` (one list per dimension; none for timeseries), `counts[i]` rows matched, and the
 * JSON state of aggregator a in `aggs[a][i]`.
 */
export interface AggregatePartial {
  queryType: 'timeseries' | 'topN' | 'groupBy';
  /**
   * The timestamp of the `all` bucket: the first queried instant of the queried segments (the
   * later of an interval's start and a segment's start), as Druid reports it. Null when no
   * segment overlapped the query.
   */
  allTime: number | null;
  time: number[];
  dims: (string | null)[][];
  counts: number[];
  aggs: JsonValue[][];
}

/** Scan rows of one segment (or, after an ordered merge, of many: `segmentId` null). */
export interface ScanBatch {
  segmentId: string | null;
  columns: string[];
  /** `__time` of each row (for ordering, whether or not `__time` is among the columns). */
  time: number[];
  /** Column-wise: `values[c][r]` is column `columns[c]` of row r (rows become objects only in the final response). */
  values: JsonValue[][];
}

export interface ScanPartial {
  queryType: 'scan';
  batches: ScanBatch[];
}

export interface TimeBoundaryPartial {
  queryType: 'timeBoundary';
  minTime: number | null;
  maxTime: number | null;
}

/** One column of segmentMetadata, as Druid reports it. */
export interface ColumnAnalysis {
  type: string;
  typeSignature: string;
  hasMultipleValues: boolean;
  hasNulls: boolean;
  size: number;
  cardinality: number | null;
  minValue: string | number | null;
  maxValue: string | number | null;
  errorMessage: string | null;
}

/** One segment's segmentMetadata answer (or the merge of several, id "merged"). */
export interface SegmentAnalysis {
  id: string;
  intervals: string[] | null;
  columns: Record<string, ColumnAnalysis>;
  size: number;
  numRows: number;
  aggregators: Record<string, { type: string; name: string; fieldName?: string }> | null;
  timestampSpec: { column: string; format: string; missingValue: null } | null;
  queryGranularity: { type: string } | null;
  rollup: boolean | null;
}

export interface SegmentMetadataPartial {
  queryType: 'segmentMetadata';
  analyses: SegmentAnalysis[];
}

export type PartialResult = AggregatePartial | ScanPartial | TimeBoundaryPartial | SegmentMetadataPartial;
