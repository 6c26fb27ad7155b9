/**
 * `SegmentsAccumulator`: one timeseries, topN or groupBy over many segments of one worker,
 * folded into one set of states, for one partial result instead of one per segment.
 *
 * Why: a groupBy of ~100k groups over 100 segments made every segment write all of its groups
 * (4 million partial rows) that the merge then combined again; the worker's answer is one merged
 * partial anyway (Druid's data nodes merge their segments' results the same way). Here every
 * dimension value gets a query-wide id (through the process's value pool: a segment's
 * dictionary maps to pool ids once per process), each segment's dictionary codes are remapped
 * to those ids (a table per segment and dimension, not per row), and rows go straight into
 * directly addressed states: key = bucket * space + the sum of each dimension id times its stride.
 *
 * Covers count, longSum/doubleSum and long/double min/max over plain dimensions, the
 * aggregators that most queries are made of; `SegmentsAccumulator.for` returns null for other
 * queries. `add` declines a segment (returns false) when taking it would make the key space
 * larger than `accumulatorKeysMax` or the process's accumulators hold more than
 * `accumulatorBytesMax`: the caller then runs that segment alone (`runOnSegment`) and merges
 * its partial with this one's, which is always correct.
 *
 * TopN keeps, per bucket, the best `max(threshold, minTopNThreshold)` values over the segments
 * added, as `runOnSegment` does over one: the same approximation, over more rows.
 */
import {
  currentValuePool,
  RowEvaluator,
  toQueryError,
  topNDepth,
  topNOrdering,
  attachPooledIds,
  markDistinctRows,
  WireCodes,
  WireNumbers,
  type AggregatePartial,
  type AggregatingQuery,
  type Filter,
  type Interval,
  type LoadedSegment,
  type Query,
  type TopNCandidate,
  type ValuePool,
} from '@cairn/shared';
import { AccumulateLoop, foldLoop, groupedArena, groupedArenaDimsMax, groupedArenaRemapLength, groupedArenaStatesLength, localArena, localEntriesMax, localLoop, localTermsMax, type ColumnNulls, type FoldLoopFn, type LocalArena, type LocalLoopFn, type LoopShape, type TermKind } from './accumulate-loop.js';
import { selectBest } from './aggregate.js';
import { codeHistogram, codeTypeOf, Columns, narrowCodes, narrowValues, valueTypeOf, type CodeColumn, type NarrowCodes, type NarrowValues } from './columns.js';
import { chunkRows, Guard, type ExecutionOptions } from './execution.js';
import { compileRowFilter, selectsAll, selectsNone, splitTimeFilter, type RowFilter } from './filter-program.js';
import { planBuckets, type BucketPlan } from './plan.js';
import { releaseScratch, scratch } from './scratch.js';

/** Keys (buckets times the product of the dimensions' id capacities) one accumulator may address. */
export const accumulatorKeysMax = 1 << 20;
/** Bytes of state all accumulators of the process may hold together (several queries run at once). */
export const accumulatorBytesMax = 256 << 20;
let bytesHeld = 0;
/** The accumulator whose states are the process's grouped arena, if any (see `groupedArena`). */
let arenaHolder: SegmentsAccumulator | null = null;
/** A one-dimension fold uses per-segment arrays indexed by code below this dictionary size (8 B a term per entry: 512 KiB at most). */
export const localCodesMax = localEntriesMax - 1;

/** Whether an accumulator holds the process's grouped arena now (for tests). */
export function groupedArenaHeld(): boolean {
  return arenaHolder !== null;
}

/** Bytes the process's accumulators hold now (for tests and metrics). */
export function accumulatorBytesHeld(): number {
  return bytesHeld;
}

interface Term {
  readonly kind: TermKind;
  readonly field: string | null;
  /** Druid's long aggregators truncate a double column's values. */
  readonly asLong: boolean;
}

function termsOf(query: AggregatingQuery): Term[] | null {
  const out: Term[] = [];
  for (const a of query.aggregations) {
    switch (a.type) {
      case 'count':
        out.push({ kind: 'count', field: null, asLong: false });
        break;
      case 'longSum':
      case 'doubleSum':
        out.push({ kind: 'sum', field: a.fieldName, asLong: a.type === 'longSum' });
        break;
      case 'longMin':
      case 'doubleMin':
      case 'longMax':
      case 'doubleMax':
        out.push({ kind: a.type.endsWith('Max') ? 'max' : 'min', field: a.fieldName, asLong: a.type.startsWith('long') });
        break;
      default:
        return null;
    }
  }
  return out;
}

