/**
 * The row loop of `SegmentsAccumulator`. A group's states sit side by side in one Float64Array
 * (`slots` numbers per group: the row count, one slot per sum, min or max, and one per term that
 * has met nulls), so a row touches one cache line, not one per state: with ~100k groups the
 * states outgrow the L2 cache and every row's group is a likely miss.
 *
 * With dimensions, a row's group offset is the bucket's base plus, per dimension, the row's code
 * looked up in that segment's remap table (query-wide id times the dimension's stride, already in
 * numbers, so the loop only adds). Without dimensions (timeseries) a call covers one bucket: the
 * states live in locals during the loop, because incrementing the same array element on every
 * row serializes the loop on a store-to-load dependency.
 *
 * Nulls are counted rather than flagged: a term's state is null when every row of its group was
 * null (null count = row count), so segments whose column has no nulls store nothing extra per
 * row. One loop per shape, compiled once and shared; the generated source holds only identifiers
 * and slot offsets built here, never a value from a query or a segment.
 */

export type TermKind = 'count' | 'sum' | 'min' | 'max';
/** How a term's column holds nulls in one segment: none, some (NaN), or the segment lacks it (all null). */
export type ColumnNulls = 'none' | 'some' | 'all';

export interface LoopShape {
  readonly dims: number;
  /** Per term: its kind, how its column holds nulls here, its state's slot and its null count's slot (-1: none). */
  readonly terms: readonly { readonly kind: TermKind; readonly nulls: ColumnNulls; readonly slot: number; readonly nullSlot: number }[];
  /** Rows from a selection vector rather than a range. */
  readonly fromSelection: boolean;
  /** The states and remaps are the process's grouped arena (`groupedArena`), bound as constants; grouped shapes only. */
  readonly arena?: boolean;
  /**
   * Grouped shapes: per dimension, its codes' array type: 'i32' the segment's own codes (-1 for
   * null), 'u8'/'u16' `narrowCodes` (shifted by one, null at 0); and per term its values' array
   * type (`narrowValues`). Absent: all 'i32' and 'f64'. Part of the key, so each loop's loads stay
   * monomorphic.
   */
  readonly codeTypes?: readonly ('i32' | 'u8' | 'u16')[];
  readonly valueTypes?: readonly ('f64' | 'i16' | 'i32')[];
}

/** The arrays one run reads and writes. */
export interface LoopArrays {
  /** Per dimension: the segment's codes (-1 for null), or their narrow copy (shifted by one), as the shape says. */
  codes: (Int32Array | Uint8Array | Uint16Array)[];
  /** Per dimension: offset contribution of segment code c at [c + 1] (null at [0]). */
  remaps: Int32Array[];
  /** Every group's slots. */
  states: Float64Array;
  /** Per term: the values (unused for count and for a column the segment lacks), or their narrow copy, as the shape says. */
  values: (Float64Array | Int16Array | Int32Array)[];
}

type Compiled = (lo: number, hi: number, sel: Int32Array | null, n: number, base: number, x: Record<string, unknown>) => void;

/** Shapes compiled so far; bounded (cleared when full) because shapes come from queries. */
const compiled = new Map<string, Compiled>();
export const accumulateShapesCachedMax = 512;

/**
 * The process's grouped arena: one states array and a remap table per dimension position, bound
 * into the arena loops as constants of their closures. With the states and remaps passed per call
 * instead, V8 cannot tell that a store into the states leaves the remaps and the columns alone,
 * and the two-dimension loop ran at 7.2 ns a row over the flights rows against 4.9 with them bound
 * (a separate test, chunks of 16.5k rows; 8.8 against 6.5 over a 100k-group table). One
 * accumulator at a time leases the states (`SegmentsAccumulator`), for as long as its query
 * runs; the others use the loops that take their own arrays. The remaps are filled per segment
 * inside one synchronous fold, so they need no lease.
 */
export const groupedArenaStatesLength = 1 << 20;
/** Dictionary entries (null included) an arena remap has room for. */
export const groupedArenaRemapLength = (1 << 16) + 1;
export const groupedArenaDimsMax = 4;
export interface GroupedArena {
  readonly states: Float64Array;
  readonly remaps: readonly Int32Array[];
}
let theGroupedArena: GroupedArena | null = null;

