import { civilFromDays, daysFromCivil, MS_PER_DAY } from '@cairn/shared';

/**
 * Druid's named granularities in UTC, as ingestion uses them: `segmentGranularity` cuts time into
 * segment intervals, `queryGranularity` truncates each row's timestamp (rollup's finest grain).
 */
export const GRANULARITIES = [
  'none', 'second', 'minute', 'fifteen_minute', 'thirty_minute', 'hour', 'six_hour',
  'day', 'week', 'month', 'quarter', 'year', 'all',
] as const;
export type Granularity = (typeof GRANULARITIES)[number];

const FIXED_MS: Partial<Record<Granularity, number>> = {
  second: 1000,
  minute: 60_000,
  fifteen_minute: 900_000,
  thirty_minute: 1_800_000,
  hour: 3_600_000,
  six_hour: 21_600_000,
  day: MS_PER_DAY,
};

/** Calendar granularities, finest first: each one's buckets are made of whole buckets of the ones before it (a week is not made of months, so it stands apart). */
const CALENDAR_ORDER: readonly Granularity[] = ['month', 'quarter', 'year'];

/**
 * Whether every bucket of `inner` lies within one bucket of `outer`: what a queryGranularity
 * must be to a segmentGranularity, since a row goes into the segment of its truncated time. An
 * hour within a day, a day within a week, a month within a year do; a day does not within an
 * hour (coarser), nor a week within a month (a week can straddle two).
 */
export function nestsWithin(inner: Granularity, outer: Granularity): boolean {
  if (inner === 'none' || outer === 'all') return true;
  if (inner === 'all') return false;
  const innerMs = FIXED_MS[inner];
  const outerMs = FIXED_MS[outer];
  // Fixed buckets all start at the epoch, and every calendar bucket starts at midnight UTC.
  if (innerMs !== undefined) return outerMs === undefined ? MS_PER_DAY % innerMs === 0 : outerMs % innerMs === 0;
  if (outerMs !== undefined) return false; // a week, month, ... within at most a day: never
  if (inner === 'week' || outer === 'week') return inner === outer;
  return CALENDAR_ORDER.indexOf(inner) <= CALENDAR_ORDER.indexOf(outer);
}

/** The start of the bucket holding `ms`. `none` keeps the millisecond; `all` is one bucket. */
export function truncate(ms: number, g: Granularity): number {
  const fixed = FIXED_MS[g];
  if (fixed !== undefined) return Math.floor(ms / fixed) * fixed;
  switch (g) {
    case 'none':
      return ms;
    case 'all':
      return ALL_START;
    case 'week': {
      // Weeks start on Monday (ISO), as in Druid; 1970-01-01 was a Thursday.
      const days = Math.floor(ms / MS_PER_DAY);
      return (days - ((days + 3) % 7 + 7) % 7) * MS_PER_DAY;
    }
    default: {
      const [y, m] = civilFromDays(Math.floor(ms / MS_PER_DAY));
      if (g === 'month') return daysFromCivil(y, m, 1) * MS_PER_DAY;
      if (g === 'quarter') return daysFromCivil(y, m - ((m - 1) % 3), 1) * MS_PER_DAY;
      return daysFromCivil(y, 1, 1) * MS_PER_DAY;
    }
  }
}

/** The end of the bucket starting at `start` (exclusive). */
export function bucketEnd(start: number, g: Granularity): number {
  const fixed = FIXED_MS[g];
  if (fixed !== undefined) return start + fixed;
  switch (g) {
    case 'none':
      return start + 1;
    case 'all':
      return ALL_END;
    case 'week':
      return start + 7 * MS_PER_DAY;
    default: {
      const [y, m] = civilFromDays(Math.floor(start / MS_PER_DAY));
      const months = g === 'month' ? 1 : g === 'quarter' ? 3 : 12;
      const total = m - 1 + months;
      return daysFromCivil(y + Math.floor(total / 12), (total % 12) + 1, 1) * MS_PER_DAY;
    }
  }
}

/** The interval of `all`: wide enough for any real timestamp, as Druid's eternity. */
export const ALL_START = daysFromCivil(1000, 1, 1) * MS_PER_DAY;
export const ALL_END = daysFromCivil(3000, 1, 1) * MS_PER_DAY;
