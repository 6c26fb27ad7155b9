import t from 'tap';
import { parseQuery } from '@cairn/shared';
import type { LoadedSegment } from '@cairn/shared';
import { segmentFromRows } from './engine/index.js';
import { QueryExecutor } from './query-executor.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2024-06-01T00:00:00Z');

/** Hourly segments of `rows` rows each, named events_h0, events_h1, ... */
function segments(count: number, rows = 20): Map<string, LoadedSegment> {
  const out = new Map<string, LoadedSegment>();
  for (let h = 0; h < count; h++) {
    const data = Array.from({ length: rows }, (_, i) => ({ __time: T0 + h * HOUR + i * 1000, country: ['fr', 'de', 'us'][i % 3], value: i }));
    out.set(`events_h${h}`, segmentFromRows({ dataSource: 'events', start: T0 + h * HOUR, end: T0 + (h + 1) * HOUR, dimensions: ['country'], metrics: [{ name: 'value', type: 'long' }], rows: data }));
  }
  return out;
}

const COUNT = { queryType: 'timeseries', dataSource: 'events', intervals: ['2024-06-01/2024-06-02'], granularity: 'all', aggregations: [{ type: 'count', name: 'rows' }] };
const SCAN = { queryType: 'scan', dataSource: 'events', intervals: ['2024-06-01/2024-06-02'], columns: ['__time', 'country', 'value'] };
const query = (raw: object, context: object = {}) => parseQuery({ ...raw, context });

/** A promise and the function that settles it: holds a segment fetch until the test lets it go. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

/** Polls `cond` between turns of the event loop until it holds or 10 s pass (no sleeps as waits). */
async function until(cond: () => boolean): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

/** Where a promise stands, without waiting for it. */
function track<T>(p: Promise<T>) {
  const s: { settled: boolean; error: unknown; value: T | undefined } = { settled: false, error: undefined, value: undefined };
  p.then((v) => Object.assign(s, { settled: true, value: v }), (e) => Object.assign(s, { settled: true, error: e }));
  return s;
}

t.test('twenty thousand cancelled queries queued behind a running one: the next query is still answered (no recursion per skipped query)', async (t) => {
  const segs = segments(2);
  const held = gate();
  const executor = new QueryExecutor({ get: async (id) => (id === 'events_h0' ? held.opened.then(() => segs.get(id)!) : segs.get(id) ?? null) });
  const first = executor.run('first', query(COUNT), ['events_h0']);
  await until(() => executor.queuedUnits === 0);
  const cancelled: Promise<unknown>[] = [];
  for (let i = 0; i < 20_000; i++) {
    cancelled.push(executor.run(`c${i}`, query(COUNT), ['events_h1']).catch((e: unknown) => e));
    executor.cancel(`c${i}`);
  }
  t.equal(executor.queuedUnits, 0, 'the cancelled queries left the queue at once');
  const last = track(executor.run('last', query(COUNT), ['events_h1']));
  held.open();
  t.ok(await until(() => last.settled), 'the query after them settled');
  t.equal(last.error, undefined, 'and was answered');
  t.equal((await first).partials.length, 1);
  t.ok((await Promise.all(cancelled)).every((e) => (e as { code?: string }).code === 'QUERY_CANCELLED'));
});

t.test('a low-priority query times out at its deadline behind a long high-priority one, and its units leave the queue then', async (t) => {
  const segs = segments(3);
  const held = gate();
  const executor = new QueryExecutor({ get: async (id) => (id === 'events_h0' ? held.opened.then(() => segs.get(id)!) : segs.get(id) ?? null) });
  // The high-priority query holds the loop on its first unit until the gate opens.
  const big = executor.run('big', query(COUNT, { priority: 10 }), ['events_h0', 'events_h1']);
  await until(() => executor.queuedUnits === 1);
  const small = track(executor.run('small', query(COUNT, { priority: 0, timeout: 100 }), ['events_h1', 'events_h2']));
  t.equal(executor.queuedUnits, 3);
  t.ok(await until(() => small.settled), 'the small query failed while the big one still held the loop');
  t.match(small.error, { code: 'QUERY_TIMEOUT', message: /timed out after 100 ms/ });
  t.equal(executor.queuedUnits, 1, 'its two units left the queue; the big query\'s last one is still there');
  held.open();
  t.equal((await big).partials.length, 2, 'the big query is answered');
});