/** The grouped arena (8 MiB of states and 1 MiB of remaps, made on first use). */
export function groupedArena(): GroupedArena {
  theGroupedArena ??= {
    states: new Float64Array(groupedArenaStatesLength),
    remaps: Array.from({ length: groupedArenaDimsMax }, () => new Int32Array(groupedArenaRemapLength)),
  };
  return theGroupedArena;
}

function shapeKey(s: LoopShape): string {
  return `${s.dims}|${s.fromSelection ? 's' : 'r'}${s.arena ? 'a' : ''}|${(s.codeTypes ?? []).join(',')}|${(s.valueTypes ?? []).join(',')}|${s.terms.map((t) => `${t.kind}${t.nulls}${t.slot}.${t.nullSlot}`).join(',')}`;
}

const int = (x: number): string => {
  if (!Number.isSafeInteger(x)) throw new Error(`accumulate loop: slot ${x} is not an integer`);
  return String(x);
};

/** Loop with dimensions: states addressed per row. */
/** A term whose column has nulls here must have a null slot (the accumulator adds one first). */
function checkShape(s: LoopShape): void {
  for (const t of s.terms) if (t.kind !== 'count' && t.nulls !== 'none' && t.nullSlot < 0) throw new Error(`accumulate loop: a ${t.kind} over nulls has no null slot`);
}

function generateGrouped(s: LoopShape): string {
  const lines: string[] = s.arena ? [] : ['const st = x.st;'];
  for (let d = 0; d < s.dims; d++) lines.push(s.arena ? `const c${d} = x.c${d};` : `const c${d} = x.c${d}; const r${d} = x.r${d};`);
  s.terms.forEach((t, j) => t.kind !== 'count' && t.nulls !== 'all' && lines.push(`const v${j} = x.v${j};`));
  // Narrow codes are shifted by one already; the segment's own need the +1 (null is -1).
  const key = Array.from({ length: s.dims }, (_, d) => ((s.codeTypes?.[d] ?? 'i32') === 'i32' ? `r${d}[c${d}[i] + 1]` : `r${d}[c${d}[i]]`)).join(' + ');
  const body: string[] = [`const o = base + ${key};`, 'st[o]++;'];
  s.terms.forEach((t, j) => {
    if (t.kind === 'count') return;
    const at = `st[o + ${int(t.slot)}]`;
    const nul = t.nullSlot < 0 ? '' : `st[o + ${int(t.nullSlot)}]++;`;
    if (t.nulls === 'all') return void body.push(nul);
    if (t.kind === 'sum') return void body.push(t.nulls === 'none' ? `${at} += v${j}[i];` : `{ const v = v${j}[i]; if (v === v) ${at} += v; else ${nul} }`);
    // NaN never compares, so a null value leaves the state alone and only its count moves.
    const cmp = t.kind === 'min' ? '<' : '>';
    body.push(t.nulls === 'none' ? `{ const v = v${j}[i]; if (v ${cmp} ${at}) ${at} = v; }` : `{ const v = v${j}[i]; if (v ${cmp} ${at}) ${at} = v; else if (v !== v) ${nul} }`);
  });
  if (s.fromSelection) {
    lines.push('for (let k = 0; k < n; k++) { const i = sel[k];', ...body, '}');
  } else {
    // Four rows a turn (the loop's own compare and branch weigh less), the odd rows first (see
    // `localLoop` on V8's deoptimizations at a remainder loop placed after the unrolled one).
    const at = (k: number) => body.map((line) => line.replace(/\[i\]/g, k === 0 ? '[i]' : `[i + ${k}]`));
    lines.push('let i = lo;', 'for (const head = lo + ((hi - lo) & 3); i < head; i++) {', ...body, '}');
    lines.push('for (; i < hi; i += 4) {', ...[0, 1, 2, 3].flatMap((k) => ['{', ...at(k), '}']), '}');
  }
  return lines.join('\n');
}