/**
 * State arrays given back by finished queries, by power-of-two capacity, for later ones: a
 * high-cardinality groupBy allocated several MB of states per query (and more as capacities
 * grew), which V8 counts as external memory and answers with full collections of a heap that
 * holds every segment's dictionary strings. At most `statesPooledBytesMax` stay pooled.
 */
export const statesPooledBytesMax = 64 << 20;
const freeStates = new Map<number, Float64Array[]>();
let pooledStateBytes = 0;

/** A zeroed array of length n (a view of a pooled buffer when one is free). */
function takeStates(n: number): Float64Array {
  const bits = n <= 1 ? 0 : 32 - Math.clz32(n - 1);
  const base = freeStates.get(bits)?.pop();
  if (!base) return new Float64Array(2 ** bits).subarray(0, n);
  pooledStateBytes -= base.byteLength;
  const view = base.subarray(0, n);
  view.fill(0);
  return view;
}

function giveStates(a: Float64Array): void {
  if (a.length === 0) return;
  const base = new Float64Array(a.buffer, a.byteOffset, a.buffer.byteLength / 8);
  if (pooledStateBytes + base.byteLength > statesPooledBytesMax) return;
  const bits = 31 - Math.clz32(base.length);
  let list = freeStates.get(bits);
  if (!list) freeStates.set(bits, (list = []));
  list.push(base);
  pooledStateBytes += base.byteLength;
}

const initial = (kind: TermKind) => (kind === 'min' ? Infinity : kind === 'max' ? -Infinity : 0);
const noNumbers = new Float64Array(0);

/**
 * Where a group's numbers sit: `slots` per key; the row count at 0, term j's state at `slot[j]`
 * (-1 for count, which is the row count), its null count at `nullSlot[j]` (-1: no nulls met).
 * Keys: bucket * space + sum of (query-wide id of dimension d) * mult[d], with room for cap[d]
 * ids of dimension d.
 */
interface Layout {
  readonly caps: readonly number[];
  readonly mults: readonly number[];
  readonly space: number;
  readonly slots: number;
  readonly slot: readonly number[];
  readonly nullSlot: readonly number[];
}

function layoutOf(terms: readonly Term[], caps: readonly number[], withNulls: readonly boolean[]): Layout {
  const mults = caps.map(() => 1);
  for (let d = caps.length - 2; d >= 0; d--) mults[d] = mults[d + 1]! * caps[d + 1]!;
  const space = caps.reduce((a, c) => a * c, 1);
  let slots = 1;
  const slot = terms.map((t) => (t.kind === 'count' ? -1 : slots++));
  const nullSlot = terms.map((_, j) => (withNulls[j] ? slots++ : -1));
  return { caps, mults, space, slots, slot, nullSlot };
}

/*
 * The per-code passes of `fold` are functions of their own that end right after their loop:
 * inside `fold`, V8 compiled a long pass on stack (OSR) before the code after it had run, and
 * that code deoptimized there on later calls, over and over (up to ~1,600 times in a run of the
 * flights shapes, `--trace-deopt`).
 */

/** `dense[c]` = the query-wide id of code c (pool id `pid[c]`, -1: none yet) for c >= first; returns how many have none. */
function lookUpIds(pid: Int32Array, first: number, toDense: Int32Array, dense: Int32Array): number {
  dense[0] = -1;
  let unknown = 0;
  for (let c = first; c < pid.length; c++) {
    const id = toDense[pid[c]!]!;
    dense[c] = id;
    if (id < 0) unknown++;
  }
  return unknown;
}

/** Gives the codes without an id (`dense[c] < 0`, c >= first) the ids from `next` on, in both directions; returns the next free id. */
function registerIds(pid: Int32Array, first: number, dense: Int32Array, toDense: Int32Array, back: Int32Array, next: number): number {
  for (let c = first; c < pid.length; c++) {
    if (dense[c]! >= 0) continue;
    const p = pid[c]!;
    // A pool id seen twice in one dictionary gets one id: partials are marked as distinct groups.
    let id = toDense[p]!;
    if (id < 0) {
      toDense[p] = id = next;
      back[next++] = p;
    }
    dense[c] = id;
  }
  return next;
}

/** Keys in [from, from + space) whose row count (slot 0 of `slots`) is above zero. */
function countPresent(st: Float64Array, slots: number, from: number, space: number): number {
  let c = 0;
  for (let o = from * slots, end = (from + space) * slots; o < end; o += slots) if (st[o]! > 0) c++;
  return c;
}

/** Writes those keys into `keys` from index n on; returns the next free index. */
function collectPresent(st: Float64Array, slots: number, from: number, space: number, keys: Int32Array, n: number): number {
  for (let g = from, end = from + space, o = from * slots; g < end; g++, o += slots) if (st[o]! > 0) keys[n++] = g;
  return n;
}

