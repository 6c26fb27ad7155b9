import t from 'tap';
import { DataCluster } from '../lib/data-cluster.js';
import { events, EVENTS_SPEC, HOUR, T0, totals } from '../lib/dataset.js';
import { waitFor } from '../lib/processes.js';

const INTERVAL = `${new Date(T0).toISOString()}/${new Date(T0 + 24 * HOUR).toISOString()}`;
const TOTAL_QUERY = {
  queryType: 'timeseries', dataSource: 'events', intervals: [INTERVAL], granularity: 'all',
  aggregations: [{ type: 'count', name: 'rows' }, { type: 'longSum', name: 'value', fieldName: 'value' }],
};

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

/** Runs the total query in a loop until stopped; counts answers and wrong or failed ones. */
function queryLoop(c: DataCluster, expected: { rows: number; value: number }) {
  const client = c.client();
  const outcome = { ok: 0, wrong: [] as string[] };
  let stop = false;
  const done = (async () => {
    while (!stop) {
      try {
        const r = (await client.query(TOTAL_QUERY)) as { result: { rows: number; value: number } }[];
        const got = r[0]?.result;
        if (got?.rows === expected.rows && got?.value === expected.value) outcome.ok++;
        else outcome.wrong.push(`wrong answer ${JSON.stringify(got)}`);
      } catch (err) {
        outcome.wrong.push((err as Error).message);
      }
    }
  })();
  return { outcome, client, stop: async () => { stop = true; await done; } };
}

t.test('SIGKILL of one worker: always a loaded replica, re-replication, correct answers throughout', async (t) => {
  const seed = 501;
  t.comment(`seed ${seed}`);
  const c = await DataCluster.start(t, { workers: [{ id: 'w1' }, { id: 'w2' }, { id: 'w3' }] });
  const rows = events(seed, 12, 100);
  await c.ingest(EVENTS_SPEC, rows);
  await c.waitReplicated();
  const loop = queryLoop(c, totals(rows));
  await waitFor('some answers before the fault', 20_000, () => (loop.outcome.ok >= 5 ? true : undefined));

  await c.killWorker('w1');
  // Until w1 is declared down and its replicas replaced, every segment must still be loaded elsewhere.
  const leaderUrl = c.meta.url(await c.meta.waitLeader());
  let checks = 0;
  await waitFor('re-replication after losing w1', 60_000, async () => {
    const tl = await (await fetch(`${leaderUrl}/v1/timeline?dataSource=events`)).json() as { segments: { id: string; loadedOn: string[] }[] };
    for (const s of tl.segments) {
      if (!s.loadedOn.some((w) => w !== 'w1')) throw new Error(`segment ${s.id} has no loaded replica besides the dead w1`);
    }
    checks++;
    const status = await c.coordinator();
    if (!status || status.stats.underReplicated > 0 || status.stats.unavailable > 0) return undefined;
    return tl.segments.every((s) => s.loadedOn.filter((w) => w !== 'w1').length >= 2) ? true : undefined;
  }, 100);
  await waitFor('more answers after recovery', 20_000, () => (loop.outcome.ok >= 20 ? true : undefined));
  await loop.stop();
  t.ok(checks > 3, `no segment was ever without a loaded replica (${checks} checks)`);
  t.same(loop.outcome.wrong, [], `${loop.outcome.ok} answers, none wrong or failed`);
  const status = await c.coordinator();
  t.equal(status.stats.underReplicated, 0, 'under-replicated back to zero');
  t.ok(loop.client.stats.retries + loop.client.stats.failures >= 0, `client retries ${loop.client.stats.retries}, failures ${loop.client.stats.failures}`);
});

