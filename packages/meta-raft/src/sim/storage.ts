import type { Entry, HardState, Snapshot } from '../core/index.js';

/** One atomic write, as the driver issues it for a Ready (a LevelDB batch in production). */
export interface StorageBatch {
  hardState?: HardState;
  snapshot?: Snapshot;
  /** Drop every stored entry (a snapshot from the leader replaces the whole log). */
  clearEntries?: boolean;
  /** Drop stored entries up to and including this index (log compaction). */
  compactTo?: number;
  /** Stored entries at or after the first one's index are replaced. */
  entries?: readonly Entry[];
}

interface Stored {
  hardState: HardState;
  snapshot: Snapshot | null;
  entries: Entry[];
}

/**
 * A disk whose page cache is lost on a crash: a batch becomes durable only when a synced write
 * completes (which also flushes every earlier unsynced batch, like a write-ahead log), and every
 * batch not yet durable is gone after `crash()`.
 */
export class SimStorage {
  private durable: Stored = { hardState: { term: 0, vote: '', commit: 0 }, snapshot: null, entries: [] };
  private unsynced: StorageBatch[] = [];
  /** Counts for the run summary. */
  syncs = 0;
  lostBatches = 0;

  /** Issues a write; durable once `sync()` runs (the driver calls it when the fsync completes). */
  write(batch: StorageBatch): void {
    this.unsynced.push(batch);
  }

  /** Everything written so far becomes durable. */
  sync(): void {
    for (const b of this.unsynced) applyBatch(this.durable, b);
    this.unsynced = [];
    this.syncs++;
  }

  /** The machine lost power: whatever was not synced is gone. */
  crash(): void {
    this.lostBatches += this.unsynced.length;
    this.unsynced = [];
  }

  /** What a restarting node reads back. */
  load(): { hardState: HardState; snapshot: Snapshot | null; entries: readonly Entry[] } {
    return { hardState: this.durable.hardState, snapshot: this.durable.snapshot, entries: [...this.durable.entries] };
  }

  /** What the disk holds at `index`: the entry's term, 'snapshot' if compacted under one, or undefined. */
  durableTermAt(index: number): number | 'snapshot' | undefined {
    const snap = this.durable.snapshot;
    if (snap && index <= snap.meta.index) return 'snapshot';
    const first = this.durable.entries[0];
    if (!first) return undefined;
    return this.durable.entries[index - first.index]?.term;
  }

  isEmpty(): boolean {
    return this.durable.entries.length === 0 && this.durable.snapshot === null && this.durable.hardState.term === 0;
  }
}

function applyBatch(s: Stored, b: StorageBatch): void {
  if (b.snapshot && (!s.snapshot || b.snapshot.meta.index >= s.snapshot.meta.index)) s.snapshot = b.snapshot;
  if (b.clearEntries) s.entries = [];
  if (b.compactTo !== undefined) {
    const to = b.compactTo;
    s.entries = s.entries.filter((e) => e.index > to);
  }
  if (b.entries && b.entries.length > 0) {
    const first = b.entries[0]!.index;
    s.entries = s.entries.filter((e) => e.index < first);
    s.entries.push(...b.entries);
  }
  if (b.hardState) s.hardState = b.hardState;
}
