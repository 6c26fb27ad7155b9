/**
 * One datasource's segments: its slots in timeline order (start, end, version, partition), so
 * that listing or marking one datasource never scans the others, an interval lookup is a binary
 * search on start, and the timeline needs no sort. The overshadowed and incomplete flags and the
 * summary are computed on demand and cached until the datasource changes.
 */
import { incompleteFlags, overshadowedFlags, type Interval } from '@cairn/shared';
import type { DatasourceSummary } from './results.js';
import type { SegmentTable } from './segment-table.js';

export class DatasourceIndex {
  /** Slots in timeline order. */
  slots: number[] = [];
  /** The longest segment duration seen: a segment overlapping [s, e) starts after s - maxSpanMs. */
  private maxSpanMs = 0;
  private flags: Uint8Array | null = null;
  private incompleteCache: Uint8Array | null = null;
  private cachedSummary: DatasourceSummary | null = null;

  constructor(
    readonly name: string,
    public createdAt: number,
  ) {}

  /** Adds new slots (of segments already in the table), keeping timeline order. */
  insert(table: SegmentTable, added: number[]): void {
    if (added.length === 0) return;
    const cmp = (a: number, b: number) => table.compare(a, b);
    added.sort(cmp);
    for (const s of added) this.maxSpanMs = Math.max(this.maxSpanMs, table.end(s) - table.start(s));
    const slots = this.slots;
    if (slots.length === 0 || cmp(slots[slots.length - 1]!, added[0]!) < 0) {
      // The usual case: ingestion publishes newer time ranges, which go at the end.
      for (const s of added) slots.push(s);
    } else {
      // Out of order (concurrent publishers commit out of time order): only the slots after the
      // first new one's place move, so a publish a little behind the newest costs in proportion
      // to what it lands in front of, not to the datasource.
      let lo = 0;
      let hi = slots.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (cmp(slots[mid]!, added[0]!) < 0) lo = mid + 1;
        else hi = mid;
      }
      const tail = slots.slice(lo);
      slots.length = lo;
      let i = 0;
      let j = 0;
      while (i < tail.length && j < added.length) slots.push(cmp(tail[i]!, added[j]!) < 0 ? tail[i++]! : added[j++]!);
      while (i < tail.length) slots.push(tail[i++]!);
      while (j < added.length) slots.push(added[j++]!);
    }
    this.changed();
  }

  /** Drops the cached timeline and summary; call after any change to this datasource's segments. */
  changed(): void {
    this.flags = null;
    this.incompleteCache = null;
    this.cachedSummary = null;
  }

  /** Rebuilds timeline order after a bulk load. */
  sortAfterLoad(table: SegmentTable): void {
    this.slots.sort((a, b) => table.compare(a, b));
    for (const s of this.slots) this.maxSpanMs = Math.max(this.maxSpanMs, table.end(s) - table.start(s));
    this.changed();
  }

  /** Per position in `slots`: 1 when complete higher versions of used segments overshadow it. */
  overshadowed(table: SegmentTable): Uint8Array {
    if (this.flags === null || this.flags.length !== this.slots.length) this.flags = overshadowedFlags(table, this.slots);
    return this.flags;
  }

  /** Per position in `slots`: 1 when it is used and its group (interval and version) is incomplete. */
  incomplete(table: SegmentTable): Uint8Array {
    if (this.incompleteCache === null || this.incompleteCache.length !== this.slots.length) this.incompleteCache = incompleteFlags(table, this.slots);
    return this.incompleteCache;
  }

  /**
   * The used slots overlapping `interval` and their overshadowed flags. The cached flags when they
   * are current; otherwise computed on a window, at a cost in proportion to the segments near the
   * interval rather than the datasource's: a segment's flag depends only on the segments
   * overlapping it, which all start within two longest spans before the interval and end within
   * one after it.
   */
  overshadowedNear(table: SegmentTable, interval: Interval): { slots: number[]; flags: Uint8Array } {
    const [lo, hi] = this.overlapping(table, interval);
    let flagAt: (pos: number) => number;
    if (this.flags !== null && this.flags.length === this.slots.length) {
      const all = this.flags;
      flagAt = (pos) => all[pos]!;
    } else {
      const from = this.firstStartAtLeast(table, interval.start - 2 * this.maxSpanMs);
      const to = this.firstStartAtLeast(table, interval.end + this.maxSpanMs);
      const window = overshadowedFlags(table, this.slots.slice(from, to));
      flagAt = (pos) => window[pos - from]!;
    }
    const slots: number[] = [];
    const flags: number[] = [];
    for (let pos = lo; pos < hi; pos++) {
      const slot = this.slots[pos]!;
      if (!table.used(slot) || !(table.start(slot) < interval.end && table.end(slot) > interval.start)) continue;
      slots.push(slot);
      flags.push(flagAt(pos));
    }
    return { slots, flags: Uint8Array.from(flags) };
  }

  /** Positions [lo, hi) of `slots` that may overlap `interval` (a superset; callers filter on end). */
  overlapping(table: SegmentTable, interval: Interval): [number, number] {
    return [this.firstStartAtLeast(table, interval.start - this.maxSpanMs), this.firstStartAtLeast(table, interval.end)];
  }

  /** Positions [lo, hi) of `slots` that start within `interval` (contained ones are among them). */
  startingWithin(table: SegmentTable, interval: Interval): [number, number] {
    return [this.firstStartAtLeast(table, interval.start), this.firstStartAtLeast(table, interval.end)];
  }

  private firstStartAtLeast(table: SegmentTable, t: number): number {
    let lo = 0;
    let hi = this.slots.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (table.start(this.slots[mid]!) < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The position of a slot of this datasource in `slots` (binary search in timeline order). */
  positionOf(table: SegmentTable, slot: number): number {
    let lo = 0;
    let hi = this.slots.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (table.compare(this.slots[mid]!, slot) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The `partitions` of an existing segment of (start, end, version), or undefined when there is none. */
  groupPartitions(table: SegmentTable, start: number, end: number, version: string): number | undefined {
    const cmp = (s: number): number =>
      table.start(s) - start || table.end(s) - end || (table.version(s) < version ? -1 : table.version(s) > version ? 1 : 0);
    let lo = 0;
    let hi = this.slots.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cmp(this.slots[mid]!) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.slots.length && cmp(this.slots[lo]!) === 0 ? table.partitions(this.slots[lo]!) : undefined;
  }

  summary(table: SegmentTable): DatasourceSummary {
    if (this.cachedSummary !== null) return this.cachedSummary;
    let usedSegments = 0;
    let usedBytes = 0;
    let usedRows = 0;
    let minStart = Infinity;
    let maxEnd = -Infinity;
    for (const s of this.slots) {
      if (!table.used(s)) continue;
      usedSegments++;
      usedBytes += table.size(s);
      usedRows += table.rows(s);
      if (table.start(s) < minStart) minStart = table.start(s);
      if (table.end(s) > maxEnd) maxEnd = table.end(s);
    }
    this.cachedSummary = {
      name: this.name,
      createdAt: this.createdAt,
      usedSegments,
      unusedSegments: this.slots.length - usedSegments,
      usedBytes,
      usedRows,
      minStart: usedSegments > 0 ? minStart : null,
      maxEnd: usedSegments > 0 ? maxEnd : null,
    };
    return this.cachedSummary;
  }
}