t.test('a query without a timeout gets Druid\'s default (300 s); 0 still means none', async (t) => {
  const segs = segments(1);
  const held = gate();
  let now = 1_000_000;
  const executor = new QueryExecutor({ get: async (id) => held.opened.then(() => segs.get(id) ?? null) }, () => now);
  const running = track(executor.run('q', query(COUNT), ['events_h0', 'events_h0x']));
  const unbounded = track(executor.run('u', query(COUNT, { timeout: 0 }), ['events_h0']));
  await until(() => executor.queuedUnits === 2);
  // The clock passes the default deadline while the first unit waits for its segment.
  now += 300_001;
  held.open();
  t.ok(await until(() => running.settled && unbounded.settled));
  t.match(running.error, { code: 'QUERY_TIMEOUT' });
  t.equal(unbounded.error, undefined, 'timeout 0: no deadline');
});

t.test('a query over queryUnitsMax segments is refused with a 400 naming the bound, and others still fit', async (t) => {
  const executor = new QueryExecutor({ get: async () => null }, Date.now, 0, { queryUnitsMax: 3 });
  await t.rejects(executor.run('big', query(COUNT), ['a', 'b', 'c', 'd']), { code: 'RESOURCE_LIMIT', status: 400, message: /at most 3 per query \(queryUnitsMax\)/ });
  t.equal(executor.queuedUnits, 0);
  t.same((await executor.run('ok', query(COUNT), ['a', 'b', 'c'])).missing, ['a', 'b', 'c']);
});

t.test('partials over responseBytesMax fail the query as they accumulate, before its other units run', async (t) => {
  const segs = segments(6, 50);
  const executor = new QueryExecutor({ get: async (id) => segs.get(id) ?? null }, Date.now, 0, { responseBytesMax: 5_000 });
  const ids = [...segs.keys()];
  await t.rejects(executor.run('scan', query(SCAN), ids), { code: 'RESOURCE_LIMIT', status: 400, message: /more than 5000 bytes \(responseBytesMax/ });
  t.ok(executor.unitsRun < ids.length, `stopped after ${executor.unitsRun} of ${ids.length} units`);
  t.equal(executor.queuedUnits, 0);
  const small = await executor.run('limited', query({ ...SCAN, limit: 5 }), ids.slice(0, 2));
  t.equal(small.partials.length, 2, 'a query within the bound is answered');
});

t.test('an aborted signal cancels the query and takes its units off the queue', async (t) => {
  const segs = segments(3);
  const held = gate();
  const executor = new QueryExecutor({ get: async (id) => held.opened.then(() => segs.get(id) ?? null) });
  const ac = new AbortController();
  const running = track(executor.run('q', query(COUNT), ['events_h0', 'events_h1', 'events_h2'], { signal: ac.signal }));
  await until(() => executor.queuedUnits === 2);
  ac.abort();
  t.ok(await until(() => running.settled));
  t.match(running.error, { code: 'QUERY_CANCELLED' });
  t.equal(executor.queuedUnits, 0);
  held.open();
  await t.rejects(executor.run('late', query(COUNT), ['events_h0'], { signal: ac.signal }), { code: 'QUERY_CANCELLED' }, 'an already aborted signal runs nothing');
});

t.test('a loop that fails (here: the clock throws) fails the queued queries instead of ending the process', async (t) => {
  const segs = segments(2);
  let broken = false;
  const executor = new QueryExecutor({ get: async (id) => segs.get(id) ?? null }, () => {
    if (broken) throw new Error('clock on fire');
    return Date.now();
  });
  const running = executor.run('q', query(COUNT, { timeout: 60_000 }), ['events_h0', 'events_h1']);
  // Broken after run() took its start time, before the loop (on a later turn) picks the query.
  broken = true;
  await t.rejects(running, { code: 'INTERNAL', message: /clock on fire/ });
  t.equal(executor.queuedUnits, 0);
  broken = false;
  t.equal((await executor.run('q2', query(COUNT), ['events_h0'])).partials.length, 1, 'the executor still answers');
});
