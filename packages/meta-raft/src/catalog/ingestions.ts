/**
 * Ingestion ids already published, with their original results, so that a retried publish
 * (a client timed out and sent it again, or the proposer re-proposed it after a leader change)
 * is answered with the first result and changes nothing.
 *
 * Bounded: only the newest `rememberedMax` ids (100,000 by default) are kept. Older ones are
 * forgotten deterministically, oldest publish first, and every replica forgets the same ones
 * because the order is the order of the log. A retry that arrives after 100,000 later publishes
 * is applied again; since an identical segment is left as it is, that retry still changes
 * nothing unless segments were marked unused meanwhile.
 */
import { assert } from '../core/assert.js';
import { byCodeUnits, PREFIX } from './keys.js';
import type { PublishOk } from './results.js';
import type { WriteSet } from './writes.js';

interface Remembered {
  readonly seq: number;
  readonly result: PublishOk;
}

export class IngestionLog {
  /** Insertion order is publish order (`seq` ascending): the first entry is the oldest. */
  private readonly byId = new Map<string, Remembered>();
  private nextSeq = 1;
  private pending: [string, Remembered][] | null = null;

  constructor(private readonly rememberedMax: number) {
    assert(rememberedMax >= 1, 'ingestionsRememberedMax must be at least 1');
  }

  get size(): number {
    return this.byId.size;
  }

  get(id: string): PublishOk | undefined {
    return this.byId.get(id)?.result;
  }

  remember(id: string, result: PublishOk, writes: WriteSet): void {
    assert(!this.byId.has(id), `ingestion ${id} remembered twice`);
    const entry = { seq: this.nextSeq++, result };
    this.byId.set(id, entry);
    writes.put(PREFIX.ingestion + id, JSON.stringify({ q: entry.seq, r: result }));
    while (this.byId.size > this.rememberedMax) {
      const oldest = this.byId.keys().next().value as string;
      this.byId.delete(oldest);
      writes.delete(PREFIX.ingestion + oldest);
    }
  }

  /** Restores one `ing/` record; `finishLoad` puts them back in publish order. */
  load(key: string, value: string): void {
    const { q, r } = JSON.parse(value) as { q: number; r: PublishOk };
    (this.pending ??= []).push([key.slice(PREFIX.ingestion.length), { seq: q, result: r }]);
  }

  finishLoad(): void {
    const pending = (this.pending ?? []).sort((a, b) => a[1].seq - b[1].seq);
    this.pending = null;
    for (const [id, entry] of pending) {
      this.byId.set(id, entry);
      this.nextSeq = entry.seq + 1;
    }
    assert(this.byId.size <= this.rememberedMax, `${this.byId.size} remembered ingestions exceed the bound ${this.rememberedMax}`);
  }

  *records(): Generator<[string, string]> {
    const ids = [...this.byId.keys()].sort(byCodeUnits);
    for (const id of ids) {
      const e = this.byId.get(id)!;
      yield [PREFIX.ingestion + id, JSON.stringify({ q: e.seq, r: e.result })];
    }
  }
}
