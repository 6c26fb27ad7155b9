import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { parseInterval, QueryError } from '@cairn/shared';
import { until } from '@cairn/shared/testing';
import { CairnClient } from './cairn-client.js';
import type { CairnClientOptions } from './cairn-client.js';
import { SEGMENTS_PER_REQUEST_MAX } from './query/fanout.js';

// Fake workers and a fake metadata group over HTTP on localhost. Slow answers wait on gates the
// test opens, never on timers; waits for an event poll with a deadline.

const H = 3_600_000;
const D = 24 * H;

/** A promise the test resolves when it chooses. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

/** A promise's outcome once it has one (`settled` tells whether it has). */
function track<T>(p: Promise<T>): { settled: boolean; value?: T; error?: unknown; done: Promise<void> } {
  const o: { settled: boolean; value?: T; error?: unknown; done: Promise<void> } = { settled: false, done: Promise.resolve() };
  o.done = p.then((v) => void Object.assign(o, { settled: true, value: v }), (e: unknown) => void Object.assign(o, { settled: true, error: e }));
  return o;
}

async function listen(t: Test, handler: (method: string, url: string, body: string, res: import('node:http').ServerResponse) => void): Promise<string> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => handler(req.method ?? '', req.url ?? '', body, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface WorkerRequest {
  readonly segmentIds: string[];
  readonly intervals: string[];
  readonly subId: string;
}
type Reply = { status: number; json: unknown } | 'rows';

/**
 * A worker holding `rows` (row timestamps per segment id). By default it answers as a worker
 * does: the rows of the asked segments within the request's query intervals, counted. `behave`
 * may answer otherwise, or wait first.
 */
class FakeWorker {
  readonly requests: WorkerRequest[] = [];
  readonly cancels: string[] = [];
  url = '';
  constructor(readonly id: string, private readonly rows: Record<string, number[]>, private readonly behave: (r: WorkerRequest) => Promise<Reply> | Reply = () => 'rows') {}

  async start(t: Test): Promise<this> {
    this.url = await listen(t, (method, url, body, res) => {
      if (method === 'DELETE') {
        this.cancels.push(decodeURIComponent(url.split('/').pop()!));
        res.end('{}');
        return;
      }
      const b = JSON.parse(body) as { segmentIds: string[]; query: { intervals: string[]; context: { queryId: string } } };
      const r: WorkerRequest = { segmentIds: b.segmentIds, intervals: b.query.intervals, subId: b.query.context.queryId };
      this.requests.push(r);
      void Promise.resolve(this.behave(r)).then((reply) => {
        const { status, json } = reply === 'rows' ? { status: 200, json: this.answer(r) } : reply;
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(json));
      });
    });
    return this;
  }

  answer(r: WorkerRequest): unknown {
    const intervals = r.intervals.map(parseInterval);
    const missing = r.segmentIds.filter((id) => this.rows[id] === undefined);
    const present = r.segmentIds.filter((id) => this.rows[id] !== undefined);
    const n = present.flatMap((id) => this.rows[id]!).filter((ts) => intervals.some((i) => ts >= i.start && ts < i.end)).length;
    return { queryId: r.subId, partials: present.length === 0 ? [] : [{ segmentIds: present, partial: countPartial(n) }], missing };
  }
}

function countPartial(n: number) {
  return { queryType: 'timeseries', allTime: 0, time: [0], dims: [], counts: [n], aggs: [[n]] };
}

interface Seg { id: string; start: number; end: number; version: string; partition?: number; loadedOn: string[]; assignedTo?: string[] }

/** A metadata group serving one timeline; `hold` (when given) delays every answer until opened. */
async function fakeMeta(t: Test, timeline: () => { segments: Seg[]; workers: { id: string; url: string; live?: boolean }[] }, hold?: Promise<void>): Promise<string> {
  return listen(t, (_method, _url, _body, res) => {
    void (hold ?? Promise.resolve()).then(() => {
      const tl = timeline();
      res.writeHead(200, { 'content-type': 'application/json', etag: `"${JSON.stringify(tl).length}"` });
      res.end(JSON.stringify({
        segments: tl.segments.map((s) => ({ dataSource: 'ds', partition: 0, size: 1, assignedTo: s.loadedOn, ...s })),
        workers: tl.workers.map((w) => ({ tier: 't', dc: 'd', state: 'active', live: true, ...w })),
      }));
    });
  });
}

async function cluster(t: Test, workers: FakeWorker[], segments: Seg[], o: Partial<CairnClientOptions> = {}): Promise<CairnClient> {
  for (const w of workers) await w.start(t);
  const meta = await fakeMeta(t, () => ({ segments, workers: workers.map((w) => ({ id: w.id, url: w.url })) }));
  return new CairnClient({ metaUrls: [meta], token: 't', ...o });
}

