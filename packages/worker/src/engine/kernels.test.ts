/**
 * Kernels, fused loops and groupers against the function tables: for every aggregator and every
 * way of grouping, the states equal those of `aggregatorFunctions(spec).update` row by row.
 */
import { aggregatorFunctions, parseQuery, type Aggregator } from '@cairn/shared';
import t from 'tap';
import { Columns } from './columns.js';
import { chunkRows } from './execution.js';
import { FusedLoop, specializeRowsMin, splitFusable } from './fused.js';
import { DirectGrouper, KeySpace, makeGrouper, MappedGrouper, type Grouper } from './grouping.js';
import { makeKernel } from './kernels.js';
import { randomExactAggregator } from './test-support/gen.js';
import { Rng } from './test-support/rng.js';
import { randomTable, segmentOf } from './test-support/table.js';

const seed = Number(process.env['CAIRN_SEED'] ?? 99);

function normalized(raw: unknown): Aggregator {
  return (parseQuery({ queryType: 'timeseries', dataSource: 'x', intervals: ['1000/3000'], granularity: 'all', aggregations: [raw] }) as { aggregations: Aggregator[] }).aggregations[0]!;
}

t.test('kernels (scalar, grouped and fused) equal the function tables', async (t) => {
  t.comment(`seed ${seed}`);
  const rng = new Rng(seed);
  const table = randomTable(rng, 2000);
  const segment = segmentOf(table, table.rows, table.start, table.end);
  const columns = new Columns(segment);
  const specs: Aggregator[] = [
    ...Array.from({ length: 40 }, (_, i) => normalized(randomExactAggregator(rng, table, `a${i}`).json)),
    normalized({ type: 'cardinality', name: 'u', fields: ['b', 'c'] }),
    normalized({ type: 'cardinality', name: 'u', fields: ['a', 'b'], byRow: true }),
    normalized({ type: 'cardinality', name: 'u', fields: ['l'] }),
    normalized({ type: 'hyperUnique', name: 'u', fieldName: 'missing' }),
    normalized({ type: 'quantilesDoublesSketch', name: 'q', fieldName: 'd', k: 16 }),
    normalized({ type: 'doubleSum', name: 's', fieldName: 'n' }),
    normalized({ type: 'longMax', name: 's', fieldName: '__time' }),
  ];
  // A random selection of rows, and a random group (0..6) for each; group 7 holds only rows
  // whose metrics are null, so "no non-null value" states are exercised too.
  const G = 8;
  const sel = new Int32Array(chunkRows);
  const gids = new Int32Array(chunkRows);
  let n = 0;
  const metrics = ['l', 'd'].map((m) => segment.metrics.get(m)!.values);
  for (let i = 0; i < segment.rowCount; i++) {
    const allNull = metrics.every((v) => Number.isNaN(v[i]!));
    if (allNull || rng.chance(0.7)) {
      sel[n] = i;
      gids[n] = allNull ? 7 : rng.int(0, 7);
      n++;
    }
  }
  for (const spec of specs) {
    const f = aggregatorFunctions(spec);
    const want = Array.from({ length: G }, () => f.init());
    let all = f.init();
    for (let k = 0; k < n; k++) {
      want[gids[k]!] = f.update(want[gids[k]!], segment, sel[k]!);
      all = f.update(all, segment, sel[k]!);
    }
    // Infinities spelled out: JSON would print them as null and hide a missing-null bug.
    const canon = (s: unknown) => JSON.stringify(f.toJSON(s), (_k, x) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x));
    const close = (a: string, b: string) => {
      if (a === b) return true;
      const x = Number(a);
      const y = Number(b);
      return Number.isFinite(x) && Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(y));
    };
    const label = JSON.stringify(spec);
    const scalar = makeKernel(spec, columns);
    scalar.ensure(1);
    scalar.updateOne(sel.subarray(0, n), n);
    if (spec.type === 'quantilesDoublesSketch') {
      t.equal(f.finalize(scalar.state(0)), f.finalize(all), `${label} scalar count`);
    } else if (!close(canon(scalar.state(0)), canon(all))) t.fail(`${label} scalar: ${canon(scalar.state(0))} vs ${canon(all)}`);
    const grouped = makeKernel(spec, columns);
    grouped.ensure(G);
    grouped.updateMany(sel, gids, n);
    for (let g = 0; g < G; g++) {
      if (spec.type === 'quantilesDoublesSketch') continue;
      if (!close(canon(grouped.state(g)), canon(want[g]))) t.fail(`${label} group ${g}: ${canon(grouped.state(g))} vs ${canon(want[g])}`);
    }
    const { fused } = splitFusable([makeKernel(spec, columns)]);
    // Twice: the loop shared by every segment, and the one compiled for a large segment alone.
    for (const rows of fused.length === 1 ? [0, specializeRowsMin] : []) {
      const k = makeKernel(spec, columns);
      k.ensure(G);
      new FusedLoop([k], { type: 'gids' }, rows).run(0, 0, sel, n, gids);
      for (let g = 0; g < G; g++) if (!close(canon(k.state(g)), canon(want[g]))) t.fail(`${label} fused (rows ${rows}) group ${g}`);
    }
    if (fused.length === 1) {
      const k = fused[0]!;
      k.ensure(G);
      new FusedLoop([k], { type: 'gids' }).run(0, 0, sel, n, gids);
      for (let g = 0; g < G; g++) if (!close(canon(k.state(g)), canon(want[g]))) t.fail(`${label} fused group ${g}`);
      const one = makeKernel(spec, columns);
      one.ensure(1);
      new FusedLoop([one], { type: 'one' }).run(0, 0, sel, n, null);
      if (!close(canon(one.state(0)), canon(all))) t.fail(`${label} fused scalar`);
      const range = makeKernel(spec, columns);
      range.ensure(1);
      new FusedLoop([range], { type: 'one' }).run(0, segment.rowCount, null, segment.rowCount, null);
      let every = f.init();
      for (let i = 0; i < segment.rowCount; i++) every = f.update(every, segment, i);
      if (!close(canon(range.state(0)), canon(every))) t.fail(`${label} fused range`);
    }
    grouped.reset(G);
    if (canon(grouped.state(3)) !== canon(f.init())) t.fail(`${label} reset`);
  }
  t.pass(`${specs.length} aggregators`);
});

