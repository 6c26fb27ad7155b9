/** Availability before redundancy, and what counts as a replica (behaviours 2 and 3). */
import t from 'tap';
import { NOW, allLoaded, loadForever, makeInput, makeSegments, makeWorker, makeWorkers } from './fixtures.js';
import { resolveConfig } from './config.js';
import { plan } from './planner.js';
import { buildState } from './state.js';
import type { Plan } from './types.js';

const reasons = (p: Plan) => ({ ...p.stats.assignsByReason, ...Object.fromEntries(Object.entries(p.stats.unassignsByReason).map(([k, v]) => [`-${k}`, v])) });
const to = (p: Plan, workerId: string) => p.assign.filter((a) => a.workerId === workerId).length;

t.test('every unavailable segment gets a replica first, beyond the replication throttle', async (t) => {
  const segments = makeSegments({ count: 30 });
  const p = plan(makeInput({ segments, workers: makeWorkers(3), config: { replicationThrottleLimit: 5 } }));
  t.same(reasons(p), { unavailable: 30, 'under-replicated': 5 });
  t.equal(p.stats.unavailable, 30);
  t.equal(p.stats.replicasDeferred, 25, 'the other 25 second replicas wait for later cycles');
  const placed = new Set(p.assign.filter((a) => a.reason === 'unavailable').map((a) => a.segmentId));
  t.equal(placed.size, 30, 'one replica for each segment');
});

t.test('availability respects load queues: the newest segments go first', async (t) => {
  const segments = makeSegments({ count: 30 });
  const workers = makeWorkers(3).map((w, i) => (i === 0 ? { ...w, loadQueue: new Set(['x', 'y']) } : w));
  const p = plan(makeInput({ segments, workers, config: { loadQueueMax: 4 } }));
  t.equal(to(p, 'w1'), 2, 'w1 already has two in its queue');
  t.equal(to(p, 'w2'), 4);
  t.equal(to(p, 'w3'), 4);
  t.same(reasons(p), { unavailable: 10 }, 'no queue room is left for second replicas');
  t.equal(p.stats.unavailableUnplaced, 20);
  const placed = new Set(p.assign.map((a) => a.segmentId));
  t.same([...placed].sort(), segments.slice(20).map((s) => s.id).sort(), 'the ten newest');
  t.same(p.stats.workers.map((w) => w.loadQueue), [4, 4, 4], 'projected queues');
});

t.test('availability respects capacity', async (t) => {
  const segments = makeSegments({ count: 10, size: 100 });
  const p = plan(makeInput({ segments, workers: makeWorkers(2, { capacityBytes: 250 }) }));
  t.equal(to(p, 'w1'), 2);
  t.equal(to(p, 'w2'), 2);
  t.equal(p.stats.unavailableUnplaced, 6);
  t.ok(p.stats.workers.every((w) => w.bytes <= 250));
});

t.test('a replica counts when loaded or still loading on a live worker', async (t) => {
  const segments = makeSegments({ count: 1 });
  const id = segments[0]!.id;
  const workers = [makeWorker('w1', { loaded: [id] }), makeWorker('w2', { loadQueue: [id] }), makeWorker('w3'), makeWorker('w4')];
  const p = plan(makeInput({ segments, workers, assignments: new Map([[id, ['w1', 'w2']]]) }));
  t.same(p.assign, [], 'the loading replica is present: nothing to add');
  t.same(p.unassign, []);
  t.equal(p.stats.underReplicated, 1, 'but only one replica is loaded');
  t.equal(p.stats.unavailable, 0);
});

t.test('a segment only loading somewhere is unavailable but gets no second first replica', async (t) => {
  const segments = makeSegments({ count: 1 });
  const id = segments[0]!.id;
  const workers = [makeWorker('w1', { loadQueue: [id] }), makeWorker('w2'), makeWorker('w3')];
  const p = plan(makeInput({ segments, workers, assignments: new Map([[id, ['w1']]]) }));
  t.equal(p.stats.unavailable, 1);
  t.same(reasons(p), { 'under-replicated': 1 }, 'only the missing second replica');
});

t.test('a down worker in its grace period keeps its assignments; sole copies get a replica elsewhere', async (t) => {
  const segments = makeSegments({ count: 4 });
  const [a, b, c, d] = segments.map((s) => s.id) as [string, string, string, string];
  const assignments = new Map([
    [a, ['w1', 'w2']],
    [b, ['w1', 'w3']],
    [c, ['w1']], // under-replicated already, its only copy on the down worker
    [d, ['w2', 'w3']],
  ]);
  const input = allLoaded(makeInput({ segments, workers: makeWorkers(3), assignments }));
  const down = { ...input, workers: input.workers.map((w) => (w.id === 'w1' ? { ...w, lastHeartbeatAt: NOW - 20_000 } : w)) };
  const p = plan(down);
  t.same(p.unassign, [], 'nothing is taken from w1 during its grace period');
  t.same(
    p.assign.map((x) => [x.segmentId, x.reason]),
    [[c, 'unavailable']],
    'only the segment with no live replica gets one, and no re-replication for the others',
  );
  t.same(p.stats.workers.find((w) => w.id === 'w1')?.health, 'grace');
  t.equal(p.stats.unavailable, 1);
});

