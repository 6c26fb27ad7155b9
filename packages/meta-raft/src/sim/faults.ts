import type { NodeId } from '../core/index.js';
import type { FaultKind } from './config.js';
import type { Simulation } from './simulation.js';

/** Longest a replacement may take before the operator gives up on it (it is retried next time). */
const REPLACE_STEP_MS = 50;
const REPLACE_ATTEMPTS_MAX = 400;

/**
 * Injects the seed's mix of faults during the safety phase: partitions (symmetric, isolating the
 * leader, one-directional), clogged links, crashes that lose unsynced writes, pauses (a SIGSTOP'd
 * process), skewed clocks, replacing a member by a fresh node through membership changes, and
 * leadership transfers.
 */
export class FaultInjector {
  private active = false;
  private replacing = false;
  private sequenceAt = 0;
  readonly counts = new Map<FaultKind, number>();

  constructor(private readonly sim: Simulation) {}

  start(until: number): void {
    this.active = true;
    this.scheduleNext(until);
  }

  stop(): void {
    this.active = false;
  }

  private scheduleNext(until: number): void {
    const { gapMsMin, gapMsMax } = this.sim.config.faults;
    const at = this.sim.now() + this.sim.prng.between(gapMsMin, gapMsMax);
    if (at >= until) return;
    this.sim.schedule(at, () => {
      if (!this.active) return;
      this.inject(this.pickKind());
      this.scheduleNext(until);
    });
  }

  private pickKind(): FaultKind {
    const sequence = this.sim.config.faults.sequence;
    if (sequence && sequence.length > 0) return sequence[this.sequenceAt++ % sequence.length]!;
    const weights = Object.entries(this.sim.config.faults.weights) as [FaultKind, number][];
    const total = weights.reduce((s, [, w]) => s + w, 0);
    let roll = this.sim.prng.float() * total;
    for (const [kind, w] of weights) {
      roll -= w;
      if (roll < 0) return kind;
    }
    return 'heal';
  }

  private liveIds(): NodeId[] {
    return [...this.sim.nodes.values()].filter((n) => !n.crashed && !this.sim.retired.has(n.id)).map((n) => n.id);
  }

  private memberIds(): NodeId[] {
    const { voters, learners } = this.sim.members();
    return [...voters, ...learners].filter((id) => this.sim.nodes.has(id));
  }

  inject(kind: FaultKind): void {
    const sim = this.sim;
    const r = sim.prng;
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    const members = this.memberIds();
    switch (kind) {
      case 'partition': {
        const shuffled = r.shuffle(members);
        const cut = r.between(1, Math.max(1, shuffled.length - 1));
        sim.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
        return;
      }
      case 'isolate-leader': {
        const leader = sim.leader();
        if (!leader) return;
        sim.partition([[leader.id], members.filter((id) => id !== leader.id)]);
        return;
      }
      case 'asymmetric': {
        const x = r.pick(members);
        const inbound = r.chance(0.5);
        for (const y of members) {
          if (y === x) continue;
          if (inbound) sim.network.cutLink(y, x);
          else sim.network.cutLink(x, y);
        }
        sim.trace(`asymmetric partition: ${x} ${inbound ? 'hears nobody' : 'is heard by nobody'}`);
        return;
      }
      case 'clog': {
        // Swizzle-clog: clog a few random links, each until its own random time.
        const links = r.between(1, members.length);
        const clogged: string[] = [];
        for (let i = 0; i < links; i++) {
          const a = r.pick(members);
          const b = r.pick(members);
          if (a === b) continue;
          const until = sim.now() + r.between(50, 1500);
          sim.network.clog(a, b, until);
          clogged.push(`${a}>${b}`);
        }
        if (clogged.length > 0) sim.trace(`clog ${clogged.join(' ')}`);
        return;
      }
      case 'heal':
        sim.heal();
        return;
      case 'crash':
      case 'crash-leader': {
        const live = this.liveIds();
        const victim = kind === 'crash-leader' ? sim.leader()?.id : live.length > 0 ? r.pick(live) : undefined;
        if (!victim) return;
        sim.crash(victim);
        sim.schedule(sim.now() + r.between(50, sim.config.faults.downMsMax), () => {
          if (this.active) sim.restart(victim);
        });
        return;
      }
      case 'pause': {
        const live = this.liveIds();
        if (live.length === 0) return;
        const victim = r.pick(live);
        if (sim.node(victim).paused) return;
        sim.pause(victim);
        sim.schedule(sim.now() + r.between(50, sim.config.faults.downMsMax), () => sim.resume(victim));
        return;
      }
      case 'skew': {
        const live = this.liveIds();
        if (live.length === 0) return;
        const victim = sim.node(r.pick(live));
        victim.clockRate = r.pick([0.5, 0.8, 1, 1.25, 2]);
        sim.trace(`clock of ${victim.id} now runs at ${victim.clockRate}x tick period`);
        return;
      }
      case 'replace-node':
        this.replaceNode();
        return;
      case 'transfer-leader': {
        // An operator (or a SIGTERM'd leader) hands leadership to another voter, live or not.
        const leader = sim.leader();
        if (!leader) return;
        const others = leader.core!.conf.voters.filter((id) => id !== leader.id);
        if (others.length === 0) return;
        const target = r.pick(others);
        leader.admin((core) => {
          if (core.transferLeader(target)) sim.trace(`operator: ${leader.id} transfers leadership to ${target}`);
        });
        return;
      }
    }
  }

  /**
   * Replaces a voter by a fresh node, one single-server change at a time: remove the victim, then
   * add the newcomer as a learner, and promote it once it has caught up.
   */
  private replaceNode(): void {
    const sim = this.sim;
    if (this.replacing) return;
    // Decide only on what is known committed: a stale view could name a node that is not a member.
    const start = sim.committedConf();
    if (!start || start.voters.length < 3 || start.learners.length > 0) return;
    this.replacing = true;
    const victim = sim.prng.pick(start.voters);
    let joiner: NodeId | null = null;
    let phase: 'remove' | 'add-learner' | 'promote' = 'remove';
    let attempts = 0;
    sim.trace(`operator: replace ${victim}`);
    const stepOnce = () => {
      if (++attempts > REPLACE_ATTEMPTS_MAX) {
        sim.trace(`operator: replacing ${victim} abandoned in phase ${phase}`);
        this.replacing = false;
        return;
      }
      const conf = sim.committedConf();
      if (conf) {
        if (phase === 'remove' && !conf.voters.includes(victim) && !conf.learners.includes(victim)) {
          sim.crash(victim);
          sim.retired.add(victim);
          sim.trace(`operator: ${victim} removed and retired`);
          joiner = sim.spawnJoiner().id;
          phase = 'add-learner';
        }
        if (phase === 'add-learner' && joiner && conf.learners.includes(joiner)) phase = 'promote';
        if (phase === 'promote' && joiner && conf.voters.includes(joiner)) {
          sim.trace(`operator: ${joiner} promoted to voter`);
          this.replacing = false;
          return;
        }
        const leader = sim.readyLeader()!;
        const cc = phase === 'remove'
          ? { type: 'remove' as const, node: victim }
          : phase === 'add-learner'
            ? { type: 'add-learner' as const, node: joiner! }
            : { type: 'add-voter' as const, node: joiner! };
        leader.admin((core) => {
          const res = core.proposeConfChange(cc);
          if (res.ok) sim.trace(`operator: ${leader.id} proposes ${cc.type} ${cc.node} at ${res.index}`);
        });
      }
      sim.schedule(sim.now() + REPLACE_STEP_MS, stepOnce);
    };
    stepOnce();
  }
}
