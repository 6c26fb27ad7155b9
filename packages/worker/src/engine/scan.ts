/**
 * scan over one segment: the rows of the query intervals that pass the filter, first to last
 * (`none`, `ascending`) or last to first (`descending`), at most `offset + limit` of them (the
 * offset can only be applied after merging).
 */
import { checkScanOrdering, intersectIntervals, scanRowsNeeded, TIME_COLUMN, type JsonValue, type LoadedSegment, type ScanPartial, type ScanQuery } from '@cairn/shared';
import { Columns } from './columns.js';
import { chunkRows, type Guard } from './execution.js';
import { compileRowFilter, splitTimeFilter } from './filter-program.js';
import { rowRanges, segmentSpan } from './plan.js';

export function runScan(query: ScanQuery, segment: LoadedSegment, guard: Guard): ScanPartial {
  checkScanOrdering(query);
  const columns = new Columns(segment);
  const names = query.columns.length > 0 ? query.columns : [TIME_COLUMN, ...segment.dimensions.keys(), ...segment.metrics.keys()];
  const { time: timeRestriction, rest } = splitTimeFilter(query.filter);
  let intervals = intersectIntervals(query.intervals, [segmentSpan(segment)]);
  if (timeRestriction) intervals = intersectIntervals(intervals, timeRestriction);
  const ranges = rowRanges(segment.time, intervals);
  const filter = compileRowFilter(rest, columns);
  const needed = scanRowsNeeded(query);
  const descending = query.order === 'descending';

  // First the rows, then each column over them: no per-row temporaries.
  const rows: number[] = [];
  const sel = new Int32Array(chunkRows);
  if (!descending) {
    for (let j = 0; j < ranges.length && rows.length < needed; j += 2) {
      for (let lo = ranges[j]!; lo < ranges[j + 1]! && rows.length < needed; lo += chunkRows) {
        guard.check();
        const n = filter.select(lo, Math.min(ranges[j + 1]!, lo + chunkRows), sel);
        for (let k = 0; k < n && rows.length < needed; k++) rows.push(sel[k]!);
      }
    }
  } else {
    for (let j = ranges.length - 2; j >= 0 && rows.length < needed; j -= 2) {
      for (let hi = ranges[j + 1]!; hi > ranges[j]! && rows.length < needed; hi -= chunkRows) {
        guard.check();
        const n = filter.select(Math.max(ranges[j]!, hi - chunkRows), hi, sel);
        for (let k = n - 1; k >= 0 && rows.length < needed; k--) rows.push(sel[k]!);
      }
    }
  }
  const values: JsonValue[][] = names.map((name) => {
    if (name === TIME_COLUMN) return rows.map((i) => segment.time[i]!);
    const dim = segment.dimensions.get(name);
    if (dim) return rows.map((i) => (dim.codes[i]! < 0 ? null : dim.dictionary[dim.codes[i]!]!));
    const metric = segment.metrics.get(name);
    if (metric) return rows.map((i) => (metric.values[i]! !== metric.values[i]! ? null : metric.values[i]!));
    return rows.map(() => null);
  });
  const batch = { segmentId: segment.id, columns: names, time: rows.map((i) => segment.time[i]!), values };
  return { queryType: 'scan', batches: rows.length > 0 ? [batch] : [] };
}
