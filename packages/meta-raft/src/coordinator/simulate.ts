/**
 * A tiny model of the rest of the cluster, for tests of the planner and of its driver: commit a
 * plan, let the workers load what they were given, advance the clock. Pure, like the planner.
 *
 * One cycle of `nextCycle`: every live worker first finishes loading what was assigned to it
 * before this plan (up to `loadsPerWorkerMax`, in id order) and forgets what is no longer
 * assigned; then the plan is committed (new assignments join the load queues, removed ones
 * leave the worker); then the clock advances by `stepMs` and live workers heartbeat. So a
 * segment assigned in one cycle is loaded in the next. Down workers change nothing and send no
 * heartbeat.
 */
import { plan } from './planner.js';
import type { Plan, PlannerInput, PlannerWorker } from './types.js';

export interface SimulateOptions {
  /** Workers that are down: they neither load nor heartbeat. */
  readonly down?: ReadonlySet<string>;
  /** Segments one worker finishes loading per cycle; unlimited by default. */
  readonly loadsPerWorkerMax?: number;
  /** Time between cycles; 1 s by default. */
  readonly stepMs?: number;
}

/** Committed assignments with `plan`'s decisions applied; segments left with no worker disappear. */
export function applyPlan(assignments: ReadonlyMap<string, readonly string[]>, p: Pick<Plan, 'assign' | 'unassign'>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [id, ws] of assignments) out.set(id, [...ws]);
  for (const a of p.assign) {
    const ws = out.get(a.segmentId);
    if (ws === undefined) out.set(a.segmentId, [a.workerId]);
    else if (!ws.includes(a.workerId)) ws.push(a.workerId);
  }
  for (const u of p.unassign) {
    const ws = out.get(u.segmentId);
    if (ws === undefined) continue;
    const rest = ws.filter((w) => w !== u.workerId);
    if (rest.length === 0) out.delete(u.segmentId);
    else out.set(u.segmentId, rest);
  }
  for (const ws of out.values()) ws.sort();
  return out;
}

/** Segment ids per worker id. */
function byWorker(assignments: ReadonlyMap<string, readonly string[]>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [id, ws] of assignments) {
    for (const w of ws) {
      let list = out.get(w);
      if (list === undefined) out.set(w, (list = []));
      list.push(id);
    }
  }
  return out;
}

/** The input of the cycle after `p` (see the module comment). */
export function nextCycle(input: PlannerInput, p: Plan, options: SimulateOptions = {}): PlannerInput {
  const down = options.down ?? new Set<string>();
  const loadsMax = options.loadsPerWorkerMax ?? Infinity;
  const now = input.now + (options.stepMs ?? 1_000);
  const before = byWorker(input.assignments);
  const assignments = applyPlan(input.assignments, p);
  const added = new Map<string, string[]>();
  const removed = new Map<string, Set<string>>();
  for (const a of p.assign) (added.get(a.workerId) ?? added.set(a.workerId, []).get(a.workerId)!).push(a.segmentId);
  for (const u of p.unassign) (removed.get(u.workerId) ?? removed.set(u.workerId, new Set()).get(u.workerId)!).add(u.segmentId);

  const workers = input.workers.map((w): PlannerWorker => {
    if (down.has(w.id)) return w;
    const mine = (before.get(w.id) ?? []).sort();
    const loaded = new Set<string>();
    const queue = new Set<string>();
    let loads = 0;
    for (const id of mine) {
      if (w.loaded.has(id)) loaded.add(id);
      else if (loads < loadsMax) {
        loaded.add(id);
        loads++;
      } else queue.add(id);
    }
    for (const id of added.get(w.id) ?? []) if (!loaded.has(id)) queue.add(id);
    for (const id of removed.get(w.id) ?? []) {
      loaded.delete(id);
      queue.delete(id);
    }
    return { ...w, loaded, loadQueue: queue, lastHeartbeatAt: now };
  });
  return { ...input, now, workers, assignments };
}

export interface RunResult {
  readonly input: PlannerInput;
  readonly plans: readonly Plan[];
  /** Whether the last plan decided nothing while no live worker had anything left to load. */
  readonly stable: boolean;
}

/**
 * Plans and simulates cycles until a plan decides nothing while the workers that are up have
 * nothing left to load (a fixed point), or `cyclesMax` plans.
 * `check` sees every plan with the input it was made from.
 */
export function runUntilStable(
  input: PlannerInput,
  options: SimulateOptions & { cyclesMax: number; check?: (p: Plan, input: PlannerInput) => void },
): RunResult {
  const plans: Plan[] = [];
  let current = input;
  for (let c = 0; c < options.cyclesMax; c++) {
    const p = plan(current);
    options.check?.(p, current);
    plans.push(p);
    const idle = current.workers.every((w) => w.loadQueue.size === 0 || options.down?.has(w.id) === true);
    if (p.assign.length === 0 && p.unassign.length === 0 && idle) return { input: current, plans, stable: true };
    current = nextCycle(current, p, options);
  }
  return { input: current, plans, stable: false };
}
