/**
 * Combining aggregate partials (timeseries, topN, groupBy) in memory, the heart of
 * `mergePartials` and `finalizeResult`.
 *
 * A groupBy over many segments sends millions of partial rows (every segment sends every group
 * it has), so the per-row work here is what a merge costs. Measured on 100 segments of 100k rows:
 * nested Maps keyed by strings and one decoded state object per row took ~200 ns a row. Here:
 * - dimension values get small integer ids once per partial dictionary entry (or once per row
 *   for partials without dictionaries), never per row;
 * - a row's key is one integer `time id * stride + sum(value id * stride_d)`, looked up in a
 *   dense array when the key space is small, else in an open-addressing table of doubles (or a
 *   Map of strings beyond 2^53);
 * - count, sum, min and max states (and `filtered` over them) live in Float64Arrays with a
 *   seen flag for null, combined straight from their JSON numbers; other states (sketches) go
 *   through the aggregator's `fromJSON` / `combine`.
 * The work is column-wise (one pass per column of a partial), which keeps each loop monomorphic.
 */
import type { JsonValue } from '../json.js';
import type { AggregatorFunctions } from './aggregators.js';
import { QueryError } from './errors.js';
import { KeyTable } from './key-table.js';
import { isColumn, WireCodes, WireNumbers, type AggregatePartial } from './partial.js';
import type { RowEvaluator } from './rows.js';
import { attachPooledIds, pooledIdsOf, type ValuePool } from './value-pool.js';
import type { Aggregator, AggregatingQuery } from './types.js';

/** Key spaces up to this size are looked up in a plain array (4 bytes per key) when not much larger than the rows. */
export const mergeDenseKeysMax = 1 << 23;

type NumOp = 'count' | 'sum' | 'min' | 'max';

/** How an aggregator's state combines when it is a plain number (or null), else null. */
function numericOp(spec: Aggregator): NumOp | null {
  switch (spec.type) {
    case 'count':
      return 'count';
    case 'longSum':
    case 'doubleSum':
      return 'sum';
    case 'longMin':
    case 'doubleMin':
      return 'min';
    case 'longMax':
    case 'doubleMax':
      return 'max';
    case 'filtered':
      return numericOp(spec.aggregator);
    default:
      return null;
  }
}

function badState(json: unknown): QueryError {
  return new QueryError('INTERNAL', `invalid aggregator state ${JSON.stringify(json)} in a partial result: expected a number or null`);
}

/** A partial's column of states: JSON values, or numbers with NaN for null (see `AggregatePartial`). */
type States = ArrayLike<JsonValue>;

/** One aggregator's states for every combined row. */
export interface StateColumn {
  /** The in-memory state of row r (what the function table holds). */
  get(r: number): unknown;
  /** The wire state of row r (`toJSON(get(r))`). */
  json(r: number): JsonValue;
  /** Makes room for rows below `rows`. */
  grow(rows: number): void;
  /** Combines `states[i]` (JSON) into row `rowOf[i]`, for i < n. */
  combineJSON(rowOf: Int32Array, states: States, n: number): void;
  /** Combines an in-memory state into row r. */
  combineState(r: number, s: unknown): void;
  /** The partial column of these rows' states. */
  encode(rows: Int32Array): JsonValue[] | Float64Array;
}

function grownF64(a: Float64Array, rows: number): Float64Array {
  if (a.length >= rows) return a;
  const b = new Float64Array(Math.max(rows, a.length * 2, 64));
  b.set(a);
  return b;
}
function grownU8(a: Uint8Array, rows: number): Uint8Array {
  if (a.length >= rows) return a;
  const b = new Uint8Array(Math.max(rows, a.length * 2, 64));
  b.set(a);
  return b;
}

class CountColumn implements StateColumn {
  values: Float64Array = new Float64Array(0);
  get(r: number): unknown {
    return this.values[r]!;
  }
  json(r: number): JsonValue {
    return this.values[r]!;
  }
  grow(rows: number): void {
    this.values = grownF64(this.values, rows);
  }
  combineJSON(rowOf: Int32Array, states: States, n: number): void {
    const values = this.values;
    for (let i = 0; i < n; i++) {
      const v = states[i];
      if (typeof v !== 'number') throw new QueryError('INTERNAL', 'invalid count state in a partial result: expected a number');
      values[rowOf[i]!]! += v;
    }
  }
  combineState(r: number, s: unknown): void {
    this.values[r]! += s as number;
  }
  encode(rows: Int32Array): Float64Array {
    const out = new WireNumbers(rows.length);
    for (let k = 0; k < rows.length; k++) out[k] = this.values[rows[k]!]!;
    return out;
  }
}

