import t from 'tap';
import { Scenario } from './scenario.js';

t.test('basic agreement: proposals commit on every node, in order', async (t) => {
  const seed = 201;
  t.comment(`seed ${seed}`);
  const s = new Scenario({ nodes: 3, seed });
  s.awaitLeader();
  let last = 0;
  for (let i = 1; i <= 5; i++) {
    const index = s.one(`v${i}`, 3);
    if (last > 0) t.equal(index, last + 1, `v${i} directly follows v${i - 1}`);
    last = index;
  }
});

t.test('agreement with a failed follower; none without a majority', async (t) => {
  const seed = 202;
  t.comment(`seed ${seed}`);
  const s = new Scenario({ nodes: 3, seed });
  const leader = s.awaitLeader();
  s.one('a', 3);
  const follower = s.ids.find((id) => id !== leader)!;
  s.isolate(follower);
  s.one('b', 2);
  s.one('c', 2);
  s.rejoin(follower);
  const d = s.one('d', 3);
  t.equal(s.committedAt(d).count, 3, 'the follower caught up after rejoining');

  const f = new Scenario({ nodes: 5, seed: seed + 1 });
  const l = f.awaitLeader();
  f.one('x', 5);
  const others = f.ids.filter((id) => id !== l);
  for (const id of others.slice(0, 3)) f.isolate(id);
  const r = f.propose(l, 'no-majority');
  t.ok(r.ok, 'the leader still accepts the proposal');
  f.idle(2000);
  if (r.ok) t.equal(f.committedAt(r.index).count, 0, 'but nothing commits without a majority');
  for (const id of others.slice(0, 3)) f.rejoin(id);
  f.one('y', 5);
  t.pass('agreement resumes once the majority is back');
});

t.test('concurrent proposals all commit, each exactly once', async (t) => {
  const seed = 203;
  t.comment(`seed ${seed}`);
  const s = new Scenario({ nodes: 3, seed });
  const leader = s.awaitLeader();
  const indexes: number[] = [];
  const { encodeProposal } = await import('./kv.js');
  for (let i = 0; i < 20; i++) {
    const data = encodeProposal({ client: 9, opId: i, cmd: { op: 'put', key: 'x', value: `c${i}` } });
    s.sim.propose(leader, data, (r) => r.ok && indexes.push(r.index));
  }
  s.sim.runUntil(() => indexes.length === 20, 1000, 'all proposals taken');
  t.equal(new Set(indexes).size, 20, 'distinct indexes');
  const last = Math.max(...indexes);
  s.sim.runUntil(() => s.committedAt(last).count === 3, 2000, 'all committed everywhere');
  const values = indexes.map((i) => s.committedAt(i).value).sort();
  t.same(values, [...Array(20).keys()].map((i) => `c${i}`).sort(), 'every value once');
});

t.test('rejoin: a partitioned old leader with conflicting entries rejoins and is overwritten', async (t) => {
  const seed = 204;
  t.comment(`seed ${seed}`);
  const s = new Scenario({ nodes: 3, seed });
  s.one('101', 3);
  const leader1 = s.leader()!;
  s.isolate(leader1);
  // The isolated leader appends entries that can never commit.
  const stale = ['102', '103', '104'].map((v) => s.propose(leader1, v));
  t.ok(stale.every((r) => r.ok), 'the isolated leader appended three entries');
  s.sim.runUntil(() => (s.sim.readyLeader()?.id ?? leader1) !== leader1, 5000, 'a new leader');
  const at = s.one('103', 2);
  const leader2 = s.leader()!;
  s.isolate(leader2);
  s.rejoin(leader1);
  s.one('104', 2);
  s.rejoin(leader2);
  const end = s.one('105', 3);
  t.equal(s.committedAt(at).value, '103', 'the new leader\'s entry stands at the conflicting index');
  t.equal(s.committedAt(end).count, 3, 'everyone agrees, the old leader included');
});

t.test('fast backup: long conflicting logs are repaired in a few round trips', async (t) => {
  const seed = 205;
  t.comment(`seed ${seed}`);
  const s = new Scenario({ nodes: 5, seed });
  s.one('start', 5);
  const leader1 = s.leader()!;
  const others = s.ids.filter((id) => id !== leader1);
  const a = others[0]!;
  const rest = others.slice(1);
  const leaderIn = (group: readonly string[]) => () => {
    const l = s.sim.readyLeader();
    return l !== null && group.includes(l.id);
  };
  // 1. The leader and one follower are cut off with 50 entries that never commit.
  s.sim.partition([[leader1, a], rest]);
  for (let i = 0; i < 50; i++) s.propose(leader1, `lost-${i}`);
  s.sim.runUntil(leaderIn(rest), 5000, 'a leader among the other three');
  // 2. The three commit 50 entries of a newer term.
  for (let i = 0; i < 50; i++) s.one(`kept-${i}`, 3);
  const leader2 = s.leader()!;
  const [c, d] = rest.filter((id) => id !== leader2) as [string, string];
  // 3. The new leader goes off alone with 50 more uncommitted entries.
  s.sim.heal();
  s.sim.partition([[leader2], [leader1, a, c, d]]);
  for (let i = 0; i < 50; i++) s.propose(leader2, `lost-again-${i}`);
  // 4. The first two come back with c and d: c or d leads, and must repair 50 conflicting entries
  //    on leader1 and a.
  const rejectsBefore = s.messages('append-resp:reject');
  s.sim.runUntil(leaderIn([c, d]), 5000, 'a leader among c and d');
  for (let i = 0; i < 10; i++) s.one(`more-${i}`, 4);
  const rejects = s.messages('append-resp:reject') - rejectsBefore;
  s.sim.heal();
  s.one('end', 5);
  t.comment(`${rejects} rejected appends to repair 50 conflicting entries on two nodes`);
  t.ok(rejects >= 2, 'the conflicting logs were rejected at least once each');
  // One rejection per follower and conflicting term, give or take a retry: not one per entry.
  t.ok(rejects <= 10, `few rejections (${rejects}), not one per conflicting entry`);
});

t.test('message counts: no storm when idle, few messages per agreement', async (t) => {
  const seed = 206;
  t.comment(`seed ${seed}`);
  const s = new Scenario({ nodes: 3, seed });
  s.awaitLeader();
  s.one('warm-up', 3);
  s.idle(500);
  const before = s.messages();
  const heartbeatsBefore = s.messages('heartbeat', 'heartbeat-resp');
  s.idle(1000);
  const idle = s.messages() - before;
  // 100 ticks of 10 ms, a heartbeat each tick, to two followers, and their answers: 400 (one
  // more round may straddle the window's edge).
  t.ok(idle <= 404, `idle second: ${idle} messages`);
  t.equal(s.messages('heartbeat', 'heartbeat-resp') - heartbeatsBefore, idle, 'all of them heartbeats and answers');
  const start = s.messages('append', 'append-resp');
  for (let i = 0; i < 10; i++) s.one(`m${i}`, 3);
  const perAgreement = (s.messages('append', 'append-resp') - start) / 10;
  // Per follower: the entry and its ack, the commit notice and its ack, plus the append a
  // heartbeat answer triggers while an entry is in flight (it is how lost appends are noticed).
  t.ok(perAgreement <= 12, `${perAgreement} appends and answers per agreement`);
});
