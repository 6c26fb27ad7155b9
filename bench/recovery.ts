/**
 * Recovery after losing a worker, against the raw read bandwidth of deep storage (issue 5):
 *   pnpm exec tsx bench/recovery.ts
 * A local cluster (three cairn-meta, three cairn-worker processes on loopback, local deep
 * storage), about 1 GiB of seeded synthetic events in 200 hourly segments written with
 * `writeSegment` and published for real, two replicas of each. In the same run, over exactly the
 * files the victim holds (the bytes the recovery will move): the raw read bandwidth of deep storage
 * through `deep.get` (cold and warm, at one worker's load concurrency and at two workers'), the
 * worker's whole load path in-process (SegmentCache.download: deep storage's download, hashing as
 * it writes, on its copy threads; the check; the rename), and two diagnostics (the previous load
 * path: get, sha-256 on the event loop, write, rename; read and hash only); then SIGKILL of one
 * worker with a zero grace period and the time until the coordinator reports every segment fully
 * replicated again, under a bounded query load (a fixed number a second by default, or closed
 * loops) whose answers are checked against a baseline. Judged: bytes re-fetched over the time from the coordinator's decision (the first poll
 * at which its status shows the loss: the cycle that commits the new assignments, so delivering
 * them to every survivor is counted) to the coordinator's report of full replication, against the
 * better of the two raw reads (>= 80%), and zero failed, wrong or skipped queries. Prints every figure; see
 * bench/README.md.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { Worker } from 'node:worker_threads';
import { CairnClient } from '@cairn/client';
import { formatInstant } from '@cairn/shared';
import type { DimensionColumn, MetricSpec } from '@cairn/shared';
import { loadClusterConfig } from '@cairn/shared/config';
import { createDeepStorage, DEFAULT_LOCAL_LIMITS, LocalDeepStorage, segmentKey } from '@cairn/shared/deep-storage';
import type { DeepStorage } from '@cairn/shared/deep-storage';
import { writeSegment } from '@cairn/shared/segment';
import { freePorts, LocalCluster, poll } from '../packages/client/src/quickstart/local-cluster.js';
import { envNumber, guardCluster, load, mib, prng, runBench, say, sayTable, secs, statusOf } from './lib/run.js';
import { SegmentCache } from '../packages/worker/src/segment-cache.js';
import type { AssignedSegment } from '../packages/worker/src/segment-cache.js';
import { LOAD_CONCURRENCY_DEFAULT } from '../packages/worker/src/segment-store.js';

// ------------------------------------------------------------------ configuration
const env = process.env;
const num = (name: string, dflt: number) => envNumber(name, dflt);
const CFG = {
  seed: num('BENCH_SEED', 5),
  segments: num('BENCH_SEGMENTS', 200),
  rowsPerSegment: num('BENCH_ROWS_PER_SEGMENT', 118_000),
  replicas: 2,
  /**
   * The query load during the recovery: queries a second sent at a fixed pace (open loop), or,
   * with `BENCH_QUERY_RATE=0`, closed-loop clients that send the next query as soon as the last
   * is answered. A fixed pace does the same query work whatever the workers' speed, so runs
   * compare; closed loops take whatever CPU the loads leave (a faster worker answers more).
   */
  queryRate: num('BENCH_QUERY_RATE', 20),
  queryClients: num('BENCH_QUERY_CLIENTS', 2),
  queriesMax: num('BENCH_QUERIES_MAX', 10_000),
  recoveryTimeoutMs: num('BENCH_RECOVERY_TIMEOUT_SECONDS', 300) * 1000,
  /** 'cold': deep storage's files are evicted from the page cache before the raw pass and before the kill. */
  cache: (env['BENCH_CACHE'] ?? 'cold') as 'cold' | 'warm',
  keep: env['BENCH_KEEP'] === '1',
  /** Local deep storage's `directIo` for the cluster (and the in-process load path); absent: the default. */
  directIo: env['BENCH_DIRECT_IO'] === undefined ? undefined : env['BENCH_DIRECT_IO'] === '1',
  victim: env['BENCH_VICTIM'] ?? 'w2',
};
if (CFG.cache !== 'cold' && CFG.cache !== 'warm') throw new Error('BENCH_CACHE must be cold or warm');
/** The coordinator's settings for this run (printed); each can be overridden by environment. */
const COORDINATOR = {
  periodMs: num('BENCH_PERIOD_MS', 250),
  heartbeatTimeoutMs: num('BENCH_HEARTBEAT_TIMEOUT_MS', 2000),
  gracePeriodMs: num('BENCH_GRACE_MS', 0),
  replicationThrottleLimit: num('BENCH_REPLICATION_THROTTLE', 500),
  loadQueueMax: num('BENCH_LOAD_QUEUE_MAX', 100),
};
const TOKEN = 'bench-recovery-token';
const DS = 'events';
const HOUR = 3_600_000;
const T0 = Date.UTC(2024, 0, 1);
const VERSION = formatInstant(Date.UTC(2024, 5, 1));
const MiB = 1024 * 1024;
const UPLOAD_CONCURRENCY = 4;
const POLL_MS = 100;
const TARGET_RATIO = 0.8;

const rate = (bytes: number, ms: number) => (ms > 0 ? bytes / MiB / (ms / 1000) : Number.NaN);
const fmtRate = (r: number) => `${r.toFixed(0)} MiB/s`;

// ------------------------------------------------------------------ lifecycle
const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-recovery-'));
let cluster: LocalCluster | null = null;
const cleanup = guardCluster(dir, CFG.keep, () => cluster);

