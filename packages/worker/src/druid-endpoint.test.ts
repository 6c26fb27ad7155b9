import t from 'tap';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { parseQuery } from '@cairn/shared';
import type { CairnClient, QueryAnswer, ResponseContext } from '@cairn/client';
import { until } from '@cairn/shared/testing';
import { druidEndpoint } from './druid-endpoint.js';

const QUERY = { queryType: 'timeseries', dataSource: 'events', intervals: ['2024-06-01/2024-06-02'], granularity: 'all', aggregations: [{ type: 'count', name: 'rows' }] };

/** /druid/v2 over a stand-in client that parses the query as the real one does and answers `context`. */
function endpoint(context: Partial<ResponseContext> = {}) {
  const seen: unknown[] = [];
  const client = {
    async queryWithContext(raw: unknown): Promise<QueryAnswer> {
      const q = parseQuery(raw);
      seen.push(raw);
      return { results: [{ timestamp: '2024-06-01T00:00:00.000Z', result: { rows: 1 } }], queryId: q.context.queryId ?? 'generated', context: { missingSegments: [], uncoveredIntervals: [], uncoveredIntervalsOverflowed: false, ...context } };
    },
    cancel: () => false,
  } as unknown as CairnClient;
  const app = new Hono();
  druidEndpoint(app, client, 'w-test');
  const post = (body: string, path = '/druid/v2') => app.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { app, post, seen };
}

t.test('POST /druid/v2/ (Druid\'s documented URL, trailing slash) and with ?pretty is served like /druid/v2', async (t) => {
  const { post } = endpoint();
  for (const path of ['/druid/v2', '/druid/v2/', '/druid/v2/?pretty']) {
    const res = await post(JSON.stringify(QUERY), path);
    t.equal(res.status, 200, path);
    t.same(await res.json(), [{ timestamp: '2024-06-01T00:00:00.000Z', result: { rows: 1 } }], path);
  }
});

t.test('a body over 16 MiB is refused with a Druid-shaped 400 and the connection closed', async (t) => {
  const { post } = endpoint();
  const res = await post(JSON.stringify({ ...QUERY, pad: 'x'.repeat(17 << 20) }));
  t.equal(res.status, 400);
  t.match(await res.json(), { error: 'Json parse failed', errorMessage: /larger than 16777216 bytes/, host: 'w-test' });
  t.equal(res.headers.get('connection'), 'close');
});

t.test('X-Druid-Response-Context: at most 10 uncovered intervals (overflowed set), the whole header within 7 KiB and ASCII', async (t) => {
  const missingSegments = Array.from({ length: 300 }, (_, i) => `events_2024-06-01T${String(i).padStart(4, '0')}_v1_é中`);
  const uncoveredIntervals = Array.from({ length: 50 }, (_, i) => `2024-06-${String(1 + (i % 28)).padStart(2, '0')}T00:00:00.000Z/2024-06-${String(1 + (i % 28)).padStart(2, '0')}T01:00:00.000Z`);
  const { post } = endpoint({ missingSegments, uncoveredIntervals });
  const res = await post(JSON.stringify({ ...QUERY, context: { allowPartialResults: true } }));
  t.equal(res.status, 200);
  const header = res.headers.get('x-druid-response-context')!;
  t.ok(header.length <= 7 * 1024, `${header.length} bytes`);
  t.match(header, /^[\x20-\x7e]*$/, 'ASCII only (non-ASCII escaped)');
  const ctx = JSON.parse(header);
  t.equal(ctx.uncoveredIntervals.length, 10, 'uncoveredIntervalsLimit: 10 by default');
  t.equal(ctx.uncoveredIntervalsOverflowed, true);
  t.equal(ctx.truncated, true);
  t.ok(ctx.missingSegments.length > 0 && ctx.missingSegments.length < 300);
  t.equal(ctx.missingSegments[0], missingSegments[0], 'the ids read back as they were');

  // Few intervals, few segments: nothing cut.
  const small = endpoint({ missingSegments: ['a', 'b'], uncoveredIntervals: uncoveredIntervals.slice(0, 3) });
  const whole = JSON.parse((await small.post(JSON.stringify(QUERY))).headers.get('x-druid-response-context')!);
  t.same(whole, { missingSegments: ['a', 'b'], uncoveredIntervals: uncoveredIntervals.slice(0, 3), uncoveredIntervalsOverflowed: false });
});

t.test('a queryId with CR/LF or characters past Latin-1 is answered, written to X-Druid-Query-Id as Druid\'s Jetty writes it (spaces), not a 500', async (t) => {
  const { post } = endpoint();
  const res = await post(JSON.stringify({ ...QUERY, context: { queryId: 'q1\r\nX-Evil: 1\u4e2d' } }));
  t.equal(res.status, 200);
  t.equal(res.headers.get('x-druid-query-id'), 'q1  X-Evil: 1', 'CR, LF and 中 as spaces (the trailing one trimmed, as header values are)');
  t.equal(res.headers.get('x-evil'), null, 'no header injected');
  const plain = await post(JSON.stringify({ ...QUERY, context: { queryId: 'abc-123' } }));
  t.equal(plain.headers.get('x-druid-query-id'), 'abc-123');
  const long = await post(JSON.stringify({ ...QUERY, context: { queryId: 'q'.repeat(2000) } }));
  t.equal(long.status, 200);
  t.equal(long.headers.get('x-druid-query-id'), null, 'an id too long for a header is left out of it');
});

t.test('a query without a timeout gets Druid\'s default (300000 ms); one that sets it (0 included) keeps it', async (t) => {
  const { post, seen } = endpoint();
  await post(JSON.stringify(QUERY));
  await post(JSON.stringify({ ...QUERY, context: { priority: 5 } }));
  await post(JSON.stringify({ ...QUERY, context: { timeout: 0 } }));
  await post(JSON.stringify({ ...QUERY, context: { timeout: 1234 } }));
  t.same(seen.map((r) => (r as { context: unknown }).context), [{ timeout: 300_000 }, { priority: 5, timeout: 300_000 }, { timeout: 0 }, { timeout: 1234 }]);
});

t.test('a caller closing its connection before the answer cancels the query (its signal reaches the client)', async (t) => {
  let callerSignal: AbortSignal | undefined;
  const client = {
    queryWithContext(_raw: unknown, options: { caller?: AbortSignal } = {}): Promise<QueryAnswer> {
      callerSignal = options.caller;
      // Answers only once cancelled, as the real client does when its caller goes away.
      return new Promise((_resolve, reject) => options.caller?.addEventListener('abort', () => reject(new Error('cancelled')), { once: true }));
    },
    cancel: () => false,
  } as unknown as CairnClient;
  const app = new Hono();
  druidEndpoint(app, client, 'w-test');
  const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  await new Promise<void>((r) => (server.listening ? r() : server.once('listening', () => r())));
  const { port } = server.address() as AddressInfo;
  const body = JSON.stringify(QUERY);
  const req = request({ host: '127.0.0.1', port, path: '/druid/v2', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });
  req.on('error', () => {}); // the connection is closed on purpose
  req.end(body);
  await until('the query to reach the client', () => callerSignal !== undefined);
  t.equal(callerSignal!.aborted, false, 'not cancelled while the caller waits');
  req.destroy();
  await until('the caller\'s signal to abort', () => callerSignal!.aborted);
  t.pass('cancelled when the caller went away');
});