t.test('a worker killed and restarted within the grace period keeps its segments and downloads nothing', async (t) => {
  const seed = 502;
  t.comment(`seed ${seed}`);
  const c = await DataCluster.start(t, { workers: [{ id: 'w1' }, { id: 'w2', memory: '64MB' }, { id: 'w3' }], coordinator: { gracePeriodMs: 60_000 } });
  const rows = events(seed, 9, 50);
  await c.ingest(EVENTS_SPEC, rows);
  await c.waitReplicated();
  const leaderUrl = c.meta.url(await c.meta.waitLeader());
  const assignedBefore = (await (await fetch(`${leaderUrl}/v1/assignments?workerId=w2`)).json() as { assignments: { segmentId: string }[] }).assignments.map((a) => a.segmentId).sort();
  t.ok(assignedBefore.length > 0, `w2 serves ${assignedBefore.length} segments`);
  await c.killWorker('w2');
  await c.restartWorker('w2');
  await waitFor('w2 to report its segments loaded again', 30_000, async () => {
    const s = await (await fetch(`${c.workerUrl('w2')}/v1/status`)).json() as { loaded: number };
    return s.loaded === assignedBefore.length ? true : undefined;
  });
  const assignedAfter = (await (await fetch(`${leaderUrl}/v1/assignments?workerId=w2`)).json() as { assignments: { segmentId: string }[] }).assignments.map((a) => a.segmentId).sort();
  t.same(assignedAfter, assignedBefore, 'nothing was reassigned');
  const memory = async (id: string) => ((await (await fetch(`${c.workerUrl(id)}/v1/status`)).json()) as { memoryBytes: number }).memoryBytes;
  t.equal(await memory('w2'), 64 * 1024 ** 2, 'w2 keeps its --memory across the restart');
  t.equal(await memory('w1'), 1024 ** 3, 'w1 without --memory: its 1GB cache bounds the default');
  t.equal(await metric(c.workerUrl('w2'), 'cairn_worker_memory_bytes'), 64 * 1024 ** 2, 'and /metrics says so');
  t.equal(await metric(c.workerUrl('w2'), 'cairn_worker_segment_loads_total'), 0, 'nothing was downloaded again: the cache was reused');
  const status = await c.coordinator();
  t.equal(status.stats.unavailable, 0);
  const r = (await c.client().query(TOTAL_QUERY)) as { result: { rows: number } }[];
  t.equal(r[0]!.result.rows, rows.length, 'and it answers correctly');
  let decodes = 0;
  for (const id of ['w1', 'w2', 'w3']) decodes += await metric(c.workerUrl(id), 'cairn_worker_segment_decodes_total');
  t.ok(decodes > 0, `the query decoded segments, and /metrics shows it at once (${decodes})`);
});

t.test('a SIGKILLed worker is down as soon as its held heartbeat\'s connection closes, long before the heartbeat timeout', async (t) => {
  const seed = 503;
  t.comment(`seed ${seed}`);
  // Ten minutes of silence before a worker counts as down by its heartbeats: within this test's
  // deadlines only the closed connection of its held beat can tell the leader.
  const c = await DataCluster.start(t, { workers: [{ id: 'w1' }, { id: 'w2' }, { id: 'w3' }], coordinator: { heartbeatTimeoutMs: 600_000, gracePeriodMs: 0 } });
  const rows = events(seed, 9, 50);
  await c.ingest(EVENTS_SPEC, rows);
  await c.waitReplicated();
  const leaderUrl = c.meta.url(await c.meta.waitLeader());
  await c.killWorker('w3');
  await waitFor('w3 to be seen down and its segments placed on w1 and w2', 60_000, async () => {
    const tl = await (await fetch(`${leaderUrl}/v1/timeline?dataSource=events`)).json() as { segments: { loadedOn: string[] }[]; workers: { id: string; live: boolean }[] };
    if (tl.workers.find((w) => w.id === 'w3')?.live !== false) return undefined;
    const status = await c.coordinator();
    if (!status || status.stats.underReplicated > 0 || status.stats.unavailable > 0) return undefined;
    return tl.segments.every((s) => s.loadedOn.filter((w) => w !== 'w3').length >= 2) ? true : undefined;
  }, 100);
  t.pass('w3 was seen down and replaced within the deadline, against a heartbeat timeout of ten minutes');
  const r = (await c.client().query(TOTAL_QUERY)) as { result: { rows: number } }[];
  t.equal(r[0]!.result.rows, rows.length, 'and the cluster answers correctly');
});