// ------------------------------------------------------------------ data
interface DimDef { readonly name: string; readonly cardinality: number; readonly label: (k: number) => string; readonly pick: (r: () => number) => number }
const DEVICES = ['desktop', 'mobile', 'tablet', 'tv'];
/** Skewed like real traffic: a product of two uniforms favours low codes (country, product). */
const DIMS: readonly DimDef[] = [
  { name: 'country', cardinality: 50, label: (k) => `c${String(k).padStart(2, '0')}`, pick: (r) => Math.floor(r() * r() * 50) },
  { name: 'device', cardinality: 4, label: (k) => DEVICES[k]!, pick: (r) => Math.floor(r() ** 2 * 4) },
  { name: 'product', cardinality: 2000, label: (k) => `p${String(k).padStart(4, '0')}`, pick: (r) => Math.floor(r() * r() * 2000) },
  { name: 'user', cardinality: 100_000, label: (k) => `u${String(k).padStart(5, '0')}`, pick: (r) => Math.floor(r() * 100_000) },
];
const METRICS: MetricSpec[] = [
  { name: 'count', type: 'count' },
  { name: 'amount', type: 'longSum', fieldName: 'amount' },
  { name: 'score', type: 'doubleSum', fieldName: 'score' },
];

interface Truth { readonly rows: number; readonly amount: number; readonly scoreQuarters: number }
interface Generated { readonly record: Record<string, unknown>; readonly bytes: Uint8Array; readonly checksum: string; readonly key: string; readonly truth: Truth }

/**
 * Segment `index`: hour T0 + index, `rows` events with evenly spaced times, four dimensions
 * (per-segment sorted dictionaries of the values present, as ingestion writes them), a long
 * `amount` and a double `score` in quarters (so every sum is exact whatever the merge order).
 */
function generate(seed: number, index: number, rows: number): Generated {
  const r = prng(Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b));
  const start = T0 + index * HOUR;
  const time = new Float64Array(rows);
  const amount = new Float64Array(rows);
  const score = new Float64Array(rows);
  const raw = DIMS.map(() => new Int32Array(rows));
  let amountSum = 0;
  let quarters = 0;
  for (let i = 0; i < rows; i++) {
    time[i] = start + Math.floor((i * HOUR) / rows);
    for (let d = 0; d < DIMS.length; d++) raw[d]![i] = DIMS[d]!.pick(r);
    const a = Math.floor(r() * 10_000);
    const q = Math.floor(r() * 4000);
    amount[i] = a;
    score[i] = q / 4;
    amountSum += a;
    quarters += q;
  }
  const dimensions: DimensionColumn[] = DIMS.map((d, di) => {
    const values = raw[di]!;
    const present = new Uint8Array(d.cardinality);
    for (let i = 0; i < rows; i++) present[values[i]!] = 1;
    const codeOf = new Int32Array(d.cardinality);
    const dictionary: string[] = [];
    for (let k = 0; k < d.cardinality; k++) {
      if (present[k]) {
        codeOf[k] = dictionary.length;
        dictionary.push(d.label(k));
      }
    }
    const codes = new Int32Array(rows);
    for (let i = 0; i < rows; i++) codes[i] = codeOf[values[i]!]!;
    return { name: d.name, codes, dictionary, hasNulls: false };
  });
  const w = writeSegment({
    dataSource: DS, start, end: start + HOUR, version: VERSION, partition: 0, partitions: 1, rollup: false, queryGranularity: 'none',
    time, dimensions,
    metrics: [
      { name: 'amount', type: 'long', values: amount, hasNulls: false, spec: METRICS[1]! },
      { name: 'score', type: 'double', values: score, hasNulls: false, spec: METRICS[2]! },
    ],
  });
  const key = segmentKey(DS, w.checksum);
  const record = {
    id: w.id, dataSource: DS, start: w.meta.start, end: w.meta.end, version: w.meta.version, partition: 0, partitions: 1,
    size: w.bytes.length, rows: w.meta.rowCount,
    schema: { dimensions: w.meta.dimensions, metrics: w.meta.metrics, rollup: w.meta.rollup, queryGranularity: w.meta.queryGranularity, formatVersion: w.meta.formatVersion },
    checksum: w.checksum, location: key,
  };
  return { record, bytes: w.bytes, checksum: w.checksum, key, truth: { rows, amount: amountSum, scoreQuarters: quarters } };
}

// ------------------------------------------------------------------ cluster helpers
interface WorkerStatus { assigned: number; loaded: number; loadQueue: number; cacheBytes: number; cachedAtStart: number; segmentsFetched: number; bytesFetched: number; decodes: number; decodedEvictions: number }
interface CoordinatorView {
  cycles: number;
  stats: { segments: number; unavailable: number; underReplicated: number; loads: number; drops: number; moves: number; replicasDeferred: number; workers: { id: string; loadQueue: number; loads: number }[] } | null;
  workers: { id: string; lastHeartbeatAgoMs: number | null; loaded: number; loadQueue: number }[];
}

const workerStatus = (url: string) => statusOf<WorkerStatus>(url);

/** The leader's serving view (what clients route by): per segment, the live workers that report it loaded. Updated by every heartbeat, not per cycle. */
async function servingView(client: CairnClient): Promise<{ segments: { loadedOn: string[] }[] } | null> {
  try {
    return await client.meta.request<{ segments: { loadedOn: string[] }[] }>('GET', `/v1/timeline?dataSource=${DS}`);
  } catch {
    return null;
  }
}

async function coordinator(client: CairnClient): Promise<CoordinatorView | null> {
  try {
    return (await client.coordinatorStatus()) as unknown as CoordinatorView;
  } catch {
    return null;
  }
}

function fullyReplicated(s: CoordinatorView | null, segments: number, workers: readonly string[]): boolean {
  if (!s?.stats || s.stats.segments < segments || s.stats.unavailable > 0 || s.stats.underReplicated > 0) return false;
  const live = s.workers.filter((w) => workers.includes(w.id));
  return live.every((w) => w.loadQueue === 0) && live.reduce((a, w) => a + w.loaded, 0) >= segments * CFG.replicas;
}

/** CPU milliseconds of each thread of `pid` so far, by "tid:name" (Linux /proc, in ticks of 10 ms). */
function threadTimes(pid: number | null): Map<string, number> {
  const out = new Map<string, number>();
  if (pid === null) return out;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const comm = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      out.set(`${tid}:${comm}`, (Number(f[11]) + Number(f[12])) * 10);
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

// ------------------------------------------------------------------ deep storage passes
/** Reads every key once through `deep.get` with `concurrency` reads in flight. */
async function readAll(deep: DeepStorage, keys: readonly string[], concurrency: number): Promise<{ bytes: number; ms: number }> {
  let next = 0;
  let bytes = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < keys.length) {
      const n = (await deep.get(keys[next++]!)).byteLength;
      bytes += n;
    }
  }));
  return { bytes, ms: performance.now() - t0 };
}