/**
 * Column of one term's states for the keys (the row count with slot -1), NaN where the term is
 * null (its null count equals the row count). The per-row loops of `partial` are functions of
 * their own: V8 abandons every optimization of `partial` itself ("dependency change", 17-40 ms
 * of compiler time each), and these loops then ran unoptimized.
 */
function stateColumn(st: Float64Array, slots: number, keys: Int32Array, n: number, slot: number, nullSlot: number, col: Float64Array): Float64Array {
  for (let r = 0; r < n; r++) {
    const o = keys[r]! * slots;
    const c = st[o]!;
    col[r] = slot < 0 ? c : c > (nullSlot < 0 ? 0 : st[o + nullSlot]!) ? st[o + slot]! : NaN;
  }
  return col;
}

/** The query-wide id along a dimension (stride `mult`, room for `cap` ids) of key g. */
function idOf(g: number, space: number, mult: number, cap: number): number {
  // Keys < 2^20: integer division by truncation is exact.
  return (((g % space) / mult) | 0) % cap;
}

/**
 * Dimension d of each key as an index into a dictionary of the ids used, in first-use order:
 * `col[r]`, the ids into `used[0..m)`; returns m.
 */
function localCodes(keys: Int32Array, n: number, space: number, mult: number, cap: number, ids: number, col: Int32Array, used: Int32Array): number {
  const local = new Int32Array(ids).fill(-1);
  let m = 0;
  for (let r = 0; r < n; r++) {
    const id = idOf(keys[r]!, space, mult, cap);
    let l = local[id]!;
    if (l < 0) {
      l = local[id] = m;
      used[m++] = id;
    }
    col[r] = l;
  }
  return m;
}

export class SegmentsAccumulator {
  /** An accumulator for `query`, or null when it has a part this one does not cover. */
  static for(query: Query): SegmentsAccumulator | null {
    if (query.queryType !== 'timeseries' && query.queryType !== 'topN' && query.queryType !== 'groupBy') return null;
    const terms = termsOf(query);
    return terms ? new SegmentsAccumulator(query, terms) : null;
  }

  private readonly grouped: boolean;
  private readonly fill: boolean;
  private readonly allBucket: boolean;
  private readonly dimNames: readonly string[];
  private readonly timeRestriction: Interval[] | null;
  private readonly rest: Filter | null;
  private readonly pool: ValuePool;
  /** Per dimension: query-wide id by pool id (-1: none yet), and pool id by query-wide id. */
  private readonly toDense: Int32Array[];
  private readonly densePool: Int32Array[];
  private readonly denseN: number[];
  private layout: Layout;
  private readonly bucketOf = new Map<number, number>();
  private readonly bucketTimes: number[] = [];
  /** Buckets the state array has room for. */
  private bucketCap = 0;
  private states: Float64Array = noNumbers;
  private bytes = 0;
  private allTime: number | null = null;
  private done = false;
  private failed = false;
  /** Segments folded in. */
  added = 0;
  /** `localParts`' lookups: loops by (counting, from a selection), the fold for `localFoldLayout`. */
  private readonly localLoops = new Map<number, LocalLoopFn>();
  private localFold: FoldLoopFn | null = null;
  private localFoldLayout: Layout | null = null;
  /** The local loop's arrays (`localArena`), looked up once. */
  private localArrays: LocalArena | null = null;
  /** Whether this accumulator's states are the grouped arena (`arenaHolder` is this). */
  private leased = false;

  private constructor(
    private readonly query: AggregatingQuery,
    private readonly terms: readonly Term[],
  ) {
    this.grouped = query.queryType !== 'timeseries';
    this.fill = !this.grouped && query.granularity.type !== 'none' && query.context.skipEmptyBuckets !== true;
    this.allBucket = query.granularity.type === 'all';
    this.dimNames = query.queryType === 'groupBy' ? query.dimensions.map((d) => d.dimension) : query.queryType === 'topN' ? [query.dimension.dimension] : [];
    const split = splitTimeFilter(query.filter);
    this.timeRestriction = split.time;
    this.rest = split.rest;
    this.pool = currentValuePool();
    this.toDense = this.dimNames.map(() => new Int32Array(0));
    this.densePool = this.dimNames.map(() => new Int32Array(16));
    this.denseN = this.dimNames.map(() => 0);
    this.layout = layoutOf(terms, this.dimNames.map(() => 1), terms.map(() => false));
  }

