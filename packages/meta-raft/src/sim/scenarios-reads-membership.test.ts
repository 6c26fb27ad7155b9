import t from 'tap';
import type { ConfChange, NodeId, ProposeResult } from '../core/index.js';
import type { ClientResponse } from './node.js';
import { Scenario } from './scenario.js';

/** Sends a get for key x to `node` and collects the answer (if any) in `answers`. */
function read(s: Scenario, node: NodeId, opId: number, answers: Map<number, ClientResponse>): void {
  s.sim.onClientResponse = (r) => answers.set(r.opId, r);
  s.sim.node(node).request({ client: 1, opId, kind: 'get', key: 'x' });
}

t.test('ReadIndex: reads on the leader and on followers see the latest committed write', async (t) => {
  const seed = 501;
  t.comment(`seed ${seed}`);
  const s = new Scenario({ nodes: 3, seed });
  s.awaitLeader();
  s.one('v1', 3);
  const answers = new Map<number, ClientResponse>();
  s.ids.forEach((id, i) => read(s, id, i, answers));
  s.sim.runUntil(() => answers.size === 3, 1000, 'three answers');
  for (const [i, r] of answers) t.same({ ok: r.ok, value: r.value }, { ok: true, value: 'v1' }, `read ${i} sees v1`);
});

for (const checkQuorum of [true, false]) {
  t.test(`a deposed leader never serves a stale read (check-quorum ${checkQuorum ? 'on' : 'off'})`, async (t) => {
    const seed = checkQuorum ? 502 : 503;
    t.comment(`seed ${seed}`);
    // With check-quorum off, the old leader never learns it was deposed while it is cut off.
    const s = new Scenario({ nodes: 5, seed, tuning: { raft: { checkQuorum } } });
    const old = s.awaitLeader();
    s.one('v1', 5);
    const friend = s.ids.find((id) => id !== old)!;
    const majority = s.ids.filter((id) => id !== old && id !== friend);
    s.sim.partition([[old, friend], majority]);
    const answers = new Map<number, ClientResponse>();
    read(s, old, 1, answers); // at the old leader, right as it is cut off
    read(s, friend, 2, answers); // at a follower on its side
    s.sim.runUntil(() => {
      const l = s.sim.readyLeader();
      return l !== null && majority.includes(l.id);
    }, 5000, 'a new leader in the majority');
    s.one('v2', 3);
    read(s, old, 3, answers); // after v2 committed elsewhere
    s.idle(2000);
    if (!checkQuorum) t.equal(s.sim.node(old).core!.role, 'leader', 'the old leader still believes it leads');
    for (const [opId, r] of answers) t.notOk(r.ok, `read ${opId} on the minority side is refused (${r.reason}), never answered stale`);
    s.sim.heal();
    s.idle(1000);
    for (const [opId, r] of answers) t.notOk(r.ok, `read ${opId} stays refused after healing`);
    read(s, old, 4, answers);
    s.sim.runUntil(() => answers.has(4), 1000, 'a fresh read');
    t.same({ ok: answers.get(4)!.ok, value: answers.get(4)!.value }, { ok: true, value: 'v2' }, 'a fresh read sees v2');
  });
}

t.test('membership: a learner catches up and is promoted; voters are removed; one change at a time', async (t) => {
  const seed = 504;
  t.comment(`seed ${seed}`);
  const s = new Scenario({ nodes: 3, seed, tuning: { raft: { promoteLagMax: 0 } } });
  s.one('a', 3);
  const change = (cc: ConfChange): ProposeResult => {
    const leader = s.sim.readyLeader() ?? s.sim.node(s.awaitLeader());
    let result: ProposeResult | null = null;
    leader.admin((core) => (result = core.proposeConfChange(cc)));
    s.sim.runUntil(() => result !== null, 1000, `an answer to ${cc.type}`);
    return result!;
  };
  const applied = (pred: (voters: readonly NodeId[], learners: readonly NodeId[]) => boolean, what: string) =>
    s.sim.runUntil(() => {
      const conf = s.sim.committedConf();
      return conf !== null && pred(conf.voters, conf.learners);
    }, 3000, what);

  const joiner = s.sim.spawnJoiner().id;
  s.isolate(joiner); // it cannot catch up yet
  const add = change({ type: 'add-learner', node: joiner });
  t.ok(add.ok, 'adding a learner is accepted');
  const second = change({ type: 'add-learner', node: 'n99' });
  t.same(second.ok ? 'ok' : second.error, 'conf-change-pending', 'a second change waits for the first');
  applied((_, learners) => learners.includes(joiner), 'the learner is a member');
  for (let i = 0; i < 5; i++) s.one(`b${i}`, 3);
  const early = change({ type: 'add-voter', node: joiner });
  t.same(early.ok ? 'ok' : early.error, 'invalid-conf-change', 'a learner that is behind is not promoted');

  s.rejoin(joiner);
  s.sim.runUntil(() => {
    const leader = s.sim.readyLeader()?.core;
    return !!leader && leader.progressOf(joiner)?.match === leader.log.lastIndex();
  }, 3000, 'the learner catches up');
  t.ok(change({ type: 'add-voter', node: joiner }).ok, 'the caught-up learner is promoted');
  applied((voters) => voters.length === 4 && voters.includes(joiner), 'four voters');
  s.one('c', 4);

  const leader = s.leader()!;
  const follower = s.ids.find((id) => id !== leader && id !== joiner)!;
  t.ok(change({ type: 'remove', node: follower }).ok, 'removing a follower is accepted');
  applied((voters) => voters.length === 3 && !voters.includes(follower), 'three voters');
  s.sim.crash(follower);
  s.one('d', 3);

  t.ok(change({ type: 'remove', node: leader }).ok, 'the leader may remove itself');
  s.sim.runUntil(() => {
    const l = s.sim.readyLeader();
    return l !== null && l.id !== leader;
  }, 5000, 'a new leader after the old one left');
  applied((voters) => voters.length === 2 && !voters.includes(leader), 'two voters');
  t.equal(s.sim.node(leader).core!.role, 'follower', 'the removed leader stepped down');
  s.sim.crash(leader);
  s.one('e', 2);
  t.pass('the group of two keeps committing');
});
