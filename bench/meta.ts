/**
 * The metadata group against etcd 3.4, side by side in one run, on loopback:
 *   pnpm exec tsx bench/meta.ts
 * 1. puts with 1 and 16 clients, 2. linearizable reads with 16 clients, 3. failover after
 * SIGKILL of the leader, 4. failover after SIGTERM of the leader, 5. (Cairn only) a catalog of
 * 1,000,000 segments: publish throughput, the snapshot a lagging follower needs, the restart of
 * a node and the leader's memory. Every child is stopped by pid at the end, on SIGINT and on
 * failure, and the temporary folder is removed (BENCH_KEEP=1 keeps it). See bench/README.md.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { segmentKey } from '@cairn/shared/deep-storage';
import { join } from 'node:path';
import { httpRequest, jsonOf, keepAliveAgent } from './lib/http.js';
import { ALL, cpuMs, killAllSync, logText, logTail, signal, sleep, stopAll, vmHwmBytes, vmRssBytes, waitFor } from './lib/procs.js';
import { fmtBytes, fmtMs, fmtRate, histogram, histogramQuantileBound, max, median, metric, parseMetrics, quantile, sortedCopy } from './lib/stats.js';
import { CairnGroup, EtcdCluster, killMember, waitCaughtUp, waitLeader } from './lib/systems.js';
import type { KvSystem } from './lib/systems.js';

// ------------------------------------------------------------------ configuration
const env = process.env;
const QUICK = env['BENCH_QUICK'] === '1';
const num = (name: string, full: number, quick: number) => Number(env[name] ?? (QUICK ? quick : full));
const CFG = {
  put1Ops: num('BENCH_PUT1_OPS', 3000, 300),
  put16Ops: num('BENCH_PUT16_OPS', 20_000, 2000),
  read16Ops: num('BENCH_READ16_OPS', 20_000, 2000),
  warmupOps: num('BENCH_WARMUP_OPS', 500, 100),
  /** Each load run stops at its op count or after this many seconds, whichever comes first. */
  loadSeconds: num('BENCH_LOAD_SECONDS', 20, 10),
  failoverReps: num('BENCH_REPS', 7, 2),
  segments: num('BENCH_SEGMENTS', 1_000_000, 20_000),
  segmentsPerBatch: 1000,
  publishConcurrency: num('BENCH_PUBLISH_CONCURRENCY', 4, 4),
  /**
   * The catalog phase runs on a fresh group whose raft section sets these, so the leader
   * compacts past a stopped follower within a few hundred writes (the default, 10,000 entries,
   * would take minutes of writes here).
   */
  catalogCompactEvery: num('BENCH_CATALOG_COMPACT_EVERY', 100, 100),
  catalogCompactKeep: num('BENCH_CATALOG_COMPACT_KEEP', 20, 20),
  /** How long a follower may take to catch up through a snapshot before that figure is "not caught up". */
  snapshotWaitSeconds: num('BENCH_SNAPSHOT_WAIT_SECONDS', 300, 120),
  valueBytes: 256,
  keySpace: 100_000,
  skipEtcd: env['BENCH_SKIP_ETCD'] === '1',
  skipCatalog: env['BENCH_SKIP_CATALOG'] === '1',
  /** Only the catalog phase (no KV loads, no failovers). */
  skipKv: env['BENCH_SKIP_KV'] === '1',
  /** Leave out the idle measure and the put/read loads (failovers still run unless BENCH_SKIP_KV). */
  skipLoads: env['BENCH_SKIP_LOADS'] === '1',
  /** Which failovers run, in order: BENCH_SIGNALS=SIGTERM runs only the graceful one. */
  signals: (env['BENCH_SIGNALS'] ?? 'SIGKILL,SIGTERM').split(',').filter((s): s is 'SIGKILL' | 'SIGTERM' => s === 'SIGKILL' || s === 'SIGTERM'),
  /** Leave out the snapshot catch-up at the end of the catalog phase. */
  skipSnapshot: env['BENCH_SKIP_SNAPSHOT'] === '1',
  /**
   * Segments are published with the content-addressed locations Cairn's ingestion writes, which
   * the catalog does not store; BENCH_LOCATIONS=paths gives each a Druid-style path instead.
   */
  druidPaths: env['BENCH_LOCATIONS'] === 'paths',
  cairnLogLevel: env['BENCH_CAIRN_LOG_LEVEL'] ?? 'info',
  keep: env['BENCH_KEEP'] === '1',
  /** Extra node flags for every cairn-meta process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof". */
  cairnNodeArgs: (env['BENCH_CAIRN_NODE_ARGS'] ?? '').split(' ').filter((s) => s !== ''),
  /** etcd with Cairn's timing (heartbeat 50 ms, election 300 ms, pre-vote) unless told to keep its own. */
  etcdTiming: env['BENCH_ETCD_DEFAULT_TIMING'] === '1'
    ? { heartbeatMs: 100, electionMs: 1000, preVote: false }
    : { heartbeatMs: 50, electionMs: 300, preVote: true },
};

const started = performance.now();
const say = (line: string) => process.stdout.write(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);

