import t from 'tap';
import type { Test } from 'tap';
import type { Entry } from '../core/index.js';
import { encodeProposal } from './kv.js';
import type { NetworkProfile } from './network.js';
import { Scenario } from './scenario.js';

t.test('persistence: crash-restart of all nodes, of the leader, of a follower', async (t) => {
  const seed = 301;
  t.comment(`seed ${seed}`);
  const s = new Scenario({ nodes: 3, seed });
  const first = s.one('11', 3);
  for (const id of s.ids) s.sim.crash(id);
  for (const id of s.ids) s.sim.restart(id);
  t.equal(s.committedAt(first).count, 0, 'nothing is known committed right after a full restart');
  s.one('12', 3);
  s.sim.runUntil(() => s.committedAt(first).count === 3, 2000, 'the first entry recommitted everywhere');
  t.equal(s.committedAt(first).value, '11', 'the entry from before the crash survived');

  const leader = s.leader()!;
  s.sim.crash(leader);
  s.sim.restart(leader);
  s.one('13', 3);

  const follower = s.ids.find((id) => id !== s.leader())!;
  s.sim.crash(follower);
  const fourteen = s.one('14', 2);
  s.sim.restart(follower);
  s.one('15', 3);
  s.sim.runUntil(() => s.committedAt(fourteen).count === 3, 2000, 'the restarted follower catches up');
  t.equal(s.committedAt(fourteen).value, '14', 'the follower has what was committed while it was down');
});

t.test('Figure 8, step by step: an entry of an earlier term is never committed by counting replicas', async (t) => {
  const seed = 310;
  t.comment(`seed ${seed}`);
  // One entry per append and one append in flight, so replication advances one index at a time.
  const s = new Scenario({ nodes: 5, seed, tuning: { raft: { appendEntriesMax: 1, inflightAppendsMax: 1 } } });
  const core = (id: string) => s.sim.node(id).core!;
  const leaderAmong = (ids: readonly string[]) => () => {
    const l = s.sim.leader();
    return l !== null && ids.includes(l.id) ? l.id : null;
  };
  const s1 = s.awaitLeader();
  s.one('warm-up', 5);
  const [s2, a, b, c] = s.ids.filter((id) => id !== s1) as [string, string, string, string];

  // (a) S1 leads and replicates X only to S2.
  s.sim.partition([[s1, s2], [a, b, c]]);
  const x = s.propose(s1, 'X');
  t.ok(x.ok, 'S1 appends X');
  if (!x.ok) return;
  s.sim.runUntil(() => core(s2).log.lastIndex() >= x.index, 1000, 'X reaches S2');

  // (b) S1 crashes; one of the other three wins and appends its own entry at X's index, which
  //     never leaves it; then it crashes too.
  s.sim.crash(s1);
  s.sim.heal();
  s.isolate(s2);
  s.sim.runUntil(() => leaderAmong([a, b, c])() !== null, 5000, 'a leader among the three');
  const s5 = leaderAmong([a, b, c])()!;
  s.isolate(s5);
  const s5Term = core(s5).term;
  s.sim.runUntil(() => s.sim.node(s5).storage.durableTermAt(x.index) === s5Term, 1000, 'S5 persists its entry');
  s.sim.crash(s5);
  const [c3, c4] = [a, b, c].filter((id) => id !== s5) as [string, string];

  // (c) S1 returns and S1 or S2 leads; it replicates X to a third node, so X is on a majority.
  s.sim.heal();
  s.isolate(s5);
  s.sim.restart(s1);
  s.sim.runUntil(() => leaderAmong([s1, s2])() !== null, 5000, 'S1 or S2 leads');
  const w = leaderAmong([s1, s2])()!;
  const partner = w === s1 ? s2 : s1;
  const xOn = (id: string) => core(id).log.term(x.index) === x.term;
  // The moment the leader learns that a third node holds X.
  const known = (id: string) => (core(w).progressOf(id)?.match ?? 0) >= x.index;
  s.sim.runUntil(() => known(c3) || known(c4), 2000, 'the leader learns X is on a third node');
  const holders = [w, partner, c3, c4].filter(xOn).length;
  t.ok(holders >= 3, `X is stored on ${holders} of 5 nodes, a majority`);
  t.ok(core(w).log.committed < x.index, 'yet the leader does not commit X: it is not of its own term');
  // It crashes before its own entry reaches the third node (what is in flight is lost with it).
  s.isolate(w);
  s.sim.crash(w);

  // (d) S5 returns and wins with the votes of c3 and c4; it overwrites X with its own entry.
  s.isolate(partner);
  s.rejoin(s5);
  s.sim.restart(s5);
  s.sim.runUntil(() => s.sim.readyLeader()?.id === s5, 5000, 'S5 leads again');
  s.sim.runUntil(() => s.committedAt(x.index).count >= 3, 2000, 'S5 commits at X\'s index');
  t.not(core(s5).log.term(x.index), x.term, 'X was overwritten, which is only safe because it was never committed');
  for (const id of s.ids) {
    s.sim.restart(id);
    s.rejoin(id);
  }
  s.one('end', 5);
});

