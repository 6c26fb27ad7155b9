/**
 * Group ids for groupBy and topN. The dictionary codes of a row's dimensions combine into one
 * integer key, `sum((code_d + 1) * stride_d)` (slot 0 of each dimension is null), which fits
 * exactly in a double while the product of the cardinalities stays below 2^53.
 *
 * - Direct: when the product is small next to the rows per bucket, the key is the group id:
 *   no lookup at all, and groups with a non-zero row count are the present ones.
 * - Mapped: otherwise keys map to dense group ids through an array (product up to
 *   `denseKeysMax`), an open-addressing hash table (up to 2^53), or a Map of strings.
 */
import { KeyTable, QueryError } from '@cairn/shared';
import type { CodeColumn } from './columns.js';
import { chunkRows } from './execution.js';
import { scratch } from './scratch.js';

/** Groups one bucket of one segment may hold; beyond, the query fails with RESOURCE_LIMIT. */
export const groupsPerBucketMax = 4_000_000;
/** Key spaces up to this size may use direct addressing. */
export const directKeysMax = 1 << 20;
/**
 * Direct addressing also needs the key space to be at most this many times the rows per bucket:
 * scanning and resetting a slot costs well under a nanosecond (typed-array fills, a branch-free
 * scan), mapping a row's key to a group id 10-40 ns (measured on flights' origin x destination,
 * 53,000 keys over 16,000-row segments: 8 times faster direct).
 */
export const directKeysPerRowMax = 8;
/** Direct addressing tracks the keys seen (instead of scanning the counts) when the key space exceeds this many times the rows per bucket. */
export const directTrackKeysPerRow = 2;
/** Key spaces up to this size map keys to group ids through a plain array. */
export const denseKeysMax = 1 << 22;

export interface Grouper {
  /** Writes the group id of each selected row into `gids` and counts rows per group. */
  assign(sel: Int32Array, n: number, gids: Int32Array): void;
  /** Group ids below this may occur (what kernels must make room for). */
  readonly capacity: number;
  /** Ids of the groups that have rows, ascending (a scratch view: valid until the next `present` or the end of the run). */
  present(): Int32Array;
  count(g: number): number;
  /** out[at + k] = row count of group groups[k]. */
  writeCounts(groups: Int32Array, out: Float64Array, at: number): void;
  /** The dictionary code (-1 for null) of dimension d in group g. */
  code(g: number, d: number): number;
  /** out[k] = code + 1 (0 for null) of dimension d in group groups[k]. */
  writeCodes(groups: Int32Array, d: number, out: Int32Array): void;
  /** Forgets every group (between buckets). */
  reset(): void;
}

function tooMany(): QueryError {
  return new QueryError('RESOURCE_LIMIT', `more than ${groupsPerBucketMax} groups in one time bucket of one segment (groupsPerBucketMax)`);
}

/** Key arithmetic over the dimensions' codes. */
export class KeySpace {
  readonly sizes: number[];
  readonly strides: number[];
  readonly product: number;
  constructor(readonly dims: CodeColumn[]) {
    this.sizes = dims.map((d) => d.dictionary.length + 1);
    this.strides = new Array<number>(dims.length);
    let stride = 1;
    for (let d = dims.length - 1; d >= 0; d--) {
      this.strides[d] = stride;
      stride *= this.sizes[d]!;
    }
    this.product = stride;
  }

  /** keys[k] = key of row sel[k], as doubles (any key space). */
  keys(sel: Int32Array, n: number, keys: Float64Array): void {
    const dims = this.dims;
    if (dims.length === 1) {
      const c = dims[0]!.codes;
      for (let k = 0; k < n; k++) keys[k] = c[sel[k]!]! + 1;
      return;
    }
    if (dims.length === 2) {
      const c1 = dims[0]!.codes;
      const c2 = dims[1]!.codes;
      const s = this.strides[0]!;
      for (let k = 0; k < n; k++) {
        const i = sel[k]!;
        keys[k] = (c1[i]! + 1) * s + c2[i]! + 1;
      }
      return;
    }
    keys.fill(0, 0, n);
    for (let d = 0; d < dims.length; d++) {
      const c = dims[d]!.codes;
      const s = this.strides[d]!;
      for (let k = 0; k < n; k++) keys[k]! += (c[sel[k]!]! + 1) * s;
    }
  }

