import type { NodeId, ProposeResult } from '../core/index.js';
import { calmConfig } from './config.js';
import type { SimConfig } from './config.js';
import { decodeProposal, encodeProposal } from './kv.js';
import type { NetworkProfile } from './network.js';
import type { NodeTuning } from './node.js';
import { Simulation } from './simulation.js';

export interface ScenarioOptions {
  readonly nodes: number;
  readonly seed: number;
  readonly tuning?: Partial<Omit<NodeTuning, 'raft'>> & { readonly raft?: Partial<NodeTuning['raft']> };
  readonly network?: Partial<NetworkProfile>;
}

/** Virtual milliseconds an expectation may take before a scenario fails. */
const AGREEMENT_MS_MAX = 10_000;
const ELECTION_MS_MAX = 5_000;

/**
 * Scripted runs on the simulator, for the classic Raft test list: each test reads as a sequence
 * of faults and expectations ("isolate the leader; a new leader is elected; the old one rejoins").
 * Every scenario uses the same simulated disks and network as the swarm, so the same safety
 * monitor checks it throughout.
 */
export class Scenario {
  readonly sim: Simulation;
  private opSeq = 0;

  constructor(options: ScenarioOptions) {
    const base = calmConfig(options.seed, options.nodes);
    const config: SimConfig = {
      ...base,
      tuning: {
        ...base.tuning,
        ...options.tuning,
        raft: { ...base.tuning.raft, ...options.tuning?.raft },
      },
      network: { ...base.network, ...options.network },
    };
    this.sim = new Simulation(config);
    this.sim.start();
  }

  get ids(): readonly NodeId[] {
    return [...this.sim.nodes.keys()];
  }

  /** Waits for exactly one live leader that can serve (it committed an entry of its term). */
  awaitLeader(what = 'a leader', boundMs = ELECTION_MS_MAX): NodeId {
    this.sim.runUntil(() => this.sim.readyLeader() !== null, boundMs, what);
    return this.sim.readyLeader()!.id;
  }

  /** The live leader with the highest term, or null. */
  leader(): NodeId | null {
    return this.sim.leader()?.id ?? null;
  }

  /** The term of node `id` (which must be up). */
  term(id: NodeId): number {
    return this.sim.node(id).core!.term;
  }

  /** Lets virtual time pass. */
  idle(ms: number): void {
    this.sim.runFor(ms);
  }

  isolate(id: NodeId): void {
    for (const other of this.ids) {
      if (other === id) continue;
      this.sim.network.cutLink(id, other);
      this.sim.network.cutLink(other, id);
    }
    this.sim.trace(`isolate ${id}`);
  }

  rejoin(id: NodeId): void {
    for (const other of this.ids) {
      if (other === id) continue;
      this.sim.network.restoreLink(id, other);
      this.sim.network.restoreLink(other, id);
    }
    this.sim.trace(`rejoin ${id}`);
  }

  /** Proposes `value` at node `id` and returns the core's immediate answer. */
  propose(id: NodeId, value: string): ProposeResult {
    return this.proposeData(id, this.encode(value));
  }

  private encode(value: string): Uint8Array {
    return encodeProposal({ client: -1, opId: ++this.opSeq, cmd: { op: 'put', key: 'x', value } });
  }

  private proposeData(id: NodeId, data: Uint8Array): ProposeResult {
    let result: ProposeResult | null = null;
    this.sim.propose(id, data, (r) => (result = r));
    this.sim.runUntil(() => result !== null, 1000, `node ${id} to take a proposal`);
    return result!;
  }

  /**
   * How many nodes have `index` committed, and the value there; fails if two nodes disagree
   * (the test's own check on top of the safety monitor).
   */
  committedAt(index: number): { count: number; value: string | null } {
    let count = 0;
    let value: string | null = null;
    for (const n of this.sim.nodes.values()) {
      const core = n.core;
      if (!core || n.crashed || core.log.committed < index) continue;
      const e = core.log.entry(index);
      if (!e) {
        // Compacted into a snapshot: committed here, its value checked where it is still in a log.
        if (index <= core.log.offset) count++;
        continue;
      }
      const v = e.type === 'normal' && e.data.length > 0 ? decodeProposal(e.data).cmd : null;
      const text = v && v.op === 'put' ? v.value : '';
      if (value !== null && text !== value) throw new Error(`nodes disagree at ${index}: ${value} vs ${text}`);
      value = text;
      count++;
    }
    return { count, value };
  }

  /**
   * Like 6.824's `one()`: keeps proposing `value` to whoever is leader until it is committed on
   * at least `expected` nodes; returns its index.
   */
  one(value: string, expected: number, boundMs = AGREEMENT_MS_MAX): number {
    const deadline = this.sim.now() + boundMs;
    while (this.sim.now() < deadline) {
      const leader = this.sim.readyLeader();
      if (leader) {
        const data = this.encode(value);
        const r = this.proposeData(leader.id, data);
        if (r.ok) {
          const entry = { index: r.index, term: r.term, type: 'normal' as const, data };
          try {
            this.sim.runUntil(() => this.committedAt(r.index).count >= expected, 2000, `${value} committed on ${expected}`);
            // Committed at that index, but is it ours? (A new leader may have overwritten it.)
            if (this.sim.monitor.isCommitted(entry)) return r.index;
          } catch (err) {
            if (!(err instanceof Error) || err.name !== 'LivenessFailure') throw err;
          }
        }
      }
      this.sim.runFor(50);
    }
    throw new Error(`one(${value}): not committed on ${expected} nodes within ${boundMs} ms`);
  }

  /** Messages sent so far, in all or of the given types. */
  messages(...types: string[]): number {
    let n = 0;
    for (const [type, count] of this.sim.sentByType) if (types.length === 0 || types.includes(type)) n += count;
    return n;
  }
}