  /**
   * Folds `segment`'s rows in; false (with nothing of it taken) when it does not fit, so the
   * caller answers it alone. Throws QueryError like `runOnSegment` (cancelled, timed out);
   * after a throw the accumulator only takes `dispose()`.
   */
  add(segment: LoadedSegment, options: ExecutionOptions = {}): boolean {
    if (this.done) throw new Error('SegmentsAccumulator.add after partial() or dispose()');
    if (this.failed) throw new Error('SegmentsAccumulator.add after a failed add');
    const guard = new Guard(options);
    try {
      guard.check();
      return this.fold(segment, guard);
    } catch (err) {
      // A fold stopped midway (cancelled, timed out) left part of the segment in the states:
      // the accumulator is good for nothing but dispose().
      this.failed = true;
      throw toQueryError(err);
    } finally {
      releaseScratch();
    }
  }

  private fold(segment: LoadedSegment, guard: Guard): boolean {
    const columns = new Columns(segment);
    const plan = planBuckets(segment, this.query.intervals, this.query.granularity, this.timeRestriction, this.fill, guard);
    const dims = this.dimNames.map((name) => columns.codes(name));
    const ids: Int32Array[] = [];
    for (const d of dims) {
      const x = this.pool.idsOf(d.dictionary);
      if (x === null) return false;
      ids.push(x);
    }
    // Query-wide ids this segment's values need (null only when the column has null rows),
    // counted first and registered only once the segment is taken: a declined segment leaves
    // nothing behind, not even ids that would make every later layout too large. Each code's
    // id is looked up once into `dense` (a sequential array the remaps and the fold then
    // read): with ~50k values per segment, three lookups through the pool ids per code cost
    // more than the segment's rows.
    const firstCode: number[] = [];
    const wanted = this.denseN.slice();
    const denseOf: Int32Array[] = [];
    for (let d = 0; d < dims.length; d++) {
      const pid = ids[d]!;
      const missing = !segment.dimensions.has(this.dimNames[d]!);
      const first = missing || codeHistogram(dims[d]!.codes, dims[d]!.dictionary.length)[0]! > 0 ? 0 : 1;
      firstCode.push(first);
      // The common case, a value already registered, is one load: room for every pool id first.
      if (this.toDense[d]!.length < this.pool.size) this.growToDense(d, this.pool.size);
      const toDense = this.toDense[d]!;
      const dense = scratch(Int32Array, pid.length, 0, true);
      wanted[d]! += lookUpIds(pid, first, toDense, dense);
      denseOf.push(dense);
    }
    // How each term's column holds nulls here; a term's null count gets its slot at its first nulls.
    const nullsIn: ColumnNulls[] = [];
    const values: Float64Array[] = [];
    for (const t of this.terms) {
      const col = t.field === null ? null : columns.numbers(t.field, t.asLong);
      nullsIn.push(t.kind === 'count' ? 'none' : col === null ? 'all' : col.nullable ? 'some' : 'none');
      values.push(col?.values ?? noNumbers);
    }
    const times = this.allBucket ? (plan.times.length > 0 ? [0] : []) : plan.times;
    let newBuckets = 0;
    for (const t of times) if (!this.bucketOf.has(t)) newBuckets++;
    if (!this.reserve(Math.max(1, this.bucketTimes.length + newBuckets), nullsIn, wanted)) return false;

    this.added++;
    for (let d = 0; d < dims.length; d++) {
      if (wanted[d] === this.denseN[d]) continue;
      const pid = ids[d]!;
      const dense = denseOf[d]!;
      // toDense has room for every pool id (grown above), and a dictionary's pool ids are distinct.
      const toDense = this.toDense[d]!;
      let back = this.densePool[d]!;
      if (back.length < wanted[d]!) {
        const grown = new Int32Array(Math.max(wanted[d]!, back.length * 2));
        grown.set(back);
        this.densePool[d] = back = grown;
      }
      this.denseN[d] = registerIds(pid, firstCode[d]!, dense, toDense, back, this.denseN[d]!);
    }
    if (plan.clipped.length > 0 && (this.allTime === null || plan.clipped[0]!.start < this.allTime)) this.allTime = plan.clipped[0]!.start;
    for (const t of times) {
      if (this.bucketOf.has(t)) continue;
      this.bucketOf.set(t, this.bucketTimes.length);
      this.bucketTimes.push(t);
    }
    if (plan.times.length === 0) return true;
    const filter = compileRowFilter(this.rest, columns);
    if (selectsNone(filter)) return true;
    const all = selectsAll(filter);

    const L = this.layout;
    if (dims.length === 1 && this.terms.length <= localTermsMax && nullsIn.every((x) => x === 'none') && dims[0]!.dictionary.length < localCodesMax) {
      this.foldLocal(segment, plan, dims[0]!, denseOf[0]!, values, all ? null : filter, guard);
      return true;
    }
    // An accumulator holding the arena writes its remaps into the arena's too, when they fit.
    const arena = this.leased && denseOf.every((d) => d.length <= groupedArenaRemapLength) ? groupedArena() : null;
    const remaps = dims.map((_, k) => {
      const dense = denseOf[k]!;
      const step = L.mults[k]! * L.slots;
      const r = arena ? arena.remaps[k]! : scratch(Int32Array, dense.length, 0, true);
      // Offsets are below the states' length, at most accumulatorBytesMax / 8 = 2^25: exact int32
      // (a code without rows here keeps id -1: its offset is never read).
      for (let c = 0; c < dense.length; c++) r[c] = dense[c]! * step;
      return r;
    });
    // Narrow copies of the columns (made once per column, see `narrowCodes`): fewer bytes a row,
    // and no +1 per code. A dictionary past 65,535 values keeps its own codes.
    const codes = dims.map((d) => narrowCodes(d.codes, d.dictionary.length) ?? d.codes);
    const rowValues = values.map((v, j) => (this.terms[j]!.kind !== 'count' && nullsIn[j] === 'none' ? narrowValues(v) : v));
    const shape: LoopShape = {
      dims: dims.length,
      terms: this.terms.map((t, j) => ({ kind: t.kind, nulls: nullsIn[j]!, slot: L.slot[j]!, nullSlot: L.nullSlot[j]! })),
      fromSelection: !all,
      arena: arena !== null,
      codeTypes: codes.map(codeTypeOf),
      valueTypes: rowValues.map(valueTypeOf),
    };
    const loop = new AccumulateLoop(shape, { codes, remaps, states: this.states, values: rowValues });
    const sel = all ? null : scratch(Int32Array, chunkRows, 0, true);
    for (let b = 0; b < plan.times.length; b++) {
      const base = this.bucketOf.get(this.allBucket ? 0 : plan.times[b]!)! * L.space * L.slots;
      for (let j = plan.first[b]!; j < plan.first[b + 1]!; j++) {
        for (let lo = plan.rows[2 * j]!, hi = plan.rows[2 * j + 1]!; lo < hi; lo += chunkRows) {
          guard.check();
          const end = Math.min(hi, lo + chunkRows);
          if (sel === null) {
            loop.run(lo, end, null, end - lo, base);
          } else {
            const n = filter.select(lo, end, sel);
            if (n > 0) loop.run(lo, end, sel, n, base);
          }
        }
      }
    }
    return true;
  }

