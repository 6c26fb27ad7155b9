/**
 * A large cycle's decisions (20,000 segments, 20 workers, two replicas each): the steady state, a
 * worker down in its grace period, and the same worker gone. Only decisions are asserted; the
 * million-segment timing lives in bench/planner.ts.
 */
import t from 'tap';
import { HOUR_MS, NOW, loadForever, makeInput, makeWorker } from './fixtures.js';
import { plan } from './planner.js';
import { applyPlan } from './simulate.js';
import type { PlannerInput, PlannerSegment } from './types.js';

const DATASOURCES = 4;
const HOURS = 5_000;
const WORKERS = 20;

function build(): PlannerInput {
  const segments: PlannerSegment[] = [];
  for (let d = 0; d < DATASOURCES; d++) {
    const dataSource = `datasource_${d}`;
    for (let h = 0; h < HOURS; h++) {
      const start = NOW - (HOURS - h) * HOUR_MS;
      const id = `${dataSource}_${new Date(start).toISOString()}_${new Date(start + HOUR_MS).toISOString()}_v1`;
      segments.push({ id, dataSource, start, end: start + HOUR_MS, version: 'v1', partition: 0, partitions: 1, size: 50_000_000 });
    }
  }
  const ids = Array.from({ length: WORKERS }, (_, k) => `worker-${String(k).padStart(3, '0')}`);
  const loaded = ids.map(() => new Set<string>());
  const assignments = new Map<string, string[]>();
  segments.forEach((s, i) => {
    // Two replicas on an even and an odd worker (datacenters dc0 and dc1), spread evenly.
    const a = i % WORKERS;
    const b = (a + 1 + 2 * (Math.floor(i / WORKERS) % (WORKERS / 2 - 1))) % WORKERS;
    assignments.set(s.id, [ids[Math.min(a, b)]!, ids[Math.max(a, b)]!]);
    loaded[a]!.add(s.id);
    loaded[b]!.add(s.id);
  });
  const workers = ids.map((id, k) => makeWorker(id, { dc: `dc${k % 2}`, capacityBytes: 2e13, loaded: loaded[k] }));
  return makeInput({ segments, workers, assignments, defaultRules: [loadForever(2)], overshadowed: new Set() });
}

t.test('twenty thousand segments, twenty workers', async (t) => {
  const input = build();
  const p = plan(input);
  t.same([p.assign.length, p.unassign.length, p.stats.unavailable, p.stats.underReplicated, p.stats.moves], [0, 0, 0, 0, 0], 'the steady state: nothing to do');
  t.equal(p.stats.segments, DATASOURCES * HOURS);

  const victim = 'worker-007';
  const held = [...input.assignments.values()].filter((ws) => ws.includes(victim)).length;
  const g = plan({ ...input, downSince: new Map([[victim, NOW - 10_000]]) });
  t.same([g.assign.length, g.unassign.length, g.stats.unavailable], [0, 0, 0], 'nothing moves during the grace period');

  const gone = { ...input, downSince: new Map([[victim, NOW - 120_000]]) };
  const q = plan(gone);
  t.equal(q.unassign.length, held, 'every replica of the gone worker is unassigned');
  t.ok(q.unassign.every((u) => u.workerId === victim && u.reason === 'worker-gone'), 'only the gone worker loses replicas');
  t.equal(q.assign.length, 500, 'replicationThrottleLimit');
  t.ok(q.assign.every((a) => a.workerId !== victim), 'nothing is placed on the gone worker');
  t.equal(q.stats.underReplicated, held);

  const next = { ...gone, assignments: applyPlan(gone.assignments, q) };
  const r = plan(next);
  t.equal(r.assign.length, 500, 'the cycle after goes on re-replicating');
  t.equal(new Set([...q.assign, ...r.assign].map((a) => a.segmentId)).size, 1000, 'no segment is re-replicated twice');
});
