/**
 * segmentMetadata over one segment, answered from the data itself: every column's type, null
 * presence, cardinality (dictionary size), min and max (for numeric columns too, which Druid
 * leaves out) and an estimate of its size in memory (8 bytes per value of `__time` and
 * metrics; 4 bytes per row plus the UTF-8 bytes of the dictionary for strings).
 */
import {
  formatInterval,
  intersectIntervals,
  TIME_COLUMN,
  type ColumnAnalysis,
  type LoadedSegment,
  type SegmentAnalysis,
  type SegmentMetadataPartial,
  type SegmentMetadataQuery,
} from '@cairn/shared';
import type { Guard } from './execution.js';
import { segmentSpan } from './plan.js';

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

export function runSegmentMetadata(query: SegmentMetadataQuery, segment: LoadedSegment, guard: Guard): SegmentMetadataPartial {
  if (intersectIntervals(query.intervals, [segmentSpan(segment)]).length === 0) return { queryType: 'segmentMetadata', analyses: [] };
  const types = new Set(query.analysisTypes);
  const include = (name: string) =>
    query.toInclude.type === 'all' || (query.toInclude.type === 'list' && query.toInclude.columns.includes(name));
  const n = segment.rowCount;
  const columns: Record<string, ColumnAnalysis> = {};
  const column = (type: string, hasNulls: boolean, size: number, cardinality: number | null, min: string | number | null, max: string | number | null): ColumnAnalysis => ({
    type,
    typeSignature: type,
    hasMultipleValues: false,
    hasNulls,
    size: types.has('size') ? size : 0,
    cardinality: types.has('cardinality') ? cardinality : null,
    minValue: types.has('minmax') ? min : null,
    maxValue: types.has('minmax') ? max : null,
    errorMessage: null,
  });
  if (include(TIME_COLUMN)) {
    columns[TIME_COLUMN] = column('LONG', false, n * 8, null, n > 0 ? segment.time[0]! : null, n > 0 ? segment.time[n - 1]! : null);
  }
  for (const [name, dim] of segment.dimensions) {
    if (!include(name)) continue;
    guard.check();
    const dict = dim.dictionary;
    const bytes = types.has('size') ? dict.reduce((s, v) => s + utf8Length(v), 0) : 0;
    columns[name] = column('STRING', dim.hasNulls, n * 4 + bytes, dict.length, dict.length > 0 ? dict[0]! : null, dict.length > 0 ? dict[dict.length - 1]! : null);
  }
  for (const [name, metric] of segment.metrics) {
    if (!include(name)) continue;
    guard.check();
    let min = Infinity;
    let max = -Infinity;
    if (types.has('minmax')) {
      const vals = metric.values;
      for (let i = 0; i < vals.length; i++) {
        const v = vals[i]!;
        if (v < min) min = v;
        if (v > max) max = v;
      }
    }
    const type = metric.type === 'long' ? 'LONG' : 'DOUBLE';
    columns[name] = column(type, metric.hasNulls, n * 8, null, min <= max ? min : null, min <= max ? max : null);
  }
  const analysis: SegmentAnalysis = {
    id: segment.id,
    intervals: types.has('interval') ? [formatInterval({ start: segment.meta.start, end: segment.meta.end })] : null,
    columns,
    size: Object.values(columns).reduce((s, c) => s + c.size, 0),
    numRows: n,
    aggregators: types.has('aggregators')
      ? Object.fromEntries(segment.meta.metrics.map((m) => [m.name, { type: m.type, name: m.name, ...(m.fieldName ? { fieldName: m.fieldName } : {}) }]))
      : null,
    timestampSpec: types.has('timestampSpec') ? { column: TIME_COLUMN, format: 'millis', missingValue: null } : null,
    queryGranularity: types.has('queryGranularity') ? { type: segment.meta.queryGranularity } : null,
    rollup: types.has('rollup') ? segment.meta.rollup : null,
  };
  return { queryType: 'segmentMetadata', analyses: [analysis] };
}
