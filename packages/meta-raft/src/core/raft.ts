import { assert } from './assert.js';
import { applyConfChange, confChangeError, decodeConfChange, EMPTY_CONF, encodeConfChange } from './conf-change.js';
import type { ConfChange } from './conf-change.js';
import { RaftLog } from './log.js';
import { Prng } from './prng.js';
import { Progress } from './progress.js';
import { hasQuorum, majorityIndex, voteResult } from './quorum.js';
import { PendingReads } from './read-only.js';
import { emptyMessage, NONE } from './types.js';
import type {
  ConfState, Entry, HardState, Message, MessageType, NodeId, ReadState, Ready, Role, Snapshot, SoftState,
} from './types.js';

export interface RaftConfig {
  readonly id: NodeId;
  /** Ticks without hearing from a leader before a follower campaigns (randomized up to twice this). */
  readonly electionTicks: number;
  /** Ticks between a leader's heartbeats; must be well below `electionTicks`. */
  readonly heartbeatTicks: number;
  /** Seeds the randomized election timeouts. */
  readonly seed: number;
  /** Campaign only after a pre-vote round shows the candidate could win (Raft dissertation 9.6). */
  readonly preVote?: boolean;
  /** A leader steps down when it has not heard from a majority within an election timeout. */
  readonly checkQuorum?: boolean;
  /** Unacknowledged appends in flight to one follower. */
  readonly inflightAppendsMax?: number;
  readonly appendEntriesMax?: number;
  readonly appendBytesMax?: number;
  /** Bytes of proposals appended by this leader and not yet committed; beyond it proposals are refused. */
  readonly uncommittedBytesMax?: number;
  /** Committed entries handed to the application in one Ready. */
  readonly readyCommittedMax?: number;
  /** ReadIndex requests waiting for confirmation. */
  readonly pendingReadsMax?: number;
  /** A learner is promoted only when its log is at most this many entries behind. */
  readonly promoteLagMax?: number;
  /** Ticks to wait for a snapshot to be acknowledged before trying again. */
  readonly snapshotTicksMax?: number;
  /**
   * The application's state as of the applied index, for a follower that fell behind the
   * compacted log. When set, a snapshot is built fresh at the moment one is needed, so the
   * application never keeps a serialized copy of its state around between compactions.
   * Without it, the newest snapshot given to `createSnapshot` is sent.
   */
  readonly snapshotSource?: () => Uint8Array;
}

/** What a restarted node recovers from its storage. */
export interface RaftRestore {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | null;
  /** Persisted entries after the snapshot, contiguous. */
  readonly entries: readonly Entry[];
  /** Highest index the application had applied durably (at least the snapshot's). */
  readonly applied: number;
}

export type ProposeResult =
  | { readonly ok: true; readonly index: number; readonly term: number }
  | { readonly ok: false; readonly error: ProposeError; readonly leader: NodeId; readonly message: string };

export type ProposeError = 'not-leader' | 'transferring' | 'overloaded' | 'conf-change-pending' | 'invalid-conf-change';

interface Defaults {
  preVote: boolean;
  checkQuorum: boolean;
  inflightAppendsMax: number;
  appendEntriesMax: number;
  appendBytesMax: number;
  uncommittedBytesMax: number;
  readyCommittedMax: number;
  pendingReadsMax: number;
  promoteLagMax: number;
  snapshotTicksMax: number;
}

const DEFAULTS: Defaults = {
  preVote: true,
  checkQuorum: true,
  inflightAppendsMax: 64,
  appendEntriesMax: 512,
  appendBytesMax: 1 << 20,
  uncommittedBytesMax: 64 << 20,
  readyCommittedMax: 4096,
  pendingReadsMax: 4096,
  promoteLagMax: 64,
  snapshotTicksMax: 0, // 0: five election timeouts
};

const TRANSFER_CONTEXT = 'transfer';

/**
 * The Raft consensus algorithm as a pure, synchronous state machine, after etcd-io/raft.
 * Inputs: `tick()`, `step(message)`, `propose()`, `readIndex()`, `transferLeader()`,
 * `proposeConfChange()`, and the application's `createSnapshot()`/`compact()`.
 * Outputs: `ready()`, a batch of persistence, messages and committed entries for the driver,
 * acknowledged with `advance()`. No I/O, no clock, no randomness beyond the seeded generator.
 *
 * Between `ready()` and `advance()` the core must not be stepped: the driver finishes the batch
 * (persist, send, apply) first. This keeps "persisted before sent" trivially true.
 */
export class RaftCore {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  role: Role = 'follower';
  readonly log: RaftLog;
  conf: ConfState = EMPTY_CONF;

