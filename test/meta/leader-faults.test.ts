// A leader that stalls (SIGSTOP, then SIGCONT) and a leader that is asked to stop (SIGTERM):
// the group keeps serving clients, and terms move exactly as far as the fault implies. Every
// test records a client history throughout and checks it for linearizability at the end.
import t from 'tap';
import { api, MetaCluster } from '../lib/meta-cluster.js';
import { signal, waitFor } from '../lib/processes.js';
import { checkLinearizable, startHistory } from '../lib/scenario.js';

t.test('SIGSTOP of the leader: the others elect a new one; after SIGCONT the old leader rejoins as a follower without an election', async (t) => {
  const cluster = await MetaCluster.start(t);
  const before = await cluster.waitLeaderStatus();
  const history = startHistory(t, cluster);
  await history.waitOkWrites(20, 'before the pause');

  cluster.pause(before.id);
  t.comment(`paused the leader ${before.id} (term ${before.term})`);
  const others = cluster.ids.filter((id) => id !== before.id);
  // A write sent to a follower right away is relayed to the paused leader, which accepts the
  // connection and never answers: the relay's outcome is unknown, and it must say so (504),
  // not 503 NOT_LEADER ("no effect, retry"). It takes the relay's 10 s timeout; the scenario
  // goes on meanwhile.
  const relayed = api(cluster.url(others[0]!), '/v3/kv/put', {
    body: { key: Buffer.from(`${history.prefix}-relayed`).toString('base64'), value: Buffer.from('to-the-paused-leader').toString('base64') },
    timeoutMs: 30_000,
  });
  const during = await cluster.waitLeaderStatus(others);
  t.not(during.id, before.id, `the others elected ${during.id}`);
  t.ok(during.term > before.term, `in a later term (${during.term} > ${before.term})`);
  await history.waitOkWrites(30, 'while the old leader is paused');
  t.pass('clients are served while the old leader is paused');

  const relay = await relayed;
  if (relay.status === 504 || relay.body?.error?.leader === before.id) {
    t.equal(relay.status, 504, `a write relayed to the paused leader ends in 504: ${relay.body?.error?.message}`);
    t.equal(relay.body?.error?.code, 'TIMEOUT', 'with code TIMEOUT (outcome unknown), not NOT_LEADER');
  } else {
    // The follower had already moved on (an election) when the write reached it.
    t.comment(`the follower did not relay to the paused leader (HTTP ${relay.status} ${JSON.stringify(relay.body)})`);
  }

  cluster.resume(before.id);
  const rejoined = await waitFor(`${before.id} to step down after SIGCONT`, 20_000, async () => {
    const s = await cluster.status(before.id);
    return s.role === 'follower' && s.leader !== '' ? s : undefined;
  });
  t.equal(rejoined.term, during.term, `${before.id} rejoined in the new leader's term ${during.term}: it forced no election`);
  t.equal(rejoined.leader, during.id, `${before.id} follows ${during.id}`);

  // A while later (measured in acknowledged writes, not in time) nothing has moved: same term,
  // same leader everywhere. The clients now send to the old leader too.
  await history.waitOkWrites(40, 'after SIGCONT');
  const statuses = await cluster.statuses(cluster.ids);
  t.equal(statuses.length, 3, 'all three answer');
  for (const s of statuses) {
    t.equal(s.term, during.term, `${s.id} is still in term ${during.term}`);
    t.equal(s.leader, during.id, `${s.id} still follows ${during.id}`);
  }
  t.equal(statuses.filter((s) => s.role === 'leader').length, 1, 'one leader');

  await checkLinearizable(t, history);
});

t.test('SIGTERM of the leader: it hands leadership over (term + 1) and exits 0; writes continue', async (t) => {
  const cluster = await MetaCluster.start(t);
  await cluster.waitLeader();
  const history = startHistory(t, cluster);
  await history.waitOkWrites(20, 'before SIGTERM');

  // The term right before the signal; with elections after 1.5-3 s of silence nothing moves it meanwhile.
  const before = await cluster.waitLeaderStatus();
  await cluster.terminate(before.id);
  const proc = cluster.proc(before.id);
  t.equal(proc.exitCode, 0, `${before.id} exited 0 on SIGTERM${proc.exitSignal ? ` (it was ended by ${proc.exitSignal})` : ''}`);
  t.match(cluster.logTail(before.id, 20), /"moved":true[^\n]*leadership transfer before exit/, `${before.id} logged a completed leadership transfer`);

  const others = cluster.ids.filter((id) => id !== before.id);
  const after = await cluster.waitLeaderStatus(others);
  t.not(after.id, before.id, `${after.id} leads now`);
  t.equal(after.term, before.term + 1, `the new leader's term is one more (${before.term} -> ${after.term})`);
  await history.waitOkWrites(30, 'after the handover');
  t.pass('writes continue after the handover');

  await checkLinearizable(t, history);
});

t.test('SIGTERM of the leader: writes that reach it while it hands over are held, then relayed to the new leader, not refused', async (t) => {
  const cluster = await MetaCluster.start(t);
  const before = await cluster.waitLeaderStatus();
  const followers = cluster.ids.filter((id) => id !== before.id);
  // With both followers stopped, the handover cannot finish until they continue: writes that
  // arrive meanwhile meet a leader that is transferring (it used to refuse them with NOT_LEADER).
  for (const id of followers) cluster.pause(id);
  signal(cluster.proc(before.id), 'SIGTERM');
  await waitFor(`${before.id} to start its handover`, 10_000, () => (/"shutting down"/.test(cluster.logTail(before.id, 20)) ? true : undefined), 5);
  const writes = [0, 1, 2].map((i) => api(cluster.url(before.id), '/v3/kv/put', {
    body: { key: Buffer.from(`during-handover-${i}`).toString('base64'), value: Buffer.from(`v${i}`).toString('base64') },
    timeoutMs: 20_000,
  }));
  const early: string[] = [];
  for (const w of writes) void w.then((r) => early.push(`HTTP ${r.status} ${JSON.stringify(r.body)}`), () => undefined);
  await waitFor(`${before.id} to hold the three writes`, 10_000, async () => {
    if (early.length > 0) throw new Error(`a write was answered while the handover could not finish: ${early[0]}`);
    return (await cluster.metric(before.id, 'cairn_raft_writes_held')) === 3 ? true : undefined;
  }, 5);
  t.pass('the transferring leader holds the writes instead of refusing them');
  for (const id of followers) cluster.resume(id);

  for (const [i, w] of (await Promise.all(writes)).entries()) {
    t.equal(w.status, 200, `write ${i} accepted: ${JSON.stringify(w.body)}`);
    t.ok(Number(w.body?.header?.raft_term) > before.term, `in the new leader's term (${w.body?.header?.raft_term} > ${before.term})`);
    t.ok(followers.includes(w.headers.get('x-cairn-forwarded-by') ?? ''), `relayed to the new leader (${w.headers.get('x-cairn-forwarded-by')})`);
  }
  t.ok(await cluster.waitExit(before.id, 20_000), `${before.id} exited`);
  t.equal(cluster.proc(before.id).exitCode, 0, `${before.id} exited 0`);
  const after = await cluster.waitLeaderStatus(followers);
  for (let i = 0; i < 3; i++) {
    const r = await api(cluster.url(after.id), '/v3/kv/range', { body: { key: Buffer.from(`during-handover-${i}`).toString('base64') } });
    t.equal(Buffer.from(r.body?.kvs?.[0]?.value ?? '', 'base64').toString(), `v${i}`, `write ${i} is there, once`);
  }
});
