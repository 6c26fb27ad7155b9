/**
 * Fused aggregation loops. Running each kernel over a chunk costs a pass over the chunk per
 * kernel (and one more for group ids); measured here, a single loop that computes the group key
 * and updates every count, sum, min and max inline runs several times faster. So for those
 * simple aggregators the engine generates, once per query shape, one loop specialized to them:
 * rows from a range or a selection, the group from the dictionary codes (direct addressing),
 * from precomputed group ids, or a single group kept in local variables.
 *
 * The generated source contains only identifiers built here (no value from a query or a
 * segment is ever spliced into it); columns and states reach it as fields of an object.
 */
import { CountKernel, MinMaxKernel, SumKernel, type Kernel } from './kernels.js';

type Term =
  | { kind: 'count'; kernel: CountKernel }
  | { kind: 'sum'; kernel: SumKernel }
  | { kind: 'min' | 'max'; kernel: MinMaxKernel };

/** How rows find their group. */
export type GroupSource =
  | { type: 'one' }
  | {
      type: 'direct';
      codes: Int32Array[];
      strides: number[];
      counts: () => Float64Array;
      /** Counts already hold the rows per key (a column histogram): the loop does not count. */
      counted: boolean;
      /** With `track`, the loop appends a key to `list` (at `seen[0]`) when its count leaves 0. */
      track: boolean;
      list: () => Int32Array;
      seen: () => Int32Array;
    }
  | { type: 'gids' };

function termOf(k: Kernel): Term | null {
  if (k instanceof CountKernel) return { kind: 'count', kernel: k };
  if (k instanceof SumKernel) return { kind: 'sum', kernel: k };
  if (k instanceof MinMaxKernel) return { kind: k.max ? 'max' : 'min', kernel: k };
  return null;
}

/** Splits kernels into those a fused loop can run and the rest. */
export function splitFusable(kernels: readonly Kernel[]): { fused: Kernel[]; rest: Kernel[] } {
  const fused: Kernel[] = [];
  const rest: Kernel[] = [];
  for (const k of kernels) (termOf(k) ? fused : rest).push(k);
  return { fused, rest };
}

function nullable(t: Term): boolean {
  return t.kind !== 'count' && t.kernel.nullable;
}

function generate(terms: Term[], group: GroupSource, fromSelection: boolean): string {
  const lines: string[] = [];
  const scalar = group.type === 'one';
  const body: string[] = [];
  if (group.type === 'direct') {
    const dims = group.codes.length;
    const key = Array.from({ length: dims }, (_, d) => (d === dims - 1 ? `(c${d}[i] + 1)` : `(c${d}[i] + 1) * s${d}`)).join(' + ');
    body.push(`const g = ${key || '0'};`);
    if (!group.counted) body.push(group.track ? 'if (cnt[g]++ === 0) lst[np++] = g;' : 'cnt[g]++;');
  } else if (group.type === 'gids') {
    body.push(`const g = gids[${fromSelection ? 'k' : 'i - lo'}];`);
  }
  // With direct addressing, counts and the seen flags of non-nullable columns follow from the
  // grouper's row counts: `FusedLoop.finishDirect` fills them per group after the rows, so the
  // loop stores once per row and term less.
  const direct = group.type === 'direct';
  terms.forEach((t, j) => {
    if (t.kind === 'count') {
      if (!direct) body.push(scalar ? `a${j}++;` : `a${j}[g]++;`);
      return;
    }
    body.push(`{ const v = v${j}[i];`);
    const nul = nullable(t);
    const mark = direct ? '' : ` z${j}[g] = 1;`;
    if (t.kind === 'sum') {
      if (scalar) body.push(nul ? `if (v === v) { a${j} += v; z${j} = 1; }` : `a${j} += v;`);
      else body.push(nul ? `if (v === v) { a${j}[g] += v; z${j}[g] = 1; }` : `a${j}[g] += v;${mark}`);
    } else {
      const cmp = t.kind === 'min' ? '<' : '>';
      if (scalar) body.push(`if (v ${cmp} a${j}) a${j} = v;${nul ? ` if (v === v) z${j} = 1;` : ''}`);
      else body.push(`if (v ${cmp} a${j}[g]) a${j}[g] = v;${nul ? ` if (v === v) z${j}[g] = 1;` : mark}`);
    }
    body.push('}');
  });
  if (scalar) {
    terms.forEach((t, j) => {
      lines.push(`let a${j} = A${j}[0];`);
      if (t.kind !== 'count') lines.push(`let z${j} = Z${j}[0];`);
    });
  } else {
    terms.forEach((t, j) => {
      lines.push(`const a${j} = A${j};`);
      if (t.kind !== 'count') lines.push(`const z${j} = Z${j};`);
    });
  }
  const track = group.type === 'direct' && group.track && !group.counted;
  if (track) lines.push('let np = NP[0];');
  lines.push(fromSelection ? 'for (let k = 0; k < n; k++) { const i = sel[k];' : 'for (let i = lo; i < hi; i++) {');
  lines.push(...body, '}');
  if (track) lines.push('NP[0] = np;');
  if (scalar) {
    terms.forEach((t, j) => {
      lines.push(`A${j}[0] = a${j};`);
      if (t.kind === 'sum' || t.kind === 'min' || t.kind === 'max') lines.push(nullable(t) ? `Z${j}[0] = z${j};` : `if (n > 0) Z${j}[0] = 1;`);
    });
  }
  return lines.join('\n');
}

