/**
 * SegmentsAccumulator against the per-segment engine: for seeded segments built to stress its
 * layout (dimension values arriving segment after segment, so ids outgrow their strides and
 * groups move; nulls in some segments only; a metric or a dimension missing from a segment),
 * folding the segments must give the same final answer as `runOnSegment` per segment + merge
 * (for topN: the exact answer, since one accumulator ranks the totals of all its segments).
 * The differential test covers random queries against DuckDB; this one the edges of the layout,
 * the decline-and-fall-back path and the memory accounting.
 */
import { finalizeResult, mergePartials, parseQuery, type LoadedSegment, type PartialResult } from '@cairn/shared';
import t from 'tap';
import { AccumulateLoop, localArena, localLoop, localTermsMax } from './accumulate-loop.js';
import { narrowCodes, narrowValues } from './columns.js';
import { accumulatorBytesHeld, accumulatorKeysMax, groupedArenaHeld, SegmentsAccumulator } from './accumulate.js';
import { runOnSegment } from './run.js';
import { segmentFromRows } from './segment-from-rows.js';
import { Rng } from './test-support/rng.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2024, 0, 1);
const seed = Number(process.env['CAIRN_SEED'] ?? 7);

/** Eight hourly segments; segment h uses values a0..a(3h+2) and b0..b(20h+19), so the value sets grow. */
function segments(rng: Rng): LoadedSegment[] {
  const out: LoadedSegment[] = [];
  for (let h = 0; h < 8; h++) {
    const rows = Array.from({ length: 400 }, () => ({
      __time: T0 + h * HOUR + rng.int(0, HOUR),
      a: h === 5 ? undefined : rng.chance(0.1) ? null : `a${rng.int(0, 3 * h + 3)}`,
      b: `b${String(rng.int(0, 20 * h + 20)).padStart(3, '0')}`,
      x: h === 3 ? undefined : h % 2 === 1 && rng.chance(0.3) ? null : rng.int(-50, 1000),
      y: rng.int(0, 100) / 4,
    }));
    const metrics = [...(h === 3 ? [] : [{ name: 'x', type: 'long' as const }]), { name: 'y', type: 'double' as const }];
    out.push(segmentFromRows({ dataSource: 'e', start: T0 + h * HOUR, end: T0 + (h + 1) * HOUR, dimensions: h === 5 ? ['b'] : ['a', 'b'], metrics, rows }));
  }
  return out;
}

const aggregations = [
  { type: 'count', name: 'rows' },
  { type: 'longSum', name: 'xs', fieldName: 'x' },
  { type: 'doubleSum', name: 'ys', fieldName: 'y' },
  { type: 'longMin', name: 'xmin', fieldName: 'x' },
  { type: 'doubleMax', name: 'ymax', fieldName: 'y' },
  { type: 'longMax', name: 'ylong', fieldName: 'y' },
];
const base = { dataSource: 'e', intervals: ['2024-01-01T00:30:00Z/2024-01-01T07:45:00Z'], aggregations };
const queries: Record<string, unknown>[] = [
  { ...base, queryType: 'groupBy', granularity: 'hour', dimensions: ['a', 'b'] },
  { ...base, queryType: 'groupBy', granularity: 'all', dimensions: ['b', 'a'], filter: { type: 'in', dimension: 'a', values: ['a1', 'a4', null] } },
  { ...base, queryType: 'groupBy', granularity: 'all', dimensions: [] },
  { ...base, queryType: 'topN', granularity: 'all', dimension: 'b', metric: 'xs', threshold: 5, context: { minTopNThreshold: 3 } },
  { ...base, queryType: 'topN', granularity: { type: 'period', period: 'PT2H' }, dimension: 'a', metric: { type: 'inverted', metric: 'rows' }, threshold: 2, context: { minTopNThreshold: 2 } },
  { ...base, queryType: 'topN', granularity: 'all', dimension: 'b', metric: { type: 'dimension', ordering: 'lexicographic', previousStop: 'b050' }, threshold: 4, context: { minTopNThreshold: 4 } },
  { ...base, queryType: 'timeseries', granularity: 'fifteen_minute', filter: { type: 'selector', dimension: 'a', value: 'a2' } },
  { ...base, queryType: 'timeseries', granularity: 'hour', filter: { type: 'selector', dimension: 'a', value: 'nope' }, context: { skipEmptyBuckets: true } },
  { ...base, queryType: 'timeseries', granularity: 'all', filter: { type: 'selector', dimension: 'a', value: 'nope' } },
];

