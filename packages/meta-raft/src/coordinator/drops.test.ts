/** Drops after loads (behaviour 5) and decommissioning (behaviour 6). */
import t from 'tap';
import { segmentId } from '@cairn/shared';
import { DAY_MS, NOW, allLoaded, loadForever, makeInput, makeSegments, makeWorker, makeWorkers, rule } from './fixtures.js';
import { plan } from './planner.js';
import { nextCycle, runUntilStable } from './simulate.js';
import type { Plan, PlannerInput } from './types.js';

const summary = (p: Plan) => [...p.assign.map((a) => `+${a.workerId}:${a.reason}`), ...p.unassign.map((u) => `-${u.workerId}:${u.reason}`)];

t.test('unused segments are dropped', async (t) => {
  const [used, unused] = makeSegments({ count: 2 }) as [ReturnType<typeof makeSegments>[0], ReturnType<typeof makeSegments>[0]];
  const assignments = new Map([
    [used.id, ['w1', 'w2']],
    [unused.id, ['w1', 'w2']],
  ]);
  const p = plan(allLoaded(makeInput({ segments: [used], workers: makeWorkers(2), assignments })));
  t.same(p.unassign, [
    { segmentId: unused.id, workerId: 'w1', reason: 'drop-unused' },
    { segmentId: unused.id, workerId: 'w2', reason: 'drop-unused' },
  ]);
  t.same(p.assign, []);
  t.same(p.stats.workers.map((w) => w.segments), [1, 1]);
});

t.test('overshadowed segments are dropped, computed or given', async (t) => {
  const v1 = makeSegments({ count: 2, version: 'v1' });
  const v2 = makeSegments({ count: 1, version: 'v2' }); // covers the newer hour only
  const segments = [...v1, ...v2];
  const assignments = new Map(segments.map((s) => [s.id, ['w1', 'w2']]));
  const input = allLoaded(makeInput({ segments, workers: makeWorkers(2), assignments }));
  for (const [name, given] of [['computed', undefined], ['given', new Set([v1[1]!.id])]] as const) {
    const p = plan({ ...input, overshadowed: given });
    t.same(
      p.unassign.map((u) => [u.segmentId, u.reason]),
      [
        [v1[1]!.id, 'drop-overshadowed'],
        [v1[1]!.id, 'drop-overshadowed'],
      ],
      name,
    );
    t.equal(p.stats.overshadowed, 1);
  }
});

t.test('an incomplete newer version overshadows nothing', async (t) => {
  const v1 = makeSegments({ count: 1, version: 'v1' });
  const s = { dataSource: 'events', start: v1[0]!.start, end: v1[0]!.end, version: 'v2', partition: 0, partitions: 2, size: 1 };
  const segments = [...v1, { id: segmentId(s), ...s }];
  const p = plan(allLoaded(makeInput({ segments, workers: makeWorkers(2), assignments: new Map(segments.map((x) => [x.id, ['w1', 'w2']])) })));
  t.same(p.unassign, []);
});

t.test('a surplus replica goes only once the replicas that stay are loaded', async (t) => {
  const segments = makeSegments({ count: 1 });
  const id = segments[0]!.id;
  // w1 is the fullest (smallest capacity): it is the surplus victim; w3 is still loading.
  const workers = [makeWorker('w1', { loaded: [id], capacityBytes: 2_000 }), makeWorker('w2', { loaded: [id] }), makeWorker('w3', { loadQueue: [id] })];
  const input = makeInput({ segments, workers, assignments: new Map([[id, ['w1', 'w2', 'w3']]]), defaultRules: [loadForever(2)] });
  t.same(summary(plan(input)), [], 'w3 is still loading: w1 stays');
  const loaded = allLoaded(input);
  t.same(summary(plan(loaded)), ['-w1:surplus'], 'once w3 has it, the fullest worker drops it');
});

t.test('lowering a rule drops the surplus, never below what the rule wants', async (t) => {
  const segments = makeSegments({ count: 10 });
  const input = makeInput({ segments, workers: makeWorkers(4), defaultRules: [loadForever(3)] });
  const three = runUntilStable(input, { cyclesMax: 10 });
  t.ok(three.stable);
  const lowered = { ...three.input, defaultRules: [loadForever(1)] };
  const p = plan(lowered);
  t.equal(p.unassign.length, 20);
  t.ok(p.unassign.every((u) => u.reason === 'surplus'));
  const after = runUntilStable(lowered, { cyclesMax: 10 });
  t.ok(after.stable);
  t.ok([...after.input.assignments.values()].every((ws) => ws.length === 1));
});

