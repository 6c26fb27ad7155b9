import t from 'tap';
import { finalizeResult, mergePartials, parseQuery } from '@cairn/shared';
import type { LoadedSegment } from '@cairn/shared';
import { accumulatorBytesHeld, segmentFromRows } from './engine/index.js';
import { QueryExecutor } from './query-executor.js';
import { workerApp } from './worker-app.js';
import { WorkerMetrics } from './worker-metrics.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2024-06-01T00:00:00Z');

/** Four hourly segments of seeded rows, served from memory. */
function fixture(seed: number) {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const segments = new Map<string, LoadedSegment>();
  for (let h = 0; h < 4; h++) {
    const rows = Array.from({ length: 50 }, () => ({
      __time: T0 + h * HOUR + Math.floor(rand() * HOUR),
      country: ['fr', 'de', 'us', 'jp', 'br'][Math.floor(rand() * 5)],
      value: Math.floor(rand() * 100),
    }));
    segments.set(`events_h${h}`, segmentFromRows({ dataSource: 'events', start: T0 + h * HOUR, end: T0 + (h + 1) * HOUR, dimensions: ['country'], metrics: [{ name: 'value', type: 'long' }], rows }));
  }
  const executor = new QueryExecutor({ get: async (id) => segments.get(id) ?? null });
  const app = workerApp({ id: 'w-test', executor, metrics: new WorkerMetrics(), status: () => ({ id: 'w-test' }) });
  return { segments, app };
}

const GROUP_BY = {
  queryType: 'groupBy', dataSource: 'events', intervals: ['2024-06-01/2024-06-02'], granularity: 'all', dimensions: ['country'],
  aggregations: [{ type: 'count', name: 'rows' }, { type: 'longSum', name: 'value', fieldName: 'value' }],
};

