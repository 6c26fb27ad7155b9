/**
 * Tail latency with one slow worker, on a real local cluster:
 *   pnpm exec tsx bench/tail-latency.ts        (wrap it in `flock /tmp/cairn-heavy.lock` on shared boxes)
 * Three cairn-meta and three cairn-worker processes on loopback (LocalCluster), the flights data
 * ingested with 2 replicas of every segment, every worker behind a delay proxy of its own in this
 * process (0 ms unless slowed). The same seeded mix of timeseries/topN/groupBy queries runs in
 * phases with 8 closed-loop clients: (1) healthy, (2) one worker slowed by its proxy (every
 * response held max(200 ms, 4x the healthy p99)), (3) the same worker paused with SIGSTOP
 * (SIGCONT afterwards), (4) healthy again; the targets are judged against the lower of the two
 * healthy p99s, so drift during the run (warm-up, other jobs) cannot flatter them. Each phase has a fresh CairnClient that first runs healthy queries (not
 * measured); the fault is applied when the measured queries start, so the client learns of it
 * under load. Prints p50/p90/p99/max, the hedge rate (hedges / worker requests) and the issue's
 * targets (p99 with the slow worker within 1.5x of the healthy p99, at most 5% extra requests from
 * hedging). Every process is stopped by pid at the end, on SIGINT/SIGTERM and on failure.
 * See bench/README.md for the knobs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CairnClient, parseIngestionSpec, runIngestion } from '@cairn/client';
import type { FanOutOptions, LatencyOptions } from '@cairn/client';
import { loadClusterConfig } from '@cairn/shared/config';
import { createDeepStorage } from '@cairn/shared/deep-storage';
import { createProgress } from '../packages/client/src/ingest/progress.js';
import { DEFAULT_FANOUT } from '../packages/client/src/query/fanout.js';
import { flightsSpec } from '../packages/client/src/quickstart/flights.js';
import { freePorts, LocalCluster, poll, workspaceRoot } from '../packages/client/src/quickstart/local-cluster.js';
import { DelayProxy } from './lib/delay-proxy.js';
import type { ProxyCounts } from './lib/delay-proxy.js';
import { queryMix } from './lib/query-mix.js';
import type { MixQuery } from './lib/query-mix.js';
import { envNumber, load, say } from './lib/run.js';
import { fmtMs, quantile, sortedCopy } from './lib/stats.js';

// ------------------------------------------------------------------ configuration
const env = process.env;
const num = envNumber;
const json = <T>(name: string): Partial<T> => {
  const text = env[name];
  if (!text) return {};
  try {
    return JSON.parse(text) as Partial<T>;
  } catch (err) {
    throw new Error(`${name} must be a JSON object: ${(err as Error).message}`);
  }
};
const CFG = {
  /** Rows of flights-3m.parquet to ingest (the first N); 0: all 3,000,000. */
  rows: num('BENCH_ROWS', 0),
  seed: num('BENCH_SEED', 1),
  clients: num('BENCH_CLIENTS', 8, 1),
  /** Each phase stops at this many queries or after this many seconds, whichever comes first. */
  queries: num('BENCH_QUERIES', 3000, 1),
  phaseSeconds: num('BENCH_PHASE_SECONDS', 60, 1),
  /** Client queries after the direct warm-up (not measured): the cluster keeps getting faster for thousands. */
  warmupQueries: num('BENCH_WARMUP_QUERIES', 3000),
  /** Healthy queries each phase's fresh client runs before the measured part (not measured). */
  preQueries: num('BENCH_PRE_QUERIES', 200, 1),
  /**
   * What the slow worker's proxy adds to every response; 0 (the default): auto, the larger of
   * 200 ms and 4x the healthy phase's p99 (rounded up to 50 ms), so the delay stays far above the
   * healthy tail however loaded the machine is.
   */
  delayMs: num('BENCH_DELAY_MS', 0),
  victim: env['BENCH_VICTIM'] ?? 'w3',
  /** Every query's context.timeout: a query stuck on a paused worker ends as a failure, not a hang. */
  queryTimeoutMs: num('BENCH_QUERY_TIMEOUT_MS', 10_000, 1),
  /** Sub-intervals last from 1 hour up to this many days. */
  maxDays: num('BENCH_MAX_DAYS', 14, 1),
  /** A second healthy phase at the end shows drift (warm-up, other load); the targets use the lower healthy p99. */
  phases: (env['BENCH_PHASES'] ?? 'healthy,slow,paused,healthy').split(',').filter((s) => s !== ''),
  /** Client overrides (JSON), to try other hedging/probation settings without editing the client. */
  fanout: json<FanOutOptions>('BENCH_FANOUT'),
  latency: json<LatencyOptions>('BENCH_LATENCY'),
  keep: env['BENCH_KEEP'] === '1',
};
for (const p of CFG.phases) if (!['healthy', 'slow', 'paused'].includes(p)) throw new Error(`BENCH_PHASES: unknown phase ${p} (healthy, slow, paused)`);
if (!['w1', 'w2', 'w3'].includes(CFG.victim)) throw new Error(`BENCH_VICTIM must be w1, w2 or w3, not ${CFG.victim}`);

