import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { loadClusterConfig } from '@cairn/shared/config';
import { createDeepStorage } from '@cairn/shared/deep-storage';
import { CairnClient } from '../cairn-client.js';
import { formatTable } from '../cli/table.js';
import { CliError, parseFlags } from '../cli/flags.js';
import { runIngestion } from '../ingest/ingest.js';
import { createProgress } from '../ingest/progress.js';
import { parseIngestionSpec } from '../ingest/spec.js';
import { flightsQueries, flightsSpec } from './flights.js';
import type { QuickstartQuery } from './flights.js';
import { freePorts, LocalCluster, poll, portInUse, workspaceRoot } from './local-cluster.js';

export const QUICKSTART_USAGE = 'cairn quickstart [--dir var/quickstart] [--port 7101|auto] [--rows N]';

const TOKEN = 'quickstart-token';
const REPLICAS = 2;
/** Short timings so the failure shows within seconds (production keeps minutes of grace). */
const COORDINATOR = { periodMs: 500, heartbeatTimeoutMs: 2000, gracePeriodMs: 5000 };
const RECOVERY_TIMEOUT_MS = 180_000;
/** After the restart, how long to watch the coordinator give the returning worker work again. */
const REBALANCE_WATCH_MS = 10_000;
const MARKER = '.cairn-quickstart';

interface WorkerStatus { loaded: number; cachedAtStart: number; segmentsFetched: number; bytesFetched: number }
interface CoordinatorView {
  stats: { segments: number; unavailable: number; underReplicated: number; moves: number } | null;
  workers: { id: string; lastHeartbeatAgoMs: number | null; loaded: number; loadQueue: number }[];
}

const out = (s = '') => process.stdout.write(`${s}\n`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const mib = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MiB`;
const indent = (text: string) => text.split('\n').map((l) => `    ${l}`).join('\n');

/**
 * `cairn quickstart` (the README's first command): a local cluster of three metadata nodes and
 * three workers as child processes, the flights data ingested, a few queries, then a worker
 * killed and restarted while the answers stay the same, with what the coordinator did about it.
 * The cluster stays up afterwards, its URLs printed, until Ctrl-C stops every process.
 */
export async function quickstartCommand(argv: readonly string[]): Promise<number> {
  const { flags, positional } = parseFlags(argv, { dir: 'string', port: 'string', rows: 'string' }, QUICKSTART_USAGE);
  if (positional.length > 0) throw new CliError(`unexpected argument ${positional[0]}; usage: ${QUICKSTART_USAGE}`);
  const dir = resolve(typeof flags.dir === 'string' ? flags.dir : 'var/quickstart');
  const rows = typeof flags.rows === 'string' ? Number(flags.rows) : null;
  if (rows !== null && (!Number.isInteger(rows) || rows < 1)) throw new CliError(`--rows must be a positive integer, not ${JSON.stringify(flags.rows)}`);
  const parquet = join(workspaceRoot(), 'node_modules/vega-datasets/data/flights-3m.parquet');
  if (!existsSync(parquet)) throw new CliError(`the flights data is missing (${parquet}); run pnpm install first`);
  const ports = await choosePorts(typeof flags.port === 'string' ? flags.port : '7101');
  prepareDir(dir);

  const cluster = new LocalCluster({ dir, metaPorts: ports.slice(0, 3), workerPorts: ports.slice(3, 6), token: TOKEN, workerCapacity: '4GB' });
  let stopping = false;
  const shutdown = async (why: string, code: number) => {
    if (stopping) return;
    stopping = true;
    out(`\n${why}: stopping every process...`);
    await cluster.stopAll();
    rmSync(join(dir, 'pids.json'), { force: true });
    out(`stopped. The data stays in ${dir} (the next quickstart starts afresh there).`);
    // Once the last lines are out: on a pipe, process.exit() drops what is still queued.
    process.stdout.write('', () => process.exit(code));
  };
  process.on('SIGINT', () => void shutdown('Ctrl-C', 0));
  process.on('SIGTERM', () => void shutdown('SIGTERM', 0));

  try {
    await demo(cluster, dir, parquet, rows);
  } catch (err) {
    out(`\nthe quickstart failed: ${err instanceof Error ? err.message : String(err)}`);
    out(`the nodes' logs are in ${dir}`);
    await shutdown('failure', 1);
    return 1;
  }
  out('');
  out('The cluster keeps running:');
  for (const id of [...cluster.metaIds, ...cluster.workerIds]) {
    const n = cluster.node(id);
    out(`  ${id.padEnd(3)} ${n.kind.padEnd(6)} ${n.url.padEnd(24)} pid ${cluster.pid(id) ?? '-'}  log ${n.logFile}`);
  }
  const w1 = cluster.node('w1').url;
  writeFileSync(join(dir, 'busiest.json'), `${JSON.stringify(flightsQueries(0)[1]!.query, null, 2)}\n`);
  out('');
  out('Try:');
  out(`  curl -s -XPOST '${w1}/druid/v2?pretty' -H 'content-type: application/json' -d @${join(dir, 'busiest.json')}`);
  out(`  pnpm cairn status --config ${cluster.configPath}`);
  out(`  pnpm cairn query --config ${cluster.configPath} ${join(dir, 'busiest.json')}`);
  out(`  kill -9 ${cluster.pid('w3') ?? '<pid of w3>'}   # and query again`);
  out('');
  out('Press Ctrl-C to stop every process.');
  // Stay up, and say so if a node dies on its own (a killed worker is the user's experiment).
  const reported = new Set<string>();
  setInterval(() => {
    for (const id of [...cluster.metaIds, ...cluster.workerIds]) {
      if (!cluster.running(id) && !reported.has(id) && !stopping) {
        reported.add(id);
        out(`(${id} has exited; its log: ${cluster.node(id).logFile})`);
      }
    }
  }, 1000);
  return new Promise<number>(() => {});
}

