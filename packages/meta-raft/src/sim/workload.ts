import type { KvOperation } from '../lincheck/index.js';
import type { NodeId } from '../core/index.js';
import type { ClientRequest, ClientResponse } from './node.js';
import type { Simulation } from './simulation.js';

interface Pending {
  readonly req: ClientRequest;
  readonly call: number;
  readonly process: number;
}

/**
 * Clients issuing put, get and compare-and-set against random nodes, one operation at a time
 * each, recording a history for the linearizability checker. A client that gets no answer
 * before its timeout records the outcome as unknown (`info`) and continues as a new process,
 * as Jepsen does: the operation may still take effect at any later time.
 */
export class KvWorkload {
  readonly history: KvOperation[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly leaderGuess = new Map<number, NodeId>();
  private readonly process = new Map<number, number>();
  private readonly lastValue = new Map<string, string | null>();
  private nextProcess = 0;
  private opSeq = 0;
  private stopped = false;
  ok = 0;
  failed = 0;
  unknown = 0;
  /** Per client: time of the last `ok` operation invoked, for the liveness phase. */
  readonly lastOkCall = new Map<number, number>();

  constructor(private readonly sim: Simulation) {
    sim.onClientResponse = (r) => this.onResponse(r);
  }

  start(): void {
    for (let c = 0; c < this.sim.config.clients; c++) {
      this.process.set(c, this.nextProcess++);
      this.sim.schedule(this.sim.now() + this.sim.prng.between(1, 20), () => this.issue(c));
    }
  }

  /** Stops issuing new operations; pending ones still complete or time out. */
  stop(): void {
    this.stopped = true;
  }

  idle(): boolean {
    return this.pending.size === 0;
  }

  private issue(client: number): void {
    if (this.stopped) return;
    const sim = this.sim;
    const r = sim.prng;
    const key = `k${r.int(sim.config.keys)}`;
    const opId = ++this.opSeq;
    const roll = r.float();
    let req: ClientRequest;
    if (roll < 0.4) {
      req = { client, opId, kind: 'get', key };
    } else if (roll < 0.7) {
      req = { client, opId, kind: 'put', key, value: `v${opId}` };
    } else {
      // Compare against a recently seen value so a good share of cas operations succeed.
      const from = r.chance(0.8) ? (this.lastValue.get(key) ?? null) : `v${r.int(opId)}`;
      req = { client, opId, kind: 'cas', key, from, value: `v${opId}` };
    }
    const { voters, learners } = sim.members();
    const members = [...voters, ...learners];
    const guess = this.leaderGuess.get(client);
    const target = guess && sim.nodes.has(guess) && !sim.retired.has(guess) ? guess : r.pick(members);
    const pending: Pending = { req, call: sim.now(), process: this.process.get(client)! };
    this.pending.set(client, pending);
    sim.schedule(sim.now() + r.between(1, 3), () => sim.nodes.get(target)?.request(req));
    sim.schedule(sim.now() + sim.config.clientTimeoutMs, () => this.onTimeout(client, opId, target));
  }

  private onResponse(resp: ClientResponse): void {
    const p = this.pending.get(resp.client);
    if (!p || p.req.opId !== resp.opId) return; // late answer to a timed-out operation
    this.pending.delete(resp.client);
    const now = this.sim.now();
    this.record(p, resp.ok ? 'ok' : 'fail', now, resp.value);
    if (resp.ok) {
      this.ok++;
      this.lastOkCall.set(resp.client, p.call);
      if (p.req.kind === 'get') this.lastValue.set(p.req.key, resp.value ?? null);
      else this.lastValue.set(p.req.key, p.req.value!);
    } else {
      this.failed++;
    }
    if (resp.leaderHint) this.leaderGuess.set(resp.client, resp.leaderHint);
    else if (!resp.ok) this.leaderGuess.delete(resp.client);
    this.next(resp.client);
  }

  private onTimeout(client: number, opId: number, target: NodeId): void {
    const p = this.pending.get(client);
    if (!p || p.req.opId !== opId) return;
    this.pending.delete(client);
    this.unknown++;
    this.record(p, 'info', Infinity, undefined);
    // The process that lost track of its operation never returns; the client goes on as a new one.
    this.process.set(client, this.nextProcess++);
    if (this.leaderGuess.get(client) === target) this.leaderGuess.delete(client);
    this.next(client);
  }

  private next(client: number): void {
    const gap = this.sim.prng.between(0, this.sim.config.clientGapMsMax);
    this.sim.schedule(this.sim.now() + gap, () => this.issue(client));
  }

  private record(p: Pending, status: 'ok' | 'fail' | 'info', ret: number, value: string | null | undefined): void {
    const base = { process: p.process, key: p.req.key, status, call: p.call, ret };
    switch (p.req.kind) {
      case 'get':
        this.history.push({ ...base, type: 'get', ...(status === 'ok' ? { result: value ?? null } : {}) });
        return;
      case 'put':
        this.history.push({ ...base, type: 'put', value: p.req.value! });
        return;
      case 'cas':
        this.history.push({ ...base, type: 'cas', from: p.req.from ?? null, to: p.req.value! });
        return;
    }
  }
}