/** A nullable number state: `seen[r]` is 0 while row r's state is null. */
class NumberColumn implements StateColumn {
  values: Float64Array = new Float64Array(0);
  seen: Uint8Array = new Uint8Array(0);
  constructor(private readonly op: 'sum' | 'min' | 'max') {}
  get(r: number): unknown {
    return this.seen[r] ? this.values[r]! : null;
  }
  json(r: number): JsonValue {
    return this.seen[r] ? this.values[r]! : null;
  }
  grow(rows: number): void {
    this.values = grownF64(this.values, rows);
    this.seen = grownU8(this.seen, rows);
  }
  combineJSON(rowOf: Int32Array, states: States, n: number): void {
    const values = this.values;
    const seen = this.seen;
    // One loop per operation, not one loop calling the operation per state: the hot loop of a
    // merge stays monomorphic (the same combine as the function table: null is the identity).
    if (this.op === 'sum') {
      for (let i = 0; i < n; i++) {
        const v = states[i];
        if (typeof v !== 'number') {
          if (v === null) continue;
          throw badState(v);
        }
        if (v !== v) continue;
        const r = rowOf[i]!;
        if (seen[r]) values[r]! += v;
        else (values[r] = v), (seen[r] = 1);
      }
    } else if (this.op === 'min') {
      for (let i = 0; i < n; i++) {
        const v = states[i];
        if (typeof v !== 'number') {
          if (v === null) continue;
          throw badState(v);
        }
        if (v !== v) continue;
        const r = rowOf[i]!;
        if (seen[r]) values[r] = Math.min(values[r]!, v);
        else (values[r] = v), (seen[r] = 1);
      }
    } else {
      for (let i = 0; i < n; i++) {
        const v = states[i];
        if (typeof v !== 'number') {
          if (v === null) continue;
          throw badState(v);
        }
        if (v !== v) continue;
        const r = rowOf[i]!;
        if (seen[r]) values[r] = Math.max(values[r]!, v);
        else (values[r] = v), (seen[r] = 1);
      }
    }
  }
  combineState(r: number, s: unknown): void {
    if (s === null) return;
    const v = s as number;
    if (!this.seen[r]) {
      this.values[r] = v;
      this.seen[r] = 1;
    } else {
      this.values[r] = this.op === 'sum' ? this.values[r]! + v : this.op === 'min' ? Math.min(this.values[r]!, v) : Math.max(this.values[r]!, v);
    }
  }
  encode(rows: Int32Array): Float64Array {
    const out = new WireNumbers(rows.length);
    for (let k = 0; k < rows.length; k++) {
      const r = rows[k]!;
      out[k] = this.seen[r] ? this.values[r]! : NaN;
    }
    return out;
  }
}

/** Any other state (sketches), through the function table. */
class ObjectColumn implements StateColumn {
  values: unknown[] = [];
  has: Uint8Array = new Uint8Array(0);
  constructor(private readonly f: AggregatorFunctions) {}
  get(r: number): unknown {
    return this.has[r] ? this.values[r] : this.f.init();
  }
  json(r: number): JsonValue {
    return this.f.toJSON(this.get(r));
  }
  grow(rows: number): void {
    this.has = grownU8(this.has, rows);
  }
  combineJSON(rowOf: Int32Array, states: States, n: number): void {
    if (!Array.isArray(states)) throw new QueryError('INTERNAL', 'malformed partial result: numbers where aggregator states belong');
    for (let i = 0; i < n; i++) this.combineState(rowOf[i]!, this.f.fromJSON(states[i]));
  }
  encode(rows: Int32Array): JsonValue[] {
    return Array.from(rows, (r) => this.json(r));
  }
  combineState(r: number, s: unknown): void {
    if (this.has[r]) {
      this.values[r] = this.f.combine(this.values[r], s);
    } else {
      this.values[r] = s;
      this.has[r] = 1;
    }
  }
}

export function stateColumn(spec: Aggregator, f: AggregatorFunctions): StateColumn {
  const op = numericOp(spec);
  return op === null ? new ObjectColumn(f) : op === 'count' ? new CountColumn() : new NumberColumn(op);
}

