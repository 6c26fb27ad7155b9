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
 *
 * Two encodings of the dimension values, both accepted by `mergePartials` and `finalizeResult`:
 * - with `dicts` (what this version writes): `dims[d][i]` is an index into `dicts[d]`, the
 *   distinct values of dimension d in this partial (null among them when it occurs). A merge
 *   then maps each partial's dictionary to its own ids once and combines rows by integer keys,
 *   instead of hashing a string per row and dimension; and a value is sent once, not per row.
 * - without `dicts` (workers before the dictionary encoding, and what a worker sends a caller
 *   that does not ask for dictionaries): `dims[d][i]` is the value itself.
 *
 * Number columns may be typed arrays (`WireNumbers`, `WireCodes`) in memory: a worker builds and
 * a merge reads them without boxing, and the garbage collector never copies them (a groupBy over
 * 100 segments holds millions of partial rows at once). They JSON-encode as plain arrays, so on
 * the wire a partial is plain JSON either way. In a Float64Array column of aggregator states
 * NaN stands for null (JSON encodes it as null).
 */
export interface AggregatePartial {
  queryType: 'timeseries' | 'topN' | 'groupBy';
  /**
   * The timestamp of the `all` bucket: the first queried instant of the queried segments (the
   * later of an interval's start and a segment's start), as Druid reports it. Null when no
   * segment overlapped the query.
   */
  allTime: number | null;
  time: number[] | Float64Array;
  dims: (string | null)[][] | (number[] | Int32Array)[];
  dicts?: (string | null)[][];
  counts: number[] | Float64Array;
  aggs: (JsonValue[] | Float64Array)[];
}

/** A Float64Array that JSON-encodes as a plain array (NaN as null). */
export class WireNumbers extends Float64Array {
  toJSON(): number[] {
    return Array.from(this);
  }
}

/** An Int32Array that JSON-encodes as a plain array. */
export class WireCodes extends Int32Array {
  toJSON(): number[] {
    return Array.from(this);
  }
}

/** Whether a partial's column is a list (a plain array, or a typed array built in this process). */
export function isColumn(x: unknown): x is ArrayLike<unknown> {
  return Array.isArray(x) || x instanceof Float64Array || x instanceof Int32Array;
}

/** The value of dimension d on row i of an aggregate partial, whichever its encoding. */
export function partialDimValue(p: AggregatePartial, d: number, i: number): string | null {
  const v = p.dims[d]![i]!;
  return p.dicts ? p.dicts[d]![v as number]! : (v as string | null);
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

/**
 * The same partial with each dimension value written on every row, the encoding before `dicts`:
 * what a worker sends a caller that did not ask for dictionaries (`dicts: true` in the request),
 * so clients and workers of the previous version keep working during a rolling upgrade.
 */
export function withoutDicts(p: PartialResult): PartialResult {
  if (!('dicts' in p) || p.dicts === undefined) return p;
  const dicts = p.dicts;
  const { dicts: _, ...rest } = p;
  return { ...rest, dims: p.dims.map((col, d) => Array.from(col as ArrayLike<number>, (code) => dicts[d]![code]!)) };
}