  /**
   * One dimension with a dictionary small enough for cache-resident arrays indexed by the
   * segment's codes: the rows go there (`localLoop`), then each bucket's entries are added to
   * the accumulator's states through the remap, once per code instead of once per row. A
   * bucket that is the whole segment without a filter takes its row counts from the column's
   * histogram (kept per segment), so the loop does not count.
   */
  private foldLocal(segment: LoadedSegment, plan: BucketPlan, dim: CodeColumn, dense: Int32Array, values: Float64Array[], filter: RowFilter | null, guard: Guard): void {
    const L = this.layout;
    const K = dim.dictionary.length + 1;
    const whole = filter === null && plan.times.length === 1 && plan.rows.length === 2 && plan.rows[0] === 0 && plan.rows[1] === segment.rowCount;
    // Codes always fit 16 bits here (the caller checks the dictionary's size).
    const c0 = narrowCodes(dim.codes, dim.dictionary.length)!;
    const narrow = values.map((v, j) => (this.terms[j]!.kind === 'count' ? v : narrowValues(v)));
    const local = this.localParts(!whole, filter !== null, c0, narrow);
    const counts = whole ? codeHistogram(dim.codes, dim.dictionary.length) : local.arena.counts;
    const locals = local.arena.states;
    const { loop, fold } = local;
    this.resetLocals(K, whole);
    const sel = filter === null ? null : scratch(Int32Array, chunkRows, 0, true);
    const step = L.mults[0]! * L.slots;
    for (let b = 0; b < plan.times.length; b++) {
      const base = this.bucketOf.get(this.allBucket ? 0 : plan.times[b]!)! * L.space * L.slots;
      let any = false;
      for (let j = plan.first[b]!; j < plan.first[b + 1]!; j++) {
        for (let lo = plan.rows[2 * j]!, hi = plan.rows[2 * j + 1]!; lo < hi; lo += chunkRows) {
          guard.check();
          const end = Math.min(hi, lo + chunkRows);
          if (sel === null) {
            loop(lo, end, null, end - lo, c0, narrow);
            any = true;
          } else {
            const n = filter!.select(lo, end, sel);
            if (n > 0) {
              loop(lo, end, sel, n, c0, narrow);
              any = true;
            }
          }
        }
      }
      if (!any) continue;
      fold(K, counts, dense, base, step, this.states, locals);
      if (b + 1 < plan.times.length) this.resetLocals(K, whole);
    }
  }