// ------------------------------------------------------------------ lifecycle
const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-'));
let cleaning: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await stopAll(5000);
    if (CFG.keep) say(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  })();
  return cleaning;
}
process.on('exit', () => killAllSync());
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    process.stdout.write(`\n${sig}: stopping ${ALL.size} processes by pid and removing ${dir}\n`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ------------------------------------------------------------------ workloads
const b64 = (s: string) => Buffer.from(s, 'latin1').toString('base64');
const VALUE_B64 = b64(randomBytes(CFG.valueBytes).toString('latin1'));
const keyOf = (i: number) => `bench/key/${String((i * 7919) % CFG.keySpace).padStart(6, '0')}`;
/** The same JSON body for both systems. */
const putBody = (i: number) => `{"key":"${b64(keyOf(i))}","value":"${VALUE_B64}"}`;
const rangeBody = (i: number) => `{"key":"${b64(keyOf(i % 20_000))}"}`;

interface LoadResult {
  /** CPU time (user + system) the servers used per successful operation: the leader's, and all members' together. */
  cpuPerOpLeader?: number;
  cpuPerOpAll?: number;
  /** The same, less what the idle group would have burnt meanwhile (heartbeats, timers). */
  cpuPerOpAllNet?: number;
  readonly ok: number;
  readonly errors: number;
  readonly seconds: number;
  readonly opsPerSec: number;
  readonly p50: number;
  readonly p99: number;
  readonly firstErrors: string[];
}

/** `clients` closed loops sharing a budget of `total` operations against one URL. */
async function closedLoop(sys: KvSystem, url: string, path: string, body: (i: number) => string, clients: number, total: number, limitSeconds = Number.POSITIVE_INFINITY): Promise<LoadResult> {
  const agent = keepAliveAgent(clients);
  const lat = new Float64Array(total);
  let next = 0;
  let ok = 0;
  let errors = 0;
  const firstErrors: string[] = [];
  const t0 = performance.now();
  const deadline = t0 + limitSeconds * 1000;
  await Promise.all(Array.from({ length: clients }, async () => {
    for (;;) {
      const i = next++;
      if (i >= total || performance.now() > deadline) return;
      const s = performance.now();
      const r = await httpRequest(agent, url, path, { body: body(i), headers: sys.headers, timeoutMs: 10_000 });
      const e = performance.now();
      if (r.status === 200) {
        lat[ok++] = e - s;
      } else {
        errors++;
        if (firstErrors.length < 3) firstErrors.push(`${r.status} ${r.error ?? r.text.slice(0, 160)}`);
      }
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  agent.destroy();
  const sorted = sortedCopy(lat.subarray(0, ok));
  return { ok, errors, seconds, opsPerSec: ok / seconds, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), firstErrors };
}

/** CPU ms used so far by each running member of `sys`. */
function groupCpu(sys: KvSystem): Map<string, number> {
  return new Map(sys.running().map((id) => [id, cpuMs(sys.proc(id).pid) ?? 0]));
}

/** Runs `load` and adds the servers' CPU time per successful operation to its result. */
async function withCpu(sys: KvSystem, leader: string, idlePerSecond: number, load: () => Promise<LoadResult>): Promise<LoadResult> {
  const before = groupCpu(sys);
  const r = await load();
  const after = groupCpu(sys);
  let all = 0;
  for (const [id, ms] of after) all += ms - (before.get(id) ?? ms);
  r.cpuPerOpLeader = ((after.get(leader) ?? 0) - (before.get(leader) ?? 0)) / r.ok;
  r.cpuPerOpAll = all / r.ok;
  r.cpuPerOpAllNet = (all - idlePerSecond * r.seconds) / r.ok;
  return r;
}

/** CPU ms per second the idle group burns (heartbeats, timers, metrics). */
async function idleCpu(sys: KvSystem, seconds: number): Promise<number> {
  const before = groupCpu(sys);
  await sleep(seconds * 1000);
  const after = groupCpu(sys);
  let all = 0;
  for (const [id, ms] of after) all += ms - (before.get(id) ?? ms);
  return all / seconds;
}

function describeLoad(r: LoadResult): string {
  return `${fmtRate(r.opsPerSec)}, p50 ${fmtMs(r.p50)}, p99 ${fmtMs(r.p99)} (${r.ok} ok, ${r.errors} errors, ${r.seconds.toFixed(1)} s; server CPU per op: leader ${fmtMs(r.cpuPerOpLeader ?? NaN)}, all members ${fmtMs(r.cpuPerOpAll ?? NaN)}, net of idle ${fmtMs(r.cpuPerOpAllNet ?? NaN)})${r.firstErrors.length ? ` first errors: ${r.firstErrors.join(' | ')}` : ''}`;
}

/** The leader's commit-latency histogram (proposal to applied) between two scrapes, as bucket bounds. */
async function commitLatencyDuring<T>(cairn: CairnGroup, leader: string, run: () => Promise<T>): Promise<{ result: T; note: string }> {
  const before = histogram(parseMetrics(await cairn.metrics(leader)), 'cairn_raft_commit_latency_seconds');
  const result = await run();
  const after = histogram(parseMetrics(await cairn.metrics(leader)), 'cairn_raft_commit_latency_seconds');
  const p50 = histogramQuantileBound(before, after, 0.5);
  const p99 = histogramQuantileBound(before, after, 0.99);
  return { result, note: `leader cairn_raft_commit_latency_seconds over ${p50.count} proposals: p50 <= ${fmtMs(p50.bound * 1000)}, p99 <= ${fmtMs(p99.bound * 1000)}` };
}

const PROBE_EVERY_MS = 5;
/** BENCH_TRACE_PROBES=1 prints what every failover probe got back, in 100 ms buckets. */
const TRACE_PROBES = env['BENCH_TRACE_PROBES'] === '1';

interface ProbeTrace {
  m: string;
  sentAt: number;
  doneAt: number;
  status: number;
  what: string;
}

function printTrace(trace: ProbeTrace[], firstMs: number): void {
  const buckets = new Map<string, Map<string, number>>();
  for (const t of trace) {
    const b = `${String(Math.floor(t.doneAt / 100) * 100).padStart(5)} ms`;
    const k = `${t.m} ${t.status} ${String(t.what).slice(0, 60)}`;
    if (!buckets.has(b)) buckets.set(b, new Map());
    buckets.get(b)!.set(k, (buckets.get(b)!.get(k) ?? 0) + 1);
  }
  if (trace.length <= 40) {
    // A handful of probes (a quick failover): each one, in the order sent.
    for (const t of [...trace].sort((a, b) => a.sentAt - b.sentAt)) process.stdout.write(`    probe to ${t.m} sent +${t.sentAt.toFixed(1)} answered +${t.doneAt.toFixed(1)}: ${t.status} ${String(t.what).slice(0, 60)}\n`);
  } else {
    for (const [b, m] of [...buckets].sort()) process.stdout.write(`    answered ${b}: ${[...m].map(([k, n]) => `${k} x${n}`).join('; ')}\n`);
  }
  const slow = trace.filter((t) => t.doneAt - t.sentAt > 200).length;
  process.stdout.write(`    first accepted at ${firstMs.toFixed(0)} ms; ${slow} probes took over 200 ms; still in flight at the end: not listed\n`);
}
const PROBES_PER_MEMBER_MAX = 256;

interface FailoverRun {
  readonly ms: number;
  /** From the signal to the new leader's "became leader" log line, when the log tells. */
  readonly electedMs: number | null;
  readonly oldLeader: string;
  readonly newLeader: string;
  readonly probes: number;
  readonly timeline: string;
}

/**
 * Signals the leader, then probes with puts every 5 ms, round robin over every member (the
 * signalled one too), at most 256 in flight per member, until one answers 200 from a later term
 * than the old leader's: the time from the signal to that answer. Then restarts the signalled
 * member and waits for it to catch up and for the group to agree on a leader.
 */
async function failoverOnce(sys: KvSystem, sig: 'SIGKILL' | 'SIGTERM'): Promise<FailoverRun> {
  const leader = await waitLeader(sys);
  const urls = sys.ids.map((id) => sys.url(id));
  // One pool per member, and a cap per member: requests hanging on one member (a deposed leader
  // keeps a proposal until it times out) must not hold back probes to the others.
  const agents = urls.map(() => keepAliveAgent(PROBES_PER_MEMBER_MAX));
  const inflight = urls.map(() => 0);
  const trace: ProbeTrace[] = [];
  let attempts = 0;
  let sent = 0;
  let firstMs = -1;
  let newLeader = '';
  const wall0 = Date.now();
  const t0 = performance.now();
  let exitMs = -1;
  void sys.proc(leader.id).exited.then(() => (exitMs = performance.now() - t0));
  signal(sys.proc(leader.id), sig);
  await new Promise<void>((resolve) => {
    let stop = false;
    const deadline = t0 + 30_000;
    const fire = () => {
      if (stop) return;
      if (performance.now() > deadline) {
        stop = true;
        resolve();
        return;
      }
      const m = attempts % urls.length;
      if (inflight[m]! < PROBES_PER_MEMBER_MAX) {
        const n = attempts;
        sent++;
        inflight[m]!++;
        const sentAt = performance.now() - t0;
        void httpRequest(agents[m]!, urls[m]!, '/v3/kv/put', { body: putBody(n), headers: sys.headers, timeoutMs: 10_000 }).then((r) => {
          inflight[m]!--;
          if (TRACE_PROBES) trace.push({ m: sys.ids[m]!, sentAt, doneAt: performance.now() - t0, status: r.status, what: r.error ?? (r.status === 200 ? `term ${jsonOf(r)?.header?.raft_term}` : (jsonOf(r)?.error?.code ?? jsonOf(r)?.error ?? r.text.slice(0, 40))) });
          if (stop || r.status !== 200) return;
          const term = Number(jsonOf(r)?.header?.raft_term);
          if (term > leader.term) {
            firstMs = performance.now() - t0;
            stop = true;
            resolve();
          }
        });
      }
      attempts++;
      setTimeout(fire, PROBE_EVERY_MS);
    };
    fire();
  });
  if (TRACE_PROBES) {
    // Let the probes still in flight answer (bounded), so the trace shows where each one went.
    const until = performance.now() + 200;
    while (inflight.some((n) => n > 0) && performance.now() < until) await new Promise((r) => setTimeout(r, 5));
    printTrace(trace, firstMs);
  }
  for (const a of agents) a.destroy();
  if (firstMs < 0) throw new Error(`${sys.name}: no write was accepted within 30 s of ${sig} to the leader ${leader.id}`);
  await killMember(sys, leader.id, sig); // waits for the exit (a SIGTERM'd leader hands over first)
  const after = await waitLeader(sys);
  newLeader = after.id;
  const electedMs = electedAt(sys, newLeader, wall0);
  const timeline = sys.name === 'cairn' ? cairnTimeline(sys, wall0, leader.id, newLeader, exitMs, firstMs) : '';
  sys.spawn(leader.id);
  await waitCaughtUp(sys, leader.id);
  await waitLeader(sys);
  return { ms: firstMs, electedMs: electedMs === null ? null : electedMs - wall0, oldLeader: leader.id, newLeader, probes: sent, timeline };
}

/**
 * Where a Cairn failover's time went, from the nodes' own log lines (ms after the signal): the
 * old leader noticing SIGTERM, stepping down and exiting, the first campaign, the new leader's
 * election, the third node learning of it, and the first accepted write.
 */
function cairnTimeline(sys: KvSystem, wall0: number, oldLeader: string, newLeader: string, exitMs: number, acceptedMs: number): string {
  const lines = new Map(sys.ids.map((id) => [id, logLinesSince(logText(sys.proc(id)), wall0 - 1)]));
  const first = (id: string, pred: (o: any) => boolean) => {
    const l = lines.get(id)!.find((x) => pred(x.o));
    return l ? l.t - wall0 : null;
  };
  const third = sys.ids.find((id) => id !== oldLeader && id !== newLeader)!;
  const campaign = Math.min(...sys.ids.map((id) => first(id, (o) => o.msg === 'leader changed' && (o.role === 'pre-candidate' || o.role === 'candidate')) ?? Number.POSITIVE_INFINITY));
  const parts: [string, number | null][] = [
    ['"shutting down"', first(oldLeader, (o) => o.msg === 'shutting down')],
    ['old leader steps down', first(oldLeader, (o) => o.msg === 'leader changed' && o.role !== 'leader')],
    ['first campaign', Number.isFinite(campaign) ? campaign : null],
    [`${newLeader} leader`, first(newLeader, (o) => o.msg === 'leader changed' && o.role === 'leader')],
    [`${third} follows it`, first(third, (o) => o.msg === 'leader changed' && o.leader === newLeader)],
    [`${newLeader} steps down again`, (() => {
      const elected = first(newLeader, (o) => o.msg === 'leader changed' && o.role === 'leader');
      if (elected === null) return null;
      const l = lines.get(newLeader)!.find((x) => x.t - wall0 > elected && x.o.msg === 'leader changed' && x.o.role !== 'leader');
      return l ? l.t - wall0 : null;
    })()],
    ['"transfer before exit"', first(oldLeader, (o) => o.msg === 'leadership transfer before exit')],
    ['old process exit', exitMs >= 0 ? exitMs : null],
    ['first write accepted', acceptedMs],
  ];
  return parts.filter(([, v]) => v !== null).sort((a, b) => a[1]! - b[1]!).map(([k, v]) => `${k} +${v!.toFixed(0)}`).join(', ');
}

/** Wall time at which `id` logged that it became leader, after `since`, or null. */
function electedAt(sys: KvSystem, id: string, since: number): number | null {
  for (const line of logText(sys.proc(id)).split('\n')) {
    if (line === '') continue;
    let o: any;
    try {
      o = JSON.parse(line);
    } catch {
      continue;
    }
    const t = Date.parse(o.time ?? o.ts ?? '');
    if (!(t >= since - 1)) continue;
    if (sys.name === 'cairn' && o.msg === 'leader changed' && o.role === 'leader') return t;
    if (sys.name === 'etcd' && typeof o.msg === 'string' && o.msg.includes('became leader at term')) return t;
  }
  return null;
}

async function failoverSeries(sys: KvSystem, sig: 'SIGKILL' | 'SIGTERM'): Promise<FailoverRun[]> {
  const runs: FailoverRun[] = [];
  for (let i = 0; i < CFG.failoverReps; i++) {
    const r = await failoverOnce(sys, sig);
    runs.push(r);
    say(`  ${sys.name} ${sig} #${i + 1}: ${fmtMs(r.ms)} to the first accepted write (leader ${r.oldLeader} -> ${r.newLeader}, elected after ${r.electedMs === null ? '?' : fmtMs(r.electedMs)}, ${r.probes} probes)${r.timeline ? `\n         timeline (ms after the signal): ${r.timeline}` : ''}`);
  }
  return runs;
}

// ------------------------------------------------------------------ catalog (Cairn only)
const SCHEMA = {
  timestamp: { column: '__time', format: 'millis' },
  dimensions: [
    { name: 'channel', type: 'string' }, { name: 'page', type: 'string' }, { name: 'user', type: 'string' },
    { name: 'countryName', type: 'string' }, { name: 'isRobot', type: 'string' },
  ],
  metrics: [{ name: 'count', type: 'long' }, { name: 'added', type: 'long' }, { name: 'deleted', type: 'long' }],
};
const HOUR = 3_600_000;
const BASE = Date.UTC(2000, 0, 1);
const PARTITIONS = 4;
const VERSION = '2024-06-01T00:00:00.000Z';

/** Batch `b`: every partition of the next run of hourly intervals of one datasource. */
function segmentBatch(b: number): string {
  const n = CFG.segmentsPerBatch;
  const segments = [];
  for (let k = 0; k < n; k++) {
    const seq = b * n + k;
    const hour = Math.floor(seq / PARTITIONS);
    const partition = seq % PARTITIONS;
    const checksum = createHash('sha256').update(`wikipedia/${seq}`).digest('hex');
    const start = new Date(BASE + hour * HOUR).toISOString();
    const end = new Date(BASE + (hour + 1) * HOUR).toISOString();
    segments.push({
      dataSource: 'wikipedia',
      start,
      end,
      version: VERSION,
      partition,
      partitions: PARTITIONS,
      size: 40_000_000 + ((seq * 2_654_435_761) % 20_000_000),
      rows: 1_000_000 + ((seq * 40_503) % 500_000),
      schema: SCHEMA,
      checksum,
      location: CFG.druidPaths ? `wikipedia/${start}_${end}/${VERSION}/${partition}/index.arrow` : segmentKey('wikipedia', checksum),
    });
  }
  return JSON.stringify({ ingestionId: `bench-ingestion-${String(b).padStart(6, '0')}`, segments });
}

interface SnapshotResult {
  readonly follower: string;
  readonly sent: number;
  readonly sentOk: number;
  readonly sentFailed: number;
  readonly bytes: number[];
  /** From the restarted follower's "cairn-meta listening" to the leader's first "sending snapshot" (log times). */
  readonly buildMs: number | null;
  readonly answeringMs: number | null;
  /** null: not caught up within the wait. */
  readonly catchUpMs: number | null;
  readonly installLines: number;
  readonly leaderStatusMaxMs: number;
  readonly leaderStatusSlow: number;
  /** The leader's largest anonymous and file-backed resident memory while the follower caught up. */
  readonly leaderAnonMax: number;
  readonly leaderFileMax: number;
  readonly leaderChanges: number;
  readonly forcingPuts: number;
  readonly error: string | null;
}

interface RestartResult {
  readonly node: string;
  readonly answeringMs: number | null;
  readonly caughtUpMs: number | null;
  readonly recoveredMs: number | null;
  readonly rss: number | null;
  readonly error: string | null;
}

interface CatalogResult {
  segments: number;
  publishSeconds: number;
  segmentsPerSec: number;
  batchP50: number;
  batchP99: number;
  publishRetries: number;
  requestBytes: number;
  publishElections: number;
  publishCpuPerBatchMs: number;
  publishStall: string;
  rssAfterPublish: { leader: number | null; leaderMetric: number; followers: string };
  snapshot: SnapshotResult | null;
  /** After a snapshot catch-up that never finished: how long until the other two kept one leader (null: never). */
  recoveredAfterStoppingMs: number | null | undefined;
  peaks: string;
  error: string | null;
  restart: RestartResult | null;
  leaderRss: number | null;
  leaderRssMetric: number;
  leaderHwm: number | null;
  leaderId: string;
}

async function scrape(cairn: CairnGroup, id: string) {
  return parseMetrics(await waitFor(`metrics of ${id}`, 60_000, () => cairn.metrics(id)));
}

/**
 * The anonymous (heap, typed arrays, native allocations) and file-backed (the binary, LevelDB's
 * memory-mapped tables) parts of a process's RSS, from /proc.
 */
function rssParts(pid: number): string {
  const r = rssOf(pid);
  // VmHWM so far: which phase set the peak reported at the end.
  return r ? `RssAnon ${fmtBytes(r.anon)}, RssFile ${fmtBytes(r.file)}, peak so far (VmHWM) ${fmtBytes(r.hwm)}` : 'RssAnon/RssFile n/a';
}

/** RssAnon, RssFile and VmHWM of a process in bytes, or null once it is gone. */
function rssOf(pid: number): { anon: number; file: number; hwm: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)\\s+kB`).exec(status)?.[1] ?? Number.NaN) * 1024;
    return { anon: kb('RssAnon'), file: kb('RssFile'), hwm: kb('VmHWM') };
  } catch {
    return null;
  }
}

/** Log lines of a pino JSON log at or after `since` (wall ms), with their time. */
function logLinesSince(text: string, since: number): { t: number; o: any }[] {
  const out: { t: number; o: any }[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const o = JSON.parse(line);
      const t = Date.parse(o.time);
      if (t >= since) out.push({ t, o });
    } catch {
      // not a log line
    }
  }
  return out;
}

/** Leader changes every node logged since `since`. */
function leaderChangesSince(cairn: CairnGroup, since: number): number {
  let n = 0;
  for (const id of cairn.ids) n += logLinesSince(logText(cairn.proc(id)), since).filter((l) => l.o.msg === 'leader changed' && l.o.role === 'leader').length;
  return n;
}

async function publishAll(cairn: CairnGroup, result: CatalogResult): Promise<void> {
  let leader = (await waitLeader(cairn)).id;
  const batches = Math.ceil(CFG.segments / CFG.segmentsPerBatch);
  const agent = keepAliveAgent(CFG.publishConcurrency);
  const lat: number[] = [];
  let next = 0;
  let done = 0;
  result.requestBytes = segmentBatch(0).length;
  say(`catalog: publishing ${CFG.segments} segments in ${batches} batches of ${CFG.segmentsPerBatch} (${CFG.publishConcurrency} publishers, to the leader ${leader}); ${fmtBytes(result.requestBytes)} per request; locations ${CFG.druidPaths ? "Druid-style paths (BENCH_LOCATIONS=paths)" : "content-addressed keys, as Cairn's ingestion writes them"}`);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CFG.publishConcurrency }, async () => {
    for (;;) {
      const b = next++;
      if (b >= batches) return;
      const body = segmentBatch(b);
      for (let attempt = 0; ; attempt++) {
        const s = performance.now();
        const r = await httpRequest(agent, cairn.url(leader), '/v1/segments/publish', { body, headers: cairn.headers, timeoutMs: 60_000 });
        if (r.status === 200) {
          const j = jsonOf(r);
          if (!j?.ok || (!j.replayed && j.published + j.unchanged !== CFG.segmentsPerBatch)) throw new Error(`publish ${b}: unexpected answer ${r.text.slice(0, 300)}`);
          lat.push(performance.now() - s);
          break;
        }
        // Leadership moved or the leader shed load: same ingestion id again (publishes are idempotent).
        result.publishRetries++;
        if (attempt >= 30 || ![0, 429, 503, 504].includes(r.status)) throw new Error(`publish ${b} failed: ${r.status} ${r.error ?? r.text.slice(0, 300)}`);
        await sleep(100);
        leader = (await waitLeader(cairn)).id;
      }
      if (++done % 100 === 0) say(`  published ${done * CFG.segmentsPerBatch} segments (${fmtRate((done * CFG.segmentsPerBatch) / ((performance.now() - t0) / 1000), 'segments/s')} so far)`);
    }
  }));
  result.publishSeconds = (performance.now() - t0) / 1000;
  agent.destroy();
  const sortedLat = sortedCopy(lat);
  result.segments = batches * CFG.segmentsPerBatch;
  result.segmentsPerSec = result.segments / result.publishSeconds;
  result.batchP50 = quantile(sortedLat, 0.5);
  result.batchP99 = quantile(sortedLat, 0.99);
  say(`catalog: ${result.segments} segments in ${result.publishSeconds.toFixed(1)} s: ${fmtRate(result.segmentsPerSec, 'segments/s')}, per batch p50 ${fmtMs(result.batchP50)} p99 ${fmtMs(result.batchP99)}, ${result.publishRetries} retries`);
}

/**
 * Stops a follower, writes until the leader has compacted past it twice, starts it again and
 * times its catch-up, which needs the leader's state export (snapshot).
 */
async function snapshotCatchUp(cairn: CairnGroup, leader: string, follower: string): Promise<SnapshotResult> {
  const m0 = await scrape(cairn, leader);
  const fStatus = await cairn.status(follower, 5000);
  const compactionsAtKill = metric(m0, 'cairn_raft_log_compactions_total');
  await killMember(cairn, follower, 'SIGKILL');
  say(`snapshot: killed follower ${follower} at applied index ${fStatus.applied}; writing until the leader has compacted twice (compactEvery ${CFG.catalogCompactEvery})`);
  let forcingPuts = 0;
  for (;;) {
    const m = await scrape(cairn, leader);
    if (metric(m, 'cairn_raft_log_compactions_total') >= compactionsAtKill + 2) break;
    if (forcingPuts >= 20 * CFG.catalogCompactEvery + 1000) throw new Error(`the leader did not compact twice after ${forcingPuts} puts`);
    const r = await closedLoop(cairn, cairn.url(leader), '/v3/kv/put', (i) => putBody(i + forcingPuts), 16, CFG.catalogCompactEvery);
    forcingPuts += r.ok;
  }
  say(`snapshot: ${forcingPuts} puts later the leader has compacted past ${follower}; starting it again`);
  // Watch the leader's event loop while it builds and sends the snapshot.
  let watching = true;
  let statusMax = 0;
  let statusSlow = 0;
  // And its memory: which part of its RSS the transfer grows.
  const leaderPid = cairn.proc(leader).pid;
  let anonMax = 0;
  let fileMax = 0;
  const watcher = (async () => {
    while (watching) {
      const r = rssOf(leaderPid);
      anonMax = Math.max(anonMax, r?.anon ?? 0);
      fileMax = Math.max(fileMax, r?.file ?? 0);
      const s = performance.now();
      await cairn.status(leader, 30_000).catch(() => null);
      const d = performance.now() - s;
      statusMax = Math.max(statusMax, d);
      if (d > 300) statusSlow++;
      await sleep(25);
    }
  })();
  const since = Date.now();
  const t1 = performance.now();
  let answeringMs: number | null = null;
  let catchUpMs: number | null = null;
  let error: string | null = null;
  try {
    cairn.spawn(follower);
    await cairn.waitAnswering(follower, 120_000);
    answeringMs = performance.now() - t1;
    await waitCaughtUp(cairn, follower, CFG.snapshotWaitSeconds * 1000);
    catchUpMs = performance.now() - t1;
  } catch (err) {
    error = (err as Error).message.split('\n')[0]!;
  } finally {
    watching = false;
    await watcher;
  }
  const m1 = await scrape(cairn, leader).catch(() => [] as ReturnType<typeof parseMetrics>);
  // The transport logs "sending snapshot" when a transfer starts (it streams from disk, so the size
  // is known only at the end) and "snapshot sent" with the bytes when it completes.
  const linesOf = (msg: string) => cairn.ids.flatMap((id) => logLinesSince(logText(cairn.proc(id)), since).filter((l) => l.o.msg === msg && l.o.peer === follower)).sort((a, b) => a.t - b.t);
  const sends = linesOf('sending snapshot');
  const sent = linesOf('snapshot sent');
  const followerLog = logLinesSince(logText(cairn.proc(follower)), since);
  const listening = followerLog.find((l) => l.o.msg === 'cairn-meta listening');
  const sentOk = (m: ReturnType<typeof parseMetrics>, result: string) => metric(m, 'cairn_raft_snapshots_sent_total', { result });
  return {
    follower,
    sent: metric(m1, 'cairn_raft_snapshots_sent_total') - metric(m0, 'cairn_raft_snapshots_sent_total'),
    sentOk: sentOk(m1, 'ok') - sentOk(m0, 'ok'),
    sentFailed: sentOk(m1, 'failed') - sentOk(m0, 'failed'),
    bytes: sent.map((l) => Number(l.o.bytes)),
    buildMs: listening && sends[0] ? sends[0].t - listening.t : null,
    answeringMs,
    catchUpMs,
    installLines: followerLog.filter((l) => l.o.msg === 'installed a snapshot').length,
    leaderStatusMaxMs: statusMax,
    leaderStatusSlow: statusSlow,
    leaderAnonMax: anonMax,
    leaderFileMax: fileMax,
    leaderChanges: leaderChangesSince(cairn, since),
    forcingPuts,
    error,
  };
}

/** SIGTERM `node`, start it again, and time until it answers and until it has caught up. */
async function restartNode(cairn: CairnGroup, node: string): Promise<RestartResult> {
  await killMember(cairn, node, 'SIGTERM');
  const since = Date.now();
  const t = performance.now();
  let answeringMs: number | null = null;
  let caughtUpMs: number | null = null;
  let error: string | null = null;
  try {
    cairn.spawn(node);
    await cairn.waitAnswering(node, 120_000);
    answeringMs = performance.now() - t;
    await waitCaughtUp(cairn, node, 120_000);
    caughtUpMs = performance.now() - t;
  } catch (err) {
    error = (err as Error).message.split('\n')[0]!;
  }
  const recovered = logLinesSince(logText(cairn.proc(node)), since).find((l) => l.o.msg === 'recovered from disk');
  return { node, answeringMs, caughtUpMs, recoveredMs: recovered ? recovered.t - since : null, rss: vmRssBytes(cairn.proc(node).pid), error };
}

/** Polls every node's /v1/status every 100 ms: the worst answer time per node shows event-loop stalls. */
function responsiveness(cairn: CairnGroup): { stop(): Promise<Map<string, { maxMs: number; slow: number }>> } {
  let on = true;
  const out = new Map(cairn.ids.map((id) => [id, { maxMs: 0, slow: 0 }]));
  const loops = cairn.ids.map(async (id) => {
    while (on) {
      const s = performance.now();
      const ok = await cairn.status(id, 60_000).then(() => true, () => false);
      const d = performance.now() - s;
      const o = out.get(id)!;
      if (ok) {
        o.maxMs = Math.max(o.maxMs, d);
        if (d > 300) o.slow++;
      }
      await sleep(100);
    }
  });
  return {
    async stop() {
      on = false;
      await Promise.all(loops);
      return out;
    },
  };
}

function newCatalogResult(): CatalogResult {
  return {
    segments: 0, publishSeconds: 0, segmentsPerSec: 0, batchP50: 0, batchP99: 0, publishRetries: 0, requestBytes: 0,
    publishElections: 0, publishCpuPerBatchMs: 0, publishStall: '',
    rssAfterPublish: { leader: null, leaderMetric: 0, followers: '' },
    snapshot: null, recoveredAfterStoppingMs: undefined, restart: null, leaderRss: null, leaderRssMetric: 0, leaderHwm: null, leaderId: '', peaks: '', error: null,
  };
}

/**
 * Cairn only, on a fresh group: publish the catalog, restart a follower while the group is
 * healthy, then make a follower need the state export. Fills `result` as it goes, so a failure
 * part way still leaves the figures measured before it.
 */
async function catalogPhase(result: CatalogResult): Promise<void> {
  const raft = { compactEvery: CFG.catalogCompactEvery, compactKeep: CFG.catalogCompactKeep };
  const cairn = new CairnGroup(join(dir, 'catalog'), CFG.cairnNodeArgs, raft, CFG.cairnLogLevel);
  try {
    await cairn.start();
    say(`catalog: a fresh Cairn group with raft ${JSON.stringify(raft)} (other settings default)`);
    const since = Date.now();
    const cpu0 = groupCpu(cairn);
    const mon = responsiveness(cairn);
    try {
      await publishAll(cairn, result);
    } finally {
      const stalls = await mon.stop();
      result.publishStall = [...stalls].map(([id, v]) => `${id} ${fmtMs(v.maxMs)} (${v.slow} > 300 ms)`).join(', ');
      result.publishElections = leaderChangesSince(cairn, since);
      const cpu1 = groupCpu(cairn);
      let cpu = 0;
      for (const [id, ms] of cpu1) cpu += ms - (cpu0.get(id) ?? ms);
      result.publishCpuPerBatchMs = cpu / Math.max(1, result.segments / CFG.segmentsPerBatch);
      say(`catalog: during the publish ${result.publishElections} elections were won; worst /v1/status answer per node: ${result.publishStall}; server CPU per batch of ${CFG.segmentsPerBatch} (3 members): ${fmtMs(result.publishCpuPerBatchMs)}`);
    }

    let leader = (await waitLeader(cairn, 120_000)).id;
    for (const id of cairn.ids) await waitCaughtUp(cairn, id);
    leader = (await waitLeader(cairn, 120_000)).id;
    const followers = cairn.ids.filter((id) => id !== leader);
    const m0 = await scrape(cairn, leader);
    result.rssAfterPublish = {
      leader: vmRssBytes(cairn.proc(leader).pid),
      leaderMetric: metric(m0, 'process_resident_memory_bytes'),
      followers: followers.map((id) => `${id} ${fmtBytes(vmRssBytes(cairn.proc(id).pid))}`).join(', '),
    };
    say(`catalog: RSS after publishing: leader ${leader} ${fmtBytes(result.rssAfterPublish.leader)} (process_resident_memory_bytes ${fmtBytes(result.rssAfterPublish.leaderMetric)}; V8 heap used ${fmtBytes(metric(m0, 'nodejs_heap_size_used_bytes'))} of ${fmtBytes(metric(m0, 'nodejs_heap_size_total_bytes'))}, external ${fmtBytes(metric(m0, 'nodejs_external_memory_bytes'))}; ${rssParts(cairn.proc(leader).pid)}), followers ${result.rssAfterPublish.followers}`);

    // The restart first, while the group is healthy (the snapshot phase may leave it unhealthy).
    const node = followers[1]!;
    const rs = await restartNode(cairn, node);
    result.restart = rs;
    say(`restart: ${node} (SIGTERM, started again) answered /v1/status after ${rs.answeringMs === null ? 'n/a' : fmtMs(rs.answeringMs)}, caught up after ${rs.caughtUpMs === null ? 'n/a' : fmtMs(rs.caughtUpMs)}; "recovered from disk" logged ${rs.recoveredMs === null ? '?' : fmtMs(rs.recoveredMs)} after the start; its RSS ${fmtBytes(rs.rss)}${rs.error ? `; error: ${rs.error}` : ''}`);

    leader = (await waitLeader(cairn, 120_000)).id;
    const m1 = await scrape(cairn, leader);
    result.leaderId = leader;
    result.leaderRss = vmRssBytes(cairn.proc(leader).pid);
    result.leaderRssMetric = metric(m1, 'process_resident_memory_bytes');
    say(`memory: leader ${leader} VmRSS ${fmtBytes(result.leaderRss)}, process_resident_memory_bytes ${fmtBytes(result.leaderRssMetric)}; V8 heap used ${fmtBytes(metric(m1, 'nodejs_heap_size_used_bytes'))} of ${fmtBytes(metric(m1, 'nodejs_heap_size_total_bytes'))}, external (typed arrays, buffers, log entries) ${fmtBytes(metric(m1, 'nodejs_external_memory_bytes'))}; ${rssParts(cairn.proc(leader).pid)}`);
    if (CFG.skipSnapshot) return;

    const lagging = cairn.ids.find((id) => id !== leader)!;
    const sn = await snapshotCatchUp(cairn, leader, lagging);
    result.snapshot = sn;
    say(`snapshot: ${sn.follower} answered /v1/status after ${sn.answeringMs === null ? 'n/a' : fmtMs(sn.answeringMs)}, caught up after ${sn.catchUpMs === null ? `NOT within ${CFG.snapshotWaitSeconds} s` : fmtMs(sn.catchUpMs)}; `
      + `snapshots sent ${sn.sent} (ok ${sn.sentOk}, failed ${sn.sentFailed}); completed transfers ${sn.bytes.length}, bytes [${sn.bytes.map((x) => fmtBytes(x)).join(', ')}]; installed ${sn.installLines}x; `
      + `follower listening -> first "sending snapshot" ${sn.buildMs === null ? 'n/a' : fmtMs(sn.buildMs)}; first leader's /v1/status worst ${fmtMs(sn.leaderStatusMaxMs)} (${sn.leaderStatusSlow} polls > 300 ms), its largest RssAnon ${fmtBytes(sn.leaderAnonMax)} and RssFile ${fmtBytes(sn.leaderFileMax)}; elections won meanwhile: ${sn.leaderChanges}${sn.error ? `; error: ${sn.error}` : ''}`);
    if (sn.catchUpMs === null) {
      // Does the group settle once the follower that needs the export is gone?
      await killMember(cairn, lagging, 'SIGKILL');
      const t = performance.now();
      const back = await waitFor('a stable leader after stopping the lagging follower', 120_000, async () => {
        const l = await waitLeader(cairn, 5000).catch(() => undefined);
        if (!l) return undefined;
        await sleep(2000);
        const again = await waitLeader(cairn, 5000).catch(() => undefined);
        return again && again.id === l.id && again.term === l.term ? again : undefined;
      }).catch(() => null);
      result.recoveredAfterStoppingMs = back ? performance.now() - t - 2000 : null;
      say(`snapshot: after SIGKILL of ${lagging} the other two ${back ? `keep one leader (${back.id}, term ${back.term}) from ${fmtMs(result.recoveredAfterStoppingMs!)} on` : 'still have no stable leader after 120 s'}`);
    }
  } catch (err) {
    result.error = (err as Error).message.split('\n')[0]!;
    say(`catalog phase failed: ${result.error}`);
  } finally {
    result.peaks = cairn.running().map((id) => `${id} ${fmtBytes(vmHwmBytes(cairn.proc(id).pid))}`).join(', ');
    const leaderProc = result.leaderId ? cairn.proc(result.leaderId) : undefined;
    result.leaderHwm = leaderProc ? vmHwmBytes(leaderProc.pid) : null;
    say(`memory: peak RSS (VmHWM) of the running nodes: ${result.peaks}`);
    await Promise.all(cairn.running().map((id) => killMember(cairn, id, 'SIGTERM')));
  }
}

// ------------------------------------------------------------------ the run
interface Row {
  figure: string;
  cairn: string;
  etcd: string;
  ratio: string;
  target: string;
  verdict: string;
}

async function main(): Promise<void> {
  const etcdVersion = CFG.skipEtcd ? null : EtcdCluster.installed();
  say(`bench/meta.ts: temp ${dir}; ${QUICK ? 'QUICK run; ' : ''}node ${process.version}; etcd ${etcdVersion ?? (CFG.skipEtcd ? 'skipped (BENCH_SKIP_ETCD)' : 'not installed (apt-get install etcd-server etcd-client): Cairn only')}`);
  const cairn = new CairnGroup(join(dir, 'cairn'), CFG.cairnNodeArgs, undefined, CFG.cairnLogLevel);
  const etcd = etcdVersion ? new EtcdCluster(join(dir, 'etcd'), CFG.etcdTiming) : null;
  const systems: KvSystem[] = etcd ? [cairn, etcd] : [cairn];
  const idle: Record<string, number> = {};
  const load: Record<string, Record<string, LoadResult>> = {};
  const notes: string[] = [];
  const failover: Record<string, Record<string, FailoverRun[]>> = { SIGKILL: {}, SIGTERM: {} };
  if (!CFG.skipKv) {
    const t = performance.now();
    await Promise.all([cairn.start(), etcd?.start()]);
    const cl = await waitLeader(cairn);
    const el = etcd ? await waitLeader(etcd) : null;
    say(`started: cairn leader ${cl.id} (term ${cl.term}); ${etcd ? `etcd ${etcd.version} leader ${el!.id} (heartbeat ${CFG.etcdTiming.heartbeatMs} ms, election ${CFG.etcdTiming.electionMs} ms, pre-vote ${CFG.etcdTiming.preVote})` : 'no etcd'} in ${fmtMs(performance.now() - t)}`);

    // Both take the same body; etcd 3.4 refuses any Authorization header while auth is off.
    if (etcd) {
      const probe = await httpRequest(etcd.agent, etcd.url(el!.id), '/v3/kv/put', { body: putBody(0), headers: cairn.headers });
      say(`note: etcd with the Cairn token header answers ${probe.status} ${probe.text.slice(0, 80)}; etcd requests go without it`);
    }

    for (const sys of CFG.skipLoads ? [] : systems) {
      idle[sys.name] = await idleCpu(sys, 5);
      say(`idle [${sys.name}]: the three members together use ${idle[sys.name]!.toFixed(0)} ms of CPU per second (heartbeats and timers)`);
    }
    for (const [label, path, body, clients, total] of CFG.skipLoads ? [] : [
      ['put, 1 client', '/v3/kv/put', putBody, 1, CFG.put1Ops],
      ['put, 16 clients', '/v3/kv/put', putBody, 16, CFG.put16Ops],
      ['linearizable range, 16 clients', '/v3/kv/range', rangeBody, 16, CFG.read16Ops],
    ] as const) {
      load[label] = {};
      for (const sys of systems) {
        const leader = (await waitLeader(sys)).id;
        await closedLoop(sys, sys.url(leader), path, putBody, 16, CFG.warmupOps); // warm-up (and keys for the reads)
        let r: LoadResult;
        if (sys === cairn) {
          const c = await commitLatencyDuring(cairn, leader, () => withCpu(sys, leader, idle[sys.name]!, () => closedLoop(sys, sys.url(leader), path, body, clients, total, CFG.loadSeconds)));
          r = c.result;
          if (path === '/v3/kv/put') notes.push(`${label}: ${c.note}`);
          say(`${label} [${sys.name}, to leader ${leader}]: ${describeLoad(r)}; ${path === '/v3/kv/put' ? c.note : ''}`);
        } else {
          r = await withCpu(sys, leader, idle[sys.name]!, () => closedLoop(sys, sys.url(leader), path, body, clients, total, CFG.loadSeconds));
          say(`${label} [${sys.name}, to leader ${leader}]: ${describeLoad(r)}`);
        }
        load[label][sys.name] = r;
      }
    }

    // Without the loads, warm the members up (JIT, connections) before the failovers.
    if (CFG.skipLoads) for (const sys of systems) await closedLoop(sys, sys.url((await waitLeader(sys)).id), '/v3/kv/put', putBody, 16, CFG.warmupOps);
    for (const sig of CFG.signals) {
      for (const sys of systems) {
        say(`failover after ${sig} of the leader [${sys.name}], ${CFG.failoverReps} times`);
        failover[sig]![sys.name] = await failoverSeries(sys, sig);
      }
    }

    // The catalog phase runs alone on a fresh group: stop both KV groups first.
    for (const sys of systems) await Promise.all(sys.running().map((id) => killMember(sys, id, 'SIGTERM')));
  }
  let catalog: CatalogResult | null = null;
  if (!CFG.skipCatalog) {
    catalog = newCatalogResult();
    await catalogPhase(catalog);
  }

  // ---------------------------------------------------------------- the table
  const rows: Row[] = [];
  const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}x` : '');
  const verdict = (ok: boolean) => (ok ? 'MET' : 'MISSED');
  for (const [label, bySys] of Object.entries(load)) {
    const c = bySys['cairn']!;
    const e = bySys['etcd'];
    const is16put = label === 'put, 16 clients';
    rows.push({
      figure: `${label}: throughput`, cairn: fmtRate(c.opsPerSec), etcd: e ? fmtRate(e.opsPerSec) : '', ratio: e ? ratio(c.opsPerSec, e.opsPerSec) : '',
      target: is16put ? '>= etcd' : '', verdict: is16put && e ? verdict(c.opsPerSec >= e.opsPerSec) : '',
    });
    rows.push({ figure: `${label}: server CPU per op (3 members)`, cairn: fmtMs(c.cpuPerOpAll ?? NaN), etcd: e ? fmtMs(e.cpuPerOpAll ?? NaN) : '', ratio: e ? ratio(c.cpuPerOpAll ?? NaN, e.cpuPerOpAll ?? NaN) : '', target: '', verdict: '' });
    rows.push({ figure: `${label}: p50`, cairn: fmtMs(c.p50), etcd: e ? fmtMs(e.p50) : '', ratio: e ? ratio(c.p50, e.p50) : '', target: '', verdict: '' });
    rows.push({
      figure: `${label}: p99`, cairn: fmtMs(c.p99), etcd: e ? fmtMs(e.p99) : '', ratio: e ? ratio(c.p99, e.p99) : '',
      target: is16put ? '<= etcd' : '', verdict: is16put && e ? verdict(c.p99 <= e.p99) : '',
    });
  }
  if (idle['cairn'] !== undefined) rows.push({ figure: 'idle: server CPU per second (3 members)', cairn: fmtMs(idle['cairn']!), etcd: idle['etcd'] !== undefined ? fmtMs(idle['etcd']) : '', ratio: idle['etcd'] !== undefined ? ratio(idle['cairn']!, idle['etcd']) : '', target: '', verdict: '' });
  for (const sig of ['SIGKILL', 'SIGTERM'] as const) {
    if (!failover[sig]!['cairn']) continue;
    const c = failover[sig]!['cairn']!.map((r) => r.ms);
    const e = failover[sig]!['etcd']?.map((r) => r.ms);
    const target = sig === 'SIGKILL' ? 600 : 20;
    rows.push({
      figure: `failover after ${sig}: median (${c.length} runs)`, cairn: fmtMs(median(c)), etcd: e ? fmtMs(median(e)) : '', ratio: e ? ratio(median(c), median(e)) : '',
      target: `<= ${target} ms`, verdict: verdict(median(c) <= target),
    });
    const ce = failover[sig]!['cairn']!.map((r) => r.electedMs).filter((x): x is number => x !== null);
    const ee = failover[sig]!['etcd']?.map((r) => r.electedMs).filter((x): x is number => x !== null);
    rows.push({
      figure: `failover after ${sig}: signal -> "became leader" log, median`, cairn: fmtMs(median(ce)), etcd: ee ? fmtMs(median(ee)) : '', ratio: ee ? ratio(median(ce), median(ee)) : '', target: '', verdict: '',
    });
    rows.push({
      figure: `failover after ${sig}: max`, cairn: fmtMs(max(c)), etcd: e ? fmtMs(max(e)) : '', ratio: e ? ratio(max(c), max(e)) : '',
      target: sig === 'SIGTERM' ? '<= 20 ms' : '', verdict: sig === 'SIGTERM' ? verdict(max(c) <= 20) : '',
    });
  }
  if (catalog) {
    const sn = catalog.snapshot;
    const rs = catalog.restart;
    const ms = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : fmtMs(v));
    const add = (figure: string, cairnValue: string, target = '', v = '') => rows.push({ figure, cairn: cairnValue, etcd: '', ratio: '', target, verdict: v });
    const full = catalog.segments >= 1_000_000;
    const judged = (ok: boolean) => verdict(ok) + (full ? '' : ' (fewer than 1M segments)');
    add(`catalog publish: ${catalog.segments} segments, ${CFG.segmentsPerBatch}/batch, ${CFG.publishConcurrency} publishers`, fmtRate(catalog.segmentsPerSec, 'segments/s'));
    add('catalog publish: per batch p50 / p99', `${fmtMs(catalog.batchP50)} / ${fmtMs(catalog.batchP99)}`);
    add('catalog publish: elections won meanwhile', String(catalog.publishElections));
    add('catalog publish: server CPU per batch (3 members)', fmtMs(catalog.publishCpuPerBatchMs));
    if (rs) {
      add(`restart with ${catalog.segments} segments: answers /v1/status`, ms(rs.answeringMs));
      add(`restart with ${catalog.segments} segments: caught up`, ms(rs.caughtUpMs), '< 10 s', judged(rs.caughtUpMs !== null && rs.caughtUpMs < 10_000));
    }
    add('leader RSS after publishing (VmRSS)', fmtBytes(catalog.rssAfterPublish.leader), '< 1 GiB', catalog.rssAfterPublish.leader === null ? '' : judged(catalog.rssAfterPublish.leader < 2 ** 30));
    add('leader RSS after the restart (VmRSS / resident metric)', `${fmtBytes(catalog.leaderRss)} / ${fmtBytes(catalog.leaderRssMetric)}`, '< 1 GiB', catalog.leaderRss === null ? '' : judged(catalog.leaderRss < 2 ** 30));
    if (sn) {
      add('snapshot: size (bytes streamed)', sn.bytes.length ? `${fmtBytes(sn.bytes[0]!)} (${sn.bytes.length} sends)` : 'none logged');
      add('snapshot: cairn_raft_snapshots_sent_total (delta)', `${sn.sent} (ok ${sn.sentOk}, failed ${sn.sentFailed})`);
      add('snapshot: follower listening -> 1st "sending snapshot"', ms(sn.buildMs));
      add('snapshot: follower restart -> caught up', sn.catchUpMs === null ? `not within ${CFG.snapshotWaitSeconds} s` : fmtMs(sn.catchUpMs));
      add('snapshot: leader /v1/status worst; elections meanwhile', `${fmtMs(sn.leaderStatusMaxMs)}; ${sn.leaderChanges}`);
      if (catalog.recoveredAfterStoppingMs !== undefined) add('snapshot: stable leader after stopping that follower', catalog.recoveredAfterStoppingMs === null ? 'none within 120 s' : `after ${fmtMs(catalog.recoveredAfterStoppingMs)}`);
    }
    add('peak RSS (VmHWM) at the end, per running node', catalog.peaks || 'n/a', '< 1 GiB', catalog.leaderHwm === null ? '' : `${judged(catalog.leaderHwm < 2 ** 30)} (leader)`);
    if (catalog.error) add('catalog phase error', catalog.error);
  }

  const header = ['figure', 'cairn', etcd ? `etcd ${etcd.version}` : 'etcd', 'cairn/etcd', 'target', 'verdict'];
  const widths = ['figure', 'cairn', 'etcd', 'ratio', 'target', 'verdict'].map((k, i) => Math.max(header[i]!.length, ...rows.map((r) => (r as unknown as Record<string, string>)[k]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  process.stdout.write(`\n${line(header)}\n`);
  process.stdout.write(`${line(widths.map((w) => '-'.repeat(w)))}\n`);
  for (const r of rows) process.stdout.write(`${line([r.figure, r.cairn, r.etcd, r.ratio, r.target, r.verdict])}\n`);
  process.stdout.write(`\nnotes: loopback, 2 cores shared by the load generator, both groups and anything else running: figures are noisy. `
    + `Loads go to the leader; etcd requests carry no Authorization header (etcd 3.4 refuses one when auth is off); etcd runs with heartbeat ${CFG.etcdTiming.heartbeatMs} ms, election ${CFG.etcdTiming.electionMs} ms, pre-vote ${CFG.etcdTiming.preVote}; Cairn with its defaults.\n`);
  for (const n of notes) process.stdout.write(`  ${n}\n`);
  say('done');
}

main()
  .then(() => cleanup())
  .then(() => process.exit(0))
  .catch(async (err: unknown) => {
    process.stderr.write(`\nbench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    for (const p of ALL) process.stderr.write(`--- ${p.name} (pid ${p.pid}) log tail ---\n${logTail(p, 15)}\n`);
    await cleanup();
    process.exit(1);
  });