/**
 * A reader thread for the direct raw pass: reads each file it is sent with O_DIRECT into one
 * aligned buffer (found by trying offsets, as the copy threads do) and answers its size.
 */
const DIRECT_READER = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const raw = Buffer.allocUnsafeSlow((1 << 20) + 4096);
let at = -1;
parentPort.on('message', (path) => {
  let fd = -1;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_DIRECT);
    for (let o = 0; at < 0 && o < 4096; o += 16) {
      try { if (fs.readSync(fd, raw, o, 4096, 0) === 4096) at = o; else break; } catch (e) { if (e.code !== 'EINVAL') throw e; }
    }
    if (at < 0) throw new Error('no aligned buffer for O_DIRECT');
    const end = fs.fstatSync(fd).size;
    let size = 0;
    while (size < end) {
      const n = fs.readSync(fd, raw, at, 1 << 20, size);
      if (n === 0) break;
      size += n;
    }
    parentPort.postMessage({ size });
  } catch (e) {
    parentPort.postMessage({ error: String(e && e.message) });
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
});
`;

/**
 * Reads every file with O_DIRECT on `concurrency` threads (bypassing the page cache), or says
 * why it cannot (a file system without O_DIRECT, or tmpfs, where it would only copy memory).
 */
async function readAllDirect(paths: readonly string[], concurrency: number): Promise<{ bytes: number; ms: number } | { unavailable: string }> {
  if (paths.length === 0) return { unavailable: 'no files' };
  if (statfsSync(paths[0]!).type === 0x01021994) return { unavailable: 'deep storage is on tmpfs' };
  const threads = Array.from({ length: concurrency }, () => new Worker(DIRECT_READER, { eval: true }));
  const ask = (w: Worker, path: string) => new Promise<number>((res, rej) => {
    const onExit = (code: number) => rej(new Error(`reader thread exited (${code})`));
    w.once('exit', onExit);
    w.once('error', rej);
    w.once('message', (m: { size?: number; error?: string }) => {
      w.off('exit', onExit);
      w.off('error', rej);
      if (m.error !== undefined) rej(new Error(m.error));
      else res(m.size!);
    });
    w.postMessage(path);
  });
  try {
    // One file each first, untimed, so thread start-up is not counted (and the buffer is aligned).
    await Promise.all(threads.map((w) => ask(w, paths[0]!)));
    let next = 0;
    let bytes = 0;
    const t0 = performance.now();
    await Promise.all(threads.map(async (w) => {
      while (next < paths.length) {
        const n = await ask(w, paths[next++]!);
        bytes += n;
      }
    }));
    return { bytes, ms: performance.now() - t0 };
  } catch (err) {
    return { unavailable: (err as Error).message };
  } finally {
    await Promise.all(threads.map((w) => w.terminate()));
  }
}

/** Drops each file's pages from the page cache (posix_fadvise DONTNEED through GNU dd); returns the bytes still resident. */
function evict(files: readonly string[]): number {
  for (const f of files) {
    const r = spawnSync('dd', [`if=${f}`, 'iflag=nocache', 'count=0', 'status=none']);
    if (r.status !== 0) throw new Error(`dd could not evict ${f}: ${r.stderr.toString()}`);
  }
  return resident(files);
}

/** Bytes of these files in the page cache (util-linux fincore). */
function resident(files: readonly string[]): number {
  let sum = 0;
  for (let i = 0; i < files.length; i += 100) {
    const r = spawnSync('fincore', ['--bytes', '--noheadings', '--raw', '-o', 'RES', ...files.slice(i, i + 100)]);
    if (r.status !== 0) throw new Error(`fincore failed: ${r.stderr.toString()}`);
    for (const line of r.stdout.toString().trim().split('\n')) sum += Number(line) || 0;
  }
  return sum;
}

/**
 * The load path done differently, for the diagnostics only: 'previous' as workers loaded before
 * (the whole object read into memory with deep.get, sha-256 on the event loop, written to a
 * temporary file, renamed), 'hash' only its read and checksum (nothing written).
 */
class PartialCache {
  constructor(readonly dir: string, readonly mode: 'previous' | 'hash') {
    mkdirSync(dir, { recursive: true });
  }

  async download(s: AssignedSegment, deep: DeepStorage): Promise<number> {
    const bytes = await deep.get(s.location);
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== s.checksum || bytes.length !== s.size) throw new Error(`segment ${s.id}: bytes differ from the catalog's`);
    if (this.mode === 'hash') return bytes.length;
    const tmp = join(this.dir, `.${s.checksum}.tmp`);
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(bytes);
    } finally {
      await fh.close();
    }
    await rename(tmp, join(this.dir, `${s.checksum}.arrow`));
    return bytes.length;
  }
}

/**
 * The worker's load path without the cluster: SegmentCache.download into `caches` fresh caches,
 * each with its own deep storage client (a survivor's, with its own copy threads), `concurrency`
 * loads each, the segments dealt out alternately, as two survivors share a recovery. The other
 * modes do something else (see PartialCache).
 */
async function loadPath(root: string, segments: readonly AssignedSegment[], caches: number, concurrency: number, scratch: string, mode: 'worker' | 'previous' | 'hash'): Promise<{ bytes: number; ms: number }> {
  const stores = Array.from({ length: caches }, (_, i) => ({
    cache: mode === 'worker' ? new SegmentCache(join(scratch, `cache-${i}`), 1 << 40) : new PartialCache(join(scratch, `cache-${i}`), mode),
    deep: new LocalDeepStorage({ type: 'local', path: root, directIo: CFG.directIo }),
  }));
  const shares = stores.map((_, i) => segments.filter((_, j) => j % caches === i));
  let bytes = 0;
  const t0 = performance.now();
  await Promise.all(stores.flatMap(({ cache, deep }, i) => {
    const share = shares[i]!;
    let next = 0;
    return Array.from({ length: concurrency }, async () => {
      while (next < share.length) {
        const n = await cache.download(share[next++]!, deep);
        bytes += n;
      }
    });
  }));
  const ms = performance.now() - t0;
  rmSync(scratch, { recursive: true, force: true });
  spawnSync('sync'); // the next pass starts with nothing left to write back
  return { bytes, ms };
}

