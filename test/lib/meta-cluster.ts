import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { freePorts, isRunning, killProcess, logTail, signal, startProcess, stopProcess, waitFor } from './processes.js';
import type { Proc } from './processes.js';

export const META_BIN = fileURLToPath(new URL('../../packages/meta-raft/bin/cairn-meta.mjs', import.meta.url));
export const TEST_TOKEN = 'test-token-0123456789';

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
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const token = opts.token === undefined ? TEST_TOKEN : opts.token;
  if (token) headers['authorization'] = `Bearer ${token}`;
  const res = await fetch(`${url}${path}`, {
    method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'),
    headers,
    body: opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body),
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

/**
 * A metadata group of real cairn-meta processes on loopback, each with its own data folder and
 * log file under the test's folder, stopped by pid in teardown whatever happens.
 */
export class MetaCluster {
  readonly procs = new Map<string, Proc>();
  readonly urls = new Map<string, string>();
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
    const dir = t.testdir();
    const ports = await freePorts(n);
    const ids = ports.map((_, i) => `m${i + 1}`);
    const cluster = new MetaCluster(t, dir, ids, opts.env ?? {});
    ids.forEach((id, i) => cluster.urls.set(id, `http://127.0.0.1:${ports[i]}`));
    const config = {
      meta: ids.map((id) => ({ id, url: cluster.urls.get(id)!, dc: 'dc1' })),
      deepStorage: { type: 'local', path: join(dir, 'deep') },
      auth: { token: TEST_TOKEN },
      ...(opts.raft ? { raft: opts.raft } : {}),
    };
    writeFileSync(cluster.configPath, JSON.stringify(config, null, 2));
    t.teardown(() => cluster.stopAll());
    for (const id of ids) cluster.spawn(id);
    await Promise.all(ids.map((id) => cluster.waitHealthy(id)));
    return cluster;
  }

  url(id: string): string {
    return this.urls.get(id)!;
  }

  spawn(id: string): Proc {
    const existing = this.procs.get(id);
    if (existing && isRunning(existing)) throw new Error(`${id} is already running`);
    const data = join(this.dir, id);
    mkdirSync(data, { recursive: true });
    const proc = startProcess(id, [META_BIN, '--config', this.configPath, '--id', id, '--data', data], join(this.dir, `${id}.log`), this.env);
    this.procs.set(id, proc);
    return proc;
  }

  async restart(id: string): Promise<void> {
    this.spawn(id);
    await this.waitHealthy(id);
  }

  running(): string[] {
    return this.ids.filter((id) => {
      const p = this.procs.get(id);
      return p !== undefined && isRunning(p);
    });
  }

  async kill(id: string): Promise<void> {
    await killProcess(this.procs.get(id)!);
  }

  async terminate(id: string): Promise<void> {
    await stopProcess(this.procs.get(id)!, 10_000);
  }

  pause(id: string): void {
    signal(this.procs.get(id)!, 'SIGSTOP');
  }

  resume(id: string): void {
    signal(this.procs.get(id)!, 'SIGCONT');
  }

  async status(id: string, timeoutMs = 1000): Promise<MetaStatus> {
    const res = await api<MetaStatus>(this.url(id), '/v1/status', { token: null, timeoutMs });
    if (res.status !== 200) throw new Error(`status of ${id}: HTTP ${res.status}`);
    return res.body;
  }

  async waitHealthy(id: string, timeoutMs = 20_000): Promise<void> {
    await waitFor(`${id} to answer /v1/status`, timeoutMs, async () => {
      const p = this.procs.get(id)!;
      if (!isRunning(p)) throw new Error(`${id} exited (${p.exitCode}):\n${logTail(p)}`);
      return (await this.status(id)) ? true : undefined;
    });
  }

  /** Waits until the running nodes (those given, or all) agree on one leader; returns it. */
  async waitLeader(among: readonly string[] = this.running(), timeoutMs = 15_000): Promise<string> {
    return waitFor(`a leader agreed by ${among.join(', ')}`, timeoutMs, async () => {
      const statuses = await Promise.all(among.map((id) => this.status(id).catch(() => null)));
      const leader = statuses[0]?.leader;
      if (!leader || !among.includes(leader)) return undefined;
      if (!statuses.every((s) => s && s.leader === leader && s.term === statuses[0]!.term)) return undefined;
      const ls = statuses.find((s) => s!.id === leader);
      return ls && ls.role === 'leader' ? leader : undefined;
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
    await Promise.all([...this.procs.values()].map((p) => stopProcess(p)));
  }
}
