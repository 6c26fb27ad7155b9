/**
 * Filters compiled for one segment into row-selection loops over typed arrays.
 *
 * - `not` is pushed down to the leaves (negation normal form). Under three-valued logic a row
 *   passes `not(leaf)` exactly when the leaf is FALSE (not UNKNOWN), so each leaf is compiled
 *   for the truth value it must have: TRUE, or FALSE under an odd number of `not`s. After that,
 *   `and` and `or` are plain boolean.
 * - A leaf on a string column is evaluated once per dictionary entry into a match table
 *   (`table[code + 1]`, slot 0 for null); equality, `in` and lexicographic bounds find their
 *   entries by binary search in the sorted dictionary. Leaves on the same column under one
 *   `and`/`or` merge into one table; an all-0 or all-1 table becomes a constant.
 * - A leaf on a numeric column (metric, `__time`) becomes closed ranges when it can (bounds,
 *   ranges, equality, intervals), else a per-row call of the shared leaf predicate.
 * - Selection is branch-free: `sel[n] = i; n += match`, except where an inverted index knows
 *   the rows (`PostingsFilter`: one code, or several matching few rows, read from
 *   `inverted-index.ts` instead of testing every row).
 */
import {
  compileLeaf,
  FALSE,
  intersectIntervals,
  leafColumn,
  parseNumber,
  TIME_COLUMN,
  TRUE,
  type CellValue,
  type Filter,
  type Interval,
  type LeafFilter,
  type Truth,
} from '@cairn/shared';
import { codeHistogram, type Columns } from './columns.js';
import { chunkRows } from './execution.js';
import { invertedIndex, lowerBoundRows } from './inverted-index.js';

/** A code table matching at most this share of a segment's rows selects with a branch (see `CodeTableFilter`). */
export const branchyShareMax = 0.1;

/**
 * A code table of several codes (or an `or` of them) matching at most this share of a segment's
 * rows selects from the columns' inverted indexes (see `PostingsFilter`) instead of testing
 * every row. Measured over the benchmark's generated table (100 segments of 100k rows), `in`
 * filters of 2 to 30 country values, the selection alone: marking the postings into a bitset
 * and reading it back is 4-5x faster than the scan at 5% of the rows, 1.2-3x at 20-30%, even at
 * about 40%, slower beyond. One code's postings are the selection itself (a copy): 35-115x
 * faster than the scan from 0.04% to 12% of the rows, so one code always takes them when its
 * index fits.
 */
export const postingsShareMax = 0.25;

/** A compiled filter over rows of one segment. Ranges [lo, hi) are at most `chunkRows` long. */
export interface RowFilter {
  /** Writes the matching rows of [lo, hi) into `sel`; returns their number. */
  select(lo: number, hi: number, sel: Int32Array): number;
  /** Keeps the matching rows among `sel[0..n)` in place; returns how many remain. */
  refine(sel: Int32Array, n: number): number;
  /** `mask[i - lo] = 1` when row i of [lo, hi) matches, else 0. */
  write(lo: number, hi: number, mask: Uint8Array): void;
  and(lo: number, hi: number, mask: Uint8Array): void;
  or(lo: number, hi: number, mask: Uint8Array): void;
}

function maskToSelection(mask: Uint8Array, lo: number, hi: number, sel: Int32Array): number {
  let n = 0;
  for (let i = lo; i < hi; i++) {
    sel[n] = i;
    n += mask[i - lo]!;
  }
  return n;
}

/** Scratch masks shared by the junctions of one compiled filter, one per nesting depth. */
class Scratch {
  private readonly masks: Uint8Array[] = [];
  take(depth: number): Uint8Array {
    while (this.masks.length <= depth) this.masks.push(new Uint8Array(chunkRows));
    return this.masks[depth]!;
  }
}

export class ConstFilter implements RowFilter {
  constructor(readonly value: boolean) {}
  select(lo: number, hi: number, sel: Int32Array): number {
    if (!this.value) return 0;
    for (let i = lo; i < hi; i++) sel[i - lo] = i;
    return hi - lo;
  }
  refine(_sel: Int32Array, n: number): number {
    return this.value ? n : 0;
  }
  write(lo: number, hi: number, mask: Uint8Array): void {
    mask.fill(this.value ? 1 : 0, 0, hi - lo);
  }
  and(lo: number, hi: number, mask: Uint8Array): void {
    if (!this.value) mask.fill(0, 0, hi - lo);
  }
  or(lo: number, hi: number, mask: Uint8Array): void {
    if (this.value) mask.fill(1, 0, hi - lo);
  }
}

