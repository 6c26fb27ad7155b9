/**
 * One segment that needs attention, with its replicas classified. Built only for the work list,
 * so it may allocate. The phases read it and record their decisions in it (`addReplica`,
 * `dropReplica`), so later phases see what earlier ones decided.
 */
import { DROP, holderAt, OVERSHADOWED, type ClusterState, type WorkerView } from './state.js';
import type { PlannerSegment } from './types.js';

/** Where a replica sits. */
export type ReplicaKind =
  /** On an active worker that is live or in its grace period: counts towards the rules. */
  | 'good'
  /** On a decommissioning worker (live or in grace): serves, but is to be replaced. */
  | 'decom'
  /** On a worker past its grace period. */
  | 'gone';

export interface Replica {
  readonly workerId: string;
  readonly worker: WorkerView;
  readonly kind: ReplicaKind;
  /** The worker is live and reports it loaded. */
  readonly loaded: boolean;
  /** The worker is live (loaded or still loading). */
  readonly live: boolean;
  /** Assigned by this cycle. */
  readonly isNew: boolean;
  /** Removed by this cycle. */
  dropped: boolean;
}

export interface SegmentView {
  readonly index: number;
  readonly segment: PlannerSegment;
  readonly overshadowed: boolean;
  /** Replicas per tier index the rule asks for (before hot extras); null when the segment is to be dropped. */
  readonly ruleWant: Int32Array | null;
  /** Replicas per tier wanted now: rule + hot extras, capped by the tier's members. */
  readonly want: Int32Array;
  readonly replicas: Replica[];
  /** Per tier: good replicas (not dropped). */
  readonly good: Int32Array;
  /** Live loaded replicas (good or decom), before this cycle. */
  readonly liveLoaded: number;
}

/**
 * Classifies segment `index`'s replicas. A holder that is not a registered worker gets no replica:
 * it counts for nothing and is never named in a decision (see drops.ts).
 */
export function segmentView(state: ClusterState, index: number): SegmentView {
  const segment = state.segments[index]!;
  const T = state.tiers.length;
  const w = state.want[index]!;
  const ruleWant = w >= 0 ? state.rules.wants[w]!.perTier : null;
  const want = new Int32Array(T);
  if (ruleWant !== null) {
    const x = state.extra[index]!;
    for (let t = 0; t < T; t++) if (ruleWant[t]! > 0) want[t] = Math.min(ruleWant[t]! + x, state.members[t]!);
  }
  const good = new Int32Array(T);
  const replicas: Replica[] = [];
  let liveLoaded = 0;
  for (const code of state.holders[index] ?? []) {
    const k = holderAt(state, code);
    if (k < 0) continue;
    const worker = state.workers[k]!;
    const kind = worker.health === 'gone' ? 'gone' : worker.decommissioning ? 'decom' : 'good';
    const live = worker.health === 'live';
    const loaded = live && (code & 1) === 1;
    if (loaded) liveLoaded++;
    if (kind === 'good') good[worker.tier]!++;
    replicas.push({ workerId: worker.id, worker, kind, loaded, live, isNew: false, dropped: false });
  }
  return { index, segment, overshadowed: w === OVERSHADOWED, ruleWant: w === DROP || w === OVERSHADOWED ? null : ruleWant, want, replicas, good, liveLoaded };
}

/** Whether the segment has a replica on `worker` (in any state, dropped ones included: no re-adding in one cycle). */
export function holds(view: SegmentView, worker: WorkerView): boolean {
  return view.replicas.some((r) => r.worker === worker);
}

/** Datacenters holding a replica (not gone, not dropped). */
export function replicaDcs(view: SegmentView): Set<string> {
  const out = new Set<string>();
  for (const r of view.replicas) if (r.kind !== 'gone' && !r.dropped) out.add(r.worker.dc);
  return out;
}

/** Whether some live worker holds the segment, loaded or still loading (new assignments count). */
export function hasLiveReplica(view: SegmentView): boolean {
  return view.replicas.some((r) => !r.dropped && (r.live || r.isNew));
}

export function addReplica(view: SegmentView, worker: WorkerView): void {
  view.replicas.push({ workerId: worker.id, worker, kind: 'good', loaded: false, live: true, isNew: true, dropped: false });
  view.good[worker.tier]!++;
}
