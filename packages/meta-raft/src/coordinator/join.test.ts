/**
 * The joined input form: `AssignmentJoin`, kept up to date through random changes, always equals
 * the join built from scratch (`joinAssignments`), and the planner gives the same plan from either
 * form, over runs of the simulation (down workers, loading lag, decommissioning).
 */
import t from 'tap';
import { Prng } from '../core/prng.js';
import { loadForever, makeInput, makeSegments, makeWorker } from './fixtures.js';
import { AssignmentJoin, joinAssignments } from './join.js';
import { plan } from './planner.js';
import { nextCycle } from './simulate.js';
import { UNKNOWN_HOLDER, type JoinedAssignments, type PlannerInput, type PlannerSegment, type PlannerWorker } from './types.js';

/** The map-form input as plain data, comparable with `t.same`. */
function joinedData(j: JoinedAssignments) {
  return { workerIds: [...j.workerIds], holders: j.holders.map((h) => (h === undefined ? null : [...h])), unused: [...j.unused].sort() };
}

function viaJoin(input: PlannerInput, join: AssignmentJoin) {
  const { assignments: _assignments, ...base } = input;
  return { ...base, joined: join.joined() };
}

function scenario(rnd: Prng): PlannerInput {
  const workers = Array.from({ length: rnd.between(3, 7) }, (_, i) => makeWorker(`w${i}`, { dc: `dc${i % 2}`, capacityBytes: rnd.between(20, 100) * 1_000 }));
  const segments = makeSegments({ count: rnd.between(10, 40), dataSources: ['a', 'b'], size: 1_000 });
  const ids = workers.map((w) => w.id);
  const assignments = new Map<string, string[]>();
  for (const s of segments) if (rnd.chance(0.7)) assignments.set(s.id, rnd.shuffle(ids).slice(0, rnd.between(1, 3)).sort());
  // Unused segments that are still assigned.
  for (const s of makeSegments({ count: rnd.between(0, 4), dataSources: ['gone'] })) assignments.set(s.id, [rnd.pick(ids)]);
  const loaded = new Map(ids.map((id) => [id, new Set<string>()]));
  for (const [id, ws] of assignments) for (const w of ws) if (rnd.chance(0.7)) loaded.get(w)!.add(id);
  return makeInput({ segments, workers: workers.map((w) => ({ ...w, loaded: loaded.get(w.id)! })), assignments, config: { maxSegmentsToMove: 3 } });
}

t.test('kept up to date through random changes, the join equals one built from scratch', async (t) => {
  for (let seed = 1; seed <= 30; seed++) {
    const rnd = new Prng(seed);
    let input = scenario(rnd);
    input = { ...input, segments: [...input.segments] };
    const removed: PlannerSegment[] = [];
    const join = new AssignmentJoin(input.segments, input.workers, input.assignments);
    t.same(joinedData(join.joined()), joinedData(joinAssignments(input)), `seed ${seed}: built`);
    for (let step = 0; step < 12; step++) {
      const assignments = new Map(input.assignments);
      let { segments, workers } = input;
      const ids = workers.map((w) => w.id);
      const what = rnd.int(6);
      if (what === 0) {
        // Commits: a few segments (used or not) get new holders, or lose them all.
        for (let k = 0; k < 3; k++) {
          const id = rnd.chance(0.8) ? rnd.pick(segments).id : `gone_${rnd.int(3)}`;
          const ws = rnd.chance(0.2) ? undefined : rnd.shuffle(ids).slice(0, rnd.between(1, 3)).sort();
          if (ws === undefined) assignments.delete(id);
          else assignments.set(id, ws);
          join.setHolders(id, ws);
        }
      } else if (what === 1) {
        // Heartbeats: a worker's loaded set gains and loses a few ids (a new set, as the driver makes).
        const k = rnd.int(workers.length);
        const next = new Set([...workers[k]!.loaded].filter(() => rnd.chance(0.8)));
        for (let n = 0; n < 3; n++) next.add(rnd.pick(segments).id);
        workers = workers.map((w, i) => (i === k ? { ...w, loaded: next } : w));
        join.setWorkers(workers);
      } else if (what === 2) {
        // A publish (the list grows), or segments marked unused (it shrinks; their assignments
        // stay until dropped); either way it comes in another order.
        if (rnd.chance(0.5)) segments = rnd.shuffle([...segments, ...makeSegments({ count: 2, dataSources: [`new${step}`] })]);
        else {
          const cut = rnd.between(1, 3);
          segments = rnd.shuffle(segments);
          for (const s of segments.slice(0, cut)) removed.push(s);
          segments = segments.slice(cut);
        }
        join.setSegments(segments);
      } else if (what === 5) {
        // The driver's way after a publish: the list grows in place; a segment marked unused
        // earlier (its assignments kept) may come back.
        const grown = segments as PlannerSegment[];
        for (const s of makeSegments({ count: 2, dataSources: [`app${step}`] })) grown.push(s);
        const back = removed.findIndex((s) => !segments.some((x) => x.id === s.id));
        if (back >= 0 && rnd.chance(0.5)) grown.push(removed.splice(back, 1)[0]!);
        join.setSegments(segments);
      } else if (what === 3) {
        // A worker registers (in id order, as the catalog lists them), or one leaves.
        if (rnd.chance(0.5)) workers = [...workers, makeWorker(`x${step}`, { loaded: [rnd.pick(segments).id] })];
        else if (workers.length > 1) {
          const gone = rnd.int(workers.length);
          workers = workers.filter((_, i) => i !== gone);
        }
        join.setWorkers(workers);
      } else if (what === 4) {
        join.setWorkers(workers); // nothing changed
      }
      input = { ...input, segments, workers, assignments };
      t.same(joinedData(join.joined()), joinedData(joinAssignments(input)), `seed ${seed}, step ${step}`);
    }
  }
});