/** Decoded, combined aggregate rows: row r is bucket `time[r]`, dimension values `dicts[d][codes[d][r]]`. */
export interface CombinedRows {
  allTime: number | null;
  /** Rows (the arrays below may be longer). */
  n: number;
  time: Float64Array;
  /** Distinct values of each dimension (any order). */
  dicts: (string | null)[][];
  codes: Int32Array[];
  counts: Float64Array;
  states: StateColumn[];
  /** When every partial carried pool ids (see value-pool.ts): per dimension, the pool id of each value of `dicts[d]`. */
  pooled?: { pool: ValuePool; ids: Int32Array[] };
}

/** The states of one row, written into `into` (reused between rows to spare allocations). */
export function statesAt(rows: CombinedRows, i: number, into: unknown[] = []): unknown[] {
  for (let a = 0; a < rows.states.length; a++) into[a] = rows.states[a]!.get(i);
  return into;
}

/** The value of dimension d on row i. */
export function dimValueAt(rows: CombinedRows, d: number, i: number): string | null {
  return rows.dicts[d]![rows.codes[d]![i]!]!;
}

function dimensionCount(query: AggregatingQuery): number {
  return query.queryType === 'groupBy' ? query.dimensions.length : query.queryType === 'topN' ? 1 : 0;
}

function malformed(p: AggregatePartial, why: string): QueryError {
  return new QueryError('INTERNAL', `malformed ${String(p.queryType)} partial result: ${why}`);
}

export function checkAggregatePartial(p: AggregatePartial, dims: number, aggs: number): void {
  const n = p.time?.length;
  const ok =
    isColumn(p.time) &&
    isColumn(p.counts) &&
    p.counts.length === n &&
    Array.isArray(p.dims) &&
    p.dims.length === dims &&
    p.dims.every((d) => isColumn(d) && d.length === n) &&
    Array.isArray(p.aggs) &&
    p.aggs.length === aggs &&
    p.aggs.every((a) => isColumn(a) && a.length === n) &&
    (p.dicts === undefined || (Array.isArray(p.dicts) && p.dicts.length === dims && p.dicts.every((d) => Array.isArray(d))));
  if (!ok) throw malformed(p, `expected ${dims} dimension and ${aggs} aggregator columns of equal length`);
}

/** Ids of the distinct values of one dimension, in first-seen order. */
class Interner {
  readonly values: (string | null)[] = [];
  private readonly ids = new Map<string | null, number>();
  /** With pool ids: merge id by pool id (-1: none yet), and pool id by merge id. */
  private byPoolId: Int32Array | null = null;
  poolIds: Int32Array | null = null;

  usePool(size: number): void {
    this.byPoolId = new Int32Array(size).fill(-1);
    this.poolIds = new Int32Array(64);
  }

  /** The merge id of pool id `pid` whose value is `v` (after `usePool`). */
  pooledId(pid: number, pool: ValuePool): number {
    let id = this.byPoolId![pid]!;
    if (id < 0) {
      id = this.values.length;
      this.byPoolId![pid] = id;
      this.values.push(pool.values[pid]!);
      if (id >= this.poolIds!.length) {
        const grown = new Int32Array(this.poolIds!.length * 2);
        grown.set(this.poolIds!);
        this.poolIds = grown;
      }
      this.poolIds![id] = pid;
    }
    return id;
  }
  id(v: string | null): number {
    let id = this.ids.get(v);
    if (id === undefined) {
      if (v !== null && typeof v !== 'string') throw new QueryError('INTERNAL', 'malformed partial result: a dimension value is not a string or null');
      id = this.values.length;
      this.ids.set(v, id);
      this.values.push(v);
    }
    return id;
  }
}

/** One partial, its values translated to merge ids. */
interface Prepared {
  p: AggregatePartial;
  /** Per dimension: merge id of each row's value. */
  codes: Int32Array[];
  /** Merge id of each row's bucket (null when granularity is `all`: always 0). */
  times: Int32Array | null;
}

/**
 * Row of each key through a dense array (-1: new row, numbered from `n`); returns the new row
 * count. Kept out of `combineAggregates` so that V8 optimizes this loop on its own.
 */
function rowsDense(keys: Float64Array, m: number, dense: Int32Array, rowOf: Int32Array, n: number): number {
  for (let i = 0; i < m; i++) {
    const key = keys[i]!;
    let r = dense[key]!;
    if (r < 0) dense[key] = r = n++;
    rowOf[i] = r;
  }
  return n;
}

