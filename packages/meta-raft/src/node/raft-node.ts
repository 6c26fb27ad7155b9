import { applyConfChange, decodeConfChange, RaftCore } from '../core/index.js';
import type { ConfState, Entry, HardState, Message, NodeId, ProposeResult, Ready, Role } from '../core/index.js';
import type { Logger } from './logger.js';
import type { RaftStorage, RecordBatches, RecordWrite } from './raft-storage.js';

/** What the node replicates; the catalog in production. */
export interface StateMachine {
  /** Applies a committed entry's data; deterministic, synchronous, never throws on bad input. */
  apply(data: Uint8Array, at: { index: number; term: number }): { result: unknown; writes: readonly RecordWrite[] };
  /** The whole state as records, sorted by key (snapshots). */
  records(): Iterable<[string, string]>;
}

export interface StateMachineFactory<S extends StateMachine> {
  fromRecords(records: Iterable<[string, string]>): S;
  /** Loads from batches read back from disk, without holding them all at once. */
  load(batches: AsyncIterable<[string, string][]>): Promise<S>;
}

export interface RaftNodeOptions<S extends StateMachine> {
  readonly id: NodeId;
  readonly voters: readonly NodeId[];
  readonly storage: RaftStorage;
  readonly machines: StateMachineFactory<S>;
  readonly send: (messages: readonly Message[]) => void;
  readonly log: Logger;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly compactEvery: number;
  readonly compactKeep: number;
  readonly compactBytes?: number;
  readonly seed: number;
  /** Ticks a snapshot transfer may take before the leader presumes it lost and starts over. */
  readonly snapshotTicksMax?: number;
  readonly onReady?: (info: ReadyInfo) => void;
  /** The loop hit an invariant violation or a disk error: the process must stop. */
  readonly onFatal: (err: Error) => void;
}

/** What a metrics collector learns from each Ready. */
export interface ReadyInfo {
  readonly role: Role;
  readonly term: number;
  readonly leader: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly leaderChanged: boolean;
  readonly entriesPersisted: number;
  readonly applyLatenciesMs: readonly number[];
  readonly snapshotInstalled: boolean;
  readonly compacted: boolean;
}

/** A request the node could not carry out; `code` maps onto an HTTP status at the edge. */
export class RaftError extends Error {
  override name = 'RaftError';
  constructor(
    readonly code: 'NOT_LEADER' | 'NO_LEADER' | 'OVERLOADED' | 'TIMEOUT' | 'NOT_COMMITTED' | 'STOPPED',
    message: string,
    readonly leader: NodeId = '',
  ) {
    super(message);
  }
}

type Waiter<T> = { resolve: (v: T) => void; reject: (e: Error) => void };

type InboxItem =
  | { kind: 'messages'; messages: readonly Message[] }
  | { kind: 'propose'; data: Uint8Array; waiter: Waiter<unknown>; at: number }
  | { kind: 'read'; waiter: Waiter<void> }
  | { kind: 'transfer'; target: NodeId; waiter: Waiter<boolean> }
  | { kind: 'snapshot-status'; peer: NodeId; ok: boolean }
  | { kind: 'unreachable'; peer: NodeId };

const INBOX_ITEMS_MAX = 20_000;
/** Snapshot exports (open LevelDB iterators) kept for the transport at once. */
const EXPORTS_PENDING_MAX = 4;
/** Ticks applied per loop turn: a stalled loop must not turn its stall into an election. */
const TICKS_PER_TURN_MAX = 2;
const ITEMS_PER_READY_MAX = 4096;
const REQUEST_TIMEOUT_MS = 5000;
/** A batch write slower than this is logged (debug): the disk, not the protocol, held the loop. */
const SLOW_WRITE_MS = 5;
/** Writes held while no leader is known or leadership is being handed over, and their bytes. */
const PARKED_PROPOSALS_MAX = 4096;
const PARKED_BYTES_MAX = 64 << 20;
/** Election timeouts a held write waits for a leader before it is refused (NO_LEADER, retry). */
const PARKED_ELECTION_TIMEOUTS_MAX = 2;
/** A staged snapshot whose message has not reached the core within this long was lost on the way (see stageSnapshot). */
const STAGED_WAIT_MS_MAX = 30_000;