/**
 * A string column's rows against a match table indexed by code + 1. Selection is branch-free
 * (`sel[n] = i; n += match`) unless the column's histogram says the table matches under
 * `branchyShareMax` of the rows: then a branch that is almost never taken is cheaper than a
 * store per row (flights' origin = 'ORD', 5.5% of rows: about 3x faster).
 */
export class CodeTableFilter implements RowFilter {
  private sparse: boolean | null = null;
  constructor(
    readonly codes: Int32Array,
    readonly table: Uint8Array,
  ) {}
  /** Whether few rows match (decided once, from the segment's histogram of the column). */
  private isSparse(): boolean {
    if (this.sparse === null) {
      const h = codeHistogram(this.codes, this.table.length - 1);
      let matched = 0;
      for (let c = 0; c < h.length; c++) if (this.table[c]) matched += h[c]!;
      this.sparse = matched <= branchyShareMax * this.codes.length;
    }
    return this.sparse;
  }
  select(lo: number, hi: number, sel: Int32Array): number {
    const codes = this.codes;
    const t = this.table;
    let n = 0;
    if (this.isSparse()) {
      for (let i = lo; i < hi; i++) if (t[codes[i]! + 1]) sel[n++] = i;
      return n;
    }
    for (let i = lo; i < hi; i++) {
      sel[n] = i;
      n += t[codes[i]! + 1]!;
    }
    return n;
  }
  refine(sel: Int32Array, n: number): number {
    const codes = this.codes;
    const t = this.table;
    let m = 0;
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      sel[m] = i;
      m += t[codes[i]! + 1]!;
    }
    return m;
  }
  write(lo: number, hi: number, mask: Uint8Array): void {
    const codes = this.codes;
    const t = this.table;
    for (let i = lo; i < hi; i++) mask[i - lo] = t[codes[i]! + 1]!;
  }
  and(lo: number, hi: number, mask: Uint8Array): void {
    const codes = this.codes;
    const t = this.table;
    for (let i = lo; i < hi; i++) mask[i - lo]! &= t[codes[i]! + 1]!;
  }
  or(lo: number, hi: number, mask: Uint8Array): void {
    const codes = this.codes;
    const t = this.table;
    for (let i = lo; i < hi; i++) mask[i - lo]! |= t[codes[i]! + 1]!;
  }
}

/**
 * A string column's rows against a contiguous range of codes [first, first + width) (first may
 * be -1, the null code): one unsigned comparison per row and no table in cache.
 */
export class CodeRangeFilter implements RowFilter {
  constructor(
    readonly codes: Int32Array,
    readonly first: number,
    readonly width: number,
  ) {}
  select(lo: number, hi: number, sel: Int32Array): number {
    const codes = this.codes;
    const a = this.first;
    const w = this.width;
    let n = 0;
    for (let i = lo; i < hi; i++) {
      sel[n] = i;
      n += ((codes[i]! - a) >>> 0) < w ? 1 : 0;
    }
    return n;
  }
  refine(sel: Int32Array, n: number): number {
    const codes = this.codes;
    const a = this.first;
    const w = this.width;
    let m = 0;
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      sel[m] = i;
      m += ((codes[i]! - a) >>> 0) < w ? 1 : 0;
    }
    return m;
  }
  write(lo: number, hi: number, mask: Uint8Array): void {
    const codes = this.codes;
    const a = this.first;
    const w = this.width;
    for (let i = lo; i < hi; i++) mask[i - lo] = ((codes[i]! - a) >>> 0) < w ? 1 : 0;
  }
  and(lo: number, hi: number, mask: Uint8Array): void {
    const codes = this.codes;
    const a = this.first;
    const w = this.width;
    for (let i = lo; i < hi; i++) mask[i - lo]! &= ((codes[i]! - a) >>> 0) < w ? 1 : 0;
  }
  or(lo: number, hi: number, mask: Uint8Array): void {
    const codes = this.codes;
    const a = this.first;
    const w = this.width;
    for (let i = lo; i < hi; i++) mask[i - lo]! |= ((codes[i]! - a) >>> 0) < w ? 1 : 0;
  }
}

/** Word w of `bits` with only the bits of rows in [lo, hi) left (w within that range's words). */
function wordWithin(bits: Uint32Array, w: number, lo: number, hi: number): number {
  let x = bits[w]!;
  const base = w << 5;
  if (w === lo >>> 5) x &= -1 << (lo & 31);
  if (w === (hi - 1) >>> 5 && hi - base < 32) x &= (1 << (hi - base)) - 1;
  return x;
}

