import { RaftCore } from '../core/index.js';
import type { Message, NodeId } from '../core/index.js';

/** Steps of message delivery one settling may take; a settled group needs a handful. */
const SETTLE_STEPS_MAX = 64;
/** Ticks an election may take before the rehearsal gives up (it never should: nothing is lost). */
const ELECTION_TICKS_MAX = 200;

export interface RehearsalResult {
  /** Leadership handovers completed. */
  readonly handovers: number;
  /** Proposals committed on every member. */
  readonly committed: number;
}

/**
 * Rehearses elections, writes and leadership handovers on three in-memory cores, once, when a
 * node starts.
 *
 * Why: V8 compiles a function on its first call and interprets it until it has run a while. A
 * follower never runs a campaign, a vote for a transferee, a new leader's first appends or a
 * handover, so the first time it does is during a real failover, while the group has no leader,
 * and on a small machine three members doing so at once compete for the same cores. The cores
 * here are pure and private to the rehearsal: no disk, no network, nothing of the real node's
 * state is touched; only the code gets warm.
 */
export function rehearseFailovers(handovers: number, proposalsPerTerm: number): RehearsalResult {
  const ids: NodeId[] = ['rehearsal-1', 'rehearsal-2', 'rehearsal-3'];
  const cores = new Map(ids.map((id, i) => [id, RaftCore.bootstrap({ id, electionTicks: 10, heartbeatTicks: 1, seed: i + 1 }, ids)]));
  const all = [...cores.values()];
  const settle = (): void => {
    for (let step = 0; step < SETTLE_STEPS_MAX; step++) {
      const sent: Message[] = [];
      for (const core of all) {
        if (!core.hasReady()) continue;
        const rd = core.ready();
        for (const m of rd.messages) sent.push(m);
        core.advance();
      }
      if (sent.length === 0) return;
      for (const m of sent) cores.get(m.to)?.step(m);
    }
  };
  const leader = (): RaftCore | undefined => all.find((c) => c.role === 'leader');
  const tickAll = (): void => {
    for (const core of all) core.tick();
    settle();
  };
  for (let t = 0; t < ELECTION_TICKS_MAX && !leader(); t++) tickAll();
  const payload = new TextEncoder().encode('{"type":"rehearsal"}');
  let done = 0;
  let committed = 0;
  for (let h = 0; h < handovers; h++) {
    const from = leader();
    if (!from) break;
    for (let i = 0; i < proposalsPerTerm; i++) {
      if (from.propose(payload).ok) committed++;
      // A read confirmed the way a linearizable one is.
      if (i % 4 === 0) from.readIndex(`rehearsal-${h}-${i}`);
      settle();
    }
    tickAll();
    const target = ids[(ids.indexOf(from.id) + 1) % ids.length]!;
    if (!from.transferLeader(target)) break;
    settle();
    if (leader()?.id !== target) break;
    done++;
  }
  return { handovers: done, committed };
}
