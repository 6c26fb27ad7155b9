import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { freePorts, isRunning, killProcess, logTail, signal, startProcess, stopProcess, waitExit, waitFor } from './processes.js';
import type { Proc } from './processes.js';

export const META_BIN = fileURLToPath(new URL('../../packages/meta-raft/bin/cairn-meta.mjs', import.meta.url));
export const TEST_TOKEN = 'test-token-0123456789';

/**
 * Raft timing for tests: heartbeats every 100 ms, elections after 1.5-3 s. Much longer than the
 * production default (300-600 ms) so that test files sharing two busy cores cannot starve a
 * node's event loop long enough to cause an election nobody asked for; the assertions about
 * terms (a pause or a SIGTERM moves the term by exactly what the fault implies) rely on it.
 */
export const TEST_RAFT = { tickMs: 50, electionTicks: 30, heartbeatTicks: 2 } as const;

export interface MetaStatus {
  id: string;
  role: string;
  term: number;
  leader: string;
  commitIndex: number;
  appliedIndex: number;
  version: string;
}

export interface ApiResponse<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

/** One JSON request to a node; never throws on HTTP errors, only on network failure. */
export async function api<T = any>(
  url: string,
  path: string,
  opts: { method?: string; body?: unknown; token?: string | null; timeoutMs?: number; headers?: Record<string, string> } = {},
): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = {};
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const token = opts.token === undefined ? TEST_TOKEN : opts.token;
  if (token) headers['authorization'] = `Bearer ${token}`;
  Object.assign(headers, opts.headers);
  const res = await fetch(`${url}${path}`, {
    method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'),
    headers,
    body: opts.body === undefined ? undefined : typeof opts.body === 'string' || opts.body instanceof Uint8Array ? opts.body : JSON.stringify(opts.body),
    signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: body as T, headers: res.headers };
}

/** Prometheus text format into `name{labels}` -> value (labels as written by prom-client). */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/**
 * A metadata group of real cairn-meta processes on loopback, each with its own data folder and
 * log file under the test's folder, stopped by pid in teardown whatever happens. When the test
 * has failed by then, the teardown first prints the tail of every node's log.
 */
export class MetaCluster {
  readonly procs = new Map<string, Proc>();
  readonly urls = new Map<string, string>();
  readonly paused = new Set<string>();
  /** Spawned but not answering /v1/status yet. */
  readonly starting = new Set<string>();
  /** Set by the teardown: a test that timed out must not start nodes nobody will stop. */
  private closed = false;
  readonly configPath: string;

  private constructor(
    private readonly t: Test,
    readonly dir: string,
    readonly ids: readonly string[],
    private readonly env: Record<string, string>,
  ) {
    this.configPath = join(dir, 'cluster.json');
  }

  static async start(t: Test, opts: { nodes?: number; raft?: Record<string, number>; env?: Record<string, string> } = {}): Promise<MetaCluster> {
    const n = opts.nodes ?? 3;
    // The teardown is registered before the first t.testdir(): tap removes a test's folder after
    // the teardowns registered before that call and before those registered after it. Nodes must
    // stop before their folders go: a node writing during the removal made it fail (ENOTEMPTY),
    // and a failed removal skipped the teardowns that stop the processes.
    let cluster: MetaCluster | null = null;
    t.teardown(async () => {
      if (!cluster) return;
      const c = cluster;
      c.closed = true;
      try {
        if (!t.passing()) {
          const text = `node logs (${c.dir}):\n${c.logs(40)}`;
          // After a timeout the test may refuse output: then stderr, which tap shows too.
          try {
            t.comment(text);
          } catch {
            process.stderr.write(`${text}\n`);
          }
        }
      } finally {
        await c.stopAll();
      }
    });
    const dir = t.testdir();
    const ports = await freePorts(n);
    const ids = ports.map((_, i) => `m${i + 1}`);
    const started = new MetaCluster(t, dir, ids, opts.env ?? {});
    cluster = started;
    for (const [i, id] of ids.entries()) started.urls.set(id, `http://127.0.0.1:${ports[i]}`);
    const config = {
      meta: ids.map((id) => ({ id, url: started.urls.get(id)!, dc: 'dc1' })),
      deepStorage: { type: 'local', path: join(dir, 'deep') },
      auth: { token: TEST_TOKEN },
      raft: { ...TEST_RAFT, ...opts.raft },
    };
    writeFileSync(started.configPath, JSON.stringify(config, null, 2));
    for (const id of ids) started.spawn(id);
    await Promise.all(ids.map((id) => started.waitHealthy(id)));
    return started;
  }

  url(id: string): string {
    const u = this.urls.get(id);
    if (!u) throw new Error(`no node ${id}`);
    return u;
  }

  proc(id: string): Proc {
    const p = this.procs.get(id);
    if (!p) throw new Error(`${id} was never started`);
    return p;
  }