  /**
   * The local loop for this query's terms (counting or not, over a range or a selection) and
   * the fold of its arrays for the current layout, looked up once per accumulator rather than
   * once per segment (a key string and a map lookup each: flights has 182 segments of 16k rows).
   */
  private localParts(counting: boolean, fromSelection: boolean, codes: NarrowCodes, values: readonly NarrowValues[]): { arena: LocalArena; loop: LocalLoopFn; fold: FoldLoopFn } {
    const codeType = codeTypeOf(codes) as 'u8' | 'u16';
    let k = (counting ? 1 : 0) | (fromSelection ? 2 : 0) | (codeType === 'u8' ? 4 : 0);
    const valueTypes = values.map(valueTypeOf);
    // Two bits per term (at most localTermsMax = 8 terms: 19 bits in all).
    for (let j = 0; j < valueTypes.length; j++) k |= (valueTypes[j] === 'i16' ? 1 : valueTypes[j] === 'i32' ? 2 : 0) << (3 + 2 * j);
    let loop = this.localLoops.get(k);
    if (!loop) {
      loop = localLoop({ terms: this.terms.map((t) => t.kind), counting, fromSelection, codeType, valueTypes });
      this.localLoops.set(k, loop);
    }
    if (this.localFoldLayout !== this.layout || !this.localFold) {
      const L = this.layout;
      this.localFold = foldLoop(this.terms.map((t, j) => ({ kind: t.kind, slot: L.slot[j]! })));
      this.localFoldLayout = L;
    }
    this.localArrays ??= localArena(this.terms.length);
    return { arena: this.localArrays, loop, fold: this.localFold };
  }

  /** The local arrays' first K entries back to their initial states (the arena is shared by every fold); the counts too unless they come from the histogram. */
  private resetLocals(K: number, whole: boolean): void {
    const arena = this.localArrays!;
    if (!whole) arena.counts.fill(0, 0, K);
    for (let j = 0; j < this.terms.length; j++) {
      const kind = this.terms[j]!.kind;
      if (kind !== 'count') arena.states[j]!.fill(initial(kind), 0, K);
    }
  }

  private growToDense(d: number, size: number): void {
    const toDense = this.toDense[d]!;
    const grown = new Int32Array(Math.max(size, toDense.length * 2, 1024)).fill(-1);
    grown.set(toDense);
    this.toDense[d] = grown;
  }

