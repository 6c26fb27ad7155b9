/**
 * The vocabulary of the consensus core: log entries, messages between peers, and the
 * `Ready` batch that hands I/O to the driver. Everything here is plain data so that a
 * driver can serialize it and a simulator can copy, delay, drop or replay it.
 */

/** A node id. The empty string means "nobody" (no leader known, no vote cast). */
export type NodeId = string;
export const NONE: NodeId = '';

/**
 * `normal`: application data; an empty `data` is the no-op a new leader appends to commit its term.
 * `conf`: a membership change (see conf-change.ts), which takes effect when applied.
 */
export type EntryType = 'normal' | 'conf';

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** The membership: voters decide elections and commits, learners only receive the log. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  /** Membership as of `index`, so a node restored from it knows its peers. */
  readonly conf: ConfState;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /** The application's state machine as of `meta.index`, opaque to the core. */
  readonly data: Uint8Array;
}

/** What must survive a crash besides the log. Losing `commit` is harmless; losing term or vote is not. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/** Volatile state worth reporting (logs, metrics, status endpoints); never persisted. */
export interface SoftState {
  readonly role: Role;
  readonly leader: NodeId;
  readonly term: number;
}

/** Every message travels between peers; local requests are methods of `RaftCore` instead. */
export type MessageType =
  | 'append'
  | 'append-resp'
  | 'heartbeat'
  | 'heartbeat-resp'
  | 'vote'
  | 'vote-resp'
  | 'pre-vote'
  | 'pre-vote-resp'
  | 'snap'
  | 'timeout-now'
  | 'read-index'
  | 'read-index-resp';

/**
 * One message. Fields are used per type as in etcd-io/raft:
 * - Append: `index`/`logTerm` identify the entry preceding `entries`; `commit` is the leader's commit.
 * - AppendResp: `index` is the follower's last matching index; on `reject`, `rejectHint` and
 *   `logTerm` carry the conflict hint used for fast backtracking.
 * - Vote/PreVote: `index`/`logTerm` describe the candidate's last entry; `context` is
 *   'transfer' for a leader-transfer campaign, which bypasses the leader lease.
 * - Heartbeat/HeartbeatResp: `context` carries the ReadIndex round being confirmed.
 * - ReadIndex/ReadIndexResp: `context` identifies the read; `index` is the read index.
 */
export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly logTerm: number;
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  readonly rejectHint: number;
  readonly snapshot: Snapshot | null;
  readonly context: string;
}

/** A confirmed linearizable read: once the state machine has applied `index`, serve `context`. */
export interface ReadState {
  readonly index: number;
  readonly context: string;
}

/**
 * A batch of work for the driver, to be carried out in this order:
 * 1. persist `snapshot` (if any), `entries` (replacing any stored entries at or after the first
 *    one's index) and `hardState` (if any), with fsync when `mustSync`;
 * 2. send `messages` (when `sendBeforePersist`, they may leave before or during step 1);
 * 3. restore the state machine from `snapshot` (if any), then apply `committed` in order;
 *    serve `readStates` once their index is applied;
 * 4. call `advance()`.
 */
export interface Ready {
  readonly softState: SoftState | null;
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | null;
  readonly committed: readonly Entry[];
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
  /** ReadIndex requests this node will never answer (it lost leadership): fail them now. */
  readonly droppedReads: readonly string[];
  readonly mustSync: boolean;
  /**
   * The messages do not depend on this Ready being on disk: a leader's appends, heartbeats and
   * read confirmations in a term and vote persisted earlier, or a candidate's vote requests (and
   * nothing else). Sending them while the entries are written overlaps the leader's fsync with
   * its followers' (Raft thesis 10.2.1), and a candidate's fsync of its term and vote with its
   * voters' (etcd-io/raft sends MsgVote before the HardState is synced, too). It stays safe
   * because the leader counts its own copy toward a commit, and a candidate its own vote toward
   * winning, only in a later Ready, once the driver has finished this one's write: every reply it
   * needs is stepped after `advance()`. Anything that answers a peer (acks, granted votes) must
   * wait for the disk.
   */
  readonly sendBeforePersist: boolean;
}

export function emptyMessage(type: MessageType, from: NodeId, to: NodeId, term: number): Message {
  return {
    type, from, to, term, logTerm: 0, index: 0, entries: [], commit: 0,
    reject: false, rejectHint: 0, snapshot: null, context: '',
  };
}
