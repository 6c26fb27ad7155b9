import { Level } from 'level';
import type { ConfState, Entry, HardState } from '../core/index.js';
import { decodeEntry, encodeEntry, logKey } from './codec.js';

/** The compaction point: the last entry folded into the state machine's persisted records. */
export interface CompactionPoint {
  readonly index: number;
  readonly term: number;
  readonly conf: ConfState;
}

export interface LoadedState {
  readonly hardState: HardState | null;
  readonly compaction: CompactionPoint | null;
  readonly applied: number;
  readonly entries: readonly Entry[];
}

/** One state machine record change (null deletes). */
export interface RecordWrite {
  readonly key: string;
  readonly value: string | null;
}

type Op = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string };

const HARD_STATE = 'r:hs';
const COMPACTION = 'r:compact';
const APPLIED = 'r:applied';
const GENERATION = 'r:gen';
const LOG_FIRST = logKey(0);
const LOG_END = 'l;'; // ';' sorts right after ':'

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * The node's disk, one LevelDB: hard state, log entries, the compaction point, the applied index
 * and the state machine's records. What one Ready changes is written in one atomic batch, with
 * the state machine's changes and the applied index together (etcd 3.5's corruption came from
 * letting those two drift apart). Records live under a generation prefix, so installing a
 * snapshot switches to a complete new generation in the same atomic batch.
 */
export class RaftStorage {
  private generation = 0;
  /** Range of log indexes present on disk, so truncation and snapshots can delete exactly those. */
  private firstLog = 0;
  private lastLog = 0;

  private constructor(private readonly db: Level<string, Uint8Array>) {}

