/**
 * Registered workers. Registration is an upsert by id: a worker that restarts registers again
 * and keeps the state an operator gave it (a decommissioning worker stays decommissioning);
 * `registeredAt` is the time of the latest registration.
 */
import { workerInputSchema, type WorkerRecord } from '@cairn/shared';
import type { z } from 'zod';
import { assert } from '../core/assert.js';
import { catalogLimits, type ParsedCommandOf } from './commands.js';
import { byCodeUnits, PREFIX } from './keys.js';
import { fail, type CommandResult } from './results.js';
import type { WriteSet } from './writes.js';

type WorkerInput = z.output<typeof workerInputSchema>;

export class WorkerStore {
  private readonly byId = new Map<string, WorkerRecord>();

  get size(): number {
    return this.byId.size;
  }

  get(id: string): WorkerRecord | null {
    return this.byId.get(id) ?? null;
  }

  list(): WorkerRecord[] {
    return [...this.byId.keys()].sort(byCodeUnits).map((id) => this.byId.get(id)!);
  }

  register(input: WorkerInput, at: number, writes: WriteSet): CommandResult {
    const previous = this.byId.get(input.id);
    if (previous === undefined && this.byId.size >= catalogLimits.workersMax) {
      return fail('LIMIT_EXCEEDED', `the catalog holds ${catalogLimits.workersMax} workers already`);
    }
    const record: WorkerRecord = {
      id: previous?.id ?? input.id,
      url: input.url,
      tier: input.tier,
      dc: input.dc,
      capacityBytes: input.capacityBytes,
      version: input.version,
      state: input.state ?? previous?.state ?? 'active',
      registeredAt: at,
    };
    this.put(record, writes);
    return { ok: true, created: previous === undefined };
  }

  setState(c: ParsedCommandOf<'setWorkerState'>, writes: WriteSet): CommandResult {
    const w = this.byId.get(c.id);
    if (w === undefined) return fail('NOT_FOUND', `worker ${c.id} is not registered`);
    if (w.state === c.state) return { ok: true, changed: false };
    this.put({ ...w, state: c.state }, writes);
    return { ok: true, changed: true };
  }

  /** Removes the worker record; the caller removes its assignments. */
  remove(id: string, writes: WriteSet): boolean {
    if (!this.byId.delete(id)) return false;
    writes.delete(PREFIX.worker + id);
    return true;
  }

  private put(record: WorkerRecord, writes: WriteSet): void {
    const text = JSON.stringify(record);
    const previous = this.byId.get(record.id);
    this.byId.set(record.id, Object.freeze(record));
    if (previous === undefined || JSON.stringify(previous) !== text) writes.put(PREFIX.worker + record.id, text);
  }

  load(key: string, value: string): void {
    const record = JSON.parse(value) as WorkerRecord;
    assert(PREFIX.worker + record.id === key, `worker record ${key} names ${record.id}`);
    this.byId.set(record.id, Object.freeze(record));
  }

  *records(): Generator<[string, string]> {
    for (const w of this.list()) yield [PREFIX.worker + w.id, JSON.stringify(w)];
  }
}
