import t from 'tap';
import { Scenario } from './scenario.js';

// Each scenario runs on a fixed seed; a failure message carries it, and the same seed replays it.

t.test('initial election: one leader, and it stays while nothing fails', async (t) => {
  const seed = 101;
  t.comment(`seed ${seed}`);
  const s = new Scenario({ nodes: 3, seed });
  const leader = s.awaitLeader('initial election');
  const term = s.term(leader);
  const votesBefore = s.messages('vote', 'pre-vote');
  s.idle(3000);
  t.equal(s.leader(), leader, 'the same leader after 3 s of calm');
  t.equal(s.term(leader), term, 'no new term while nothing fails');
  t.equal(s.messages('vote', 'pre-vote'), votesBefore, 'no campaign while the leader is healthy');
  for (const id of s.ids) t.equal(s.term(id), term, `${id} agrees on the term`);
});

t.test('re-election: isolate the leader; a new one is elected; the old one rejoins as follower', async (t) => {
  const seed = 102;
  t.comment(`seed ${seed}`);
  const s = new Scenario({ nodes: 3, seed });
  const first = s.awaitLeader();
  s.isolate(first);
  s.sim.runUntil(() => s.sim.readyLeader() !== null && s.sim.readyLeader()!.id !== first, 5000, 'a new leader');
  const second = s.leader()!;
  t.not(second, first, 'a different node leads');
  const term = s.term(second);
  s.rejoin(first);
  s.idle(1000);
  t.equal(s.leader(), second, 'the old leader does not take over again');
  t.equal(s.term(second), term, 'its return forces no new term');
  t.equal(s.sim.node(first).core!.role, 'follower', 'the old leader is a follower');

  // Without a majority there is no leader; with it back there is one.
  const others = s.ids.filter((id) => id !== second);
  s.isolate(second);
  s.isolate(others[0]!);
  s.idle(2000);
  t.equal(s.leader(), null, 'no leader without a majority');
  s.rejoin(others[0]!);
  const third = s.awaitLeader('a leader once a majority is back');
  t.ok(third === others[0] || third === others[1], 'the leader is in the majority');
});

t.test('many elections: 7 nodes, three isolated at a time, always a leader in the majority', async (t) => {
  const seed = 103;
  t.comment(`seed ${seed}`);
  const s = new Scenario({ nodes: 7, seed });
  s.awaitLeader();
  const r = s.sim.prng.fork();
  for (let round = 0; round < 10; round++) {
    const cut = r.shuffle(s.ids).slice(0, 3);
    for (const id of cut) s.isolate(id);
    s.sim.runUntil(() => {
      const l = s.sim.readyLeader();
      return l !== null && !cut.includes(l.id);
    }, 5000, `round ${round}: a leader among the four connected nodes`);
    for (const id of cut) s.rejoin(id);
  }
  t.pass('a leader was elected in every round');
});

t.test('pre-vote: a paused leader that returns causes no election', async (t) => {
  const seed = 104;
  t.comment(`seed ${seed}`);
  const s = new Scenario({ nodes: 3, seed });
  const old = s.awaitLeader();
  s.sim.pause(old);
  s.sim.runUntil(() => s.sim.readyLeader() !== null && s.sim.readyLeader()!.id !== old, 5000, 'a new leader');
  const leader = s.leader()!;
  const term = s.term(leader);
  const votes = s.messages('vote');
  s.sim.resume(old);
  s.idle(2000);
  t.equal(s.leader(), leader, 'the new leader keeps leading');
  t.equal(s.term(leader), term, 'no term change after the old leader returns');
  t.equal(s.messages('vote'), votes, 'no vote was requested');
  t.equal(s.sim.node(old).core!.role, 'follower', 'the old leader follows');
});

t.test('pre-vote: a paused follower that returns causes no election', async (t) => {
  const seed = 105;
  t.comment(`seed ${seed}`);
  const s = new Scenario({ nodes: 3, seed });
  const leader = s.awaitLeader();
  const follower = s.ids.find((id) => id !== leader)!;
  const term = s.term(leader);
  s.sim.pause(follower);
  s.idle(2000); // its ticks pile up: on resume its election timer has long expired
  const votes = s.messages('vote');
  s.sim.resume(follower);
  s.idle(2000);
  t.ok(s.messages('pre-vote') > 0, 'the returning follower did try a pre-vote');
  t.equal(s.messages('vote'), votes, 'but no real vote followed');
  t.equal(s.leader(), leader, 'the leader is undisturbed');
  t.equal(s.term(leader), term, 'the term is unchanged');
});

t.test('leader transfer: TimeoutNow hands leadership over within an election timeout', async (t) => {
  const seed = 106;
  t.comment(`seed ${seed}`);
  const s = new Scenario({ nodes: 3, seed });
  const leader = s.awaitLeader();
  s.one('before', 3);
  const target = s.ids.find((id) => id !== leader)!;
  // Let the target fall behind, so the leader must first catch it up.
  s.isolate(target);
  for (let i = 0; i < 5; i++) s.one(`behind-${i}`, 2);
  s.rejoin(target);
  let started = false;
  s.sim.node(leader).admin((core) => (started = core.transferLeader(target)));
  const proposeDuring = s.propose(leader, 'during-transfer');
  t.ok(started, 'the transfer started');
  t.notOk(proposeDuring.ok, 'proposals are refused while leadership moves');
  if (!proposeDuring.ok) t.equal(proposeDuring.error, 'transferring');
  const at = s.sim.now();
  // Bounded in virtual time, well under the 100-200 ms an election timeout would take.
  s.sim.runUntil(() => s.sim.readyLeader()?.id === target, 100, 'the target to lead');
  t.ok(s.sim.now() - at <= 100, 'transfer completed without waiting for an election timeout');
  s.one('after', 3);
  t.pass(`leadership moved from ${leader} to ${target}`);
});
