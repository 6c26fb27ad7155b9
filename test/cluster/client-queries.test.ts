import t from 'tap';
import { finalizeResult, parseQuery } from '@cairn/shared';
import { runOnSegment, segmentFromRows } from '@cairn/worker';
import { DataCluster } from '../lib/data-cluster.js';
import { events, EVENTS_SPEC, HOUR, T0 } from '../lib/dataset.js';

const INTERVAL = `${new Date(T0).toISOString()}/${new Date(T0 + 24 * HOUR).toISOString()}`;

/** One query of every type, with filters, granularities, having and limits. */
const QUERIES: Record<string, unknown> = {
  timeseries: {
    queryType: 'timeseries', dataSource: 'events', intervals: [INTERVAL], granularity: 'hour',
    filter: { type: 'in', dimension: 'country', values: ['fr', 'de', 'jp'] },
    aggregations: [{ type: 'count', name: 'rows' }, { type: 'longSum', name: 'value', fieldName: 'value' }, { type: 'longMax', name: 'max', fieldName: 'value' }],
    postAggregations: [{ type: 'arithmetic', name: 'avg', fn: '/', fields: [{ type: 'fieldAccess', fieldName: 'value' }, { type: 'fieldAccess', fieldName: 'rows' }] }],
  },
  topN: {
    queryType: 'topN', dataSource: 'events', intervals: [INTERVAL], granularity: 'all', dimension: 'country', metric: 'value', threshold: 3,
    aggregations: [{ type: 'longSum', name: 'value', fieldName: 'value' }, { type: 'count', name: 'rows' }],
  },
  groupBy: {
    queryType: 'groupBy', dataSource: 'events', intervals: [INTERVAL], granularity: 'day', dimensions: ['country', 'device'],
    filter: { type: 'not', field: { type: 'selector', dimension: 'device', value: 'tablet' } },
    aggregations: [{ type: 'count', name: 'rows' }, { type: 'longMin', name: 'min', fieldName: 'value' }],
    having: { type: 'greaterThan', aggregation: 'rows', value: 10 },
    limitSpec: { type: 'default', limit: 7, columns: [{ dimension: 'rows', direction: 'descending' }] },
  },
  scan: {
    queryType: 'scan', dataSource: 'events', intervals: [INTERVAL], columns: ['__time', 'country', 'value'], limit: 25, order: 'ascending',
    filter: { type: 'bound', dimension: 'value', lower: '900', ordering: 'numeric' },
  },
  timeBoundary: { queryType: 'timeBoundary', dataSource: 'events', intervals: [INTERVAL] },
  cardinality: {
    queryType: 'timeseries', dataSource: 'events', intervals: [INTERVAL], granularity: 'all',
    aggregations: [{ type: 'cardinality', name: 'countries', fields: ['country'] }, { type: 'count', name: 'rows' }],
  },
};

t.test('fan-out over several workers equals one pass over the same data, for every query type, through the SDK and through every worker', async (t) => {
  const seed = 601;
  t.comment(`seed ${seed}`);
  const c = await DataCluster.start(t, { workers: [{ id: 'w1' }, { id: 'w2' }, { id: 'w3' }] });
  const rows = events(seed, 16, 60);
  await c.ingest(EVENTS_SPEC, rows);
  await c.waitReplicated();
  // One segment spanning the same hours as the ingested ones (Druid stamps `all` with the first queried instant).
  const whole = segmentFromRows({
    dataSource: 'events',
    start: T0,
    end: T0 + 16 * HOUR,
    dimensions: ['country', 'device'],
    metrics: [{ name: 'value', type: 'long' }],
    rows: rows.map((r) => ({ __time: Date.parse(r.ts), country: r.country, device: r.device, value: r.value })),
  });
  const client = c.client();
  // Scan results name the segment each batch came from; compare the rows themselves.
  const comparable = (name: string, r: unknown) => (name === 'scan' ? (r as { events: unknown[] }[]).flatMap((b) => b.events) : r);
  for (const [name, raw] of Object.entries(QUERIES)) {
    const q = parseQuery(raw);
    const onePass = comparable(name, finalizeResult(q, runOnSegment(q, whole)));
    const viaClient = await client.query(raw);
    t.same(comparable(name, viaClient), onePass, `${name}: the SDK's merged answer equals one pass over all rows`);
    for (const w of ['w1', 'w2', 'w3']) {
      const res = await fetch(`${c.workerUrl(w)}/druid/v2`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(raw) });
      t.same(comparable(name, await res.json()), onePass, `${name}: the same answer through ${w}'s /druid/v2`);
    }
  }
  const bad = await fetch(`${c.workerUrl('w1')}/druid/v2`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ queryType: 'topN', dataSource: 'events' }) });
  t.equal(bad.status, 400, 'a bad query is a 400');
  t.match(await bad.json(), { error: 'Json parse failed', errorClass: 'org.apache.druid.query.BadJsonQueryException', host: 'w1' }, 'in Druid\'s error shape');
  const pretty = await (await fetch(`${c.workerUrl('w2')}/druid/v2?pretty`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(QUERIES['timeBoundary']) })).text();
  t.match(pretty, /^\[\n {2}\{\n/, '?pretty indents');
});