function perSegment(raw: unknown, segs: readonly LoadedSegment[]) {
  const q = parseQuery(raw);
  return finalizeResult(q, mergePartials(q, segs.map((s) => runOnSegment(q, s))));
}

function folded(raw: unknown, segs: readonly LoadedSegment[], order: readonly number[]) {
  const q = parseQuery(raw);
  const acc = SegmentsAccumulator.for(q);
  if (!acc) throw new Error('not covered');
  for (const i of order) if (!acc.add(segs[i]!)) throw new Error(`segment ${i} declined`);
  const p = acc.partial();
  return { viaMemory: finalizeResult(q, mergePartials(q, [p])), viaJson: finalizeResult(q, mergePartials(q, [JSON.parse(JSON.stringify(p)) as PartialResult])) };
}

t.test(`folded segments answer as the per-segment engine does (seed ${seed})`, async (t) => {
  const rng = new Rng(seed);
  const segs = segments(rng);
  for (const raw of queries) {
    const label = `${raw['queryType']} ${JSON.stringify(raw['granularity'])}`;
    // TopN per segment keeps only its best few per segment (approximate); one accumulator ranks
    // the totals of all its segments, so over all of them it gives the exact answer.
    const exact = raw['queryType'] === 'topN' ? { ...raw, context: { minTopNThreshold: 100_000 } } : raw;
    const expected = perSegment(exact, segs);
    const ascending = segs.map((_, i) => i);
    const shuffled = [...ascending].sort(() => rng.next() - 0.5);
    for (const [name, order] of [['in order', ascending], ['shuffled', shuffled]] as const) {
      const got = folded(raw, segs, order);
      t.same(got.viaMemory, expected, `${label}, ${name}`);
      t.same(got.viaJson, expected, `${label}, ${name}, through JSON`);
    }
  }
  t.equal(accumulatorBytesHeld(), 0, 'every accumulator gave its memory back');
});

t.test('queries with other aggregators or query types are not covered', async (t) => {
  t.equal(SegmentsAccumulator.for(parseQuery({ ...base, queryType: 'groupBy', granularity: 'all', dimensions: ['a'], aggregations: [{ type: 'hyperUnique', name: 'u', fieldName: 'b' }] })), null);
  t.equal(SegmentsAccumulator.for(parseQuery({ queryType: 'scan', dataSource: 'e', intervals: base.intervals })), null);
});

t.test('a segment that would pass the key bound is declined untouched; the caller answers it alone', async (t) => {
  // Two dimensions of 1,100 values each: 1.21M keys > accumulatorKeysMax (2^20) once both are in.
  t.ok(1100 * 1100 > accumulatorKeysMax);
  const rows = (from: number) => Array.from({ length: 1100 }, (_, i) => ({ __time: T0 + i, p: `p${from + i}`, q: `q${(i * 7) % 1100}`, v: i }));
  const small = segmentFromRows({ dataSource: 'e', start: T0, end: T0 + HOUR, dimensions: ['p', 'q'], metrics: [{ name: 'v', type: 'long' }], rows: rows(0).slice(0, 500) });
  const large = segmentFromRows({ dataSource: 'e', start: T0, end: T0 + HOUR, dimensions: ['p', 'q'], metrics: [{ name: 'v', type: 'long' }], rows: rows(0) });
  const raw = { queryType: 'groupBy', dataSource: 'e', intervals: ['2024-01-01/2024-01-02'], granularity: 'all', dimensions: ['p', 'q'], aggregations: [{ type: 'longSum', name: 's', fieldName: 'v' }] };
  const q = parseQuery(raw);
  const acc = SegmentsAccumulator.for(q)!;
  t.equal(acc.add(small), true, 'the small segment fits');
  const held = accumulatorBytesHeld();
  t.equal(acc.add(large), false, 'the large one is declined');
  t.equal(acc.added, 1);
  t.equal(accumulatorBytesHeld(), held, 'declining allocated nothing');
  t.equal(acc.add(small), true, 'a segment whose values fit is still taken after a decline (the declined one registered nothing)');
  const answer = finalizeResult(q, mergePartials(q, [acc.partial(), runOnSegment(q, large)]));
  t.same(answer, perSegment(raw, [small, small, large]), 'the merged answer is the same');
  t.equal(accumulatorBytesHeld(), 0);
});