  /**
   * keys[k] = key of row sel[k], as int32 (key spaces below 2^31), counting rows per key and
   * appending a key to `list` when its count leaves 0; returns the new length of `list`.
   */
  intKeys(sel: Int32Array, n: number, keys: Int32Array, counts: Float64Array, list: Int32Array, listed: number, track = true): number {
    const dims = this.dims;
    if (dims.length === 1) {
      const c = dims[0]!.codes;
      for (let k = 0; k < n; k++) keys[k] = c[sel[k]!]! + 1;
    } else if (dims.length === 2) {
      const c1 = dims[0]!.codes;
      const c2 = dims[1]!.codes;
      const s = this.strides[0]!;
      for (let k = 0; k < n; k++) {
        const i = sel[k]!;
        keys[k] = (c1[i]! + 1) * s + c2[i]! + 1;
      }
    } else {
      keys.fill(0, 0, n);
      for (let d = 0; d < dims.length; d++) {
        const c = dims[d]!.codes;
        const s = this.strides[d]!;
        for (let k = 0; k < n; k++) keys[k]! += (c[sel[k]!]! + 1) * s;
      }
    }
    if (!track) {
      for (let k = 0; k < n; k++) counts[keys[k]!]!++;
      return listed;
    }
    for (let k = 0; k < n; k++) {
      const g = keys[k]!;
      if (counts[g]!++ === 0) list[listed++] = g;
    }
    return listed;
  }

  code(key: number, d: number): number {
    return (Math.floor(key / this.strides[d]!) % this.sizes[d]!) - 1;
  }

  /** out[k] = code + 1 of dimension d in key keys[k] (keys below 2^31: int arithmetic). */
  writeCodes(keys: ArrayLike<number>, m: number, d: number, out: Int32Array): void {
    const stride = this.strides[d]!;
    const size = this.sizes[d]!;
    if (this.product <= 0x7fffffff) {
      if (stride === 1) for (let k = 0; k < m; k++) out[k] = keys[k]! % size;
      else for (let k = 0; k < m; k++) out[k] = ((keys[k]! / stride) | 0) % size;
    } else {
      for (let k = 0; k < m; k++) out[k] = Math.floor(keys[k]! / stride) % size;
    }
  }
}

/**
 * The key is the group. Which keys have rows is found one of two ways: when the key space is
 * much larger than the rows (`track`), loops append a key to `list` the first time it is counted
 * and only those keys are read and reset; otherwise a branch-free scan of the counts finds them
 * (appending on first sight then mispredicts a branch on a large share of the rows).
 */
export class DirectGrouper implements Grouper {
  /** Rows per key; fused loops count into it directly. */
  readonly counts: Float64Array;
  readonly capacity: number;
  readonly track: boolean;
  /** Keys with rows: with `track`, `list[0..seen[0])` in first-seen order (fused loops append to it). */
  readonly list: Int32Array;
  readonly seen = new Int32Array(1);
  constructor(
    readonly space: KeySpace,
    /** Rows per bucket, and at most this many rows in all. */
    rowsPerBucket: number,
    rowsMax: number,
  ) {
    this.capacity = space.product;
    this.counts = scratch(Float64Array, space.product);
    this.track = space.product > directTrackKeysPerRow * rowsPerBucket;
    this.list = scratch(Int32Array, Math.max(1, Math.min(space.product, this.track ? rowsMax : space.product)), 0, true);
  }
  assign(sel: Int32Array, n: number, gids: Int32Array): void {
    this.seen[0] = this.space.intKeys(sel, n, gids, this.counts, this.list, this.seen[0]!, this.track);
  }
  present(): Int32Array {
    if (this.track) return this.list.subarray(0, this.seen[0]);
    const counts = this.counts;
    const out = this.list;
    let m = 0;
    for (let g = 0; g < counts.length; g++) {
      out[m] = g;
      m += counts[g] !== 0 ? 1 : 0;
    }
    return out.subarray(0, m);
  }
  count(g: number): number {
    return this.counts[g]!;
  }
  writeCounts(groups: Int32Array, out: Float64Array, at: number): void {
    const counts = this.counts;
    for (let k = 0; k < groups.length; k++) out[at + k] = counts[groups[k]!]!;
  }
  code(g: number, d: number): number {
    return this.space.code(g, d);
  }
  writeCodes(groups: Int32Array, d: number, out: Int32Array): void {
    this.space.writeCodes(groups, groups.length, d, out);
  }
  /** Zeroes the counts (when tracking, of the keys seen only: the key space may be much larger). */
  reset(): void {
    if (!this.track) {
      this.counts.fill(0);
      return;
    }
    const counts = this.counts;
    const list = this.list;
    for (let k = 0, m = this.seen[0]!; k < m; k++) counts[list[k]!] = 0;
    this.seen[0] = 0;
  }
}

export class MappedGrouper implements Grouper {
  private groups = 0;
  private counts = new Float64Array(1024);
  private keyOf = new Float64Array(1024);
  private readonly keys = new Float64Array(chunkRows);
  private readonly dense: Int32Array | null;
  private readonly table: KeyTable | null;
  private readonly strings: Map<string, number> | null;
  private stringKeys: Int32Array[] = [];