const query = (intervals: string[], context: Record<string, unknown> = {}) => ({
  queryType: 'timeseries', dataSource: 'ds', intervals, granularity: 'all', aggregations: [{ type: 'count', name: 'rows' }], context,
});
const DAY1 = '1970-01-01/1970-01-02';
const rowsOf = (r: unknown[]) => (r[0] as { result: { rows: number } }).result.rows;
/** One row at the start of every hour of the first day, plus a millisecond. */
const hourly = Array.from({ length: 24 }, (_, h) => h * H + 1);

t.test('a segment partly covered by a newer version is read for its visible stretches only', async (t) => {
  // v1: a day; v2: its 03:00 hour re-ingested with 5 rows. The answer has v1's other 23 hours
  // and v2's hour: 28 rows. Reading v1 whole would count the hour twice (29).
  const v2rows = [3 * H, 3 * H + 10, 3 * H + 20, 3 * H + 30, 4 * H - 1];
  const w1 = new FakeWorker('w1', { v1: hourly, v2: v2rows });
  const client = await cluster(t, [w1], [
    { id: 'v1', start: 0, end: D, version: '2024-01-01', loadedOn: ['w1'] },
    { id: 'v2', start: 3 * H, end: 4 * H, version: '2024-02-01', loadedOn: ['w1'] },
  ]);
  t.equal(rowsOf(await client.query(query([DAY1]))), 28, 'each row counted once');
  const v1 = w1.requests.find((r) => r.segmentIds.includes('v1'))!;
  t.same(v1.segmentIds, ['v1'], 'the clipped segment goes in a request of its own');
  t.same(v1.intervals, ['1970-01-01T00:00:00.000Z/1970-01-01T03:00:00.000Z', '1970-01-01T04:00:00.000Z/1970-01-02T00:00:00.000Z']);
  t.same(w1.requests.find((r) => r.segmentIds.includes('v2'))!.intervals, [DAY1], 'the newer segment is asked with the query\'s own intervals');

  w1.requests.length = 0;
  t.equal(rowsOf(await client.query(query(['1970-01-01T02:00/1970-01-01T05:00']))), 7, 'the query intervals clipped to the visible stretches');
  t.same(w1.requests.find((r) => r.segmentIds.includes('v1'))!.intervals, ['1970-01-01T02:00:00.000Z/1970-01-01T03:00:00.000Z', '1970-01-01T04:00:00.000Z/1970-01-01T05:00:00.000Z']);

  w1.requests.length = 0;
  t.equal(rowsOf(await client.query(query(['1970-01-01T03:00/1970-01-01T04:00']))), 5);
  t.same(w1.requests.map((r) => r.segmentIds), [['v2']], 'a segment whose visible part misses the query is not asked at all');
});

t.test('segments are grouped by clip: one request per worker and clip', async (t) => {
  // Two partitions of the v1 day (the same clip), the v2 hour and a v1 day with nothing newer
  // (both unclipped).
  const w1 = new FakeWorker('w1', { p0: hourly, p1: hourly, v2: [3 * H + 5], other: [D + 1, D + 2] });
  const client = await cluster(t, [w1], [
    { id: 'p0', start: 0, end: D, version: 'v1', partition: 0, loadedOn: ['w1'] },
    { id: 'p1', start: 0, end: D, version: 'v1', partition: 1, loadedOn: ['w1'] },
    { id: 'v2', start: 3 * H, end: 4 * H, version: 'v2', loadedOn: ['w1'] },
    { id: 'other', start: D, end: 2 * D, version: 'v1', loadedOn: ['w1'] },
  ]);
  t.equal(rowsOf(await client.query(query(['1970-01-01/1970-01-03']))), 23 * 2 + 1 + 2);
  t.same(w1.requests.map((r) => r.segmentIds.join(',')).sort(), ['p0,p1', 'v2,other']);
});

t.test('a clipped segment keeps its clip when retried elsewhere', async (t) => {
  const w1 = new FakeWorker('w1', { v1: hourly, v2: [3 * H] }, (r) => (r.segmentIds.includes('v1') ? { status: 503, json: null } : 'rows'));
  const w2 = new FakeWorker('w2', { v1: hourly });
  const client = await cluster(t, [w1, w2], [
    { id: 'v1', start: 0, end: D, version: 'v1', loadedOn: ['w1', 'w2'] },
    { id: 'v2', start: 3 * H, end: 4 * H, version: 'v2', loadedOn: ['w1'] },
  ]);
  t.equal(rowsOf(await client.query(query([DAY1]))), 24);
  t.same(w2.requests.map((r) => r.intervals), [['1970-01-01T00:00:00.000Z/1970-01-01T03:00:00.000Z', '1970-01-01T04:00:00.000Z/1970-01-02T00:00:00.000Z']]);
});

