import t from 'tap';
import { Scenario } from './scenario.js';

const snapshotting = { snapshotEvery: 10, compactKeep: 0 };

for (const snapshotFromSource of [false, true]) t.test(`snapshot install: a follower kept down until the leader compacted past it catches up (${snapshotFromSource ? 'snapshot built when needed' : 'stored snapshot'})`, async (t) => {
  const seed = snapshotFromSource ? 404 : 401;
  t.comment(`seed ${seed}`);
  const s = new Scenario({ nodes: 3, seed, tuning: { ...snapshotting, snapshotFromSource } });
  const leader = s.awaitLeader();
  s.one('before', 3);
  const follower = s.ids.find((id) => id !== leader)!;
  s.sim.crash(follower);
  const followerLast = s.sim.node(follower).storage.load().entries.at(-1)?.index ?? 0;
  let last = 0;
  for (let i = 0; i < 40; i++) last = s.one(`while-down-${i}`, 2);
  const leaderLog = s.sim.node(s.leader()!).core!.log;
  t.ok(leaderLog.offset > followerLast, `the leader compacted to ${leaderLog.offset}, past the follower's ${followerLast}`);
  const snapsBefore = s.messages('snap');
  s.sim.restart(follower);
  s.sim.runUntil(() => s.committedAt(last).count === 3, 3000, 'the follower catches up');
  t.ok(s.messages('snap') > snapsBefore, 'it was sent a snapshot (InstallSnapshot)');
  s.sim.runUntil(() => s.sim.node(follower).core!.log.applied >= last, 1000, 'the follower applies');
  t.equal(s.sim.node(follower).kv.get('x'), `while-down-39`, 'its state machine holds the latest value');
  s.one('after', 3);
});

t.test('snapshot install: a partitioned follower rejoins after compaction; a lost snapshot is resent', async (t) => {
  const seed = 402;
  t.comment(`seed ${seed}`);
  const s = new Scenario({ nodes: 3, seed, tuning: snapshotting });
  const leader = s.awaitLeader();
  const follower = s.ids.find((id) => id !== leader)!;
  s.isolate(follower);
  let last = 0;
  for (let i = 0; i < 30; i++) last = s.one(`v${i}`, 2);
  // Rejoin only towards the leader, and drop the first snapshot: the leader must retry it.
  s.rejoin(follower);
  const snaps = s.messages('snap');
  s.sim.runUntil(() => s.messages('snap') > snaps, 3000, 'a snapshot on its way');
  s.isolate(follower);
  s.idle(300);
  s.rejoin(follower);
  s.sim.runUntil(() => s.committedAt(last).count === 3, 10_000, 'the follower catches up');
  t.ok(s.messages('snap') >= snaps + 2, 'the snapshot was sent again after the first was lost');
});

t.test('crash of all nodes after snapshots: state and log recover from disk', async (t) => {
  const seed = 403;
  t.comment(`seed ${seed}`);
  const s = new Scenario({ nodes: 3, seed, tuning: snapshotting });
  s.awaitLeader();
  for (let i = 0; i < 35; i++) s.one(`v${i}`, 3);
  for (const id of s.ids) s.sim.crash(id);
  for (const id of s.ids) s.sim.restart(id);
  for (const id of s.ids) {
    const core = s.sim.node(id).core!;
    t.ok(core.log.offset >= 30, `${id} restarted from its snapshot at ${core.log.offset}`);
  }
  s.one('after', 3);
  for (const id of s.ids) t.equal(s.sim.node(id).kv.get('x'), 'after', `${id} applied everything`);
  s.sim.runUntil(() => s.sim.converged(), 5000, 'convergence');
  t.pass('all nodes hold the same state');
});