  constructor(private readonly space: KeySpace) {
    const p = space.product;
    this.dense = p <= denseKeysMax ? scratch(Int32Array, p, -1) : null;
    this.table = !this.dense && p <= Number.MAX_SAFE_INTEGER ? new KeyTable() : null;
    this.strings = !this.dense && !this.table ? new Map() : null;
  }

  get capacity(): number {
    return this.groups;
  }

  private add(key: number): number {
    const g = this.groups++;
    if (g >= groupsPerBucketMax) throw tooMany();
    if (g >= this.counts.length) {
      const counts = new Float64Array(this.counts.length * 2);
      counts.set(this.counts);
      this.counts = counts;
      const keyOf = new Float64Array(this.keyOf.length * 2);
      keyOf.set(this.keyOf);
      this.keyOf = keyOf;
    }
    this.keyOf[g] = key;
    return g;
  }

  assign(sel: Int32Array, n: number, gids: Int32Array): void {
    if (this.strings) {
      this.assignStrings(sel, n, gids);
      return;
    }
    const keys = this.keys;
    this.space.keys(sel, n, keys);
    const dense = this.dense;
    if (dense) {
      for (let k = 0; k < n; k++) {
        const key = keys[k]!;
        let g = dense[key]!;
        if (g < 0) {
          g = this.add(key);
          dense[key] = g;
        }
        gids[k] = g;
        this.counts[g]!++;
      }
      return;
    }
    const table = this.table!;
    for (let k = 0; k < n; k++) {
      const key = keys[k]!;
      let g = table.lookup(key, this.groups);
      if (g === this.groups) g = this.add(key);
      gids[k] = g;
      this.counts[g]!++;
    }
  }

  /** More dimensions than a double can key exactly: string keys of the codes. */
  private assignStrings(sel: Int32Array, n: number, gids: Int32Array): void {
    const dims = this.space.dims;
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      let key = '';
      for (const d of dims) key += `${d.codes[i]},`;
      let g = this.strings!.get(key);
      if (g === undefined) {
        g = this.add(0);
        this.strings!.set(key, g);
        this.stringKeys[g] = Int32Array.from(dims, (d) => d.codes[i]!);
      }
      gids[k] = g;
      this.counts[g]!++;
    }
  }

  /** 0, 1, 2, ...: group ids are dense, so every id below `groups` is present. */
  private ids = new Int32Array(0);

  present(): Int32Array {
    if (this.ids.length < this.groups) {
      this.ids = new Int32Array(Math.max(this.groups, this.ids.length * 2));
      for (let g = 0; g < this.ids.length; g++) this.ids[g] = g;
    }
    return this.ids.subarray(0, this.groups);
  }

  count(g: number): number {
    return this.counts[g]!;
  }

  writeCounts(groups: Int32Array, out: Float64Array, at: number): void {
    const counts = this.counts;
    for (let k = 0; k < groups.length; k++) out[at + k] = counts[groups[k]!]!;
  }

  code(g: number, d: number): number {
    return this.strings ? this.stringKeys[g]![d]! : this.space.code(this.keyOf[g]!, d);
  }

  writeCodes(groups: Int32Array, d: number, out: Int32Array): void {
    const m = groups.length;
    if (this.strings) {
      for (let k = 0; k < m; k++) out[k] = this.stringKeys[groups[k]!]![d]! + 1;
      return;
    }
    const keyOf = this.keyOf;
    const stride = this.space.strides[d]!;
    const size = this.space.sizes[d]!;
    for (let k = 0; k < m; k++) out[k] = Math.floor(keyOf[groups[k]!]! / stride) % size;
  }

  reset(): void {
    if (this.dense) for (let g = 0; g < this.groups; g++) this.dense[this.keyOf[g]!] = -1;
    this.table?.clear();
    this.strings?.clear();
    this.stringKeys = [];
    this.counts.fill(0, 0, this.groups);
    this.groups = 0;
  }
}

/**
 * The grouper for these dimensions: direct addressing when the key space is at most
 * `directKeysMax` and small next to the rows per bucket (resetting it per bucket must not cost
 * more than the rows), else mapped.
 */
export function makeGrouper(dims: CodeColumn[], rowsPerBucket: number, rowsMax = Infinity): Grouper {
  const space = new KeySpace(dims);
  if (space.product <= directKeysMax && space.product <= Math.max(4096, directKeysPerRowMax * rowsPerBucket)) return new DirectGrouper(space, rowsPerBucket, rowsMax);
  return new MappedGrouper(space);
}
