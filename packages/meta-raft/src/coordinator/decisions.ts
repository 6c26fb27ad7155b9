/**
 * A cycle's decisions as they are made: every assignment and removal goes through here, which
 * keeps the workers' projected bytes and load queues, the segment views and the cost index up
 * to date, and enforces `changesMax` (the rest waits for the next cycle).
 */
import { CostIndex, midpoint } from './cost.js';
import { addReplica, type Replica, type SegmentView } from './segment-view.js';
import type { ClusterState, WorkerView } from './state.js';
import type { Assign, AssignReason, Unassign, UnassignReason } from './types.js';

export class Decisions {
  readonly assign: Assign[] = [];
  readonly unassign: Unassign[] = [];
  readonly assignsByReason: Partial<Record<AssignReason, number>> = {};
  readonly unassignsByReason: Partial<Record<UnassignReason, number>> = {};
  truncated = false;
  private left: number;
  private costIndex: CostIndex | null = null;

  constructor(readonly state: ClusterState) {
    this.left = state.config.changesMax;
  }

  /** The cost index, built on first use. */
  get cost(): CostIndex {
    return (this.costIndex ??= CostIndex.build(this.state));
  }

  /** Whether another decision fits in this cycle; records the truncation when not. */
  hasRoom(): boolean {
    if (this.left > 0) return true;
    this.truncated = true;
    return false;
  }

  /** Assigns `view`'s segment to `worker`; false when the cycle is out of room. */
  add(view: SegmentView, worker: WorkerView, reason: AssignReason): boolean {
    if (!this.hasRoom()) return false;
    this.left--;
    const s = view.segment;
    this.assign.push({ segmentId: s.id, workerId: worker.id, reason });
    this.assignsByReason[reason] = (this.assignsByReason[reason] ?? 0) + 1;
    worker.bytes += s.size;
    worker.queued++;
    worker.loads++;
    addReplica(view, worker);
    this.costIndex?.add(worker.index, s.dataSource, midpoint(s));
    return true;
  }

  /** Removes one replica of `view`'s segment; false when the cycle is out of room. */
  drop(view: SegmentView, replica: Replica, reason: UnassignReason): boolean {
    if (!this.removeId(view.segment.id, replica.workerId, reason, replica.worker, view.segment.size, replica.loaded)) return false;
    replica.dropped = true;
    if (replica.kind === 'good') view.good[replica.worker.tier]!--;
    return true;
  }

  /** Removes an assignment by ids (for segments that are not used, whose size is unknown). */
  removeId(segmentId: string, workerId: string, reason: UnassignReason, worker: WorkerView | null, size: number, loaded: boolean): boolean {
    if (!this.hasRoom()) return false;
    this.left--;
    this.unassign.push({ segmentId, workerId, reason });
    this.unassignsByReason[reason] = (this.unassignsByReason[reason] ?? 0) + 1;
    if (worker !== null) {
      worker.drops++;
      worker.dropBytes += size;
      if (worker.health === 'live' && !loaded) worker.dropsQueued++;
    }
    return true;
  }
}