/** Rows of [lo, hi) whose bit is set, in order, into `sel`; returns their number. */
function collectBits(bits: Uint32Array, lo: number, hi: number, sel: Int32Array): number {
  if (hi <= lo) return 0;
  let n = 0;
  for (let w = lo >>> 5, wLast = (hi - 1) >>> 5; w <= wLast; w++) {
    let x = wordWithin(bits, w, lo, hi);
    const base = w << 5;
    while (x !== 0) {
      const low = x & -x;
      sel[n++] = base + 31 - Math.clz32(low);
      x ^= low;
    }
  }
  return n;
}

/**
 * The rows of a few dictionary codes (of one column, or of several under an `or`), read from
 * the columns' inverted indexes instead of testing every row: each code's rows are a sorted
 * span of its index. One span is already the selection (a chunk's part is found by binary
 * search and copied); several are marked once into a bitset of the segment's rows, read a chunk
 * at a time. Refining a selection, and `and` into a mask, test each row's code against the
 * tables (`probe`): that costs one lookup per row given, as a scan would.
 */
export class PostingsFilter implements RowFilter {
  /** Lazily, for several spans: bit i is set when row i matches. */
  private bits: Uint32Array | null = null;
  constructor(
    /** Per span: the index's rows array and the span's [from, to) in it. */
    readonly spanRows: readonly Int32Array[],
    readonly spanFrom: readonly number[],
    readonly spanTo: readonly number[],
    /** Rows of the segment. */
    readonly rowCount: number,
    /** Rows that match (the spans' total length). */
    readonly matched: number,
    /** The same rows by code lookups, for `refine` and `and`. */
    readonly probe: RowFilter,
  ) {}
  private bitset(): Uint32Array {
    if (this.bits) return this.bits;
    const bits = new Uint32Array((this.rowCount + 31) >>> 5);
    for (let s = 0; s < this.spanRows.length; s++) {
      const rows = this.spanRows[s]!;
      for (let k = this.spanFrom[s]!, to = this.spanTo[s]!; k < to; k++) {
        const r = rows[k]!;
        bits[r >>> 5]! |= 1 << (r & 31);
      }
    }
    return (this.bits = bits);
  }
  select(lo: number, hi: number, sel: Int32Array): number {
    if (this.spanRows.length !== 1) return collectBits(this.bitset(), lo, hi, sel);
    const rows = this.spanRows[0]!;
    const to = this.spanTo[0]!;
    const a = lowerBoundRows(rows, lo, this.spanFrom[0]!, to);
    const b = lowerBoundRows(rows, hi, a, to);
    sel.set(rows.subarray(a, b));
    return b - a;
  }
  refine(sel: Int32Array, n: number): number {
    return this.probe.refine(sel, n);
  }
  /** Sets `mask[i - lo]` for the matching rows i of [lo, hi) (leaves the others). */
  private mark(lo: number, hi: number, mask: Uint8Array): void {
    if (this.spanRows.length !== 1) {
      const bits = this.bitset();
      if (hi <= lo) return;
      for (let w = lo >>> 5, wLast = (hi - 1) >>> 5; w <= wLast; w++) {
        let x = wordWithin(bits, w, lo, hi);
        const base = w << 5;
        while (x !== 0) {
          const low = x & -x;
          mask[base + 31 - Math.clz32(low) - lo] = 1;
          x ^= low;
        }
      }
      return;
    }
    const rows = this.spanRows[0]!;
    const to = this.spanTo[0]!;
    for (let k = lowerBoundRows(rows, lo, this.spanFrom[0]!, to); k < to; k++) {
      const r = rows[k]!;
      if (r >= hi) break;
      mask[r - lo] = 1;
    }
  }
  write(lo: number, hi: number, mask: Uint8Array): void {
    mask.fill(0, 0, hi - lo);
    this.mark(lo, hi, mask);
  }
  and(lo: number, hi: number, mask: Uint8Array): void {
    this.probe.and(lo, hi, mask);
  }
  or(lo: number, hi: number, mask: Uint8Array): void {
    this.mark(lo, hi, mask);
  }
}

/** A numeric column's rows against one closed range [a, b] (NaN, the null, fails unless `nulls`). */
export class NumberRangeFilter implements RowFilter {
  constructor(
    readonly values: Float64Array,
    readonly a: number,
    readonly b: number,
    readonly nulls: boolean,
  ) {}
  private test(v: number): number {
    return (v >= this.a && v <= this.b) || (this.nulls && v !== v) ? 1 : 0;
  }
  select(lo: number, hi: number, sel: Int32Array): number {
    const vals = this.values;
    const a = this.a;
    const b = this.b;
    let n = 0;
    if (!this.nulls) {
      for (let i = lo; i < hi; i++) {
        const v = vals[i]!;
        sel[n] = i;
        n += v >= a && v <= b ? 1 : 0;
      }
      return n;
    }
    for (let i = lo; i < hi; i++) {
      sel[n] = i;
      n += this.test(vals[i]!);
    }
    return n;
  }
  refine(sel: Int32Array, n: number): number {
    const vals = this.values;
    let m = 0;
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      sel[m] = i;
      m += this.test(vals[i]!);
    }
    return m;
  }
  write(lo: number, hi: number, mask: Uint8Array): void {
    for (let i = lo; i < hi; i++) mask[i - lo] = this.test(this.values[i]!);
  }
  and(lo: number, hi: number, mask: Uint8Array): void {
    for (let i = lo; i < hi; i++) mask[i - lo]! &= this.test(this.values[i]!);
  }
  or(lo: number, hi: number, mask: Uint8Array): void {
    for (let i = lo; i < hi; i++) mask[i - lo]! |= this.test(this.values[i]!);
  }
}

