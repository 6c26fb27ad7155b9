import type { Entry, NodeId, RaftLog } from '../core/index.js';

/** A broken Raft safety property. The simulation stops at the first one. */
export class SafetyViolation extends Error {
  override name = 'SafetyViolation';
}

/** FNV-1a over the bytes: enough to tell entries apart in a check, not a cryptographic hash. */
export function hashBytes(data: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) {
    h ^= data[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function entryHash(e: Entry): number {
  return (hashBytes(e.data) ^ (e.type === 'conf' ? 0x5bd1e995 : 0)) >>> 0;
}

/**
 * Watches every node and checks Raft's safety properties as the run goes, not just at the end:
 * - election safety: at most one leader per term;
 * - log matching: entries with the same index and term hold the same data and follow the same term;
 * - leader completeness: a new leader's log holds every entry known to be committed;
 * - state machine safety: every node applies the same entry at each index and snapshots agree;
 * - durability: a committed entry is never truncated by a leader's append, and a quorum of
 *   voters always holds the newest committed entry on disk (in its log or under a snapshot).
 */
export class SafetyMonitor {
  private readonly leaders = new Map<number, NodeId>();

  get terms(): number {
    return this.leaders.size;
  }
  private readonly entries = new Map<string, { hash: number; prevTerm: number | undefined }>();
  /** Committed entries by index; `seenInTerm` bounds from above the term in which each was committed. */
  private readonly committed = new Map<number, { term: number; hash: number; seenInTerm: number }>();
  private readonly snapshots = new Map<number, number>();
  maxCommitted = 0;
  checks = 0;
  /** How often each property was checked, for the run summary. */
  readonly counts = { elections: 0, entries: 0, commits: 0, snapshots: 0, durability: 0, truncations: 0 };

  onLeader(id: NodeId, term: number, log: RaftLog): void {
    this.checks++;
    this.counts.elections++;
    const other = this.leaders.get(term);
    if (other !== undefined && other !== id) throw new SafetyViolation(`election safety: ${other} and ${id} are both leaders of term ${term}`);
    this.leaders.set(term, id);
    // Raft's property: an entry committed in term T is in the log of every leader of a term after T.
    for (const [index, c] of this.committed) {
      if (index <= log.offset || c.seenInTerm >= term) continue;
      const t = log.term(index);
      if (t !== c.term) {
        throw new SafetyViolation(`leader completeness: ${id} leads term ${term} without committed entry ${index} (term ${c.term}; it has ${t ?? 'nothing'})`);
      }
    }
  }

  /** Entries a node is about to persist, with the term of the entry before the first. */
  onPersist(id: NodeId, entries: readonly Entry[], prevTerm: number | undefined): void {
    let prev = prevTerm;
    for (const e of entries) {
      this.checks++;
      this.counts.entries++;
      const key = `${e.index}:${e.term}`;
      const hash = entryHash(e);
      const seen = this.entries.get(key);
      if (seen) {
        if (seen.hash !== hash) throw new SafetyViolation(`log matching: ${id} has different data at index ${e.index} term ${e.term}`);
        if (seen.prevTerm !== undefined && prev !== undefined && seen.prevTerm !== prev) {
          throw new SafetyViolation(`log matching: ${id} has entry ${e.index}/${e.term} after term ${prev}, others after term ${seen.prevTerm}`);
        }
      } else {
        this.entries.set(key, { hash, prevTerm: prev });
      }
      prev = e.term;
    }
  }

  /** A node learned that everything up to `commit` is committed; record those entries. */
  onCommit(id: NodeId, term: number, commit: number, log: RaftLog): void {
    for (let i = commit; i > log.offset && !this.committed.has(i); i--) {
      const e = log.entry(i);
      if (!e) throw new SafetyViolation(`commit: ${id} commits ${i} but does not hold it`);
      this.record(id, e, term);
    }
    this.maxCommitted = Math.max(this.maxCommitted, commit);
  }

  /** A node truncates its log at `index`, where it held an entry of `oldTerm`. */
  onTruncate(id: NodeId, index: number, oldTerm: number): void {
    this.checks++;
    this.counts.truncations++;
    const c = this.committed.get(index);
    if (c && c.term === oldTerm) throw new SafetyViolation(`durability: ${id} truncates committed entry ${index} (term ${oldTerm})`);
  }

  /**
   * The newest committed entry must be on the disk of a quorum. `durableTermAt` says what a node's
   * storage holds at an index: a term, 'snapshot' if a snapshot covers it, or undefined.
   */
  checkDurable(nodes: readonly NodeId[], quorum: number, durableTermAt: (id: NodeId, index: number) => number | 'snapshot' | undefined): void {
    const index = this.maxCommitted;
    const c = this.committed.get(index);
    if (!c) return;
    this.checks++;
    this.counts.durability++;
    let holders = 0;
    for (const id of nodes) {
      const t = durableTermAt(id, index);
      if (t === 'snapshot' || t === c.term) holders++;
    }
    if (holders < quorum) {
      throw new SafetyViolation(`durability: committed entry ${index} (term ${c.term}) is on disk at ${holders} nodes, fewer than a quorum of ${quorum}`);
    }
  }

  /** `term` is the applying node's current term, at least the term the entry was committed in. */
  onApply(id: NodeId, e: Entry, term: number): void {
    this.record(id, e, term);
  }

  onSnapshot(id: NodeId, index: number, hash: number): void {
    this.checks++;
    this.counts.snapshots++;
    const seen = this.snapshots.get(index);
    if (seen !== undefined && seen !== hash) throw new SafetyViolation(`state machine safety: ${id}'s state at ${index} differs from another node's`);
    this.snapshots.set(index, hash);
  }

  /** Whether `e` is the entry known committed at its index. */
  isCommitted(e: Entry): boolean {
    const c = this.committed.get(e.index);
    return c !== undefined && c.term === e.term && c.hash === entryHash(e);
  }

  private record(id: NodeId, e: Entry, seenInTerm: number): void {
    this.checks++;
    this.counts.commits++;
    const hash = entryHash(e);
    const c = this.committed.get(e.index);
    if (!c) {
      this.committed.set(e.index, { term: e.term, hash, seenInTerm });
      this.maxCommitted = Math.max(this.maxCommitted, e.index);
    } else if (c.term !== e.term || c.hash !== hash) {
      throw new SafetyViolation(`state machine safety: ${id} commits ${e.index}/${e.term}, another node ${e.index}/${c.term}`);
    }
  }
}
