import { assert } from './assert.js';
import type { Entry, Snapshot } from './types.js';

/**
 * The replicated log as one node sees it: entries after the compaction point (`offset`), with
 * markers for what is persisted (`stabled`), committed and applied. The whole uncompacted tail is
 * kept in memory; the application bounds it by taking snapshots and compacting.
 *
 * Invariants: offset <= applied <= committed <= lastIndex(); stabled <= lastIndex().
 */
export class RaftLog {
  /** entries[i].index === offset + 1 + i */
  private entries: Entry[] = [];
  /** Index and term of the last compacted entry (0/0 for a fresh log). */
  offset = 0;
  offsetTerm = 0;
  /** Highest index persisted by the driver. */
  stabled = 0;
  committed = 0;
  /** Highest index the application has applied (acknowledged through advance). */
  applied = 0;
  /** The newest snapshot, sent to followers that fell behind the compaction point. */
  snapshot: Snapshot | null = null;
  /** A snapshot received from the leader that is not yet persisted and applied. */
  unstableSnapshot: Snapshot | null = null;

  /** Rebuilds the log after a restart from what the driver persisted. */
  static restore(snapshot: Snapshot | null, entries: readonly Entry[], commit: number, applied: number): RaftLog {
    const log = new RaftLog();
    if (snapshot) {
      log.snapshot = snapshot;
      log.offset = snapshot.meta.index;
      log.offsetTerm = snapshot.meta.term;
    }
    let expect = log.offset + 1;
    for (const e of entries) {
      if (e.index <= log.offset) continue;
      assert(e.index === expect, `restored log has a gap at ${expect} (found ${e.index})`);
      log.entries.push(e);
      expect++;
    }
    log.stabled = log.lastIndex();
    log.applied = Math.max(log.offset, Math.min(applied, log.lastIndex()));
    log.committed = Math.max(log.applied, Math.min(commit, log.lastIndex()));
    return log;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.entries.length;
  }

  lastTerm(): number {
    return this.entries.length === 0 ? this.offsetTerm : this.entries[this.entries.length - 1]!.term;
  }

  /** The term of the entry at `index`, or undefined if it is compacted away or beyond the end. */
  term(index: number): number | undefined {
    if (index === this.offset) return this.offsetTerm;
    if (index < this.offset || index > this.lastIndex()) return undefined;
    return this.entries[index - this.offset - 1]!.term;
  }

  entry(index: number): Entry | undefined {
    if (index <= this.offset || index > this.lastIndex()) return undefined;
    return this.entries[index - this.offset - 1];
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft's election restriction (5.4.1): is a log ending at (index, term) at least as up to date as ours? */
  isUpToDate(index: number, term: number): boolean {
    const lastTerm = this.lastTerm();
    return term > lastTerm || (term === lastTerm && index >= this.lastIndex());
  }

  /**
   * Appends entries sent by a leader after (prevIndex, prevTerm), truncating any conflicting
   * suffix. Returns the index of the last new entry, or null if our log does not contain
   * (prevIndex, prevTerm) and the leader must back up.
   */
  maybeAppend(prevIndex: number, prevTerm: number, leaderCommit: number, entries: readonly Entry[]): number | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = prevIndex + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      assert(conflict > this.committed, `entry ${conflict} conflicts with committed ${this.committed}`);
      this.append(entries.slice(conflict - (prevIndex + 1)));
    }
    this.commitTo(Math.min(leaderCommit, lastNew));
    return lastNew;
  }

  /** The index of the first entry that is new or differs in term from ours; 0 if none. */
  private findConflict(entries: readonly Entry[]): number {
    for (const e of entries) {
      if (e.index <= this.offset) continue; // already compacted, hence committed and equal
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /** Appends entries, replacing everything from the first one's index on. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    assert(first > this.committed, `append at ${first} would overwrite committed ${this.committed}`);
    assert(first <= this.lastIndex() + 1, `append at ${first} leaves a gap after ${this.lastIndex()}`);
    this.entries.length = first - this.offset - 1;
    for (const e of entries) this.entries.push(e);
    this.stabled = Math.min(this.stabled, first - 1);
  }

  /**
   * Fast log backtracking (etcd-io/raft): the largest index <= `index` whose term is <= `term`,
   * and its term (0 if unknown). A follower uses it to tell the leader where its log may match;
   * the leader uses it to skip a whole conflicting term in one round trip.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = Math.min(index, this.lastIndex()); i > 0; i--) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0, term: 0 };
  }

  /**
   * Entries in [lo, hi), at most `maxCount` and about `maxBytes` of data (at least one entry).
   * Undefined if `lo` is compacted away.
   */
  slice(lo: number, hi: number, maxCount: number, maxBytes: number): Entry[] | undefined {
    if (lo <= this.offset) return undefined;
    const end = Math.min(hi, this.lastIndex() + 1, lo + maxCount);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < end; i++) {
      const e = this.entries[i - this.offset - 1]!;
      bytes += e.data.length;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), `commit ${index} is beyond the last index ${this.lastIndex()}`);
    this.committed = index;
  }

  unstableEntries(): Entry[] {
    return this.entries.slice(this.stabled - this.offset);
  }

  /** Committed entries not yet applied, starting after `from`, at most `maxCount`. */
  committedAfter(from: number, maxCount: number): Entry[] {
    const lo = Math.max(from, this.offset) + 1;
    const hi = Math.min(this.committed, lo + maxCount - 1);
    if (hi < lo) return [];
    return this.entries.slice(lo - this.offset - 1, hi - this.offset);
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  restoreSnapshot(snapshot: Snapshot): void {
    this.entries = [];
    this.offset = snapshot.meta.index;
    this.offsetTerm = snapshot.meta.term;
    this.committed = snapshot.meta.index;
    this.stabled = snapshot.meta.index;
    this.snapshot = snapshot;
    this.unstableSnapshot = snapshot;
  }

  /**
   * Drops entries up to `index`, which must be applied and covered by a snapshot: the newest one
   * kept here, or (`coveredBySource`) one the application builds on demand at its applied index.
   */
  compact(index: number, coveredBySource = false): void {
    if (index <= this.offset) return;
    assert(index <= this.applied, `compact ${index} beyond applied ${this.applied}`);
    assert(coveredBySource || (this.snapshot !== null && this.snapshot.meta.index >= index), `compact ${index} is not covered by a snapshot`);
    const term = this.term(index)!;
    this.entries = this.entries.slice(index - this.offset);
    this.offset = index;
    this.offsetTerm = term;
  }
}