/** Anything else on one column: the shared leaf predicate per row. */
export class PredicateFilter implements RowFilter {
  constructor(private readonly matches: (row: number) => number) {}
  select(lo: number, hi: number, sel: Int32Array): number {
    let n = 0;
    for (let i = lo; i < hi; i++) {
      sel[n] = i;
      n += this.matches(i);
    }
    return n;
  }
  refine(sel: Int32Array, n: number): number {
    let m = 0;
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      sel[m] = i;
      m += this.matches(i);
    }
    return m;
  }
  write(lo: number, hi: number, mask: Uint8Array): void {
    for (let i = lo; i < hi; i++) mask[i - lo] = this.matches(i);
  }
  and(lo: number, hi: number, mask: Uint8Array): void {
    for (let i = lo; i < hi; i++) mask[i - lo]! &= this.matches(i);
  }
  or(lo: number, hi: number, mask: Uint8Array): void {
    for (let i = lo; i < hi; i++) mask[i - lo]! |= this.matches(i);
  }
}

export class AndFilter implements RowFilter {
  constructor(
    readonly parts: RowFilter[],
    private readonly scratch: Scratch,
    private readonly depth: number,
  ) {}
  select(lo: number, hi: number, sel: Int32Array): number {
    let n = this.parts[0]!.select(lo, hi, sel);
    for (let p = 1; p < this.parts.length && n > 0; p++) n = this.parts[p]!.refine(sel, n);
    return n;
  }
  refine(sel: Int32Array, n: number): number {
    for (let p = 0; p < this.parts.length && n > 0; p++) n = this.parts[p]!.refine(sel, n);
    return n;
  }
  write(lo: number, hi: number, mask: Uint8Array): void {
    this.parts[0]!.write(lo, hi, mask);
    for (let p = 1; p < this.parts.length; p++) this.parts[p]!.and(lo, hi, mask);
  }
  and(lo: number, hi: number, mask: Uint8Array): void {
    for (const p of this.parts) p.and(lo, hi, mask);
  }
  or(lo: number, hi: number, mask: Uint8Array): void {
    const tmp = this.scratch.take(this.depth);
    this.write(lo, hi, tmp);
    for (let i = 0; i < hi - lo; i++) mask[i]! |= tmp[i]!;
  }
}

export class OrFilter implements RowFilter {
  constructor(
    readonly parts: RowFilter[],
    private readonly scratch: Scratch,
    private readonly depth: number,
  ) {}
  select(lo: number, hi: number, sel: Int32Array): number {
    const mask = this.scratch.take(this.depth);
    this.write(lo, hi, mask);
    return maskToSelection(mask, lo, hi, sel);
  }
  refine(sel: Int32Array, n: number): number {
    if (n === 0) return 0;
    const lo = sel[0]!;
    const hi = sel[n - 1]! + 1;
    const mask = this.scratch.take(this.depth);
    this.write(lo, hi, mask);
    let m = 0;
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      sel[m] = i;
      m += mask[i - lo]!;
    }
    return m;
  }
  write(lo: number, hi: number, mask: Uint8Array): void {
    this.parts[0]!.write(lo, hi, mask);
    for (let p = 1; p < this.parts.length; p++) this.parts[p]!.or(lo, hi, mask);
  }
  and(lo: number, hi: number, mask: Uint8Array): void {
    const tmp = this.scratch.take(this.depth);
    this.write(lo, hi, tmp);
    for (let i = 0; i < hi - lo; i++) mask[i]! &= tmp[i]!;
  }
  or(lo: number, hi: number, mask: Uint8Array): void {
    for (const p of this.parts) p.or(lo, hi, mask);
  }
}

// --- numeric ranges ---------------------------------------------------------------------------

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);

/** The next double above x (x finite or -Infinity). */
export function nextUp(x: number): number {
  if (x !== x || x === Infinity) return x;
  if (x === 0) return Number.MIN_VALUE;
  f64[0] = x;
  u64[0] = x > 0 ? u64[0]! + 1n : u64[0]! - 1n;
  return f64[0]!;
}

