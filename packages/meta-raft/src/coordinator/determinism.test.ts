/** The same input gives the same plan, in whatever order its collections come (behaviour 10). */
import t from 'tap';
import { Prng } from '../core/prng.js';
import { NOW, allLoaded, loadForever, makeInput, makeSegments, makeWorker, rule } from './fixtures.js';
import { plan } from './planner.js';
import type { PlannerInput } from './types.js';

/** A busy cluster: two tiers, three datacenters, a down worker, a decommissioning one, hot and unused and overshadowed segments. */
function busy(): PlannerInput {
  const rnd = new Prng(7);
  const segments = [
    ...makeSegments({ count: 120, dataSources: ['a', 'b', 'c'], size: 5_000 }),
    ...makeSegments({ count: 10, dataSources: ['a'], version: 'v2', size: 5_000 }),
  ];
  const workers = [
    ...Array.from({ length: 8 }, (_, i) => makeWorker(`h${i}`, { tier: 'hot', dc: `dc${i % 3}`, capacityBytes: 600_000 })),
    ...Array.from({ length: 4 }, (_, i) => makeWorker(`c${i}`, { tier: 'cold', dc: `dc${i % 2}`, capacityBytes: 2_000_000 })),
  ];
  const ids = workers.map((w) => w.id);
  const assignments = new Map<string, string[]>();
  for (const s of segments) if (rnd.chance(0.8)) assignments.set(s.id, rnd.shuffle(ids).slice(0, rnd.between(1, 3)));
  assignments.set('a_unused_segment', ['h1', 'c2']);
  let input = allLoaded(makeInput({ segments, workers, assignments, config: { replicationThrottleLimit: 40, maxSegmentsToMove: 10, loadQueueMax: 15 } }));
  input = {
    ...input,
    rules: { a: [rule({ type: 'loadByPeriod', period: 'P2D', tieredReplicants: { hot: 2, cold: 1 } }), rule({ type: 'loadForever', tieredReplicants: { cold: 1 } })] },
    defaultRules: [loadForever(2, 'hot')],
    workers: input.workers.map((w, i) => ({
      ...w,
      state: w.id === 'h3' ? ('decommissioning' as const) : w.state,
      lastHeartbeatAt: w.id === 'h5' ? NOW - 30_000 : w.lastHeartbeatAt,
      // Some loads still in flight, and query counts with a few hot segments.
      loaded: new Set([...w.loaded].filter(() => rnd.chance(0.9))),
      queryCounts: new Map(segments.filter(() => rnd.chance(0.3)).map((s, k) => [s.id, k % 17 === i ? 5_000 : rnd.between(1, 40)])),
    })),
  };
  return input;
}

/** The same input with every collection in another order (and fresh copies of everything). */
function shuffled(input: PlannerInput, seed: number): PlannerInput {
  const rnd = new Prng(seed);
  return {
    ...input,
    segments: rnd.shuffle(input.segments).map((s) => ({ ...s })),
    workers: rnd.shuffle(input.workers).map((w) => ({
      ...w,
      loaded: new Set(rnd.shuffle([...w.loaded])),
      loadQueue: new Set(rnd.shuffle([...w.loadQueue])),
      queryCounts: new Map(rnd.shuffle([...w.queryCounts])),
    })),
    assignments: new Map(rnd.shuffle([...input.assignments]).map(([id, ws]) => [id, rnd.shuffle(ws)])),
    rules: Object.fromEntries(rnd.shuffle(Object.entries(input.rules))),
  };
}

t.test('the same input, shuffled, gives the same plan', async (t) => {
  const input = busy();
  const expected = plan(input);
  t.ok(expected.assign.length > 20 && expected.unassign.length > 5, `a plan with work in it: ${JSON.stringify(expected.stats.assignsByReason)} ${JSON.stringify(expected.stats.unassignsByReason)}`);
  t.ok(expected.stats.hot > 0 && expected.stats.overshadowed > 0);
  t.same(plan(input), expected, 'twice the same');
  for (const seed of [1, 2, 3, 4, 5]) t.same(plan(shuffled(input, seed)), expected, `shuffled with seed ${seed}`);
});

t.test('the input is not modified', async (t) => {
  const input = busy();
  const before = JSON.stringify([...input.assignments]) + JSON.stringify(input.workers.map((w) => [w.id, [...w.loaded]]));
  plan(input);
  t.equal(JSON.stringify([...input.assignments]) + JSON.stringify(input.workers.map((w) => [w.id, [...w.loaded]])), before);
});

t.test('balancing moves are the same in any order too', async (t) => {
  const segments = makeSegments({ count: 90, dataSources: ['a', 'b'], size: 1_000 });
  const trio = ['w1', 'w2', 'w3'];
  const assignments = new Map(segments.map((s, i) => [s.id, [trio[i % 3]!, trio[(i + 1) % 3]!]]));
  const workers = ['w1', 'w2', 'w3', 'w4', 'w5'].map((id, i) => makeWorker(id, { dc: `dc${i % 2}`, capacityBytes: 1_000_000 }));
  const input = allLoaded(makeInput({ segments, workers, assignments, config: { maxSegmentsToMove: 12 } }));
  const expected = plan(input);
  t.equal(expected.stats.moves, 12);
  for (const seed of [11, 12, 13]) t.same(plan(shuffled(input, seed)), expected, `shuffled with seed ${seed}`);
});
