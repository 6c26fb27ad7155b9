// A follower that is down while the others compact their logs past it can only catch up
// through InstallSnapshot. The cluster compacts every 20 entries and keeps 5, so a few dozen
// writes are enough. A client history runs throughout and is checked at the end.
import t from 'tap';
import { api, MetaCluster } from '../lib/meta-cluster.js';
import { waitFor } from '../lib/processes.js';
import { checkLinearizable, startHistory } from '../lib/scenario.js';

const COMPACT = { compactEvery: 20, compactKeep: 5 };
const SEGMENT = {
  dataSource: 'snapshotted',
  start: '2024-03-01',
  end: '2024-03-02',
  version: 'v1',
  partition: 0,
  partitions: 1,
  size: 100,
  rows: 10,
  schema: { columns: ['a'] },
  checksum: 'ab'.repeat(32),
  location: 'snapshotted/2024-03-01/v1/0.arrow',
};

t.test('a node restarted after the log was compacted past it catches up through InstallSnapshot', async (t) => {
  const cluster = await MetaCluster.start(t, { raft: COMPACT });
  const leader = await cluster.waitLeader();
  const victim = cluster.ids.find((id) => id !== leader)!;
  const others = cluster.ids.filter((id) => id !== victim);
  const history = startHistory(t, cluster);
  await history.waitOkWrites(10, 'before the follower is stopped');

  await cluster.kill(victim);
  const down = (await cluster.statuses(others)).map((s) => s.appliedIndex);
  t.comment(`killed follower ${victim}; the others have applied ${down.join(', ')}`);
  const compactionsBefore = new Map(await Promise.all(others.map(async (id) => [id, await cluster.metric(id, 'cairn_raft_log_compactions_total')] as const)));

  // Catalog state written only while the victim is down: it can reach it only in the snapshot.
  const published = await api(cluster.url(leader), '/v1/segments/publish', { body: { ingestionId: 'while-down', segments: [SEGMENT] } });
  t.equal(published.status, 200, 'a segment is published while the follower is down');

  // Two compactions on a node after the kill put its compaction point past everything the
  // victim holds: the second one compacts to at least (first + compactEvery - compactKeep).
  await waitFor('two log compactions on each running node', 60_000, async () => {
    for (const id of others) {
      if ((await cluster.metric(id, 'cairn_raft_log_compactions_total')) < compactionsBefore.get(id)! + 2) return undefined;
    }
    return true;
  });
  t.pass(`both running nodes compacted their logs twice (${history.counts.okWrites} writes acknowledged so far)`);

  await cluster.restart(victim);
  await waitFor(`${victim} to install a snapshot`, 30_000, async () => ((await cluster.metric(victim, 'cairn_raft_snapshots_installed_total')) >= 1 ? true : undefined));
  t.pass(`${victim} installed a snapshot (cairn_raft_snapshots_installed_total >= 1)`);
  let sent = 0;
  for (const id of others) sent += (await cluster.metrics(id)).get('cairn_raft_snapshots_sent_total{result="ok"}') ?? 0;
  t.ok(sent >= 1, `the leader reports ${sent} snapshot(s) sent (cairn_raft_snapshots_sent_total{result="ok"})`);
  await history.waitOkWrites(20, 'after the restart');

  await checkLinearizable(t, history);

  // With the clients stopped, the restarted node's own state (stale reads, answered locally)
  // converges on what the leader answers to linearizable reads, key by key.
  const leaderNow = await cluster.waitLeader();
  const rangeBody = { key: b64(history.prefix), range_end: b64(prefixEnd(history.prefix)) };
  const expected = await waitFor('the restarted node to match the leader', 30_000, async () => {
    const want = await api(cluster.url(leaderNow), '/v3/kv/range', { body: rangeBody });
    const got = await api(cluster.url(victim), '/v3/kv/range?consistency=stale', { body: rangeBody });
    if (want.status !== 200 || got.status !== 200) return undefined;
    return JSON.stringify(kvs(got.body)) === JSON.stringify(kvs(want.body)) ? kvs(want.body) : undefined;
  });
  t.ok(expected.length > 0, `${victim} answers stale reads of ${expected.length} keys exactly as the leader answers linearizable ones`);
  for (const key of history.keys) {
    const one = await api(cluster.url(victim), '/v3/kv/range?consistency=stale', { body: { key: b64(key) } });
    const fromLeader = expected.find((kv) => kv.key === key);
    t.equal(one.body?.kvs?.[0] ? unb64(one.body.kvs[0].value) : null, fromLeader?.value ?? null, `${victim} reads ${key} locally as the leader does`);
  }
  const segments = await api(cluster.url(victim), '/v1/segments?consistency=stale&dataSource=snapshotted');
  t.same(segments.body?.segments?.map((s: { id: string }) => s.id), ['snapshotted_2024-03-01T00:00:00.000Z_2024-03-02T00:00:00.000Z_v1'], `${victim} lists the segment published while it was down`);
  const status = await cluster.status(victim);
  t.equal(status.role, 'follower', `${victim} is a follower`);
  t.equal(status.leader, leaderNow, `${victim} follows ${leaderNow}`);
});

const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64').toString();

/** etcd's prefix range end: the prefix with its last byte incremented. */
function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

function kvs(body: { kvs?: { key: string; value: string; version: string; mod_revision: string }[] } | null): { key: string; value: string; version: string; mod: string }[] {
  return (body?.kvs ?? []).map((kv) => ({ key: unb64(kv.key), value: unb64(kv.value), version: kv.version, mod: kv.mod_revision }));
}
