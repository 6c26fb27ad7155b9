/**
 * Which rows of a segment a query reads, bucket by bucket. Time is sorted, so every query
 * interval and every time bucket is a contiguous run of rows found by binary search: no row's
 * timestamp is ever looked at in the aggregation loops.
 */
import { bucketingOf, intersectIntervals, type Granularity, type Interval, type LoadedSegment } from '@cairn/shared';
import { lowerBound } from './columns.js';
import type { Guard } from './execution.js';

/** The instants a segment covers: its interval, widened to its rows if they stray outside. */
export function segmentSpan(segment: LoadedSegment): Interval {
  const n = segment.rowCount;
  let start = segment.meta.start;
  let end = segment.meta.end;
  if (n > 0) {
    start = Math.min(start, segment.time[0]!);
    end = Math.max(end, segment.time[n - 1]! + 1);
  }
  return { start, end: Math.max(end, start) };
}

export interface BucketPlan {
  /** The query intervals clipped to the segment (empty: the segment is not queried). */
  clipped: Interval[];
  /** Start of each bucket. */
  times: number[];
  /** Row ranges of bucket b: pairs `rows[2j], rows[2j + 1]` for j in [first[b], first[b + 1]). */
  first: number[];
  rows: number[];
  /** Rows in all buckets. */
  totalRows: number;
}

/** Row ranges [lo, hi) of sorted, disjoint intervals. */
export function rowRanges(time: Float64Array, intervals: readonly Interval[]): number[] {
  const out: number[] = [];
  let from = 0;
  for (const i of intervals) {
    const lo = lowerBound(time, i.start, from);
    const hi = lowerBound(time, i.end, lo);
    if (hi > lo) out.push(lo, hi);
    from = hi;
  }
  return out;
}

/** Ends the bucket starting at `t` after the row ranges so far (a function of its own, not a closure made per plan: one per segment adds up over many small segments). */
function closeBucket(plan: BucketPlan, t: number): void {
  plan.times.push(t);
  plan.first.push(plan.rows.length / 2);
}

/**
 * Plans the buckets of an aggregating query over one segment.
 * - `all`: one bucket, at the first queried instant.
 * - `none`: one bucket per distinct timestamp.
 * - otherwise: the granularity's buckets over each clipped interval; with `fill`, also the
 *   buckets without rows (timeseries zero-fills them, as Druid does within the data's interval).
 * `timeRestriction` (from `__time` filters) narrows the rows but not the buckets.
 */
export function planBuckets(
  segment: LoadedSegment,
  intervals: readonly Interval[],
  granularity: Granularity,
  timeRestriction: Interval[] | null,
  fill: boolean,
  guard: Guard,
): BucketPlan {
  const clipped = intersectIntervals(intervals, [segmentSpan(segment)]);
  const plan: BucketPlan = { clipped, times: [], first: [0], rows: [], totalRows: 0 };
  if (clipped.length === 0) return plan;
  const readable = timeRestriction ? intersectIntervals(clipped, timeRestriction) : clipped;
  const ranges = rowRanges(segment.time, readable);
  const time = segment.time;
  if (granularity.type === 'all') {
    plan.rows = ranges;
    for (let j = 0; j < ranges.length; j += 2) plan.totalRows += ranges[j + 1]! - ranges[j]!;
    closeBucket(plan, clipped[0]!.start);
    return plan;
  }
  if (granularity.type === 'none') {
    for (let j = 0; j < ranges.length; j += 2) {
      let i = ranges[j]!;
      const hi = ranges[j + 1]!;
      while (i < hi) {
        const t = time[i]!;
        const end = lowerBound(time, t + 1, i, hi);
        plan.rows.push(i, end);
        closeBucket(plan, t);
        i = end;
        guard.tick();
      }
      plan.totalRows += hi - ranges[j]!;
    }
    return plan;
  }
  const bucketing = bucketingOf(granularity)!;
  let r = 0; // next row range
  for (const c of clipped) {
    const b = bucketing.boundaries(c.start, c.end);
    for (let k = 0; k + 1 < b.length; k++) {
      guard.tick();
      const start = b[k]!;
      const lo = lowerBound(time, Math.max(start, c.start));
      const hi = lowerBound(time, Math.min(b[k + 1]!, c.end), lo);
      const before = plan.rows.length;
      while (r < ranges.length && ranges[r + 1]! <= lo) r += 2;
      for (let j = r; j < ranges.length && ranges[j]! < hi; j += 2) {
        const a = Math.max(lo, ranges[j]!);
        const z = Math.min(hi, ranges[j + 1]!);
        if (z > a) {
          plan.rows.push(a, z);
          plan.totalRows += z - a;
        }
      }
      const hasRows = plan.rows.length > before;
      if (!hasRows && !fill) continue;
      // Two clipped intervals can share a bucket: keep adding to it.
      if (plan.times.length > 0 && plan.times[plan.times.length - 1] === start) {
        plan.first[plan.first.length - 1] = plan.rows.length / 2;
      } else {
        closeBucket(plan, start);
      }
    }
  }
  return plan;
}