t.test('all replicas of a segment gone: an error naming it, or a partial answer listing it when allowed', async (t) => {
  const seed = 602;
  t.comment(`seed ${seed}`);
  const c = await DataCluster.start(t, { workers: [{ id: 'w1' }, { id: 'w2' }], coordinator: { gracePeriodMs: 600_000 } });
  const client = c.client();
  await client.setRules('events', [{ type: 'loadForever', tieredReplicants: { _default_tier: 1 } }]);
  const rows = events(seed, 4, 30);
  await c.ingest(EVENTS_SPEC, rows);
  await c.waitReplicated();
  const onW1 = ((await client.segments({ dataSource: 'events' })).segments as { id: string }[]).map((s) => s.id);
  const leader = c.meta.url(await c.meta.waitLeader());
  const assigned = (await (await fetch(`${leader}/v1/assignments?workerId=w1`)).json() as { assignments: { segmentId: string }[] }).assignments.map((a) => a.segmentId).sort();
  t.ok(assigned.length > 0 && assigned.length < onW1.length, `w1 alone holds ${assigned.length} of ${onW1.length} segments`);
  await c.killWorker('w1');
  const total = { queryType: 'timeseries', dataSource: 'events', intervals: [INTERVAL], granularity: 'all', aggregations: [{ type: 'count', name: 'rows' }] };
  const err = await client.query(total).then(() => null, (e: Error) => e);
  t.ok(err, 'the query fails');
  for (const id of assigned) t.match(err!.message, id, `naming ${id}`);
  const partial = await client.queryWithContext({ ...total, context: { allowPartialResults: true } });
  t.same(partial.context.missingSegments, assigned, 'a partial answer lists exactly the missing segments');
  t.ok(partial.context.uncoveredIntervals.length > 0, `and their intervals: ${partial.context.uncoveredIntervals.join(', ')}`);
  const served = rows.filter((r) => !assigned.some((id) => id.startsWith(`events_${new Date(Math.floor(Date.parse(r.ts) / HOUR) * HOUR).toISOString()}_`))).length;
  t.equal((partial.results[0] as { result: { rows: number } }).result.rows, served, 'answering for the segments still served');
  const viaHttp = await fetch(`${c.workerUrl('w2')}/druid/v2`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...total, context: { allowPartialResults: true } }) });
  const header = JSON.parse(viaHttp.headers.get('x-druid-response-context') ?? '{}') as { missingSegments?: string[] };
  t.same(header.missingSegments, assigned, 'the HTTP endpoint lists them in X-Druid-Response-Context');
  const failing = await fetch(`${c.workerUrl('w2')}/druid/v2`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(total) });
  t.equal(failing.status, 503, 'and fails without the permission');
});

t.test('the metadata group entirely down: queries go on from the last timeline view', async (t) => {
  const seed = 603;
  t.comment(`seed ${seed}`);
  const c = await DataCluster.start(t, { workers: [{ id: 'w1' }, { id: 'w2' }] });
  const rows = events(seed, 6, 20);
  await c.ingest(EVENTS_SPEC, rows);
  await c.waitReplicated();
  const client = c.client({ timelineRefreshMs: 50 });
  const total = { queryType: 'timeseries', dataSource: 'events', intervals: [INTERVAL], granularity: 'all', aggregations: [{ type: 'count', name: 'rows' }] };
  const rowsOf = (r: unknown[]) => (r[0] as { result: { rows: number } }).result.rows;
  t.equal(rowsOf(await client.query(total)), rows.length, 'answered while the group is up');
  const viaWorker = async () => {
    const r = await fetch(`${c.workerUrl('w2')}/druid/v2`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(total) });
    return { status: r.status, body: (await r.json()) as unknown[] };
  };
  t.equal(rowsOf((await viaWorker()).body), rows.length, 'and through a worker');

  for (const id of c.meta.ids) await c.meta.kill(id);
  t.same(c.meta.running(), [], 'all three meta nodes killed');
  // The views are older than their refresh period now: each query tries the group, which is gone.
  for (let i = 0; i < 5; i++) {
    t.equal(rowsOf(await client.query(total)), rows.length, `SDK query ${i + 1} answered from the last view`);
  }
  const http = await viaWorker();
  t.equal(http.status, 200, 'the HTTP endpoint answers too');
  t.equal(rowsOf(http.body), rows.length, 'with the full count');
  await t.rejects(c.client().query(total), 'a new client with no view yet cannot know the timeline: it fails');
});
