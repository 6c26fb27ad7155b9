import t from 'tap';
import { DataCluster } from '../lib/data-cluster.js';
import { events, EVENTS_SPEC, HOUR, T0 } from '../lib/dataset.js';
import { api } from '../lib/meta-cluster.js';

const TOTAL = (hours: number) => ({
  queryType: 'timeseries', dataSource: 'events', intervals: [`${new Date(T0).toISOString()}/${new Date(T0 + hours * HOUR).toISOString()}`], granularity: 'all',
  aggregations: [{ type: 'count', name: 'rows' }],
});

/**
 * A graceful handover of the meta leader (SIGTERM) while workers hold beats on it: the old leader
 * answers them as it goes, after it has adopted its successor's term. Those answers must not
 * outrank the new leader's, or the workers would ignore every assignment it makes for as many
 * answers as the old leader had given (here inflated by a bystander's beats, as a long-lived
 * leader's count would be).
 */
t.test('after a graceful handover of the meta leader, workers take the new leader\'s assignments', async (t) => {
  const seed = 611;
  t.comment(`seed ${seed}`);
  const c = await DataCluster.start(t, { workers: [{ id: 'w1' }, { id: 'w2' }] });
  const first = events(seed, 6, 20);
  await c.ingest(EVENTS_SPEC, first);
  await c.waitReplicated();
  const leader = await c.meta.waitLeader();
  const url = c.meta.url(leader);
  // A bystander in a tier no rule loads: its beats only count answers on the leader.
  const put = await api(url, '/v1/workers/bystander', { method: 'PUT', body: { url: 'http://127.0.0.1:9', tier: 'nothing-loads-here', dc: 'dc1', capacityBytes: 1e9, version: 'test' } });
  t.equal(put.status, 200, 'a bystander registered');
  const beat = { loadedHash: '', loaded: [], loadQueue: 0, cacheBytes: 0, queuedUnits: 0, queryCounts: {}, latencyMs: { p50: 0, p99: 0 }, assignmentsHash: '' };
  for (let round = 0; round < 40; round++) {
    const answers = await Promise.all(Array.from({ length: 50 }, () => api(url, '/v1/workers/bystander/heartbeat', { body: beat })));
    if (answers.some((a) => a.status !== 200)) t.fail(`a bystander beat failed: ${JSON.stringify(answers.find((a) => a.status !== 200)!.body)}`);
  }
  await c.meta.terminate(leader);
  const next = await c.meta.waitLeader();
  t.not(next, leader, `${next} leads after ${leader} handed over`);
  // New segments: only the new leader can assign them.
  const second = events(seed + 1, 6, 20, T0 + 6 * HOUR);
  await c.ingest(EVENTS_SPEC, second);
  await c.waitReplicated(30_000);
  const r = (await c.client().query(TOTAL(12))) as { result: { rows: number } }[];
  t.equal(r[0]?.result.rows, first.length + second.length, 'every row of both ingests is served');
});