  spawn(id: string): Proc {
    if (this.closed) throw new Error(`not starting ${id}: the test has ended`);
    const existing = this.procs.get(id);
    if (existing && isRunning(existing)) throw new Error(`${id} is already running`);
    const data = join(this.dir, id);
    mkdirSync(data, { recursive: true });
    const proc = startProcess(id, [META_BIN, '--config', this.configPath, '--id', id, '--data', data], join(this.dir, `${id}.log`), { env: this.env });
    this.procs.set(id, proc);
    this.paused.delete(id);
    this.starting.add(id);
    return proc;
  }

  async restart(id: string): Promise<void> {
    this.spawn(id);
    await this.waitHealthy(id);
  }

  /** Nodes whose process is alive (paused ones included). */
  running(): string[] {
    return this.ids.filter((id) => {
      const p = this.procs.get(id);
      return p !== undefined && isRunning(p);
    });
  }

  /** Nodes that are alive, started and not paused: the ones a client can expect answers from. */
  reachable(): string[] {
    return this.running().filter((id) => !this.paused.has(id) && !this.starting.has(id));
  }

  async kill(id: string): Promise<void> {
    this.paused.delete(id);
    await killProcess(this.proc(id));
  }

  /** SIGTERM, then SIGKILL after 10 s; see `proc(id).exitCode` for how it ended. */
  async terminate(id: string): Promise<void> {
    this.paused.delete(id);
    await stopProcess(this.proc(id), 10_000);
  }

  pause(id: string): void {
    this.paused.add(id);
    signal(this.proc(id), 'SIGSTOP');
  }

  resume(id: string): void {
    signal(this.proc(id), 'SIGCONT');
    this.paused.delete(id);
  }

  async waitExit(id: string, timeoutMs: number): Promise<boolean> {
    return waitExit(this.proc(id), timeoutMs);
  }

  async status(id: string, timeoutMs = 3000): Promise<MetaStatus> {
    const res = await api<MetaStatus>(this.url(id), '/v1/status', { token: null, timeoutMs });
    if (res.status !== 200) throw new Error(`status of ${id}: HTTP ${res.status}`);
    return res.body;
  }

  /** The statuses of the given nodes (default: the reachable ones); a node that does not answer is left out. */
  async statuses(among: readonly string[] = this.reachable()): Promise<MetaStatus[]> {
    const all = await Promise.all(among.map((id) => this.status(id).catch(() => null)));
    return all.filter((s): s is MetaStatus => s !== null);
  }

  async metrics(id: string): Promise<Map<string, number>> {
    const res = await fetch(`${this.url(id)}/metrics`, { signal: AbortSignal.timeout(2000) });
    if (res.status !== 200) throw new Error(`metrics of ${id}: HTTP ${res.status}`);
    return parseMetrics(await res.text());
  }

  /** One metric's value on a node (the sum over its label sets when `name` has labels), 0 if absent. */
  async metric(id: string, name: string): Promise<number> {
    let sum = 0;
    for (const [k, v] of await this.metrics(id)) if (k === name || k.startsWith(`${name}{`)) sum += v;
    return sum;
  }

  async waitHealthy(id: string, timeoutMs = 60_000): Promise<void> {
    await waitFor(`${id} to answer /v1/status`, timeoutMs, async () => {
      const p = this.proc(id);
      if (!isRunning(p)) throw new Error(`${id} exited (${p.exitCode}):\n${logTail(p)}`);
      return (await this.status(id)) ? true : undefined;
    });
    this.starting.delete(id);
  }

  /** Waits until the given nodes (default: the reachable ones) agree on one leader among them and one term; returns it. */
  async waitLeader(among: readonly string[] = this.reachable(), timeoutMs = 30_000): Promise<string> {
    return (await this.waitLeaderStatus(among, timeoutMs)).leader;
  }

  /** Like `waitLeader`, with the leader's status (its term). */
  async waitLeaderStatus(among: readonly string[] = this.reachable(), timeoutMs = 30_000): Promise<MetaStatus> {
    return waitFor(`a leader agreed by ${among.join(', ')}`, timeoutMs, async () => {
      const statuses = await Promise.all(among.map((id) => this.status(id).catch(() => null)));
      const leader = statuses[0]?.leader;
      if (!leader || !among.includes(leader)) return undefined;
      if (!statuses.every((s) => s && s.leader === leader && s.term === statuses[0]!.term)) return undefined;
      const ls = statuses.find((s) => s!.id === leader);
      return ls && ls.role === 'leader' ? ls : undefined;
    });
  }

  /** Waits until `id` has applied at least `index`. */
  async waitApplied(id: string, index: number, timeoutMs = 30_000): Promise<MetaStatus> {
    return waitFor(`${id} to apply index ${index}`, timeoutMs, async () => {
      const s = await this.status(id);
      return s.appliedIndex >= index ? s : undefined;
    });
  }

  logTail(id: string, lines = 40): string {
    const p = this.procs.get(id);
    return p ? logTail(p, lines) : '(never started)';
  }

  /** Every node's log tail, for a failing assertion's diagnostics. */
  logs(lines = 30): string {
    return this.ids.map((id) => `--- ${id} ---\n${this.logTail(id, lines)}`).join('\n');
  }

  async stopAll(): Promise<void> {
    this.paused.clear();
    await Promise.all([...this.procs.values()].map((p) => stopProcess(p)));
  }
}