t.test('dispose gives the memory back; the spent accumulator refuses more work', async (t) => {
  const segs = segments(new Rng(seed));
  const acc = SegmentsAccumulator.for(parseQuery(queries[0]))!;
  acc.add(segs[0]!);
  t.ok(accumulatorBytesHeld() > 0, 'states are held while the query runs');
  acc.dispose();
  t.equal(accumulatorBytesHeld(), 0);
  t.throws(() => acc.add(segs[1]!));
  t.throws(() => acc.partial());
});

t.test('cancellation and deadlines stop a fold with the engine errors', async (t) => {
  const segs = segments(new Rng(seed));
  const acc = SegmentsAccumulator.for(parseQuery(queries[0]))!;
  t.throws(() => acc.add(segs[0]!, { isCancelled: () => true }), { code: 'QUERY_CANCELLED' });
  t.throws(() => acc.add(segs[1]!), 'after a failed add nothing more is folded (the failed one may be half in)');
  t.throws(() => acc.partial());
  acc.dispose();
  t.equal(accumulatorBytesHeld(), 0);
  const late = SegmentsAccumulator.for(parseQuery(queries[0]))!;
  t.equal(late.add(segs[0]!), true);
  let calls = 0;
  // The deadline passes after the first chunk check, in the middle of the fold.
  t.throws(() => late.add(segs[1]!, { deadlineMs: 5, now: () => (++calls > 1 ? 10 : 0) }), { code: 'QUERY_TIMEOUT' });
  late.dispose();
  t.equal(accumulatorBytesHeld(), 0);
});

t.test('the one-dimension local loop takes every row of a range of any length and offset', async (t) => {
  const codes = Int32Array.from({ length: 40 }, (_, i) => (i * 7) % 5);
  const values = Float64Array.from({ length: 40 }, (_, i) => i + 1);
  const shifted = narrowCodes(codes, 5)!;
  t.ok(shifted instanceof Uint8Array, 'five values: one byte a code');
  t.same(Array.from(shifted.subarray(0, 3)), [1, 3, 5], 'shifted by one (null is 0)');
  const small = narrowValues(values);
  t.ok(small instanceof Int16Array, 'small integers: two bytes a value');
  const arena = localArena(3);
  t.equal(localArena(3).states[0], arena.states[0], 'the same arrays for the life of the process');
  // One sum alone is unrolled 16 rows a turn, one sum and a count 8, three terms and a count 4:
  // ranges up to 35 rows long reach every unrolled body and every remainder.
  const runs = [true, false].flatMap((counting) => [values, small].flatMap((vs) => [true, false].map((sumOnly) => ({ counting, vs, sumOnly }))));
  for (const { counting, vs, sumOnly } of runs) {
    const valueType = vs instanceof Int16Array ? 'i16' : 'f64';
    const terms = sumOnly ? (['sum'] as const) : (['sum', 'min', 'max'] as const);
    const loop = localLoop({ terms, counting, fromSelection: false, codeType: 'u8', valueTypes: terms.map(() => valueType) });
    for (let lo = 0; lo < 5; lo++) {
      for (let hi = lo; hi <= Math.min(codes.length, lo + 35); hi++) {
        arena.counts.fill(0, 0, 6);
        const [sums, mins, maxs] = arena.states as [Float64Array, Float64Array, Float64Array];
        sums.fill(0, 0, 6);
        mins.fill(Infinity, 0, 6);
        maxs.fill(-Infinity, 0, 6);
        loop(lo, hi, null, hi - lo, shifted, terms.map(() => vs));
        const want = { counts: new Float64Array(6), sums: new Float64Array(6), mins: new Float64Array(6).fill(Infinity), maxs: new Float64Array(6).fill(-Infinity) };
        for (let i = lo; i < hi; i++) {
          const c = codes[i]! + 1;
          want.counts[c]!++;
          want.sums[c]! += values[i]!;
          want.mins[c] = Math.min(want.mins[c]!, values[i]!);
          want.maxs[c] = Math.max(want.maxs[c]!, values[i]!);
        }
        const got = { counts: arena.counts.slice(0, 6), sums: sums.slice(0, 6), mins: mins.slice(0, 6), maxs: maxs.slice(0, 6) };
        if (sumOnly) Object.assign(want, { mins: got.mins, maxs: got.maxs });
        t.same({ ...got, counts: counting ? got.counts : want.counts }, want, `rows ${lo}..${hi}${counting ? ', counting' : ''}, ${valueType} values${sumOnly ? ', one sum' : ''}`);
        if (!counting) t.same(arena.counts.slice(0, 6), new Float64Array(6), 'a loop that does not count leaves the counts alone');
      }
    }
  }
  t.throws(() => localArena(localTermsMax + 1), RangeError);
});

