import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A whole Cairn cluster on this machine, as child processes: three metadata nodes and some
 * workers on loopback, local deep storage, every process's log in the cluster's folder. The
 * processes run in process groups of their own, so a Ctrl-C in the terminal reaches only the
 * program that supervises them, which stops them by pid; each child also watches its supervisor
 * (CAIRN_PARENT_PID) and exits if it disappears without stopping them.
 */
export interface LocalNode {
  readonly id: string;
  readonly kind: 'meta' | 'worker';
  readonly url: string;
  readonly port: number;
  readonly logFile: string;
  child: ChildProcess | null;
}

export interface LocalClusterOptions {
  readonly dir: string;
  readonly metaPorts: readonly number[];
  readonly workerPorts: readonly number[];
  readonly token: string;
  /** Each worker's cache capacity, e.g. "2GB". */
  readonly workerCapacity: string;
  /**
   * The URL each worker advertises (its `--url`), by index like `workerPorts`, e.g. a proxy in
   * front of it; a missing or null entry advertises the address it listens on (the default).
   */
  readonly workerAdvertisedUrls?: readonly (string | null)[];
  /** Local deep storage's `directIo` in the cluster file (absent: the default). */
  readonly directIo?: boolean;
}

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;
const POLL_MS = 100;

/** The repository's root: the folder holding pnpm-workspace.yaml above this file. */
export function workspaceRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the Cairn workspace (pnpm-workspace.yaml) above the client package');
    dir = up;
  }
}

/** Whether something already listens on 127.0.0.1:port. */
export function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(true));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(false)));
  });
}

