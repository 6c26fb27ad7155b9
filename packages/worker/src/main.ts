import { serve } from '@hono/node-server';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { pino } from 'pino';
import { ConfigError, loadClusterConfig } from '@cairn/shared/config';
import { createDeepStorage } from '@cairn/shared/deep-storage';
import { CairnClient, MetaClient } from '@cairn/client';
import { druidEndpoint } from './druid-endpoint.js';
import { Heartbeat } from './heartbeat.js';
import { QueryExecutor } from './query-executor.js';
import { SegmentCache } from './segment-cache.js';
import { defaultMemoryBytes, machineMemoryBytes } from './memory-budget.js';
import { LOAD_CONCURRENCY_DEFAULT, SegmentStore } from './segment-store.js';
import { workerApp } from './worker-app.js';
import { WorkerMetrics } from './worker-metrics.js';

/**
 * cairn-worker: a stateless query worker.
 *   cairn-worker --config cluster.json --id w1 --listen 127.0.0.1:PORT --cache DIR \
 *                [--tier hot] [--dc dc1] [--capacity 10GB] [--memory 4GB] [--url http://host:port]
 * It holds nothing that matters: killed at any moment, it restarts, reuses the verified files in
 * its cache, and fetches only what is missing.
 */
export const WORKER_VERSION = '0.1.0';
const USAGE = 'usage: cairn-worker --config cluster.json --id w1 --listen HOST:PORT --cache DIR [--tier T] [--dc D] [--capacity 10GB] [--memory 4GB] [--url URL]';
const HEARTBEAT_MS = 1000;
const LOAD_CONCURRENCY = LOAD_CONCURRENCY_DEFAULT;

function parseArgs(argv: readonly string[]): Record<string, string> {
  const known = ['config', 'id', 'listen', 'cache', 'tier', 'dc', 'capacity', 'memory', 'url'];
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.startsWith('--') ? a.slice(2) : '';
    if (!known.includes(name)) throw new ConfigError(`unknown argument ${a}; ${USAGE}`);
    const v = argv[++i];
    if (v === undefined || v.startsWith('--')) throw new ConfigError(`--${name} needs a value; ${USAGE}`);
    out[name] = v;
  }
  for (const k of ['config', 'id', 'listen', 'cache']) if (!out[k]) throw new ConfigError(`missing --${k}; ${USAGE}`);
  return out;
}