t.test('narrow columns: codes in one or two bytes, values as small integers only when exact', async (t) => {
  const codes = Int32Array.from([-1, 0, 299, 5]);
  const wide = narrowCodes(codes, 300)!;
  t.ok(wide instanceof Uint16Array, '300 values: two bytes a code');
  t.same(Array.from(wide), [0, 1, 300, 6]);
  t.equal(narrowCodes(codes, 300), wide, 'made once per column');
  t.equal(narrowCodes(codes, 70_000), null, 'past 65,535 values there is no narrow form');
  const cases: [number[], string][] = [
    [[1, -2, 32767, -32768], 'Int16Array'],
    [[1, 40_000], 'Int32Array'],
    [[-2147483648, 2147483647], 'Int32Array'],
    [[1, 2 ** 31], 'Float64Array'],
    [[1, 0.5], 'Float64Array'],
    [[1, NaN], 'Float64Array'],
    [[1, -0], 'Float64Array'],
    [[1, Infinity], 'Float64Array'],
  ];
  for (const [vals, type] of cases) {
    const src = Float64Array.from(vals);
    const got = narrowValues(src);
    t.equal(got.constructor.name, type, `${vals.join(', ')}: ${type}`);
    t.same(Array.from(got), Array.from(src), 'the same numbers');
  }
});

t.test('the grouped arena: one accumulator at a time holds it, through its layout changes; the others use arrays of their own', async (t) => {
  const segs = segments(new Rng(seed));
  const rawA = queries[0]!; // two dimensions by hour: its layout grows segment after segment
  const rawB = queries[1]!;
  const qa = parseQuery(rawA);
  const qb = parseQuery(rawB);
  t.equal(groupedArenaHeld(), false, 'free before');
  const a = SegmentsAccumulator.for(qa)!;
  const b = SegmentsAccumulator.for(qb)!;
  // Interleaved, as the worker's executor runs two queries unit by unit.
  for (let i = 0; i < segs.length; i++) {
    t.equal(a.add(segs[i]!), true);
    if (i === 0) t.equal(groupedArenaHeld(), true, 'the first two-dimension accumulator takes it');
    t.equal(b.add(segs[segs.length - 1 - i]!), true);
  }
  const gotB = finalizeResult(qb, mergePartials(qb, [b.partial()]));
  t.equal(groupedArenaHeld(), true, 'the other finishing does not free it');
  const gotA = finalizeResult(qa, mergePartials(qa, [a.partial()]));
  t.equal(groupedArenaHeld(), false, 'its holder finishing does');
  t.same(gotA, perSegment(rawA, segs), 'the holder answers as the per-segment engine does');
  t.same(gotB, perSegment(rawB, segs), 'and so does the other');
  const c = SegmentsAccumulator.for(qa)!;
  c.add(segs[0]!);
  t.equal(groupedArenaHeld(), true, 'a later accumulator takes it again');
  c.dispose();
  t.equal(groupedArenaHeld(), false, 'dispose frees it');

  // 800 x 800 keys, two numbers each: more than the arena's 2^20; answered with arrays of its own.
  const rows = Array.from({ length: 800 }, (_, i) => ({ __time: T0 + i, p: `p${i}`, q: `q${(i * 7) % 800}`, v: i }));
  const wide = segmentFromRows({ dataSource: 'e', start: T0, end: T0 + HOUR, dimensions: ['p', 'q'], metrics: [{ name: 'v', type: 'long' }], rows });
  const rawW = { queryType: 'groupBy', dataSource: 'e', intervals: ['2024-01-01/2024-01-02'], granularity: 'all', dimensions: ['p', 'q'], aggregations: [{ type: 'longSum', name: 's', fieldName: 'v' }] };
  const qw = parseQuery(rawW);
  const w = SegmentsAccumulator.for(qw)!;
  t.equal(w.add(wide), true);
  t.equal(groupedArenaHeld(), false, 'too large for the arena');
  t.same(finalizeResult(qw, mergePartials(qw, [w.partial()])), perSegment(rawW, [wide]));
  t.equal(accumulatorBytesHeld(), 0);
});

