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
/** Key spaces up to this size map keys to group ids through a plain array. */
export const denseKeysMax = 1 << 22;

export interface Grouper {
  /** Writes the group id of each selected row into `gids` and counts rows per group. */
  assign(sel: Int32Array, n: number, gids: Int32Array): void;
  /** Group ids below this may occur (what kernels must make room for). */
  readonly capacity: number;
  /** Ids of the groups that have rows, ascending. */
  present(): number[];
  count(g: number): number;
  /** The dictionary code (-1 for null) of dimension d in group g. */
  code(g: number, d: number): number;
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

  /** keys[k] = key of row sel[k], as int32 (key spaces below 2^31), counting rows per key. */
  intKeys(sel: Int32Array, n: number, keys: Int32Array, counts: Float64Array): void {
    const dims = this.dims;
    if (dims.length === 1) {
      const c = dims[0]!.codes;
      for (let k = 0; k < n; k++) {
        const g = c[sel[k]!]! + 1;
        keys[k] = g;
        counts[g]!++;
      }
      return;
    }
    if (dims.length === 2) {
      const c1 = dims[0]!.codes;
      const c2 = dims[1]!.codes;
      const s = this.strides[0]!;
      for (let k = 0; k < n; k++) {
        const i = sel[k]!;
        const g = (c1[i]! + 1) * s + c2[i]! + 1;
        keys[k] = g;
        counts[g]!++;
      }
      return;
    }
    keys.fill(0, 0, n);
    for (let d = 0; d < dims.length; d++) {
      const c = dims[d]!.codes;
      const s = this.strides[d]!;
      for (let k = 0; k < n; k++) keys[k]! += (c[sel[k]!]! + 1) * s;
    }
    for (let k = 0; k < n; k++) counts[keys[k]!]!++;
  }

  code(key: number, d: number): number {
    return (Math.floor(key / this.strides[d]!) % this.sizes[d]!) - 1;
  }
}

export class DirectGrouper implements Grouper {
  /** Rows per key; fused loops count into it directly. */
  readonly counts: Float64Array;
  readonly capacity: number;
  constructor(readonly space: KeySpace) {
    this.capacity = space.product;
    this.counts = scratch(Float64Array, space.product);
  }
  assign(sel: Int32Array, n: number, gids: Int32Array): void {
    this.space.intKeys(sel, n, gids, this.counts);
  }
  present(): number[] {
    const out: number[] = [];
    const counts = this.counts;
    for (let g = 0; g < counts.length; g++) if (counts[g] !== 0) out.push(g);
    return out;
  }
  count(g: number): number {
    return this.counts[g]!;
  }
  code(g: number, d: number): number {
    return this.space.code(g, d);
  }
  reset(): void {
    this.counts.fill(0);
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

  present(): number[] {
    return Array.from({ length: this.groups }, (_, g) => g);
  }

  count(g: number): number {
    return this.counts[g]!;
  }

  code(g: number, d: number): number {
    return this.strings ? this.stringKeys[g]![d]! : this.space.code(this.keyOf[g]!, d);
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
export function makeGrouper(dims: CodeColumn[], rowsPerBucket: number): Grouper {
  const space = new KeySpace(dims);
  if (space.product <= directKeysMax && space.product <= Math.max(4096, 2 * rowsPerBucket)) return new DirectGrouper(space);
  return new MappedGrouper(space);
}
