import t from 'tap';
import { WorkerMetrics } from './worker-metrics.js';

/** The value of an unlabelled gauge in a Prometheus text scrape. */
function value(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

t.test('the store and queue gauges are read at each scrape, without a heartbeat setting them (stale or 0 while registration fails)', async (t) => {
  const metrics = new WorkerMetrics();
  const now = { loaded: 3, assigned: 5, loadQueue: 2, cacheBytes: 4096, queued: 7, decoded: 1234 };
  metrics.watch({
    segmentsLoaded: () => now.loaded,
    segmentsAssigned: () => now.assigned,
    loadQueue: () => now.loadQueue,
    cacheBytes: () => now.cacheBytes,
    queuedUnits: () => now.queued,
    decodedBytes: () => now.decoded,
  });
  const expect = async (label: string) => {
    const text = await metrics.registry.metrics();
    t.same(
      ['cairn_worker_segments_loaded', 'cairn_worker_segments_assigned', 'cairn_worker_load_queue', 'cairn_worker_cache_bytes', 'cairn_worker_query_units_queued', 'cairn_worker_decoded_bytes'].map((n) => value(text, n)),
      [now.loaded, now.assigned, now.loadQueue, now.cacheBytes, now.queued, now.decoded],
      label,
    );
  };
  await expect('first scrape');
  Object.assign(now, { loaded: 4, loadQueue: 0, cacheBytes: 8192, queued: 0 });
  await expect('a later scrape sees the new values');
});

t.test('a worker whose metadata group is unreachable reports its cache on /metrics all the same', async (t) => {
  const { spawn } = await import('node:child_process');
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const dir = t.testdir();
  const config = join(dir, 'cluster.json');
  // Nothing listens on port 1: registration and every heartbeat fail.
  writeFileSync(config, JSON.stringify({ meta: [{ id: 'm1', url: 'http://127.0.0.1:1', dc: 'dc1' }], auth: { token: 'metrics-test-token' } }));
  const cache = join(dir, 'cache');
  mkdirSync(cache);
  writeFileSync(join(cache, `${'ab'.repeat(32)}.arrow`), Buffer.alloc(1000));
  const bin = new URL('../bin/cairn-worker.mjs', import.meta.url).pathname;
  const child = spawn(process.execPath, [bin, '--config', config, '--id', 'w1', '--listen', '127.0.0.1:0', '--cache', cache], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill());
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.resume();
  const deadline = Date.now() + 60_000;
  let port: number | undefined;
  // Polls its log for the listening line, which names the port.
  while (port === undefined && Date.now() < deadline && child.exitCode === null) {
    const m = /"port":(\d+)/.exec(out);
    if (m) port = Number(m[1]);
    else await new Promise((r) => setTimeout(r, 20));
  }
  t.ok(port, 'the worker is listening');
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  t.equal(value(text, 'cairn_worker_cache_bytes'), 1000, 'the cached file counts');
});