t.test('every grouper finds the same groups', async (t) => {
  const rng = new Rng(seed + 1);
  const dims = [5, 40, 3000].map((card) => {
    const dictionary = Array.from({ length: card }, (_, i) => `v${i}`).sort();
    const codes = Int32Array.from({ length: 20_000 }, () => (rng.chance(0.05) ? -1 : rng.int(0, card)));
    return { codes, dictionary };
  });
  const sel = Int32Array.from({ length: chunkRows }, (_, i) => i * 1);
  const reference = (d: typeof dims) => {
    const m = new Map<string, number>();
    for (let i = 0; i < chunkRows; i++) {
      const key = d.map((x) => x.codes[i]).join(',');
      m.set(key, (m.get(key) ?? 0) + 1);
    }
    return m;
  };
  const observed = (grouper: Grouper, d: typeof dims) => {
    const gids = new Int32Array(chunkRows);
    grouper.assign(sel, chunkRows, gids);
    const m = new Map<string, number>();
    for (const g of grouper.present()) m.set(d.map((_, i) => grouper.code(g, i)).join(','), grouper.count(g));
    for (let k = 0; k < chunkRows; k++) {
      const key = d.map((x) => x.codes[sel[k]!]).join(',');
      if (d.map((_, i) => grouper.code(gids[k]!, i)).join(',') !== key) t.fail(`row ${k} in the wrong group`);
    }
    grouper.reset();
    if (grouper.present().length !== 0) t.fail('reset keeps groups');
    return m;
  };
  for (const d of [[dims[0]!], [dims[0]!, dims[1]!], dims, [dims[2]!, dims[2]!, dims[1]!], [dims[2]!, dims[2]!, dims[2]!, dims[2]!, dims[2]!]]) {
    const want = reference(d);
    const direct = makeGrouper(d, 1e9);
    const mapped = new MappedGrouper(new KeySpace(d));
    t.equal(direct instanceof DirectGrouper, d.reduce((p, x) => p * (x.dictionary.length + 1), 1) <= 1 << 20, `${d.length} dimensions: direct when small`);
    t.same(observed(direct, d), want);
    t.same(observed(mapped, d), want, `mapped (${d.reduce((p, x) => p * (x.dictionary.length + 1), 1)} keys)`);
  }
});
