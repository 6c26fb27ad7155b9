/**
 * Aggregator kernels: the vectorized side of the aggregator function tables. A kernel holds the
 * states of many groups in typed arrays and updates them from a selection of rows (`sel`) and,
 * when grouping, the group of each selected row (`gids`). Its `state(g)` is exactly the
 * in-memory state the shared function table (`aggregatorFunctions`) would hold after the same
 * rows, so partial results encode with the table's `toJSON` and merge with its `combine`.
 *
 * Shapes without a kernel (for instance a cardinality over a numeric column) fall back to the
 * function table's per-row `update`, which is slow but exact.
 */
import {
  aggregatorFunctions,
  combineHash,
  hllNew,
  hllPack,
  hllPackString,
  QuantileSketch,
  QueryError,
  valueHashes,
  type Aggregator,
  type AggregatorFunctions,
} from '@cairn/shared';
import type { Columns, CodeColumn } from './columns.js';
import { chunkRows } from './execution.js';
import { scratch } from './scratch.js';
import { compileRowFilter, selectsAll, selectsNone, type RowFilter } from './filter-program.js';

export interface Kernel {
  /** Makes room for group ids below `groups`. */
  ensure(groups: number): void;
  /** Aggregates rows `sel[0..n)` into group 0. */
  updateOne(sel: Int32Array, n: number): void;
  /** Aggregates row `sel[k]` into group `gids[k]`, for k < n. */
  updateMany(sel: Int32Array, gids: Int32Array, n: number): void;
  /** The function table's in-memory state of group g. */
  state(g: number): unknown;
  /** Returns groups [0, groups) to the initial state. */
  reset(groups: number): void;
  /** Optional: returns only these groups to the initial state (the others were not touched). */
  clear?(groups: Int32Array): void;
  /** Optional fast path: the wire states of these groups (what `toJSON(state(g))` gives). */
  json?(groups: ArrayLike<number>, out: unknown[]): void;
  /** For number states: writes groups[k]'s state to out[at + k], NaN for null (the typed partial column). */
  numbers?(groups: ArrayLike<number>, out: Float64Array, at: number): void;
}

/** Groups one sketch kernel may hold per segment (each costs 2 KiB or more); beyond, RESOURCE_LIMIT. */
export const sketchGroupsMax = 200_000;

/** Per-group state arrays come from the scratch pool (see scratch.ts): they never leave a run. */
function grown<T extends Float64Array | Uint8Array>(a: T, groups: number, fill: number): T {
  if (a.length >= groups) return a;
  const b = scratch(a.constructor as unknown as new (n: number) => T & { name: string }, Math.max(groups, a.length * 2, 16), fill) as T;
  b.set(a);
  return b;
}

export class CountKernel implements Kernel {
  acc = new Float64Array(0);
  ensure(groups: number): void {
    this.acc = grown(this.acc, groups, 0);
  }
  updateOne(_sel: Int32Array, n: number): void {
    this.acc[0]! += n;
  }
  updateMany(_sel: Int32Array, gids: Int32Array, n: number): void {
    const acc = this.acc;
    for (let k = 0; k < n; k++) acc[gids[k]!]!++;
  }
  state(g: number): unknown {
    return this.acc[g] ?? 0;
  }
  json(groups: ArrayLike<number>, out: unknown[]): void {
    const acc = this.acc;
    for (let k = 0; k < groups.length; k++) out.push(acc[groups[k]!]!);
  }
  numbers(groups: ArrayLike<number>, out: Float64Array, at: number): void {
    const acc = this.acc;
    for (let k = 0; k < groups.length; k++) out[at + k] = acc[groups[k]!]!;
  }
  reset(groups: number): void {
    this.acc.fill(0, 0, groups);
  }
  clear(groups: Int32Array): void {
    const acc = this.acc;
    for (let k = 0; k < groups.length; k++) acc[groups[k]!] = 0;
  }
}