/** `rowsDense` through a `KeyTable`. */
function rowsTable(keys: Float64Array, m: number, table: KeyTable, rowOf: Int32Array, n: number): number {
  for (let i = 0; i < m; i++) {
    const r = table.lookup(keys[i]!, n);
    if (r === n) n++;
    rowOf[i] = r;
  }
  return n;
}

const DISTINCT = Symbol('cairn.distinctRows');

/**
 * Marks a partial built in this process whose rows are distinct groups (no two rows with the same
 * bucket and dimension values) and whose dictionaries hold distinct values, as the accumulator
 * and `encodeCombined` build them: combining it alone (finalizing a merged answer) then takes its
 * rows as they are instead of looking every row's key up again (~5 ms for 100k rows). A
 * non-enumerable property: never serialized, and not carried by spread copies.
 */
export function markDistinctRows<T extends object>(partial: T): T {
  Object.defineProperty(partial, DISTINCT, { value: true, enumerable: false, configurable: true });
  return partial;
}

function hasDistinctRows(p: object): boolean {
  return (p as { [DISTINCT]?: boolean })[DISTINCT] === true;
}

/** Decodes and combines the rows of aggregate partials. */
export function combineAggregates(query: AggregatingQuery, partials: readonly AggregatePartial[], evaluator: RowEvaluator): CombinedRows {
  const dimCount = dimensionCount(query);
  if (partials.length === 1 && hasDistinctRows(partials[0]!) && (dimCount === 0 || partials[0]!.dicts)) return distinctRows(query, partials[0]!, evaluator, dimCount);
  const fns = evaluator.fns;
  const isAll = query.granularity.type === 'all';
  const interners = Array.from({ length: dimCount }, () => new Interner());
  const timeIds = new Map<number, number>();
  const timeValues: number[] = [];
  let allTime: number | null = null;
  let total = 0;

  // With pool ids on every partial (all built in this process, same pool), dictionary entries
  // map to merge ids through integer arrays instead of a string map.
  const pool = dimCount > 0 ? sharedPool(partials, dimCount) : null;
  if (pool) for (const x of interners) x.usePool(pool.size);

  // Pass 1: validate, and give every value and bucket its merge id (once per dictionary entry).
  const prepared: Prepared[] = [];
  for (const p of partials) {
    checkAggregatePartial(p, dimCount, fns.length);
    // (A partial without rows may lack ids: its dictionary is not needed.)
    const pooledIds = pool && p.time.length > 0 ? pooledIdsOf(p)!.ids : null;
    if (p.allTime !== null && (allTime === null || p.allTime < allTime)) allTime = p.allTime;
    const n = p.time.length;
    total += n;
    const codes: Int32Array[] = [];
    for (let d = 0; d < dimCount; d++) {
      const col = p.dims[d]!;
      const out = new Int32Array(n);
      const interner = interners[d]!;
      if (p.dicts) {
        const dict = p.dicts[d]!;
        const remap = new Int32Array(dict.length);
        if (pooledIds) {
          const pids = pooledIds[d]!;
          for (let k = 0; k < dict.length; k++) remap[k] = interner.pooledId(pids[k]!, pool!);
        } else if (!pool) {
          for (let k = 0; k < dict.length; k++) remap[k] = interner.id(dict[k]!);
        }
        for (let i = 0; i < n; i++) {
          const g = remap[col[i] as number];
          if (g === undefined) throw malformed(p, 'a dimension index outside its dictionary');
          out[i] = g;
        }
      } else {
        for (let i = 0; i < n; i++) out[i] = interner.id(col[i] as unknown as string | null);
      }
      codes.push(out);
    }
    let times: Int32Array | null = null;
    if (!isAll) {
      times = new Int32Array(n);
      let last = NaN;
      let lastId = -1;
      for (let i = 0; i < n; i++) {
        const t = p.time[i]!;
        if (t !== last) {
          let id = timeIds.get(t);
          if (id === undefined) {
            if (typeof t !== 'number') throw malformed(p, 'a time is not a number');
            id = timeValues.length;
            timeIds.set(t, id);
            timeValues.push(t);
          }
          last = t;
          lastId = id;
        }
        times[i] = lastId;
      }
    }
    prepared.push({ p, codes, times });
  }

  // Pass 2: rows by integer key, then every column combined into its rows.
  // Typed arrays: a JS array from `map` here changed its hidden class between calls, and V8
  // deoptimized this function on it ("wrong map") at every merge.
  const sizes = new Float64Array(dimCount);
  for (let d = 0; d < dimCount; d++) sizes[d] = Math.max(1, interners[d]!.values.length);
  const strides = new Float64Array(dimCount);
  let space = 1;
  for (let d = dimCount - 1; d >= 0; d--) {
    strides[d] = space;
    space *= sizes[d]!;
  }
  const timeStride = space;
  space *= Math.max(1, timeValues.length);
  const exact = space <= Number.MAX_SAFE_INTEGER;
  const dense = exact && space <= mergeDenseKeysMax && space <= Math.max(1 << 16, 4 * total) ? new Int32Array(space).fill(-1) : null;
  const table = exact && !dense ? new KeyTable(Math.min(total, 1 << 20)) : null;
  const strings = exact ? null : new Map<string, number>();

  let n = 0;
  let cap = 0;
  let rowTime = new Int32Array(0);
  let rowCodes = Array.from({ length: dimCount }, () => new Int32Array(0));
  const counts = new CountColumn();
  const states = query.aggregations.map((a, i) => stateColumn(a, fns[i]!));
  const grow = (rows: number) => {
    if (rows <= cap) return;
    cap = Math.max(rows, cap * 2, 64);
    const t = new Int32Array(cap);
    t.set(rowTime);
    rowTime = t;
    rowCodes = rowCodes.map((c) => {
      const x = new Int32Array(cap);
      x.set(c);
      return x;
    });
    counts.grow(cap);
    for (const s of states) s.grow(cap);
  };

  let keys = new Float64Array(0);
  let rowOf = new Int32Array(0);
  for (const { p, codes, times } of prepared) {
    const m = p.time.length;
    if (keys.length < m) {
      keys = new Float64Array(m);
      rowOf = new Int32Array(m);
    }
    if (strings) {
      for (let i = 0; i < m; i++) {
        let key = `${times ? times[i]! : 0}`;
        for (let d = 0; d < dimCount; d++) key += `,${codes[d]![i]!}`;
        let r = strings.get(key);
        if (r === undefined) {
          r = n;
          strings.set(key, r);
          grow(++n);
          rowTime[r] = times ? times[i]! : 0;
          for (let d = 0; d < dimCount; d++) rowCodes[d]![r] = codes[d]![i]!;
        }
        rowOf[i] = r;
      }
    } else {
      if (times) for (let i = 0; i < m; i++) keys[i] = times[i]! * timeStride;
      else keys.fill(0, 0, m);
      for (let d = 0; d < dimCount; d++) {
        const c = codes[d]!;
        const s = strides[d]!;
        if (s === 1) for (let i = 0; i < m; i++) keys[i]! += c[i]!;
        else for (let i = 0; i < m; i++) keys[i]! += c[i]! * s;
      }
      grow(n + m);
      const before = n;
      n = dense ? rowsDense(keys, m, dense, rowOf, n) : rowsTable(keys, m, table!, rowOf, n);
      // Rows new in this partial were numbered in the order of their first occurrence: their
      // bucket and values come from that row.
      for (let i = 0, next = before; i < m && next < n; i++) {
        if (rowOf[i] !== next) continue;
        rowTime[next] = times ? times[i]! : 0;
        for (let d = 0; d < dimCount; d++) rowCodes[d]![next] = codes[d]![i]!;
        next++;
      }
    }
    counts.combineJSON(rowOf, p.counts, m);
    for (let a = 0; a < states.length; a++) states[a]!.combineJSON(rowOf, p.aggs[a]!, m);
  }
  const time = new Float64Array(n);
  for (let r = 0; r < n; r++) time[r] = isAll ? (allTime ?? 0) : timeValues[rowTime[r]!]!;
  const out: CombinedRows = { allTime, n, time, dicts: interners.map((x) => x.values), codes: rowCodes, counts: counts.values, states };
  if (pool) out.pooled = { pool, ids: interners.map((x) => x.poolIds!) };
  return out;
}

