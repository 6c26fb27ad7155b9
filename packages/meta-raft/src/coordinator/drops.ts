/**
 * The dropping phases, after the loads.
 *
 * Unconditional: assignments of unused segments (`drop-unused`), of overshadowed segments
 * (`drop-overshadowed`), of segments a drop rule or no rule decides (`drop-rule`), and on
 * workers past their grace period (`worker-gone`).
 *
 * Unregistered workers: the catalog removes a worker's assignments with the worker and refuses
 * a setAssignments naming an unknown worker (the whole command). So a consistent input never
 * names one, and the planner never does: a replica on an unknown worker counts for nothing and
 * is left alone, instead of poisoning every later command.
 *
 * Conditional, never before the replicas that stay are loaded: surplus replicas on a tier
 * (`surplus`: a finished move, a cooled hot segment, a lowered rule), decommissioning workers'
 * copies (`decommission`), and replicas on tiers the rule does not name (`drop-tier`). A replica
 * on a worker in its grace period is never a surplus victim and, not being loaded, holds back
 * the drops of its tier until it returns or its grace period ends.
 */
import type { Decisions } from './decisions.js';
import { pickVictims } from './placement.js';
import type { Replica, SegmentView } from './segment-view.js';

/** Unconditional drops. */
export function dropInvalid(d: Decisions, views: readonly SegmentView[]): void {
  const { state } = d;
  for (const id of state.unusedAssigned) {
    for (const workerId of state.unusedHolders.get(id)!) {
      const k = state.workerIndex.get(workerId);
      if (k === undefined) continue; // see unregistered workers in the module comment
      const worker = state.workers[k]!;
      if (!d.removeId(id, workerId, 'drop-unused', worker, 0, worker.source.loaded.has(id))) return;
    }
  }
  for (const view of views) {
    for (const r of view.replicas) {
      if (r.dropped || r.isNew) continue;
      const reason = view.overshadowed ? 'drop-overshadowed' : view.ruleWant === null ? 'drop-rule' : r.kind === 'gone' ? 'worker-gone' : null;
      if (reason !== null && !d.drop(view, r, reason)) return;
    }
  }
}

function onTier(view: SegmentView, t: number, kind: Replica['kind']): Replica[] {
  return view.replicas.filter((r) => !r.dropped && r.kind === kind && r.worker.tier === t);
}

/** Whether tier `t` holds all it wants of the segment, every one loaded. */
function tierReady(view: SegmentView, t: number): boolean {
  return view.good[t]! >= view.want[t]! && onTier(view, t, 'good').every((r) => r.loaded);
}

/** Conditional drops. */
export function dropSurplus(d: Decisions, views: readonly SegmentView[]): void {
  for (const view of views) {
    const ruleWant = view.ruleWant;
    if (ruleWant === null) continue;
    const T = view.want.length;
    for (let t = 0; t < T; t++) {
      const want = view.want[t]!;
      if (want === 0) continue;
      // Surplus: the most droppable go, if every replica that stays is loaded.
      if (view.good[t]! > want) {
        const good = onTier(view, t, 'good');
        const droppable = good.filter((r) => r.live && !r.isNew);
        const victims = pickVictims(view, droppable, view.good[t]! - want);
        const stays = good.filter((r) => !victims.includes(r));
        if (victims.length > 0 && stays.every((r) => r.loaded)) {
          for (const r of victims) if (!d.drop(view, r, 'surplus')) return;
        }
      }
      // Decommissioning copies go once the tier holds all it wants, loaded.
      const decom = onTier(view, t, 'decom');
      if (decom.length > 0 && tierReady(view, t)) {
        for (const r of decom) if (!d.drop(view, r, 'decommission')) return;
      }
    }
    // Tiers the rule does not name are emptied once every tier it names is ready.
    let wanted = 0;
    let ready = true;
    for (let t = 0; t < T; t++) {
      if (view.want[t]! === 0) continue;
      wanted++;
      if (!tierReady(view, t)) ready = false;
    }
    if (wanted === 0 || !ready) continue;
    for (const r of view.replicas) {
      if (r.dropped || r.isNew || r.kind === 'gone' || ruleWant[r.worker.tier]! > 0) continue;
      if (!d.drop(view, r, 'drop-tier')) return;
    }
  }
}