type Loop = (lo: number, hi: number, sel: Int32Array | null, n: number, gids: Int32Array | null, columns: Record<string, unknown>) => void;

/** Compiled loops by shape, shared by every query and segment of that shape. Bounded: cleared when full. */
const compiled = new Map<string, Loop>();
const shapeIds = new Map<string, number>();
let nextShapeId = 0;
export const fusedShapesCachedMax = 1024;
/** Segments with at least this many rows get loops compiled for them alone. */
export const specializeRowsMin = 1_000_000;
let ownSerial = 0;
type OwnLoop = (lo: number, hi: number, sel: Int32Array | null, n: number, gids: Int32Array | null) => void;

/**
 * A fused loop over some kernels' states; `run` updates them for a chunk of rows. By default the
 * loop is compiled once per shape, shared by all segments, and reads its arrays from an object
 * with named fields (one object per loop, reused) copied into locals before the loop; reading
 * them from an array of mixed values, or from a fresh object per call, measured several times
 * slower. Large segments get a loop of their own (`bindOwn`).
 */
export class FusedLoop {
  private readonly terms: Term[];
  private readonly loops: [Loop, Loop];
  private readonly names: string[];
  private readonly prefix: string;

  constructor(
    kernels: readonly Kernel[],
    private readonly group: GroupSource,
    /** Rows this loop will see; large segments get a loop of their own (see `specializeRowsMin`). */
    rows = 0,
  ) {
    this.terms = kernels.map((k) => termOf(k)!);
    const dims = group.type === 'direct' ? group.codes.length : 0;
    this.names = ['cnt', 'lst', 'NP'];
    for (let d = 0; d < dims; d++) this.names.push(`c${d}`, `s${d}`);
    this.terms.forEach((_, j) => this.names.push(`v${j}`, `A${j}`, `Z${j}`));
    const shape = `${group.type}${group.type === 'direct' ? (group.counted ? '=' : group.track ? '+' : '') : ''}:${dims}:${this.terms.map((t) => `${t.kind}${nullable(t) ? '?' : ''}`).join(',')}`;
    // Field names unique to the shape: objects of different shapes then share no hidden-class
    // transitions, so V8 keeps each field's exact type (typed array or null) per shape.
    let id = shapeIds.get(shape);
    if (id === undefined) {
      if (shapeIds.size >= fusedShapesCachedMax) {
        shapeIds.clear();
        compiled.clear();
      }
      id = nextShapeId++;
      shapeIds.set(shape, id);
    }
    this.prefix = `f${id}_`;
    const make = (fromSelection: boolean): Loop => {
      const key = `${shape}:${fromSelection ? 'sel' : 'range'}`;
      let f = compiled.get(key);
      if (!f) {
        const locals = this.names.map((n) => `const ${n} = C.${this.prefix}${n};`).join('\n');
        f = new Function('lo', 'hi', 'sel', 'n', 'gids', 'C', `'use strict';\n${locals}\n${generate(this.terms, group, fromSelection)}`) as Loop;
        compiled.set(key, f);
      }
      return f;
    };
    this.loops = [make(false), make(true)];
    this.specialize = rows >= specializeRowsMin;
  }

