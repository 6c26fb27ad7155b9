import { RaftCore } from '../core/index.js';
import type { Entry, Message, NodeId, RaftConfig, Ready } from '../core/index.js';
import { decodeProposal, encodeProposal, KvStore } from './kv.js';
import type { KvCommand } from './kv.js';
import { hashBytes } from './monitor.js';
import type { SafetyMonitor } from './monitor.js';
import { SimStorage } from './storage.js';
import type { StorageBatch } from './storage.js';

/** A client request as it reaches a node. */
export interface ClientRequest {
  readonly client: number;
  readonly opId: number;
  readonly kind: 'get' | 'put' | 'cas';
  readonly key: string;
  readonly value?: string;
  readonly from?: string | null;
}

/**
 * The node's answer. `ok: false` always means the operation certainly had no effect (refused,
 * superseded, or a cas whose comparison failed); an unknown outcome is never answered at all,
 * the client times out instead.
 */
export interface ClientResponse {
  readonly client: number;
  readonly opId: number;
  readonly ok: boolean;
  readonly value?: string | null;
  readonly leaderHint?: NodeId;
  readonly reason?: string;
}

/** What a node needs from the world around it. */
export interface NodeHost {
  now(): number;
  schedule(at: number, run: () => void): void;
  send(m: Message): void;
  reply(r: ClientResponse): void;
  readonly monitor: SafetyMonitor;
  trace(line: string): void;
}

export interface NodeTuning {
  readonly raft: Omit<RaftConfig, 'id' | 'seed'>;
  readonly tickMs: number;
  /** Virtual milliseconds an fsync takes; messages of a synced Ready leave only after it. */
  readonly fsyncMs: number;
  readonly inboxMax: number;
  /** Snapshot and compact once this many entries were applied since the last snapshot. */
  readonly snapshotEvery: number;
  /** Entries kept behind the snapshot for slow followers. */
  readonly compactKeep: number;
  /** Build snapshots for lagging followers fresh from the state machine (`snapshotSource`). */
  readonly snapshotFromSource?: boolean;
}

type InboxItem =
  | { kind: 'msg'; m: Message }
  | { kind: 'tick' }
  | { kind: 'client'; req: ClientRequest }
  | { kind: 'admin'; run: (core: RaftCore) => void };

/**
 * The simulator's driver for one node: the same loop a real driver runs (step, ready, persist,
 * send, apply, advance) over simulated disk and network, in virtual time.
 */
export class SimNode {
  core: RaftCore | null = null;
  readonly storage = new SimStorage();
  kv = new KvStore();
  crashed = true;
  paused = false;
  /** Ticks run this much slower or faster than real time: a skewed clock. */
  clockRate = 1;
  restarts = 0;
  private incarnation = 0;
  private busy = false;
  private inbox: InboxItem[] = [];
  private writes = new Map<number, { term: number; req: ClientRequest }>();
  private reads = new Map<string, ClientRequest>();
  private confirmedReads: { index: number; context: string }[] = [];
  private readSeq = 0;
  private lastSnapshotIndex = 0;
  private lastRole = '';
  private lastLeader = '';
  /** Terms of the entries this node persisted, by index, to spot truncation of committed entries. */
  private persistedTerms: number[] = [];

  constructor(
    readonly id: NodeId,
    private readonly host: NodeHost,
    private readonly tuning: NodeTuning,
    private readonly seed: number,
  ) {}

  /** Starts the node: from its disk if it has one, else as a bootstrap member or a joiner. */
  start(initialVoters: readonly NodeId[] | null): void {
    const config: RaftConfig = {
      ...this.tuning.raft,
      id: this.id,
      seed: this.seed + this.restarts * 7919,
      ...(this.tuning.snapshotFromSource ? { snapshotSource: () => this.kv.snapshot() } : {}),
    };
    const disk = this.storage.load();
    if (!this.storage.isEmpty()) {
      const applied = disk.snapshot ? disk.snapshot.meta.index : 0;
      this.core = new RaftCore(config, { ...disk, applied });
      this.kv = disk.snapshot ? KvStore.restore(disk.snapshot.data) : new KvStore();
      this.lastSnapshotIndex = applied;
    } else if (initialVoters) {
      this.core = RaftCore.bootstrap(config, initialVoters);
      this.kv = new KvStore();
      this.lastSnapshotIndex = 0;
    } else {
      this.core = new RaftCore(config);
      this.kv = new KvStore();
      this.lastSnapshotIndex = 0;
    }
    this.persistedTerms = [];
    for (const e of disk.entries) this.persistedTerms[e.index] = e.term;
    this.crashed = false;
    this.paused = false;
    this.busy = false;
    this.inbox = [];
    this.writes.clear();
    this.reads.clear();
    this.confirmedReads = [];
    this.lastRole = '';
    this.lastLeader = '';
    const inc = ++this.incarnation;
    this.scheduleTick(inc);
    this.drive();
  }

