import { mock } from 'node:test';
import t, { type Test } from 'tap';
import { until } from '@cairn/shared/testing';
import type { MetaClient } from '../meta-client.js';
import { TimelineView } from './timeline-view.js';
import type { ServedSegment, ServingWorker } from './timeline-view.js';

/** A metadata client whose timeline fetches wait until the test answers them, in order. */
function fakeMeta() {
  const calls: { resolve: (body: { segments: ServedSegment[]; workers: ServingWorker[] }) => void; reject: (err: Error) => void }[] = [];
  const meta = {
    getIfChanged: () => new Promise((resolve, reject) => calls.push({ resolve: (body) => resolve({ notModified: false, etag: `"${calls.length}"`, body }), reject })),
  } as unknown as MetaClient;
  return { meta, calls };
}

const seg = (id: string, start: number, end: number, version: string, partition = 0): ServedSegment =>
  ({ id, dataSource: 'ds', start, end, version, partition, size: 1, loadedOn: ['w1'], assignedTo: ['w1'] });
const worker = (id: string, live: boolean): ServingWorker => ({ id, url: `http://${id}`, tier: 't', dc: 'd', state: 'active', live });
const ALL = [{ start: 0, end: 1000 }];

/**
 * Fake timers, so that a test can pass the 50 ms a query gives a refresh of a view it already
 * has before it answers from that view: a query waiting on the first fetch must not take it.
 */
function fakeTimers(t: Test): void {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.teardown(() => mock.timers.reset());
}
const turn = () => new Promise((r) => setImmediate(r));

t.test('queries arriving during the first fetch wait for it', async (t) => {
  fakeTimers(t);
  const { meta, calls } = fakeMeta();
  const view = new TimelineView(meta, 60_000);
  const a = view.segments('ds', ALL);
  const b = view.segments('ds', ALL);
  t.equal(calls.length, 1, 'one fetch for both');
  mock.timers.tick(1000);
  await turn();
  calls[0]!.resolve({ segments: [seg('s1', 0, 100, 'v1')], workers: [worker('w1', true)] });
  t.same((await a).map((s) => s.id), ['s1']);
  t.same((await b).map((s) => s.id), ['s1'], 'the second query saw the segments too');
});

t.test('a failed first fetch fails every query waiting on it; the next one fetches again', async (t) => {
  fakeTimers(t);
  const { meta, calls } = fakeMeta();
  const view = new TimelineView(meta, 60_000);
  const a = view.segments('ds', ALL);
  const b = view.segments('ds', ALL);
  mock.timers.tick(1000);
  await turn();
  calls[0]!.reject(new Error('meta down'));
  await t.rejects(a, /meta down/);
  await t.rejects(b, /meta down/, 'not an empty answer');
  const c = view.segments('ds', ALL);
  t.equal(calls.length, 2, 'a second fetch');
  calls[1]!.resolve({ segments: [seg('s1', 0, 100, 'v1')], workers: [worker('w1', true)] });
  t.same((await c).map((s) => s.id), ['s1']);
});

t.test('segments partly covered by newer ones carry their visible stretches', async (t) => {
  const { meta, calls } = fakeMeta();
  const view = new TimelineView(meta, 60_000);
  const p = view.segments('ds', ALL);
  await until('the fetch', () => calls.length > 0);
  calls[0]!.resolve({
    segments: [
      seg('day', 0, 100, 'v1'), seg('hour', 30, 40, 'v2'),
      seg('a', 100, 200, 'v1'), seg('a-new', 100, 200, 'v3'),
      // v2 lists partitions 0 and 2 only: a gap, so incomplete, and it covers nothing.
      seg('b', 200, 300, 'v1'), seg('b-new0', 250, 260, 'v2', 0), seg('b-new2', 250, 260, 'v2', 2),
    ],
    workers: [worker('w1', true)],
  });
  const got = new Map((await p).map((s) => [s.id, s.visible]));
  t.same(got.get('day'), [{ start: 0, end: 30 }, { start: 40, end: 100 }]);
  t.equal(got.get('hour'), undefined, 'whole: no clip');
  t.notOk(got.has('a'), 'fully covered: dropped');
  t.equal(got.get('b'), undefined, 'an incomplete newer group clips nothing');
  t.notOk(got.has('b-new0') || got.has('b-new2'), 'and is not read itself: its rows would be counted beside b\'s');
  t.same((await view.segments('ds', [{ start: 30, end: 40 }])).map((s) => s.id), ['hour'], 'a segment whose visible part misses the query is left out');
});

t.test('a group is complete by the partition count the timeline sends, not by its listed partitions', async (t) => {
  const { meta, calls } = fakeMeta();
  const view = new TimelineView(meta, 60_000);
  const p = view.segments('ds', ALL);
  await until('the fetch', () => calls.length > 0);
  calls[0]!.resolve({
    segments: [
      // v2 of [0, 10) has two partitions, and its last was marked unused: 0 alone is listed.
      seg('old', 0, 10, 'v1'), { ...seg('new0', 0, 10, 'v2', 0), partitions: 2 },
      // v2 of [10, 20) lists both of its two partitions: complete.
      seg('old2', 10, 20, 'v1'), { ...seg('new10', 10, 20, 'v2', 0), partitions: 2 }, { ...seg('new11', 10, 20, 'v2', 1), partitions: 2 },
    ],
    workers: [worker('w1', true)],
  });
  const ids = (await p).map((s) => s.id).sort();
  t.ok(ids.includes('old'), 'an incomplete newer group (one of two partitions) leaves the older visible');
  t.notOk(ids.includes('new0'), 'and is not read');
  t.notOk(ids.includes('old2'), 'a complete one covers it');
});

t.test('a view listing no worker live leaves every worker a candidate', async (t) => {
  const { meta, calls } = fakeMeta();
  let clock = 0;
  const view = new TimelineView(meta, 1000, () => clock);
  const p = view.segments('ds', ALL);
  await until('the fetch', () => calls.length > 0);
  calls[0]!.resolve({ segments: [seg('s1', 0, 100, 'v1')], workers: [worker('w1', true), worker('w2', false)] });
  await p;
  t.equal(view.worker('w2')!.live, false, 'some live: taken at its word');
  clock = 5000; // stale: the next query refreshes
  const q = view.segments('ds', ALL);
  await until('the refresh', () => calls.length > 1);
  calls[1]!.resolve({ segments: [seg('s1', 0, 100, 'v1')], workers: [worker('w1', false), worker('w2', false)] });
  await q;
  await until('the new view', () => view.worker('w2')!.live);
  t.same(view.allWorkers().map((w) => w.live), [true, true], 'none live: liveness unknown');
});