  private readonly cfg: Defaults & RaftConfig;
  private readonly prng: Prng;
  private progress = new Map<NodeId, Progress>();
  private votes = new Map<NodeId, boolean>();
  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  private droppedReads: string[] = [];
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTicks = 0;
  private leadTransferee: NodeId = NONE;
  /** As a candidate of a leadership transfer: the leader that sent TimeoutNow. */
  private transferFrom: NodeId = NONE;
  /** As a candidate: where the log of each voter that granted its vote ends. */
  private voterLogEnds = new Map<NodeId, { index: number; term: number }>();
  /** Index of the newest conf change this leader appended; another waits until it is applied. */
  private pendingConfIndex = 0;
  private uncommittedBytes = 0;
  private readonly pendingReads: PendingReads;
  /** Reads received before this leader committed an entry of its term (it cannot know the commit index yet). */
  private readsAwaitingCommit: { from: NodeId; context: string }[] = [];
  private prevSoft: SoftState;
  private prevHard: HardState;
  private outstanding: Ready | null = null;

  constructor(config: RaftConfig, restore?: RaftRestore) {
    this.cfg = { ...DEFAULTS, ...stripUndefined(config) } as Defaults & RaftConfig;
    if (this.cfg.snapshotTicksMax === 0) this.cfg.snapshotTicksMax = 5 * this.cfg.electionTicks;
    assert(this.cfg.heartbeatTicks > 0 && this.cfg.heartbeatTicks < this.cfg.electionTicks, 'heartbeatTicks must be in (0, electionTicks)');
    this.id = config.id;
    this.prng = new Prng(config.seed);
    this.pendingReads = new PendingReads(this.cfg.pendingReadsMax);
    if (restore) {
      this.log = RaftLog.restore(restore.snapshot, restore.entries, restore.hardState.commit, restore.applied);
      this.term = restore.hardState.term;
      this.vote = restore.hardState.vote;
      this.conf = restore.snapshot?.meta.conf ?? EMPTY_CONF;
      // Membership changes take effect when applied: replay those the application already applied.
      for (let i = this.log.firstIndex(); i <= this.log.applied; i++) {
        const e = this.log.entry(i)!;
        if (e.type === 'conf') this.conf = applyConfChange(this.conf, decodeConfChange(e.data));
      }
    } else {
      this.log = new RaftLog();
    }
    this.becomeFollower(this.term, NONE);
    this.prevSoft = this.softState();
    this.prevHard = this.hardState();
  }

  /**
   * A brand-new group member that knows the initial voters. Every initial member is created the
   * same way, so their first log entry (the bootstrap configuration, at term 1) is identical.
   */
  static bootstrap(config: RaftConfig, voters: readonly NodeId[]): RaftCore {
    const core = new RaftCore(config);
    const cc: ConfChange = { type: 'bootstrap', voters };
    assert(confChangeError(EMPTY_CONF, cc) === null, 'bootstrap needs at least one voter');
    core.log.append([{ term: 1, index: 1, type: 'conf', data: encodeConfChange(cc) }]);
    core.log.commitTo(1);
    core.conf = applyConfChange(EMPTY_CONF, cc);
    core.becomeFollower(1, NONE);
    return core;
  }

  // ---------------------------------------------------------------- public inputs

  /** Advances logical time by one tick. */
  tick(): void {
    this.assertNotOutstanding();
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  /** Handles a message from a peer. */
  step(m: Message): void {
    this.assertNotOutstanding();
    if (m.to !== this.id) return;
    if (m.term > this.term) {
      if (m.type === 'vote' || m.type === 'pre-vote') {
        const forced = m.context === TRANSFER_CONTEXT;
        // Leader lease: while we hear from a leader, a disrupting candidate is ignored entirely.
        const inLease = this.cfg.checkQuorum && this.lead !== NONE && this.electionElapsed < this.cfg.electionTicks;
        if (!forced && inLease) return;
      }
      if (m.type === 'pre-vote') {
        // A pre-vote never changes our term.
      } else if (m.type === 'pre-vote-resp' && !m.reject) {
        // Our term moves only once the pre-vote is won.
      } else if (m.type === 'append' || m.type === 'heartbeat' || m.type === 'snap') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === 'heartbeat' || m.type === 'append')) {
        // A stale leader (e.g. back from a partition) learns our higher term and steps down; with
        // pre-vote it could otherwise never learn it, since we would not campaign against it.
        this.send({ ...emptyMessage('append-resp', this.id, m.from, this.term) });
      } else if (m.type === 'pre-vote') {
        this.send({ ...emptyMessage('pre-vote-resp', this.id, m.from, this.term), reject: true });
      }
      return;
    }