t.test('a replica refusing a request (4xx) is tried once; another replica answers', async (t) => {
  const w1 = new FakeWorker('w1', { s1: [1] }, () => ({ status: 404, json: { error: 'NotFound', errorMessage: 'no route' } }));
  const w2 = new FakeWorker('w2', { s1: [1] });
  const client = await cluster(t, [w1, w2], [{ id: 's1', start: 0, end: D, version: 'v1', loadedOn: ['w1', 'w2'] }]);
  t.equal(rowsOf(await client.query(query([DAY1]))), 1);
  t.equal(w1.requests.length, 1, 'the refusing worker was asked once');
  t.equal(w2.requests.length, 1);
});

t.test('refused by every replica: the query fails with the worker\'s error, and the rest stops', async (t) => {
  const slow = gate();
  t.teardown(slow.open);
  const w1 = new FakeWorker('w1', { s1: [1] }, () => ({ status: 400, json: { error: 'Resource limit exceeded', errorMessage: 'too many groups' } }));
  const w2 = new FakeWorker('w2', { s2: [1] }, async () => {
    await slow.wait;
    return 'rows' as const;
  });
  const w3 = new FakeWorker('w3', { s3: [1] });
  const client = await cluster(t, [w2, w1, w3], [
    { id: 's2', start: 0, end: D, version: 'v1', loadedOn: ['w2'] },
    { id: 's1', start: 0, end: D, version: 'v1', loadedOn: ['w1'] },
    { id: 's3', start: 0, end: D, version: 'v1', loadedOn: ['w3'] },
  ], { fanout: { concurrencyMax: 2 } });
  const q = track(client.query(query([DAY1], { queryId: 'q' })));
  await until('the query to fail', () => q.settled);
  t.ok(q.error instanceof QueryError, 'a query error');
  t.equal((q.error as QueryError).code, 'RESOURCE_LIMIT', 'the worker\'s error, not SEGMENTS_UNAVAILABLE');
  t.match((q.error as QueryError).message, /worker w1 refused the query: HTTP 400 Resource limit exceeded: too many groups/);
  t.equal(w1.requests.length, 1);
  await until('the request in flight to be cancelled', () => w2.cancels.length === 1);
  t.same(w2.cancels, [w2.requests[0]!.subId]);
  t.equal(w3.requests.length, 0, 'nothing more was sent');
});

t.test('a hedge refused does not fail the query while the primary may answer', async (t) => {
  const slow = gate();
  t.teardown(slow.open);
  const w1 = new FakeWorker('w1', { s1: [1, 2] }, async () => {
    await slow.wait;
    return 'rows' as const;
  });
  const w2 = new FakeWorker('w2', { s1: [1, 2] }, () => ({ status: 400, json: { error: 'Json parse failed', errorMessage: 'old worker' } }));
  const client = await cluster(t, [w1, w2], [{ id: 's1', start: 0, end: D, version: 'v1', loadedOn: ['w1', 'w2'] }], { fanout: { hedgeDelayFloorMs: 1, hedgeDelayCeilingMs: 1 } });
  const q = track(client.query(query([DAY1])));
  await until('the hedge', () => w2.requests.length === 1);
  slow.open();
  await q.done;
  t.same(q.error, undefined, 'no error');
  t.equal(rowsOf(q.value!), 2, 'the primary answered');
});

for (const how of ['timeout', 'cancel', 'caller'] as const) {
  t.test(`on ${how}, nothing more is sent and the request in flight is cancelled on its worker`, async (t) => {
    const slow = gate();
    t.teardown(slow.open);
    const hang = async () => {
      await slow.wait;
      return 'rows' as const;
    };
    const ws = ['w1', 'w2', 'w3'].map((id, i) => new FakeWorker(id, { [`s${i + 1}`]: [1] }, hang));
    const client = await cluster(t, ws, ws.map((w, i) => ({ id: `s${i + 1}`, start: 0, end: D, version: 'v1', loadedOn: [w.id] })), { fanout: { concurrencyMax: 1 } });
    // 'caller': the caller's signal aborts, as the Druid endpoint's does when its client disconnects.
    const caller = new AbortController();
    const q = track(client.queryWithContext(query([DAY1], { queryId: 'q', ...(how === 'timeout' ? { timeout: 200 } : {}) }), { caller: caller.signal }));
    await until('the first request', () => ws[0]!.requests.length === 1);
    if (how === 'cancel') t.ok(client.cancel('q'));
    if (how === 'caller') caller.abort();
    await until('the query to end', () => q.settled);
    t.equal((q.error as QueryError).code, how === 'timeout' ? 'QUERY_TIMEOUT' : 'QUERY_CANCELLED');
    if (how === 'caller') t.match((q.error as QueryError).message, /caller went away/);
    await until('the cancel', () => ws[0]!.cancels.length > 0);
    t.same(ws[0]!.cancels, [ws[0]!.requests[0]!.subId], 'the worker was told to drop it');
    t.same(ws.slice(1).map((w) => w.requests.length), [0, 0], 'the other groups were never sent');
  });
}