const TOKEN = 'bench-tail-token';
const REPLICAS = 2;
const WORKERS = 3;
/** While loading: short timings so the cluster settles fast (as the quickstart does). */
const COORDINATOR_SETUP = { periodMs: 500, heartbeatTimeoutMs: 2000, gracePeriodMs: 5000 };
/**
 * During the phases: a paused worker stays "live" and keeps its segments (no heartbeat timeout,
 * no grace expiry within the run), no balancing moves and no extra replicas for hot segments, so
 * nothing but the client decides where queries go.
 */
const COORDINATOR_PHASES = { heartbeatTimeoutMs: 600_000, gracePeriodMs: 600_000, balance: false, hotExtraReplicasMax: 0 };
const DELAY_MIN_MS = 200;
const DELAY_P99_FACTOR = 4;
const TARGET_P99_RATIO = 1.5;
const TARGET_HEDGE_RATE = 0.05;
const SAMPLE_MS = 25;
/** The tail line splits slow queries into those started this soon after the fault and the rest. */
const TRANSITION_MS = 1000;

const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(2)}%` : 'n/a');
const int = (n: number) => n.toLocaleString('en-US');

// ------------------------------------------------------------------ lifecycle
const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-tail-'));
let cluster: LocalCluster | null = null;
const proxies = new Map<string, DelayProxy>();
let paused: number | null = null;
let cleaning: Promise<void> | null = null;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    if (paused !== null) {
      try {
        process.kill(paused, 'SIGCONT');
      } catch {
        // gone
      }
      paused = null;
    }
    await cluster?.stopAll();
    await Promise.all([...proxies.values()].map((p) => p.close()));
    if (CFG.keep) say(`kept ${dir} (every node's log is there)`);
    else rmSync(dir, { recursive: true, force: true });
  })();
  return cleaning;
}
/** Last resort if the process exits without cleanup(): SIGCONT and SIGKILL every child by pid. */
process.on('exit', () => {
  if (!cluster) return;
  for (const id of [...cluster.metaIds, ...cluster.workerIds]) {
    const pid = cluster.pid(id);
    if (pid === null) continue;
    for (const sig of ['SIGCONT', 'SIGKILL'] as const) {
      try {
        process.kill(pid, sig);
      } catch {
        // gone
      }
    }
  }
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    process.stdout.write(`\n${sig}: stopping every process by pid and removing ${dir}\n`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ------------------------------------------------------------------ cluster
interface TimelineBody {
  segments: { id: string; start: number; end: number; loadedOn: string[]; assignedTo: string[] }[];
  workers: { id: string; url: string; live: boolean }[];
}
interface CoordinatorView {
  stats: { segments: number; unavailable: number; underReplicated: number } | null;
  workers: { id: string; loaded: number; loadQueue: number }[];
}

async function timeline(client: CairnClient): Promise<TimelineBody> {
  return client.meta.get<TimelineBody>('/v1/timeline?dataSource=flights');
}

/** Where every segment is assigned and loaded, as one comparable string per segment. */
function placement(t: TimelineBody): Map<string, string> {
  return new Map(t.segments.map((s) => [s.id, `${[...s.assignedTo].sort().join(',')}|${[...s.loadedOn].sort().join(',')}`]));
}

function samePlacement(a: Map<string, string>, b: Map<string, string>): number {
  let changed = 0;
  for (const [id, p] of a) if (b.get(id) !== p) changed++;
  for (const id of b.keys()) if (!a.has(id)) changed++;
  return changed;
}

async function waitReplicated(client: CairnClient, segments: number): Promise<CoordinatorView> {
  return poll(`${segments} segments to be loaded ${REPLICAS} times`, 300_000, async () => {
    const s = (await client.coordinatorStatus().catch(() => null)) as unknown as CoordinatorView | null;
    if (!s?.stats || s.stats.segments < segments || s.stats.unavailable > 0 || s.stats.underReplicated > 0) return undefined;
    if (s.workers.some((w) => w.loadQueue > 0) || s.workers.reduce((a, w) => a + w.loaded, 0) < segments * REPLICAS) return undefined;
    return s;
  }, 250);
}

/**
 * Waits until no running, unpaused worker has queued units (polled on each worker's own
 * `/v1/status`, not through its proxy); returns how long that took (ms).
 */
async function waitIdle(c: LocalCluster): Promise<number> {
  const t0 = performance.now();
  await poll('every worker queue to be empty', 60_000, async () => {
    for (const id of c.workerIds) {
      if (c.pid(id) === null || c.pid(id) === paused) continue;
      const r = await fetch(`${c.node(id).url}/v1/status`, { signal: AbortSignal.timeout(2000) }).catch(() => null);
      const s = r?.ok ? ((await r.json()) as { queuedUnits?: number }) : null;
      if (s?.queuedUnits === undefined || s.queuedUnits > 0) return undefined;
    }
    return true;
  }, 50);
  return performance.now() - t0;
}

// ------------------------------------------------------------------ load
interface LoopResult {
  readonly latencies: number[];
  /** When each query started, ms after the loop began (same order as `latencies`). */
  readonly starts: number[];
  readonly ok: number;
  readonly failed: number;
  readonly errors: Map<string, number>;
  readonly seconds: number;
  readonly byKind: Map<string, number[]>;
}

/** `clients` closed loops sharing the list of queries, until it is used up or `limitMs` passes. */
async function closedLoop(client: CairnClient, queries: readonly MixQuery[], clients: number, limitMs: number): Promise<LoopResult> {
  const latencies: number[] = [];
  const starts: number[] = [];
  const byKind = new Map<string, number[]>();
  const errors = new Map<string, number>();
  let next = 0;
  let ok = 0;
  let failed = 0;
  const t0 = performance.now();
  const deadline = t0 + limitMs;
  await Promise.all(Array.from({ length: clients }, async () => {
    for (;;) {
      const i = next++;
      if (i >= queries.length || performance.now() > deadline) return;
      const q = queries[i]!;
      const s = performance.now();
      try {
        await client.query(q.query);
        ok++;
      } catch (err) {
        failed++;
        const msg = (err instanceof Error ? err.message : String(err)).replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '<id>').slice(0, 160);
        errors.set(msg, (errors.get(msg) ?? 0) + 1);
      }
      // Failed queries count with the time they took: a failure is not a fast answer.
      const ms = performance.now() - s;
      latencies.push(ms);
      starts.push(s - t0);
      let k = byKind.get(q.kind);
      if (!k) byKind.set(q.kind, (k = []));
      k.push(ms);
    }
  }));
  return { latencies, starts, ok, failed, errors, seconds: (performance.now() - t0) / 1000, byKind };
}

function newClient(config: ReturnType<typeof loadClusterConfig>): CairnClient {
  return new CairnClient({ members: config.meta, token: config.auth.token, dc: 'dc1', fanout: CFG.fanout, latency: CFG.latency });
}

// ------------------------------------------------------------------ phases
interface PhaseResult {
  readonly name: string;
  readonly label: string;
  readonly loop: LoopResult;
  /** The unmeasured healthy queries the phase's client ran first. */
  readonly pre: LoopResult;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly requests: number;
  readonly hedges: number;
  readonly hedgeWins: number;
  readonly retries: number;
  readonly requestFailures: number;
  readonly perWorker: Map<string, ProxyCounts>;
  /** ms from the phase start until the client first had the victim on probation; null: never. */
  readonly probationAfterMs: number | null;
  readonly probationShare: number;
  /** Share of samples with some other (healthy) worker on probation. */
  readonly othersProbationShare: number;
  readonly hedgeDelayMedianMs: number;
  /** The client's moving average of each worker's latency at the end of the phase. */
  readonly ewma: Map<string, number>;
  readonly placementChanges: number;
  readonly victimLiveAtEnd: boolean;
  readonly loadBefore: string;
  readonly loadAfter: string;
}

/** What a phase does to the victim once its client is warm, and how it is undone. */
interface Fault {
  apply(): void;
  undo(): void;
}

/**
 * One phase: a fresh client first runs `preQueries` against the healthy cluster (not measured),
 * so it knows every worker's latency the way a long-running client does; then the fault is
 * applied and `queries` are measured from that moment on, the client learning of the slow worker
 * while it serves them (the transition is part of the figures). Client counters are deltas over
 * the measured part.
 */
async function runPhase(name: string, label: string, config: ReturnType<typeof loadClusterConfig>, admin: CairnClient, preQueries: readonly MixQuery[], queries: readonly MixQuery[], fault: Fault | null): Promise<PhaseResult> {
  const client = newClient(config);
  const pre = await closedLoop(client, preQueries, CFG.clients, 120_000);
  if (pre.failed > 0) throw new Error(`${name}: ${pre.failed} of the healthy pre-run's queries failed: ${[...pre.errors.keys()].join('; ')}`);
  const placeBefore = placement(await timeline(admin));
  const loadBefore = load();
  const before = { ...client.stats };
  for (const p of proxies.values()) p.resetCounts();
  const fo = { ...DEFAULT_FANOUT, ...CFG.fanout };
  let samples = 0;
  let onProbation = 0;
  let othersOnProbation = 0;
  let probationAfterMs: number | null = null;
  const hedgeDelays: number[] = [];
  const t0 = performance.now();
  const sampler = setInterval(() => {
    samples++;
    if (client.latency.onProbation(CFG.victim)) {
      onProbation++;
      probationAfterMs ??= performance.now() - t0;
    }
    if (client.latency.probationList().some((w) => w !== CFG.victim)) othersOnProbation++;
    const p = client.latency.percentile(fo.hedgePercentile);
    hedgeDelays.push(p === null ? fo.hedgeDelayCeilingMs : Math.min(fo.hedgeDelayCeilingMs, Math.max(fo.hedgeDelayFloorMs, p)));
  }, SAMPLE_MS);
  let loop: LoopResult;
  let perWorker: Map<string, ProxyCounts>;
  try {
    fault?.apply();
    loop = await closedLoop(client, queries, CFG.clients, CFG.phaseSeconds * 1000);
    perWorker = new Map([...proxies].map(([id, p]) => [id, { ...p.counts }]));
  } finally {
    clearInterval(sampler);
    fault?.undo();
  }
  const t = await timeline(admin);
  const sorted = sortedCopy(loop.latencies);
  const now = client.stats;
  const st = { requests: now.requests - before.requests, hedges: now.hedges - before.hedges, hedgeWins: now.hedgeWins - before.hedgeWins, retries: now.retries - before.retries, failures: now.failures - before.failures };
  return {
    name, label, loop, pre,
    p50: quantile(sorted, 0.5), p90: quantile(sorted, 0.9), p99: quantile(sorted, 0.99), max: quantile(sorted, 1),
    requests: st.requests, hedges: st.hedges, hedgeWins: st.hedgeWins, retries: st.retries, requestFailures: st.failures,
    perWorker,
    probationAfterMs, probationShare: samples > 0 ? onProbation / samples : 0, othersProbationShare: samples > 0 ? othersOnProbation / samples : 0,
    hedgeDelayMedianMs: quantile(sortedCopy(hedgeDelays), 0.5),
    ewma: new Map([...proxies.keys()].map((id) => [id, client.latency.average(id)])),
    placementChanges: samePlacement(placeBefore, placement(t)),
    victimLiveAtEnd: t.workers.find((w) => w.id === CFG.victim)?.live === true,
    loadBefore, loadAfter: load(),
  };
}

/** The healthy p99 the targets use: the lowest over the healthy phases measured so far. */
function healthyBase(results: readonly PhaseResult[]): PhaseResult | undefined {
  return results.filter((r) => r.name === 'healthy').reduce<PhaseResult | undefined>((best, r) => (best === undefined || r.p99 < best.p99 ? r : best), undefined);
}

function printPhase(r: PhaseResult, healthyP99: number | undefined): void {
  const l = r.loop;
  say(`${r.label}: ${int(l.ok + l.failed)} queries in ${l.seconds.toFixed(1)} s (${(l.latencies.length / l.seconds).toFixed(1)} queries/s), ${l.failed} failed; load average ${r.loadBefore} -> ${r.loadAfter}`);
  say(`   before    the phase's client ran ${r.pre.latencies.length} healthy queries first (not measured: p50 ${fmtMs(quantile(sortedCopy(r.pre.latencies), 0.5))}, p99 ${fmtMs(quantile(sortedCopy(r.pre.latencies), 0.99))}), then ${r.name === 'healthy' ? 'the measured queries started' : 'the fault was applied and the measured queries started'}`);
  say(`   latency   p50 ${fmtMs(r.p50)}   p90 ${fmtMs(r.p90)}   p99 ${fmtMs(r.p99)}   max ${fmtMs(r.max)}`);
  for (const [kind, xs] of [...l.byKind].sort()) {
    const s = sortedCopy(xs);
    say(`     ${kind.padEnd(10)} ${String(xs.length).padStart(5)} queries: p50 ${fmtMs(quantile(s, 0.5))}, p99 ${fmtMs(quantile(s, 0.99))}, max ${fmtMs(quantile(s, 1))}`);
  }
  say(`   client    ${int(r.requests)} worker requests (${(r.requests / Math.max(1, l.latencies.length)).toFixed(2)} per query), ${int(r.hedges)} hedges = hedge rate ${pct(r.hedges / Math.max(1, r.requests))} (${int(r.hedgeWins)} segments answered first by a hedge), ${r.retries} retries, ${r.requestFailures} failed requests; median hedge delay ${fmtMs(r.hedgeDelayMedianMs)}`);
  say(`   sent to   ${[...r.perWorker].map(([id, c]) => `${id} ${int(c.segmentQueries)}${id === CFG.victim ? ' (victim)' : ''}`).join(', ')} segment queries; cancels ${[...r.perWorker].map(([id, c]) => `${id} ${int(c.cancels)}`).join(', ')} (counted at each worker's proxy)`);
  say(`   probation ${CFG.victim} ${r.probationAfterMs === null ? 'never on probation' : `on probation after ${fmtMs(r.probationAfterMs)}, for ${pct(r.probationShare)} of the phase`}; another worker on probation ${pct(r.othersProbationShare)} of the phase; the client's latency averages at the end: ${[...r.ewma].map(([id, ms]) => `${id} ${fmtMs(ms)}`).join(', ')}`);
  say(`   placement ${r.placementChanges === 0 ? 'no segment assignment or load changed during the phase' : `${r.placementChanges} segments changed assignment or loaded replicas during the phase`}; ${CFG.victim} ${r.victimLiveAtEnd ? 'still listed live' : 'NOT live'} in the timeline at the end`);
  if (healthyP99 !== undefined && r.name !== 'healthy') {
    const bound = TARGET_P99_RATIO * healthyP99;
    const slow = l.starts.filter((_, i) => l.latencies[i]! > bound);
    const early = slow.filter((st) => st < TRANSITION_MS).length;
    const firstQueries = l.starts.filter((st) => st < TRANSITION_MS).length;
    say(`   tail      ${slow.length} queries (${pct(slow.length / Math.max(1, l.latencies.length))}) took over ${TARGET_P99_RATIO}x the healthy p99 (${fmtMs(bound)}); ${early} of them started in the first ${TRANSITION_MS / 1000} s after the fault (${firstQueries} queries did), ${slow.length - early} later`);
  }
  if (l.errors.size > 0) for (const [msg, n] of [...l.errors].slice(0, 5)) say(`   error x${n}: ${msg}`);
}

// ------------------------------------------------------------------ main
async function main(): Promise<void> {
  say(`Cairn tail latency: ${WORKERS} workers, ${REPLICAS} replicas per segment, one worker (${CFG.victim}) slowed by ${CFG.delayMs > 0 ? `${CFG.delayMs} ms` : `max(${DELAY_MIN_MS} ms, ${DELAY_P99_FACTOR}x the healthy p99)`} per response, then paused (SIGSTOP)`);
  say(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load average ${load()} (1, 5, 15 min); Node ${process.version}; folder ${dir}`);
  const parquet = join(workspaceRoot(), 'node_modules/vega-datasets/data/flights-3m.parquet');
  const ports = await freePorts(6);
  const workerPorts = ports.slice(3, 6);
  for (let i = 0; i < WORKERS; i++) {
    const p = new DelayProxy(`w${i + 1}`, workerPorts[i]!);
    await p.listen(0);
    proxies.set(`w${i + 1}`, p);
  }
  cluster = new LocalCluster({
    dir, metaPorts: ports.slice(0, 3), workerPorts, token: TOKEN, workerCapacity: '4GB',
    workerAdvertisedUrls: [...proxies.values()].map((p) => p.url),
  });
  cluster.writeConfig();
  for (const id of cluster.metaIds) cluster.start(id);
  const leader = await cluster.waitLeader();
  const config = loadClusterConfig(cluster.configPath);
  const admin = newClient(config);
  await admin.setCoordinatorConfig(COORDINATOR_SETUP);
  await admin.setRules('flights', [{ type: 'loadForever', tieredReplicants: { _default_tier: REPLICAS } }]);
  for (const id of cluster.workerIds) cluster.start(id);
  await Promise.all(cluster.workerIds.map((id) => cluster!.waitUp(id)));
  say(`cluster: metas ${cluster.metaIds.map((id) => `${id} ${cluster!.node(id).url} pid ${cluster!.pid(id)}`).join(', ')} (leader ${leader})`);
  say(`         workers ${cluster.workerIds.map((id) => `${id} ${cluster!.node(id).url} pid ${cluster!.pid(id)} advertised as ${proxies.get(id)!.url}`).join(', ')}`);
  say('         every worker is reached through a TCP proxy of its own in this process (delay 0 ms except the slowed one), so all three pay the same extra hop');

  const sink = { write: () => true, isTTY: false };
  const report = await runIngestion({
    spec: parseIngestionSpec(flightsSpec(parquet, CFG.rows > 0 ? CFG.rows : null)),
    baseDir: dir, stdin: process.stdin, deepStorage: createDeepStorage(config.deepStorage), meta: admin.meta, progress: createProgress(sink),
  });
  const replicated = await waitReplicated(admin, report.segments);
  say(`data: ${int(report.rowsRead)} rows of flights-3m.parquet${CFG.rows > 0 ? ` (BENCH_ROWS: the first ${int(CFG.rows)})` : ' (all of it)'}, ${report.segments} daily segments (${(report.bytes / 1024 / 1024).toFixed(1)} MiB), ingested in ${(report.elapsedMs / 1000).toFixed(1)} s; ${REPLICAS} replicas loaded: ${replicated.workers.map((w) => `${w.id} ${w.loaded}`).join(', ')} segments`);

  await admin.setCoordinatorConfig(COORDINATOR_PHASES);
  say(`coordinator for the phases: ${JSON.stringify(COORDINATOR_PHASES)}. Without the long heartbeat timeout the`);
  say(`   coordinator would mark a paused worker down after ${COORDINATOR_SETUP.heartbeatTimeoutMs / 1000} s and the timeline would stop listing it (then move its segments after the`);
  say('   grace period): it would be the coordinator, not the client, hiding the slow node. Here only the client can.');

  // The data's extent, from the timeline.
  const t = await timeline(admin);
  const start = Math.min(...t.segments.map((s) => s.start));
  const end = Math.max(...t.segments.map((s) => s.end));
  const context = { timeout: CFG.queryTimeoutMs };

  // Warm-up 1: every segment decoded on every replica (the first query of a segment decodes it).
  const t0 = performance.now();
  const wide = queryMix({ seed: CFG.seed + 1_000_000, count: 30, start, end, maxDays: 1, context }).filter((q, i, all) => all.findIndex((x) => x.kind === q.kind) === i);
  for (const id of cluster.workerIds) {
    const segs = t.segments.filter((s) => s.loadedOn.includes(id)).map((s) => s.id);
    for (const q of wide) {
      const body = JSON.stringify({ query: { ...q.query, intervals: [`${new Date(start).toISOString()}/${new Date(end).toISOString()}`], context: { queryId: `warm-${id}-${q.kind}` } }, segmentIds: segs });
      const r = await fetch(`${cluster.node(id).url}/v1/segments/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(120_000) });
      if (!r.ok) throw new Error(`warm-up on ${id} answered ${r.status}: ${(await r.text()).slice(0, 300)}`);
      await r.arrayBuffer();
    }
  }
  // Warm-up 2: client queries of the same shapes (another seed), for the JIT; not measured.
  const warm = queryMix({ seed: CFG.seed + 2_000_000, count: CFG.warmupQueries, start, end, maxDays: CFG.maxDays, context });
  const warmLoop = await closedLoop(newClient(config), warm, CFG.clients, 120_000);
  say(`warm-up: ${wide.map((q) => q.kind).join(', ')} over every segment on every worker directly, then ${warmLoop.latencies.length} client queries (p50 ${fmtMs(quantile(sortedCopy(warmLoop.latencies), 0.5))}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const queries = queryMix({ seed: CFG.seed, count: CFG.queries, start, end, maxDays: CFG.maxDays, context });
  const kinds = new Map<string, number>();
  for (const q of queries) kinds.set(q.kind, (kinds.get(q.kind) ?? 0) + 1);
  say(`query mix: seed ${CFG.seed}, ${int(queries.length)} queries (${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')}) over random sub-intervals of 1 hour to ${CFG.maxDays} days of ${new Date(start).toISOString().slice(0, 10)}..${new Date(end).toISOString().slice(0, 10)}, context.timeout ${CFG.queryTimeoutMs} ms`);
  say(`load: ${CFG.clients} closed-loop clients, each phase the same list from the start, at most ${int(CFG.queries)} queries or ${CFG.phaseSeconds} s; a fresh CairnClient per phase`);
  say(`   that first runs ${int(CFG.preQueries)} healthy queries (another seed, not measured), then the fault is applied and the measured part starts (hedge rate = its hedges / requests)`);
  say(`client settings: ${JSON.stringify({ ...DEFAULT_FANOUT, ...CFG.fanout, dc: undefined })}${Object.keys(CFG.latency).length > 0 ? `; latency overrides ${JSON.stringify(CFG.latency)}` : ''}`);
  say();

  const results: PhaseResult[] = [];
  const victimProxy = proxies.get(CFG.victim)!;
  const preQueries = queryMix({ seed: CFG.seed + 3_000_000, count: CFG.preQueries, start, end, maxDays: CFG.maxDays, context });
  let delayMs = CFG.delayMs;
  for (const phase of CFG.phases) {
    // No leftovers of the previous phase (abandoned or cancelled work still queued on a worker).
    const idle = await waitIdle(cluster);
    if (phase === 'healthy') {
      const again = results.some((r) => r.name === 'healthy');
      results.push(await runPhase(phase, again ? 'phase healthy (again)' : 'phase healthy', config, admin, preQueries, queries, null));
    } else if (phase === 'slow') {
      const healthyP99 = healthyBase(results)?.p99;
      if (delayMs <= 0) {
        delayMs = Math.max(DELAY_MIN_MS, healthyP99 === undefined ? 0 : Math.ceil((DELAY_P99_FACTOR * healthyP99) / 50) * 50);
        say(`delay: ${delayMs} ms = max(${DELAY_MIN_MS} ms, ${DELAY_P99_FACTOR}x the healthy p99 ${healthyP99 === undefined ? '(not measured)' : fmtMs(healthyP99)}, rounded up to 50 ms); BENCH_DELAY_MS sets it`);
      }
      const d = delayMs;
      results.push(await runPhase(phase, `phase slow (${CFG.victim} +${d} ms per response)`, config, admin, preQueries, queries, {
        apply: () => (victimProxy.delayMs = d),
        undo: () => (victimProxy.delayMs = 0),
      }));
    } else {
      const pid = cluster.pid(CFG.victim);
      if (pid === null) throw new Error(`${CFG.victim} is not running`);
      results.push(await runPhase(phase, `phase paused (${CFG.victim} SIGSTOP, pid ${pid})`, config, admin, preQueries, queries, {
        apply: () => {
          process.kill(pid, 'SIGSTOP');
          paused = pid;
        },
        undo: () => {
          if (paused === null) return;
          process.kill(pid, 'SIGCONT');
          paused = null;
        },
      }));
      const t1 = performance.now();
      await cluster.waitUp(CFG.victim);
      say(`after SIGCONT ${CFG.victim} answered /health again in ${fmtMs(performance.now() - t1)}`);
    }
    if (idle > 0) say(`(waited ${fmtMs(idle)} for every worker's queue to empty before the phase)`);
    printPhase(results[results.length - 1]!, healthyBase(results)?.p99);
    say();
  }

  // ---------------------------------------------------------------- summary
  const healthy = healthyBase(results);
  const healthyCount = results.filter((r) => r.name === 'healthy').length;
  say(`summary (latency per query, measured in this process; hedge rate = hedges / worker requests; p99 / healthy against ${healthyCount > 1 ? `the lowest of the ${healthyCount} healthy p99s, ${healthy ? fmtMs(healthy.p99) : 'n/a'}` : 'the healthy p99'})`);
  const header = ['phase', 'queries', 'failed', 'p50', 'p90', 'p99', 'max', 'hedge rate', 'retries', 'p99 / healthy', `p99 <= ${TARGET_P99_RATIO}x`, `hedges <= ${pct(TARGET_HEDGE_RATE)}`];
  const rows = results.map((r) => {
    const ratio = healthy ? r.p99 / healthy.p99 : Number.NaN;
    const judged = r.name !== 'healthy' && healthy;
    return [
      r.name === 'healthy' && results.indexOf(r) !== results.findIndex((x) => x.name === 'healthy') ? 'healthy again' : r.name, int(r.loop.latencies.length), String(r.loop.failed), fmtMs(r.p50), fmtMs(r.p90), fmtMs(r.p99), fmtMs(r.max),
      pct(r.hedges / Math.max(1, r.requests)), String(r.retries), healthy ? `${ratio.toFixed(2)}x` : 'n/a',
      judged ? (ratio <= TARGET_P99_RATIO ? 'MET' : 'MISSED') : '-',
      r.hedges / Math.max(1, r.requests) <= TARGET_HEDGE_RATE ? 'MET' : 'MISSED',
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => say(`  ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')}`);
  line(header);
  for (const r of rows) line(r);
  say();
  for (const r of results) {
    if (r.name === 'healthy' || !healthy) continue;
    const ratio = r.p99 / healthy.p99;
    const rate = r.hedges / Math.max(1, r.requests);
    say(`target (${r.name}): p99 ${fmtMs(r.p99)} / ${healthyCount > 1 ? 'lowest ' : ''}healthy p99 ${fmtMs(healthy.p99)} = ${ratio.toFixed(2)}x, target <= ${TARGET_P99_RATIO}x: ${ratio <= TARGET_P99_RATIO ? 'MET' : 'MISSED'}; hedge rate ${pct(rate)}, target <= ${pct(TARGET_HEDGE_RATE)}: ${rate <= TARGET_HEDGE_RATE ? 'MET' : 'MISSED'}; ${r.loop.latencies.filter((ms) => ms > TARGET_P99_RATIO * healthy.p99).length} of ${int(r.loop.latencies.length)} queries took over ${TARGET_P99_RATIO}x${r.loop.failed > 0 ? `; ${r.loop.failed} queries FAILED` : ''}`);
  }
  if (healthy && results.some((r) => r.name === 'slow')) say(`the slow worker's delay is ${(delayMs / healthy.p99).toFixed(1)}x the healthy p99 (${delayMs} ms vs ${fmtMs(healthy.p99)})`);
  say('reference (quoted, not measured): Dean & Barroso, "The Tail at Scale", CACM 56(2), 2013: in a Google benchmark reading');
  say('   1,000 keys from a BigTable table spread over 100 servers, a hedged request after a 10 ms delay cut the 99.9th-percentile');
  say('   latency from 1,800 ms to 74 ms while sending just 2% more requests; deferring the hedge until the 95th-percentile latency');
  say('   limits the extra load to about 5%.');
  say(`load average at the end: ${load()}`);
}

let exitCode = 0;
try {
  await main();
} catch (err) {
  exitCode = 1;
  process.stdout.write(`\nthe benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  // (main() assigned it; TypeScript cannot see that here.)
  const c = cluster as LocalCluster | null;
  if (c) for (const id of [...c.metaIds, ...c.workerIds]) process.stdout.write(`--- the end of ${id}'s log\n${c.logTail(id, 10)}\n`);
} finally {
  await cleanup();
}
process.exit(exitCode);
