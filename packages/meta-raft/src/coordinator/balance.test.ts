/** Balancing moves (behaviour 7): bounded, only when all is available, and converging. */
import t, { type Test } from 'tap';
import { allLoaded, makeInput, makeSegments, makeWorker, makeWorkers, type WorkerSpec } from './fixtures.js';
import { plan } from './planner.js';
import { runUntilStable } from './simulate.js';
import type { Plan, PlannerInput } from './types.js';

/** 120 segments, two replicas each, spread evenly over w1..w3; w4 (and any extra) join empty. */
function joined(extra: readonly (WorkerSpec & { id: string })[] = [{ id: 'w4' }], config: PlannerInput['config'] = {}): PlannerInput {
  const segments = makeSegments({ count: 60, dataSources: ['a', 'b'], size: 1_000 });
  const trio = ['w1', 'w2', 'w3'];
  const assignments = new Map(segments.map((s, i) => [s.id, [trio[i % 3]!, trio[(i + 1) % 3]!].sort()]));
  const workers = [...makeWorkers(3, { capacityBytes: 1_000_000 }), ...extra.map((e) => makeWorker(e.id, { capacityBytes: 1_000_000, ...e }))];
  return allLoaded(makeInput({ segments, workers, assignments, config: { maxSegmentsToMove: 5, ...config } }));
}

/** Runs to a fixed point, failing on any (segment, worker) pair that is added again after being removed. */
function converge(t: Test, input: PlannerInput, cyclesMax = 100) {
  const removed = new Set<string>();
  let moves = 0;
  const run = runUntilStable(input, {
    cyclesMax,
    check: (p: Plan) => {
      t.ok(p.stats.moves <= (input.config?.maxSegmentsToMove ?? 100), 'moves per cycle bounded');
      moves += p.stats.moves;
      for (const a of p.assign) if (removed.has(`${a.segmentId} ${a.workerId}`)) t.fail(`ping-pong: ${a.segmentId} back to ${a.workerId}`);
      for (const u of p.unassign) removed.add(`${u.segmentId} ${u.workerId}`);
    },
  });
  t.ok(run.stable, `fixed point after ${run.plans.length} cycles, ${moves} moves`);
  return { ...run, moves };
}

const bytesBy = (input: PlannerInput) => {
  const out = new Map<string, number>();
  for (const ws of input.assignments.values()) for (const w of ws) out.set(w, (out.get(w) ?? 0) + 1_000);
  return out;
};

t.test('an empty worker is filled by bounded moves until the tier is balanced', async (t) => {
  const input = joined();
  const first = plan(input);
  t.equal(first.stats.moves, 5, 'maxSegmentsToMove');
  t.ok(first.assign.every((a) => a.workerId === 'w4' && a.reason === 'balance'));
  t.same(first.unassign, [], 'the old copies stay until the new ones are loaded');
  const run = converge(t, input);
  const bytes = bytesBy(run.input);
  const values = [...bytes.values()];
  t.ok(Math.max(...values) - Math.min(...values) <= 0.1 * (240_000 / 4) + 1_000, `balanced within the threshold: ${JSON.stringify([...bytes])}`);
  t.ok([...run.input.assignments.values()].every((ws) => ws.length === 2), 'every segment keeps two replicas');
  t.equal(plan(run.input).stats.moves, 0);
});

t.test('moves follow capacity: a bigger worker takes more', async (t) => {
  const run = converge(t, joined([{ id: 'w4', capacityBytes: 3_000_000 }], { maxSegmentsToMove: 20 }));
  const bytes = bytesBy(run.input);
  const ratio = (w: string) => bytes.get(w)! / (w === 'w4' ? 3_000_000 : 1_000_000);
  const ratios = ['w1', 'w2', 'w3', 'w4'].map(ratio);
  t.ok(Math.max(...ratios) - Math.min(...ratios) < 0.02, `used ratios ${ratios.map((r) => r.toFixed(3))}`);
});

t.test('moves never cost a segment a datacenter', async (t) => {
  // w1, w2 in dc1; w3 in dc2; the new w4 in dc1.
  const input = joined([{ id: 'w4', dc: 'dc1' }]);
  const dcOf = new Map([['w1', 'dc1'], ['w2', 'dc1'], ['w3', 'dc2'], ['w4', 'dc1']]);
  const withDcs = { ...input, workers: input.workers.map((w) => ({ ...w, dc: dcOf.get(w.id)! })) };
  const spread = (i: PlannerInput) => [...i.assignments.values()].filter((ws) => new Set(ws.map((w) => dcOf.get(w))).size === 2).length;
  const run = converge(t, withDcs);
  t.ok(run.moves > 0);
  t.ok(spread(run.input) >= spread(withDcs), 'no segment lost its second datacenter');
});

t.test('no balancing while a segment is unavailable, or when switched off', async (t) => {
  const input = joined();
  const extra = makeSegments({ count: 1, dataSources: ['c'] });
  const unavailable = { ...input, segments: [...input.segments, ...extra] };
  const p = plan(unavailable);
  t.equal(p.stats.unavailable, 1);
  t.equal(p.stats.moves, 0);
  t.equal(plan({ ...input, config: { balance: false } }).stats.moves, 0);
});

t.test('a balanced tier stays put', async (t) => {
  const input = joined([]);
  t.equal(plan(input).stats.moves, 0);
});