// ------------------------------------------------------------------ queries
interface BenchQuery { readonly name: string; readonly query: Record<string, unknown>; readonly truth?: Truth }

/** Seeded 6-hour windows, each as a timeseries (checked against the generator's sums too) and a groupBy on device. */
function makeQueries(seed: number, segments: number, truths: readonly Truth[]): BenchQuery[] {
  const r = prng(seed ^ 0x5eed);
  const out: BenchQuery[] = [];
  const span = Math.min(6, segments);
  for (let i = 0; i < 12; i++) {
    const first = Math.floor(r() * (segments - span + 1));
    const interval = `${formatInstant(T0 + first * HOUR)}/${formatInstant(T0 + (first + span) * HOUR)}`;
    const slice = truths.slice(first, first + span);
    const truth = { rows: slice.reduce((a, t) => a + t.rows, 0), amount: slice.reduce((a, t) => a + t.amount, 0), scoreQuarters: slice.reduce((a, t) => a + t.scoreQuarters, 0) };
    out.push({
      name: `timeseries ${interval}`,
      truth,
      query: {
        queryType: 'timeseries', dataSource: DS, intervals: [interval], granularity: 'all',
        aggregations: [{ type: 'count', name: 'rows' }, { type: 'longSum', name: 'amount', fieldName: 'amount' }, { type: 'doubleSum', name: 'score', fieldName: 'score' }],
      },
    });
    out.push({
      name: `groupBy device ${interval}`,
      query: {
        queryType: 'groupBy', dataSource: DS, intervals: [interval], granularity: 'all', dimensions: ['device'],
        aggregations: [{ type: 'count', name: 'rows' }, { type: 'longSum', name: 'amount', fieldName: 'amount' }],
      },
    });
  }
  return out;
}

function checkTruth(q: BenchQuery, answer: unknown[]): string | null {
  if (!q.truth) return null;
  const got = (answer[0] as { result?: { rows: number; amount: number; score: number } } | undefined)?.result;
  const want = { rows: q.truth.rows, amount: q.truth.amount, score: q.truth.scoreQuarters / 4 };
  return got && got.rows === want.rows && got.amount === want.amount && got.score === want.score ? null : `${q.name}: got ${JSON.stringify(got)}, the generator says ${JSON.stringify(want)}`;
}

interface LoadOutcome { asked: number; ok: number; failed: string[]; wrong: string[]; latenciesMs: number[]; skipped: number }

/** Compares one answer with the baseline and records it. */
async function askOne(client: CairnClient, q: BenchQuery, want: unknown[], o: LoadOutcome, startedAt: number): Promise<void> {
  try {
    const answer = await client.query(q.query);
    o.latenciesMs.push(performance.now() - startedAt);
    if (isDeepStrictEqual(answer, want)) o.ok++;
    else o.wrong.push(`${q.name}: ${JSON.stringify(answer).slice(0, 200)}`);
  } catch (err) {
    o.failed.push(`${q.name}: ${(err as Error).message}`);
  }
}

/** Queries in flight at most under the fixed pace; a query due while this many are out is skipped (and counted). */
const PACED_IN_FLIGHT_MAX = 32;

/**
 * `rate` queries a second over the queries in turn, each sent at its due time whatever the ones
 * before it are doing (an open loop), until `stop()`, at most `max` in all. Latency counts from
 * the due time, so a late start is not hidden (no coordinated omission).
 */
function pacedLoad(client: CairnClient, queries: readonly BenchQuery[], baseline: readonly unknown[][], rate: number, max: number) {
  const o: LoadOutcome = { asked: 0, ok: 0, failed: [], wrong: [], latenciesMs: [], skipped: 0 };
  const inFlight = new Set<Promise<void>>();
  const t0 = performance.now();
  let sent = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const due = (n: number) => t0 + (n * 1000) / rate;
  const pump = (): void => {
    if (stopped) return;
    const now = performance.now();
    while (sent < max && due(sent) <= now) {
      const dueAt = due(sent);
      const q = queries[sent % queries.length]!;
      const want = baseline[sent % queries.length]!;
      sent++;
      if (inFlight.size >= PACED_IN_FLIGHT_MAX) {
        o.skipped++;
        continue;
      }
      o.asked++;
      const p = askOne(client, q, want, o, dueAt).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    if (sent < max) timer = setTimeout(pump, Math.max(0, due(sent) - performance.now()));
  };
  pump();
  return {
    outcome: o,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await Promise.all(inFlight);
    },
  };
}

function loadName(): string {
  return CFG.queryRate > 0 ? `queries at ${CFG.queryRate} a second, open loop` : `${CFG.queryClients} closed-loop query clients`;
}

/** `clients` closed loops over the queries in turn until `stop()`, at most `max` queries in all. */
function queryLoad(client: CairnClient, queries: readonly BenchQuery[], baseline: readonly unknown[][], clients: number, max: number) {
  const o: LoadOutcome = { asked: 0, ok: 0, failed: [], wrong: [], latenciesMs: [], skipped: 0 };
  let stop = false;
  let next = 0;
  const loops = Array.from({ length: clients }, async () => {
    while (!stop && o.asked < max) {
      const i = next++ % queries.length;
      o.asked++;
      await askOne(client, queries[i]!, baseline[i]!, o, performance.now());
    }
  });
  return { outcome: o, stop: async () => { stop = true; await Promise.all(loops); } };
}