/** The rows of one partial marked by `markDistinctRows`, validated as `combineAggregates` does, without key lookups. */
function distinctRows(query: AggregatingQuery, p: AggregatePartial, evaluator: RowEvaluator, dimCount: number): CombinedRows {
  checkAggregatePartial(p, dimCount, evaluator.fns.length);
  const n = p.time.length;
  const isAll = query.granularity.type === 'all';
  const time = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = p.time[i];
    if (typeof t !== 'number') throw malformed(p, 'a time is not a number');
    time[i] = isAll ? (p.allTime ?? 0) : t;
  }
  const dicts: (string | null)[][] = [];
  const codes: Int32Array[] = [];
  for (let d = 0; d < dimCount; d++) {
    const dict = p.dicts![d]!;
    const col = p.dims[d]!;
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const c = col[i] as number;
      if (!((c | 0) === c && c >= 0 && c < dict.length)) throw malformed(p, 'a dimension index outside its dictionary');
      out[i] = c;
    }
    dicts.push(dict.slice());
    codes.push(out);
  }
  const rowOf = new Int32Array(n);
  for (let i = 0; i < n; i++) rowOf[i] = i;
  const counts = new CountColumn();
  counts.grow(n);
  counts.combineJSON(rowOf, p.counts, n);
  const states = query.aggregations.map((a, j) => {
    const s = stateColumn(a, evaluator.fns[j]!);
    s.grow(n);
    s.combineJSON(rowOf, p.aggs[j]!, n);
    return s;
  });
  const out: CombinedRows = { allTime: p.allTime, n, time, dicts, codes, counts: counts.values, states };
  const pooled = dimCount > 0 ? pooledIdsOf(p) : undefined;
  if (pooled && pooled.ids.length === dimCount && pooled.ids.every((ids, d) => ids.length === dicts[d]!.length)) {
    out.pooled = { pool: pooled.pool, ids: pooled.ids.map((ids) => ids.slice()) };
  }
  return out;
}