    switch (m.type) {
      case 'vote':
      case 'pre-vote': {
        const canVote =
          this.vote === m.from ||
          (this.vote === NONE && this.lead === NONE) ||
          (m.type === 'pre-vote' && m.term > this.term);
        const respType: MessageType = m.type === 'vote' ? 'vote-resp' : 'pre-vote-resp';
        if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
          // A granted pre-vote answers in the candidate's future term so the candidate counts it.
          // A granted vote says where our log ends, so a new leader can stream to us at once.
          const logEnd = m.type === 'vote' ? { index: this.log.lastIndex(), logTerm: this.log.lastTerm() } : {};
          this.send({ ...emptyMessage(respType, this.id, m.from, m.term), ...logEnd });
          if (m.type === 'vote') {
            this.electionElapsed = 0;
            this.vote = m.from;
          }
        } else {
          this.send({ ...emptyMessage(respType, this.id, m.from, this.term), reject: true });
        }
        return;
      }
      default:
        if (this.role === 'leader') this.stepLeader(m);
        else if (this.role === 'follower') this.stepFollower(m);
        else this.stepCandidate(m);
    }
  }

  /** Appends `data` to the log if this node is the leader. */
  propose(data: Uint8Array): ProposeResult {
    this.assertNotOutstanding();
    return this.appendProposal('normal', data);
  }

  /**
   * Proposes a single-server membership change. One change at a time: another is refused until
   * the previous one is applied. A learner is promoted only once it has caught up.
   */
  proposeConfChange(cc: ConfChange): ProposeResult {
    this.assertNotOutstanding();
    if (this.role !== 'leader') return this.refuse('not-leader', 'not the leader');
    if (cc.type === 'bootstrap') return this.refuse('invalid-conf-change', 'bootstrap is only for new groups');
    const error = confChangeError(this.conf, cc);
    if (error !== null) return this.refuse('invalid-conf-change', error);
    if (this.pendingConfIndex > this.log.applied) {
      return this.refuse('conf-change-pending', `the change at index ${this.pendingConfIndex} is not applied yet`);
    }
    if (cc.type === 'add-voter' && this.conf.learners.includes(cc.node)) {
      const lag = this.log.lastIndex() - (this.progress.get(cc.node)?.match ?? 0);
      if (lag > this.cfg.promoteLagMax) {
        return this.refuse('invalid-conf-change', `learner ${cc.node} is ${lag} entries behind (at most ${this.cfg.promoteLagMax})`);
      }
    }
    const result = this.appendProposal('conf', encodeConfChange(cc));
    if (result.ok) this.pendingConfIndex = result.index;
    return result;
  }

  /**
   * Requests a linearizable read. When this node learns an index that was the leader's commit
   * index at some moment after the request, while it was provably still leader, a ReadState with
   * `context` appears in a Ready. False if no leader is known or too many reads are pending.
   */
  readIndex(context: string): boolean {
    this.assertNotOutstanding();
    if (this.role === 'leader') return this.leaderReadIndex(this.id, context);
    if (this.role === 'follower' && this.lead !== NONE) {
      this.send({ ...emptyMessage('read-index', this.id, this.lead, this.term), context });
      return true;
    }
    return false;
  }

  /** Hands leadership to `target` (Raft dissertation 3.10). False if that cannot start. */
  transferLeader(target: NodeId): boolean {
    this.assertNotOutstanding();
    if (this.role !== 'leader' || target === this.id) return false;
    const pr = this.progress.get(target);
    if (!pr || pr.isLearner) return false;
    if (this.leadTransferee === target) return true;
    this.leadTransferee = target;
    // The transfer must finish within an election timeout, or it is abandoned.
    this.electionElapsed = 0;
    if (pr.match !== this.log.lastIndex()) {
      this.sendAppend(target);
      while (this.maybeSendAppend(target, false)) { /* bounded by inflightAppendsMax */ }
    }
    if (pr.match === this.log.lastIndex() || this.oneAppendBehind(pr)) this.sendTimeoutNow(target);
    return true;
  }

  /** The transport tells the core whether a snapshot reached `to`. */
  reportSnapshot(to: NodeId, ok: boolean): void {
    this.assertNotOutstanding();
    const pr = this.progress.get(to);
    if (this.role !== 'leader' || !pr || pr.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the next heartbeat response (or the follower's append response) before retrying.
    pr.probeSent = true;
  }

  /** The transport could not reach `to`: stop streaming to it optimistically. */
  reportUnreachable(to: NodeId): void {
    this.assertNotOutstanding();
    const pr = this.progress.get(to);
    if (this.role === 'leader' && pr && pr.state === 'replicate') pr.becomeProbe();
  }

  /** Builds a snapshot of the application state at the applied index, and keeps it to send. */
  createSnapshot(data: Uint8Array): Snapshot {
    this.assertNotOutstanding();
    const snapshot = this.snapshotAtApplied(data);
    if (!this.log.snapshot || this.log.snapshot.meta.index < snapshot.meta.index) this.log.snapshot = snapshot;
    return snapshot;
  }

  private snapshotAtApplied(data: Uint8Array): Snapshot {
    const index = this.log.applied;
    const term = this.log.term(index);
    assert(term !== undefined, `no term for applied index ${index}`);
    return { meta: { index, term, conf: this.conf }, data };
  }

  /** Forgets log entries up to `index`; they must be covered by a snapshot (or `snapshotSource`). */
  compact(index: number): void {
    this.assertNotOutstanding();
    this.log.compact(index, this.cfg.snapshotSource !== undefined);
  }

  // ---------------------------------------------------------------- output

  hasReady(): boolean {
    if (this.outstanding) return false;
    const soft = this.softState();
    const hard = this.hardState();
    return (
      !sameSoft(soft, this.prevSoft) ||
      !sameHard(hard, this.prevHard) ||
      this.log.unstableSnapshot !== null ||
      this.log.stabled < this.log.lastIndex() ||
      this.log.committed > this.log.applied ||
      this.msgs.length > 0 ||
      this.readStates.length > 0 ||
      this.droppedReads.length > 0
    );
  }

  /** The next batch of work. Call `advance()` once it is done. */
  ready(): Ready {
    this.assertNotOutstanding();
    const soft = this.softState();
    const hard = this.hardState();
    const entries = this.log.unstableEntries();
    const termOrVoteChanged = hard.term !== this.prevHard.term || hard.vote !== this.prevHard.vote;
    const rd: Ready = {
      softState: sameSoft(soft, this.prevSoft) ? null : soft,
      hardState: sameHard(hard, this.prevHard) ? null : hard,
      entries,
      snapshot: this.log.unstableSnapshot,
      committed: this.log.committedAfter(this.log.applied, this.cfg.readyCommittedMax),
      messages: this.msgs,
      readStates: this.readStates,
      droppedReads: this.droppedReads,
      mustSync: entries.length > 0 || termOrVoteChanged || this.log.unstableSnapshot !== null,
      sendBeforePersist: this.log.unstableSnapshot === null && (
        (this.role === 'leader' && !termOrVoteChanged) ||
        ((this.role === 'candidate' || this.role === 'pre-candidate') && this.msgs.every((m) => m.type === 'vote' || m.type === 'pre-vote'))),
    };
    this.msgs = [];
    this.readStates = [];
    this.droppedReads = [];
    this.outstanding = rd;
    return rd;
  }

  /** Acknowledges the last Ready: its entries are persisted and its committed entries applied. */
  advance(): void {
    const rd = this.outstanding;
    assert(rd !== null, 'advance() without a ready()');
    this.outstanding = null;
    if (rd.softState) this.prevSoft = rd.softState;
    if (rd.hardState) this.prevHard = rd.hardState;
    if (rd.snapshot) {
      if (this.log.unstableSnapshot === rd.snapshot) this.log.unstableSnapshot = null;
      this.log.applied = Math.max(this.log.applied, rd.snapshot.meta.index);
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1]!;
      // Only if the log still holds that entry; nothing can have changed it since ready().
      if (this.log.matchTerm(last.index, last.term)) this.log.stabled = Math.max(this.log.stabled, last.index);
    }
    // Every committed entry of this Ready is applied and on disk now (the driver writes their
    // records with the applied index in one batch), so applied moves to the last before any
    // membership change acts: a snapshot opened by the appends a change sends is labelled with
    // the index of the records it exports. Moving it one entry at a time labelled a snapshot
    // opened at a change below the entries after it, which a follower then applied twice.
    if (rd.committed.length > 0) this.log.applied = Math.max(this.log.applied, rd.committed[rd.committed.length - 1]!.index);
    let membershipChanged = false;
    for (const e of rd.committed) {
      if (e.type !== 'conf') continue;
      this.applyConf(decodeConfChange(e.data));
      membershipChanged = true;
    }
    if (membershipChanged && this.role === 'leader') {
      // The quorum may have shrunk, and new members need the log.
      this.maybeCommit();
      this.broadcastAppend();
    }
  }

  // ---------------------------------------------------------------- state reports

  softState(): SoftState {
    return { role: this.role, leader: this.lead, term: this.term };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  /** A read-only view of the leader's replication progress, for status endpoints and tests. */
  /** A leader's view of a peer; `recentActive`: heard from since the last check-quorum round (an election timeout). */
  progressOf(id: NodeId): { match: number; next: number; state: string; recentActive: boolean } | undefined {
    const pr = this.progress.get(id);
    return pr ? { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive } : undefined;
  }

  isVoter(): boolean {
    return this.conf.voters.includes(this.id);
  }

  // ---------------------------------------------------------------- roles

  private becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.role = 'follower';
    this.lead = lead;
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'leader cannot become pre-candidate');
    // Unlike a real campaign, a pre-vote round changes neither term nor vote.
    this.votes = new Map();
    this.role = 'pre-candidate';
    this.lead = NONE;
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'leader cannot become candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    assert(this.role === 'candidate', 'only a candidate becomes leader');
    const transferFrom = this.transferFrom;
    const voterLogEnds = this.voterLogEnds;
    this.reset(this.term);
    this.role = 'leader';
    this.lead = this.id;
    const self = this.progress.get(this.id)!;
    self.becomeReplicate();
    self.recentActive = true;
    // Conservatively assume a conf change may be in the uncommitted tail.
    this.pendingConfIndex = this.log.lastIndex();
    // Voters said where their logs end: stream to them from there (see `streamFromVote`).
    for (const [id, end] of voterLogEnds) this.streamFromVote(id, end.index, end.term);
    // Elected by a leadership transfer: the old leader stopped taking proposals and had our log up
    // to its last index when it sent TimeoutNow, so its log most likely ends where ours does,
    // even when its vote has not arrived yet. Stream to it at once too: the empty entry and the
    // writes that follow it leave together, and the first of them commits in one round trip. A
    // wrong guess costs one rejection, whose hint then says where to probe.
    const old = transferFrom !== NONE ? this.progress.get(transferFrom) : undefined;
    if (old && !old.isLearner && old.state === 'probe') {
      old.becomeReplicate();
      old.next = this.log.lastIndex() + 1;
    }
    // The empty entry of its own term lets the leader commit everything before it (Figure 8).
    this.appendEntry('normal', new Uint8Array(0));
    this.broadcastAppend();
  }

  private reset(term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTicks = this.cfg.electionTicks + this.prng.int(this.cfg.electionTicks);
    this.leadTransferee = NONE;
    this.transferFrom = NONE;
    this.voterLogEnds = new Map();
    this.votes = new Map();
    this.pendingConfIndex = 0;
    this.uncommittedBytes = 0;
    this.resetProgress();
    // Only a leader confirms reads; whatever was pending here will never be answered.
    for (const read of this.pendingReads.clear()) if (read.from === this.id) this.droppedReads.push(read.context);
    for (const read of this.readsAwaitingCommit) if (read.from === this.id) this.droppedReads.push(read.context);
    this.readsAwaitingCommit = [];
  }

  private resetProgress(): void {
    const progress = new Map<NodeId, Progress>();
    const last = this.log.lastIndex();
    const add = (id: NodeId, learner: boolean) => {
      const pr = new Progress(last + 1, this.cfg.inflightAppendsMax, learner);
      if (id === this.id) pr.match = last;
      progress.set(id, pr);
    };
    for (const id of this.conf.voters) add(id, false);
    for (const id of this.conf.learners) add(id, true);
    this.progress = progress;
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.isVoter() && this.electionElapsed >= this.randomizedElectionTicks) {
      this.electionElapsed = 0;
      this.campaignIfAllowed(false);
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) {
        const active = hasQuorum(this.conf.voters, (id) => id === this.id || this.progress.get(id)?.recentActive === true);
        for (const [id, pr] of this.progress) if (id !== this.id) pr.recentActive = false;
        if (!active) {
          this.becomeFollower(this.term, NONE);
          return;
        }
      }
      // A transfer that did not finish within an election timeout is abandoned.
      this.leadTransferee = NONE;
    }
    for (const [id, pr] of this.progress) {
      if (pr.state !== 'snapshot') continue;
      if (++pr.snapshotTicks > this.cfg.snapshotTicksMax) {
        // Presumed lost: start over from what the follower is known to hold.
        pr.pendingSnapshot = 0;
        pr.becomeProbe();
        this.sendAppend(id);
      }
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat(this.pendingReads.lastContext());
    }
  }

  private campaignIfAllowed(transfer: boolean): void {
    if (this.role === 'leader' || !this.isVoter()) return;
    // A conf change committed but not applied could change who votes: wait for it.
    for (const e of this.log.committedAfter(this.log.applied, Number.MAX_SAFE_INTEGER)) {
      if (e.type === 'conf') return;
    }
    if (this.cfg.preVote && !transfer) this.campaign('pre-vote', false);
    else this.campaign('vote', transfer);
  }

  private campaign(kind: 'pre-vote' | 'vote', transfer: boolean): void {
    let term: number;
    if (kind === 'pre-vote') {
      this.becomePreCandidate();
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      term = this.term;
    }
    if (this.poll(this.id, true) === 'won') {
      // A single-voter group wins at once.
      if (kind === 'pre-vote') this.campaign('vote', transfer);
      else this.becomeLeader();
      return;
    }
    for (const id of this.conf.voters) {
      if (id === this.id) continue;
      this.send({
        ...emptyMessage(kind, this.id, id, term),
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        context: transfer ? TRANSFER_CONTEXT : '',
      });
    }
  }

  private poll(from: NodeId, granted: boolean): 'won' | 'lost' | 'pending' {
    if (!this.votes.has(from)) this.votes.set(from, granted);
    return voteResult(this.conf.voters, this.votes);
  }

  // ---------------------------------------------------------------- per-role message handling

  private stepLeader(m: Message): void {
    const pr = this.progress.get(m.from);
    switch (m.type) {
      case 'read-index':
        this.leaderReadIndex(m.from, m.context);
        return;
      case 'append-resp': {
        if (!pr) return;
        pr.recentActive = true;
        if (m.reject) {
          let hint = m.rejectHint;
          if (m.logTerm > 0) hint = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
          if (pr.maybeDecrTo(m.index, hint)) this.sendAppend(m.from);
          return;
        }
        const wasPaused = pr.isPaused();
        if (!pr.maybeUpdate(m.index)) return;
        if (pr.state === 'probe') {
          pr.becomeReplicate();
        } else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
          pr.becomeProbe();
          pr.becomeReplicate();
        } else if (pr.state === 'replicate') {
          pr.inflights.freeUpTo(m.index);
        }
        if (this.maybeCommit()) {
          this.broadcastAppend();
        } else if (wasPaused) {
          this.sendAppend(m.from);
        }
        // Stream whatever else the follower is missing while the window allows.
        while (this.maybeSendAppend(m.from, false)) { /* bounded by inflightAppendsMax */ }
        if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
        return;
      }
      case 'vote-resp':
        // A vote that came after we had won: it still says where that voter's log ends.
        if (!m.reject && this.streamFromVote(m.from, m.index, m.logTerm)) {
          while (this.maybeSendAppend(m.from, false)) { /* bounded by inflightAppendsMax */ }
        }
        return;
      case 'heartbeat-resp': {
        if (!pr) return;
        pr.recentActive = true;
        pr.probeSent = false;
        // A full window with a live follower: free one slot so replication cannot stall forever.
        if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirst();
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
        if (m.context !== '') this.confirmReads(m.from, m.context);
        return;
      }
      default:
        return;
    }
  }

  private stepCandidate(m: Message): void {
    const respType: MessageType = this.role === 'pre-candidate' ? 'pre-vote-resp' : 'vote-resp';
    switch (m.type) {
      case 'append':
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case 'snap':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case 'vote-resp':
      case 'pre-vote-resp': {
        if (m.type !== respType) return;
        if (m.type === 'vote-resp' && !m.reject) this.voterLogEnds.set(m.from, { index: m.index, term: m.logTerm });
        const result = this.poll(m.from, !m.reject);
        if (result === 'won') {
          if (this.role === 'pre-candidate') this.campaign('vote', false);
          else this.becomeLeader();
        } else if (result === 'lost') {
          // A pre-vote loss or a vote loss at the same term: go back to waiting.
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'append':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case 'snap':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case 'timeout-now':
        // The leader hands over: campaign at once, skipping pre-vote and the lease. It names its
        // last entry (index 0: a node that does not, which is checked no further); without that
        // entry here, the append TimeoutNow followed was lost: a campaign would ask for votes
        // with a shorter log and leave the group leaderless, so wait for the TimeoutNow the
        // leader sends once this node has acknowledged everything.
        if (m.index > 0 && !this.log.matchTerm(m.index, m.logTerm)) return;
        this.campaignIfAllowed(true);
        if (this.role === 'candidate') this.transferFrom = m.from;
        return;
      case 'read-index-resp':
        this.readStates.push({ index: m.index, context: m.context });
        return;
      default:
        return;
    }
  }

  private handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      this.send({ ...emptyMessage('append-resp', this.id, m.from, this.term), index: this.log.committed });
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== null) {
      this.send({ ...emptyMessage('append-resp', this.id, m.from, this.term), index: lastNew });
      return;
    }
    // Tell the leader where our log may match so it can skip a whole conflicting term at once.
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send({
      ...emptyMessage('append-resp', this.id, m.from, this.term),
      index: m.index,
      reject: true,
      rejectHint: hint.index,
      logTerm: hint.term,
    });
  }

  private handleHeartbeat(m: Message): void {
    // The leader sends at most our match index as commit, so this never passes our log's end.
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send({ ...emptyMessage('heartbeat-resp', this.id, m.from, this.term), context: m.context });
  }

  private handleSnapshot(m: Message): void {
    const snap = m.snapshot;
    if (!snap) return;
    const { index, term } = snap.meta;
    if (index <= this.log.committed) {
      // Already have everything it holds.
      this.send({ ...emptyMessage('append-resp', this.id, m.from, this.term), index: this.log.committed });
      return;
    }
    if (this.log.matchTerm(index, term)) {
      // Our log already contains the snapshot's last entry: just learn that it is committed.
      this.log.commitTo(index);
    } else {
      this.log.restoreSnapshot(snap);
      this.conf = snap.meta.conf;
      this.resetProgress();
    }
    // Acknowledge only what is known to match the leader; our log may hold a stale tail beyond it.
    this.send({ ...emptyMessage('append-resp', this.id, m.from, this.term), index: this.log.committed });
  }

  // ---------------------------------------------------------------- leader helpers

  private appendProposal(type: 'normal' | 'conf', data: Uint8Array): ProposeResult {
    if (this.role !== 'leader' || !this.progress.has(this.id)) return this.refuse('not-leader', 'not the leader');
    if (this.leadTransferee !== NONE) {
      // The hint names the node about to lead, so clients go there directly.
      return { ok: false, error: 'transferring', leader: this.leadTransferee, message: `leadership is being transferred to ${this.leadTransferee}` };
    }
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + data.length > this.cfg.uncommittedBytesMax) {
      return this.refuse('overloaded', `${this.uncommittedBytes} bytes of proposals are not committed yet`);
    }
    const entry = this.appendEntry(type, data);
    this.broadcastAppend();
    return { ok: true, index: entry.index, term: entry.term };
  }

  /**
   * A voter that granted this leader its vote said its log ends at (`index`, `term`). If this
   * leader holds that entry, the voter's log matches its own up to there (Log Matching), and it
   * stays so until the voter hears from this leader: having voted in this term, it takes appends
   * from no older leader. So stream to it from there at once instead of probing first. Only
   * `next` is set (`match` still comes from acknowledgements); a voter that said nothing
   * (index 0, an older build) is probed as before.
   */
  private streamFromVote(id: NodeId, index: number, term: number): boolean {
    const pr = this.progress.get(id);
    if (!pr || id === this.id || pr.isLearner || pr.state !== 'probe' || pr.match > 0) return false;
    if (index <= 0 || index > this.log.lastIndex() || this.log.term(index) !== term) return false;
    pr.becomeReplicate();
    pr.next = index + 1;
    return true;
  }

  private refuse(error: ProposeError, message: string): ProposeResult {
    return { ok: false, error, leader: this.lead, message };
  }

  private appendEntry(type: 'normal' | 'conf', data: Uint8Array): Entry {
    const entry: Entry = { term: this.term, index: this.log.lastIndex() + 1, type, data };
    this.log.append([entry]);
    this.uncommittedBytes += data.length;
    this.progress.get(this.id)!.maybeUpdate(entry.index);
    // A single-voter group commits on its own.
    this.maybeCommit();
    return entry;
  }

  /** Advances the commit index to what a majority stored, counting only entries of this term (Figure 8). */
  private maybeCommit(): boolean {
    const index = majorityIndex(this.conf.voters, (id) => this.progress.get(id)?.match ?? 0);
    if (index <= this.log.committed || this.log.term(index) !== this.term) return false;
    const before = this.log.committed;
    this.log.commitTo(index);
    for (let i = before + 1; i <= index; i++) {
      const e = this.log.entry(i);
      if (e && e.term === this.term) this.uncommittedBytes -= e.data.length;
    }
    if (this.uncommittedBytes < 0) this.uncommittedBytes = 0;
    // The first commit of the term: reads that waited for it can now be confirmed.
    if (this.readsAwaitingCommit.length > 0) {
      const waiting = this.readsAwaitingCommit;
      this.readsAwaitingCommit = [];
      for (const read of waiting) this.leaderReadIndex(read.from, read.context);
    }
    return true;
  }

  private committedInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  private leaderReadIndex(from: NodeId, context: string): boolean {
    if (this.pendingReads.full() || this.readsAwaitingCommit.length >= this.cfg.pendingReadsMax) return false;
    if (!this.committedInCurrentTerm()) {
      this.readsAwaitingCommit.push({ from, context });
      return true;
    }
    if (this.conf.voters.length === 1 && this.conf.voters[0] === this.id) {
      this.answerRead(from, this.log.committed, context);
      return true;
    }
    this.pendingReads.add(this.log.committed, from, context);
    this.confirmReads(this.id, context);
    this.broadcastHeartbeat(context);
    return true;
  }

  private confirmReads(from: NodeId, context: string): void {
    const acks = this.pendingReads.ack(from, context);
    if (!acks || !hasQuorum(this.conf.voters, (id) => acks.has(id))) return;
    for (const read of this.pendingReads.release(context)) this.answerRead(read.from, read.index, read.context);
  }

  private answerRead(to: NodeId, index: number, context: string): void {
    if (to === this.id) this.readStates.push({ index, context });
    else this.send({ ...emptyMessage('read-index-resp', this.id, to, this.term), index, context });
  }

  /**
   * Whether a transfer target lacks only the entries of one append that is on its way to it, and
   * has been answering: a write in flight at the moment of a handover. TimeoutNow then follows
   * that append at once instead of after its acknowledgement, which saves the handover a
   * replication round: messages to one peer arrive in order, so the target campaigns with the
   * entries appended. Should the append be lost after all (a broken stream, a full queue), the
   * target sees that it lacks the entry TimeoutNow names and waits; the TimeoutNow sent on its
   * acknowledgement of the resent entries completes the transfer. More than one append
   * unacknowledged (a target that was cut off, or is slow) waits for the acknowledgement.
   */
  private oneAppendBehind(pr: Progress): boolean {
    return pr.state === 'replicate' && pr.recentActive && pr.next > this.log.lastIndex() && pr.inflights.count <= 1;
  }

  private sendTimeoutNow(to: NodeId): void {
    const last = this.log.lastIndex();
    this.send({ ...emptyMessage('timeout-now', this.id, to, this.term), index: last, logTerm: this.log.term(last) ?? 0 });
  }

  private broadcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id);
  }

  private broadcastHeartbeat(context: string): void {
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      // Never tell a follower to commit past what it is known to hold.
      const commit = Math.min(pr.match, this.log.committed);
      this.send({ ...emptyMessage('heartbeat', this.id, id, this.term), commit, context });
    }
  }

  private sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  /** Sends the entries `to` is missing (or a snapshot if they are compacted away). */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const entries = this.log.slice(pr.next, this.log.lastIndex() + 1, this.cfg.appendEntriesMax, this.cfg.appendBytesMax);
    if (prevTerm === undefined || entries === undefined) {
      if (!pr.recentActive) return false;
      const snapshot = this.cfg.snapshotSource ? this.snapshotAtApplied(this.cfg.snapshotSource()) : this.log.snapshot;
      assert(snapshot !== null, `entries before ${pr.next} are compacted but there is no snapshot`);
      this.send({ ...emptyMessage('snap', this.id, to, this.term), snapshot });
      pr.becomeSnapshot(snapshot.meta.index);
      return true;
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send({
      ...emptyMessage('append', this.id, to, this.term),
      index: prevIndex,
      logTerm: prevTerm,
      entries,
      commit: this.log.committed,
    });
    if (pr.state === 'replicate' && entries.length > 0) {
      const last = entries[entries.length - 1]!.index;
      pr.next = last + 1;
      pr.inflights.add(last);
    } else if (pr.state === 'probe') {
      pr.probeSent = true;
    }
    return true;
  }

  private applyConf(cc: ConfChange): void {
    this.conf = applyConfChange(this.conf, cc);
    const last = this.log.lastIndex();
    const members = new Set([...this.conf.voters, ...this.conf.learners]);
    for (const id of [...this.progress.keys()]) if (!members.has(id)) this.progress.delete(id);
    for (const id of members) {
      const learner = this.conf.learners.includes(id);
      const pr = this.progress.get(id);
      if (pr) {
        pr.isLearner = learner;
        continue;
      }
      const fresh = new Progress(last + 1, this.cfg.inflightAppendsMax, learner);
      if (id === this.id) fresh.match = last;
      // A new member gets a grace period before check-quorum counts it as silent.
      fresh.recentActive = true;
      this.progress.set(id, fresh);
    }
    if (this.role !== 'leader') return;
    if (!this.isVoter()) {
      // Removed (or demoted): step down; the remaining voters elect a leader among themselves.
      this.becomeFollower(this.term, NONE);
      return;
    }
    if (this.leadTransferee !== NONE && !this.conf.voters.includes(this.leadTransferee)) this.leadTransferee = NONE;
  }

  private send(m: Message): void {
    this.msgs.push(m);
  }

  private assertNotOutstanding(): void {
    assert(this.outstanding === null, 'the core was used between ready() and advance()');
  }
}

function sameSoft(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.leader === b.leader && a.term === b.term;
}

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
