/**
 * Heartbeat scheduling against a loopback HTTP server that stands in for the metadata group's
 * two worker endpoints (register, heartbeat) and records every beat.
 */
import t from 'tap';
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

t.test('soon(): a beat well before the period, at most one per call, also when called during a beat', async (t) => {
  let beats = 0;
  let holdNext = false;
  let release: (() => void) | null = null;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const answer = () => {
        res.setHeader('content-type', 'application/json');
        res.end(req.url!.endsWith('/heartbeat') ? JSON.stringify({ loadedHash: null, assignmentsHash: '' }) : '{}');
      };
      if (!req.url!.endsWith('/heartbeat')) return answer();
      beats++;
      if (holdNext) {
        holdNext = false;
        release = answer;
      } else answer();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const hb = new Heartbeat(
    new MetaClient([{ id: 'm1', url }], 'token'),
    { id: 'w1', url: 'http://127.0.0.1:1', tier: '_default_tier', dc: 'dc1', capacityBytes: 1e9, version: 'test' },
    // A period far longer than the test's deadlines: any second beat comes from soon().
    3_600_000,
    () => ({ loaded: [], loadQueue: 0, cacheBytes: 0, queuedUnits: 0, queryCounts: {}, latencyMs: { p50: 0, p99: 0 } }),
    () => {},
    () => {},
  );
  hb.start();
  t.teardown(() => hb.stop());
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
