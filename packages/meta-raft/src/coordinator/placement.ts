/**
 * Where a new replica goes, and which replica goes first when there are too many.
 *
 * A new replica goes to a worker of the tier that is live, active (not decommissioning), does
 * not hold the segment yet, has room for its bytes (assigned bytes + size <= capacityBytes) and
 * room in its load queue (queued < loadQueueMax). Among those: first a worker in a datacenter
 * that holds no replica of the segment yet (so losing one datacenter never takes every replica
 * when the tier spans several), then the lowest cost (cost.ts), then the shortest load queue,
 * then the lowest id.
 */
import type { Decisions } from './decisions.js';
import { midpoint } from './cost.js';
import { holds, replicaDcs, type Replica, type SegmentView } from './segment-view.js';
import type { WorkerView } from './state.js';

/** Whether `w` may take a new replica of `view`'s segment (every rule but the datacenter preference). */
export function canTake(w: WorkerView, view: SegmentView, loadQueueMax: number): boolean {
  return w.eligible && w.queued < loadQueueMax && w.bytes + view.segment.size <= w.capacityBytes && !holds(view, w);
}

/** The best worker of `tier` for a new replica of `view`'s segment, or null when none may take it. */
export function chooseWorker(d: Decisions, view: SegmentView, tier: number): WorkerView | null {
  const { loadQueueMax } = d.state.config;
  const s = view.segment;
  let dcs: Set<string> | null = null;
  let best: WorkerView | null = null;
  let bestFresh = false;
  let bestCost = Infinity;
  const mid = midpoint(s);
  for (const w of d.state.tierWorkers[tier]!) {
    if (!canTake(w, view, loadQueueMax)) continue;
    dcs ??= replicaDcs(view);
    const fresh = !dcs.has(w.dc);
    if (best !== null && bestFresh && !fresh) continue;
    const cost = d.cost.cost(w, s.dataSource, mid);
    if (best === null || (fresh && !bestFresh) || cost < bestCost || (cost === bestCost && w.queued < best.queued)) {
      best = w;
      bestFresh = fresh;
      bestCost = cost;
    }
  }
  return best;
}

/** Used ratio at the start of the cycle. */
function fullness(r: Replica): number {
  return r.worker.committedBytes / Math.max(r.worker.capacityBytes, 1);
}

/**
 * The `count` replicas of `candidates` to drop first. One at a time: a replica whose datacenter
 * another remaining replica of the segment shares goes before one that is its datacenter's only
 * copy; then the fuller worker (committed bytes relative to capacity, as of the start of the
 * cycle); then the higher worker id. Balancing relies on the fullness order: it moves a segment
 * from a fuller worker to an emptier one, so once the new replica is loaded the surplus drop
 * removes the old one.
 */
export function pickVictims(view: SegmentView, candidates: readonly Replica[], count: number): Replica[] {
  const victims: Replica[] = [];
  const left = [...candidates];
  const remaining = view.replicas.filter((r) => r.kind !== 'gone' && !r.dropped);
  while (victims.length < count && left.length > 0) {
    const shared = (r: Replica) => remaining.some((o) => o !== r && o.worker.dc === r.worker.dc);
    let best = 0;
    for (let i = 1; i < left.length; i++) {
      const a = left[i]!;
      const b = left[best]!;
      // Positive when a is the better victim.
      const order = Number(shared(a)) - Number(shared(b)) || fullness(a) - fullness(b) || a.worker.index - b.worker.index;
      if (order > 0) best = i;
    }
    const victim = left.splice(best, 1)[0]!;
    victims.push(victim);
    remaining.splice(remaining.indexOf(victim), 1);
  }
  return victims;
}
