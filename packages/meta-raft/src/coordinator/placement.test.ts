/** Where replicas go (behaviour 4) and the cost function. */
import t from 'tap';
import { DAY_MS, HOUR_MS, NOW, allLoaded, loadForever, makeInput, makeSegments, makeWorker, makeWorkers } from './fixtures.js';
import { plan } from './planner.js';
import { applyPlan } from './simulate.js';
import { resolveConfig } from './config.js';
import { CostIndex } from './cost.js';
import { buildState } from './state.js';

t.test('replicas go to different datacenters when the tier spans several', async (t) => {
  const segments = makeSegments({ count: 12 });
  // dc1 has three workers, dc2 one: by cost alone most pairs would land in dc1.
  const workers = [makeWorker('a1', { dc: 'dc1' }), makeWorker('a2', { dc: 'dc1' }), makeWorker('a3', { dc: 'dc1' }), makeWorker('b1', { dc: 'dc2' })];
  const p = plan(makeInput({ segments, workers }));
  const dcOf = new Map(workers.map((w) => [w.id, w.dc]));
  const byDc = new Map<string, Set<string>>();
  for (const a of p.assign) (byDc.get(a.segmentId) ?? byDc.set(a.segmentId, new Set()).get(a.segmentId)!).add(dcOf.get(a.workerId)!);
  t.ok([...byDc.values()].every((dcs) => dcs.size === 2), 'every segment has a replica in each datacenter');
});

t.test('only live, active workers of the right tier with room and capacity get replicas', async (t) => {
  const segments = makeSegments({ count: 4, size: 10 });
  const workers = [
    makeWorker('cold1', { tier: 'cold' }),
    makeWorker('dead', { tier: 'hot', lastHeartbeatAt: NOW - 10_000 }),
    makeWorker('leaving', { tier: 'hot', state: 'decommissioning' }),
    makeWorker('full', { tier: 'hot', capacityBytes: 15 }),
    makeWorker('busy', { tier: 'hot', loadQueue: ['a', 'b'] }),
    makeWorker('ok1', { tier: 'hot' }),
    makeWorker('ok2', { tier: 'hot' }),
  ];
  const p = plan(makeInput({ segments, workers, defaultRules: [loadForever(3, 'hot')], config: { loadQueueMax: 2 } }));
  const count = (id: string) => p.assign.filter((a) => a.workerId === id).length;
  t.same(['cold1', 'dead', 'leaving', 'busy'].map(count), [0, 0, 0, 0]);
  t.equal(count('full'), 1, 'capacity for one 10-byte segment');
  t.equal(count('ok1'), 2, 'load queue bound');
  t.equal(count('ok2'), 2);
  t.ok(p.stats.replicasDeferred > 0);
});

t.test('a worker never gets two replicas of one segment', async (t) => {
  const segments = makeSegments({ count: 5 });
  const p = plan(makeInput({ segments, workers: makeWorkers(2), defaultRules: [loadForever(3)] }));
  const pairs = new Set(p.assign.map((a) => `${a.segmentId} ${a.workerId}`));
  t.equal(pairs.size, p.assign.length);
  t.equal(p.assign.length, 10, 'two workers: two replicas each');
  t.equal(p.stats.replicasDeferred, 0, 'a tier holds at most one replica per worker: the third is not pending');
});

t.test('the cost spreads nearby intervals of a datasource over the workers', async (t) => {
  const segments = makeSegments({ count: 48, dataSources: ['a', 'b'] });
  const workers = makeWorkers(4);
  const input = makeInput({ segments, workers, defaultRules: [loadForever(1)] });
  const p = plan(input);
  const holder = new Map(p.assign.map((a) => [a.segmentId, a.workerId]));
  for (const ds of ['a', 'b']) {
    const mine = segments.filter((s) => s.dataSource === ds).map((s) => holder.get(s.id)!);
    let adjacentTogether = 0;
    for (let i = 1; i < mine.length; i++) if (mine[i] === mine[i - 1]) adjacentTogether++;
    t.equal(adjacentTogether, 0, `${ds}: consecutive hours never share a worker`);
    const per = new Map<string, number>();
    for (const w of mine) per.set(w, (per.get(w) ?? 0) + 1);
    t.same([...per.values()], [12, 12, 12, 12], `${ds}: 12 hours per worker`);
  }
});

t.test('cost: affinity halves every half-life; the segment itself is left out', async (t) => {
  const segments = makeSegments({ count: 3, intervalMs: DAY_MS, end: NOW });
  const assignments = new Map(segments.map((s) => [s.id, ['w1']]));
  const config = resolveConfig({ costHalfLifeMs: DAY_MS, costFullnessWeight: 4 });
  const input = allLoaded(makeInput({ segments, workers: makeWorkers(2, { capacityBytes: 6_000 }), assignments }));
  const state = buildState(input, config);
  const cost = CostIndex.build(state);
  const mid = (segments[2]!.start + segments[2]!.end) / 2;
  // w1 holds days at distance 0, 1 and 2 half-lives from the newest: 1 + 1/2 + 1/4.
  t.equal(cost.affinity(0, 'events', mid), 1.75);
  t.equal(cost.affinity(0, 'events', mid, true), 0.75, 'holding it: its own term is left out');
  t.equal(cost.affinity(0, 'other', mid), 0, 'other datasources do not count');
  t.equal(cost.affinity(1, 'events', mid), 0);
  t.equal(cost.cost(state.workers[0]!, 'events', mid), 1.75 + 4 * (3_000 / 6_000), 'plus the fullness term');
  t.ok(cost.affinity(0, 'events', mid + 40 * DAY_MS) === 0, 'beyond the window: nothing');
  cost.add(1, 'events', mid + HOUR_MS);
  t.equal(cost.affinity(1, 'events', mid), Math.pow(2, -1 / 24), 'added entries count');
});

t.test('placement prefers the emptier worker when affinities tie', async (t) => {
  const segments = makeSegments({ count: 1 });
  const other = makeSegments({ count: 10, dataSources: ['other'], size: 1_000 });
  const assignments = new Map(other.map((s) => [s.id, ['w1']]));
  const input = allLoaded(makeInput({ segments: [...segments, ...other], workers: makeWorkers(2, { capacityBytes: 100_000 }), assignments, defaultRules: [loadForever(1)] }));
  const p = plan(input);
  t.same(p.assign.map((a) => a.workerId), ['w2']);
  t.same([...applyPlan(input.assignments, p).get(segments[0]!.id)!], ['w2']);
});