type Parked = { data: Uint8Array; waiter: Waiter<unknown>; at: number };

/**
 * The driver that runs the pure Raft core with real time and a real disk: a ticker, a bounded
 * inbox, and a loop that steps everything queued, then for each Ready applies the committed
 * entries to the state machine, writes entries, hard state, record changes and applied index in
 * one LevelDB batch (synced when the Ready needs it), then sends the Ready's messages and
 * advances. A leader in a settled term sends its appends while the batch is written, and writers
 * whose entries were already on disk are answered before it (see `Ready.sendBeforePersist`);
 * everything else waits for the disk. Everything queued while a batch is on disk goes into the
 * next Ready: proposals commit in groups.
 */
export class RaftNode<S extends StateMachine> {
  readonly id: NodeId;
  core!: RaftCore;
  machine!: S;
  private readonly inbox: InboxItem[] = [];
  private pendingTicks = 0;
  private running = false;
  private stopped = false;
  private ticker: NodeJS.Timeout | null = null;
  private readonly proposals = new Map<number, { term: number; waiter: Waiter<unknown>; at: number }>();
  private readonly readsByContext = new Map<string, Waiter<void>[]>();
  private confirmedReads: { index: number; waiters: Waiter<void>[] }[] = [];
  private readSeq = 0;
  /** Membership after each applied conf change, to record the conf at a compaction point. */
  private confHistory: { index: number; conf: ConfState }[] = [];
  private lastCompaction = 0;
  private lastLeader: NodeId = '';
  private fatal: Error | null = null;
  private transfer: { target: NodeId; waiter: Waiter<boolean> } | null = null;
  /** Snapshot exports opened for the core, waiting for the transport to stream them. */
  private readonly exports: { index: number; records: RecordBatches }[] = [];
  /**
   * A snapshot whose records were received and written beside the live state, until the core
   * takes its message and the Ready installs it, or the core refuses it. `taken`: the core has
   * it (the install is due); `at`: when it was staged.
   */
  private staged: { generation: number; index: number; term: number; at: number; taken: boolean } | null = null;
  /**
   * One incoming snapshot at a time, from its staging until it is installed, refused by the core
   * or abandoned: the staging generation is the live one plus one until an install switches to
   * it, so a second staging meanwhile would clear the records being installed (or staged).
   */
  private snapshotBusy = false;
  private termWaiters: Waiter<void>[] = [];
  /**
   * Writes that arrived while no leader was known (an election) or while this leader was handing
   * over: held, like etcd holds proposals while it has no leader, and proposed as soon as this
   * node leads (in the same Ready as a new leader's empty entry) or refused with NOT_LEADER and
   * the new leader's id once another node leads, which the HTTP layer relays. Bounded in count,
   * bytes and time (`PARKED_ELECTION_TIMEOUTS_MAX`).
   */
  private parked: Parked[] = [];
  private parkedBytes = 0;
  /**
   * The last term in which this node knew a leader (or the term it restarted in): a vote of that
   * term was cast before or while a leader was known, so it backs no campaign under way now.
   */
  private leaderSeenTerm = 0;
  /** Bytes of entries applied since the last compaction. */
  private appliedBytes = 0;

  constructor(private readonly opts: RaftNodeOptions<S>) {
    this.id = opts.id;
  }