  /** Power loss: volatile state and unsynced writes are gone; the disk keeps what was synced. */
  crash(): void {
    if (this.crashed) return;
    this.crashed = true;
    this.incarnation++;
    this.core = null;
    this.storage.crash();
    this.restarts++;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.drive();
  }

  deliver(m: Message): void {
    this.enqueue({ kind: 'msg', m });
  }

  request(req: ClientRequest): void {
    this.enqueue({ kind: 'client', req });
  }

  /** Runs `run` against the core between Readys, as an operator's command would (e.g. a conf change). */
  admin(run: (core: RaftCore) => void): void {
    this.enqueue({ kind: 'admin', run });
  }

  private enqueue(item: InboxItem): void {
    if (this.crashed) return;
    if (this.inbox.length >= this.tuning.inboxMax) {
      // A full inbox sheds load: messages are lost (Raft retries), clients are refused.
      if (item.kind === 'client') this.host.reply({ client: item.req.client, opId: item.req.opId, ok: false, reason: 'overloaded' });
      return;
    }
    this.inbox.push(item);
    this.drive();
  }

  private scheduleTick(inc: number): void {
    const every = Math.max(1, Math.round(this.tuning.tickMs * this.clockRate));
    this.host.schedule(this.host.now() + every, () => {
      if (inc !== this.incarnation) return;
      if (this.inbox.length < this.tuning.inboxMax) this.inbox.push({ kind: 'tick' });
      this.scheduleTick(inc);
      this.drive();
    });
  }

  /** Runs the driver loop until it waits for the inbox or an fsync. */
  private drive(): void {
    while (!this.crashed && !this.paused && !this.busy) {
      const core = this.core!;
      const item = this.inbox.shift();
      if (item) this.handle(core, item);
      this.observe(core);
      if (core.hasReady()) {
        this.runReady(core);
        continue;
      }
      if (!item) return;
    }
  }

  private handle(core: RaftCore, item: InboxItem): void {
    switch (item.kind) {
      case 'tick':
        core.tick();
        return;
      case 'msg':
        core.step(item.m);
        return;
      case 'client':
        this.handleClient(core, item.req);
        return;
      case 'admin':
        item.run(core);
        return;
    }
  }

  private handleClient(core: RaftCore, req: ClientRequest): void {
    const refuse = (reason: string) =>
      this.host.reply({ client: req.client, opId: req.opId, ok: false, reason, leaderHint: core.lead });
    if (req.kind === 'get') {
      const context = `${this.id}/${this.incarnation}/${++this.readSeq}`;
      if (!core.readIndex(context)) return refuse('no leader');
      this.reads.set(context, req);
      return;
    }
    const cmd: KvCommand = req.kind === 'put'
      ? { op: 'put', key: req.key, value: req.value! }
      : { op: 'cas', key: req.key, from: req.from ?? null, to: req.value! };
    const result = core.propose(encodeProposal({ client: req.client, opId: req.opId, cmd }));
    if (!result.ok) return refuse(result.error);
    this.writes.set(result.index, { term: result.term, req });
  }

  /** Reports role changes to the trace and leadership to the safety monitor. */
  private observe(core: RaftCore): void {
    if (core.role === this.lastRole && core.lead === this.lastLeader) return;
    if (core.role === 'leader' && this.lastRole !== 'leader') {
      this.host.monitor.onLeader(this.id, core.term, core.log);
      this.host.trace(`${this.id} becomes leader of term ${core.term} (log ${core.log.lastIndex()}, commit ${core.log.committed})`);
    } else if (this.lastRole === 'leader' && core.role !== 'leader') {
      this.host.trace(`${this.id} steps down in term ${core.term}`);
    }
    this.lastRole = core.role;
    this.lastLeader = core.lead;
  }

  private runReady(core: RaftCore): void {
    const rd = core.ready();
    const batch: StorageBatch = {};
    if (rd.snapshot) {
      batch.snapshot = rd.snapshot;
      batch.clearEntries = true;
      this.persistedTerms = [];
    }
    if (rd.entries.length > 0) {
      const first = rd.entries[0]!.index;
      for (let i = first; i < this.persistedTerms.length; i++) {
        const old = this.persistedTerms[i];
        const now = rd.entries[i - first];
        if (old !== undefined && (!now || now.term !== old)) this.host.monitor.onTruncate(this.id, i, old);
      }
      this.persistedTerms.length = first;
      for (const e of rd.entries) this.persistedTerms[e.index] = e.term;
      this.host.monitor.onPersist(this.id, rd.entries, core.log.term(first - 1));
      batch.entries = rd.entries;
    }
    if (rd.hardState) batch.hardState = rd.hardState;
    // As the real driver does: a settled leader's messages leave before its fsync, and entries
    // committed before this Ready's own are applied (and their writers answered) before it too.
    if (rd.sendBeforePersist) for (const m of rd.messages) this.host.send(m);
    const firstUnpersisted = rd.entries.length > 0 ? rd.entries[0]!.index : Number.POSITIVE_INFINITY;
    let applied = 0;
    if (!rd.snapshot) {
      while (applied < rd.committed.length && rd.committed[applied]!.index < firstUnpersisted) this.apply(rd.committed[applied++]!, core.term);
    }
    this.storage.write(batch);
    if (!rd.mustSync) {
      this.finishReady(core, rd, applied);
      return;
    }
    // The rest of this Ready waits for the fsync; a crash before loses it all.
    this.busy = true;
    const inc = this.incarnation;
    this.host.schedule(this.host.now() + this.tuning.fsyncMs, () => {
      if (inc !== this.incarnation) return;
      this.storage.sync();
      this.busy = false;
      this.finishReady(core, rd, applied);
      this.drive();
    });
  }

