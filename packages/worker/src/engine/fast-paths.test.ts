/**
 * The engine's fast paths against plain references: the typed topN selection, direct grouping
 * that tracks the keys it sees (sparse resets between buckets), and merges over process-wide
 * value ids (`ValuePool`) against the same partials through JSON (strings only). Seeded; the seed
 * is printed and `CAIRN_SEED=n` replays one.
 */
import {
  finalizeResult,
  mergePartials,
  parseQuery,
  pooledIdsOf,
  topNOrdering,
  withoutDicts,
  type AggregatePartial,
  type LoadedSegment,
  type PartialResult,
  type Query,
  type TopNQuery,
} from '@cairn/shared';
import t from 'tap';
import { selectBest } from './aggregate.js';
import { chunkRows } from './execution.js';
import { DirectGrouper, KeySpace } from './grouping.js';
import { runOnSegment } from './run.js';
import { segmentFromRows } from './segment-from-rows.js';
import { Rng } from './test-support/rng.js';

const seeds = process.env['CAIRN_SEED'] ? [Number(process.env['CAIRN_SEED'])] : [11, 22, 33];

/** Uniform in [0, 1), from the engine tests' seeded generator. */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

const DAY = Date.UTC(2024, 0, 1);
const HOUR = 3_600_000;
const base = { dataSource: 'test', intervals: ['2024-01-01/2024-01-02'] };
const viaJson = (p: PartialResult) => JSON.parse(JSON.stringify(p)) as PartialResult;
const answer = (q: Query, partials: PartialResult[]) => finalizeResult(q, mergePartials(q, partials));

/** Rows with a dimension `d` of `values` values (some null), `e` of 30, and a nullable long metric `m` with ties. */
function randomSegment(r: () => number, rows: number, values: number, start = DAY): LoadedSegment {
  return segmentFromRows({
    start,
    end: start + 86_400_000,
    dimensions: ['d', 'e'],
    metrics: [{ name: 'm', type: 'long' }],
    rows: Array.from({ length: rows }, (_, i) => ({
      __time: start + Math.floor((i * 86_400_000) / rows),
      d: r() < 0.05 ? null : `v${String(Math.floor(r() * r() * values)).padStart(5, '0')}`,
      e: r() < 0.1 ? null : `e${Math.floor(r() * 30)}`,
      m: r() < 0.1 ? null : Math.floor(r() * 8) - 3,
    })),
  });
}

