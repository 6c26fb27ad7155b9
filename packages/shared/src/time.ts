/**
 * ISO-8601 instants, intervals and periods in UTC with millisecond precision, as Druid uses
 * them. Everything is epoch milliseconds; intervals are half-open [start, end). Calendar
 * arithmetic is done here by hand (Howard Hinnant's civil-date algorithms) rather than through
 * `Date`, so the same code is usable inside the pure state machines and has no hidden time zone.
 *
 * Errors are `TypeError`s whose message quotes the bad input.
 */

export const MS_PER_SECOND = 1_000;
export const MS_PER_MINUTE = 60_000;
export const MS_PER_HOUR = 3_600_000;
export const MS_PER_DAY = 86_400_000;

/** A half-open time range [start, end) in epoch milliseconds. */
export interface Interval {
  readonly start: number;
  readonly end: number;
}

/** An ISO-8601 period; every field is a non-negative integer (millis carries fractional seconds). */
export interface Period {
  readonly years: number;
  readonly months: number;
  readonly weeks: number;
  readonly days: number;
  readonly hours: number;
  readonly minutes: number;
  readonly seconds: number;
  readonly millis: number;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (month 1-12). */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** The [year, month (1-12), day] of a day number (days since 1970-01-01). */
export function civilFromDays(days: number): [number, number, number] {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (month <= 2 ? 1 : 0), month, day];
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

export function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** The first and last instants that format as four-digit years (0000-01-01 to 9999-12-31). */
export const INSTANT_MIN = daysFromCivil(0, 1, 1) * MS_PER_DAY;
export const INSTANT_MAX = daysFromCivil(10000, 1, 1) * MS_PER_DAY - 1;

const INSTANT_RE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?$/;

/**
 * Parses an ISO-8601 instant: a date (`2020-01-01`, or reduced as Joda-Time allows: `2020-01`,
 * `2020`), or a date and time down to the
 * millisecond (`2020-01-01T00:00Z`, `2020-01-01T00:00:00.000Z`), with `Z`, an offset
 * (`+02:00`, `+0200`, `+02`) or no zone, which means UTC as in Druid. Digits past the
 * millisecond are truncated.
 * @example parseInstant('2020-01-01T02:00+02:00') === Date.UTC(2020, 0, 1)
 */
export function parseInstant(text: string): number {
  const m = typeof text === 'string' ? INSTANT_RE.exec(text) : null;
  if (!m) throw new TypeError(`invalid ISO-8601 instant ${JSON.stringify(text)}: expected e.g. 2020-01-01T00:00:00.000Z`);
  const year = Number(m[1]);
  const month = Number(m[2] ?? 1);
  const day = Number(m[3] ?? 1);
  const hour = Number(m[4] ?? 0);
  const minute = Number(m[5] ?? 0);
  const second = Number(m[6] ?? 0);
  const millis = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    throw new TypeError(`invalid ISO-8601 instant ${JSON.stringify(text)}: a field is out of range`);
  }
  let offsetMs = 0;
  const zone = m[8];
  if (zone !== undefined && zone !== 'Z') {
    const digits = zone.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = digits.length > 2 ? Number(digits.slice(2)) : 0;
    if (oh > 23 || om > 59) throw new TypeError(`invalid ISO-8601 instant ${JSON.stringify(text)}: bad offset ${zone}`);
    offsetMs = (zone[0] === '-' ? -1 : 1) * (oh * MS_PER_HOUR + om * MS_PER_MINUTE);
  }
  const ms =
    daysFromCivil(year, month, day) * MS_PER_DAY + hour * MS_PER_HOUR + minute * MS_PER_MINUTE + second * MS_PER_SECOND + millis - offsetMs;
  if (ms < INSTANT_MIN || ms > INSTANT_MAX) throw new TypeError(`ISO-8601 instant ${JSON.stringify(text)} is outside years 0000-9999`);
  return ms;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/**
 * Formats epoch milliseconds as `YYYY-MM-DDTHH:mm:ss.sssZ`, the form Druid puts in segment ids.
 * @example formatInstant(0) === '1970-01-01T00:00:00.000Z'
 */
export function formatInstant(ms: number): string {
  if (!Number.isInteger(ms) || ms < INSTANT_MIN || ms > INSTANT_MAX) {
    throw new TypeError(`cannot format instant ${JSON.stringify(ms)}: expected integer epoch ms within years 0000-9999`);
  }
  const days = Math.floor(ms / MS_PER_DAY);
  const [y, mo, d] = civilFromDays(days);
  let rest = ms - days * MS_PER_DAY;
  const h = Math.floor(rest / MS_PER_HOUR);
  rest -= h * MS_PER_HOUR;
  const mi = Math.floor(rest / MS_PER_MINUTE);
  rest -= mi * MS_PER_MINUTE;
  const s = Math.floor(rest / MS_PER_SECOND);
  return `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}T${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}.${pad(rest - s * MS_PER_SECOND, 3)}Z`;
}

const PERIOD_RE = /^P(?:(\d{1,9})Y)?(?:(\d{1,9})M)?(?:(\d{1,9})W)?(?:(\d{1,9})D)?(?:T(?:(\d{1,9})H)?(?:(\d{1,9})M)?(?:(\d{1,9})(?:[.,](\d{1,3}))?S)?)?$/;

/**
 * Parses an ISO-8601 period such as `P1D`, `PT1H`, `P2W`, `P1Y2M3DT4H5M6S` or `PT0.5S`
 * (fractions only on seconds, at most milliseconds, as Joda-Time allows).
 */
export function parsePeriod(text: string): Period {
  const m = typeof text === 'string' ? PERIOD_RE.exec(text) : null;
  if (!m || text === 'P' || text.endsWith('T') || m.slice(1).every((g) => g === undefined)) {
    throw new TypeError(`invalid ISO-8601 period ${JSON.stringify(text)}: expected e.g. P1D, PT1H or P1Y2M3DT4H5M6S`);
  }
  const n = (g: string | undefined): number => (g === undefined ? 0 : Number(g));
  return {
    years: n(m[1]),
    months: n(m[2]),
    weeks: n(m[3]),
    days: n(m[4]),
    hours: n(m[5]),
    minutes: n(m[6]),
    seconds: n(m[7]),
    millis: m[8] === undefined ? 0 : Number(m[8].padEnd(3, '0')),
  };
}

/** Formats a period in its canonical ISO-8601 form (`PT0S` for the zero period). */
export function formatPeriod(p: Period): string {
  let date = '';
  if (p.years) date += `${p.years}Y`;
  if (p.months) date += `${p.months}M`;
  if (p.weeks) date += `${p.weeks}W`;
  if (p.days) date += `${p.days}D`;
  let time = '';
  if (p.hours) time += `${p.hours}H`;
  if (p.minutes) time += `${p.minutes}M`;
  if (p.seconds || p.millis) time += p.millis ? `${p.seconds}.${pad(p.millis, 3).replace(/0+$/, '')}S` : `${p.seconds}S`;
  if (!date && !time) return 'PT0S';
  return `P${date}${time ? `T${time}` : ''}`;
}

/** Adds `months` calendar months, clamping the day to the target month's length (Jan 31 + 1M = Feb 28/29). */
function addMonths(ms: number, months: number): number {
  if (months === 0) return ms;
  const days = Math.floor(ms / MS_PER_DAY);
  const timeOfDay = ms - days * MS_PER_DAY;
  const [y, m, d] = civilFromDays(days);
  const total = y * 12 + (m - 1) + months;
  const year = Math.floor(total / 12);
  const month = total - year * 12 + 1;
  return daysFromCivil(year, month, Math.min(d, daysInMonth(year, month))) * MS_PER_DAY + timeOfDay;
}

/**
 * Adds a period `times` times (use -1 to subtract) in UTC. Fields are applied one at a time in
 * the order years, months, weeks, days, hours, minutes, seconds, millis, the way Joda-Time's
 * `DateTime.plus(Period)` does, so a month back from March 31 is the last day of February.
 * Weeks, days and smaller fields are exact durations (UTC has no daylight-saving gaps).
 */
export function addPeriod(ms: number, period: Period, times = 1): number {
  let out = addMonths(ms, period.years * 12 * times);
  out = addMonths(out, period.months * times);
  return (
    out +
    times *
      ((period.weeks * 7 + period.days) * MS_PER_DAY +
        period.hours * MS_PER_HOUR +
        period.minutes * MS_PER_MINUTE +
        period.seconds * MS_PER_SECOND +
        period.millis)
  );
}

/** `addPeriod(ms, period, -1)`. */
export function subtractPeriod(ms: number, period: Period): number {
  return addPeriod(ms, period, -1);
}

/**
 * Parses a Druid interval `start/end`; `_` may stand for `/` as in Druid's URL paths and
 * segment ids. Either side may be a period instead (`2020-01-01/P1D`, `P1D/2020-01-02`), as
 * ISO-8601 and Joda-Time allow. The interval must not end before it starts.
 */
export function parseInterval(text: string): Interval {
  if (typeof text !== 'string') throw new TypeError(`invalid ISO-8601 interval ${JSON.stringify(text)}: expected start/end`);
  const sep = text.includes('/') ? '/' : '_';
  const parts = text.split(sep);
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
    throw new TypeError(`invalid ISO-8601 interval ${JSON.stringify(text)}: expected start/end, e.g. 2020-01-01/2020-01-02`);
  }
  const [a, b] = parts as [string, string];
  let start: number;
  let end: number;
  try {
    if (a.startsWith('P') && b.startsWith('P')) throw new TypeError('both sides are periods');
    if (a.startsWith('P')) {
      end = parseInstant(b);
      start = subtractPeriod(end, parsePeriod(a));
    } else if (b.startsWith('P')) {
      start = parseInstant(a);
      end = addPeriod(start, parsePeriod(b));
    } else {
      start = parseInstant(a);
      end = parseInstant(b);
    }
  } catch (err) {
    throw new TypeError(`invalid ISO-8601 interval ${JSON.stringify(text)}: ${(err as Error).message}`);
  }
  if (end < start) throw new TypeError(`invalid ISO-8601 interval ${JSON.stringify(text)}: it ends before it starts`);
  return { start, end };
}

/** Formats an interval as `start/end` with full ISO instants. */
export function formatInterval(interval: Interval): string {
  return `${formatInstant(interval.start)}/${formatInstant(interval.end)}`;
}

/** Whether two half-open intervals share at least one instant (Joda's `overlaps`). */
export function intervalsOverlap(a: Interval, b: Interval): boolean {
  return a.start < b.end && b.start < a.end;
}

/** Whether `inner` lies wholly within `outer` (Joda's `contains` for a non-empty `inner`). */
export function intervalContains(outer: Interval, inner: Interval): boolean {
  return outer.start <= inner.start && inner.end <= outer.end && inner.start < outer.end;
}
