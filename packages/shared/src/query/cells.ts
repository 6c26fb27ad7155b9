/**
 * Reading one cell of a loaded segment as filters and aggregators see it. This is the slow,
 * obviously correct path (tests, having, rare shapes); the engine reads typed arrays directly.
 */
import type { LoadedSegment } from '../segment/types.js';
import { TIME_COLUMN } from '../segment/types.js';
import type { CellValue } from './filter-eval.js';
import { parseNumber } from './ordering.js';

/** A cell: dimensions as string or null, metrics and `__time` as numbers (null for NaN), missing columns as null. */
export function segmentCell(segment: LoadedSegment, column: string, row: number): CellValue {
  if (column === TIME_COLUMN) return segment.time[row]!;
  const dim = segment.dimensions.get(column);
  if (dim) {
    const code = dim.codes[row]!;
    return code < 0 ? null : dim.dictionary[code]!;
  }
  const metric = segment.metrics.get(column);
  if (metric) {
    const v = metric.values[row]!;
    return v !== v ? null : v;
  }
  return null;
}

/** A cell as a number: strings that are decimal numbers parse, anything else is null. */
export function segmentNumber(segment: LoadedSegment, column: string, row: number): number | null {
  const v = segmentCell(segment, column, row);
  return typeof v === 'string' ? parseNumber(v) : v;
}