/** Loop without dimensions: one group per call, its states in locals. */
function generateOne(s: LoopShape): string {
  const lines: string[] = ['const st = x.st;', 'st[base] += n;'];
  const body: string[] = [];
  const after: string[] = [];
  s.terms.forEach((t, j) => {
    if (t.kind === 'count') return;
    if (t.nulls === 'all') return void after.push(`st[base + ${int(t.nullSlot)}] += n;`);
    if (t.nulls === 'some') {
      lines.push(`let z${j} = 0;`);
      after.push(`st[base + ${int(t.nullSlot)}] += z${j};`);
    }
    lines.push(`const v${j} = x.v${j}; let a${j} = st[base + ${int(t.slot)}];`);
    after.push(`st[base + ${int(t.slot)}] = a${j};`);
    if (t.kind === 'sum') return void body.push(t.nulls === 'none' ? `a${j} += v${j}[i];` : `{ const v = v${j}[i]; if (v === v) a${j} += v; else z${j}++; }`);
    const cmp = t.kind === 'min' ? '<' : '>';
    body.push(t.nulls === 'none' ? `{ const v = v${j}[i]; if (v ${cmp} a${j}) a${j} = v; }` : `{ const v = v${j}[i]; if (v ${cmp} a${j}) a${j} = v; else if (v !== v) z${j}++; }`);
  });
  if (body.length > 0) lines.push(s.fromSelection ? 'for (let k = 0; k < n; k++) { const i = sel[k];' : 'for (let i = lo; i < hi; i++) {', ...body, '}');
  lines.push(...after);
  return lines.join('\n');
}

function loopFor(s: LoopShape): Compiled {
  const k = shapeKey(s);
  let f = compiled.get(k);
  if (!f) {
    if (compiled.size >= accumulateShapesCachedMax) compiled.clear();
    checkShape(s);
    const name = s.dims === 0 ? 'accumulateOne' : s.arena ? 'accumulateGroupedArena' : 'accumulateGrouped';
    const body = `return function ${name}(lo, hi, sel, n, base, x) {\n${s.dims === 0 ? generateOne(s) : generateGrouped(s)}\n};`;
    if (s.arena) {
      if (s.dims === 0 || s.dims > groupedArenaDimsMax) throw new Error(`accumulate loop: an arena loop needs 1 to ${groupedArenaDimsMax} dimensions, not ${s.dims}`);
      const a = groupedArena();
      // Bound as consts of the enclosing function (made once per shape): see `groupedArena`.
      const bound = ['const st = arena.states;', ...Array.from({ length: s.dims }, (_, d) => `const r${d} = arena.remaps[${d}];`)].join('\n');
      f = new Function('arena', `${bound}\n${body}`)(a) as Compiled;
    } else {
      f = new Function(body)() as Compiled;
      prime(s, f);
    }
    compiled.set(k, f);
  }
  return f;
}

/**
 * Runs a new loop once over no rows, so that the code after its loop (a timeseries loop's
 * write-back of its locals) has run before the first real call. Otherwise V8 compiles the first
 * long loop on stack (OSR) with no feedback for that code, later calls enter the same compiled
 * code, and each deoptimized at the write-back: up to ~1,700 deoptimizations per run of the
 * flights shapes (`--trace-deopt`), their recompilations taking CPU on V8's compiler thread
 * during the timed queries that followed.
 */
function prime(s: LoopShape, f: Compiled): void {
  let top = 0;
  for (const t of s.terms) top = Math.max(top, t.slot, t.nullSlot);
  const one = (n: number) => Array.from({ length: n }, () => new Float64Array(1));
  const codes = Array.from({ length: s.dims }, () => new Int32Array(1));
  const arrays: LoopArrays = { codes, remaps: codes, states: new Float64Array(top + 1), values: one(s.terms.length) };
  f(0, 0, s.fromSelection ? new Int32Array(0) : null, 0, 0, loopArgs(s, arrays));
}

/** The one object a loop reads its arrays from (fields in one order for every shape: one hidden class per shape). */
function loopArgs(shape: LoopShape, arrays: LoopArrays): Record<string, unknown> {
  const x: Record<string, unknown> = {};
  x['st'] = arrays.states;
  for (let d = 0; d < shape.dims; d++) {
    x[`c${d}`] = arrays.codes[d];
    x[`r${d}`] = arrays.remaps[d];
  }
  shape.terms.forEach((_, j) => (x[`v${j}`] = arrays.values[j]));
  return x;
}

/**
 * One compiled loop bound to one segment's arrays. The arrays sit in one object with named
 * fields, built once per segment and reused by every chunk: the loop copies them into locals.
 */