/** The next double below x. */
export function nextDown(x: number): number {
  return -nextUp(-x);
}

type Ranges = [number, number][];

/** The non-null numbers a leaf is TRUE for, as sorted disjoint closed ranges, or null when not expressible. */
export function numericTrueRanges(leaf: LeafFilter): Ranges | null {
  const point = (n: number | null): Ranges => (n === null ? [] : [[n, n]]);
  const bounded = (lo: number | null, loOpen: boolean, hi: number | null, hiOpen: boolean): Ranges => {
    const a = lo === null ? -Infinity : loOpen ? nextUp(lo) : lo;
    const b = hi === null ? Infinity : hiOpen ? nextDown(hi) : hi;
    return a <= b ? [[a, b]] : [];
  };
  const num = (v: string | number) => (typeof v === 'number' ? v : parseNumber(v));
  switch (leaf.type) {
    case 'selector':
      return leaf.value === null ? [] : point(parseNumber(leaf.value));
    case 'in': {
      const points = [...new Set(leaf.values.flatMap((v) => (v === null ? [] : [parseNumber(v)])).filter((v): v is number => v !== null))].sort((a, b) => a - b);
      return points.length > 64 ? null : points.map((p): [number, number] => [p, p]);
    }
    case 'equals':
      return leaf.matchValueType === 'STRING' ? null : point(num(leaf.matchValue));
    case 'range': {
      if (leaf.matchValueType === 'STRING') return null;
      return bounded(leaf.lower === null ? null : num(leaf.lower), leaf.lowerOpen, leaf.upper === null ? null : num(leaf.upper), leaf.upperOpen);
    }
    case 'bound': {
      if (leaf.ordering !== 'numeric') return null;
      // Druid's numeric ordering puts non-numbers before every number: such a lower bound
      // bounds nothing, such an upper bound excludes every number.
      const lo = leaf.lower === null ? null : parseNumber(leaf.lower);
      if (leaf.upper !== null && parseNumber(leaf.upper) === null) return [];
      const hi = leaf.upper === null ? null : parseNumber(leaf.upper);
      return bounded(lo, lo !== null && leaf.lowerStrict, hi, leaf.upperStrict);
    }
    case 'interval':
      return leaf.intervals.map((i): [number, number] => [i.start, nextDown(i.end)]);
    case 'null':
      return [];
    default:
      return null;
  }
}

/** The complement of sorted disjoint closed ranges among all non-null doubles. */
export function complementRanges(ranges: Ranges): Ranges {
  const out: Ranges = [];
  let from = -Infinity;
  for (const [a, b] of ranges) {
    if (a > from) out.push([from, nextDown(a)]);
    from = nextUp(b);
    if (b === Infinity) return out;
  }
  out.push([from, Infinity]);
  return out;
}

// --- compilation ------------------------------------------------------------------------------

function indexOfSorted(dict: readonly string[], s: string): number {
  let lo = 0;
  let hi = dict.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (dict[mid]! < s) lo = mid + 1;
    else hi = mid;
  }
  return lo < dict.length && dict[lo] === s ? lo : -1;
}