/**
 * 6.824's Figure 8 test: proposals while leaders crash at random moments, so entries of older
 * terms are often replicated to a majority by a later leader. A leader that committed them by
 * counting replicas (instead of only entries of its own term) would lose committed entries here.
 */
function figure8(t: Test, seed: number, network: Partial<NetworkProfile>, unreliable: boolean): void {
  t.comment(`seed ${seed}`);
  const s = new Scenario({ nodes: 5, seed, network, tuning: { raft: { appendEntriesMax: 1, inflightAppendsMax: 1 } } });
  const r = s.sim.prng.fork();
  s.one('start', 1);
  let up = 5;
  for (let iter = 0; iter < 300; iter++) {
    const leader = s.leader();
    if (leader) s.sim.propose(leader, encodeProposal({ client: -1, opId: iter, cmd: { op: 'put', key: 'x', value: `f${iter}` } }));
    s.idle(r.chance(0.1) ? r.between(0, 500) : r.between(0, 13));
    if (leader && r.chance(unreliable ? 0.3 : 0.5)) {
      if (unreliable) s.isolate(leader);
      else s.sim.crash(leader);
      up--;
    }
    if (up < 3) {
      const down = s.ids.filter((id) => s.sim.node(id).crashed || s.sim.network.isCut(id, s.ids.find((x) => x !== id)!));
      const back = r.pick(down);
      if (unreliable) s.rejoin(back);
      else s.sim.restart(back);
      up++;
    }
  }
  for (const id of s.ids) {
    s.sim.restart(id);
    s.rejoin(id);
  }
  s.sim.network.profile = { ...s.sim.network.profile, dropRate: 0, spikeRate: 0 };
  s.one('end', 5);
  t.ok(s.sim.monitor.maxCommitted > 20, `${s.sim.monitor.maxCommitted} entries committed through the churn`);
  t.pass('every committed entry survived (checked by the safety monitor throughout)');
}

t.test('Figure 8, randomized (reliable network, crashing leaders)', async (t) => {
  for (const seed of [311, 312, 313]) figure8(t, seed, {}, false);
});

t.test('Figure 8, randomized (unreliable network: loss, long delays, reordering, partitions)', async (t) => {
  for (const seed of [321, 322, 323]) {
    figure8(t, seed, { dropRate: 0.1, delayMsMax: 30, spikeRate: 0.1, spikeMsMax: 300 }, true);
  }
});

/**
 * 6.824's churn test: clients keep proposing while nodes crash, restart, disconnect and
 * reconnect at random; afterwards every value a client saw committed is in the log, once.
 */
function churn(t: Test, seed: number, network: Partial<NetworkProfile>): void {
  t.comment(`seed ${seed}`);
  const s = new Scenario({ nodes: 5, seed, network, tuning: { snapshotEvery: 30, compactKeep: 5 } });
  const r = s.sim.prng.fork();
  s.awaitLeader();
  const acknowledged: Entry[] = [];
  let n = 0;
  for (let round = 0; round < 40; round++) {
    for (let k = 0; k < 5; k++) {
      const leader = s.leader();
      if (!leader) break;
      const data = encodeProposal({ client: -1, opId: n++, cmd: { op: 'put', key: 'x', value: `churn-${n}` } });
      s.sim.propose(leader, data, (res) => {
        if (res.ok) acknowledged.push({ index: res.index, term: res.term, type: 'normal', data });
      });
    }
    s.idle(r.between(5, 80));
    const victim = r.pick(s.ids);
    const roll = r.float();
    if (roll < 0.2) s.sim.crash(victim);
    else if (roll < 0.5) s.sim.restart(victim);
    else if (roll < 0.7) s.isolate(victim);
    else s.rejoin(victim);
  }
  for (const id of s.ids) {
    s.sim.restart(id);
    s.rejoin(id);
  }
  s.sim.network.profile = { ...s.sim.network.profile, dropRate: 0, spikeRate: 0 };
  s.one('end', 5);
  s.sim.runUntil(() => s.sim.converged(), 10_000, 'convergence');
  // Appended is not committed: a proposal counts only if it is what got committed at its index.
  const committed = acknowledged.filter((e) => s.sim.monitor.isCommitted(e));
  t.ok(committed.length > 10, `${committed.length} of ${acknowledged.length} proposals committed`);
  const values = new Set<string>();
  for (const node of s.sim.nodes.values()) values.add(node.kv.get('x') ?? '');
  t.equal(values.size, 1, 'every node ends with the same state');
}

t.test('churn (reliable network)', async (t) => {
  for (const seed of [331, 332]) churn(t, seed, {});
});

t.test('churn (unreliable network)', async (t) => {
  for (const seed of [341, 342]) churn(t, seed, { dropRate: 0.1, dupRate: 0.05, delayMsMax: 30, spikeRate: 0.05, spikeMsMax: 200 });
});
