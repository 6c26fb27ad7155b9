// Three real cairn-meta processes: election, writes relayed by followers, reads on every node,
// and a SIGKILL'd leader that is replaced, restarted and catches up. Every test records a client
// history throughout and checks it for linearizability at the end.
import t from 'tap';
import { api, MetaCluster } from '../lib/meta-cluster.js';
import { waitFor } from '../lib/processes.js';
import { checkLinearizable, startHistory } from '../lib/scenario.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64').toString();

t.test('three nodes elect one leader; followers relay writes; every node reads the latest write', async (t) => {
  const cluster = await MetaCluster.start(t);
  const leader = await cluster.waitLeader();
  const statuses = await cluster.statuses(cluster.ids);
  t.equal(statuses.length, 3, 'all three answer');
  t.same(statuses.map((s) => s.role).sort(), ['follower', 'follower', 'leader'], 'one leader, two followers');
  t.ok(statuses.every((s) => s.leader === leader && s.term === statuses[0]!.term), `all agree on ${leader} in one term`);

  const history = startHistory(t, cluster);
  await history.waitOkWrites(20, 'with all three nodes up');

  const key = `${history.keys[0]}-relay`;
  const followers = cluster.ids.filter((id) => id !== leader);
  for (const [i, follower] of followers.entries()) {
    const value = `through-${follower}-${i}`;
    const put = await api(cluster.url(follower), '/v3/kv/put', { body: { key: b64(key), value: b64(value) } });
    t.equal(put.status, 200, `a put sent to follower ${follower} succeeds`);
    t.equal(put.headers.get('x-cairn-forwarded-by'), leader, `${follower} relayed it to the leader ${leader}`);
    for (const id of cluster.ids) {
      const read = await api(cluster.url(id), '/v3/kv/range', { body: { key: b64(key) } });
      t.equal(read.status, 200, `linearizable read on ${id}`);
      t.equal(unb64(read.body?.kvs?.[0]?.value ?? ''), value, `${id} reads the latest write (${value})`);
      t.equal(read.body?.kvs?.[0]?.version, String(i + 1), `${id} sees version ${i + 1}`);
    }
  }
  // The admin API relays too: a datasource created on a follower exists everywhere.
  const created = await api(cluster.url(followers[0]!), '/v1/datasources', { body: { name: 'relayed' } });
  t.equal(created.status, 200, 'an admin write sent to a follower succeeds');
  t.equal(created.headers.get('x-cairn-forwarded-by'), leader, 'it was relayed to the leader');
  for (const id of cluster.ids) {
    // Stale reads converge too, without a ReadIndex round.
    await waitFor(`${id} to list the datasource in a stale read`, 10_000, async () => {
      const r = await api(cluster.url(id), '/v1/datasources?consistency=stale');
      return r.body?.datasources?.some((d: { name: string }) => d.name === 'relayed') ? true : undefined;
    });
  }
  t.pass('every node lists the relayed datasource in a stale read');

  await checkLinearizable(t, history);
});

t.test('SIGKILL of the leader: a new leader commits writes; the old one restarts and catches up', async (t) => {
  const cluster = await MetaCluster.start(t);
  const before = await cluster.waitLeaderStatus();
  const history = startHistory(t, cluster);
  await history.waitOkWrites(20, 'before the crash');

  await cluster.kill(before.id);
  t.comment(`killed the leader ${before.id} (term ${before.term})`);
  const others = cluster.ids.filter((id) => id !== before.id);
  const after = await cluster.waitLeaderStatus(others);
  t.not(after.id, before.id, `a new leader: ${after.id}`);
  t.ok(after.term > before.term, `in a later term (${after.term} > ${before.term})`);
  await history.waitOkWrites(30, 'with the new leader');
  t.pass('the new leader commits writes');

  await cluster.restart(before.id);
  await history.waitOkWrites(20, 'after the restart');
  const leaderNow = await cluster.status(after.id);
  const caughtUp = await cluster.waitApplied(before.id, leaderNow.commitIndex);
  t.ok(caughtUp.appliedIndex >= leaderNow.commitIndex, `${before.id} applied up to ${caughtUp.appliedIndex} (leader had committed ${leaderNow.commitIndex})`);
  t.equal(caughtUp.role, 'follower', `${before.id} rejoined as a follower`);
  t.equal(caughtUp.leader, after.id, `${before.id} follows ${after.id}`);

  await checkLinearizable(t, history);
});