for (const seed of seeds) {
  t.test(`selectBest puts the k best first (seed ${seed})`, async (t) => {
    t.comment(`seed ${seed}; replay: CAIRN_SEED=${seed} npx tap packages/worker/src/engine/fast-paths.test.ts`);
    const r = rng(seed);
    for (let round = 0; round < 200; round++) {
      const m = 1 + Math.floor(r() * 300);
      const score = Float64Array.from({ length: m }, () => Math.floor(r() * 10));
      // A total order: score descending, then index ascending.
      const better = (x: number, y: number) => score[x]! - score[y]! || y - x;
      const k = Math.floor(r() * (m + 1));
      const a = Int32Array.from({ length: m }, (_, i) => i);
      for (let i = m - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [a[i], a[j]] = [a[j]!, a[i]!];
      }
      selectBest(a, k, better);
      const want = Array.from({ length: m }, (_, i) => i).sort((x, y) => better(y, x)).slice(0, k).sort((x, y) => x - y);
      const got = Array.from(a.subarray(0, k)).sort((x, y) => x - y);
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        t.fail(`round ${round}: m ${m}, k ${k}: got ${got.join(',')}, want ${want.join(',')}`);
        return;
      }
      if (new Set(a).size !== m) t.fail(`round ${round}: not a permutation`);
    }
    t.pass('200 random selections agree with a full sort');
  });

  t.test(`topN: the typed selection keeps what the generic ordering keeps (seed ${seed})`, async (t) => {
    const r = rng(seed);
    const seg = randomSegment(r, 3000, 400);
    for (const metric of [
      { type: 'numeric', metric: 's' },
      { type: 'inverted', metric: { type: 'numeric', metric: 's' } },
      { type: 'numeric', metric: 'c' },
      { type: 'inverted', metric: { type: 'numeric', metric: 'mx' } },
    ]) {
      for (const depth of [1, 7, 50, 1000]) {
        const q = parseQuery({
          ...base,
          queryType: 'topN',
          granularity: 'all',
          dimension: 'd',
          metric,
          threshold: depth,
          context: { minTopNThreshold: depth },
          aggregations: [{ type: 'count', name: 'c' }, { type: 'longSum', name: 's', fieldName: 'm' }, { type: 'longMax', name: 'mx', fieldName: 'm' }],
        }) as TopNQuery;
        const p = runOnSegment(q, seg) as AggregatePartial;
        const kept = Array.from(p.dims[0]! as ArrayLike<number>, (code) => p.dicts![0]![code]!).sort();
        // Reference: every value's states through a groupBy, ranked by the shared topN ordering.
        const all = answer(parseQuery({ ...base, queryType: 'groupBy', granularity: 'all', dimensions: ['d'], aggregations: q.aggregations }), [runOnSegment(parseQuery({ ...base, queryType: 'groupBy', granularity: 'all', dimensions: ['d'], aggregations: q.aggregations }), seg)]) as { event: Record<string, string | number | null> }[];
        const ordering = topNOrdering(q.metric);
        const name = ordering.metric!;
        const ranked = all
          .map((row) => ({ value: row.event['d'] as string | null, metric: row.event[name] as number | null }))
          .sort((a, b) => ordering.compare(a, b))
          .slice(0, depth)
          .map((c) => c.value)
          .sort();
        t.same(kept, ranked, `${JSON.stringify(metric)} depth ${depth}: ${kept.length} values`);
      }
    }
  });

  t.test(`direct grouping that tracks its keys agrees with scanning them (seed ${seed})`, async (t) => {
    const r = rng(seed);
    // A dictionary with values no row uses, nulls, and a key space much larger than the rows.
    const rows = 500;
    const dictionary = Array.from({ length: 300 }, (_, i) => `k${String(i).padStart(3, '0')}`);
    const codes = Int32Array.from({ length: rows }, () => (r() < 0.1 ? -1 : Math.floor(r() * r() * 300)));
    const dims = [{ codes, dictionary }, { codes: Int32Array.from({ length: rows }, () => Math.floor(r() * 5) - 1), dictionary: ['a', 'b', 'c', 'd'] }];
    const space = new KeySpace(dims);
    const tracked = new DirectGrouper(space, rows / 4, rows);
    const scanned = new DirectGrouper(space, 1e9, 1e9);
    t.ok(tracked.track && !scanned.track);
    const sel = Int32Array.from({ length: chunkRows }, (_, k) => k);
    const gids = new Int32Array(chunkRows);
    for (let bucket = 0; bucket < 4; bucket++) {
      const lo = Math.floor((bucket * rows) / 4);
      const hi = Math.floor(((bucket + 1) * rows) / 4);
      const s = sel.subarray(0, hi - lo).map((_, k) => lo + k);
      const view = (g: DirectGrouper) => {
        g.assign(s, s.length, gids);
        const present = Array.from(g.present()).sort((a, b) => a - b);
        const out = present.map((key) => `${g.code(key, 0)},${g.code(key, 1)}:${g.count(key)}`);
        g.reset();
        t.equal(g.present().length, 0, 'reset forgets every key');
        return out;
      };
      const want = new Map<string, number>();
      for (let i = lo; i < hi; i++) {
        const key = `${dims[0]!.codes[i]},${dims[1]!.codes[i]}`;
        want.set(key, (want.get(key) ?? 0) + 1);
      }
      const expected = [...want].map(([k, c]) => `${k}:${c}`).sort();
      t.same(view(tracked).sort(), expected, `bucket ${bucket}, tracked`);
      t.same(view(scanned).sort(), expected, `bucket ${bucket}, scanned`);
    }
  });

  t.test(`queries over sparse key spaces, hourly buckets and empty segments (seed ${seed})`, async (t) => {
    const r = rng(seed);
    const segs = [randomSegment(r, 400, 3000), segmentFromRows({ start: DAY, end: DAY + 86_400_000, dimensions: ['d', 'e'], metrics: [{ name: 'm', type: 'long' }], rows: [] }), randomSegment(r, 2000, 50)];
    for (const granularity of ['all', 'hour']) {
      for (const filter of [null, { type: 'selector', dimension: 'e', value: 'e3' }, { type: 'selector', dimension: 'e', value: 'nothing' }]) {
        const q = parseQuery({
          ...base,
          queryType: 'groupBy',
          granularity,
          dimensions: ['d', 'e'],
          ...(filter ? { filter } : {}),
          aggregations: [{ type: 'count', name: 'c' }, { type: 'longSum', name: 's', fieldName: 'm' }, { type: 'longMin', name: 'mn', fieldName: 'm' }],
          limitSpec: { type: 'default', limit: 40, columns: [{ dimension: 's', direction: 'descending', dimensionOrder: 'numeric' }, { dimension: 'd', direction: 'ascending' }] },
        });
        // Reference: the same rows one at a time (a scan), grouped and ordered here.
        const rows: { t: number; d: string | null; e: string | null; m: number | null }[] = [];
        for (const s of segs) {
          const d = s.dimensions.get('d')!;
          const e = s.dimensions.get('e')!;
          const m = s.metrics.get('m')!;
          for (let i = 0; i < s.rowCount; i++) {
            const ev = e.codes[i]! < 0 ? null : e.dictionary[e.codes[i]!]!;
            if (filter && ev !== filter.value) continue;
            const mv = m.values[i]!;
            rows.push({ t: granularity === 'hour' ? Math.floor(s.time[i]! / HOUR) * HOUR : DAY, d: d.codes[i]! < 0 ? null : d.dictionary[d.codes[i]!]!, e: ev, m: mv !== mv ? null : mv });
          }
        }
        const groups = new Map<string, { t: number; d: string | null; e: string | null; c: number; s: number | null; mn: number | null }>();
        for (const x of rows) {
          const key = JSON.stringify([x.t, x.d, x.e]);
          let g = groups.get(key);
          if (!g) groups.set(key, (g = { t: x.t, d: x.d, e: x.e, c: 0, s: null, mn: null }));
          g.c++;
          if (x.m !== null) {
            g.s = (g.s ?? 0) + x.m;
            g.mn = g.mn === null ? x.m : Math.min(g.mn, x.m);
          }
        }
        const str = (v: string | null) => (v === null ? '' : `~${v}`); // null first
        const want = [...groups.values()]
          // s descending: Druid orders nulls first ascending, so last descending.
          .sort((a, b) => a.t - b.t || (a.s === null ? (b.s === null ? 0 : 1) : b.s === null ? -1 : b.s - a.s) || (str(a.d) < str(b.d) ? -1 : str(a.d) > str(b.d) ? 1 : 0) || (str(a.e) < str(b.e) ? -1 : str(a.e) > str(b.e) ? 1 : 0))
          .slice(0, 40)
          .map((g) => ({ version: 'v1', timestamp: new Date(g.t).toISOString(), event: { d: g.d, e: g.e, c: g.c, s: g.s, mn: g.mn } }));
        const partials = segs.map((s) => runOnSegment(q, s));
        t.same(answer(q, partials), want, `${granularity}, filter ${JSON.stringify(filter)}: ${want.length} rows`);
      }
    }
  });

  t.test(`merging by pool ids gives what merging by strings gives (seed ${seed})`, async (t) => {
    const r = rng(seed);
    const segs = Array.from({ length: 6 }, (_, i) => randomSegment(r, 300 + Math.floor(r() * 300), 200, DAY));
    const queries = [
      parseQuery({ ...base, queryType: 'groupBy', granularity: 'hour', dimensions: ['d', 'e'], aggregations: [{ type: 'count', name: 'c' }, { type: 'longSum', name: 's', fieldName: 'm' }] }),
      parseQuery({ ...base, queryType: 'topN', granularity: 'all', dimension: 'd', metric: 's', threshold: 5, context: { minTopNThreshold: 20 }, aggregations: [{ type: 'longSum', name: 's', fieldName: 'm' }] }),
    ];
    for (const q of queries) {
      const partials = segs.map((s) => runOnSegment(q, s));
      t.ok(partials.every((p) => pooledIdsOf(p) !== undefined), 'the engine attaches pool ids');
      t.ok(partials.every((p) => !JSON.stringify(p).includes('pool')), 'and they are not part of the JSON');
      const strings = partials.map(viaJson);
      const want = answer(q, strings);
      t.same(answer(q, partials), want, `${q.queryType}: pooled`);
      // Mixed (some partials from the wire), merged in a tree, and the older encoding.
      const mixed = partials.map((p, i) => (i % 2 ? viaJson(p) : p));
      t.same(answer(q, mixed), want, `${q.queryType}: mixed`);
      const left = mergePartials(q, partials.slice(0, 3));
      const right = mergePartials(q, partials.slice(3));
      t.ok(pooledIdsOf(left) !== undefined, 'a merge of pooled partials keeps pool ids');
      // (A topN merge keeps its best values only: a tree is compared with the same tree through JSON.)
      const wantTree = answer(q, [mergePartials(q, strings.slice(0, 3)), mergePartials(q, strings.slice(3))]);
      t.same(answer(q, [left, right]), wantTree, `${q.queryType}: tree of pooled merges`);
      t.same(answer(q, [viaJson(left), right]), wantTree, `${q.queryType}: tree with one side through JSON`);
      t.same(answer(q, partials.map((p) => withoutDicts(p))), want, `${q.queryType}: without dictionaries`);
    }
  });
}

