// All three nodes crash at once (SIGKILL) and restart from their disks: no acknowledged write
// is lost. The client history spans the crash and ends with a linearizable read of every key
// on every node; the checker must accept it, and each key's etcd `version` (one per applied
// put or successful compare-and-set) must count at least every acknowledged write and at
// most those plus the writes whose outcome is unknown.
import t from 'tap';
import { api, MetaCluster } from '../lib/meta-cluster.js';
import { waitFor } from '../lib/processes.js';
import { checkLinearizable, startHistory } from '../lib/scenario.js';

t.test('SIGKILL of all three nodes, then a restart of all three, keeps every acknowledged write', async (t) => {
  const cluster = await MetaCluster.start(t);
  const before = await cluster.waitLeaderStatus();
  const history = startHistory(t, cluster);
  await history.waitOkWrites(40, 'before the crash');

  const committedBefore = Math.max(...(await cluster.statuses(cluster.ids)).map((s) => s.commitIndex));
  await Promise.all(cluster.ids.map((id) => cluster.kill(id)));
  const acknowledged = history.counts.okWrites;
  t.comment(`killed all three nodes after ${acknowledged} acknowledged writes (leader was ${before.id}, term ${before.term}, commit index at least ${committedBefore})`);
  await Promise.all(cluster.ids.map((id) => cluster.restart(id)));
  const after = await cluster.waitLeaderStatus(cluster.ids);
  t.ok(after.term > before.term, `a leader again after the restart: ${after.id} in term ${after.term}`);
  await history.waitOkWrites(20, 'after the restart');
  await history.stop();
  const leaderAfter = await cluster.status(await cluster.waitLeader());
  t.ok(leaderAfter.commitIndex > committedBefore, `the log continues past the crash: commit index ${leaderAfter.commitIndex} > ${committedBefore}`);

  // The last word of the history: every key read on every node, linearizably. Every attempt
  // is recorded; one that fails (a read is refused while leadership moves) is simply retried.
  for (const id of cluster.ids) {
    for (const key of history.keys) {
      const r = await waitFor(`${id} to answer a linearizable read of ${key}`, 30_000, async () => {
        const read = await history.read(cluster.url(id), key);
        return read.outcome === 'ok' ? read : undefined;
      }, 100);
      t.equal(r.outcome, 'ok', `${id} answers a linearizable read of ${key}`);
    }
  }
  await checkLinearizable(t, history);

  const leader = await cluster.waitLeader();
  for (const [key, writes] of history.writesPerKey()) {
    const r = await api(cluster.url(leader), '/v3/kv/range', { body: { key: Buffer.from(key).toString('base64') } });
    const version = Number(r.body?.kvs?.[0]?.version ?? 0);
    t.ok(
      version >= writes.ok && version <= writes.ok + writes.info,
      `${key}: version ${version} counts all ${writes.ok} acknowledged writes (and at most ${writes.info} of unknown outcome)`,
    );
  }
});