export class AccumulateLoop {
  private readonly f: Compiled;
  private readonly x: Record<string, unknown>;

  constructor(shape: LoopShape, arrays: LoopArrays) {
    this.f = loopFor(shape);
    this.x = loopArgs(shape, arrays);
  }

  /** Rows lo..hi (or sel[0..n) when the shape reads a selection; n = hi - lo otherwise) into the groups based at `base`. */
  run(lo: number, hi: number, sel: Int32Array | null, n: number, base: number): void {
    this.f(lo, hi, sel, n, base, this.x);
  }
}

/**
 * The loop of one dimension whose segment dictionary is small: states indexed by the segment's
 * own code (`[code + 1]`) in small arrays that stay in the L1/L2 cache, with no remap per row;
 * `SegmentsAccumulator` folds them into its states once per bucket, a dictionary entry at a
 * time. Terms whose columns have no nulls only (the caller checks). Over a range the body is
 * unrolled (4 to 16 rows a turn, `localUnroll`); the row counts come from the column's
 * histogram when the caller has them (`counting` false), else the loop counts.
 *
 * The arrays the loop adds into are the process's own (`localArena`), created once and bound
 * into each generated loop as constants of its closure, not passed per call: V8 then compiles
 * their length and address into the code, and the loop ran 15% faster (2.10 -> 1.78 ns a row
 * over the flights segments, this box). The engine is synchronous, so one fold uses them at a
 * time; the caller fills the entries it uses with each term's initial value before a bucket.
 *
 * The odd rows of a range (its length modulo the unroll) go first, not last. With the remainder loop
 * after the unrolled one, V8 deoptimized the function for "insufficient type feedback" at the
 * remainder's loads over and over (283 to 938 times in one flights bench sequence, measured
 * with --trace-deopt; likely because full chunks, a multiple of 4 rows, never run it); with the
 * remainder first it deoptimizes once or twice.
 */
export interface LocalShape {
  readonly terms: readonly TermKind[];
  readonly counting: boolean;
  readonly fromSelection: boolean;
  /** The codes' array type (`narrowCodes`: shifted by one, null at 0) and each term's values' (`narrowValues`; anything for count). */
  readonly codeType: 'u8' | 'u16';
  readonly valueTypes: readonly ('i16' | 'i32' | 'f64')[];
}

/** Dictionary entries (null included) the local arrays have room for. */
export const localEntriesMax = (1 << 16) + 1;
/** Terms a local loop can take (8 B x localEntriesMax each: 512 KiB, made on first use). */
export const localTermsMax = 8;

/** The process's local arrays: row counts, and one array per term position. */
export interface LocalArena {
  readonly counts: Float64Array;
  readonly states: readonly Float64Array[];
}
let arenaCounts: Float64Array | null = null;
const arenaStates: Float64Array[] = [];

/** The local arrays for `terms` terms (made on first use, then the same arrays for the life of the process). */
export function localArena(terms: number): LocalArena {
  if (terms > localTermsMax) throw new RangeError(`local loop: ${terms} terms, at most ${localTermsMax}`);
  arenaCounts ??= new Float64Array(localEntriesMax);
  while (arenaStates.length < terms) arenaStates.push(new Float64Array(localEntriesMax));
  return { counts: arenaCounts, states: arenaStates.slice(0, terms) };
}

export type LocalLoopFn = (lo: number, hi: number, sel: Int32Array | null, n: number, c0: Uint8Array | Uint16Array, values: readonly (Int16Array | Int32Array | Float64Array)[]) => void;
const compiledLocal = new Map<string, LocalLoopFn>();

/**
 * Rows per turn of the unrolled range loop: the fewer the terms, the more rows, so that the
 * loop's own compare and branch weigh less (one sum over the flights segments: 1.63 ns a row
 * with 4, 1.48 with 8, 1.40 with 16), and the body stays small with many terms.
 */
function localUnroll(s: LocalShape): number {
  const work = s.terms.filter((t) => t !== 'count').length + (s.counting ? 1 : 0);
  return work <= 1 ? 16 : work <= 3 ? 8 : 4;
}

