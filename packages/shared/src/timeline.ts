import type { Interval } from './time.js';

/**
 * Druid's versioned timeline: which segments a query should read.
 *
 * Segments of one datasource are grouped by (interval, version). A group is complete when
 * partitions 0..partitions-1 are all present and used; an incomplete group (an ingestion still
 * publishing, or a partition marked unused) hides nothing. A segment is overshadowed when
 * complete groups of strictly higher versions together cover its whole interval; equivalently,
 * at no instant of its interval is its version the highest complete one. Unused segments never
 * overshadow, but whether they *would* be overshadowed is still computed: Druid's markUsed
 * only re-enables segments that the used ones do not overshadow.
 *
 * A million segments take well under a second (see timeline.test.ts): one sort (skipped when the
 * input is already in timeline order, as the catalog keeps it; see `timelineOrder`), then the distinct interval
 * boundaries are painted with the highest complete version covering each elementary slot
 * (versions in descending order, each slot painted once through a union-find "next unpainted
 * slot" pointer), and a min segment tree over the painted slots answers "is every slot of this
 * group covered by a higher version" per group.
 */

/** A segment as the timeline sees it. `dataSource` is optional; when present, datasources are kept apart. */
export interface TimelineSegment {
  readonly id: string;
  readonly dataSource?: string;
  readonly start: number;
  readonly end: number;
  readonly version: string;
  readonly partition: number;
  readonly partitions: number;
  readonly used: boolean;
}

/**
 * Segments as columns, read through accessors: row r is one segment of a single datasource.
 * Accessors (not arrays) let a store keep its rows in chunks; `arrayColumns` adapts plain arrays.
 */
export interface TimelineColumns {
  start(row: number): number;
  end(row: number): number;
  version(row: number): string;
  partition(row: number): number;
  partitions(row: number): number;
  used(row: number): boolean;
}

/** Columns over plain arrays (row r of each array is one segment). */
export function arrayColumns(a: {
  start: ArrayLike<number>;
  end: ArrayLike<number>;
  version: ArrayLike<string>;
  partition: ArrayLike<number>;
  partitions: ArrayLike<number>;
  used: ArrayLike<number | boolean>;
}): TimelineColumns {
  return {
    start: (r) => a.start[r]!,
    end: (r) => a.end[r]!,
    version: (r) => a.version[r]!,
    partition: (r) => a.partition[r]!,
    partitions: (r) => a.partitions[r]!,
    used: (r) => Boolean(a.used[r]),
  };
}

/**
 * For the segments at `rows` (indices into `columns`, all of one datasource), a flag per row
 * position: 1 when that segment is overshadowed by complete groups of used segments with
 * strictly higher versions. Works for used and unused segments alike.
 */
export function overshadowedFlags(columns: TimelineColumns, rows: ArrayLike<number>): Uint8Array {
  const n = rows.length;
  const flags = new Uint8Array(n);
  if (n < 2) return flags;
  const g = groupsOf(columns, rows);
  if (g === null) return flags; // one version: nothing can be strictly higher
  const groupOvershadowed = overshadowedGroups(g);
  for (let k = 0; k < n; k++) flags[k] = groupOvershadowed[g.groupOf[k]!]!;
  return flags;
}

/** The (start, end, version) groups of `rows`, with their completeness and version ranks. */
interface Groups {
  /** Per row position: its group. */
  readonly groupOf: Int32Array;
  readonly gStart: number[];
  readonly gEnd: number[];
  readonly gRank: number[];
  readonly gComplete: boolean[];
  /** Distinct versions. */
  readonly ranks: number;
}

/**
 * For the segments at `rows` (all of one datasource), a flag per row position: 1 when the segment
 * is used and its group (same interval and version) is incomplete, some partition below its
 * `partitions` missing or unused. Druid's timeline leaves such groups out of queries, as they
 * overshadow nothing: a set of partitions published in parts, or by an ingestion that died
 * halfway, is never half visible (its rows would be counted alongside the older version's).
 */
export function incompleteFlags(columns: TimelineColumns, rows: ArrayLike<number>): Uint8Array {
  const n = rows.length;
  const flags = new Uint8Array(n);
  if (n === 0) return flags;
  const g = groupsOf(columns, rows, true)!;
  for (let k = 0; k < n; k++) if (!g.gComplete[g.groupOf[k]!]! && columns.used(rows[k]!)) flags[k] = 1;
  return flags;
}

/**
 * Groups `rows`; null when they all share one version (nothing overshadows anything) unless
 * `always`.
 */
