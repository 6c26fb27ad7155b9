/**
 * Heartbeat scheduling against a loopback HTTP server that stands in for the metadata group's
 * two worker endpoints (register, heartbeat) and records every beat.
 */
import t, { type Test } from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MetaClient } from '@cairn/client';
import { Heartbeat } from './heartbeat.js';

async function poll(what: string, timeoutMs: number, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

type Answer = (body: Record<string, unknown>) => void;

/**
 * A loopback stand-in for the metadata group: register (and anything else) is answered `{}` at
 * once; each heartbeat goes to `onBeat` with its URL and the function that answers it, so a test
 * can answer now or hold the beat. Closed when the test ends. Returns its URL.
 */
async function fakeLeader(t: Test, onBeat: (url: string, answer: Answer) => void): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const answer: Answer = (body) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(body));
      };
      if (!req.url!.includes('/heartbeat')) return answer({});
      onBeat(req.url!, answer);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A started heartbeat of worker w1 to `url` (stopped when the test ends); `onAssignments` gets each applied assignment list. */
function heartbeatTo(t: Test, url: string, periodMs: number, onAssignments: (segments: { id: string }[]) => void = () => {}): Heartbeat {
  const hb = new Heartbeat(
    new MetaClient([{ id: 'm1', url }], 'token'),
    { id: 'w1', url: 'http://127.0.0.1:1', tier: '_default_tier', dc: 'dc1', capacityBytes: 1e9, version: 'test' },
    periodMs,
    () => ({ loaded: [], loadQueue: 0, cacheBytes: 0, queuedUnits: 0, queryCounts: {}, latencyMs: { p50: 0, p99: 0 } }),
    onAssignments,
    () => {},
  );
  hb.start();
  t.teardown(() => hb.stop());
  return hb;
}

t.test('soon(): a beat well before the period, at most one per call, also when called during a beat', async (t) => {
  let beats = 0;
  let holdNext = false;
  let release: (() => void) | null = null;
  const url = await fakeLeader(t, (_url, answer) => {
    beats++;
    const reply = () => answer({ loadedHash: null, assignmentsHash: '' });
    if (holdNext) {
      holdNext = false;
      release = reply;
    } else reply();
  });
  // A period far longer than the test's deadlines: any second beat comes from soon().
  const hb = heartbeatTo(t, url, 3_600_000);
  await poll('the first beat', 10_000, () => beats === 1 && hb.lastOkAt > 0);

  hb.soon();
  await poll('an early beat', 10_000, () => beats === 2);
  t.pass('soon() beat long before the period');

  // Called while a beat is in flight: one more beat follows it.
  holdNext = true;
  hb.soon();
  await poll('the held beat to arrive', 10_000, () => release !== null);
  hb.soon();
  (release as unknown as () => void)();
  await poll('the beat after the held one', 10_000, () => beats === 4);
  t.equal(beats, 4, 'one beat for the call made during the held one');

  hb.stop();
  hb.soon();
  t.equal(beats, 4, 'a stopped heartbeat stays stopped');
});

t.test('a leader that holds beats: assignments arrive with the held answer, an early beat goes while one is held, and an answer older than one applied is ignored', async (t) => {
  const beats: { url: string; answer: Answer }[] = [];
  const url = await fakeLeader(t, (beatUrl, answer) => beats.push({ url: beatUrl, answer })); // every beat waits for the test
  const applied: string[][] = [];
  const seg = (id: string) => ({ id, dataSource: 'events', location: `k/${id}`, checksum: 'c'.repeat(64), size: 1 });
  // A period far longer than the deadlines: every beat after the first comes from soon() or a held answer.
  const hb = heartbeatTo(t, url, 3_600_000, (segments) => applied.push(segments.map((s) => s.id)));

  await poll('the first beat', 10_000, () => beats.length === 1);
  t.match(beats[0]!.url, /\?waitMs=\d+$/, 'a beat asks the leader to hold its answer');
  beats[0]!.answer({ loadedHash: null, assignmentsHash: 'h1', assignments: [seg('a')], version: [3, 10] });
  await poll('the first assignments', 10_000, () => applied.length === 1);
  t.same(applied, [['a']]);

  // Nothing is due for an hour, so a second beat comes only from soon(); the leader holds it.
  hb.soon();
  await poll('an early beat', 10_000, () => beats.length === 2);
  // An early beat while that one is held goes at once, without waiting for the held answer.
  hb.soon();
  await poll('a second beat while the first is held', 10_000, () => beats.length === 3);
  t.pass('an early beat does not wait behind a held one');
  // The newer beat is answered first (version 12), then the held one, computed earlier (11).
  beats[2]!.answer({ loadedHash: null, assignmentsHash: 'h3', assignments: [seg('a'), seg('c')], version: [3, 12] });
  await poll('the newer answer', 10_000, () => applied.length === 2);
  beats[1]!.answer({ loadedHash: null, assignmentsHash: 'h2', assignments: [seg('a'), seg('b')], version: [3, 11] });
  // A later beat (soon) shows the older answer has been read: the worker reports the newer hash.
  hb.soon();
  await poll('a beat after both answers', 10_000, () => beats.length === 4);
  t.same(applied, [['a'], ['a', 'c']], 'the older answer, arriving last, is ignored');
  t.match(beats[1]!.url, /&applied=3\.10$/, 'each beat names the newest answer applied when it left (its list is true as of that one)');
  t.match(beats[3]!.url, /&applied=3\.12$/, 'the older answer, ignored, is not named');
  // A new leader's term wins over any count of the old one's.
  beats[3]!.answer({ loadedHash: null, assignmentsHash: 'h4', assignments: [seg('d')], version: [4, 1] });
  await poll('the new term\'s answer', 10_000, () => applied.length === 3);
  t.same(applied.at(-1), ['d'], 'a higher term applies');
  hb.stop();
  for (const b of beats.slice(4)) b.answer({ loadedHash: null, assignmentsHash: 'h4', version: [4, 2] });
});

t.test('with a leader that holds beats, the next beat leaves a period after the last while that one is held, and at most two are on the way', async (t) => {
  const pending: Answer[] = [];
  let arrivals = 0;
  let mostPending = 0;
  const url = await fakeLeader(t, (_url, answer) => {
    arrivals++;
    pending.push(answer); // held until the test answers
    mostPending = Math.max(mostPending, pending.length);
  });
  const hb = heartbeatTo(t, url, 20); // a short period: the beats come from the timer
  let seq = 0;
  const answerOldest = () => pending.shift()!({ loadedHash: null, assignmentsHash: '', version: [1, ++seq] });

  await poll('the first beat', 10_000, () => pending.length === 1);
  answerOldest(); // a versioned answer: this leader holds beats
  await poll('two beats on the way at once', 10_000, () => pending.length === 2);
  t.pass('the next beat left while the one before it was held');
  answerOldest();
  await poll('a beat after one of the two was answered', 10_000, () => arrivals === 4);
  t.equal(pending.length, 2, 'again two on the way');
  hb.stop();
  while (pending.length > 0) answerOldest();
  t.equal(mostPending, 2, 'never more than two');
});
