import { Prng, quorumSize } from '../core/index.js';
import type { Message, NodeId, ProposeResult, RaftCore } from '../core/index.js';
import type { SimConfig } from './config.js';
import { EventQueue } from './event-queue.js';
import { SafetyMonitor } from './monitor.js';
import { SimNetwork } from './network.js';
import { SimNode } from './node.js';
import type { ClientResponse, NodeHost } from './node.js';

/** A run did not finish what it had to within its bound. */
export class LivenessFailure extends Error {
  override name = 'LivenessFailure';
}

/** Bounds every run loop so a livelocked simulation still ends. */
const EVENTS_PER_RUN_MAX = 20_000_000;
const TRACE_KEPT = 400;

/**
 * A cluster of Raft nodes on one thread in virtual time (FoundationDB-style): a seeded PRNG
 * decides every delay, loss and fault, so a run is replayed exactly from its seed.
 */
export class Simulation implements NodeHost {
  readonly prng: Prng;
  readonly monitor = new SafetyMonitor();
  readonly network: SimNetwork;
  readonly nodes = new Map<NodeId, SimNode>();
  /** Nodes that left the group for good (replaced): never restarted. */
  readonly retired = new Set<NodeId>();
  readonly initialVoters: NodeId[];
  private readonly queue = new EventQueue();
  private clock = 0;
  private events = 0;
  private nextNodeNumber: number;
  private readonly traceLines: string[] = [];
  /** Receives every trace line as it happens (the visible demo); null keeps only the tail. */
  traceSink: ((line: string) => void) | null = null;
  /** Messages sent, by type, rejections counted apart as `type:reject` (for message-count checks). */
  readonly sentByType = new Map<string, number>();
  onClientResponse: (r: ClientResponse) => void = () => {};

  constructor(readonly config: SimConfig) {
    this.prng = new Prng(config.seed);
    this.network = new SimNetwork(config.network, this.prng.fork());
    this.initialVoters = [];
    for (let i = 1; i <= config.nodes; i++) this.initialVoters.push(`n${i}`);
    this.nextNodeNumber = config.nodes + 1;
    for (const id of this.initialVoters) this.addNode(id);
  }

  // ---------------------------------------------------------------- NodeHost

  now(): number {
    return this.clock;
  }

  schedule(at: number, run: () => void): void {
    this.queue.push(Math.max(at, this.clock), run);
  }

  send(m: Message): void {
    const kind = m.reject ? `${m.type}:reject` : m.type;
    this.sentByType.set(kind, (this.sentByType.get(kind) ?? 0) + 1);
    for (const at of this.network.route(m, this.clock)) {
      this.schedule(at, () => {
        if (!this.network.deliverable(m)) return;
        this.nodes.get(m.to)?.deliver(m);
      });
    }
  }

  reply(r: ClientResponse): void {
    this.schedule(this.clock + this.prng.between(1, 3), () => this.onClientResponse(r));
  }

  trace(line: string): void {
    const text = `[${String(this.clock).padStart(6)} ms] ${line}`;
    if (this.traceSink) this.traceSink(text);
    this.traceLines.push(text);
    if (this.traceLines.length > TRACE_KEPT) this.traceLines.splice(0, this.traceLines.length - TRACE_KEPT);
  }

  /** The last trace lines, for failure reports. */
  traceTail(lines = 60): string[] {
    return this.traceLines.slice(-lines);
  }

  // ---------------------------------------------------------------- running

  start(): void {
    for (const id of this.initialVoters) this.nodes.get(id)!.start(this.initialVoters);
  }

  /** Runs events up to virtual time `until`. */
  runUntilTime(until: number): void {
    while (this.queue.peekTime() <= until) this.step();
    this.clock = Math.max(this.clock, until);
  }

  runFor(ms: number): void {
    this.runUntilTime(this.clock + ms);
  }

  /** Runs until `done()` holds, checked after every event; fails with `what` after `boundMs`. */
  runUntil(done: () => boolean, boundMs: number, what: string): void {
    const deadline = this.clock + boundMs;
    while (!done()) {
      if (this.queue.peekTime() > deadline) {
        this.clock = deadline;
        if (done()) return;
        throw new LivenessFailure(`${what}: not reached within ${boundMs} ms (at ${this.clock} ms)`);
      }
      this.step();
    }
  }

  private step(): void {
    const ev = this.queue.pop();
    if (!ev) return;
    if (++this.events > EVENTS_PER_RUN_MAX) throw new LivenessFailure(`more than ${EVENTS_PER_RUN_MAX} events: livelock?`);
    this.clock = ev.at;
    ev.run();
  }

