import t from 'tap';
import { DataCluster } from '../lib/data-cluster.js';
import { events, EVENTS_SPEC, HOUR, T0, totals } from '../lib/dataset.js';
import { api } from '../lib/meta-cluster.js';
import { waitFor } from '../lib/processes.js';

const INTERVAL = `${new Date(T0).toISOString()}/${new Date(T0 + 48 * HOUR).toISOString()}`;
const TOTAL = {
  queryType: 'timeseries', dataSource: 'events', intervals: [INTERVAL], granularity: 'all',
  aggregations: [{ type: 'count', name: 'rows' }, { type: 'longSum', name: 'value', fieldName: 'value' }],
};
const LOAD_QUEUE_MAX = 3;

interface Assignment { segmentId: string; workerIds: string[] }

async function assignments(c: DataCluster): Promise<Assignment[]> {
  const leader = c.meta.url(await c.meta.waitLeader());
  return (await api<{ assignments: Assignment[] }>(leader, '/v1/assignments', { token: null })).body.assignments;
}

t.test('two of three workers killed: every segment comes back from deep storage, no load queue above its bound', async (t) => {
  const seed = 511;
  t.comment(`seed ${seed}`);
  const c = await DataCluster.start(t, {
    workers: [{ id: 'w1' }, { id: 'w2' }, { id: 'w3' }],
    coordinator: { loadQueueMax: LOAD_QUEUE_MAX, gracePeriodMs: 1000 },
  });
  const rows = events(seed, 24, 40);
  await c.ingest(EVENTS_SPEC, rows);
  await c.waitReplicated();
  await c.killWorker('w1');
  await c.killWorker('w2');
  // w3 alone must take every segment back, a few at a time; w1 and w2 come back empty-handed later.
  let maxQueue = 0;
  let maxReported = 0;
  const watch = async () => {
    const s = await c.coordinator();
    if (!s) return;
    for (const w of s.stats.workers) maxQueue = Math.max(maxQueue, w.loadQueue);
    for (const w of s.workers) if (w.lastHeartbeatAgoMs !== null && w.lastHeartbeatAgoMs < 1500) maxReported = Math.max(maxReported, w.loadQueue);
  };
  // Judged only once the coordinator counts w1 and w2 as gone: until it notices the kills, its
  // last cycle still reports every segment available on them.
  await waitFor('every segment available again on w3', 90_000, async () => {
    await watch();
    const s = await c.coordinator();
    const gone = (id: string) => s?.stats.workers.some((w: { id: string; health: string }) => w.id === id && w.health === 'gone');
    return s && gone('w1') && gone('w2') && s.stats.unavailable === 0 ? true : undefined;
  }, 100);
  await c.restartWorker('w1');
  await c.restartWorker('w2');
  await waitFor('full replication with the restarted workers', 90_000, async () => {
    await watch();
    const s = await c.coordinator();
    return s && s.stats.unavailable === 0 && s.stats.underReplicated === 0 && s.workers.every((w: { loadQueue: number }) => w.loadQueue === 0) ? true : undefined;
  }, 100);
  t.ok(maxQueue <= LOAD_QUEUE_MAX, `the coordinator never queued more than ${LOAD_QUEUE_MAX} loads on one worker (max seen ${maxQueue})`);
  t.ok(maxReported <= LOAD_QUEUE_MAX, `no worker reported a queue above ${LOAD_QUEUE_MAX} (max seen ${maxReported})`);
  const r = (await c.client().query(TOTAL)) as { result: { rows: number; value: number } }[];
  t.same(r[0]!.result, totals(rows), 'every row answers again');
});

t.test('the meta leader killed during a recovery: the new leader finishes it, no duplicate assignments', async (t) => {
  const seed = 512;
  t.comment(`seed ${seed}`);
  const c = await DataCluster.start(t, {
    workers: [{ id: 'w1' }, { id: 'w2' }, { id: 'w3' }],
    coordinator: { loadQueueMax: 2, gracePeriodMs: 1000 },
  });
  const rows = events(seed, 24, 20);
  await c.ingest(EVENTS_SPEC, rows);
  await c.waitReplicated();
  await c.killWorker('w1');
  // Once the recovery has started (some of w1's segments reassigned), kill the meta leader.
  const before = await assignments(c);
  const onW1 = new Set(before.filter((a) => a.workerIds.includes('w1')).map((a) => a.segmentId));
  await waitFor('the recovery to start', 30_000, async () => {
    const now = await assignments(c);
    return now.some((a) => onW1.has(a.segmentId) && !a.workerIds.includes('w1')) ? true : undefined;
  }, 100);
  const leader = await c.meta.waitLeader();
  await c.meta.kill(leader);
  t.comment(`killed meta leader ${leader} mid-recovery`);
  await c.waitReplicated(90_000);
  const after = await assignments(c);
  for (const a of after) {
    if (new Set(a.workerIds).size !== a.workerIds.length) t.fail(`${a.segmentId} is assigned twice to one worker: ${a.workerIds}`);
    if (a.workerIds.includes('w1')) t.fail(`${a.segmentId} is still assigned to the dead w1`);
  }
  const counts = after.map((a) => a.workerIds.length);
  t.ok(counts.every((n) => n === 2), `every segment has exactly its two replicas (${counts.length} segments)`);
  await c.meta.restart(leader);
  const r = (await c.client().query(TOTAL)) as { result: { rows: number; value: number } }[];
  t.same(r[0]!.result, totals(rows));
});
