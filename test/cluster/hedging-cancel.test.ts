import t from 'tap';
import { DataCluster } from '../lib/data-cluster.js';
import { events, EVENTS_SPEC, HOUR, T0 } from '../lib/dataset.js';
import { waitFor } from '../lib/processes.js';

const INTERVAL = `${new Date(T0).toISOString()}/${new Date(T0 + 48 * HOUR).toISOString()}`;
const TOTAL = {
  queryType: 'timeseries', dataSource: 'events', intervals: [INTERVAL], granularity: 'all',
  aggregations: [{ type: 'count', name: 'rows' }],
};

async function workerStatus(url: string): Promise<{ queuedUnits: number }> {
  return (await fetch(`${url}/v1/status`)).json() as Promise<{ queuedUnits: number }>;
}

async function metricSum(url: string, name: string, label: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(name) && l.includes(label)).reduce((a, l) => a + Number(l.split(' ').at(-1)), 0);
}

t.test('a worker paused with SIGSTOP: queries keep completing, the hedge fires and wins, probation engages and ends after SIGCONT', async (t) => {
  const seed = 611;
  t.comment(`seed ${seed}`);
  // A long grace period: the coordinator leaves the paused worker's segments where they are, so
  // only the client's hedging and probation keep queries fast.
  const c = await DataCluster.start(t, { workers: [{ id: 'w1' }, { id: 'w2' }, { id: 'w3' }], coordinator: { gracePeriodMs: 600_000, heartbeatTimeoutMs: 600_000 } });
  const rows = events(seed, 12, 30);
  await c.ingest(EVENTS_SPEC, rows);
  await c.waitReplicated();
  const client = c.client({
    fanout: { hedgeDelayFloorMs: 20, hedgeDelayCeilingMs: 200, hedgeBudgetRatio: 0.5, hedgeBudgetBurst: 20 },
    latency: { probationFactor: 4, probationFloorMs: 100, probeEveryMs: 300 },
  });
  const expectRows = async () => {
    const r = (await client.query(TOTAL)) as { result: { rows: number } }[];
    if (r[0]!.result.rows !== rows.length) throw new Error(`wrong answer ${JSON.stringify(r)}`);
  };
  for (let i = 0; i < 30; i++) await expectRows();
  t.same(client.latency.probationList(), [], 'nobody is on probation while all are healthy');

  c.pauseWorker('w2');
  const hedgesBefore = client.stats.hedgeWins;
  let answered = 0;
  await waitFor('probation of the paused worker', 30_000, async () => {
    await expectRows();
    answered++;
    return client.latency.onProbation('w2') ? true : undefined;
  }, 1);
  for (let i = 0; i < 10; i++) {
    await expectRows();
    answered++;
  }
  t.ok(answered >= 10, `${answered} queries answered correctly while w2 was paused`);
  t.ok(client.stats.hedgeWins > hedgesBefore, `hedges fired and won (${client.stats.hedgeWins - hedgesBefore} segments answered by the hedge)`);
  t.ok(client.latency.onProbation('w2'), 'w2 is on probation');

  c.resumeWorker('w2');
  await waitFor('probation to end after SIGCONT', 30_000, async () => {
    await expectRows();
    return client.latency.onProbation('w2') ? undefined : true;
  }, 20);
  t.pass('a probe found w2 fast again and ended its probation');
  t.ok(client.stats.hedges <= Math.ceil(client.stats.requests * 0.5) + 20, `hedges within the budget: ${client.stats.hedges} hedges for ${client.stats.requests} requests`);
});

t.test('cancellation and timeouts reach the workers: their queues empty', async (t) => {
  const seed = 612;
  t.comment(`seed ${seed}`);
  // Each per-segment unit takes 40 ms more on these workers (a fault-injection knob), so a query
  // over 48 segments runs long enough to be cancelled mid-way, deterministically.
  const c = await DataCluster.start(t, { workers: [{ id: 'w1' }, { id: 'w2' }] });
  await c.stopWorkers();
  for (const id of ['w1', 'w2']) {
    c.workers.get(id)!.proc = null;
  }
  process.env['CAIRN_FAULT_UNIT_DELAY_MS'] = '40';
  try {
    for (const id of ['w1', 'w2']) c.startWorker(id);
  } finally {
    delete process.env['CAIRN_FAULT_UNIT_DELAY_MS'];
  }
  await c.waitWorkerUp('w1');
  await c.waitWorkerUp('w2');
  await c.ingest(EVENTS_SPEC, events(seed, 48, 5));
  await c.waitReplicated();
  const client = c.client();
  const urls = ['w1', 'w2'].map((w) => c.workerUrl(w));

  const running = client.query({ ...TOTAL, context: { queryId: 'to-cancel' } });
  await waitFor('units queued on the workers', 10_000, async () => {
    const q = await Promise.all(urls.map(workerStatus));
    return q.some((s) => s.queuedUnits > 0) ? true : undefined;
  }, 5);
  t.ok(client.cancel('to-cancel'), 'the client cancels');
  await t.rejects(running, /cancelled/, 'the query ends as cancelled');
  await waitFor('every worker queue empty after the cancel', 10_000, async () => {
    const q = await Promise.all(urls.map(workerStatus));
    return q.every((s) => s.queuedUnits === 0) ? true : undefined;
  }, 20);
  t.pass('the workers dropped the cancelled work');

  await t.rejects(client.query({ ...TOTAL, context: { timeout: 300 } }), /timed out/, 'a query over its timeout fails with a timeout');
  await waitFor('every worker queue empty after the timeout', 10_000, async () => {
    const q = await Promise.all(urls.map(workerStatus));
    return q.every((s) => s.queuedUnits === 0) ? true : undefined;
  }, 20);
  const timeouts = (await Promise.all(urls.map((u) => metricSum(u, 'cairn_worker_queries_total', 'QUERY_TIMEOUT')))).reduce((a, b) => a + b, 0);
  const cancels = (await Promise.all(urls.map((u) => metricSum(u, 'cairn_worker_queries_total', 'QUERY_CANCELLED')))).reduce((a, b) => a + b, 0);
  t.ok(cancels > 0, `workers saw the cancellation (${cancels})`);
  t.ok(timeouts > 0 || cancels > 1, `workers stopped the timed-out work (${timeouts} timeouts)`);

  const viaHttp = await fetch(`${urls[0]}/druid/v2`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...TOTAL, context: { timeout: 200 } }) });
  t.equal(viaHttp.status, 504, 'the HTTP endpoint answers 504 on timeout');
  t.match(await viaHttp.json(), { error: 'Query timeout', errorClass: 'java.util.concurrent.TimeoutException' });
});
