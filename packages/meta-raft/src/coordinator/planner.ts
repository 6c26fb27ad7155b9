/**
 * The coordinator's planner: one cycle's decisions from the committed catalog state and the
 * workers' latest reports. A pure function: no clock (the input carries `now`), no I/O, no
 * randomness, and every collection it iterates is sorted first, so the same input (in any
 * order) gives the same plan.
 *
 * Phases, in order: availability (segments with no live replica), replication (up to the rules'
 * counts and hot extras, throttled), unconditional drops (unused, overshadowed, drop rules,
 * workers gone), conditional drops (surplus, decommissioned copies, unnamed tiers; only once the
 * replicas that stay are loaded), balancing.
 */
import { resolveConfig } from './config.js';
import { balance } from './balance.js';
import { Decisions } from './decisions.js';
import { dropInvalid, dropSurplus } from './drops.js';
import { placeUnavailable, replicate } from './loads.js';
import { segmentView, type SegmentView } from './segment-view.js';
import { buildState } from './state.js';
import { buildStats } from './stats.js';
import type { JoinedPlannerInput, Plan, PlannerInput } from './types.js';

/** Fewest live loaded replicas first, then the newest interval (as Druid loads), then by id. */
function priority(a: SegmentView, b: SegmentView): number {
  const sa = a.segment;
  const sb = b.segment;
  return a.liveLoaded - b.liveLoaded || sb.end - sa.end || sb.start - sa.start || (sa.id < sb.id ? -1 : sa.id > sb.id ? 1 : 0);
}

function byIds(a: { segmentId: string; workerId: string }, b: { segmentId: string; workerId: string }): number {
  return a.segmentId < b.segmentId ? -1 : a.segmentId > b.segmentId ? 1 : a.workerId < b.workerId ? -1 : a.workerId > b.workerId ? 1 : 0;
}

/**
 * Plans one coordinator cycle, from either input form: the assignments as a map, or joined with
 * the loaded sets (`JoinedPlannerInput`, as `AssignmentJoin` keeps them); the same plan either way.
 * @example
 * const p = plan({ now, segments, rules: {}, defaultRules, workers, assignments: new Map() });
 * // p.assign: [{ segmentId, workerId, reason: 'unavailable' }, ...]
 */
export function plan(input: PlannerInput | JoinedPlannerInput): Plan {
  const config = resolveConfig(input.config);
  const state = buildState(input, config);
  const d = new Decisions(state);
  const views = state.work.map((i) => segmentView(state, i)).sort(priority);
  const unavailableUnplaced = placeUnavailable(d, views) + state.counts.unplaceable;
  const replicasDeferred = replicate(d, views);
  dropInvalid(d, views);
  dropSurplus(d, views);
  const moves = balance(d, state.counts.unavailable);
  return {
    assign: d.assign.sort(byIds),
    unassign: d.unassign.sort(byIds),
    stats: buildStats(d, { unavailableUnplaced, replicasDeferred, moves }),
  };
}