function generateLocal(s: LocalShape): string {
  const lines: string[] = [];
  s.terms.forEach((t, j) => t !== 'count' && lines.push(`const v${j} = values[${j}];`));
  const row = (i: string): string[] => {
    const out = [`{ const c = c0[${i}];`];
    if (s.counting) out.push('counts[c]++;');
    s.terms.forEach((t, j) => {
      if (t === 'sum') out.push(`l${j}[c] += v${j}[${i}];`);
      else if (t !== 'count') out.push(`{ const v = v${j}[${i}]; if (v ${t === 'min' ? '<' : '>'} l${j}[c]) l${j}[c] = v; }`);
    });
    out.push('}');
    return out;
  };
  if (s.fromSelection) {
    lines.push('for (let k = 0; k < n; k++) { const i = sel[k];', ...row('i'), '}');
  } else {
    // The remainder first (see above), then the unrolled rows.
    const u = localUnroll(s);
    lines.push('let i = lo;', `for (const head = lo + ((hi - lo) & ${u - 1}); i < head; i++) {`, ...row('i'), '}');
    lines.push(`for (; i < hi; i += ${u}) {`, ...Array.from({ length: u }, (_, k) => row(k === 0 ? 'i' : `i + ${k}`)).flat(), '}');
  }
  return lines.join('\n');
}

/** The loop of `s`, adding into `localArena(s.terms.length)`. */
export function localLoop(s: LocalShape): LocalLoopFn {
  // Array types are part of the key: one loop per combination keeps each loop's loads monomorphic.
  const k = `${s.counting ? 'c' : 'h'}${s.fromSelection ? 's' : 'r'}${s.codeType}|${s.terms.map((t, j) => `${t}:${s.valueTypes[j]}`).join(',')}`;
  let f = compiledLocal.get(k);
  if (!f) {
    if (compiledLocal.size >= accumulateShapesCachedMax) compiledLocal.clear();
    const arena = localArena(s.terms.length);
    // Bound as consts of the enclosing function: the inner closure is made once per shape.
    const bound = ['const counts = arena.counts;', ...s.terms.map((_, j) => `const l${j} = arena.states[${j}];`)].join('\n');
    f = new Function('arena', `${bound}\nreturn function accumulateLocal(lo, hi, sel, n, c0, values) {\n${generateLocal(s)}\n};`)(arena) as LocalLoopFn;
    compiledLocal.set(k, f);
  }
  return f;
}

/**
 * Folding one bucket of a one-dimension segment's local arrays into the accumulator's states:
 * per code with rows, its row count and each term's local state at `base + dense[code] * step`,
 * all terms in one pass over the codes (generated per shape, so each term's operation is
 * inline: one loop per term read the codes and offsets once per term, and one generic loop
 * over terms per code cost ~15 ns a code).
 */
export interface FoldTerm {
  readonly kind: TermKind;
  /** The term's slot in a group's states (-1 for count). */
  readonly slot: number;
}

export type FoldLoopFn = (K: number, counts: Float64Array, dense: Int32Array, base: number, step: number, st: Float64Array, locals: readonly Float64Array[]) => void;
const compiledFold = new Map<string, FoldLoopFn>();

function generateFold(terms: readonly FoldTerm[]): string {
  const lines: string[] = [];
  terms.forEach((t, j) => t.kind !== 'count' && lines.push(`const l${j} = locals[${j}];`));
  lines.push('for (let c = 0; c < K; c++) {', 'const rows = counts[c];', 'if (rows === 0) continue;', 'const o = base + dense[c] * step;', 'st[o] += rows;');
  terms.forEach((t, j) => {
    if (t.kind === 'count') return;
    const at = `st[o + ${int(t.slot)}]`;
    if (t.kind === 'sum') lines.push(`${at} += l${j}[c];`);
    else lines.push(`{ const v = l${j}[c]; if (v ${t.kind === 'min' ? '<' : '>'} ${at}) ${at} = v; }`);
  });
  lines.push('}');
  return lines.join('\n');
}

export function foldLoop(terms: readonly FoldTerm[]): FoldLoopFn {
  const k = terms.map((t) => `${t.kind}${t.slot}`).join(',');
  let f = compiledFold.get(k);
  if (!f) {
    if (compiledFold.size >= accumulateShapesCachedMax) compiledFold.clear();
    f = new Function(`return function accumulateFold(K, counts, dense, base, step, st, locals) {\n${generateFold(terms)}\n};`)() as FoldLoopFn;
    compiledFold.set(k, f);
  }
  return f;
}