async function post(app: ReturnType<typeof workerApp>, body: unknown) {
  const res = await app.request('/v1/segments/query', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
}

t.test('merge: one partial for every answered segment, equal to merging the per-segment ones', async (t) => {
  const seed = 41;
  t.comment(`seed ${seed}`);
  const { app } = fixture(seed);
  const ids = ['events_h0', 'events_h1', 'events_h3', 'events_nope'];
  const each = await post(app, { query: GROUP_BY, segmentIds: ids });
  t.equal(each.status, 200);
  t.same(each.body.partials.map((p: any) => p.segmentId), ['events_h0', 'events_h1', 'events_h3'], 'without merge: one partial per segment (the shape older clients read)');
  t.same(each.body.missing, ['events_nope'], 'the segment it lacks is listed as missing');

  const merged = await post(app, { query: GROUP_BY, segmentIds: ids, merge: true });
  t.equal(merged.status, 200);
  t.equal(merged.body.partials.length, 1, 'with merge: one partial');
  t.same(merged.body.partials[0].segmentIds, ['events_h0', 'events_h1', 'events_h3'], 'naming the segments it covers');
  t.same(merged.body.missing, ['events_nope']);
  const q = parseQuery(GROUP_BY);
  const expected = finalizeResult(q, mergePartials(q, each.body.partials.map((p: any) => p.partial)));
  t.same(finalizeResult(q, merged.body.partials[0].partial), expected, 'the same final answer');

  const single = await post(app, { query: GROUP_BY, segmentIds: ['events_h2'], merge: true });
  t.same(single.body.partials.map((p: any) => p.segmentId), ['events_h2'], 'a single segment keeps the per-segment shape');

  // A query the accumulator does not cover (a sketch) is merged from per-segment partials.
  const hll = { ...GROUP_BY, aggregations: [{ type: 'cardinality', name: 'u', fields: ['country'] }] };
  const hllEach = await post(app, { query: hll, segmentIds: ids });
  const hllMerged = await post(app, { query: hll, segmentIds: ids, merge: true });
  t.same(hllMerged.body.partials[0].segmentIds, ['events_h0', 'events_h1', 'events_h3']);
  const hq = parseQuery(hll);
  const hllAnswer = finalizeResult(hq, hllMerged.body.partials[0].partial) as { event: { u: unknown } }[];
  t.same(hllAnswer, finalizeResult(hq, mergePartials(hq, hllEach.body.partials.map((p: any) => p.partial))), 'the same final answer without the accumulator');
  t.ok(hllAnswer.length > 0 && hllAnswer.every((r) => typeof r.event.u === 'number' && r.event.u >= 1), 'each group\'s distinct count is a finalized estimate, not a sketch');
  t.equal(accumulatorBytesHeld(), 0, 'the folded states were given back');
});

t.test('a cancelled merged query gives its folded states back', async (t) => {
  const { segments } = fixture(43);
  // Units pause 1 ms each (fault injection), so the cancel lands between units, after some folding.
  const executor = new QueryExecutor({ get: async (id) => segments.get(id) ?? null }, Date.now, 1);
  const running = executor.run('q1', parseQuery(GROUP_BY), ['events_h0', 'events_h1', 'events_h2', 'events_h3'], { merge: true });
  const deadline = Date.now() + 10_000;
  while (executor.unitsRun === 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  t.ok(executor.unitsRun > 0 && accumulatorBytesHeld() > 0, 'a segment was folded');
  t.equal(executor.cancel('q1'), true);
  await t.rejects(running, { code: 'QUERY_CANCELLED' });
  t.equal(accumulatorBytesHeld(), 0);
});

t.test('dictionary-encoded dimensions only for callers that ask (dicts: true); values for the others (the previous version\'s clients)', async (t) => {
  const { app } = fixture(43);
  const ids = ['events_h0', 'events_h1', 'events_h2'];
  const q = parseQuery(GROUP_BY);
  for (const merge of [false, true]) {
    const plain = await post(app, { query: GROUP_BY, segmentIds: ids, merge });
    const coded = await post(app, { query: GROUP_BY, segmentIds: ids, merge, dicts: true });
    const plainParts = plain.body.partials.map((p: any) => p.partial);
    const codedParts = coded.body.partials.map((p: any) => p.partial);
    t.ok(plainParts.every((p: any) => p.dicts === undefined && p.dims[0].every((v: unknown) => typeof v === 'string')), `merge ${merge}: without dicts, every row carries its value`);
    t.ok(codedParts.every((p: any) => Array.isArray(p.dicts) && p.dims[0].every((v: unknown) => typeof v === 'number')), `merge ${merge}: with dicts, rows carry codes`);
    t.same(finalizeResult(q, mergePartials(q, plainParts)), finalizeResult(q, mergePartials(q, codedParts)), `merge ${merge}: the same answer`);
  }
});

t.test('bad requests get Druid-shaped 400s naming the problem', async (t) => {
  const { app } = fixture(42);
  const notArray = await post(app, { query: GROUP_BY, segmentIds: 'events_h0' });
  t.equal(notArray.status, 400);
  t.match(notArray.body, { error: String, errorMessage: /segmentIds: must be an array of segment ids/, host: 'w-test' });
  const badQuery = await post(app, { query: { ...GROUP_BY, granularity: 'fortnight' }, segmentIds: ['events_h0'] });
  t.equal(badQuery.status, 400);
  t.match(badQuery.body.errorMessage, /granularity/);
  const notJson = await app.request('/v1/segments/query', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' });
  t.equal(notJson.status, 400);
  t.match((await notJson.json() as any).errorMessage, /the body is not JSON/);
});

t.test('an oversized body over real HTTP: a Druid-shaped error, and the connection is closed (its unread rest cannot carry another request)', async (t) => {
  const { serve } = await import('@hono/node-server');
  const { request } = await import('node:http');
  const { app } = fixture(5);
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  t.teardown(() => {
    (server as unknown as { closeAllConnections(): void }).closeAllConnections();
    server.close();
  });
  await new Promise<void>((r) => (server.listening ? r() : server.once('listening', () => r())));
  const port = (server.address() as { port: number }).port;
  const body = Buffer.from(JSON.stringify({ query: GROUP_BY, segmentIds: [], pad: 'x'.repeat(17 << 20) }));
  const res = await new Promise<{ status: number; connection: string | undefined; text: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/segments/query', headers: { 'content-type': 'application/json', 'content-length': body.length, connection: 'keep-alive' } }, (r) => {
      let text = '';
      r.on('data', (c: Buffer) => (text += c.toString()));
      r.on('end', () => resolve({ status: r.statusCode ?? 0, connection: r.headers.connection, text }));
    });
    // The server may close while the body is still being written: that is the point.
    req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'EPIPE' || (err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
    req.end(body);
  });
  t.equal(res.status, 400);
  t.match(res.text, /larger than/, 'the error says why');
  t.equal(res.connection, 'close', 'Connection: close');
});

t.test('a segment source that throws fails that query only; the executor goes on', async (t) => {
  const { segments } = fixture(44);
  const executor = new QueryExecutor({ get: async (id) => (id === 'boom' ? Promise.reject(new Error('disk on fire')) : segments.get(id) ?? null) });
  await t.rejects(executor.run('q1', parseQuery(GROUP_BY), ['events_h0', 'boom', 'events_h1'], { merge: true }), { code: 'INTERNAL' });
  const ok = await executor.run('q2', parseQuery(GROUP_BY), ['events_h0', 'events_h1'], { merge: true });
  t.same(ok.folded?.segmentIds, ['events_h0', 'events_h1'], 'the next query is answered');
  t.equal(accumulatorBytesHeld(), 0, 'the failed query gave its states back');
});

t.test('a body that is JSON but not an object ({query, segmentIds}) is a 400, not a 500', async (t) => {
  const { app } = fixture(45);
  for (const body of ['null', '[]', '7', '"x"']) {
    const res = await app.request('/v1/segments/query', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    t.equal(res.status, 400, body);
    t.match(((await res.json()) as any).errorMessage, /the body must be a JSON object/);
  }
});

t.test('a request over the per-query bound on segment units is refused with a 400 naming the bound', async (t) => {
  const { app } = fixture(46);
  const { QUERY_UNITS_MAX } = await import('./query-executor.js');
  const ids = Array.from({ length: QUERY_UNITS_MAX + 1 }, (_, i) => `events_x${i}`);
  const res = await post(app, { query: GROUP_BY, segmentIds: ids });
  t.equal(res.status, 400);
  t.match(res.body, { error: 'Resource limit exceeded', errorMessage: new RegExp(`at most ${QUERY_UNITS_MAX} per query \\(queryUnitsMax\\)`) });
  t.equal((await post(app, { query: GROUP_BY, segmentIds: ids.slice(0, QUERY_UNITS_MAX) })).status, 200, 'at the bound: answered');
});

t.test('an answer over responseBytesMax (here a merged one, checked as it is built) is a 400 naming the bound, not a 500', async (t) => {
  const { segments } = fixture(47);
  const executor = new QueryExecutor({ get: async (id) => segments.get(id) ?? null }, Date.now, 0, { responseBytesMax: 200 });
  const app = workerApp({ id: 'w-test', executor, metrics: new WorkerMetrics(), status: () => ({}) });
  const res = await post(app, { query: GROUP_BY, segmentIds: ['events_h0', 'events_h1', 'events_h2'], merge: true, dicts: true });
  t.equal(res.status, 400);
  t.match(res.body, { error: 'Resource limit exceeded', errorMessage: /more than 200 bytes \(responseBytesMax/ });
  t.equal(accumulatorBytesHeld(), 0);
});

t.test('a client that disconnects cancels its query: the remaining units leave the queue', async (t) => {
  const { serve } = await import('@hono/node-server');
  const { request } = await import('node:http');
  const { segments } = fixture(48);
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  // Every fetch waits for the gate: the first unit holds the loop, the others stay queued.
  const executor = new QueryExecutor({ get: async (id) => opened.then(() => segments.get(id) ?? null) });
  const app = workerApp({ id: 'w-test', executor, metrics: new WorkerMetrics(), status: () => ({}) });
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  t.teardown(() => {
    open();
    (server as unknown as { closeAllConnections(): void }).closeAllConnections();
    server.close();
  });
  await new Promise<void>((r) => (server.listening ? r() : server.once('listening', () => r())));
  const port = (server.address() as { port: number }).port;
  const body = JSON.stringify({ query: GROUP_BY, segmentIds: ['events_h0', 'events_h1', 'events_h2', 'events_h3'] });
  const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/segments/query', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });
  req.on('error', () => {});
  req.end(body);
  const until = async (cond: () => boolean) => {
    const deadline = Date.now() + 10_000;
    while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    return cond();
  };
  t.ok(await until(() => executor.queuedUnits === 3), 'the query is running, three units queued');
  req.destroy();
  t.ok(await until(() => executor.queuedUnits === 0), 'after the disconnect its units left the queue');
  open();
  // The gate open, the executor answers the next query (the cancelled one's unit ended quietly).
  const res = await post(app, { query: GROUP_BY, segmentIds: ['events_h0'] });
  t.equal(res.status, 200);
});