async function choosePorts(spec: string): Promise<number[]> {
  if (spec === 'auto') return freePorts(6);
  const base = Number(spec);
  if (!Number.isInteger(base) || base < 1024 || base > 65_000) throw new CliError(`--port must be a port between 1024 and 65000, or auto; not ${JSON.stringify(spec)}`);
  const ports = [base, base + 1, base + 2, base + 100, base + 101, base + 102];
  for (const p of ports) {
    if (await portInUse(p)) throw new CliError(`port ${p} is in use (another Cairn?); stop it, or pass --port auto or another first port`);
  }
  return ports;
}

/** A fresh folder each run; it must be one the quickstart made, never someone else's files. */
function prepareDir(dir: string): void {
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new CliError(`${dir} is not a folder`);
    const marked = existsSync(join(dir, MARKER));
    if (!marked && readdirSync(dir).length > 0) throw new CliError(`${dir} holds files the quickstart did not make; pass --dir with an empty or new folder`);
    const pidsFile = join(dir, 'pids.json');
    if (existsSync(pidsFile)) {
      const pids = Object.entries(JSON.parse(readFileSync(pidsFile, 'utf8')) as Record<string, number>).filter(([, pid]) => alive(pid));
      if (pids.length > 0) throw new CliError(`a quickstart is already running in ${dir} (${pids.map(([id, pid]) => `${id} pid ${pid}`).join(', ')}); stop it with Ctrl-C where it runs`);
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function demo(cluster: LocalCluster, dir: string, parquet: string, rows: number | null): Promise<void> {
  out('Cairn quickstart: three metadata nodes and three query workers on this machine, on real data.');
  out(`Everything lives in ${dir}.`);
  out('');

  out('1. The metadata group (Raft over LevelDB)');
  cluster.writeConfig();
  writeFileSync(join(dir, MARKER), 'made by cairn quickstart; removed and recreated by the next run\n');
  let t0 = performance.now();
  for (const id of cluster.metaIds) cluster.start(id);
  recordPids(cluster, dir);
  const leader = await cluster.waitLeader();
  for (const id of cluster.metaIds) out(`   ${id}  ${cluster.node(id).url}  pid ${cluster.pid(id)}${id === leader ? '  (leader)' : ''}`);
  out(`   leader elected in ${secs(performance.now() - t0)}`);
  const client = CairnClient.fromClusterFile(cluster.configPath, { dc: 'dc1' });
  await client.setCoordinatorConfig(COORDINATOR);
  await client.setRules('flights', [{ type: 'loadForever', tieredReplicants: { _default_tier: REPLICAS } }]);
  out(`   rules for "flights": ${REPLICAS} replicas of every segment; coordinator: a cycle every ${COORDINATOR.periodMs} ms, a worker is down after ${COORDINATOR.heartbeatTimeoutMs / 1000} s of silence and its segments move after a ${COORDINATOR.gracePeriodMs / 1000} s grace period`);
  out('');

  out('2. Three stateless query workers');
  t0 = performance.now();
  for (const id of cluster.workerIds) cluster.start(id);
  recordPids(cluster, dir);
  await Promise.all(cluster.workerIds.map((id) => cluster.waitUp(id)));
  await poll('every worker to heartbeat to the coordinator', 30_000, async () => {
    const s = await coordinator(client);
    return s && cluster.workerIds.every((id) => s.workers.some((w) => w.id === id && w.lastHeartbeatAgoMs !== null)) ? true : undefined;
  });
  for (const id of cluster.workerIds) out(`   ${id}  ${cluster.node(id).url}  pid ${cluster.pid(id)}`);
  out(`   registered and heartbeating in ${secs(performance.now() - t0)}`);
  out('');

  out(`3. Ingesting ${rows === null ? 'the 3,000,000 flights' : `the first ${rows.toLocaleString('en-US')} flights`} of vega-datasets' flights-3m.parquet`);
  const config = loadClusterConfig(cluster.configPath);
  const report = await runIngestion({
    spec: parseIngestionSpec(flightsSpec(parquet, rows)),
    baseDir: dir,
    stdin: process.stdin,
    deepStorage: createDeepStorage(config.deepStorage),
    meta: client.meta,
    progress: createProgress(process.stdout),
  });
  out(`   ${report.rowsRead.toLocaleString('en-US')} rows in ${report.segments} daily segments (${mib(report.bytes)} of Arrow files in deep storage), read, written and published in ${secs(report.elapsedMs)}`);
  t0 = performance.now();
  const placed = await waitReplicated(client, report.segments, cluster.workerIds, 120_000);
  out(`   every segment loaded on ${REPLICAS} workers in ${secs(performance.now() - t0)}: ${placed.workers.map((w) => `${w.id} ${w.loaded}`).join(', ')} segments`);
  out('');

  out('4. Queries (Druid native JSON, fanned out by the client to the workers holding each segment)');
  // A route needs 500 flights in the whole data to count; proportionally fewer in a slice.
  const queries = flightsQueries(Math.max(10, Math.round((500 * report.rowsRead) / 3_000_000)));
  const baseline = await runQueries(client, queries, true);
  out('');

  const victim = 'w2';
  const victimPid = cluster.pid(victim);
  const held = placed.workers.find((w) => w.id === victim)?.loaded ?? 0;
  out(`5. Failure: SIGKILL ${victim} (pid ${victimPid}), which serves ${held} of the ${report.segments * REPLICAS} segment replicas`);
  const survivors = cluster.workerIds.filter((id) => id !== victim);
  const before = new Map(await Promise.all(survivors.map(async (id) => [id, await workerStatus(cluster.node(id).url)] as const)));
  const killedAt = performance.now();
  await cluster.kill(victim);
  const retriesBefore = client.stats.retries;
  const again = await runQueries(client, queries, false);
  const same = again.every((r, i) => isDeepStrictEqual(r, baseline[i]));
  if (!same) throw new Error('the answers changed after the worker was killed');
  out(`   the same three queries again, at once: identical answers (${client.stats.retries - retriesBefore} requests retried on the other replica)`);

  // While the coordinator recovers, keep asking; every answer must match.
  let asked = 0;
  let downSeenMs: number | null = null;
  let maxQueue = 0;
  let recovered: CoordinatorView | null = null;
  const deadline = Date.now() + RECOVERY_TIMEOUT_MS;
  while (!recovered) {
    if (Date.now() > deadline) throw new Error(`the coordinator did not re-replicate within ${RECOVERY_TIMEOUT_MS / 1000} s`);
    const answer = await client.query(queries[1]!.query);
    asked++;
    if (!isDeepStrictEqual(answer, baseline[1])) throw new Error('an answer during the recovery differed from the baseline');
    const s = await coordinator(client);
    if (!s?.stats) continue;
    if (downSeenMs === null && s.stats.underReplicated > 0) downSeenMs = performance.now() - killedAt;
    maxQueue = Math.max(maxQueue, ...s.workers.filter((w) => w.id !== victim).map((w) => w.loadQueue));
    const survivorsLoaded = s.workers.filter((w) => w.id !== victim).reduce((a, w) => a + w.loaded, 0);
    if (downSeenMs !== null && s.stats.unavailable === 0 && s.stats.underReplicated === 0 && maxQueueNow(s, victim) === 0
      && survivorsLoaded === report.segments * REPLICAS) recovered = s;
  }
  const recoveredMs = performance.now() - killedAt;
  const after = new Map(await Promise.all(survivors.map(async (id) => [id, await workerStatus(cluster.node(id).url)] as const)));
  const fetched = survivors.map((id) => ({ id, segments: after.get(id)!.segmentsFetched - before.get(id)!.segmentsFetched, bytes: after.get(id)!.bytesFetched - before.get(id)!.bytesFetched }));
  out(`   the coordinator saw ${victim} missing after ${secs(downSeenMs ?? 0)}; once the grace period had passed it re-replicated`);
  out(`   ${fetched.map((f) => `${f.segments} segments (${mib(f.bytes)}) onto ${f.id}`).join(' and ')} from deep storage,`);
  out(`   ${maxQueue > 0 ? `(at most ${maxQueue} loads queued on a worker at a time) ` : ''}all ${report.segments} segments had ${REPLICAS} live replicas again ${secs(recoveredMs)} after the kill`);
  out(`   ${asked} queries asked during the recovery: every answer identical, none failed`);
  out('');

  out(`6. Restart ${victim}`);
  t0 = performance.now();
  cluster.start(victim);
  recordPids(cluster, dir);
  await cluster.waitUp(victim);
  const upMs = performance.now() - t0;
  const back = await workerStatus(cluster.node(victim).url);
  out(`   ${victim} (pid ${cluster.pid(victim)}) answering again after ${secs(upMs)}; it found ${back.cachedAtStart} segment files in its cache,`);
  out(`   but after the grace period their replicas live elsewhere now, so it drops them (within the grace period it would have kept them all)`);
  // Its old assignments went elsewhere after the grace period; balancing gives it work again,
  // a few moves a cycle, each move dropping the old replica only once the new one is loaded.
  const watchUntil = Date.now() + REBALANCE_WATCH_MS;
  let last: CoordinatorView | null = null;
  while (Date.now() < watchUntil) {
    const s = await coordinator(client);
    if (s?.stats) last = s;
    await new Promise((r) => setTimeout(r, 250));
  }
  const mine = last?.workers.find((w) => w.id === victim)?.loaded ?? 0;
  const now = await workerStatus(cluster.node(victim).url);
  out(`   ${secs(REBALANCE_WATCH_MS)} later the coordinator's balancing has moved ${mine} segments to it (${now.segmentsFetched - back.segmentsFetched} fetched from deep storage),`);
  out(`   each old replica dropped only once the new one was loaded; segments per worker now: ${last?.workers.map((w) => `${w.id} ${w.loaded}`).join(', ')}`);
  const final = await runQueries(client, queries, false);
  if (!final.every((r, i) => isDeepStrictEqual(r, baseline[i]))) throw new Error('the answers changed after the restart');
  out('   the queries once more: identical answers');
}

function maxQueueNow(s: CoordinatorView, except: string): number {
  return Math.max(0, ...s.workers.filter((w) => w.id !== except).map((w) => w.loadQueue));
}

function recordPids(cluster: LocalCluster, dir: string): void {
  const pids: Record<string, number> = {};
  for (const id of [...cluster.metaIds, ...cluster.workerIds]) {
    const pid = cluster.pid(id);
    if (pid !== null) pids[id] = pid;
  }
  writeFileSync(join(dir, 'pids.json'), JSON.stringify(pids));
}

async function coordinator(client: CairnClient): Promise<CoordinatorView | null> {
  try {
    return (await client.coordinatorStatus()) as unknown as CoordinatorView;
  } catch {
    return null;
  }
}

async function workerStatus(url: string): Promise<WorkerStatus> {
  const r = await fetch(`${url}/v1/status`, { signal: AbortSignal.timeout(5000) });
  if (!r.ok) throw new Error(`${url}/v1/status answered ${r.status}`);
  return (await r.json()) as WorkerStatus;
}

/** Waits until all `segments` are loaded `REPLICAS` times on live workers with nothing queued. */
async function waitReplicated(client: CairnClient, segments: number, workers: readonly string[], timeoutMs: number): Promise<CoordinatorView> {
  return poll(`${segments} segments to be loaded ${REPLICAS} times`, timeoutMs, async () => {
    const s = await coordinator(client);
    if (!s?.stats || s.stats.segments < segments || s.stats.unavailable > 0 || s.stats.underReplicated > 0) return undefined;
    const live = s.workers.filter((w) => workers.includes(w.id));
    if (live.some((w) => w.loadQueue > 0) || live.reduce((a, w) => a + w.loaded, 0) < segments * REPLICAS) return undefined;
    return s;
  }, 200);
}

/** Runs the quickstart's queries; prints each one's table (first time) or just its time. */
async function runQueries(client: CairnClient, queries: readonly QuickstartQuery[], show: boolean): Promise<unknown[][]> {
  const answers: unknown[][] = [];
  for (const q of queries) {
    const t0 = performance.now();
    const results = await client.query(q.query);
    const ms = performance.now() - t0;
    answers.push(results);
    if (show) {
      const r = q.render(results);
      out(`   ${q.title}: ${ms.toFixed(0)} ms`);
      out(`   ${r.note}`);
      out(indent(formatTable(r.header, r.rows)));
      out('');
    } else {
      out(`   ${q.title}: ${ms.toFixed(0)} ms`);
    }
  }
  return answers;
}
