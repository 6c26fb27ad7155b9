/** timeBoundary over one segment: the first and last timestamps among the rows that pass the filter. */
import { intersectIntervals, type LoadedSegment, type TimeBoundaryPartial, type TimeBoundaryQuery } from '@cairn/shared';
import { Columns } from './columns.js';
import { chunkRows, type Guard } from './execution.js';
import { compileRowFilter, splitTimeFilter } from './filter-program.js';
import { rowRanges, segmentSpan } from './plan.js';

export function runTimeBoundary(query: TimeBoundaryQuery, segment: LoadedSegment, guard: Guard): TimeBoundaryPartial {
  const { time: timeRestriction, rest } = splitTimeFilter(query.filter);
  let intervals = intersectIntervals(query.intervals, [segmentSpan(segment)]);
  if (timeRestriction) intervals = intersectIntervals(intervals, timeRestriction);
  const ranges = rowRanges(segment.time, intervals);
  const filter = compileRowFilter(rest, new Columns(segment));
  const sel = new Int32Array(chunkRows);
  let minTime: number | null = null;
  let maxTime: number | null = null;
  // Time is sorted: the first match from the start is the minimum, the first from the end the maximum.
  outer: for (let j = 0; j < ranges.length; j += 2) {
    for (let lo = ranges[j]!; lo < ranges[j + 1]!; lo += chunkRows) {
      guard.check();
      const n = filter.select(lo, Math.min(ranges[j + 1]!, lo + chunkRows), sel);
      if (n > 0) {
        minTime = segment.time[sel[0]!]!;
        break outer;
      }
    }
  }
  if (minTime === null) return { queryType: 'timeBoundary', minTime, maxTime };
  outer: for (let j = ranges.length - 2; j >= 0; j -= 2) {
    for (let hi = ranges[j + 1]!; hi > ranges[j]!; hi -= chunkRows) {
      guard.check();
      const n = filter.select(Math.max(ranges[j]!, hi - chunkRows), hi, sel);
      if (n > 0) {
        maxTime = segment.time[sel[n - 1]!]!;
        break outer;
      }
    }
  }
  return { queryType: 'timeBoundary', minTime, maxTime };
}