for (const seed of seeds) {
  t.test(`one-dimension groupings counted from the column histogram agree with counting rows (seed ${seed})`, async (t) => {
    const r = rng(seed);
    const seg = randomSegment(r, 4000, 60);
    const aggregations = [{ type: 'count', name: 'c' }, { type: 'longSum', name: 's', fieldName: 'm' }, { type: 'longMin', name: 'mn', fieldName: 'm' }];
    for (const shape of [
      { queryType: 'groupBy', dimensions: ['d'] },
      { queryType: 'topN', dimension: 'e', metric: 'c', threshold: 5, context: { minTopNThreshold: 10 } },
    ]) {
      // The whole segment in one interval (counted from the histogram), and in two (counted per row).
      const whole = parseQuery({ ...base, ...shape, granularity: 'all', aggregations });
      const split = parseQuery({ ...base, ...shape, granularity: 'all', aggregations, intervals: ['2024-01-01T00:00/2024-01-01T07:13', '2024-01-01T07:13/2024-01-02'] });
      t.same(answer(whole, [runOnSegment(whole, seg)]), answer(split, [runOnSegment(split, seg)]), `${shape.queryType}`);
    }
  });

  t.test(`code-table selections, sparse (a branch) or dense (branch-free), select the matching rows (seed ${seed})`, async (t) => {
    const r = rng(seed);
    const seg = randomSegment(r, 3 * chunkRows + 17, 40);
    const e = seg.dimensions.get('e')!;
    for (const values of [['e3'], ['e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7', 'e8', 'e9', 'e10', 'e11', 'e12', 'e13', 'e14', 'e15', 'e16', 'e17', 'e18', 'e19', 'e20'], ['e5', null]]) {
      const q = parseQuery({ ...base, queryType: 'timeseries', granularity: 'hour', filter: { type: 'in', dimension: 'e', values }, aggregations: [{ type: 'count', name: 'c' }, { type: 'longSum', name: 's', fieldName: 'm' }] });
      const want = new Map<number, { c: number; s: number | null }>();
      for (let i = 0; i < seg.rowCount; i++) {
        const v = e.codes[i]! < 0 ? null : e.dictionary[e.codes[i]!]!;
        if (!values.includes(v)) continue;
        const h = Math.floor(seg.time[i]! / HOUR) * HOUR;
        const x = want.get(h) ?? { c: 0, s: null };
        x.c++;
        const m = seg.metrics.get('m')!.values[i]!;
        if (m === m) x.s = (x.s ?? 0) + m;
        want.set(h, x);
      }
      const got = answer(q, [runOnSegment(q, seg)]) as { timestamp: string; result: { c: number; s: number | null } }[];
      const nonEmpty = got.filter((x) => x.result.c > 0).map((x) => [Date.parse(x.timestamp), x.result]);
      t.same(nonEmpty, [...want].sort((a, b) => a[0] - b[0]), `in ${JSON.stringify(values)}: ${[...want.values()].reduce((a, x) => a + x.c, 0)} rows`);
    }
  });
}