// ------------------------------------------------------------------ the run
async function main(): Promise<void> {
  say(`recovery benchmark: ${CFG.segments} segments x ${CFG.rowsPerSegment.toLocaleString('en-US')} rows, seed ${CFG.seed}, ${CFG.replicas} replicas on 3 workers`);
  say(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load average ${load()}; folder ${dir}`);
  const ports = await freePorts(6);
  cluster = new LocalCluster({ dir, metaPorts: ports.slice(0, 3), workerPorts: ports.slice(3, 6), token: TOKEN, workerCapacity: '4GB', ...(CFG.directIo === undefined ? {} : { directIo: CFG.directIo }) });
  const c = cluster;
  c.writeConfig();
  for (const id of c.metaIds) c.start(id);
  const leader = await c.waitLeader();
  say(`metadata group up, leader ${leader}`);
  const client = CairnClient.fromClusterFile(c.configPath, { dc: 'dc1' });
  await client.setCoordinatorConfig(COORDINATOR);
  await client.setRules(DS, [{ type: 'loadForever', tieredReplicants: { _default_tier: CFG.replicas } }]);
  say(`coordinator config: ${JSON.stringify(COORDINATOR)} (other keys at their defaults); worker heartbeat and load concurrency: the worker's defaults (load concurrency ${LOAD_CONCURRENCY_DEFAULT}); deep storage directIo: ${CFG.directIo === undefined ? 'the default' : CFG.directIo}`);
  for (const id of c.workerIds) c.start(id);
  await Promise.all(c.workerIds.map((id) => c.waitUp(id)));
  await poll('every worker to heartbeat to the coordinator', 60_000, async () => {
    const s = await coordinator(client);
    return s && c.workerIds.every((id) => s.workers.some((w) => w.id === id && w.lastHeartbeatAgoMs !== null)) ? true : undefined;
  });
  say(`workers up: ${c.workerIds.map((id) => `${id} ${c.node(id).url}`).join(', ')}`);

  // 1. Data: generated, written to deep storage, published in one publish.
  const config = loadClusterConfig(c.configPath);
  const deep = createDeepStorage(config.deepStorage);
  if (!(deep instanceof LocalDeepStorage)) throw new Error('this benchmark needs local deep storage');
  let t0 = performance.now();
  const records: Record<string, unknown>[] = [];
  const truths: Truth[] = [];
  const keys: string[] = [];
  const sizes: number[] = [];
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; i < CFG.segments; i++) {
    const g = generate(CFG.seed, i, CFG.rowsPerSegment);
    records.push(g.record);
    truths.push(g.truth);
    keys.push(g.key);
    sizes.push(g.bytes.length);
    const p = deep.put(g.key, g.bytes, g.checksum).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= UPLOAD_CONCURRENCY) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  await client.meta.request('POST', '/v1/segments/publish', { ingestionId: `bench-recovery-${CFG.seed}`, segments: records }, { idempotent: true });
  const totalBytes = sizes.reduce((a, b) => a + b, 0);
  const sorted = [...sizes].sort((a, b) => a - b);
  say(`seed ${CFG.seed}: ${CFG.segments} segments, ${(CFG.segments * CFG.rowsPerSegment).toLocaleString('en-US')} rows, ${mib(totalBytes)} (${totalBytes.toLocaleString('en-US')} bytes) in deep storage; segment sizes min ${mib(sorted[0]!)}, median ${mib(sorted[sorted.length >> 1]!)}, max ${mib(sorted[sorted.length - 1]!)}; generated, written and published in ${secs(performance.now() - t0)}`);

  t0 = performance.now();
  await poll(`${CFG.segments} segments loaded ${CFG.replicas} times`, 600_000, async () => (fullyReplicated(await coordinator(client), CFG.segments, c.workerIds) ? true : undefined), 200);
  const initialMs = performance.now() - t0;
  say(`initial load: every segment on ${CFG.replicas} workers after ${secs(initialMs)} (${mib(totalBytes * CFG.replicas)} fetched by 3 workers: ${fmtRate(rate(totalBytes * CFG.replicas, initialMs))}, from publication to the coordinator's report)`);

  // 2. Baseline answers.
  const queries = makeQueries(CFG.seed, CFG.segments, truths);
  const baseline: unknown[][] = [];
  for (const q of queries) {
    const a = await client.query(q.query);
    const bad = checkTruth(q, a);
    if (bad) throw new Error(`baseline disagrees with the generated data: ${bad}`);
    baseline.push(a);
  }
  const fullInterval = `${formatInstant(T0)}/${formatInstant(T0 + CFG.segments * HOUR)}`;
  const fullQuery: BenchQuery = {
    name: 'timeseries over everything',
    truth: { rows: truths.reduce((a, t) => a + t.rows, 0), amount: truths.reduce((a, t) => a + t.amount, 0), scoreQuarters: truths.reduce((a, t) => a + t.scoreQuarters, 0) },
    query: { ...queries[0]!.query, intervals: [fullInterval] },
  };
  t0 = performance.now();
  const fullBefore = await client.query(fullQuery.query);
  const fullBad = checkTruth(fullQuery, fullBefore);
  if (fullBad) throw new Error(fullBad);
  say(`baseline: ${queries.length} window queries (6-hour windows: timeseries checked against the generator's exact sums, groupBy device) and one over all ${CFG.segments} segments (${secs(performance.now() - t0)}), all as generated`);

  // 3. What the victim holds: the bytes the recovery must move. The raw reads and the in-process
  // load paths below read exactly these files, so every reference covers the same bytes.
  const files = keys.map((k) => join(deep.root, k));
  const survivors = c.workerIds.filter((id) => id !== CFG.victim);
  const held = (await client.meta.request<{ assignments: { segmentId: string }[] }>('GET', `/v1/assignments?workerId=${CFG.victim}`)).assignments.map((a) => a.segmentId);
  const heldSet = new Set(held);
  const heldSegments: AssignedSegment[] = records.filter((r) => heldSet.has(r['id'] as string)).map((r) => ({ id: r['id'] as string, dataSource: DS, location: r['location'] as string, checksum: r['checksum'] as string, size: r['size'] as number }));
  const heldBytes = heldSegments.reduce((a, s) => a + s.size, 0);
  const heldKeys = heldSegments.map((s) => s.location);
  const heldFiles = heldKeys.map((k) => join(deep.root, k));

  // 4. Raw read bandwidth of deep storage, through the same API as the workers, in this run.
  const raw: Record<string, { bytes: number; ms: number; residentBefore: number }> = {};
  for (const [name, concurrency, cold] of [['cold x1', LOAD_CONCURRENCY_DEFAULT, true], ['warm x1', LOAD_CONCURRENCY_DEFAULT, false], ['cold x2', LOAD_CONCURRENCY_DEFAULT * survivors.length, true], ['warm x2', LOAD_CONCURRENCY_DEFAULT * survivors.length, false]] as const) {
    const residentBefore = cold ? evict(heldFiles) : resident(heldFiles);
    const r = await readAll(deep, heldKeys, concurrency);
    raw[name] = { ...r, residentBefore };
    say(`raw deep storage read of ${CFG.victim}'s ${heldKeys.length} files, ${cold ? 'cold' : 'warm'} (${mib(residentBefore)} of ${mib(heldBytes)} in the page cache before), ${concurrency} reads in flight: ${mib(r.bytes)} in ${secs(r.ms)} = ${fmtRate(rate(r.bytes, r.ms))}`);
  }
  // The same files read with O_DIRECT (from the disk, past the page cache, into one reused
  // buffer per thread): what the disk gives to a reader that does not fill the page cache.
  for (const concurrency of [LOAD_CONCURRENCY_DEFAULT, LOAD_CONCURRENCY_DEFAULT * survivors.length]) {
    const r = await readAllDirect(heldFiles, concurrency);
    if ('unavailable' in r) {
      say(`raw deep storage read with O_DIRECT, ${concurrency} threads: not measured (${r.unavailable})`);
      continue;
    }
    raw[`direct x${concurrency / LOAD_CONCURRENCY_DEFAULT}`] = { ...r, residentBefore: 0 };
    say(`raw deep storage read of the same files with O_DIRECT, ${concurrency} threads: ${mib(r.bytes)} in ${secs(r.ms)} = ${fmtRate(rate(r.bytes, r.ms))}`);
  }

  // The worker load path over the same files, in-process, and the diagnostics.
  const coldness = (files: readonly string[]) => (CFG.cache === 'cold' ? evict(files) : resident(files));
  let pathRes = coldness(heldFiles);
  const path = await loadPath(deep.root, heldSegments, survivors.length, LOAD_CONCURRENCY_DEFAULT, join(dir, 'scratch'), 'worker');
  say(`worker load path in-process (SegmentCache.download: read, sha-256 and write in one pass on deep storage's copy threads, check, rename), ${CFG.cache} (${mib(pathRes)} resident before), ${survivors.length} caches x ${LOAD_CONCURRENCY_DEFAULT} loads in this one process: ${heldSegments.length} segments, ${mib(path.bytes)} in ${secs(path.ms)} = ${fmtRate(rate(path.bytes, path.ms))}`);
  pathRes = coldness(heldFiles);
  const pathPrevious = await loadPath(deep.root, heldSegments, survivors.length, LOAD_CONCURRENCY_DEFAULT, join(dir, 'scratch'), 'previous');
  say(`the previous load path (diagnostic: deep.get, sha-256 on the event loop, write, rename), ${CFG.cache} (${mib(pathRes)} resident before): ${mib(pathPrevious.bytes)} in ${secs(pathPrevious.ms)} = ${fmtRate(rate(pathPrevious.bytes, pathPrevious.ms))}`);
  pathRes = coldness(heldFiles);
  const pathHash = await loadPath(deep.root, heldSegments, survivors.length, LOAD_CONCURRENCY_DEFAULT, join(dir, 'scratch'), 'hash');
  say(`deep.get and sha-256 only, nothing written (diagnostic), ${CFG.cache} (${mib(pathRes)} resident before): ${mib(pathHash.bytes)} in ${secs(pathHash.ms)} = ${fmtRate(rate(pathHash.bytes, pathHash.ms))}`);

  // 5. The failure.
  const residentAtKill = CFG.cache === 'cold' ? evict(files) : resident(files);
  say(`${CFG.victim} holds ${held.length} segments (${mib(heldBytes)}); deep storage files ${CFG.cache === 'cold' ? 'evicted from' : 'left in'} the page cache (${mib(residentAtKill)} resident); load average ${load()}`);
  const loadClient = CairnClient.fromClusterFile(c.configPath, { dc: 'dc1' });
  for (const q of queries.slice(0, 4)) await loadClient.query(q.query); // its timeline, warm
  const before = new Map<string, WorkerStatus>();
  for (const id of survivors) before.set(id, (await workerStatus(c.node(id).url))!);
  const qload = CFG.queryRate > 0
    ? pacedLoad(loadClient, queries, baseline, CFG.queryRate, CFG.queriesMax)
    : queryLoad(loadClient, queries, baseline, CFG.queryClients, CFG.queriesMax);
  const killedAt = performance.now();
  const cpuBefore = new Map(survivors.map((id) => [id, threadTimes(c.pid(id))]));
  await c.kill(CFG.victim);
  say(`SIGKILL ${CFG.victim}; ${loadName()} running (at most ${CFG.queriesMax} queries)`);

  const ev: Record<string, number | null> = { downSeen: null, assigned: null, firstFetch: null, fetched: null, served: null, replicated: null };
  /** Per survivor: the first poll showing it new assignments, and the first showing it holds everything. */
  const assignedAt = new Map<string, number>();
  const drainedAt = new Map<string, number>();
  const since = () => performance.now() - killedAt;
  let maxQueueReported = 0;
  let maxQueuePlanned = 0;
  let maxQueueWorker = 0;
  const samples: { ms: number; bytes: number }[] = [];
  let lastPrint = 0;
  while (ev['replicated'] === null) {
    if (since() > CFG.recoveryTimeoutMs) throw new Error(`not fully replicated ${CFG.recoveryTimeoutMs / 1000} s after the kill`);
    const [s, tl, ...sts] = await Promise.all([coordinator(client), servingView(client), ...survivors.map((id) => workerStatus(c.node(id).url))]);
    const now = since();
    if (ev['served'] === null && tl && tl.segments.length >= CFG.segments && tl.segments.every((x) => x.loadedOn.filter((w) => survivors.includes(w)).length >= CFG.replicas)) ev['served'] = now;
    const st = new Map<string, WorkerStatus>();
    survivors.forEach((id, i) => { if (sts[i]) st.set(id, sts[i]!); });
    if (s?.stats) {
      if (ev['downSeen'] === null && s.stats.underReplicated > 0) ev['downSeen'] = now;
      for (const w of s.workers) if (survivors.includes(w.id)) maxQueueReported = Math.max(maxQueueReported, w.loadQueue);
      for (const w of s.stats.workers ?? []) if (survivors.includes(w.id)) maxQueuePlanned = Math.max(maxQueuePlanned, w.loadQueue);
    }
    if (st.size === survivors.length) {
      let assigned = 0;
      let fetchedSegs = 0;
      let bytes = 0;
      for (const id of survivors) {
        const a = st.get(id)!;
        const b = before.get(id)!;
        assigned += a.assigned - b.assigned;
        fetchedSegs += a.segmentsFetched - b.segmentsFetched;
        bytes += a.bytesFetched - b.bytesFetched;
        maxQueueWorker = Math.max(maxQueueWorker, a.loadQueue);
        if (!assignedAt.has(id) && a.assigned > b.assigned) assignedAt.set(id, now);
        if (!drainedAt.has(id) && a.loaded === CFG.segments && a.loadQueue === 0) drainedAt.set(id, now);
      }
      samples.push({ ms: now, bytes });
      if (ev['assigned'] === null && assigned > 0) ev['assigned'] = now;
      if (ev['firstFetch'] === null && fetchedSegs > 0) ev['firstFetch'] = now;
      if (ev['fetched'] === null && survivors.every((id) => st.get(id)!.loaded === CFG.segments && st.get(id)!.loadQueue === 0)) ev['fetched'] = now;
      if (now - lastPrint >= 1000) {
        lastPrint = now;
        say(`  +${secs(now)}: fetched ${mib(bytes)}; ${survivors.map((id) => `${id} loaded ${st.get(id)!.loaded} queue ${st.get(id)!.loadQueue}`).join(', ')}; coordinator: ${s?.stats ? `unavailable ${s.stats.unavailable}, under-replicated ${s.stats.underReplicated}` : 'no status'}; queries ${qload.outcome.asked} (${qload.outcome.failed.length} failed)`);
      }
    }
    if (ev['fetched'] !== null && fullyReplicated(s, CFG.segments, survivors)) ev['replicated'] = now;
    else await new Promise((r) => setTimeout(r, POLL_MS));
  }
  const cpuSpent = survivors.map((id) => {
    const pid = c.pid(id);
    const now = threadTimes(pid);
    const was = cpuBefore.get(id)!;
    const spent = [...now].map(([k, v]) => [k, v - (was.get(k) ?? 0)] as const);
    const main = spent.filter(([k]) => k.startsWith(`${pid}:`)).reduce((x, [, v]) => x + v, 0);
    const others = spent.filter(([k, v]) => !k.startsWith(`${pid}:`) && v > 0).map(([, v]) => v).sort((x, y) => y - x);
    return `${id} main thread ${main} ms, other threads ${others.reduce((x, v) => x + v, 0)} ms (${others.slice(0, 6).join(', ')}${others.length > 6 ? ', ...' : ''})`;
  });
  await qload.stop();
  const lo = qload.outcome;

  const after = new Map<string, WorkerStatus>();
  for (const id of survivors) after.set(id, (await workerStatus(c.node(id).url))!);
  const refetched = survivors.map((id) => ({ id, segments: after.get(id)!.segmentsFetched - before.get(id)!.segmentsFetched, bytes: after.get(id)!.bytesFetched - before.get(id)!.bytesFetched }));
  const refetchedBytes = refetched.reduce((a, f) => a + f.bytes, 0);
  // Every answer once more, after the recovery.
  const afterAnswers = [];
  for (const q of queries) afterAnswers.push(await client.query(q.query));
  const sameAfter = afterAnswers.every((a, i) => isDeepStrictEqual(a, baseline[i]));
  const fullAfter = await client.query(fullQuery.query);
  const fullSame = isDeepStrictEqual(fullAfter, fullBefore);

  // ------------------------------------------------------------------ report
  const at = (k: string) => ev[k] ?? Number.NaN;
  let peak = 0;
  for (let i = 0, j = 0; i < samples.length; i++) {
    while (samples[i]!.ms - samples[j]!.ms > 1000) j++;
    if (samples[i]!.ms - samples[j]!.ms >= 500) peak = Math.max(peak, rate(samples[i]!.bytes - samples[j]!.bytes, samples[i]!.ms - samples[j]!.ms));
  }
  // The raw bandwidth of deep storage: the best of its reads in the cache state the recovery
  // meets (one worker's loads in flight, and both survivors'), through the page cache or past it.
  const rawX1 = raw[`${CFG.cache} x1`]!;
  const rawX2 = raw[`${CFG.cache} x2`]!;
  const rawD1 = raw['direct x1'];
  const rawD2 = raw['direct x2'];
  const rawBw = Math.max(...[rawX1, rawX2, rawD1, rawD2].map((r) => (r ? rate(r.bytes, r.ms) : 0)));
  const judged = [
    { name: 'recovery: coordinator decision -> fully replicated (judged)', ms: at('replicated') - at('downSeen') },
    { name: 'recovery: SIGKILL -> fully replicated (detection included)', ms: at('replicated') },
    { name: 'recovery: first survivor holds new assignments -> fully replicated (judged before 12-06 05:00)', ms: at('replicated') - at('assigned') },
    { name: 'recovery: coordinator decision -> serving view shows both replicas', ms: at('served') - at('downSeen') },
    { name: 'recovery: coordinator decision -> survivors hold everything', ms: at('fetched') - at('downSeen') },
  ].map((r) => ({ ...r, rate: rate(refetchedBytes, r.ms) }));
  const pct = (r: number) => `${((r / rawBw) * 100).toFixed(0)}% of raw`;
  const verdict = (r: number) => (r >= TARGET_RATIO * rawBw ? 'met' : 'MISSED');
  const lat = [...lo.latenciesMs].sort((a, b) => a - b);
  const p = (q: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(q * lat.length))]!.toFixed(0) : '-');
  say('');
  say('timeline after the SIGKILL (polled every 100 ms):');
  say(`  coordinator reports under-replicated segments   +${secs(at('downSeen'))}   (its decision: the same cycle commits the new assignments; heartbeatTimeoutMs ${COORDINATOR.heartbeatTimeoutMs}, gracePeriodMs ${COORDINATOR.gracePeriodMs}, periodMs ${COORDINATOR.periodMs})`);
  say(`  a survivor holds new assignments                +${secs(at('assigned'))}   (the decision, as the first survivor to hear of it sees it)`);
  say(`  first segment re-fetched                        +${secs(at('firstFetch'))}`);
  say(`  survivors have every segment, queues empty      +${secs(at('fetched'))}`);
  say(`  the leader's serving view shows both replicas    +${secs(at('served'))}   (the timeline clients route by: as of the survivors' heartbeats)`);
  say(`  coordinator reports fully replicated            +${secs(at('replicated'))}   (${secs(at('replicated') - at('fetched'))} after the survivors: their next heartbeats, then a cycle)`);
  say(`  per survivor: ${survivors.map((id) => `${id} new assignments +${secs(assignedAt.get(id) ?? Number.NaN)}, holds everything +${secs(drainedAt.get(id) ?? Number.NaN)}`).join('; ')}`);
  say(`re-fetched: ${refetched.map((f) => `${f.id} ${f.segments} segments ${mib(f.bytes)}`).join(', ')} = ${mib(refetchedBytes)} (${CFG.victim} held ${held.length} segments, ${mib(heldBytes)})`);
  say(`largest load queue: ${maxQueueWorker} seen on a survivor's /v1/status, ${maxQueueReported} in its heartbeats, ${maxQueuePlanned} planned by the coordinator; loadQueueMax ${COORDINATOR.loadQueueMax}, replicationThrottleLimit ${COORDINATOR.replicationThrottleLimit}`);
  say(`queries during the recovery (${loadName()}): ${lo.asked} asked${lo.skipped > 0 ? ` (${lo.skipped} skipped: ${PACED_IN_FLIGHT_MAX} already in flight)` : ''}, ${lo.ok} identical to the baseline, ${lo.failed.length} failed, ${lo.wrong.length} wrong; latency p50 ${p(0.5)} ms, p99 ${p(0.99)} ms, max ${p(1)} ms; client retries ${loadClient.stats.retries}`);
  for (const f of lo.failed.slice(0, 5)) say(`  failed: ${f}`);
  for (const w of lo.wrong.slice(0, 5)) say(`  wrong: ${w}`);
  say(`after the recovery: the ${queries.length} window queries ${sameAfter ? 'identical' : 'DIFFER'}, the query over everything ${fullSame ? 'identical' : 'DIFFERS'}`);
  say(`segment files decoded for queries from the SIGKILL until the load stopped: ${survivors.map((id) => `${id} ${after.get(id)!.decodes - before.get(id)!.decodes} (${after.get(id)!.decodedEvictions - before.get(id)!.decodedEvictions} decoded segments evicted)`).join(', ')}`);
  say(`CPU from the SIGKILL to full replication: ${cpuSpent.join('; ')} (two of the other threads are the copy threads; most of the rest are V8's garbage collection helpers)`);
  say(`load average ${load()}`);
  say('');
  const rows: [string, string, string, string][] = [
    [`raw deep storage read, ${CFG.cache}, ${LOAD_CONCURRENCY_DEFAULT} in flight (one worker's loads)`, fmtRate(rate(rawX1.bytes, rawX1.ms)), '', ''],
    [`raw deep storage read, ${CFG.cache}, ${LOAD_CONCURRENCY_DEFAULT * survivors.length} in flight (both survivors' loads)`, fmtRate(rate(rawX2.bytes, rawX2.ms)), '', ''],
    [`raw deep storage read, O_DIRECT, ${LOAD_CONCURRENCY_DEFAULT} threads`, rawD1 ? fmtRate(rate(rawD1.bytes, rawD1.ms)) : 'not measured', '', ''],
    [`raw deep storage read, O_DIRECT, ${LOAD_CONCURRENCY_DEFAULT * survivors.length} threads`, rawD2 ? fmtRate(rate(rawD2.bytes, rawD2.ms)) : 'not measured', '', ''],
    ['raw: the best of these (the reference)', fmtRate(rawBw), '', ''],
    [`worker load path in-process, ${survivors.length} x ${LOAD_CONCURRENCY_DEFAULT} loads (${DEFAULT_LOCAL_LIMITS.copyThreadsMax} copy threads each) in one process`, fmtRate(rate(path.bytes, path.ms)), pct(rate(path.bytes, path.ms)), 'the survivors are two processes'],
    ['  the previous load path: get, sha-256 on the event loop, write (diagnostic)', fmtRate(rate(pathPrevious.bytes, pathPrevious.ms)), pct(rate(pathPrevious.bytes, pathPrevious.ms)), ''],
    ['  get and sha-256 only, nothing written (diagnostic)', fmtRate(rate(pathHash.bytes, pathHash.ms)), pct(rate(pathHash.bytes, pathHash.ms)), ''],
    ...judged.map((r): [string, string, string, string] => [r.name, `${fmtRate(r.rate)} (${mib(refetchedBytes)} in ${secs(r.ms)})`, pct(r.rate), verdict(r.rate)]),
    ['recovery: best 1 s window', fmtRate(peak), pct(peak), ''],
    ...refetched.map((f): [string, string, string, string] => {
      const ms = (drainedAt.get(f.id) ?? Number.NaN) - (assignedAt.get(f.id) ?? Number.NaN);
      return [`  ${f.id} alone: its new assignments -> it holds everything (diagnostic)`, `${fmtRate(rate(f.bytes, ms))} (${mib(f.bytes)} in ${secs(ms)})`, '', ''];
    }),
    // A query the paced load could not send (too many in flight) counts against the target too.
    ['failed, wrong or skipped queries during the recovery', String(lo.failed.length + lo.wrong.length + lo.skipped), `of ${lo.asked + lo.skipped}`, lo.failed.length + lo.wrong.length + lo.skipped === 0 ? 'met' : 'MISSED'],
  ];
  sayTable(['figure', 'value', 'vs raw', `target: >= ${TARGET_RATIO * 100}% of raw, zero failed queries`], rows);
}

runBench(main, cleanup, () => cluster);