/** Sums; a group that saw no non-null value is null. */
export class SumKernel implements Kernel {
  acc = new Float64Array(0);
  seen = new Uint8Array(0);
  constructor(
    readonly values: Float64Array,
    readonly nullable: boolean,
  ) {}
  ensure(groups: number): void {
    this.acc = grown(this.acc, groups, 0);
    this.seen = grown(this.seen, groups, 0);
  }
  updateOne(sel: Int32Array, n: number): void {
    const vals = this.values;
    let s = 0;
    if (!this.nullable) {
      for (let k = 0; k < n; k++) s += vals[sel[k]!]!;
      if (n > 0) this.seen[0] = 1;
    } else {
      let any = 0;
      for (let k = 0; k < n; k++) {
        const v = vals[sel[k]!]!;
        if (v === v) {
          s += v;
          any = 1;
        }
      }
      this.seen[0]! |= any;
    }
    this.acc[0]! += s;
  }
  updateMany(sel: Int32Array, gids: Int32Array, n: number): void {
    const vals = this.values;
    const acc = this.acc;
    const seen = this.seen;
    if (!this.nullable) {
      for (let k = 0; k < n; k++) {
        const g = gids[k]!;
        acc[g]! += vals[sel[k]!]!;
        seen[g] = 1;
      }
      return;
    }
    for (let k = 0; k < n; k++) {
      const v = vals[sel[k]!]!;
      if (v === v) {
        const g = gids[k]!;
        acc[g]! += v;
        seen[g] = 1;
      }
    }
  }
  state(g: number): unknown {
    return this.seen[g] ? this.acc[g]! : null;
  }
  json(groups: ArrayLike<number>, out: unknown[]): void {
    const acc = this.acc;
    const seen = this.seen;
    for (let k = 0; k < groups.length; k++) {
      const g = groups[k]!;
      out.push(seen[g] ? acc[g]! : null);
    }
  }
  numbers(groups: ArrayLike<number>, out: Float64Array, at: number): void {
    seenNumbers(this.acc, this.seen, groups, out, at);
  }
  reset(groups: number): void {
    this.acc.fill(0, 0, groups);
    this.seen.fill(0, 0, groups);
  }
  clear(groups: Int32Array): void {
    const acc = this.acc;
    const seen = this.seen;
    for (let k = 0; k < groups.length; k++) {
      const g = groups[k]!;
      acc[g] = 0;
      seen[g] = 0;
    }
  }
}

/** Minimums (or maximums, with `max`); NaN never compares, so nulls are skipped for free. */
export class MinMaxKernel implements Kernel {
  acc = new Float64Array(0);
  seen = new Uint8Array(0);
  private readonly init: number;
  constructor(
    readonly values: Float64Array,
    readonly nullable: boolean,
    readonly max: boolean,
  ) {
    this.init = max ? -Infinity : Infinity;
  }
  ensure(groups: number): void {
    this.acc = grown(this.acc, groups, this.init);
    this.seen = grown(this.seen, groups, 0);
  }
  updateOne(sel: Int32Array, n: number): void {
    const vals = this.values;
    let m = this.acc[0]!;
    let any = this.nullable ? 0 : n > 0 ? 1 : 0;
    if (this.max) {
      for (let k = 0; k < n; k++) {
        const v = vals[sel[k]!]!;
        if (v > m) m = v;
      }
    } else {
      for (let k = 0; k < n; k++) {
        const v = vals[sel[k]!]!;
        if (v < m) m = v;
      }
    }
    if (this.nullable) {
      for (let k = 0; k < n && any === 0; k++) {
        const v = vals[sel[k]!]!;
        if (v === v) any = 1;
      }
    }
    this.acc[0] = m;
    this.seen[0]! |= any;
  }
  updateMany(sel: Int32Array, gids: Int32Array, n: number): void {
    const vals = this.values;
    const acc = this.acc;
    const seen = this.seen;
    if (this.max) {
      for (let k = 0; k < n; k++) {
        const v = vals[sel[k]!]!;
        const g = gids[k]!;
        if (v > acc[g]!) acc[g] = v;
        if (v === v) seen[g] = 1;
      }
    } else {
      for (let k = 0; k < n; k++) {
        const v = vals[sel[k]!]!;
        const g = gids[k]!;
        if (v < acc[g]!) acc[g] = v;
        if (v === v) seen[g] = 1;
      }
    }
  }
  state(g: number): unknown {
    return this.seen[g] ? this.acc[g]! : null;
  }
  json(groups: ArrayLike<number>, out: unknown[]): void {
    const acc = this.acc;
    const seen = this.seen;
    for (let k = 0; k < groups.length; k++) {
      const g = groups[k]!;
      out.push(seen[g] ? acc[g]! : null);
    }
  }
  numbers(groups: ArrayLike<number>, out: Float64Array, at: number): void {
    seenNumbers(this.acc, this.seen, groups, out, at);
  }
  reset(groups: number): void {
    this.acc.fill(this.init, 0, groups);
    this.seen.fill(0, 0, groups);
  }
  clear(groups: Int32Array): void {
    const acc = this.acc;
    const seen = this.seen;
    const init = this.init;
    for (let k = 0; k < groups.length; k++) {
      const g = groups[k]!;
      acc[g] = init;
      seen[g] = 0;
    }
  }
}

