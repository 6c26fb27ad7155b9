/**
 * Time buckets. Fixed durations (the simple granularities up to `week`, `duration`, and UTC
 * periods without months or years) are pure integer arithmetic from an origin. Calendar periods
 * and periods in a time zone step through local wall-clock time (`origin + k * period`, by
 * Joda's field-wise addition) and convert each boundary back to an instant once; the engine asks
 * for the boundaries over a segment's range once per query and never touches a Date per row.
 *
 * Defaults as Druid documents them: the origin is 1970-01-01T00:00 in the granularity's zone,
 * and periods counted in weeks start on Monday (1970-01-05) unless an origin is given.
 */
import { addPeriod, formatInstant, parsePeriod, type Period } from '../time.js';
import { QueryError } from './errors.js';
import type { Granularity } from './types.js';
import { ZoneOffsets } from './zone.js';

/** Buckets one query may produce over one segment; beyond this the query fails with RESOURCE_LIMIT. */
export const bucketsPerSegmentMax = 1_000_000;

const MONDAY_LOCAL_MS = 4 * 86_400_000;

function approxPeriodMs(p: Period): number {
  return (
    p.years * 365.2425 * 86_400_000 +
    p.months * 30.436875 * 86_400_000 +
    (p.weeks * 7 + p.days) * 86_400_000 +
    p.hours * 3_600_000 +
    p.minutes * 60_000 +
    p.seconds * 1_000 +
    p.millis
  );
}

function tooMany(count: number, max: number): QueryError {
  return new QueryError('RESOURCE_LIMIT', `the granularity makes ${count > max ? `more than ${max}` : count} time buckets over one segment; the limit is ${max} (bucketsPerSegmentMax)`);
}

/** A bucketing of the time line for a granularity other than `all` and `none`. */
export interface Bucketing {
  /**
   * The starts of the buckets overlapping [lo, hi) followed by the end of the last one:
   * `b[0] <= lo < b[1] < ... < b[n-1] < hi <= b[n]`; bucket i is [b[i], b[i+1]).
   * @throws QueryError RESOURCE_LIMIT beyond `max` buckets.
   */
  boundaries(lo: number, hi: number, max?: number): number[];
  /** The start of the bucket holding `t`. */
  bucketStart(t: number): number;
}

/** Fixed-size buckets `[origin + k * size, origin + (k + 1) * size)`. */
export function durationBucketing(size: number, origin: number): Bucketing {
  const bucketStart = (t: number) => origin + Math.floor((t - origin) / size) * size;
  return {
    bucketStart,
    boundaries(lo, hi, max = bucketsPerSegmentMax) {
      if (hi <= lo) return [];
      const first = bucketStart(lo);
      const count = Math.ceil((hi - first) / size);
      if (count > max) throw tooMany(count, max);
      const out = new Array<number>(count + 1);
      for (let i = 0; i <= count; i++) out[i] = first + i * size;
      return out;
    },
  };
}

/** Calendar buckets of `period` in `timeZone`, stepping from `origin` (an instant; null for the default). */
export function periodBucketing(period: string, timeZone: string, origin: number | null): Bucketing {
  const p = parsePeriod(period);
  const zone = ZoneOffsets.of(timeZone);
  const weekly = p.weeks > 0 && p.years === 0 && p.months === 0;
  const originLocal = origin === null ? (weekly ? MONDAY_LOCAL_MS : 0) : origin + zone.offsetAt(origin);
  const approx = approxPeriodMs(p);
  const startAt = (k: number) => zone.localToInstant(addPeriod(originLocal, p, k));
  /** The k of the bucket holding t. */
  const indexOf = (t: number): number => {
    let k = Math.floor((t + zone.offsetAt(t) - originLocal) / approx);
    while (startAt(k) > t) k--;
    while (startAt(k + 1) <= t) k++;
    return k;
  };
  return {
    bucketStart: (t) => startAt(indexOf(t)),
    boundaries(lo, hi, max = bucketsPerSegmentMax) {
      if (hi <= lo) return [];
      const estimate = Math.floor((hi - lo) / approx);
      if (estimate > max + 2) throw tooMany(estimate, max);
      const out: number[] = [];
      let k = indexOf(lo);
      let b = startAt(k);
      out.push(b);
      while (b < hi) {
        k++;
        b = startAt(k);
        // Boundaries inside one daylight-saving gap collapse onto the jump: keep one.
        if (b > out[out.length - 1]!) out.push(b);
        if (out.length > max + 1) throw tooMany(out.length, max);
      }
      return out;
    },
  };
}

/** The bucketing of a granularity; `all` and `none` have none (the engine handles them). */
export function bucketingOf(g: Granularity): Bucketing | null {
  switch (g.type) {
    case 'all':
    case 'none':
      return null;
    case 'duration':
      return durationBucketing(g.duration, g.origin);
    case 'period':
      return periodBucketing(g.period, g.timeZone, g.origin);
  }
}

/** How result timestamps are printed: in the period's zone, else in UTC. */
export function timestampFormatter(g: Granularity): (t: number) => string {
  if (g.type === 'period' && g.timeZone !== 'UTC') {
    const zone = ZoneOffsets.of(g.timeZone);
    const cache = new Map<number, string>();
    return (t) => {
      let s = cache.get(t);
      if (s === undefined) {
        s = zone.formatInstant(t);
        if (cache.size < 100_000) cache.set(t, s);
      }
      return s;
    };
  }
  // Rows of one bucket share a timestamp: remember the last one formatted.
  let last = NaN;
  let text = '';
  return (t) => {
    if (t !== last) {
      last = t;
      text = formatInstant(t);
    }
    return text;
  };
}