  /** Recovers from disk (or bootstraps a new group) and starts ticking. */
  async start(): Promise<void> {
    const o = this.opts;
    const loaded = await o.storage.load();
    this.machine = await o.machines.load(o.storage.records());
    const config = {
      id: o.id,
      electionTicks: o.electionTicks,
      heartbeatTicks: o.heartbeatTicks,
      seed: o.seed,
      // A lagging follower gets the records as of now, streamed by the transport from a
      // consistent view of the disk: nothing is serialized on the loop, nothing kept in memory.
      snapshotSource: () => this.openExport(),
      snapshotTicksMax: o.snapshotTicksMax ?? Math.ceil(600_000 / o.tickMs),
    };
    if (loaded.hardState === null && loaded.entries.length === 0 && loaded.compaction === null) {
      this.core = RaftCore.bootstrap(config, o.voters);
      o.log.info({ voters: o.voters }, 'bootstrapped a new group');
    } else {
      const c = loaded.compaction;
      this.core = new RaftCore(config, {
        hardState: loaded.hardState ?? { term: 0, vote: '', commit: 0 },
        snapshot: c ? { meta: { index: c.index, term: c.term, conf: c.conf }, data: new Uint8Array(0) } : null,
        entries: loaded.entries,
        applied: loaded.applied,
      });
      o.log.info({ term: this.core.term, applied: this.core.log.applied, last: this.core.log.lastIndex() }, 'recovered from disk');
    }
    this.lastCompaction = this.core.log.offset;
    // A vote restored from disk was cast before the restart, for a campaign long decided.
    this.leaderSeenTerm = this.core.term;
    // Membership as of the compaction point, then after each conf change up to the applied index.
    this.confHistory = [{ index: this.core.log.offset, conf: loaded.compaction?.conf ?? { voters: [], learners: [] } }];
    let conf = this.confHistory[0]!.conf;
    for (const e of loaded.entries) {
      if (e.index > this.core.log.applied) break;
      if (e.type !== 'conf') continue;
      conf = applyConfChange(conf, decodeConfChange(e.data));
      this.confHistory.push({ index: e.index, conf });
    }
    this.ticker = setInterval(() => {
      this.pendingTicks++;
      this.kick();
    }, o.tickMs);
    this.kick();
  }

  /** Stops ticking and fails whatever waits. The storage is closed by the owner. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    const err = new RaftError('STOPPED', 'the node is shutting down');
    // A proposal already handed to the core is in the log and may still commit (through the
    // next leader): its outcome is unknown, which is TIMEOUT (504), not STOPPED (503, "retry",
    // which clients take to mean it had no effect). Requests still in the inbox never reached
    // the core and are STOPPED below.
    const unknown = new RaftError('TIMEOUT', 'the node stopped before the write was applied; its outcome is unknown', this.core?.lead ?? '');
    for (const p of this.proposals.values()) p.waiter.reject(unknown);
    this.proposals.clear();
    for (const ws of this.readsByContext.values()) for (const w of ws) w.reject(err);
    this.readsByContext.clear();
    for (const c of this.confirmedReads) for (const w of c.waiters) w.reject(err);
    this.confirmedReads = [];
    for (const item of this.inbox.splice(0)) {
      if (item.kind === 'propose' || item.kind === 'read' || item.kind === 'transfer') item.waiter.reject(err as Error);
    }
    // Held writes never reached the log either.
    for (const p of this.parked.splice(0)) p.waiter.reject(err);
    this.parkedBytes = 0;
    this.transfer?.waiter.resolve(false);
    this.transfer = null;
    while (this.running) await new Promise((r) => setTimeout(r, 5));
  }

  /** Messages from peers. */
  receive(messages: readonly Message[]): void {
    this.enqueue({ kind: 'messages', messages });
  }

  reportUnreachable(peer: NodeId): void {
    this.enqueue({ kind: 'unreachable', peer });
  }

  reportSnapshot(peer: NodeId, ok: boolean): void {
    this.enqueue({ kind: 'snapshot-status', peer, ok });
  }

  /** Proposes `data`; resolves with the state machine's result once it is committed and applied. */
  propose<T = unknown>(data: Uint8Array, timeoutMs = REQUEST_TIMEOUT_MS): Promise<T> {
    return this.withTimeout<T>(timeoutMs, 'the write was not applied in time; its outcome is unknown', (waiter) =>
      this.enqueue({ kind: 'propose', data, waiter: waiter as Waiter<unknown>, at: performance.now() }));
  }

  /** Resolves once this node's state reflects every write committed before the call (ReadIndex). */
  linearizableRead(timeoutMs = REQUEST_TIMEOUT_MS): Promise<void> {
    return this.withTimeout<void>(timeoutMs, 'the read could not be confirmed in time', (waiter) => this.enqueue({ kind: 'read', waiter }));
  }