/**
 * `n` ports the OS says are free right now, all distinct (held open together while chosen). Linux
 * hands out listen(0) ports at random from the ephemeral range and prefers ports of the other
 * parity for outgoing connections, so two callers asking at the same time get different ones.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  })));
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export class LocalCluster {
  readonly nodes = new Map<string, LocalNode>();
  readonly configPath: string;
  private readonly metaBin: string;
  private readonly workerBin: string;

  constructor(private readonly o: LocalClusterOptions) {
    const root = workspaceRoot();
    this.metaBin = join(root, 'packages/meta-raft/bin/cairn-meta.mjs');
    this.workerBin = join(root, 'packages/worker/bin/cairn-worker.mjs');
    this.configPath = join(o.dir, 'cluster.json');
    o.metaPorts.forEach((port, i) => this.add(`m${i + 1}`, 'meta', port));
    o.workerPorts.forEach((port, i) => this.add(`w${i + 1}`, 'worker', port));
  }

  private add(id: string, kind: LocalNode['kind'], port: number): void {
    this.nodes.set(id, { id, kind, port, url: `http://127.0.0.1:${port}`, logFile: join(this.o.dir, `${id}.log`), child: null });
  }

  get metaIds(): string[] {
    return [...this.nodes.values()].filter((n) => n.kind === 'meta').map((n) => n.id);
  }

  get workerIds(): string[] {
    return [...this.nodes.values()].filter((n) => n.kind === 'worker').map((n) => n.id);
  }

  node(id: string): LocalNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** Writes the cluster file every process (and every client) reads. */
  writeConfig(): void {
    mkdirSync(this.o.dir, { recursive: true });
    const config = {
      meta: this.metaIds.map((id) => ({ id, url: this.node(id).url, dc: 'dc1' })),
      deepStorage: { type: 'local', path: 'deep', ...(this.o.directIo === undefined ? {} : { directIo: this.o.directIo }) },
      auth: { token: this.o.token },
    };
    writeFileSync(this.configPath, `${JSON.stringify(config, null, 2)}\n`);
  }

  start(id: string): LocalNode {
    const n = this.node(id);
    if (n.child && n.child.exitCode === null && n.child.signalCode === null) throw new Error(`${id} is already running`);
    const args = n.kind === 'meta'
      ? [this.metaBin, '--config', this.configPath, '--id', id, '--data', join(this.o.dir, id)]
      : [this.workerBin, '--config', this.configPath, '--id', id, '--listen', `127.0.0.1:${n.port}`, '--cache', join(this.o.dir, `cache-${id}`), '--capacity', this.o.workerCapacity, ...this.advertised(id)];
    const log = openSync(n.logFile, 'a');
    try {
      n.child = spawn(process.execPath, args, {
        detached: true,
        stdio: ['ignore', log, log],
        env: { ...process.env, CAIRN_PARENT_PID: String(process.pid) },
      });
    } finally {
      closeSync(log);
    }
    return n;
  }

  /** `--url U` when worker `id` advertises another address than its own, else nothing. */
  private advertised(id: string): string[] {
    const url = this.o.workerAdvertisedUrls?.[this.workerIds.indexOf(id)];
    return url ? ['--url', url] : [];
  }

  running(id: string): boolean {
    const c = this.node(id).child;
    return c !== null && c.exitCode === null && c.signalCode === null;
  }

  pid(id: string): number | null {
    return this.running(id) ? this.node(id).child!.pid ?? null : null;
  }

  /** Kills a node at once, the way a machine dies (SIGKILL), and waits for it to be gone. */
  async kill(id: string): Promise<void> {
    await this.signalAndWait(id, 'SIGKILL', STOP_TIMEOUT_MS);
  }

  /** Stops a node gracefully (SIGTERM; SIGKILL after a timeout). */
  async stop(id: string): Promise<void> {
    if (!(await this.signalAndWait(id, 'SIGTERM', STOP_TIMEOUT_MS))) await this.signalAndWait(id, 'SIGKILL', STOP_TIMEOUT_MS);
  }

  /** Stops everything: workers first (they have nothing to hand over), then the metadata group. */
  async stopAll(): Promise<void> {
    await Promise.all(this.workerIds.map((id) => this.stop(id)));
    await Promise.all(this.metaIds.map((id) => this.stop(id)));
  }

  private async signalAndWait(id: string, sig: NodeJS.Signals, timeoutMs: number): Promise<boolean> {
    const c = this.node(id).child;
    if (!c || !this.running(id)) return true;
    const exited = new Promise<boolean>((resolve) => c.once('exit', () => resolve(true)));
    try {
      process.kill(c.pid!, sig);
    } catch {
      return true;
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const ok = await Promise.race([exited, timedOut]);
    clearTimeout(timer);
    return ok;
  }

  /** Waits until `id` answers /health; fails early, with its log's tail, if it exits. */
  async waitUp(id: string, timeoutMs = START_TIMEOUT_MS): Promise<void> {
    const n = this.node(id);
    await poll(`${id} to answer on ${n.url}`, timeoutMs, async () => {
      if (!this.running(id)) throw new Error(`${id} exited during startup; the end of ${n.logFile}:\n${this.logTail(id)}`);
      const r = await fetch(`${n.url}/health`, { signal: AbortSignal.timeout(1000) }).catch(() => null);
      return r?.ok ? true : undefined;
    });
  }

  /** Waits for a leader that every member agrees on; returns its id. */
  async waitLeader(timeoutMs = START_TIMEOUT_MS): Promise<string> {
    return poll('a metadata leader', timeoutMs, async () => {
      const leaders = new Set<string>();
      for (const id of this.metaIds) {
        if (!this.running(id)) throw new Error(`${id} exited during startup; the end of ${this.node(id).logFile}:\n${this.logTail(id)}`);
        const r = await fetch(`${this.node(id).url}/v1/status`, { signal: AbortSignal.timeout(1000) }).catch(() => null);
        const s = r?.ok ? ((await r.json()) as { leader?: string }) : null;
        if (!s?.leader) return undefined;
        leaders.add(s.leader);
      }
      return leaders.size === 1 ? [...leaders][0] : undefined;
    });
  }

  logTail(id: string, lines = 15): string {
    try {
      return readFileSync(this.node(id).logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }
}

/** Polls `check` until it returns a value, or fails after `timeoutMs` naming what it waited for. */
export async function poll<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, everyMs = POLL_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