  // ---------------------------------------------------------------- the cluster

  private addNode(id: NodeId): SimNode {
    const node = new SimNode(id, this, this.config.tuning, this.prng.u32());
    this.nodes.set(id, node);
    return node;
  }

  /** A brand-new node that will join as a learner. */
  spawnJoiner(): SimNode {
    const node = this.addNode(`n${this.nextNodeNumber++}`);
    node.start(null);
    this.trace(`${node.id} starts empty, waiting to join`);
    return node;
  }

  node(id: NodeId): SimNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** The live, unpaused leader with the highest term, if any. */
  leader(): SimNode | null {
    let best: SimNode | null = null;
    for (const n of this.nodes.values()) {
      if (n.crashed || n.paused || !n.core || n.core.role !== 'leader') continue;
      if (!best || n.core.term > best.core!.term) best = n;
    }
    return best;
  }

  /** A leader that has committed an entry of its own term, so it can serve reads and writes. */
  readyLeader(): SimNode | null {
    const l = this.leader();
    if (!l || !l.core) return null;
    return l.core.log.term(l.core.log.committed) === l.core.term ? l : null;
  }

  /**
   * The membership as of everything committed: the view of a ready leader that has applied its
   * whole committed log (it holds every committed entry). Null when no such leader exists now.
   */
  committedConf(): { voters: readonly NodeId[]; learners: readonly NodeId[] } | null {
    const leader = this.readyLeader();
    if (!leader || leader.core!.log.applied !== leader.core!.log.committed) return null;
    return leader.core!.conf;
  }

  /** The current members (voters and learners) as the most advanced live node sees them (a hint). */
  members(): { voters: readonly NodeId[]; learners: readonly NodeId[] } {
    let best: RaftCore | null = null;
    for (const n of this.nodes.values()) {
      if (!n.core || n.crashed || n.core.conf.voters.length === 0) continue;
      if (!best || n.core.log.applied > best.log.applied) best = n.core;
    }
    return best ? best.conf : { voters: this.initialVoters, learners: [] };
  }

  crash(id: NodeId): void {
    const n = this.node(id);
    if (n.crashed) return;
    n.crash();
    this.trace(`crash ${id} (unsynced writes lost)`);
  }

  restart(id: NodeId): void {
    const n = this.node(id);
    if (!n.crashed || this.retired.has(id)) return;
    n.start(null);
    this.trace(`restart ${id} from disk (term ${n.core!.term}, log ${n.core!.log.lastIndex()}, snapshot ${n.core!.log.offset})`);
  }

  pause(id: NodeId): void {
    const n = this.node(id);
    if (n.crashed || n.paused) return;
    n.pause();
    this.trace(`pause ${id}`);
  }

  resume(id: NodeId): void {
    const n = this.node(id);
    if (!n.paused) return;
    n.resume();
    this.trace(`resume ${id}`);
  }

  partition(groups: readonly (readonly NodeId[])[]): void {
    this.network.partition(groups);
    this.trace(`partition ${groups.map((g) => `{${g.join(',')}}`).join(' | ')}`);
  }

  heal(): void {
    this.network.heal();
    this.trace('heal network');
  }

  /** Proposes `data` at node `id` once it is between Readys; `done` gets the core's answer. */
  propose(id: NodeId, data: Uint8Array, done: (r: ProposeResult) => void = () => {}): void {
    this.node(id).admin((core) => done(core.propose(data)));
  }

  /** The quorum for the current membership and a durability check of the newest commit. */
  checkDurability(): void {
    const { voters } = this.members();
    const ids = [...this.nodes.keys()];
    this.monitor.checkDurable(ids, quorumSize(voters.length), (id, index) => this.node(id).storage.durableTermAt(index));
  }

  /** Every live member has applied the same prefix and holds the same state. */
  converged(): boolean {
    const { voters, learners } = this.members();
    const members = [...voters, ...learners];
    let applied = -1;
    let state = '';
    for (const id of members) {
      const n = this.nodes.get(id);
      if (!n || n.crashed || n.paused || !n.core) return false;
      if (n.core.log.applied !== n.core.log.committed) return false;
      const snap = new TextDecoder().decode(n.kv.snapshot());
      if (applied === -1) {
        applied = n.core.log.applied;
        state = snap;
      } else if (applied !== n.core.log.applied || state !== snap) {
        return false;
      }
    }
    const leader = this.readyLeader();
    return leader !== null && leader.core!.log.committed === applied;
  }

  get eventCount(): number {
    return this.events;
  }
}