/** First index with dict[i] >= s (or > s when `after`). */
function searchSorted(dict: readonly string[], s: string, after: boolean): number {
  let lo = 0;
  let hi = dict.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (dict[mid]! < s || (after && dict[mid] === s)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The dictionary codes a string leaf is TRUE for, by binary search, or null when it needs a full scan. */
function trueCodes(leaf: LeafFilter, dict: readonly string[]): { points: number[] } | { from: number; to: number } | null {
  switch (leaf.type) {
    case 'selector':
      return { points: leaf.value === null ? [] : [indexOfSorted(dict, leaf.value)].filter((i) => i >= 0) };
    case 'in':
      return { points: leaf.values.flatMap((v) => (v === null ? [] : [indexOfSorted(dict, v)])).filter((i) => i >= 0) };
    case 'equals':
      return leaf.matchValueType === 'STRING' ? { points: [indexOfSorted(dict, String(leaf.matchValue))].filter((i) => i >= 0) } : null;
    case 'bound':
      if (leaf.ordering !== 'lexicographic') return null;
      return {
        from: leaf.lower === null ? 0 : searchSorted(dict, leaf.lower, leaf.lowerStrict),
        to: leaf.upper === null ? dict.length : searchSorted(dict, leaf.upper, !leaf.upperStrict),
      };
    case 'range':
      if (leaf.matchValueType !== 'STRING') return null;
      return {
        from: leaf.lower === null ? 0 : searchSorted(dict, String(leaf.lower), leaf.lowerOpen),
        to: leaf.upper === null ? dict.length : searchSorted(dict, String(leaf.upper), !leaf.upperOpen),
      };
    default:
      return null;
  }
}

/** Tables above this many entries that are one contiguous run become a code range test. */
const rangeTableMin = 4096;

interface TableLeaf {
  kind: 'table';
  codes: Int32Array;
  table: Uint8Array;
  /** The table's slots holding 1, when there are at most `slotsListedMax` of them (else null). */
  slots: number[] | null;
}

/** Tables with at most this many matching entries list them, so postings need not scan the table. */
const slotsListedMax = 64;

type Compiled = TableLeaf | { kind: 'const'; value: boolean } | { kind: 'and' | 'or'; parts: Compiled[] } | { kind: 'node'; node: RowFilter };

/**
 * The shared leaf predicates of a query's leaves, compiled once per leaf instead of once per
 * segment (leaves are the parsed query's objects; entries go with the query).
 */
const leafPredicates = new WeakMap<LeafFilter, (v: CellValue) => Truth>();
function predicateOf(leaf: LeafFilter): (v: CellValue) => Truth {
  let fn = leafPredicates.get(leaf);
  if (!fn) leafPredicates.set(leaf, (fn = compileLeaf(leaf)));
  return fn;
}

function tableLeaf(leaf: LeafFilter, want: Truth, columns: Columns): Compiled {
  const { codes, dictionary: dict } = columns.codes(leafColumn(leaf));
  const fn = predicateOf(leaf);
  const table = new Uint8Array(dict.length + 1);
  table[0] = fn(null) === want ? 1 : 0;
  const fast = trueCodes(leaf, dict);
  if (fast) {
    // For these leaves a non-null value is TRUE or FALSE, never UNKNOWN.
    const mark = want === TRUE ? 1 : 0;
    if (want !== TRUE) table.fill(1, 1);
    if ('points' in fast) for (const c of fast.points) table[c + 1] = mark;
    else if (fast.to > fast.from) table.fill(mark, fast.from + 1, fast.to + 1);
  } else {
    for (let c = 0; c < dict.length; c++) table[c + 1] = fn(dict[c]!) === want ? 1 : 0;
  }
  return simplifyTable({ kind: 'table', codes, table, slots: null });
}

/** A table of all 0 or all 1 becomes a constant; otherwise its slots holding 1 are listed when few. */
function simplifyTable(t: TableLeaf): Compiled {
  const table = t.table;
  let ones = 0;
  let slots: number[] | null = [];
  for (let c = 0; c < table.length; c++) {
    if (table[c] === 0) continue;
    ones++;
    if (slots === null) continue;
    if (slots.length < slotsListedMax) slots.push(c);
    else slots = null;
  }
  if (ones === 0) return { kind: 'const', value: false };
  if (ones === table.length) return { kind: 'const', value: true };
  t.slots = slots;
  return t;
}

function numericLeaf(leaf: LeafFilter, want: Truth, columns: Columns): Compiled {
  const col = columns.numbers(leafColumn(leaf));
  const fn = predicateOf(leaf);
  const nulls = fn(null) === want;
  if (!col) return { kind: 'const', value: nulls };
  const values = col.values;
  let ranges = numericTrueRanges(leaf);
  if (ranges !== null) {
    if (want === FALSE) ranges = complementRanges(ranges);
    if (ranges.length === 0) return nulls && col.nullable ? { kind: 'node', node: new NumberRangeFilter(values, Infinity, -Infinity, true) } : { kind: 'const', value: false };
    if (ranges.length === 1) {
      const [a, b] = ranges[0]!;
      if (a === -Infinity && b === Infinity && (nulls || !col.nullable)) return { kind: 'const', value: true };
      return { kind: 'node', node: new NumberRangeFilter(values, a, b, nulls) };
    }
    return {
      kind: 'or',
      parts: [
        ...ranges.map(([a, b]): Compiled => ({ kind: 'node', node: new NumberRangeFilter(values, a, b, false) })),
        ...(nulls && col.nullable ? [{ kind: 'node', node: new NumberRangeFilter(values, Infinity, -Infinity, true) } as Compiled] : []),
      ],
    };
  }
  const cell = (v: number): CellValue => (v !== v ? null : v);
  return { kind: 'node', node: new PredicateFilter((i) => (fn(cell(values[i]!)) === want ? 1 : 0)) };
}

function compileTree(f: Filter, negate: boolean, columns: Columns): Compiled {
  switch (f.type) {
    case 'true':
    case 'false':
      return { kind: 'const', value: (f.type === 'true') !== negate };
    case 'not':
      return compileTree(f.field, !negate, columns);
    case 'and':
    case 'or': {
      const isAnd = (f.type === 'and') !== negate;
      const parts = f.fields.map((x) => compileTree(x, negate, columns));
      return simplifyJunction(isAnd ? 'and' : 'or', parts);
    }
    default: {
      const want: Truth = negate ? FALSE : TRUE;
      return columns.isNumeric(leafColumn(f)) ? numericLeaf(f, want, columns) : tableLeaf(f, want, columns);
    }
  }
}

/** Flattens nested junctions, folds constants and merges tables of the same column. */
function simplifyJunction(kind: 'and' | 'or', input: Compiled[]): Compiled {
  const isAnd = kind === 'and';
  const flat: Compiled[] = [];
  for (const p of input) {
    if (p.kind === kind) flat.push(...p.parts);
    else flat.push(p);
  }
  const parts: Compiled[] = [];
  const tables = new Map<Int32Array, TableLeaf>();
  for (const p of flat) {
    if (p.kind === 'const') {
      if (p.value !== isAnd) return p; // false under and, true under or
      continue;
    }
    if (p.kind === 'table') {
      const prev = tables.get(p.codes);
      if (prev) {
        const t = new Uint8Array(prev.table.length);
        for (let i = 0; i < t.length; i++) t[i] = isAnd ? prev.table[i]! & p.table[i]! : prev.table[i]! | p.table[i]!;
        prev.table = t;
      } else {
        const copy: TableLeaf = { kind: 'table', codes: p.codes, table: p.table, slots: null };
        tables.set(p.codes, copy);
        parts.push(copy);
      }
      continue;
    }
    parts.push(p);
  }
  const simplified: Compiled[] = [];
  for (const p of parts) {
    const s = p.kind === 'table' ? simplifyTable(p) : p;
    if (s.kind === 'const') {
      if (s.value !== isAnd) return s;
      continue;
    }
    simplified.push(s);
  }
  if (simplified.length === 0) return { kind: 'const', value: isAnd };
  if (simplified.length === 1) return simplified[0]!;
  // Cheap, selective parts first: tables, then ranges, then per-row predicates.
  const rank = (c: Compiled) => (c.kind === 'table' ? 0 : c.kind === 'node' && !(c.node instanceof PredicateFilter) ? 1 : 2);
  simplified.sort((a, b) => rank(a) - rank(b));
  return { kind, parts: simplified };
}

/**
 * A code table as a selection from its column's inverted index, when the column's histogram
 * says it matches at most `shareMax` of the rows (one code's share or several codes') and the
 * index fits in its bound; else null. A
 * table matching no row of the segment is the constant false. `slots` (the table's entries
 * holding 1, when few) spares a pass over the whole table.
 */
function postingsOf(t: TableLeaf, probe: RowFilter, shareMax: ShareMax): RowFilter | null {
  const { codes, table } = t;
  const h = codeHistogram(codes, table.length - 1);
  let matched = 0;
  let withRows = 0;
  if (t.slots) {
    for (const c of t.slots) {
      matched += h[c]!;
      if (h[c]! > 0) withRows++;
    }
  } else {
    for (let c = 0; c < table.length; c++) {
      if (!table[c]) continue;
      matched += h[c]!;
      if (h[c]! > 0) withRows++;
    }
  }
  if (matched === 0) return new ConstFilter(false);
  if (matched > (withRows === 1 ? shareMax.oneCode : shareMax.severalCodes) * codes.length) return null;
  const index = invertedIndex(codes, table.length - 1);
  if (index === null) return null;
  const spanRows: Int32Array[] = [];
  const spanFrom: number[] = [];
  const spanTo: number[] = [];
  let slots = t.slots;
  if (slots === null) {
    slots = [];
    for (let c = 0; c < table.length; c++) if (table[c]) slots.push(c);
  }
  // Slot c of the table (code c - 1) is rows[offsets[c] .. offsets[c + 1]).
  for (const c of slots) {
    if (h[c] === 0) continue;
    spanRows.push(index.rows);
    spanFrom.push(index.offsets[c]!);
    spanTo.push(index.offsets[c + 1]!);
  }
  return new PostingsFilter(spanRows, spanFrom, spanTo, codes.length, matched, probe);
}

/**
 * An `or` of postings selections (of any columns) whose rows together stay under
 * `postingsShareMax` becomes one: its spans' union, marked into one bitset.
 */
function unionOfPostings(parts: readonly RowFilter[], probe: RowFilter, shareMax: ShareMax): RowFilter | null {
  if (!parts.every((p): p is PostingsFilter => p instanceof PostingsFilter)) return null;
  const ps = parts as readonly PostingsFilter[];
  const rowCount = ps[0]!.rowCount;
  const matched = ps.reduce((a, p) => a + p.matched, 0);
  if (matched > shareMax.severalCodes * rowCount) return null;
  return new PostingsFilter(
    ps.flatMap((p) => p.spanRows),
    ps.flatMap((p) => p.spanFrom),
    ps.flatMap((p) => p.spanTo),
    rowCount,
    matched,
    probe,
  );
}

/** Under `and`: postings selections first, fewest rows first (the first part selects, the others refine). */
function selectiveFirst(parts: RowFilter[]): RowFilter[] {
  const rows = (p: RowFilter) => (p instanceof PostingsFilter ? p.matched : Infinity);
  return parts
    .map((p, i) => ({ p, i }))
    .sort((x, y) => rows(x.p) - rows(y.p) || x.i - y.i)
    .map((x) => x.p);
}

/** Shares of a segment's rows up to which postings are read, for one code and for several. */
interface ShareMax {
  oneCode: number;
  severalCodes: number;
}

function build(c: Compiled, scratch: Scratch, depth: number, shareMax: ShareMax): RowFilter {
  switch (c.kind) {
    case 'const':
      return new ConstFilter(c.value);
    case 'node':
      return c.node;
    case 'table': {
      const t = c.table;
      const postings = postingsOf(c, new CodeTableFilter(c.codes, t), shareMax);
      if (postings) return postings;
      if (t.length >= rangeTableMin) {
        const first = t.indexOf(1);
        const last = t.lastIndexOf(1);
        let contiguous = true;
        for (let i = first; i <= last && contiguous; i++) contiguous = t[i] === 1;
        if (contiguous) return new CodeRangeFilter(c.codes, first - 1, last - first + 1);
      }
      return new CodeTableFilter(c.codes, t);
    }
    case 'and': {
      const parts = c.parts.map((p) => build(p, scratch, depth + 1, shareMax));
      if (parts.some((p) => selectsNone(p))) return new ConstFilter(false);
      return new AndFilter(selectiveFirst(parts), scratch, depth);
    }
    case 'or': {
      const parts = c.parts.map((p) => build(p, scratch, depth + 1, shareMax)).filter((p) => !selectsNone(p));
      if (parts.length === 0) return new ConstFilter(false);
      if (parts.length === 1) return parts[0]!;
      const or = new OrFilter(parts, scratch, depth);
      return unionOfPostings(parts, or, shareMax) ?? or;
    }
  }
}

export interface RowFilterOptions {
  /** Overrides `postingsShareMax`, for one code too (tests force or forbid the inverted-index path with 1 and 0). */
  postingsShareMax?: number;
}

/** Compiles a filter for one segment; `null` (no filter) selects every row. */
export function compileRowFilter(filter: Filter | null, columns: Columns, options: RowFilterOptions = {}): RowFilter {
  if (filter === null) return new ConstFilter(true);
  const share = options.postingsShareMax;
  const shareMax = share === undefined ? { oneCode: 1, severalCodes: postingsShareMax } : { oneCode: share, severalCodes: share };
  return build(compileTree(filter, false, columns), new Scratch(), 0, shareMax);
}

/** Whether a compiled filter selects every row (so the engine can skip selection). */
export function selectsAll(f: RowFilter): boolean {
  return f instanceof ConstFilter && f.value;
}

export function selectsNone(f: RowFilter): boolean {
  return f instanceof ConstFilter && !f.value;
}

/**
 * Splits the conjuncts of a filter that only restrict `__time` (interval filters, numeric bounds
 * and ranges on `__time`) from the rest: the engine intersects them with the query intervals and
 * finds their rows by binary search instead of testing every row.
 */
export function splitTimeFilter(filter: Filter | null): { time: Interval[] | null; rest: Filter | null } {
  if (filter === null) return { time: null, rest: null };
  const conjuncts = filter.type === 'and' ? filter.fields : [filter];
  let time: Interval[] | null = null;
  const rest: Filter[] = [];
  for (const f of conjuncts) {
    const ranges = f.type !== 'and' && f.type !== 'or' && f.type !== 'not' && f.type !== 'true' && f.type !== 'false' && leafColumn(f) === TIME_COLUMN ? numericTrueRanges(f) : null;
    if (ranges === null) {
      rest.push(f);
      continue;
    }
    // __time holds integer milliseconds: the closed range [a, b] is [ceil(a), floor(b) + 1).
    const intervals = ranges.map(([a, b]) => ({ start: Math.ceil(a), end: Math.floor(b) + 1 })).filter((i) => i.end > i.start);
    time = time === null ? intervals : intersectIntervals(time, intervals);
  }
  return { time, rest: rest.length === 0 ? null : rest.length === 1 ? rest[0]! : { type: 'and', fields: rest } };
}