  /** Finishes a Ready once it is on disk; `applied` of its committed entries were applied before. */
  private finishReady(core: RaftCore, rd: Ready, applied: number): void {
    if (!rd.sendBeforePersist) for (const m of rd.messages) this.host.send(m);
    if (rd.hardState && rd.hardState.commit > 0) this.host.monitor.onCommit(this.id, rd.hardState.term, rd.hardState.commit, core.log);
    if (rd.snapshot) {
      this.kv = KvStore.restore(rd.snapshot.data);
      this.lastSnapshotIndex = rd.snapshot.meta.index;
      this.host.monitor.onSnapshot(this.id, rd.snapshot.meta.index, hashBytes(rd.snapshot.data));
      this.host.trace(`${this.id} installs a snapshot at ${rd.snapshot.meta.index}`);
    }
    for (let i = applied; i < rd.committed.length; i++) this.apply(rd.committed[i]!, core.term);
    for (const context of rd.droppedReads) this.refuseRead(context, 'leadership lost');
    this.confirmedReads.push(...rd.readStates);
    core.advance();
    this.serveReads(core);
    this.maybeSnapshot(core);
  }

  private apply(e: Entry, currentTerm: number): void {
    this.host.monitor.onApply(this.id, e, currentTerm);
    const { index, term, data } = e;
    const pending = this.writes.get(index);
    if (pending) this.writes.delete(index);
    if (e.type !== 'normal' || data.length === 0) {
      if (pending) this.host.reply({ client: pending.req.client, opId: pending.req.opId, ok: false, reason: 'superseded' });
      return;
    }
    const proposal = decodeProposal(data);
    const result = this.kv.apply(proposal.cmd);
    if (!pending) return;
    const mine = pending.term === term && pending.req.client === proposal.client && pending.req.opId === proposal.opId;
    // Another entry was committed at our index: ours was overwritten and can never commit.
    const ok = mine && result.ok;
    this.host.reply({ client: pending.req.client, opId: pending.req.opId, ok, reason: mine ? (ok ? undefined : 'cas mismatch') : 'superseded' });
  }

  private serveReads(core: RaftCore): void {
    if (this.confirmedReads.length === 0) return;
    const waiting: { index: number; context: string }[] = [];
    for (const rs of this.confirmedReads) {
      if (rs.index > core.log.applied) {
        waiting.push(rs);
        continue;
      }
      const req = this.reads.get(rs.context);
      if (!req) continue;
      this.reads.delete(rs.context);
      this.host.reply({ client: req.client, opId: req.opId, ok: true, value: this.kv.get(req.key) });
    }
    this.confirmedReads = waiting;
  }

  private refuseRead(context: string, reason: string): void {
    const req = this.reads.get(context);
    if (!req) return;
    this.reads.delete(context);
    this.host.reply({ client: req.client, opId: req.opId, ok: false, reason });
  }

  private maybeSnapshot(core: RaftCore): void {
    const applied = core.log.applied;
    if (applied - this.lastSnapshotIndex < this.tuning.snapshotEvery) return;
    const data = this.kv.snapshot();
    const snapshot = core.createSnapshot(data);
    this.host.monitor.onSnapshot(this.id, snapshot.meta.index, hashBytes(data));
    const compactTo = Math.max(core.log.offset, applied - this.tuning.compactKeep);
    // The snapshot and the compaction are one atomic batch: never entries dropped without the snapshot.
    this.storage.write({ snapshot, compactTo: Math.min(compactTo, snapshot.meta.index) });
    core.compact(compactTo);
    this.lastSnapshotIndex = applied;
  }

  /** The node's view for traces and checks; null while crashed. */
  status(): { role: string; term: number; lead: NodeId; commit: number; applied: number; last: number } | null {
    const c = this.core;
    if (!c || this.crashed) return null;
    return { role: c.role, term: c.term, lead: c.lead, commit: c.log.committed, applied: c.log.applied, last: c.log.lastIndex() };
  }
}
