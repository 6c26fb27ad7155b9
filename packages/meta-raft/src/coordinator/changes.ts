/**
 * A plan as the change list of one `setAssignments` command: one change per segment, sorted by
 * segment id, with its added and removed workers sorted. `changesMax` (at most 50,000 decisions
 * by default) keeps it within the catalog's `assignmentChangesMax`.
 */
import type { Plan } from './types.js';

export interface AssignmentChange {
  readonly segmentId: string;
  readonly add?: string[];
  readonly remove?: string[];
}

/**
 * @example assignmentChanges(plan(input)) // [{ segmentId: 'events_...', add: ['w2'] }, { segmentId: '...', remove: ['w1'] }]
 */
export function assignmentChanges(p: Pick<Plan, 'assign' | 'unassign'>): AssignmentChange[] {
  const bySegment = new Map<string, { add: string[]; remove: string[] }>();
  const entry = (id: string) => bySegment.get(id) ?? bySegment.set(id, { add: [], remove: [] }).get(id)!;
  for (const a of p.assign) entry(a.segmentId).add.push(a.workerId);
  for (const u of p.unassign) entry(u.segmentId).remove.push(u.workerId);
  return [...bySegment.keys()].sort().map((segmentId) => {
    const { add, remove } = bySegment.get(segmentId)!;
    return { segmentId, ...(add.length > 0 ? { add: add.sort() } : {}), ...(remove.length > 0 ? { remove: remove.sort() } : {}) };
  });
}