t.test('the grouped loop over a dictionary past 65,535 values (its own codes) beside a small one (narrow codes)', async (t) => {
  const n = 70_003; // not a multiple of four: the unrolled loop's odd rows run too
  const rows = Array.from({ length: n }, (_, i) => ({ __time: T0 + i, u: `u${String(i).padStart(6, '0')}`, g: i % 7 === 0 ? null : `g${i % 3}`, v: (i % 11) - 5 }));
  const seg = segmentFromRows({ dataSource: 'e', start: T0, end: T0 + HOUR, dimensions: ['u', 'g'], metrics: [{ name: 'v', type: 'long' }], rows });
  t.ok(seg.dimensions.get('u')!.dictionary.length > 0xffff);
  const raw = { queryType: 'groupBy', dataSource: 'e', intervals: ['2024-01-01/2024-01-02'], granularity: 'all', dimensions: ['g', 'u'], aggregations: [{ type: 'count', name: 'c' }, { type: 'longSum', name: 's', fieldName: 'v' }] };
  const q = parseQuery(raw);
  const acc = SegmentsAccumulator.for(q)!;
  t.equal(acc.add(seg), true);
  t.same(finalizeResult(q, mergePartials(q, [acc.partial()])), perSegment(raw, [seg]));
});

t.test('the grouped loop takes every row of a range of any length and offset, and of a selection', async (t) => {
  const n = 40;
  const a = Int32Array.from({ length: n }, (_, i) => (i * 5) % 3); // segment codes, 3 values
  const b = Int32Array.from({ length: n }, (_, i) => (i * 7) % 4); // 4 values
  const v = Float64Array.from({ length: n }, (_, i) => (i % 9) - 3);
  const slots = 4; // row count, sum, min, max
  // Offsets per shifted code (null at 0): dimension a strides 5 keys, b one key.
  const r0 = Int32Array.from({ length: 4 }, (_, c) => c * 5 * slots);
  const r1 = Int32Array.from({ length: 5 }, (_, c) => c * slots);
  const terms = [
    { kind: 'count' as const, nulls: 'none' as const, slot: -1, nullSlot: -1 },
    { kind: 'sum' as const, nulls: 'none' as const, slot: 1, nullSlot: -1 },
    { kind: 'min' as const, nulls: 'none' as const, slot: 2, nullSlot: -1 },
    { kind: 'max' as const, nulls: 'none' as const, slot: 3, nullSlot: -1 },
  ];
  const fresh = () => {
    const st = new Float64Array(20 * slots);
    for (let k = 0; k < 20; k++) {
      st[k * slots + 2] = Infinity;
      st[k * slots + 3] = -Infinity;
    }
    return st;
  };
  const reference = (rowsOf: number[]) => {
    const st = fresh();
    for (const i of rowsOf) {
      const o = r0[a[i]! + 1]! + r1[b[i]! + 1]!;
      st[o]!++;
      st[o + 1]! += v[i]!;
      st[o + 2] = Math.min(st[o + 2]!, v[i]!);
      st[o + 3] = Math.max(st[o + 3]!, v[i]!);
    }
    return st;
  };
  for (const narrow of [false, true]) {
    for (const values of [v, narrowValues(v)]) {
      const shape = { dims: 2, terms, fromSelection: false, codeTypes: narrow ? (['u8', 'u8'] as const) : (['i32', 'i32'] as const), valueTypes: [values instanceof Int16Array ? 'i16' : 'f64', values instanceof Int16Array ? 'i16' : 'f64', values instanceof Int16Array ? 'i16' : 'f64', values instanceof Int16Array ? 'i16' : 'f64'] as ('i16' | 'f64')[] };
      const codes = narrow ? [narrowCodes(a, 3)!, narrowCodes(b, 4)!] : [a, b];
      const label = `${narrow ? 'narrow' : 'own'} codes, ${shape.valueTypes[0]} values`;
      for (let lo = 0; lo < 5; lo++) {
        for (let hi = lo; hi <= lo + 9; hi++) {
          const st = fresh();
          new AccumulateLoop(shape, { codes, remaps: [r0, r1], states: st, values: [values, values, values, values] }).run(lo, hi, null, hi - lo, 0);
          t.same(st, reference(Array.from({ length: hi - lo }, (_, k) => lo + k)), `${label}: rows ${lo}..${hi}`);
        }
      }
      const sel = Int32Array.from([0, 3, 4, 9, 17, 18, 31, 39]);
      for (let m = 0; m <= sel.length; m++) {
        const st = fresh();
        new AccumulateLoop({ ...shape, fromSelection: true }, { codes, remaps: [r0, r1], states: st, values: [values, values, values, values] }).run(0, n, sel, m, 0);
        t.same(st, reference(Array.from(sel.subarray(0, m))), `${label}: the first ${m} selected rows`);
      }
    }
  }
});