t.test('the planner gives the same plans from either form, cycle after cycle', async (t) => {
  let checked = 0;
  for (let seed = 1; seed <= 20; seed++) {
    const rnd = new Prng(100 + seed);
    let input = scenario(rnd);
    const join = new AssignmentJoin(input.segments, input.workers, input.assignments);
    const down = new Set([`w${rnd.int(3)}`]);
    for (let cycle = 0; cycle < 15; cycle++) {
      const p = plan(input);
      t.same(plan(viaJoin(input, join)), p, `seed ${seed}, cycle ${cycle}`);
      checked += p.assign.length + p.unassign.length;
      // What the driver does: the touched segments' new holders, then the heartbeats.
      const next = nextCycle(input, p, { down: cycle < 6 ? down : new Set(), loadsPerWorkerMax: 2, stepMs: 20_000 });
      for (const id of new Set([...p.assign, ...p.unassign].map((c) => c.segmentId))) join.setHolders(id, next.assignments.get(id));
      join.setWorkers(next.workers);
      input = next;
    }
  }
  t.ok(checked > 500, `plans with work in them: ${checked} decisions compared`);
});

t.test('holders the workers list does not know count for nothing', async (t) => {
  const segments = makeSegments({ count: 1 });
  const id = segments[0]!.id;
  const workers = [makeWorker('w1', { loaded: [id] })];
  const input = makeInput({ segments, workers, assignments: new Map([[id, ['ghost', 'w1']]]) });
  t.same(joinAssignments(input).holders, [[UNKNOWN_HOLDER, 1]]);
  t.same(plan(viaJoin(input, new AssignmentJoin(segments, workers, input.assignments))), plan(input));
});

t.test('a joined input must name the workers in the input order', async (t) => {
  const segments = makeSegments({ count: 3 });
  const workers: PlannerWorker[] = [makeWorker('w1'), makeWorker('w2')];
  const input = makeInput({ segments, workers, defaultRules: [loadForever(1)] });
  const join = new AssignmentJoin(segments, workers, []);
  t.throws(() => plan({ ...viaJoin(input, join), workers: [...workers].reverse() }), /worker ids are not the input workers/);
  t.throws(() => plan({ ...viaJoin(input, join), segments: segments.slice(1) }), /holder lists for/);
  t.throws(() => new AssignmentJoin([...segments, segments[0]!], workers, []), /listed twice/);
  const grown = [...segments];
  const join2 = new AssignmentJoin(grown, workers, []);
  grown.push(segments[0]!);
  t.throws(() => join2.setSegments(grown), /listed twice/, 'a list grown in place is checked for duplicates too');
  t.equal(plan(viaJoin(input, join)).assign.length, 3);
});

t.test('a deferred build, step by step, gives the join built at once', async (t) => {
  for (let seed = 1; seed <= 10; seed++) {
    const input = scenario(new Prng(500 + seed));
    const join = new AssignmentJoin(input.segments, input.workers, input.assignments, { deferred: true });
    t.throws(() => join.joined(), /before its deferred build finished/);
    t.throws(() => join.setHolders(input.segments[0]!.id, ['w0']), /before its deferred build finished/);
    let steps = 0;
    while (!join.buildStep(7)) steps++;
    t.ok(steps >= Math.floor(input.segments.length / 7) - 1, `seed ${seed}: ${steps} steps`);
    t.equal(join.buildStep(7), true, 'done stays done');
    t.same(joinedData(join.joined()), joinedData(joinAssignments(input)), `seed ${seed}`);
  }
  const segments = makeSegments({ count: 3 });
  const dup = new AssignmentJoin([...segments, segments[1]!], [], [], { deferred: true });
  t.equal(dup.buildStep(3), false);
  t.throws(() => dup.buildStep(3), /listed twice/);
});
