/**
 * Which workers serve which segment: the coordinator's decisions, committed through Raft so a
 * new leader continues where the old one stopped. A segment maps to a set of worker ids (kept
 * sorted); the reverse index answers "what does this worker serve" and lets removing a worker
 * drop its assignments without scanning every segment.
 *
 * Assignments may name unused segments: the coordinator decides from a state that may be a
 * moment old, and its next round removes them; refusing the whole batch would lose the rest.
 */
import { assert } from '../core/assert.js';
import type { ParsedCommandOf } from './commands.js';
import { byCodeUnits, PREFIX } from './keys.js';
import { fail, type Assignment, type CommandResult } from './results.js';
import type { SegmentTable } from './segment-table.js';
import type { WorkerStore } from './workers.js';
import type { WriteSet } from './writes.js';

export class Assignments {
  /** Per segment slot, the sorted ids of its workers; undefined when it has none. */
  private readonly bySlot: (readonly string[] | undefined)[] = [];
  private readonly byWorker = new Map<string, Set<number>>();
  private pairCount = 0;
  private segmentCount = 0;
  private pending: [string, string[]][] | null = null;

  constructor(
    private readonly table: SegmentTable,
    private readonly workers: WorkerStore,
  ) {}

  /** Assigned (segment, worker) pairs. */
  get pairs(): number {
    return this.pairCount;
  }

  /** Segments with at least one worker. */
  get segments(): number {
    return this.segmentCount;
  }

  /** Applies the changes in order: adding an assigned worker or removing an unassigned one is a no-op. */
  apply(c: ParsedCommandOf<'setAssignments'>, writes: WriteSet): CommandResult {
    const resolved: { slot: number; add: string[]; remove: string[] }[] = [];
    for (let i = 0; i < c.changes.length; i++) {
      const ch = c.changes[i]!;
      const slot = this.table.slotOf(ch.segmentId);
      if (slot === undefined) return fail('NOT_FOUND', `changes[${i}].segmentId: segment ${ch.segmentId} does not exist`);
      const add = ch.add ?? [];
      const remove = ch.remove ?? [];
      for (const w of [...add, ...remove]) {
        if (this.workers.get(w) === null) return fail('NOT_FOUND', `changes[${i}]: worker ${w} is not registered`);
      }
      const both = add.find((w) => remove.includes(w));
      if (both !== undefined) return fail('INVALID', `changes[${i}]: worker ${both} is both added and removed`);
      resolved.push({ slot, add: add.map((w) => this.workers.get(w)!.id), remove });
    }

    const before = new Map<number, readonly string[] | undefined>();
    let added = 0;
    let removed = 0;
    for (const { slot, add, remove } of resolved) {
      const current = this.bySlot[slot];
      if (!before.has(slot)) before.set(slot, current);
      const set = new Set(current ?? []);
      for (const w of add) {
        if (set.has(w)) continue;
        set.add(w);
        this.reverse(w).add(slot);
        added++;
      }
      for (const w of remove) {
        if (!set.delete(w)) continue;
        this.reverse(w).delete(slot);
        removed++;
      }
      this.store(slot, [...set].sort(byCodeUnits));
    }
    this.pairCount += added - removed;
    for (const [slot, old] of before) this.writeIfChanged(slot, old, writes);
    return { ok: true, added, removed };
  }

  /** Drops every assignment of a worker that is being removed; returns how many. */
  removeWorker(workerId: string, writes: WriteSet): number {
    const slots = this.byWorker.get(workerId);
    if (slots === undefined) return 0;
    this.byWorker.delete(workerId);
    // In segment id order: a Set iterates in the order of its history, which a catalog reloaded
    // from records does not share, and the writes must not depend on history.
    const ordered = [...slots].sort((a, b) => byCodeUnits(this.table.id(a), this.table.id(b)));
    for (const slot of ordered) {
      const old = this.bySlot[slot]!;
      this.store(slot, old.filter((w) => w !== workerId));
      this.writeIfChanged(slot, old, writes);
    }
    this.pairCount -= slots.size;
    return slots.size;
  }

  private reverse(workerId: string): Set<number> {
    let set = this.byWorker.get(workerId);
    if (set === undefined) this.byWorker.set(workerId, (set = new Set()));
    return set;
  }

  private store(slot: number, workers: readonly string[]): void {
    while (this.bySlot.length <= slot) this.bySlot.push(undefined);
    const had = this.bySlot[slot] !== undefined;
    this.bySlot[slot] = workers.length === 0 ? undefined : workers;
    this.segmentCount += (workers.length > 0 ? 1 : 0) - (had ? 1 : 0);
  }

  private writeIfChanged(slot: number, old: readonly string[] | undefined, writes: WriteSet): void {
    const now = this.bySlot[slot];
    if (JSON.stringify(old ?? []) === JSON.stringify(now ?? [])) return;
    const key = PREFIX.assignment + this.table.id(slot);
    if (now === undefined) writes.delete(key);
    else writes.put(key, JSON.stringify(now));
  }

  /** Assignments, sorted by segment id; filtered to one segment and/or one worker. */
  query(q: { segmentId?: string; workerId?: string } = {}): Assignment[] {
    let slots: Iterable<number>;
    if (q.segmentId !== undefined) {
      const slot = this.table.slotOf(q.segmentId);
      slots = slot === undefined ? [] : [slot];
    } else if (q.workerId !== undefined) {
      slots = this.byWorker.get(q.workerId) ?? [];
    } else {
      slots = this.assignedSlots();
    }
    const out: Assignment[] = [];
    for (const slot of slots) {
      const workerIds = this.bySlot[slot];
      if (workerIds === undefined || (q.workerId !== undefined && !workerIds.includes(q.workerId))) continue;
      out.push({ segmentId: this.table.id(slot), workerIds });
    }
    return out.sort((a, b) => byCodeUnits(a.segmentId, b.segmentId));
  }

  /** Every assignment as (segment id, worker ids), in slot order: unsorted, so cheap to start. */
  *entries(): Generator<[string, readonly string[]]> {
    for (let slot = 0; slot < this.bySlot.length; slot++) {
      const workerIds = this.bySlot[slot];
      if (workerIds !== undefined) yield [this.table.id(slot), workerIds];
    }
  }

  private *assignedSlots(): Generator<number> {
    for (let slot = 0; slot < this.bySlot.length; slot++) if (this.bySlot[slot] !== undefined) yield slot;
  }

  /** Buffers one `asg/` record: it names segments and workers whose records may come later. */
  load(key: string, value: string): void {
    (this.pending ??= []).push([key.slice(PREFIX.assignment.length), JSON.parse(value) as string[]]);
  }

  finishLoad(): void {
    for (const [segmentId, workerIds] of this.pending ?? []) {
      const slot = this.table.slotOf(segmentId);
      assert(slot !== undefined, `assignment of missing segment ${segmentId}`);
      const ids = workerIds.map((w) => {
        const worker = this.workers.get(w);
        assert(worker !== null, `assignment of ${segmentId} to missing worker ${w}`);
        this.reverse(worker.id).add(slot);
        return worker.id;
      });
      assert(ids.length > 0, `empty assignment record for ${segmentId}`);
      this.store(slot, ids);
      this.pairCount += ids.length;
    }
    this.pending = null;
  }

  *records(): Generator<[string, string]> {
    for (const a of this.query()) yield [PREFIX.assignment + a.segmentId, JSON.stringify(a.workerIds)];
  }
}
