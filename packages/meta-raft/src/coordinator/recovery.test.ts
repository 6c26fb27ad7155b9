/** Recovery after losing two of three workers: load queues bound every cycle, and all becomes available (behaviour 9). */
import t, { type Test } from 'tap';
import { NOW, allLoaded, makeInput, makeSegments, makeWorker, makeWorkers } from './fixtures.js';
import { nextCycle } from './simulate.js';
import { plan } from './planner.js';
import type { Plan, PlannerInput } from './types.js';

const loadQueueMax = 20;

/** New assignments per worker plus what it still had to load must stay within loadQueueMax. */
function checkQueues(t: Test, p: Plan, input: PlannerInput): void {
  for (const w of input.workers) {
    const fresh = p.assign.filter((a) => a.workerId === w.id).length;
    if (fresh === 0) continue;
    let pending = w.loadQueue.size;
    for (const [id, ws] of input.assignments) if (ws.includes(w.id) && !w.loaded.has(id) && !w.loadQueue.has(id)) pending++;
    if (pending + fresh > loadQueueMax) t.fail(`${w.id}: ${pending} queued + ${fresh} new > ${loadQueueMax}`);
  }
}

t.test('losing two of three workers: bounded queues, then everything available again', async (t) => {
  const segments = makeSegments({ count: 150, dataSources: ['a', 'b'] });
  const trio = ['w1', 'w2', 'w3'];
  const assignments = new Map(segments.map((s, i) => [s.id, [trio[i % 3]!, trio[(i + 1) % 3]!].sort()]));
  const healthy = allLoaded(makeInput({ segments, workers: makeWorkers(3), assignments, config: { loadQueueMax, gracePeriodMs: 10_000 } }));
  const down = new Set(['w2', 'w3']);
  // Six seconds on, w2 and w3 have been silent since NOW: down, in their grace period.
  const now = NOW + 6_000;
  let input: PlannerInput = { ...healthy, now, workers: healthy.workers.map((w) => (down.has(w.id) ? w : { ...w, lastHeartbeatAt: now })) };
  const w1Only = segments.filter((s, i) => i % 3 === 1).length; // [w2, w3]: no live copy
  let first: Plan | null = null;
  let cycles = 0;
  for (; cycles < 100; cycles++) {
    const p = plan(input);
    first ??= p;
    checkQueues(t, p, input);
    if (p.stats.unavailable === 0 && p.assign.length === 0 && p.unassign.length === 0) break;
    input = nextCycle(input, p, { down, loadsPerWorkerMax: 7 });
  }
  t.equal(first!.stats.unavailable, w1Only, `${w1Only} segments had both copies on the lost workers`);
  t.equal(first!.assign.length, loadQueueMax, 'the first cycle fills w1 queue and no more');
  t.ok(first!.assign.every((a) => a.reason === 'unavailable' && a.workerId === 'w1'));
  t.same(first!.unassign, [], 'nothing taken from the down workers during grace');
  const last = plan(input);
  t.equal(last.stats.unavailable, 0, `everything available after ${cycles} cycles`);
  t.equal(last.stats.workers.find((w) => w.id === 'w1')!.segments, 300, 'w1 holds every segment');
  t.equal(last.stats.workers.find((w) => w.id === 'w2')!.health, 'gone');
  t.equal(last.stats.underReplicated, 300, 'one live worker: every segment short of its second replica');

  // Two fresh workers join: full replication returns, still within the queues.
  const fresh = { ...input, workers: [...input.workers, makeWorker('w4', { lastHeartbeatAt: input.now }), makeWorker('w5', { lastHeartbeatAt: input.now })] };
  input = fresh;
  for (cycles = 0; cycles < 200; cycles++) {
    const p = plan(input);
    checkQueues(t, p, input);
    if (p.assign.length === 0 && p.unassign.length === 0 && input.workers.every((w) => down.has(w.id) || w.loadQueue.size === 0)) break;
    input = nextCycle(input, p, { down, loadsPerWorkerMax: 7 });
  }
  const end = plan(input);
  t.equal(end.stats.underReplicated, 0, `fully replicated after ${cycles} more cycles`);
  t.equal(end.stats.unavailable, 0);
});
