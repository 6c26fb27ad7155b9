/** The cycle's report: segment states before the cycle, decisions made, and each worker once the plan is applied. */
import type { Decisions } from './decisions.js';
import type { PlanStats, WorkerStats } from './types.js';

export interface PhaseCounts {
  readonly unavailableUnplaced: number;
  readonly replicasDeferred: number;
  readonly moves: number;
}

export function buildStats(d: Decisions, phases: PhaseCounts): PlanStats {
  const { state } = d;
  const workers: WorkerStats[] = state.workers.map((w) => {
    const segments = w.committedSegments + w.loads - w.drops;
    return {
      id: w.id,
      tier: state.tiers[w.tier]!,
      health: w.health,
      state: w.source.state,
      segments,
      bytes: w.bytes - w.dropBytes,
      loadQueue: w.health === 'live' ? w.queued - w.dropsQueued : 0,
      loads: w.loads,
      drained: w.decommissioning && segments === 0,
    };
  });
  return {
    segments: state.segments.length,
    overshadowed: state.counts.overshadowed,
    unavailable: state.counts.unavailable,
    underReplicated: state.counts.underReplicated,
    hot: state.counts.hot,
    queryCountMedian: state.hot.median,
    loads: d.assign.length,
    drops: d.unassign.length,
    moves: phases.moves,
    assignsByReason: d.assignsByReason,
    unassignsByReason: d.unassignsByReason,
    unavailableUnplaced: phases.unavailableUnplaced,
    replicasDeferred: phases.replicasDeferred,
    truncated: d.truncated,
    workers,
    drained: workers.filter((w) => w.drained).map((w) => w.id),
  };
}