t.test('after the grace period the down worker loses its assignments, re-replicated the same cycle', async (t) => {
  const segments = makeSegments({ count: 3 });
  const assignments = new Map(segments.map((s) => [s.id, ['w1', 'w2']]));
  const input = allLoaded(makeInput({ segments, workers: makeWorkers(3), assignments }));
  const gone = { ...input, downSince: new Map([['w1', NOW - 60_000]]) };
  const p = plan(gone);
  t.same(reasons(p), { 'under-replicated': 3, '-worker-gone': 3 });
  t.ok(p.assign.every((a) => a.workerId === 'w3'));
  t.same(p.stats.workers.find((w) => w.id === 'w1')?.health, 'gone');
  const within = plan({ ...input, downSince: new Map([['w1', NOW - 59_999]]) });
  t.same(within.unassign, [], 'one millisecond earlier it is still in grace');
});

t.test('a worker never heard from is in grace until the driver says since when', async (t) => {
  const segments = makeSegments({ count: 2 });
  const assignments = new Map(segments.map((s) => [s.id, ['w1', 'w2']]));
  const input = allLoaded(makeInput({ segments, workers: makeWorkers(3), assignments }));
  const silent = { ...input, workers: input.workers.map((w) => (w.id === 'w1' ? { ...w, lastHeartbeatAt: null } : w)) };
  t.same(plan(silent).unassign, []);
  t.equal(plan({ ...silent, downSince: new Map([['w1', NOW - 120_000]]) }).unassign.length, 2);
});

t.test('a replica on an unregistered worker counts for nothing and is never named', async (t) => {
  const segments = makeSegments({ count: 1 });
  const id = segments[0]!.id;
  const input = allLoaded(makeInput({ segments, workers: makeWorkers(3), assignments: new Map([[id, ['w1']]]) }));
  const p = plan({ ...input, assignments: new Map([[id, ['ghost', 'w1']]]) });
  t.same(p.unassign, [], 'the catalog would refuse a command naming it');
  t.same(p.assign.map((a) => a.reason), ['under-replicated'], 'the ghost replica does not count');
});

t.test('the steady state decides nothing', async (t) => {
  const segments = makeSegments({ count: 20, dataSources: ['a', 'b'] });
  const workers = makeWorkers(4, { dcs: 2 });
  const first = plan(makeInput({ segments, workers }));
  const assignments = new Map<string, string[]>();
  for (const a of first.assign) (assignments.get(a.segmentId) ?? assignments.set(a.segmentId, []).get(a.segmentId)!).push(a.workerId);
  const p = plan(allLoaded(makeInput({ segments, workers, assignments })));
  t.same(p.assign, []);
  t.same(p.unassign, []);
  t.same([p.stats.unavailable, p.stats.underReplicated, p.stats.loads, p.stats.drops], [0, 0, 0, 0]);
});

t.test('changesMax cuts a cycle short, availability first', async (t) => {
  const segments = makeSegments({ count: 30 });
  const stale = makeSegments({ count: 5, dataSources: ['gone'] });
  const assignments = new Map(stale.map((s) => [s.id, ['w1']]));
  const p = plan(makeInput({ segments, workers: makeWorkers(3), assignments, config: { changesMax: 10 } }));
  t.equal(p.assign.length, 10);
  t.ok(p.assign.every((a) => a.reason === 'unavailable'));
  t.same(p.unassign, [], 'the drops of unused segments wait');
  t.equal(p.stats.truncated, true);
  t.equal(p.stats.unavailableUnplaced, 20);
});

t.test('a bad config value is refused with its name', async (t) => {
  t.throws(() => plan(makeInput({ config: { loadQueueMax: -1 } })), /config\.loadQueueMax/);
  t.throws(() => plan(makeInput({ config: { hotFactor: 1 } })), /config\.hotFactor/);
  t.throws(() => plan(makeInput({ config: { balanceThresholdRatio: Number.NaN } })), /config\.balanceThresholdRatio/);
});

t.test('segments no worker could take stay off the work list, and count as unavailable and unplaced', async (t) => {
  const segments = makeSegments({ count: 40, dataSources: ['a', 'b'] });
  const none = makeInput({ segments });
  const state = buildState(none, resolveConfig(none.config));
  t.same(state.work, [], 'no workers at all: nothing to decide for any segment');
  t.equal(state.counts.unplaceable, 80);
  const p = plan(none);
  t.same([p.assign.length, p.unassign.length, p.stats.unavailable, p.stats.unavailableUnplaced], [0, 0, 80, 80]);

  // A rule naming a tier without members: its segments settle; the default tier's are placed.
  const input = makeInput({ segments, workers: makeWorkers(2), rules: { a: [loadForever(1, 'cold')] } });
  const mixed = buildState(input, resolveConfig(input.config));
  t.equal(mixed.counts.unplaceable, 40, "datasource a's segments want only the empty tier");
  t.equal(mixed.work.length, 40, "b's segments are worked on");
  const q = plan(input);
  t.equal(q.stats.unavailableUnplaced, 40);
  t.equal(new Set(q.assign.filter((x) => x.reason === 'unavailable').map((x) => x.segmentId)).size, 40);
  t.ok(q.assign.every((x) => x.segmentId.startsWith('b_')), 'only b is placed');
});