/** "10GB", "512MiB", "2TB", "12345" → bytes; `flag` names the argument in the error. */
export function parseBytes(text: string, flag = '--capacity'): number {
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib|tb|tib)?$/i.exec(text.trim());
  if (!m) throw new ConfigError(`${flag}: cannot read ${JSON.stringify(text)} as a size (e.g. 10GB, 512MB)`);
  const unit = (m[2] ?? 'b').toLowerCase();
  const pow = { b: 0, kb: 1, kib: 1, mb: 2, mib: 2, gb: 3, gib: 3, tb: 4, tib: 4 }[unit]!;
  return Math.floor(Number(m[1]) * 1024 ** pow);
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const config = loadClusterConfig(a['config']!);
  const id = a['id']!;
  if (!/^[A-Za-z0-9_.:-]{1,255}$/.test(id)) throw new ConfigError(`--id ${JSON.stringify(id)}: 1-255 letters, digits, "_", "-", "." or ":"`);
  const [host, portText] = a['listen']!.split(/:(?=\d+$)/);
  const port = Number(portText);
  if (!host || !Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--listen ${a['listen']}: expected HOST:PORT`);
  const capacityBytes = parseBytes(a['capacity'] ?? '10GB');
  const memoryArg = a['memory'];
  const machineBytes = machineMemoryBytes();
  const memoryBytes = memoryArg === undefined ? defaultMemoryBytes(capacityBytes, machineBytes) : parseBytes(memoryArg, '--memory');
  if (memoryArg !== undefined && memoryBytes < 1024 ** 2) throw new ConfigError(`--memory ${memoryArg}: at least 1MB is needed to hold a decoded segment`);
  const log = pino({ level: process.env['CAIRN_LOG_LEVEL'] ?? 'info', base: { worker: id }, timestamp: pino.stdTimeFunctions.isoTime });

  const cache = new SegmentCache(resolve(a['cache']!), capacityBytes);
  const scanned = cache.scan();
  const metrics = new WorkerMetrics();
  const store = new SegmentStore(cache, createDeepStorage(config.deepStorage), { loadConcurrencyMax: LOAD_CONCURRENCY, decodedBytesMax: memoryBytes }, {
    onLoaded: () => metrics.loads.inc(),
    onProgress: () => heartbeat?.soon(),
    onDrained: () => heartbeat?.soon(),
    onDecoded: () => metrics.decodes.inc(),
    onDecodedEvicted: () => metrics.decodedEvictions.inc(),
    onError: (segment, err) => {
      metrics.loadErrors.inc();
      log.warn({ segment, err: err.message }, 'segment problem');
    },
  });
  const executor = new QueryExecutor(store, Date.now, Number(process.env['CAIRN_FAULT_UNIT_DELAY_MS'] ?? 0));
  // Read at every scrape, not set by the heartbeat: current even while registration fails.
  metrics.memoryBytes.set(memoryBytes);
  metrics.watch({
    segmentsLoaded: () => store.loadedIds().length,
    segmentsAssigned: () => store.assignedCount,
    loadQueue: () => store.queueLength,
    cacheBytes: () => store.cacheBytes,
    queuedUnits: () => executor.queuedUnits,
    decodedBytes: () => store.decodedBytesHeld,
  });
  let heartbeat: Heartbeat | null = null;
  const status = () => ({
    id,
    version: WORKER_VERSION,
    assigned: store.assignedCount,
    loaded: store.loadedIds().length,
    loadQueue: store.queueLength,
    cacheBytes: store.cacheBytes,
    capacityBytes,
    memoryBytes,
    queuedUnits: executor.queuedUnits,
    heartbeatFailures: heartbeat?.failures ?? 0,
    // Since this process started: files found in the cache, and what had to come from deep storage.
    cachedAtStart: scanned.files,
    segmentsFetched: store.loadsDone,
    bytesFetched: store.bytesLoaded,
    decodedBytes: store.decodedBytesHeld,
    decodes: store.decodes,
    decodedEvictions: store.decodedEvictions,
  });
  // The broker role: this worker's own client fans Druid queries out to every worker.
  const client = new CairnClient({ members: config.meta, token: config.auth.token, dc: a['dc'] ?? 'dc1' });
  const app = workerApp({ id, executor, metrics, status, extend: (h) => druidEndpoint(h, client, id) });
  const server = serve({ fetch: app.fetch, hostname: host, port });
  await new Promise<void>((res, rej) => {
    server.once('listening', () => res());
    server.once('error', rej);
  });
  const bound = (server.address() as AddressInfo).port;
  const url = a['url'] ?? `http://${host}:${bound}`;

  const meta = new MetaClient(config.meta, config.auth.token);
  heartbeat = new Heartbeat(meta, {
    id, url, tier: a['tier'] ?? '_default_tier', dc: a['dc'] ?? 'dc1', capacityBytes, version: WORKER_VERSION,
  }, HEARTBEAT_MS, () => {
    const loaded = store.loadedIds();
    const counts = Object.fromEntries(executor.segmentQueries);
    executor.segmentQueries.clear();
    const lat = [...executor.latenciesMs].sort((x, y) => x - y);
    return {
      loaded,
      loadQueue: store.queueLength,
      cacheBytes: store.cacheBytes,
      queuedUnits: executor.queuedUnits,
      queryCounts: counts,
      latencyMs: { p50: lat[Math.floor(lat.length / 2)] ?? 0, p99: lat[Math.floor(lat.length * 0.99)] ?? 0 },
    };
  }, (segments) => store.reconcile(segments), (msg, fields) => log.warn(fields ?? {}, msg));
  heartbeat.start();
  log.info({ url, port: bound, cachedFiles: scanned.files, cachedBytes: scanned.bytes, capacityBytes, memoryBytes, version: WORKER_VERSION }, 'cairn-worker listening');
  // Allowed (the machine may be shared differently later), but worth a word.
  if (memoryBytes > machineBytes) log.warn({ memoryBytes, machineBytes }, '--memory is more than this machine (or container) has');

  const stop = (signal: string) => {
    log.info({ signal }, 'shutting down');
    heartbeat?.stop();
    server.close();
    (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
    process.exit(0);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`cairn-worker: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`cairn-worker: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