  /** Asks the leader to hand over to `target`; resolves true once it has. */
  transferLeadership(target: NodeId, timeoutMs = REQUEST_TIMEOUT_MS): Promise<boolean> {
    return this.withTimeout<boolean>(timeoutMs, 'leadership transfer timed out', (waiter) => this.enqueue({ kind: 'transfer', target, waiter }));
  }

  status(): { id: NodeId; role: Role; term: number; leader: NodeId; commitIndex: number; appliedIndex: number; lastIndex: number } {
    const c = this.core;
    return { id: this.id, role: c.role, term: c.term, leader: c.lead, commitIndex: c.log.committed, appliedIndex: c.log.applied, lastIndex: c.log.lastIndex() };
  }

  /** Writes held until a leader is elected or this leader's handover ends. */
  heldWrites(): number {
    return this.parked.length;
  }

  /** The failure that stopped the loop, if any (an invariant broke: the process must exit). */
  get failure(): Error | null {
    return this.fatal;
  }

  /** Resolves once this node knows an entry of its current term is committed (a new leader settled). */
  whenCommittedInTerm(timeoutMs: number): Promise<void> {
    return this.withTimeout<void>(timeoutMs, 'the new leader did not commit in time', (waiter) => {
      if (this.committedInTerm()) waiter.resolve();
      else this.termWaiters.push(waiter);
    });
  }

  private committedInTerm(): boolean {
    return this.core.log.term(this.core.log.committed) === this.core.term && this.core.lead !== '';
  }

  /** Called by the core (between Readys) when a follower needs a snapshot. */
  private openExport(): Uint8Array {
    while (this.exports.length >= EXPORTS_PENDING_MAX) void this.exports.shift()!.records.close();
    this.exports.push({ index: this.core.log.applied, records: this.opts.storage.openExport() });
    return new Uint8Array(0);
  }

  /** The transport takes the export the core opened for the snapshot at `index`. */
  openSnapshot(index: number): RecordBatches | null {
    const at = this.exports.findIndex((e) => e.index === index);
    if (at < 0) return null;
    return this.exports.splice(at, 1)[0]!.records;
  }

  /**
   * Writes a snapshot's records into a fresh generation beside the live one, batch by batch,
   * without holding the Raft loop; the snapshot message that follows switches to it atomically.
   */
  async stageSnapshot(meta: { index: number; term: number }, records: AsyncIterable<[string, string][]>): Promise<void> {
    // A staged snapshot whose message never reached the core (the inbox shed it) is abandoned
    // after a while; one the core has taken is being installed and is never touched.
    const s = this.staged;
    if (this.snapshotBusy && s !== null && !s.taken && performance.now() - s.at > STAGED_WAIT_MS_MAX) {
      this.opts.log.warn({ index: s.index }, 'a staged snapshot\'s message never reached the core: dropped');
      this.staged = null;
      this.snapshotBusy = false;
    }
    if (this.snapshotBusy) throw new RaftError('OVERLOADED', 'another snapshot is being received or installed');
    this.snapshotBusy = true;
    try {
      const generation = await this.opts.storage.beginStaging();
      let count = 0;
      for await (const batch of records) {
        await this.opts.storage.stageRecords(generation, batch);
        count += batch.length;
      }
      this.staged = { generation, index: meta.index, term: meta.term, at: performance.now(), taken: false };
      this.opts.log.info({ index: meta.index, records: count }, 'snapshot received');
    } catch (err) {
      this.snapshotBusy = false;
      throw err;
    }
  }

  /**
   * Steps a snapshot message only if its records are staged (otherwise it is dropped: the leader
   * sends the snapshot again), and releases the staging when the core does not take it (its log
   * already covers the snapshot): the next snapshot may come.
   */
  private stepSnapshot(m: Message): void {
    const st = this.staged;
    const meta = m.snapshot!.meta;
    if (st === null || st.taken || st.index !== meta.index || st.term !== meta.term) {
      this.opts.log.warn({ index: meta.index, term: meta.term, staged: st && { index: st.index, term: st.term, taken: st.taken } }, 'a snapshot message without its records staged: dropped');
      return;
    }
    this.core.step(m);
    const u = this.core.log.unstableSnapshot;
    if (u !== null && u.meta.index === st.index && u.meta.term === st.term) {
      st.taken = true;
      return;
    }
    this.staged = null;
    this.snapshotBusy = false;
  }