  private readonly specialize: boolean;
  private own: [OwnLoop, OwnLoop] | null = null;

  /**
   * A loop compiled for this instance alone, its arrays bound in a closure. Its source carries a
   * serial number, so V8 compiles it afresh (no shared code) and, being the only closure of its
   * code, can treat the arrays as constants: measured here about twice as fast per row as the
   * shared loop, but it costs a compilation and a warm-up, which only pays on large segments.
   */
  private bindOwn(): [OwnLoop, OwnLoop] {
    const cols = this.current();
    const serial = ++ownSerial;
    const build = (fromSelection: boolean): OwnLoop => {
      const locals = this.names.map((n) => `const ${n} = C.${this.prefix}${n};`).join('\n');
      const factory = new Function('C', `'use strict'; // fused loop ${serial}\n${locals}\nreturn function fused(lo, hi, sel, n, gids) {\n${generate(this.terms, this.group, fromSelection)}\n};`) as (c: Record<string, unknown>) => OwnLoop;
      return factory(cols);
    };
    return [build(false), build(true)];
  }

  get size(): number {
    return this.terms.length;
  }

  private columns(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const p = this.prefix;
    out[`${p}cnt`] = this.group.type === 'direct' ? this.group.counts() : null;
    out[`${p}lst`] = this.group.type === 'direct' ? this.group.list() : null;
    out[`${p}NP`] = this.group.type === 'direct' ? this.group.seen() : null;
    if (this.group.type === 'direct') {
      const strides = this.group.strides;
      this.group.codes.forEach((c, d) => {
        out[`${p}c${d}`] = c;
        out[`${p}s${d}`] = strides[d];
      });
    }
    this.terms.forEach((t, j) => {
      out[`${p}v${j}`] = t.kind === 'count' ? null : t.kernel.values;
      out[`${p}A${j}`] = t.kernel.acc;
      out[`${p}Z${j}`] = t.kind === 'count' ? null : t.kernel.seen;
    });
    return out;
  }

  private bound: Record<string, unknown> | null = null;
  private boundArrays: unknown[] = [];

  /** The columns object, rebuilt only when a kernel has grown its arrays (reusing it is measurably faster). */
  private current(): Record<string, unknown> {
    const arrays: unknown[] = this.group.type === 'direct' ? [this.group.counts(), this.group.list(), this.group.seen()] : [];
    for (const t of this.terms) arrays.push(t.kernel.acc, t.kind === 'count' ? null : t.kernel.seen);
    if (!this.bound || arrays.some((a, i) => a !== this.boundArrays[i])) {
      this.bound = this.columns();
      this.boundArrays = arrays;
    }
    return this.bound;
  }

  /**
   * With direct addressing, after a bucket's rows: each count state is the group's row count,
   * and each non-nullable sum, min and max has seen a value in every group with rows (the loop
   * leaves both to this, see `generate`).
   */
  finishDirect(groups: Int32Array): void {
    if (this.group.type !== 'direct') return;
    const counts = this.group.counts();
    for (const t of this.terms) {
      if (t.kind === 'count') {
        const acc = t.kernel.acc;
        for (let k = 0; k < groups.length; k++) acc[groups[k]!] = counts[groups[k]!]!;
      } else if (!t.kernel.nullable) {
        const seen = t.kernel.seen;
        for (let k = 0; k < groups.length; k++) seen[groups[k]!] = 1;
      }
    }
  }

  /** Aggregates rows [lo, hi), or `sel[0..n)` when `sel` is given; `gids` are per selected row (or per row of the range). */
  run(lo: number, hi: number, sel: Int32Array | null, n: number, gids: Int32Array | null): void {
    if (this.specialize) {
      const before = this.bound;
      const cols = this.current();
      if (!this.own || cols !== before) this.own = this.bindOwn();
      (sel ? this.own[1] : this.own[0])(lo, hi, sel, n, gids);
      return;
    }
    (sel ? this.loops[1] : this.loops[0])(lo, hi, sel, n, gids, this.current());
  }
}
