/**
 * Time zone offsets for period granularities, from the runtime's IANA database through
 * `Intl.DateTimeFormat`. Asking Intl costs microseconds, so offsets are looked up per bucket
 * boundary (never per row) and cached per 6-hour window: a window holds one offset, or two and
 * the instant of the transition between them.
 */
import { daysFromCivil, formatInstant, MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE } from '../time.js';

const WINDOW_MS = 6 * MS_PER_HOUR;
/** Cached windows per zone above this are dropped and recomputed as needed. */
export const zoneWindowsCachedMax = 200_000;

interface Window {
  before: number;
  /** The first instant with offset `after`; Infinity when the window has one offset. */
  transition: number;
  after: number;
}

const zones = new Map<string, ZoneOffsets>();

/** The offsets of one zone; `ZoneOffsets.of('UTC').offsetAt(t) === 0`. */
export class ZoneOffsets {
  private readonly windows = new Map<number, Window>();
  private readonly format: Intl.DateTimeFormat | null;

  private constructor(readonly timeZone: string) {
    const utc = timeZone === 'UTC' || timeZone === 'Etc/UTC';
    this.format = utc
      ? null
      : new Intl.DateTimeFormat('en-US', {
          timeZone,
          hourCycle: 'h23',
          year: 'numeric',
          month: 'numeric',
          day: 'numeric',
          hour: 'numeric',
          minute: 'numeric',
          second: 'numeric',
        });
  }

  /** One shared instance per zone name. @throws RangeError for an unknown zone. */
  static of(timeZone: string): ZoneOffsets {
    let z = zones.get(timeZone);
    if (!z) {
      z = new ZoneOffsets(timeZone);
      zones.set(timeZone, z);
    }
    return z;
  }

  get isUtc(): boolean {
    return this.format === null;
  }

  /** The zone's offset from UTC at instant `t`, in ms (local = t + offset), straight from Intl. */
  private rawOffset(t: number): number {
    if (this.format === null) return 0;
    let year = 0;
    let month = 1;
    let day = 1;
    let hour = 0;
    let minute = 0;
    let second = 0;
    for (const p of this.format.formatToParts(t)) {
      if (p.type === 'year') year = Number(p.value);
      else if (p.type === 'month') month = Number(p.value);
      else if (p.type === 'day') day = Number(p.value);
      else if (p.type === 'hour') hour = Number(p.value);
      else if (p.type === 'minute') minute = Number(p.value);
      else if (p.type === 'second') second = Number(p.value);
    }
    const local = daysFromCivil(year, month, day) * MS_PER_DAY + hour * MS_PER_HOUR + minute * MS_PER_MINUTE + second * 1000;
    return local - (t - (((t % 1000) + 1000) % 1000));
  }

  private window(w: number): Window {
    let win = this.windows.get(w);
    if (win) return win;
    const start = w * WINDOW_MS;
    const before = this.rawOffset(start);
    const after = this.rawOffset(start + WINDOW_MS);
    let transition = Infinity;
    if (before !== after) {
      // Transitions fall on whole seconds: binary search the first second with the new offset.
      let lo = start / 1000;
      let hi = (start + WINDOW_MS) / 1000;
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (this.rawOffset(mid * 1000) === before) lo = mid;
        else hi = mid;
      }
      transition = hi * 1000;
    }
    if (this.windows.size >= zoneWindowsCachedMax) this.windows.clear();
    win = { before, transition, after };
    this.windows.set(w, win);
    return win;
  }

  offsetAt(t: number): number {
    if (this.format === null) return 0;
    const win = this.window(Math.floor(t / WINDOW_MS));
    return t < win.transition ? win.before : win.after;
  }

  /**
   * The instant a local wall-clock time (as ms since 1970-01-01T00:00 local) denotes. In an
   * overlap (clocks going back) the earlier instant, as Joda-Time does; in a gap (clocks going
   * forward) the instant the clocks jump, so a bucket starts when local time resumes.
   */
  localToInstant(local: number): number {
    if (this.format === null) return local;
    const a = this.offsetAt(local - 36 * MS_PER_HOUR);
    const b = this.offsetAt(local + 36 * MS_PER_HOUR);
    const okA = this.offsetAt(local - a) === a;
    const okB = this.offsetAt(local - b) === b;
    if (okA && okB) return local - Math.max(a, b);
    if (okA) return local - a;
    if (okB) return local - b;
    // A gap: both candidates lie on the wrong side. The transition lies between them.
    let lo = Math.min(local - a, local - b);
    let hi = Math.max(local - a, local - b);
    const target = this.offsetAt(hi);
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.offsetAt(mid) === target) hi = mid;
      else lo = mid;
    }
    return hi;
  }

  /** ISO-8601 with the zone's offset, as Joda prints it: `2020-03-08T00:00:00.000-05:00` (`Z` for a zero offset). */
  formatInstant(t: number): string {
    const offset = this.offsetAt(t);
    const text = formatInstant(t + offset);
    if (offset === 0) return text;
    const sign = offset < 0 ? '-' : '+';
    const abs = Math.abs(offset);
    const hh = String(Math.floor(abs / MS_PER_HOUR)).padStart(2, '0');
    const mm = String(Math.floor((abs % MS_PER_HOUR) / MS_PER_MINUTE)).padStart(2, '0');
    return `${text.slice(0, -1)}${sign}${hh}:${mm}`;
  }
}