  static async open(dir: string): Promise<RaftStorage> {
    const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    await db.open();
    return new RaftStorage(db);
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  /** Reads back everything but the records (see `records()`), and drops leftovers of crashes. */
  async load(): Promise<LoadedState> {
    const hs = await this.db.get(HARD_STATE);
    const compact = await this.db.get(COMPACTION);
    const applied = await this.db.get(APPLIED);
    const gen = await this.db.get(GENERATION);
    this.generation = gen ? Number(dec.decode(gen)) : 0;
    const compaction = compact ? (JSON.parse(dec.decode(compact)) as CompactionPoint) : null;
    const from = compaction ? compaction.index : 0;
    const entries: Entry[] = [];
    for await (const [key, value] of this.db.iterator({ gt: logKey(from), lt: LOG_END })) {
      const index = Number(key.slice(2));
      // Stop at a gap: nothing after one can be used (it cannot happen unless the disk lies).
      if (entries.length > 0 && index !== entries[entries.length - 1]!.index + 1) break;
      if (entries.length === 0 && index !== from + 1) break;
      entries.push(decodeEntry(index, value));
    }
    // Entries at or below the compaction point were folded into the records: delete them.
    await this.db.clear({ gte: LOG_FIRST, lte: logKey(from) });
    await this.clearOtherGenerations();
    this.firstLog = entries.length > 0 ? entries[0]!.index : 0;
    this.lastLog = entries.length > 0 ? entries[entries.length - 1]!.index : 0;
    return {
      hardState: hs ? (JSON.parse(dec.decode(hs)) as HardState) : null,
      compaction,
      applied: applied ? Number(dec.decode(applied)) : 0,
      entries,
    };
  }

  /** The state machine's records of the current generation, in key order, in batches. */
  async *records(batchSize = 4096): AsyncGenerator<[string, string][]> {
    const prefix = this.recordPrefix();
    const it = this.db.iterator({ gt: prefix, lt: `${prefix}\uffff` });
    try {
      for (;;) {
        const batch = await it.nextv(batchSize);
        if (batch.length === 0) return;
        yield batch.map(([k, v]) => [k.slice(prefix.length), dec.decode(v)] as [string, string]);
      }
    } finally {
      await it.close();
    }
  }

  /**
   * Writes what one Ready and its applied entries changed, atomically: new entries (replacing any
   * stored from the first one's index on), the hard state, the state machine's record changes and
   * the applied index. `sync` forces it to disk before returning.
   */
  async writeReady(w: {
    entries: readonly Entry[];
    hardState: HardState | null;
    recordWrites: readonly RecordWrite[];
    applied: number | null;
    sync: boolean;
  }): Promise<void> {
    const ops: Op[] = [];
    if (w.entries.length > 0) {
      const first = w.entries[0]!.index;
      const last = w.entries[w.entries.length - 1]!.index;
      for (let i = Math.max(first, last + 1, this.firstLog); i <= this.lastLog; i++) ops.push({ type: 'del', key: logKey(i) });
      for (const e of w.entries) ops.push({ type: 'put', key: logKey(e.index), value: encodeEntry(e) });
      if (this.firstLog === 0 || first < this.firstLog) this.firstLog = first;
      this.lastLog = last;
    }
    this.pushRecords(ops, w.recordWrites, w.applied);
    if (w.hardState) ops.push({ type: 'put', key: HARD_STATE, value: enc.encode(JSON.stringify(w.hardState)) });
    if (ops.length > 0) await this.db.batch(ops, { sync: w.sync });
  }

  /**
   * Replaces everything with a snapshot from the leader, atomically: a new generation of records,
   * the compaction point, the applied index, no log entries, and the hard state.
   */
  async installSnapshot(records: Iterable<[string, string]>, point: CompactionPoint, hardState: HardState | null): Promise<void> {
    const ops: Op[] = [];
    for (let i = this.firstLog; i > 0 && i <= this.lastLog; i++) ops.push({ type: 'del', key: logKey(i) });
    const next = this.generation + 1;
    const prefix = recordPrefix(next);
    for (const [k, v] of records) ops.push({ type: 'put', key: prefix + k, value: enc.encode(v) });
    ops.push({ type: 'put', key: GENERATION, value: enc.encode(String(next)) });
    ops.push({ type: 'put', key: COMPACTION, value: enc.encode(JSON.stringify(point)) });
    ops.push({ type: 'put', key: APPLIED, value: enc.encode(String(point.index)) });
    if (hardState) ops.push({ type: 'put', key: HARD_STATE, value: enc.encode(JSON.stringify(hardState)) });
    await this.db.batch(ops, { sync: true });
    this.generation = next;
    this.firstLog = 0;
    this.lastLog = 0;
    await this.clearOtherGenerations();
  }

  /** Records a new compaction point, then deletes the log entries it covers. */
  async compact(point: CompactionPoint): Promise<void> {
    await this.db.put(COMPACTION, enc.encode(JSON.stringify(point)), { sync: true });
    await this.db.clear({ gte: LOG_FIRST, lte: logKey(point.index) });
    if (this.firstLog > 0 && this.firstLog <= point.index) this.firstLog = point.index < this.lastLog ? point.index + 1 : 0;
    if (this.firstLog === 0) this.lastLog = 0;
  }

  private pushRecords(ops: Op[], writes: readonly RecordWrite[], applied: number | null): void {
    const prefix = this.recordPrefix();
    for (const w of writes) {
      if (w.value === null) ops.push({ type: 'del', key: prefix + w.key });
      else ops.push({ type: 'put', key: prefix + w.key, value: enc.encode(w.value) });
    }
    if (applied !== null) ops.push({ type: 'put', key: APPLIED, value: enc.encode(String(applied)) });
  }

  private recordPrefix(): string {
    return recordPrefix(this.generation);
  }

  private async clearOtherGenerations(): Promise<void> {
    const keep = this.recordPrefix();
    // Every generation prefix starts with "s"; clear those before and after the current one.
    await this.db.clear({ gte: 's', lt: keep });
    await this.db.clear({ gt: `${keep}\uffff`, lt: 't' });
  }
}

function recordPrefix(generation: number): string {
  return `s${String(generation).padStart(8, '0')}:`;
}