/**
 * HyperLogLog over string columns. The register update of every dictionary entry is computed
 * once (`packed[code + 1]`; null updates nothing); a row costs two loads and a compare. `byRow`
 * combines the per-value hashes of all columns of a row instead.
 */
export class HllKernel implements Kernel {
  private regs: (Uint8Array | undefined)[] = [];
  private allocated = 0;
  private readonly packed: Int32Array[];
  private readonly hashA: Int32Array[] = [];
  private readonly hashB: Int32Array[] = [];

  constructor(
    private readonly columns: CodeColumn[],
    private readonly byRow: boolean,
  ) {
    this.packed = byRow
      ? []
      : columns.map((c) => {
          const p = new Int32Array(c.dictionary.length + 1);
          c.dictionary.forEach((s, i) => {
            p[i + 1] = hllPackString(s);
          });
          return p;
        });
    if (byRow) {
      for (const c of columns) {
        const a = new Int32Array(c.dictionary.length + 1);
        const b = new Int32Array(c.dictionary.length + 1);
        [a[0], b[0]] = valueHashes(null);
        c.dictionary.forEach((s, i) => {
          [a[i + 1], b[i + 1]] = valueHashes(s);
        });
        this.hashA.push(a);
        this.hashB.push(b);
      }
    }
  }

  private registers(g: number): Uint8Array {
    let r = this.regs[g];
    if (r === undefined) {
      if (++this.allocated > sketchGroupsMax) {
        throw new QueryError('RESOURCE_LIMIT', `more than ${sketchGroupsMax} groups hold a HyperLogLog sketch in one segment (sketchGroupsMax)`);
      }
      r = hllNew();
      this.regs[g] = r;
    }
    return r;
  }

  ensure(): void {}

  private rowPacked(i: number): number {
    let h1 = 0;
    let h2 = 0;
    let allNull = true;
    for (let d = 0; d < this.columns.length; d++) {
      const c = this.columns[d]!.codes[i]! + 1;
      if (c !== 0) allNull = false;
      h1 = combineHash(h1, this.hashA[d]![c]! >>> 0);
      h2 = combineHash(h2, this.hashB[d]![c]! >>> 0);
    }
    return allNull ? 0 : hllPack(h1, h2);
  }

  updateOne(sel: Int32Array, n: number): void {
    if (n === 0) return;
    const regs = this.registers(0);
    if (this.byRow) {
      for (let k = 0; k < n; k++) {
        const p = this.rowPacked(sel[k]!);
        const idx = p >>> 6;
        const r = p & 63;
        if (r > regs[idx]!) regs[idx] = r;
      }
      return;
    }
    for (let d = 0; d < this.columns.length; d++) {
      const codes = this.columns[d]!.codes;
      const packed = this.packed[d]!;
      for (let k = 0; k < n; k++) {
        const p = packed[codes[sel[k]!]! + 1]!;
        const idx = p >>> 6;
        const r = p & 63;
        if (r > regs[idx]!) regs[idx] = r;
      }
    }
  }