t.test('a query waiting for the first timeline honours its timeout and cancel', async (t) => {
  const hold = gate();
  t.teardown(hold.open);
  const w1 = await new FakeWorker('w1', { s1: [1] }).start(t);
  const meta = await fakeMeta(t, () => ({ segments: [{ id: 's1', start: 0, end: D, version: 'v1', loadedOn: ['w1'] }], workers: [{ id: 'w1', url: w1.url }] }), hold.wait);
  const client = new CairnClient({ metaUrls: [meta], token: 't' });
  const timedOut = track(client.query(query([DAY1], { timeout: 50 })));
  const cancelled = track(client.query(query([DAY1], { queryId: 'c' })));
  await until('the timeout', () => timedOut.settled);
  t.equal((timedOut.error as QueryError).code, 'QUERY_TIMEOUT');
  t.ok(client.cancel('c'));
  await until('the cancel', () => cancelled.settled);
  t.equal((cancelled.error as QueryError).code, 'QUERY_CANCELLED');
  hold.open();
  t.equal(rowsOf(await client.query(query([DAY1]))), 1, 'the fetch went on for the next query');
});

t.test('a view listing no worker live (a new meta leader) still routes to the assigned workers', async (t) => {
  const w1 = await new FakeWorker('w1', { s1: [1] }).start(t);
  const meta = await fakeMeta(t, () => ({ segments: [{ id: 's1', start: 0, end: D, version: 'v1', loadedOn: [], assignedTo: ['w1'] }], workers: [{ id: 'w1', url: w1.url, live: false }] }));
  const client = new CairnClient({ metaUrls: [meta], token: 't' });
  t.equal(rowsOf(await client.query(query([DAY1]))), 1);
});

t.test('a worker holding more of a query\'s segments than one request may carry gets several requests', async (t) => {
  // Hourly segments over enough days that one worker holds more than SEGMENTS_PER_REQUEST_MAX.
  const n = SEGMENTS_PER_REQUEST_MAX + 5;
  const rows: Record<string, number[]> = {};
  const segments: Seg[] = [];
  for (let i = 0; i < n; i++) {
    rows[`s${i}`] = [i * H + 1];
    segments.push({ id: `s${i}`, start: i * H, end: (i + 1) * H, version: 'v1', loadedOn: ['w1'] });
  }
  const w1 = new FakeWorker('w1', rows);
  const client = await cluster(t, [w1], segments);
  const all = `1970-01-01T00:00:00.000Z/${new Date(n * H).toISOString()}`;
  t.equal(rowsOf(await client.query(query([all]))), n, 'every segment is counted once');
  t.same(w1.requests.map((r) => r.segmentIds.length).sort((a, b) => b - a), [SEGMENTS_PER_REQUEST_MAX, 5], 'in two requests, none over the bound');
});

t.test('a query gathering more than maxScatterGatherBytes of answers fails with RESOURCE_LIMIT, and no other replica is asked', async (t) => {
  const ws = [new FakeWorker('w1', { s1: hourly }), new FakeWorker('w2', { s1: hourly })];
  // No hedges: the only second request would be a retry on the other replica.
  const client = await cluster(t, ws, [{ id: 's1', start: 0, end: D, version: 'v1', loadedOn: ['w1', 'w2'] }], { fanout: { hedgeDelayFloorMs: 600_000, hedgeDelayCeilingMs: 600_000 } });
  const refused = await client.query(query([DAY1], { maxScatterGatherBytes: 10 })).then(() => null, (e: unknown) => e);
  t.equal((refused as QueryError).code, 'RESOURCE_LIMIT');
  t.match((refused as QueryError).message, /more than 10 bytes .*maxScatterGatherBytes/);
  t.equal(ws[0]!.requests.length + ws[1]!.requests.length, 1, 'one request, not retried elsewhere');
  t.equal(rowsOf(await client.query(query([DAY1], { maxScatterGatherBytes: 100_000 }))), 24, 'with room, the same query answers');
  const bad = await client.query(query([DAY1], { maxScatterGatherBytes: 0 })).then(() => null, (e: unknown) => e);
  t.equal((bad as QueryError).code, 'INVALID_QUERY', 'a limit below 1 is refused');
});
