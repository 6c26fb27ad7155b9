/**
 * A segment as the query engine sees it once loaded: plain typed arrays, ready for tight loops.
 * The file format (Arrow IPC) is decoded into this once, when a worker loads the segment.
 */

/** Where a column comes from and how the engine reads it. */
export type ColumnRole = 'time' | 'dimension' | 'metric';
export type MetricType = 'long' | 'double';

/** Per-column statistics kept in the file's metadata (segmentMetadata answers from them). */
export interface ColumnStats {
  readonly name: string;
  readonly role: ColumnRole;
  /** 'string' for dimensions, 'long' for __time, the metric's type otherwise. */
  readonly type: 'string' | MetricType;
  readonly nullCount: number;
  /** Distinct non-null values (dimensions only). */
  readonly cardinality?: number;
  /** Numeric bounds (time and metrics), or lexicographic bounds of dimension values. */
  readonly min?: number | string | null;
  readonly max?: number | string | null;
}

/** The aggregator a metric column was rolled up with at ingestion (Druid's metricsSpec). */
export interface MetricSpec {
  readonly name: string;
  readonly type: 'count' | 'longSum' | 'doubleSum' | 'longMin' | 'longMax' | 'doubleMin' | 'doubleMax';
  /** The input field (absent for count). */
  readonly fieldName?: string;
}

/** Everything the file says about itself, besides its columns. */
export interface SegmentMeta {
  readonly formatVersion: number;
  readonly dataSource: string;
  /** The segment's interval, [start, end) epoch ms. */
  readonly start: number;
  readonly end: number;
  readonly version: string;
  readonly partition: number;
  readonly partitions: number;
  readonly rowCount: number;
  /** Min and max of __time (epoch ms); 0 and 0 for an empty segment. */
  readonly minTime: number;
  readonly maxTime: number;
  readonly rollup: boolean;
  /** Druid granularity name the timestamps were truncated to ('none', 'hour', ...). */
  readonly queryGranularity: string;
  readonly dimensions: readonly string[];
  readonly metrics: readonly MetricSpec[];
  readonly columns: readonly ColumnStats[];
}

/** A dictionary-encoded string column: `codes[i]` indexes `dictionary`, -1 is null. */
export interface DimensionColumn {
  readonly name: string;
  readonly codes: Int32Array;
  /** Sorted ascending (code order is value order), no duplicates, no nulls. */
  readonly dictionary: readonly string[];
  /** True when some row is null (code -1). */
  readonly hasNulls: boolean;
}

/** A numeric column; longs are held as doubles (exact up to 2^53). Nulls, if any, are NaN. */
export interface MetricColumn {
  readonly name: string;
  readonly type: MetricType;
  readonly values: Float64Array;
  readonly hasNulls: boolean;
}

export interface LoadedSegment {
  /** The catalog id (dataSource_start_end_version[_partition]). */
  readonly id: string;
  readonly meta: SegmentMeta;
  readonly rowCount: number;
  /** Epoch ms, sorted ascending. */
  readonly time: Float64Array;
  readonly dimensions: ReadonlyMap<string, DimensionColumn>;
  readonly metrics: ReadonlyMap<string, MetricColumn>;
}

/** The format this build writes; readers accept this one and every older one they know. */
export const SEGMENT_FORMAT_VERSION = 1;
export const TIME_COLUMN = '__time';
