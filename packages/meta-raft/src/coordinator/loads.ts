/**
 * The loading phases, availability before redundancy:
 * 1. every wanted segment with no replica on a live worker (loaded or loading) gets one, not
 *    counted against replicationThrottleLimit (but within load queues and capacity);
 * 2. then replicas up to the wanted count per tier (rule + hot extras), replacements for
 *    decommissioning workers included, at most replicationThrottleLimit in all.
 * Segments come in priority order (fewest live loaded replicas first, then newest interval).
 */
import type { Decisions } from './decisions.js';
import { chooseWorker } from './placement.js';
import { hasLiveReplica, type SegmentView } from './segment-view.js';
import type { AssignReason } from './types.js';

/** Phase 1. Returns how many segments found no worker. */
export function placeUnavailable(d: Decisions, views: readonly SegmentView[]): number {
  let unplaced = 0;
  for (const view of views) {
    if (view.ruleWant === null || hasLiveReplica(view)) continue;
    // Tiers that want the most replicas first, then by name.
    const tiers = [...view.want.keys()].filter((t) => view.want[t]! > 0).sort((a, b) => view.want[b]! - view.want[a]! || a - b);
    let placed = false;
    for (const t of tiers) {
      if (!d.hasRoom()) break;
      const w = chooseWorker(d, view, t);
      if (w === null) continue;
      placed = d.add(view, w, 'unavailable');
      break;
    }
    if (!placed) unplaced++;
  }
  return unplaced;
}

/** Phase 2. Returns how many wanted replicas were not created (throttle, queues, capacity, no worker). */
export function replicate(d: Decisions, views: readonly SegmentView[]): number {
  let left = d.state.config.replicationThrottleLimit;
  let deferred = 0;
  const { members } = d.state;
  for (const view of views) {
    if (view.ruleWant === null) continue;
    for (let t = 0; t < view.want.length; t++) {
      const missing = view.want[t]! - view.good[t]!;
      if (missing <= 0) continue;
      if (left === 0 || !d.hasRoom()) {
        deferred += missing;
        continue;
      }
      const base = Math.min(view.ruleWant[t]!, members[t]!);
      let decom = view.replicas.filter((r) => r.kind === 'decom' && !r.dropped && r.worker.tier === t).length;
      for (let k = 0; k < missing; k++) {
        const w = left > 0 ? chooseWorker(d, view, t) : null;
        const reason: AssignReason = view.good[t]! >= base ? 'hot' : decom > 0 ? 'decommission' : 'under-replicated';
        if (w === null || !d.add(view, w, reason)) {
          deferred += missing - k;
          break;
        }
        if (reason === 'decommission') decom--;
        left--;
      }
    }
  }
  return deferred;
}