  private withTimeout<T>(ms: number, message: string, start: (w: Waiter<T>) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const timer = setTimeout(() => {
        if (done) return;
        done = true;
        reject(new RaftError('TIMEOUT', message, this.core?.lead ?? ''));
      }, ms);
      timer.unref();
      start({
        resolve: (v) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  private enqueue(item: InboxItem): void {
    if (this.stopped) {
      if (item.kind === 'propose' || item.kind === 'read' || item.kind === 'transfer') item.waiter.reject(new RaftError('STOPPED', 'the node is shutting down'));
      return;
    }
    if (this.inbox.length >= INBOX_ITEMS_MAX) {
      // Shed load explicitly: clients are told to back off, peer messages are dropped (Raft resends).
      if (item.kind === 'propose' || item.kind === 'read' || item.kind === 'transfer') {
        item.waiter.reject(new RaftError('OVERLOADED', `the node's inbox is full (${INBOX_ITEMS_MAX} requests)`));
      }
      return;
    }
    this.inbox.push(item);
    this.kick();
  }

  private kick(): void {
    if (this.running || this.stopped || this.fatal || !this.core) return;
    this.running = true;
    setImmediate(() => void this.loop());
  }

  private async loop(): Promise<void> {
    try {
      while (!this.stopped) {
        // Messages first: heartbeats that arrived during a stall count before the stall's ticks.
        const items = this.inbox.splice(0, ITEMS_PER_READY_MAX);
        this.handleItems(items);
        const ticks = Math.min(this.pendingTicks, TICKS_PER_TURN_MAX);
        this.pendingTicks = 0;
        for (let i = 0; i < ticks; i++) this.core.tick();
        if (this.core.lead !== '') this.leaderSeenTerm = this.core.term;
        if (this.parked.length > 0) this.settleParked();
        if (!this.core.hasReady()) {
          if (this.inbox.length === 0 && this.pendingTicks === 0) break;
          continue;
        }
        await this.handleReady(this.core.ready());
      }
    } catch (err) {
      this.fatal = err as Error;
      this.opts.log.fatal({ err }, 'raft loop failed');
      this.running = false;
      await this.stop();
      this.opts.onFatal(this.fatal);
    } finally {
      this.running = false;
    }
    if (!this.stopped && (this.inbox.length > 0 || this.pendingTicks > 0)) this.kick();
  }

  private handleItems(items: readonly InboxItem[]): void {
    const reads: Waiter<void>[] = [];
    for (const item of items) {
      switch (item.kind) {
        case 'messages':
          for (const m of item.messages) {
            if (m.type === 'snap' && m.snapshot) this.stepSnapshot(m);
            else this.core.step(m);
          }
          break;
        case 'propose': {
          if (this.parked.length > 0) {
            // Keep the order of writes: behind those already waiting for a leader.
            this.park(item);
            break;
          }
          const r = this.core.propose(item.data);
          if (r.ok) this.proposals.set(r.index, { term: r.term, waiter: item.waiter, at: item.at });
          else if (parkable(r)) {
            const candidate = this.backedCandidate();
            if (candidate !== '') this.sendToCandidate(item.waiter, candidate);
            else this.park(item);
          }
          else if (r.error === 'not-leader' || r.error === 'transferring') {
            item.waiter.reject(new RaftError(r.leader ? 'NOT_LEADER' : 'NO_LEADER', r.message, r.leader));
          } else item.waiter.reject(new RaftError('OVERLOADED', r.message, r.leader));
          break;
        }
        case 'read':
          reads.push(item.waiter);
          break;
        case 'transfer':
          if (!this.core.transferLeader(item.target)) item.waiter.resolve(false);
          else {
            this.transfer?.waiter.resolve(false);
            this.transfer = { target: item.target, waiter: item.waiter };
          }
          break;
        case 'snapshot-status':
          this.core.reportSnapshot(item.peer, item.ok);
          break;
        case 'unreachable':
          this.core.reportUnreachable(item.peer);
          break;
      }
    }
    if (reads.length > 0) {
      // One ReadIndex round confirms every read queued in this batch.
      const context = `${this.id}:${++this.readSeq}`;
      if (this.core.readIndex(context)) this.readsByContext.set(context, reads);
      else for (const w of reads) w.reject(new RaftError('NO_LEADER', 'no leader is known; retry', this.core.lead));
    }
  }

  private park(item: Parked): void {
    if (this.parked.length >= PARKED_PROPOSALS_MAX || this.parkedBytes + item.data.length > PARKED_BYTES_MAX) {
      item.waiter.reject(new RaftError(this.core.lead ? 'NOT_LEADER' : 'NO_LEADER', `no leader to take the write right now (${this.parked.length} writes already wait for one); retry`, this.core.lead));
      return;
    }
    this.parked.push({ data: item.data, waiter: item.waiter, at: item.at });
    this.parkedBytes += item.data.length;
  }

  /**
   * Proposes the held writes once this node can (it leads and is not handing over), refuses them
   * with the leader's id once another node leads, and refuses those held too long. Runs before
   * each Ready, so a new leader's first append carries them beside its empty entry.
   */
  private settleParked(): void {
    const waitedMsMax = PARKED_ELECTION_TIMEOUTS_MAX * this.opts.electionTicks * this.opts.tickMs;
    const now = performance.now();
    const keep: Parked[] = [];
    const candidate = this.backedCandidate();
    for (const p of this.parked) {
      const r = this.core.propose(p.data);
      if (r.ok) this.proposals.set(r.index, { term: r.term, waiter: p.waiter, at: p.at });
      else if (parkable(r) && candidate !== '') this.sendToCandidate(p.waiter, candidate);
      else if (parkable(r) && now - p.at < waitedMsMax) keep.push(p);
      else if (r.error === 'not-leader' || r.error === 'transferring') {
        p.waiter.reject(new RaftError(r.leader ? 'NOT_LEADER' : 'NO_LEADER', r.leader ? r.message : `no leader was elected within ${Math.round(now - p.at)} ms; retry`, r.leader));
      } else p.waiter.reject(new RaftError('OVERLOADED', r.message, r.leader));
    }
    this.parked = keep;
    this.parkedBytes = 0;
    for (const p of keep) this.parkedBytes += p.data.length;
  }

  /**
   * The candidate this follower voted for in a term in which no leader has been known yet, or ''.
   * A write held here goes there at once (refused with NOT_LEADER naming it; the HTTP layer relays
   * it) instead of waiting for the winner's first append: the candidate holds it too and, if it
   * wins, proposes it in the same Ready as its empty entry, so the write commits in the new term's
   * first round instead of a round later. That is what a leader handing over sees: the transferee
   * asks for its vote as soon as it campaigns. Nothing entered this node's log, so relaying cannot
   * apply the write twice; if the candidate loses, it refuses the write naming the winner, and
   * the relaying node sends it there (see forward.ts). A vote of a term in which a leader was
   * known (a leader that has since died, with a lost pre-vote keeping the term) or restored at a
   * restart backs nobody: the write stays held here.
   */
  private backedCandidate(): NodeId {
    const c = this.core;
    if (c.role !== 'follower' || c.lead !== '' || c.term <= this.leaderSeenTerm) return '';
    return c.vote !== '' && c.vote !== this.id ? c.vote : '';
  }

  private sendToCandidate(waiter: Waiter<unknown>, to: NodeId): void {
    waiter.reject(new RaftError('NOT_LEADER', `no leader yet; this node voted for ${to} in term ${this.core.term}`, to));
  }

  private async handleReady(rd: Ready): Promise<void> {
    const o = this.opts;
    let snapshotInstalled = false;
    if (rd.snapshot) {
      const s = rd.snapshot;
      const staged = this.staged;
      // stepSnapshot hands the core a snapshot message only once its records are staged.
      if (!staged || !staged.taken || staged.index !== s.meta.index || staged.term !== s.meta.term) {
        throw new Error(`snapshot ${s.meta.index}/${s.meta.term} reached the core without its records staged (staged: ${staged ? `${staged.index}/${staged.term}` : 'none'})`);
      }
      await o.storage.installStaged(staged.generation, { index: s.meta.index, term: s.meta.term, conf: s.meta.conf }, rd.hardState);
      this.machine = await o.machines.load(o.storage.records());
      // Installed: the next snapshot may be staged (in the generation after this one).
      this.staged = null;
      this.snapshotBusy = false;
      this.confHistory = [{ index: s.meta.index, conf: s.meta.conf }];
      this.lastCompaction = s.meta.index;
      snapshotInstalled = true;
      o.log.info({ index: s.meta.index }, 'installed a snapshot');
    }
    const writes: RecordWrite[] = [];
    const results: { entry: Entry; result: unknown }[] = [];
    let conf = this.core.conf;
    for (const e of rd.committed) {
      this.appliedBytes += e.data.length;
      if (e.type === 'conf') {
        conf = applyConfChange(conf, decodeConfChange(e.data));
        this.confHistory.push({ index: e.index, conf });
        continue;
      }
      if (e.data.length === 0) {
        results.push({ entry: e, result: undefined });
        continue;
      }
      const out = this.machine.apply(e.data, { index: e.index, term: e.term });
      for (const w of out.writes) writes.push(w);
      results.push({ entry: e, result: out.result });
    }
    const applied = rd.committed.length > 0 ? rd.committed[rd.committed.length - 1]!.index : null;
    const latencies: number[] = [];
    // A leader's appends leave while its own copy is written, so the two fsyncs overlap.
    if (rd.sendBeforePersist) o.send(rd.messages);
    // Committed entries this node had already persisted are durable on a majority, and applying
    // them is deterministic: their writers learn the outcome now. Losing the apply batch below
    // in a crash only means replaying those entries from the log at restart. Entries in this
    // Ready's own `entries` (a one-voter group commits on its own) wait for the disk.
    const firstUnpersisted = rd.entries.length > 0 ? rd.entries[0]!.index : Number.POSITIVE_INFINITY;
    const answerable = rd.snapshot ? 0 : results.findIndex((r) => r.entry.index >= firstUnpersisted);
    const early = answerable < 0 ? results.length : answerable;
    this.answerProposals(results, 0, early, latencies);
    const writeStart = performance.now();
    await o.storage.writeReady({
      entries: rd.entries,
      hardState: rd.snapshot ? null : rd.hardState,
      recordWrites: writes,
      applied,
      sync: rd.mustSync,
    });
    const writeMs = performance.now() - writeStart;
    // Everything this node promises waits on this write; a slow one explains a slow election or write.
    if (writeMs > SLOW_WRITE_MS) o.log.debug({ ms: Math.round(writeMs * 10) / 10, entries: rd.entries.length, records: writes.length, sync: rd.mustSync }, 'slow raft batch write');
    // Everything else waits until the batch is on disk: acks and votes promise persistence.
    if (!rd.sendBeforePersist) o.send(rd.messages);
    this.answerProposals(results, early, results.length, latencies);
    for (const rs of rd.readStates) {
      const waiters = this.readsByContext.get(rs.context);
      if (!waiters) continue;
      this.readsByContext.delete(rs.context);
      this.confirmedReads.push({ index: rs.index, waiters });
    }
    for (const context of rd.droppedReads) {
      const waiters = this.readsByContext.get(context);
      this.readsByContext.delete(context);
      for (const w of waiters ?? []) w.reject(new RaftError('NOT_LEADER', 'leadership was lost before the read was confirmed; retry', this.core.lead));
    }
    this.core.advance();
    this.serveConfirmedReads();
    // Proposals this node made as leader that can no longer be answered here stay until applied
    // (they may still commit); followers never have any.
    const compacted = await this.maybeCompact();
    const leaderChanged = this.core.lead !== this.lastLeader;
    this.lastLeader = this.core.lead;
    if (this.termWaiters.length > 0 && this.committedInTerm()) for (const w of this.termWaiters.splice(0)) w.resolve();
    if (this.transfer && leaderChanged && this.core.lead !== '') {
      this.transfer.waiter.resolve(this.core.lead === this.transfer.target);
      this.transfer = null;
    }
    if (leaderChanged) o.log.info({ leader: this.core.lead, term: this.core.term, role: this.core.role }, 'leader changed');
    o.onReady?.({
      role: this.core.role,
      term: this.core.term,
      leader: this.core.lead,
      commit: this.core.log.committed,
      applied: this.core.log.applied,
      leaderChanged,
      entriesPersisted: rd.entries.length,
      applyLatenciesMs: latencies,
      snapshotInstalled,
      compacted,
    });
  }

  /** Answers the proposals among `results[from, to)` that this node made. */
  private answerProposals(results: readonly { entry: Entry; result: unknown }[], from: number, to: number, latencies: number[]): void {
    const now = performance.now();
    for (let i = from; i < to; i++) {
      const { entry, result } = results[i]!;
      const p = this.proposals.get(entry.index);
      if (!p) continue;
      this.proposals.delete(entry.index);
      if (p.term === entry.term) {
        latencies.push(now - p.at);
        p.waiter.resolve(result);
      } else {
        p.waiter.reject(new RaftError('NOT_COMMITTED', 'another leader overwrote the proposal; it was not applied; retry', this.core.lead));
      }
    }
  }

  private serveConfirmedReads(): void {
    if (this.confirmedReads.length === 0) return;
    const applied = this.core.log.applied;
    const waiting: typeof this.confirmedReads = [];
    for (const c of this.confirmedReads) {
      if (c.index <= applied) for (const w of c.waiters) w.resolve();
      else waiting.push(c);
    }
    this.confirmedReads = waiting;
  }

  /**
   * Folds the applied prefix of the log into the records every `compactEvery` entries, or sooner
   * once `compactBytes` of entries piled up (the uncompacted log is held in memory: a thousand
   * 700 KB publishes would otherwise be 700 MB), keeping `compactKeep` entries (fewer if they are
   * big) for followers that are only a little behind.
   */
  private async maybeCompact(): Promise<boolean> {
    const applied = this.core.log.applied;
    const bytesMax = this.opts.compactBytes ?? 64 << 20;
    if (applied - this.lastCompaction < this.opts.compactEvery && this.appliedBytes < bytesMax) return false;
    let keep = Math.min(this.opts.compactKeep, applied - this.core.log.offset);
    // Never keep more than a quarter of the byte budget behind the cut.
    for (let kept = 0, i = applied; i > applied - keep; i--) {
      kept += this.core.log.entry(i)?.data.length ?? 0;
      if (kept > bytesMax / 4) {
        keep = applied - i;
        break;
      }
    }
    const index = Math.max(this.core.log.offset, applied - keep);
    const term = this.core.log.term(index);
    if (term === undefined || index <= this.core.log.offset) return false;
    const conf = this.confAt(index);
    this.core.compact(index);
    await this.opts.storage.compact({ index, term, conf });
    this.lastCompaction = applied;
    this.appliedBytes = 0;
    // Keep the membership at the new compaction point and every change after it.
    this.confHistory = [{ index, conf }, ...this.confHistory.filter((c) => c.index > index)];
    return true;
  }

  private confAt(index: number): ConfState {
    let conf = this.confHistory[0]!.conf;
    for (const c of this.confHistory) if (c.index <= index) conf = c.conf;
    return conf;
  }

  /** The hard state as persisted, for tests. */
  hardState(): HardState {
    return this.core.hardState();
  }
}

/**
 * A refusal that the next leader will cure: no leader is known (an election is under way), or
 * this leader is handing over. A follower that knows its leader refuses with the leader's id.
 */
function parkable(r: ProposeResult): boolean {
  return !r.ok && ((r.error === 'not-leader' && r.leader === '') || r.error === 'transferring');
}