function groupsOf(columns: TimelineColumns, rows: ArrayLike<number>, always = false): Groups | null {
  const n = rows.length;
  // Version ranks: lexicographic order of the distinct versions.
  const rankOf = new Map<string, number>();
  for (let k = 0; k < n; k++) rankOf.set(columns.version(rows[k]!), 0);
  if (rankOf.size <= 1 && !always) return null;
  const distinct = [...rankOf.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  distinct.forEach((v, i) => rankOf.set(v, i));

  const start = new Float64Array(n);
  const end = new Float64Array(n);
  const rank = new Int32Array(n);
  const partition = new Int32Array(n);
  const partitions = new Int32Array(n); // 0 when unused: an unused segment completes nothing
  for (let k = 0; k < n; k++) {
    const r = rows[k]!;
    start[k] = columns.start(r);
    end[k] = columns.end(r);
    rank[k] = rankOf.get(columns.version(r))!;
    partition[k] = columns.partition(r);
    partitions[k] = columns.used(r) ? columns.partitions(r) : 0;
  }

  // Timeline order (start, end, version, partition); the catalog already keeps rows this way.
  const cmp = (a: number, b: number): number =>
    start[a]! - start[b]! || end[a]! - end[b]! || rank[a]! - rank[b]! || partition[a]! - partition[b]!;
  let sorted = true;
  for (let k = 1; k < n && sorted; k++) if (cmp(k - 1, k) > 0) sorted = false;
  const order = sorted ? Uint32Array.from({ length: n }, (_, k) => k) : timelineOrder(start, cmp);

  // Groups of equal (start, end, version), contiguous in that order.
  const groupOf = new Int32Array(n);
  const gStart: number[] = [];
  const gEnd: number[] = [];
  const gRank: number[] = [];
  const gComplete: boolean[] = [];
  for (let i = 0; i < n; ) {
    const first = order[i]!;
    let j = i + 1;
    while (j < n && start[order[j]!] === start[first] && end[order[j]!] === end[first] && rank[order[j]!] === rank[first]) j++;
    let required = 0;
    for (let x = i; x < j; x++) required = Math.max(required, partitions[order[x]!]!);
    let present = 0;
    let last = -1;
    for (let x = i; x < j; x++) {
      const k = order[x]!;
      const p = partition[k]!;
      if (partitions[k]! > 0 && p < required && p !== last) {
        present++;
        last = p;
      }
    }
    const g = gStart.length;
    gStart.push(start[first]!);
    gEnd.push(end[first]!);
    gRank.push(rank[first]!);
    gComplete.push(required > 0 && present === required);
    for (let x = i; x < j; x++) groupOf[order[x]!] = g;
    i = j;
  }
  return { groupOf, gStart, gEnd, gRank, gComplete, ranks: distinct.length };
}

/**
 * Row positions in timeline order. A comparator sort of a million rows takes most of a second, so
 * rows are first ordered by start with a native numeric sort of `startKey * n + row`, then only
 * runs of equal start are sorted with the comparator. `startKey` is `(start - min) / gcd` when
 * that stays exact below 2^53 (segment starts are nearly always multiples of an hour or a day),
 * else the rank of the start among the distinct starts.
 */
function timelineOrder(start: Float64Array, cmp: (a: number, b: number) => number): Uint32Array {
  const n = start.length;
  let min = Infinity;
  for (let k = 0; k < n; k++) if (start[k]! < min) min = start[k]!;
  let step = 0;
  for (let k = 0; k < n && step !== 1; k++) step = gcd(step, start[k]! - min);
  const keys = new Float64Array(n);
  if (step === 0) {
    for (let k = 0; k < n; k++) keys[k] = k;
  } else {
    let max = -Infinity;
    for (let k = 0; k < n; k++) if (start[k]! > max) max = start[k]!;
    if (((max - min) / step + 1) * n < Number.MAX_SAFE_INTEGER) {
      for (let k = 0; k < n; k++) keys[k] = ((start[k]! - min) / step) * n + k;
    } else {
      const ranks = startRanks(start);
      for (let k = 0; k < n; k++) keys[k] = ranks[k]! * n + k;
    }
  }
  keys.sort();
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = keys[i]! % n;
  for (let i = 0; i < n; ) {
    let j = i + 1;
    while (j < n && start[order[j]!] === start[order[i]!]) j++;
    if (j - i > 1) order.set(Array.from(order.subarray(i, j)).sort(cmp), i);
    i = j;
  }
  return order;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** The rank of each start among the distinct starts. */
function startRanks(start: Float64Array): Int32Array {
  const n = start.length;
  const starts = Float64Array.from(start).sort();
  let distinct = 0;
  for (let i = 0; i < n; i++) if (i === 0 || starts[i] !== starts[distinct - 1]) starts[distinct++] = starts[i]!;
  const ranks = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    let lo = 0;
    let hi = distinct - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid]! < start[k]!) lo = mid + 1;
      else hi = mid;
    }
    ranks[k] = lo;
  }
  return ranks;
}