  updateMany(sel: Int32Array, gids: Int32Array, n: number): void {
    if (this.byRow) {
      for (let k = 0; k < n; k++) {
        const p = this.rowPacked(sel[k]!);
        if (p === 0) continue;
        const regs = this.registers(gids[k]!);
        const idx = p >>> 6;
        const r = p & 63;
        if (r > regs[idx]!) regs[idx] = r;
      }
      return;
    }
    for (let d = 0; d < this.columns.length; d++) {
      const codes = this.columns[d]!.codes;
      const packed = this.packed[d]!;
      for (let k = 0; k < n; k++) {
        const p = packed[codes[sel[k]!]! + 1]!;
        if (p === 0) continue;
        const regs = this.registers(gids[k]!);
        const idx = p >>> 6;
        const r = p & 63;
        if (r > regs[idx]!) regs[idx] = r;
      }
    }
  }

  state(g: number): unknown {
    return this.regs[g] ?? hllNew();
  }

  reset(groups: number): void {
    for (let g = 0; g < groups && g < this.regs.length; g++) {
      if (this.regs[g] !== undefined) {
        this.regs[g] = undefined;
        this.allocated--;
      }
    }
  }
}

export class QuantileKernel implements Kernel {
  private sketches: (QuantileSketch | undefined)[] = [];
  private allocated = 0;
  constructor(
    private readonly values: Float64Array,
    private readonly k: number,
  ) {}
  private sketch(g: number): QuantileSketch {
    let s = this.sketches[g];
    if (s === undefined) {
      if (++this.allocated > sketchGroupsMax) {
        throw new QueryError('RESOURCE_LIMIT', `more than ${sketchGroupsMax} groups hold a quantiles sketch in one segment (sketchGroupsMax)`);
      }
      s = new QuantileSketch(this.k);
      this.sketches[g] = s;
    }
    return s;
  }
  ensure(): void {}
  updateOne(sel: Int32Array, n: number): void {
    if (n === 0) return;
    const s = this.sketch(0);
    const vals = this.values;
    for (let k = 0; k < n; k++) s.update(vals[sel[k]!]!);
  }
  updateMany(sel: Int32Array, gids: Int32Array, n: number): void {
    const vals = this.values;
    for (let k = 0; k < n; k++) {
      const v = vals[sel[k]!]!;
      if (v === v) this.sketch(gids[k]!).update(v);
    }
  }
  state(g: number): unknown {
    return this.sketches[g] ?? new QuantileSketch(this.k);
  }
  reset(groups: number): void {
    for (let g = 0; g < groups && g < this.sketches.length; g++) {
      if (this.sketches[g] !== undefined) {
        this.sketches[g] = undefined;
        this.allocated--;
      }
    }
  }
}

/** An aggregator whose rows are all null (a missing column, or a filter that matches nothing). */
export class InitKernel implements Kernel {
  constructor(private readonly fns: AggregatorFunctions) {}
  ensure(): void {}
  updateOne(): void {}
  updateMany(): void {}
  state(): unknown {
    return this.fns.init();
  }
  reset(): void {}
}

/** The function table's per-row update: any aggregator, slowly. */
export class RowKernel implements Kernel {
  private states: unknown[] = [];
  constructor(
    private readonly fns: AggregatorFunctions,
    private readonly columns: Columns,
  ) {}
  ensure(): void {}
  updateOne(sel: Int32Array, n: number): void {
    let s = this.states[0] ?? this.fns.init();
    for (let k = 0; k < n; k++) s = this.fns.update(s, this.columns.segment, sel[k]!);
    this.states[0] = s;
  }
  updateMany(sel: Int32Array, gids: Int32Array, n: number): void {
    for (let k = 0; k < n; k++) {
      const g = gids[k]!;
      this.states[g] = this.fns.update(this.states[g] ?? this.fns.init(), this.columns.segment, sel[k]!);
    }
  }
  state(g: number): unknown {
    return this.states[g] ?? this.fns.init();
  }
  reset(groups: number): void {
    for (let g = 0; g < groups && g < this.states.length; g++) this.states[g] = undefined;
  }
}