  /**
   * Room for `buckets` buckets, every query-wide id registered so far, and null counts for the
   * terms that meet nulls (`nullsIn`). A new layout moves the groups so far; capacities grow by
   * at least a quarter so that moves stay rare. False when the key space would pass
   * `accumulatorKeysMax` or the process's accumulators `accumulatorBytesMax`.
   */
  private reserve(buckets: number, nullsIn: readonly ColumnNulls[], wanted: readonly number[]): boolean {
    const old = this.layout;
    const grows = wanted.some((n, d) => n > old.caps[d]!);
    const nulls = this.terms.map((_, j) => old.nullSlot[j]! >= 0 || nullsIn[j] !== 'none');
    const relayout = grows || nulls.some((x, j) => x !== old.nullSlot[j]! >= 0);
    if (!relayout && buckets <= this.bucketCap) return true;
    const caps = wanted.map((n, d) => (n <= old.caps[d]! ? old.caps[d]! : Math.max(n, Math.ceil(old.caps[d]! * 1.25))));
    const layout = relayout ? layoutOf(this.terms, caps, nulls) : old;
    if (buckets * layout.space > accumulatorKeysMax) return false;
    const cap = Math.max(buckets, Math.min(relayout ? this.bucketCap : this.bucketCap * 2, Math.floor(accumulatorKeysMax / layout.space)));
    const bytes = cap * layout.space * layout.slots * 8;
    if (bytesHeld - this.bytes + bytes > accumulatorBytesMax) return false;
    const n = cap * layout.space * layout.slots;
    // Two or more dimensions take the process's grouped arena when it is free and large enough
    // (see `groupedArena`), and keep it until the query ends; one-dimension queries mostly use
    // the local loop, which has arrays of its own.
    const wasLeased = this.leased;
    const lease = this.dimNames.length >= 2 && this.dimNames.length <= groupedArenaDimsMax && n <= groupedArenaStatesLength && (wasLeased || arenaHolder === null);
    // The states so far: a copy when they are the arena, which the new ones overwrite.
    const prevStates = wasLeased && lease ? this.states.slice() : this.states;
    const states = lease ? groupedArena().states.subarray(0, n).fill(0) : takeStates(n);
    // Offsets stay put when only the first dimension grew and there is at most one bucket (its
    // stride is the only one that changes, and it multiplies nothing but the bucket's base).
    const samePlaces = relayout && layout.slots === old.slots && this.bucketTimes.length <= 1 && caps.every((c, d) => d === 0 || c === old.caps[d]);
    if (!relayout || samePlaces) {
      states.set(prevStates);
      this.initialize(states, prevStates.length / layout.slots, cap * layout.space, layout);
    } else {
      this.initialize(states, 0, cap * layout.space, layout);
      const prev = prevStates;
      for (let g = 0, keys = prev.length / old.slots; g < keys; g++) {
        const o = g * old.slots;
        if (prev[o] === 0) continue;
        let k = Math.floor(g / old.space) * layout.space;
        for (let d = 0; d < caps.length; d++) k += this.idAt(g, d, old) * layout.mults[d]!;
        const n = k * layout.slots;
        states[n] = prev[o]!;
        for (let j = 0; j < this.terms.length; j++) {
          if (layout.slot[j]! >= 0) states[n + layout.slot[j]!] = prev[o + old.slot[j]!]!;
          if (old.nullSlot[j]! >= 0) states[n + layout.nullSlot[j]!] = prev[o + old.nullSlot[j]!]!;
        }
      }
    }
    this.layout = layout;
    if (!wasLeased) giveStates(this.states);
    if (lease !== wasLeased) arenaHolder = lease ? this : null;
    this.leased = lease;
    this.states = states;
    this.bucketCap = cap;
    bytesHeld += bytes - this.bytes;
    this.bytes = bytes;
    return true;
  }

  /** Keys [from, to) to their initial states (mins at +Infinity, maxes at -Infinity). */
  private initialize(states: Float64Array, from: number, to: number, layout: Layout): void {
    for (let j = 0; j < this.terms.length; j++) {
      const v = initial(this.terms[j]!.kind);
      if (v === 0) continue;
      for (let k = from, o = from * layout.slots + layout.slot[j]!; k < to; k++, o += layout.slots) states[o] = v;
    }
  }

  /** The query-wide id of dimension d in key g. */
  private idAt(g: number, d: number, layout = this.layout): number {
    return idOf(g, layout.space, layout.mults[d]!, layout.caps[d]!);
  }

  /** State of term j for key g as a number, NaN for null. */
  private stateAt(j: number, g: number): number {
    const L = this.layout;
    const o = g * L.slots;
    const c = this.states[o]!;
    if (L.slot[j]! < 0) return c;
    const nulls = L.nullSlot[j]! < 0 ? 0 : this.states[o + L.nullSlot[j]!]!;
    return c > nulls ? this.states[o + L.slot[j]!]! : NaN;
  }

  /** Gives the state's memory back without a partial (the query failed or was cancelled). */
  dispose(): void {
    if (this.done) return;
    this.done = true;
    bytesHeld -= this.bytes;
    this.bytes = 0;
    if (this.leased) {
      arenaHolder = null;
      this.leased = false;
    } else {
      giveStates(this.states);
    }
    this.states = noNumbers;
  }