t.test('moving to another tier: the old tier is emptied once the new one is loaded', async (t) => {
  const segments = makeSegments({ count: 4 });
  const workers = [...makeWorkers(2, { tier: 'hot' }), makeWorker('c1', { tier: 'cold' }), makeWorker('c2', { tier: 'cold' })];
  const onHot = allLoaded(makeInput({ segments, workers, assignments: new Map(segments.map((s) => [s.id, ['w1', 'w2']])), defaultRules: [loadForever(2, 'hot')] }));
  const toCold = { ...onHot, defaultRules: [loadForever(1, 'cold')] };
  const first = plan(toCold);
  t.equal(first.assign.length, 4);
  t.ok(first.assign.every((a) => a.workerId.startsWith('c') && a.reason === 'under-replicated'));
  t.same(first.unassign, [], 'hot copies stay while the cold ones load');
  const second = plan(nextCycle(toCold, first));
  t.same(second.unassign, [], 'still loading');
  const third = plan(nextCycle(nextCycle(toCold, first), second));
  t.equal(third.unassign.length, 8);
  t.ok(third.unassign.every((u) => u.reason === 'drop-tier' && u.workerId.startsWith('w')));
});

t.test('drop rules drop at once', async (t) => {
  const segments = makeSegments({ count: 3, intervalMs: DAY_MS });
  const assignments = new Map(segments.map((s) => [s.id, ['w1', 'w2']]));
  const input = allLoaded(makeInput({ segments, workers: makeWorkers(2), assignments, defaultRules: [rule({ type: 'loadByPeriod', period: 'P1D', tieredReplicants: { _default_tier: 2 } })] }));
  const p = plan(input);
  t.same(p.unassign.map((u) => u.reason), ['drop-rule', 'drop-rule', 'drop-rule', 'drop-rule'], 'the two older days');
});

t.test('decommissioning: replicas move off, throttled, and the worker drains', async (t) => {
  const segments = makeSegments({ count: 40 });
  const assignments = new Map(segments.map((s, i) => [s.id, i % 2 === 0 ? ['w1', 'w2'] : ['w1', 'w3']]));
  const workers = makeWorkers(4);
  const input: PlannerInput = allLoaded(makeInput({ segments, workers, assignments, config: { replicationThrottleLimit: 15, balance: false } }));
  const leaving = { ...input, workers: input.workers.map((w) => (w.id === 'w1' ? { ...w, state: 'decommissioning' as const } : w)) };
  const first = plan(leaving);
  t.equal(first.assign.length, 15, 'replacements are throttled');
  t.ok(first.assign.every((a) => a.reason === 'decommission' && a.workerId !== 'w1'));
  t.same(first.unassign, [], 'w1 keeps every copy until its replacement is loaded');
  t.same(first.stats.drained, []);
  let drainedAt = -1;
  const run = runUntilStable(leaving, {
    cyclesMax: 20,
    check: (p, at) => {
      const w1 = p.stats.workers.find((w) => w.id === 'w1')!;
      if (w1.drained && drainedAt < 0) drainedAt = at.now;
      for (const u of p.unassign) {
        t.equal(u.reason, 'decommission');
        const others = (at.assignments.get(u.segmentId) ?? []).filter((w) => w !== 'w1');
        const loaded = others.filter((w) => at.workers.find((x) => x.id === w)!.loaded.has(u.segmentId));
        if (loaded.length < 2) t.fail(`${u.segmentId} dropped from w1 with ${loaded.length} loaded replacements`);
      }
    },
  });
  t.ok(run.stable, `stable after ${run.plans.length} cycles`);
  t.ok(drainedAt > 0, 'reported drained');
  t.same(plan(run.input).stats.drained, ['w1']);
  t.ok([...run.input.assignments.values()].every((ws) => ws.length === 2 && !ws.includes('w1')));
});

t.test('a decommissioning worker with nowhere to move keeps serving', async (t) => {
  const segments = makeSegments({ count: 3 });
  const assignments = new Map(segments.map((s) => [s.id, ['w1', 'w2']]));
  const input = allLoaded(makeInput({ segments, workers: makeWorkers(2), assignments }));
  const leaving = { ...input, workers: input.workers.map((w) => ({ ...w, state: 'decommissioning' as const })) };
  const p = plan(leaving);
  t.same(summary(p), []);
  t.same(p.stats.drained, []);
});