/** A `filtered` aggregator: the inner kernel sees only the selected rows that pass its filter. */
export class FilteredKernel implements Kernel {
  private readonly subSel = new Int32Array(chunkRows);
  private readonly subGids = new Int32Array(chunkRows);
  private readonly mask = new Uint8Array(chunkRows);
  constructor(
    private readonly inner: Kernel,
    private readonly filter: RowFilter,
  ) {}
  ensure(groups: number): void {
    this.inner.ensure(groups);
  }
  updateOne(sel: Int32Array, n: number): void {
    this.subSel.set(sel.subarray(0, n));
    this.inner.updateOne(this.subSel, this.filter.refine(this.subSel, n));
  }
  updateMany(sel: Int32Array, gids: Int32Array, n: number): void {
    if (n === 0) return;
    const lo = sel[0]!;
    const hi = sel[n - 1]! + 1;
    const mask = this.mask;
    this.filter.write(lo, hi, mask);
    const subSel = this.subSel;
    const subGids = this.subGids;
    let m = 0;
    for (let k = 0; k < n; k++) {
      const i = sel[k]!;
      subSel[m] = i;
      subGids[m] = gids[k]!;
      m += mask[i - lo]!;
    }
    this.inner.updateMany(subSel, subGids, m);
  }
  state(g: number): unknown {
    return this.inner.state(g);
  }
  reset(groups: number): void {
    this.inner.reset(groups);
  }
}

/** The kernel of an aggregator over one segment. */
export function makeKernel(spec: Aggregator, columns: Columns): Kernel {
  const fns = aggregatorFunctions(spec);
  switch (spec.type) {
    case 'count':
      return new CountKernel();
    case 'longSum':
    case 'doubleSum': {
      const col = columns.numbers(spec.fieldName, spec.type === 'longSum');
      return col ? new SumKernel(col.values, col.nullable) : new InitKernel(fns);
    }
    case 'longMin':
    case 'doubleMin':
    case 'longMax':
    case 'doubleMax': {
      const col = columns.numbers(spec.fieldName, spec.type.startsWith('long'));
      return col ? new MinMaxKernel(col.values, col.nullable, spec.type.endsWith('Max')) : new InitKernel(fns);
    }
    case 'filtered': {
      const filter = compileRowFilter(spec.filter, columns);
      if (selectsNone(filter)) return new InitKernel(fns);
      const inner = makeKernel(spec.aggregator, columns);
      return selectsAll(filter) ? inner : new FilteredKernel(inner, filter);
    }
    case 'cardinality':
    case 'hyperUnique': {
      const fields = spec.type === 'cardinality' ? spec.fields : [spec.fieldName];
      if (fields.some((f) => columns.isNumeric(f))) return new RowKernel(fns, columns);
      const byRow = spec.type === 'cardinality' && spec.byRow && fields.length > 1;
      return new HllKernel(
        fields.map((f) => columns.codes(f)),
        byRow,
      );
    }
    case 'quantilesDoublesSketch': {
      const col = columns.numbers(spec.fieldName);
      return col ? new QuantileKernel(col.values, spec.k) : new InitKernel(fns);
    }
  }
}

/** Each group's state as a number into `out` from `at`, NaN for a group that saw no value (null on the wire). */
function seenNumbers(acc: Float64Array, seen: Uint8Array, groups: ArrayLike<number>, out: Float64Array, at: number): void {
  for (let k = 0; k < groups.length; k++) {
    const g = groups[k]!;
    out[at + k] = seen[g] ? acc[g]! : NaN;
  }
}