  /** The partial result of every segment added; the accumulator is spent afterwards. */
  partial(): AggregatePartial {
    if (this.done) throw new Error('SegmentsAccumulator.partial after partial() or dispose()');
    if (this.failed) throw new Error('SegmentsAccumulator.partial after a failed add');
    const L = this.layout;
    const S = L.slots;
    const st = this.states;
    const space = L.space;
    const order = this.bucketTimes.map((_, b) => b).sort((x, y) => this.bucketTimes[x]! - this.bucketTimes[y]!);
    // The rows: keys of groups with rows (every bucket of a zero-filled timeseries), bucket by
    // bucket in time order. Counted first, so that the arrays are made once at their size and the
    // scan runs in a function of its own over locals (it ran in this method with the arrays and
    // their length in a closure's context, and V8 never kept an optimized `partial`: ~8 ms for
    // 155k keys).
    let total = 0;
    for (const b of order) total += this.grouped ? countPresent(st, S, b * space, space) : st[b * S] !== 0 || this.fill ? 1 : 0;
    const keys = new Int32Array(total);
    const times = new Float64Array(total);
    let n = 0;
    for (const b of order) {
      const time = this.allBucket ? (this.allTime ?? 0) : this.bucketTimes[b]!;
      const from = n;
      if (!this.grouped) {
        if (st[b * S] === 0 && !this.fill) continue;
        keys[n++] = b;
      } else {
        n = collectPresent(st, S, b * space, space, keys, n);
        if (this.query.queryType === 'topN') n = from + this.topN(keys.subarray(from, n));
      }
      times.fill(time, from, n);
    }
    const time = new WireNumbers(n);
    time.set(times.subarray(0, n));
    const counts = new WireNumbers(n);
    stateColumn(st, S, keys, n, -1, -1, counts);
    const aggs = this.terms.map((_, j) => stateColumn(st, S, keys, n, L.slot[j]!, L.nullSlot[j]!, new WireNumbers(n)));
    // Dimensions as indexes into per-partial dictionaries of the values used, in first-use order.
    const dims: Int32Array[] = [];
    const dicts: (string | null)[][] = [];
    const pooled: Int32Array[] = [];
    // Typed loops only: with ~100k groups, a JS array of ids and mapping callbacks cost 10-20 ms.
    for (let d = 0; d < this.dimNames.length; d++) {
      const used = new Int32Array(Math.min(n, this.denseN[d]!));
      const col = new WireCodes(n);
      const m = localCodes(keys, n, L.space, L.mults[d]!, L.caps[d]!, this.denseN[d]!, col, used);
      dims.push(col);
      const back = this.densePool[d]!;
      const values = this.pool.values;
      const dict: (string | null)[] = new Array(m);
      const ids = new Int32Array(m);
      for (let k = 0; k < m; k++) {
        const pid = back[used[k]!]!;
        ids[k] = pid;
        dict[k] = values[pid]!;
      }
      dicts.push(dict);
      pooled.push(ids);
    }
    const partial: AggregatePartial = { queryType: this.query.queryType, allTime: this.allTime, time, dims, dicts, counts, aggs };
    if (this.dimNames.length > 0 && n > 0) attachPooledIds(partial, { pool: this.pool, ids: pooled });
    this.dispose();
    // One row per group (a key is a bucket and its dimension ids), each dictionary of distinct values.
    return markDistinctRows(partial);
  }

  private valueOf(g: number): string | null {
    return this.pool.values[this.densePool[0]![this.idAt(g, 0)]!]!;
  }

  /**
   * Moves the best `max(threshold, minTopNThreshold)` keys of one bucket (`present`, a view) to
   * its front, by the query's ordering; returns how many to keep.
   */
  private topN(present: Int32Array): number {
    const q = this.query as AggregatingQuery & { queryType: 'topN' };
    const ordering = topNOrdering(q.metric);
    const depth = topNDepth(q.threshold, q.context.minTopNThreshold);
    const m = present.length;
    const a = ordering.metric === null ? -1 : q.aggregations.findIndex((x) => x.name === ordering.metric);
    if (ordering.metric !== null && a >= 0 && !q.postAggregations.some((p) => p.name === ordering.metric)) {
      // Numeric orderings keep every value (no previousStop); a typed selection, no object per group.
      if (m <= depth) return m;
      const metric = new Float64Array(m);
      const values: (string | null)[] = new Array(m);
      for (let k = 0; k < m; k++) {
        metric[k] = this.stateAt(a, present[k]!);
        values[k] = this.valueOf(present[k]!);
      }
      const idx = Int32Array.from(present, (_, k) => k);
      selectBest(idx, depth, (x, y) => -ordering.compare({ value: values[x]!, metric: nan(metric[x]!) }, { value: values[y]!, metric: nan(metric[y]!) }));
      const best = Int32Array.from(idx.subarray(0, depth), (k) => present[k]!);
      present.set(best);
      return depth;
    }
    const evaluator = new RowEvaluator(q.aggregations, q.postAggregations);
    const kept = Array.from(present).filter((g) => ordering.keep(this.valueOf(g)));
    let out = kept;
    if (kept.length > depth) {
      const candidates: (TopNCandidate & { g: number })[] = kept.map((g) => ({
        g,
        value: this.valueOf(g),
        metric: ordering.metric === null ? null : evaluator.metric(this.terms.map((_, j) => nan(this.stateAt(j, g))), ordering.metric),
      }));
      candidates.sort((x, y) => ordering.compare(x, y));
      out = candidates.slice(0, depth).map((c) => c.g);
    }
    present.set(out);
    return out.length;
  }
}

const nan = (v: number): number | null => (v !== v ? null : v);
