/**
 * The driver's path end to end, against a real catalog: build the planner's input from the
 * catalog and heartbeats, plan, commit the plan as one setAssignments command.
 */
import t from 'tap';
import { Catalog } from '../catalog/catalog.js';
import { assignmentChanges } from './changes.js';
import { NOW, loadForever, segmentInput, workerInput } from './fixtures.js';
import { plan } from './planner.js';
import { applyPlan, nextCycle } from './simulate.js';
import type { PlannerInput, PlannerWorker } from './types.js';

const seg = (d: number, version = 'v1') => segmentInput('events', d, { version, daysBack: 10 });
const worker = workerInput;

function fromCatalog(catalog: Catalog, reports: Map<string, Pick<PlannerWorker, 'loaded' | 'loadQueue'>>, now: number): PlannerInput {
  const used = catalog.segments({ includeOvershadowed: true });
  const visible = new Set(catalog.segments().map((s) => s.id));
  return {
    now,
    segments: used,
    overshadowed: new Set(used.filter((s) => !visible.has(s.id)).map((s) => s.id)),
    rules: catalog.allRules(),
    defaultRules: catalog.defaultRules(),
    workers: catalog.workers().map((w) => ({
      ...w,
      lastHeartbeatAt: now,
      loaded: reports.get(w.id)?.loaded ?? new Set(),
      loadQueue: reports.get(w.id)?.loadQueue ?? new Set(),
      queryCounts: new Map(),
    })),
    assignments: new Map(catalog.assignments().map((a) => [a.segmentId, a.workerIds])),
  };
}

t.test('plans commit as one setAssignments command, and the catalog ends where the simulation does', async (t) => {
  const catalog = new Catalog();
  let index = 0;
  const apply = (cmd: Record<string, unknown>) => catalog.apply(cmd, { index: ++index, term: 1 }).result as { ok: boolean };
  t.ok(apply({ type: 'publishSegments', at: 1, ingestionId: 'i1', segments: [1, 2, 3, 4, 5, 6, 7, 8, 9].map((d) => seg(d)) }).ok);
  for (const [id, dc] of [['w1', 'dc1'], ['w2', 'dc2'], ['w3', 'dc1']] as const) t.ok(apply({ type: 'registerWorker', at: 1, worker: worker(id, dc) }).ok);
  t.ok(apply({ type: 'setRules', at: 1, dataSource: '_default', rules: [loadForever(2)] }).ok);

  const reports = new Map<string, Pick<PlannerWorker, 'loaded' | 'loadQueue'>>();
  let now = NOW;
  for (let cycle = 0; cycle < 10; cycle++) {
    if (cycle === 3) t.ok(apply({ type: 'publishSegments', at: now, ingestionId: 'i2', segments: [seg(9, 'v2')] }).ok, 'a new version of day 9');
    const input = fromCatalog(catalog, reports, now);
    const p = plan(input);
    if (p.assign.length + p.unassign.length > 0) {
      const changes = assignmentChanges(p);
      t.ok(apply({ type: 'setAssignments', at: now, changes }).ok, `cycle ${cycle}: ${changes.length} changes committed`);
      t.same(new Map(catalog.assignments().map((a) => [a.segmentId, [...a.workerIds]])), applyPlan(input.assignments, p), 'the catalog agrees with applyPlan');
    }
    const next = nextCycle(input, p);
    for (const w of next.workers) reports.set(w.id, { loaded: w.loaded, loadQueue: w.loadQueue });
    now = next.now;
  }
  const end = plan(fromCatalog(catalog, reports, now));
  t.same([end.assign.length, end.unassign.length, end.stats.unavailable, end.stats.underReplicated], [0, 0, 0, 0]);
  t.equal(end.stats.overshadowed, 1);
  const assigned = catalog.assignments();
  t.equal(assigned.length, 9, 'nine visible segments, the overshadowed one dropped');
  t.ok(assigned.every((a) => a.workerIds.length === 2 && a.workerIds.includes('w2')), 'each in both datacenters');
});

t.test('changes group by segment, sorted', async (t) => {
  const changes = assignmentChanges({
    assign: [
      { segmentId: 'b', workerId: 'w2', reason: 'balance' },
      { segmentId: 'a', workerId: 'w3', reason: 'hot' },
      { segmentId: 'a', workerId: 'w1', reason: 'hot' },
    ],
    unassign: [{ segmentId: 'b', workerId: 'w1', reason: 'surplus' }],
  });
  t.same(changes, [
    { segmentId: 'a', add: ['w1', 'w3'] },
    { segmentId: 'b', add: ['w2'], remove: ['w1'] },
  ]);
});
