import t from 'tap';
import { DataCluster } from '../lib/data-cluster.js';
import { events, EVENTS_SPEC, HOUR, T0, totals } from '../lib/dataset.js';
import { api } from '../lib/meta-cluster.js';
import { waitFor } from '../lib/processes.js';

const INTERVAL = `${new Date(T0).toISOString()}/${new Date(T0 + 48 * HOUR).toISOString()}`;
const TOTAL = {
  queryType: 'timeseries', dataSource: 'events', intervals: [INTERVAL], granularity: 'all',
  aggregations: [{ type: 'count', name: 'rows' }],
};

async function replicaCounts(c: DataCluster): Promise<number[]> {
  const leader = c.meta.url(await c.meta.waitLeader());
  const a = (await api<{ assignments: { workerIds: string[] }[] }>(leader, '/v1/assignments', { token: null })).body.assignments;
  return a.map((x) => x.workerIds.length);
}

t.test('a decommissioned worker is drained before it stops; no query ever sees a missing segment', async (t) => {
  const seed = 521;
  t.comment(`seed ${seed}`);
  const c = await DataCluster.start(t, { workers: [{ id: 'w1' }, { id: 'w2' }, { id: 'w3' }] });
  const rows = events(seed, 12, 30);
  await c.ingest(EVENTS_SPEC, rows);
  await c.waitReplicated();
  const client = c.client();
  const failures: string[] = [];
  let answers = 0;
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      try {
        const r = (await client.query(TOTAL)) as { result: { rows: number } }[];
        if (r[0]?.result.rows === rows.length) answers++;
        else failures.push(`wrong: ${JSON.stringify(r)}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  })();
  const res = await client.setWorkerState('w1', 'decommissioning');
  t.ok(res.ok, 'w1 marked decommissioning');
  await waitFor('w1 drained', 60_000, async () => {
    const s = await c.coordinator();
    return s?.stats.drained.includes('w1') && s.stats.underReplicated === 0 ? true : undefined;
  }, 100);
  // The coordinator says it holds nothing: its copies were dropped only after their replacements loaded.
  await waitFor('w1 to drop its copies', 20_000, async () => {
    const st = await (await fetch(`${c.workerUrl('w1')}/v1/status`)).json() as { assigned: number };
    return st.assigned === 0 ? true : undefined;
  });
  await c.killWorker('w1');
  const after = answers;
  await waitFor('answers after w1 stopped', 20_000, () => (answers >= after + 10 ? true : undefined));
  stop = true;
  await loop;
  t.same(failures, [], `${answers} answers, never a missing segment or a wrong one`);
});

t.test('rules: one replica to three and back, then a drop rule', async (t) => {
  const seed = 522;
  t.comment(`seed ${seed}`);
  const c = await DataCluster.start(t, { workers: [{ id: 'w1' }, { id: 'w2' }, { id: 'w3' }] });
  const client = c.client();
  await client.setRules('events', [{ type: 'loadForever', tieredReplicants: { _default_tier: 1 } }]);
  const rows = events(seed, 6, 20);
  await c.ingest(EVENTS_SPEC, rows);
  await c.waitReplicated();
  t.same([...new Set(await replicaCounts(c))], [1], 'one replica each');
  await client.setRules('events', [{ type: 'loadForever', tieredReplicants: { _default_tier: 3 } }]);
  await waitFor('three replicas', 60_000, async () => {
    const counts = await replicaCounts(c);
    const s = await c.coordinator();
    return counts.length === 6 && counts.every((n) => n === 3) && s?.stats.underReplicated === 0 ? true : undefined;
  }, 100);
  t.pass('three replicas each');
  await client.setRules('events', [{ type: 'loadForever', tieredReplicants: { _default_tier: 1 } }]);
  await waitFor('back to one replica', 60_000, async () => {
    const counts = await replicaCounts(c);
    return counts.length === 6 && counts.every((n) => n === 1) ? true : undefined;
  }, 100);
  t.pass('back to one replica each');
  const r = (await client.query(TOTAL)) as { result: { rows: number } }[];
  t.equal(r[0]!.result.rows, rows.length, 'answers stay correct');
  // Drop everything older than the last three hours of data; keep the rest.
  await client.setRules('events', [
    { type: 'loadByInterval', interval: `${new Date(T0 + 3 * HOUR).toISOString()}/${new Date(T0 + 6 * HOUR).toISOString()}`, tieredReplicants: { _default_tier: 1 } },
    { type: 'dropForever' },
  ]);
  await waitFor('the first three hours dropped', 60_000, async () => (await replicaCounts(c)).length === 3 ? true : undefined, 100);
  // Dropped by a rule means not served, as in Druid: the data is simply out of the answers.
  const kept = rows.filter((x) => Date.parse(x.ts) >= T0 + 3 * HOUR).length;
  await waitFor('queries to see only the kept hours', 10_000, async () => {
    const a = await client.queryWithContext(TOTAL);
    return (a.results[0] as { result: { rows: number } }).result.rows === kept && a.context.missingSegments.length === 0 ? true : undefined;
  });
  t.pass(`only the kept hours answer (${kept} rows), and nothing is reported missing`);
  void totals;
});
