/** Selective replication of hot segments (behaviour 8). */
import t from 'tap';
import { resolveConfig } from './config.js';
import { allLoaded, makeInput, makeSegments, makeWorkers } from './fixtures.js';
import { hotExtra, hotness } from './hot.js';
import { plan } from './planner.js';
import { runUntilStable } from './simulate.js';
import type { PlannerInput } from './types.js';

const config = resolveConfig({ hotFactor: 10, hotMinQueries: 100, hotExtraReplicasMax: 2, hotCoolRatio: 0.5 });

t.test('hotness: the median of the non-zero counts, summed over workers', async (t) => {
  const [w1, w2] = makeWorkers(2).map((w, i) => ({ ...w, queryCounts: new Map(i === 0 ? [['a', 5], ['b', 10], ['z', 0]] : [['a', 5], ['c', 30]]) }));
  const h = hotness([w1!, w2!], config);
  t.equal(h.median, 10, 'a=10, b=10, c=30; z=0 is left out');
  t.equal(h.threshold, 100, 'max(10 x 10, hotMinQueries)');
  t.same([...h.warm.keys()], [], 'nothing reaches half the threshold');
  t.equal(hotness([], config).threshold, Infinity);
});

t.test('extra replicas grow with the ratio to the median, with hysteresis when cooling', async (t) => {
  const h = { median: 10, threshold: 100, warm: new Map<string, number>() };
  t.equal(hotExtra(99, h, config, 0), 0);
  t.equal(hotExtra(100, h, config, 0), 1, '10x the median');
  t.equal(hotExtra(999, h, config, 0), 1);
  t.equal(hotExtra(1_000, h, config, 0), 2, '100x');
  t.equal(hotExtra(1e9, h, config, 0), 2, 'capped by hotExtraReplicasMax');
  t.equal(hotExtra(60, h, config, 1), 1, 'cooling but above half the threshold: keeps its extra');
  t.equal(hotExtra(60, h, config, 0), 0, '... but earns none');
  t.equal(hotExtra(49, h, config, 1), 0, 'below half: loses it');
  t.equal(hotExtra(600, h, config, 2), 2, 'the second extra has the same hysteresis');
  t.equal(hotExtra(400, h, config, 2), 1);
});

function withCounts(input: PlannerInput, counts: Map<string, number>): PlannerInput {
  return { ...input, workers: input.workers.map((w, i) => ({ ...w, queryCounts: i === 0 ? counts : new Map() })) };
}

t.test('a hot segment gains extra replicas and loses them when it cools down', async (t) => {
  const segments = makeSegments({ count: 20 });
  const base = makeInput({ segments, workers: makeWorkers(6), config: { balance: false } });
  const placed = runUntilStable(base, { cyclesMax: 10 });
  t.ok(placed.stable);
  const hotId = segments[7]!.id;
  const counts = new Map(segments.map((s) => [s.id, s.id === hotId ? 2_000 : 10]));
  const heated = withCounts(placed.input, counts);
  const p = plan(heated);
  t.equal(p.stats.hot, 1);
  t.equal(p.stats.queryCountMedian, 10);
  t.same(p.assign.map((a) => [a.segmentId, a.reason]), [[hotId, 'hot'], [hotId, 'hot']], '200x the median: two extras');
  const hot = runUntilStable(heated, { cyclesMax: 10 });
  t.equal(hot.input.assignments.get(hotId)!.length, 4);

  const cooled = withCounts(hot.input, new Map(segments.map((s) => [s.id, 10])));
  const q = plan(cooled);
  t.same(q.unassign.map((u) => [u.segmentId, u.reason]), [[hotId, 'surplus'], [hotId, 'surplus']]);
  const after = runUntilStable(cooled, { cyclesMax: 10 });
  t.ok(after.stable);
  t.equal(after.input.assignments.get(hotId)!.length, 2);
});

t.test('hotMinQueries keeps a quiet cluster from having hot segments', async (t) => {
  const segments = makeSegments({ count: 10 });
  const input = allLoaded(makeInput({ segments, workers: makeWorkers(4), assignments: new Map(segments.map((s) => [s.id, ['w1', 'w2']])) }));
  const counts = new Map(segments.map((s, i) => [s.id, i === 0 ? 50 : 1]));
  const p = plan(withCounts(input, counts));
  t.equal(p.stats.hot, 0, '50x the median but under 100 queries');
  t.same(p.assign.filter((a) => a.reason === 'hot'), []);
});

t.test('extra replicas are throttled like any other', async (t) => {
  const segments = makeSegments({ count: 10 });
  const input = allLoaded(makeInput({ segments, workers: makeWorkers(5), assignments: new Map(segments.map((s) => [s.id, ['w1', 'w2']])), config: { replicationThrottleLimit: 3, balance: false } }));
  const counts = new Map(segments.map((s, i) => [s.id, i < 4 ? 5_000 : 10]));
  const p = plan(withCounts(input, counts));
  t.equal(p.stats.hot, 4);
  t.equal(p.assign.length, 3);
  t.equal(p.stats.replicasDeferred, 5);
});
