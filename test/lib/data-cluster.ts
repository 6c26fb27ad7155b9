import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { CairnClient } from '@cairn/client';
import type { CairnClientOptions } from '@cairn/client';
import { api, MetaCluster, TEST_TOKEN } from './meta-cluster.js';
import { freePorts, isRunning, killProcess, logTail, signal, startProcess, stopProcess, waitFor } from './processes.js';
import type { Proc } from './processes.js';

export const WORKER_BIN = fileURLToPath(new URL('../../packages/worker/bin/cairn-worker.mjs', import.meta.url));
export const CAIRN_BIN = fileURLToPath(new URL('../../packages/client/bin/cairn.mjs', import.meta.url));

export interface WorkerSpec {
  readonly id: string;
  readonly tier?: string;
  readonly dc?: string;
  readonly capacity?: string;
  /** `--memory` (decoded segments); the worker's default when absent. */
  readonly memory?: string;
}

interface WorkerHandle {
  readonly spec: WorkerSpec;
  readonly port: number;
  readonly url: string;
  readonly cache: string;
  proc: Proc | null;
}

/** Fast coordinator settings for tests: a cycle every 200 ms, down after 1.5 s of silence. */
export const TEST_COORDINATOR = { periodMs: 200, heartbeatTimeoutMs: 1500, gracePeriodMs: 4000 };

/**
 * A whole Cairn cluster of real processes on loopback: a three-node metadata group and workers,
 * local deep storage under the test's folder, every process stopped by pid in teardown.
 */
export class DataCluster {
  readonly workers = new Map<string, WorkerHandle>();
  private constructor(private readonly t: Test, readonly meta: MetaCluster) {}

  static async start(t: Test, opts: { workers: readonly WorkerSpec[]; coordinator?: Record<string, number | boolean> }): Promise<DataCluster> {
    const meta = await MetaCluster.start(t);
    const c = new DataCluster(t, meta);
    t.teardown(() => c.stopWorkers());
    const ports = await freePorts(opts.workers.length);
    opts.workers.forEach((spec, i) => {
      const port = ports[i]!;
      c.workers.set(spec.id, { spec, port, url: `http://127.0.0.1:${port}`, cache: join(meta.dir, `cache-${spec.id}`), proc: null });
    });
    const leader = await meta.waitLeader();
    const cfg = await api(meta.url(leader), '/v1/coordinator/config', { body: { ...TEST_COORDINATOR, ...opts.coordinator } });
    if (cfg.status !== 200) throw new Error(`coordinator config: ${JSON.stringify(cfg.body)}`);
    for (const spec of opts.workers) c.startWorker(spec.id);
    await Promise.all(opts.workers.map((s) => c.waitWorkerUp(s.id)));
    return c;
  }

  get dir(): string {
    return this.meta.dir;
  }

  startWorker(id: string): Proc {
    const w = this.workers.get(id)!;
    if (w.proc && isRunning(w.proc)) throw new Error(`${id} is already running`);
    mkdirSync(w.cache, { recursive: true });
    const args = [WORKER_BIN, '--config', this.meta.configPath, '--id', id, '--listen', `127.0.0.1:${w.port}`, '--cache', w.cache,
      '--tier', w.spec.tier ?? '_default_tier', '--dc', w.spec.dc ?? 'dc1', '--capacity', w.spec.capacity ?? '1GB',
      ...(w.spec.memory ? ['--memory', w.spec.memory] : [])];
    w.proc = startProcess(id, args, join(this.dir, `${id}.log`));
    return w.proc;
  }

  async waitWorkerUp(id: string, timeoutMs = 60_000): Promise<void> {
    const w = this.workers.get(id)!;
    await waitFor(`worker ${id} to answer /health`, timeoutMs, async () => {
      if (w.proc && !isRunning(w.proc)) throw new Error(`${id} exited:\n${logTail(w.proc)}`);
      const r = await fetch(`${w.url}/health`, { signal: AbortSignal.timeout(1000) }).catch(() => null);
      return r?.ok ? true : undefined;
    });
  }

  async killWorker(id: string): Promise<void> {
    const w = this.workers.get(id)!;
    if (w.proc) await killProcess(w.proc);
  }

  pauseWorker(id: string): void {
    signal(this.workers.get(id)!.proc!, 'SIGSTOP');
  }

  resumeWorker(id: string): void {
    signal(this.workers.get(id)!.proc!, 'SIGCONT');
  }

  async restartWorker(id: string): Promise<void> {
    this.startWorker(id);
    await this.waitWorkerUp(id);
  }

  workerUrl(id: string): string {
    return this.workers.get(id)!.url;
  }

  client(extra: Partial<CairnClientOptions> = {}): CairnClient {
    return new CairnClient({ members: this.meta.ids.map((id) => ({ id, url: this.meta.url(id) })), token: TEST_TOKEN, ...extra });
  }

  /** The coordinator's status, from whichever member answers (followers relay to the leader). */
  async coordinator(): Promise<any> {
    for (const id of this.meta.running()) {
      const r = await api(this.meta.url(id), '/v1/coordinator/status', { token: null, timeoutMs: 2000 }).catch(() => null);
      if (r?.status === 200 && r.body?.leader && r.body?.stats) return r.body;
    }
    return null;
  }

  /** How many used, visible segments the catalog holds (a linearizable read), or null when no meta node answers. */
  async visibleSegments(): Promise<number | null> {
    for (const id of this.meta.running()) {
      const r = await api(this.meta.url(id), '/v1/segments?limit=1', { token: null, timeoutMs: 2000 }).catch(() => null);
      if (r?.status === 200 && typeof r.body?.total === 'number') return r.body.total;
    }
    return null;
  }

  /**
   * Waits until the coordinator's last cycle saw every published segment, found nothing
   * unavailable or under-replicated, and every load queue is empty.
   */
  async waitReplicated(timeoutMs = 60_000): Promise<any> {
    return waitFor('every segment fully replicated', timeoutMs, async () => {
      // The catalog first: a coordinator cycle that ran before the last publish reports nothing
      // unavailable only because it has not seen the new segments yet.
      const visible = await this.visibleSegments();
      const s = await this.coordinator();
      if (visible === null || !s || s.stats.segments < visible) return undefined;
      if (s.stats.unavailable > 0 || s.stats.underReplicated > 0) return undefined;
      if (s.workers.some((w: any) => w.lastHeartbeatAgoMs !== null && w.loadQueue > 0)) return undefined;
      return s;
    }, 100);
  }

  /** Runs `cairn ingest` on NDJSON rows; resolves with its output (rejects on a failing exit). */
  async ingest(spec: Record<string, unknown>, rows: readonly object[], name = `ingest-${Date.now()}`): Promise<string> {
    const file = join(this.dir, `${name}.ndjson`);
    writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n'));
    const specPath = join(this.dir, `${name}.json`);
    writeFileSync(specPath, JSON.stringify({ ...spec, input: { files: [file], format: 'ndjson' } }));
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CAIRN_BIN, 'ingest', '--config', this.meta.configPath, specPath], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`cairn ingest exited ${code}: ${err.slice(-500)}`))));
    });
  }

  logs(lines = 20): string {
    const parts = [this.meta.logs(lines)];
    for (const [id, w] of this.workers) parts.push(`--- ${id} ---\n${w.proc ? logTail(w.proc, lines) : '(not started)'}`);
    return parts.join('\n');
  }

  async stopWorkers(): Promise<void> {
    await Promise.all([...this.workers.values()].map((w) => (w.proc ? stopProcess(w.proc) : undefined)));
  }
}

export { TEST_TOKEN };