/**
 * The distinct group boundaries, each elementary slot between two of them painted with the
 * highest rank of a complete group covering it (-1: none), and each group's slots [lo, hi).
 */
interface Paint {
  readonly bounds: Float64Array;
  readonly paint: Int32Array;
  readonly gLo: Int32Array;
  readonly gHi: Int32Array;
}

function paintSlots({ gStart, gEnd, gRank, gComplete, ranks }: Groups): Paint {
  const groups = gStart.length;

  // Elementary slots between consecutive distinct boundaries.
  const all = new Float64Array(groups * 2);
  for (let g = 0; g < groups; g++) {
    all[2 * g] = gStart[g]!;
    all[2 * g + 1] = gEnd[g]!;
  }
  all.sort();
  let u = 0;
  for (let i = 0; i < all.length; i++) if (i === 0 || all[i] !== all[u - 1]) all[u++] = all[i]!;
  const bounds = all.subarray(0, u);
  const slots = Math.max(u - 1, 0);
  const indexOf = (x: number): number => {
    let lo = 0;
    let hi = u - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (bounds[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const gLo = new Int32Array(groups);
  const gHi = new Int32Array(groups);
  for (let g = 0; g < groups; g++) {
    gLo[g] = indexOf(gStart[g]!);
    gHi[g] = indexOf(gEnd[g]!);
  }

  // Paint each slot with the highest rank of a complete group covering it (-1: none). Complete
  // groups go in descending rank (a counting sort); `next` skips painted slots (union-find).
  const byRank = new Int32Array(ranks + 1);
  for (let g = 0; g < groups; g++) if (gComplete[g]) byRank[gRank[g]! + 1]!++;
  for (let r = 0; r < ranks; r++) byRank[r + 1]! += byRank[r]!;
  const completeOrder = new Int32Array(byRank[ranks]!);
  const fill = byRank.slice(0, ranks);
  for (let g = 0; g < groups; g++) if (gComplete[g]) completeOrder[fill[gRank[g]!]!++] = g;
  const paint = new Int32Array(slots).fill(-1);
  const next = new Int32Array(slots + 1);
  for (let s = 0; s <= slots; s++) next[s] = s;
  const find = (s: number): number => {
    while (next[s] !== s) {
      next[s] = next[next[s]!]!;
      s = next[s]!;
    }
    return s;
  };
  for (let i = completeOrder.length - 1; i >= 0; i--) {
    const g = completeOrder[i]!;
    for (let s = find(gLo[g]!); s < gHi[g]!; s = find(s + 1)) {
      paint[s] = gRank[g]!;
      next[s] = s + 1;
    }
  }
  return { bounds, paint, gLo, gHi };
}

/** Per group: whether complete groups of strictly higher rank cover its whole interval. */
function overshadowedGroups(groups: Groups): Uint8Array {
  const { paint, gLo, gHi } = paintSlots(groups);
  const gRank = groups.gRank;
  const out = new Uint8Array(gRank.length);
  const slots = paint.length;

  // Min segment tree over the paint: a group is overshadowed iff the lowest paint over its
  // slots is above its own rank.
  let size = 1;
  while (size < slots) size <<= 1;
  const tree = new Int32Array(2 * size).fill(-1);
  tree.set(paint, size);
  for (let i = size - 1; i >= 1; i--) tree[i] = Math.min(tree[2 * i]!, tree[2 * i + 1]!);
  const minOver = (lo: number, hi: number): number => {
    let m = Number.MAX_SAFE_INTEGER;
    for (lo += size, hi += size; lo < hi; lo >>= 1, hi >>= 1) {
      if (lo & 1) m = Math.min(m, tree[lo++]!);
      if (hi & 1) m = Math.min(m, tree[--hi]!);
    }
    return m;
  };
  for (let g = 0; g < gRank.length; g++) {
    const lo = gLo[g]!;
    const hi = gHi[g]!;
    if (lo >= hi) continue; // an empty interval: nothing to cover
    const m = hi - lo === 1 ? paint[lo]! : minOver(lo, hi);
    if (m > gRank[g]!) out[g] = 1;
  }
  return out;
}

/** Row indices of `segments` per datasource (one entry when all share one). */
function byDataSource(segments: readonly TimelineSegment[]): number[][] {
  const groups = new Map<string | undefined, number[]>();
  segments.forEach((s, i) => {
    let list = groups.get(s.dataSource);
    if (list === undefined) groups.set(s.dataSource, (list = []));
    list.push(i);
  });
  return [...groups.values()];
}

function columnsOf(segments: readonly TimelineSegment[]): TimelineColumns {
  const n = segments.length;
  const start = new Float64Array(n);
  const end = new Float64Array(n);
  const version = new Array<string>(n);
  const partition = new Int32Array(n);
  const partitions = new Int32Array(n);
  const used = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const s = segments[i]!;
    start[i] = s.start;
    end[i] = s.end;
    version[i] = s.version;
    partition[i] = s.partition;
    partitions[i] = s.partitions;
    used[i] = s.used ? 1 : 0;
  }
  return arrayColumns({ start, end, version, partition, partitions, used });
}

type FlagsOf = (columns: TimelineColumns, rows: ArrayLike<number>) => Uint8Array;

/** Per segment, 1 where any of `kinds` flags it (datasources are kept apart). */
function flagsOf(segments: readonly TimelineSegment[], ...kinds: FlagsOf[]): Uint8Array {
  const columns = columnsOf(segments);
  const out = new Uint8Array(segments.length);
  for (const rows of byDataSource(segments)) {
    for (const kind of kinds) {
      const flags = kind(columns, rows);
      rows.forEach((r, k) => (out[r]! |= flags[k]!));
    }
  }
  return out;
}

/** The ids of the segments that complete groups of higher versions overshadow (used or not). */
export function overshadowedIds(segments: readonly TimelineSegment[]): Set<string> {
  const flags = flagsOf(segments, overshadowedFlags);
  const out = new Set<string>();
  segments.forEach((s, i) => flags[i] && out.add(s.id));
  return out;
}

/**
 * The segments a query reads: used, not overshadowed and of a complete group, in input order.
 * @example visibleSegments([v1p0, v2p0]) // [v2p0] when both cover the same day and v2 has one partition
 */
export function visibleSegments<T extends TimelineSegment>(segments: readonly T[]): T[] {
  const hidden = flagsOf(segments, overshadowedFlags, incompleteFlags);
  return segments.filter((s, i) => s.used && !hidden[i]);
}

/** Whether `segment` is overshadowed by complete groups among `segments` (which may or may not include it). */
export function isOvershadowed(segment: TimelineSegment, segments: readonly TimelineSegment[]): boolean {
  const flags = flagsOf([...segments, segment], overshadowedFlags);
  return flags[segments.length] === 1;
}

/**
 * Per segment (in input order), the stretches of its interval that no complete group of a
 * strictly higher version covers: what a query should read of it. A segment only partly covered
 * stays visible, but its covered stretch belongs to the newer version: reading it whole would
 * count that stretch twice (a v1 day segment with a v2 hour inside it is read for the other 23
 * hours only; Druid's timeline clips it the same way). Sorted, disjoint, touching stretches
 * merged; the whole interval when nothing newer covers any of it; [] when the segment is unused,
 * fully overshadowed or of an incomplete group. Datasources are kept apart.
 * @example visibleParts([v1Day, v2Hour3]) // [[{start: day, end: h3}, {start: h4, end: day + 24 h}], [{start: h3, end: h4}]]
 */
export function visibleParts(segments: readonly TimelineSegment[]): Interval[][] {
  const out: Interval[][] = segments.map((s) => (s.used && s.end > s.start ? [{ start: s.start, end: s.end }] : []));
  const columns = columnsOf(segments);
  for (const rows of byDataSource(segments)) {
    const g = groupsOf(columns, rows, true)!;
    const { bounds, paint, gLo, gHi } = paintSlots(g);
    const partsOf = new Map<number, Interval[]>(); // per group: the partitions of a group share them
    rows.forEach((r, k) => {
      if (out[r]!.length === 0) return;
      const group = g.groupOf[k]!;
      if (!g.gComplete[group]!) {
        out[r] = []; // an incomplete group is not read at all (see `incompleteFlags`)
        return;
      }
      let parts = partsOf.get(group);
      if (parts === undefined) {
        parts = [];
        const rank = g.gRank[group]!;
        for (let s = gLo[group]!; s < gHi[group]!; s++) {
          if (paint[s]! > rank) continue; // a newer complete version covers this slot
          const last = parts[parts.length - 1];
          if (last !== undefined && last.end === bounds[s]!) parts[parts.length - 1] = { start: last.start, end: bounds[s + 1]! };
          else parts.push({ start: bounds[s]!, end: bounds[s + 1]! });
        }
        partsOf.set(group, parts);
      }
      out[r] = parts;
    });
  }
  return out;
}