/**
 * The pool all partials' ids come from, when every partial with rows has dictionaries and pool
 * ids of one pool, and the pool is not much larger than what they hold (its ids index an array
 * per dimension); else null (the string path).
 */
function sharedPool(partials: readonly AggregatePartial[], dimCount: number): ValuePool | null {
  let pool: ValuePool | null = null;
  let entries = 0;
  for (const p of partials) {
    if (p.time.length === 0) continue;
    const pooled = pooledIdsOf(p);
    if (!pooled || !p.dicts || (pool !== null && pooled.pool !== pool) || pooled.ids.length !== dimCount) return null;
    for (let d = 0; d < dimCount; d++) {
      if (pooled.ids[d]!.length !== p.dicts[d]!.length) return null;
      entries += p.dicts[d]!.length;
    }
    pool = pooled.pool;
  }
  if (pool === null || pool.size > 8 * entries + (1 << 16)) return null;
  return pool;
}

/**
 * The partial of some combined rows (all, or `order`), dictionary-encoded: each dimension's
 * dictionary holds only the values the picked rows use, in id order.
 */
export function encodeCombined(query: AggregatingQuery, rows: CombinedRows, order: readonly number[] | null): AggregatePartial {
  const count = order ? order.length : rows.n;
  const time = new WireNumbers(count);
  const counts = new WireNumbers(count);
  const pick = new Int32Array(count);
  for (let k = 0; k < count; k++) {
    const r = order ? order[k]! : k;
    pick[k] = r;
    time[k] = rows.time[r]!;
    counts[k] = rows.counts[r]!;
  }
  const dims: WireCodes[] = [];
  const dicts: (string | null)[][] = [];
  const pooledIds: Int32Array[] = [];
  for (let d = 0; d < rows.codes.length; d++) {
    const codes = rows.codes[d]!;
    const full = rows.dicts[d]!;
    const local = new Int32Array(full.length).fill(-1);
    const dict: (string | null)[] = [];
    const col = new WireCodes(count);
    for (let k = 0; k < count; k++) {
      const c = codes[pick[k]!]!;
      let l = local[c]!;
      if (l < 0) {
        l = local[c] = dict.length;
        dict.push(full[c]!);
      }
      col[k] = l;
    }
    dims.push(col);
    dicts.push(dict);
    if (rows.pooled) {
      // Pool ids of the output dictionary, so that merging this merge again stays on integers.
      const byMergeId = rows.pooled.ids[d]!;
      const ids = new Int32Array(dict.length);
      for (let c = 0; c < full.length; c++) if (local[c]! >= 0) ids[local[c]!] = byMergeId[c]!;
      pooledIds.push(ids);
    }
  }
  const aggs = rows.states.map((s) => s.encode(pick));
  const out: AggregatePartial = { queryType: query.queryType, allTime: rows.allTime, time, dims, dicts, counts, aggs };
  if (rows.pooled) attachPooledIds(out, { pool: rows.pooled.pool, ids: pooledIds });
  // Combined rows are distinct, and so are the picked ones (`order` never repeats a row).
  return markDistinctRows(out);
}
