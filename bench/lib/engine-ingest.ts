/**
 * The ingestion half of the engine benchmark: a local three-node metadata group in a temporary
 * folder (`pnpm meta:local`), `cairn ingest` of a parquet file through the real CLI, timed, and
 * the published segments read back from deep storage exactly as the catalog lists them.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { LoadedSegment } from '@cairn/shared';
import { readSegment } from '@cairn/shared/segment';

const ROOT = new URL('../../', import.meta.url).pathname;
const CLI = join(ROOT, 'packages/client/bin/cairn.mjs');
/** How long `pnpm meta:local start` may take (it waits for a leader itself, up to 30 s). */
const GROUP_START_TIMEOUT_MS = 90_000;
const GROUP_STOP_TIMEOUT_MS = 30_000;
/** The ingestion may take this long before it is killed and reported as failed. */
const INGEST_TIMEOUT_MS = 300_000;
const PORT_ATTEMPTS_MAX = 50;

interface Exit {
  readonly code: number | null;
  readonly signal: string | null;
  readonly ms: number;
}

/** Runs a command to completion (killed by pid after `timeoutMs`), output appended to `logFile`. */
export function run(command: string, args: readonly string[], logFile: string, timeoutMs: number, cwd = ROOT): Promise<Exit> {
  const fd = openSync(logFile, 'a');
  const t0 = performance.now();
  const child = spawn(command, args, { cwd, stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, ms: performance.now() - t0 });
    });
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** The first of three consecutive ports that are free right now, from a random start. */
export async function freePortRange(count = 3): Promise<number> {
  for (let attempt = 0; attempt < PORT_ATTEMPTS_MAX; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free ports found in ${PORT_ATTEMPTS_MAX} attempts`);
}

/** A running local metadata group, stoppable by pid. */
export class LocalGroup {
  private constructor(readonly dir: string, readonly port: number, readonly log: string) {}

  static async start(dir: string, log: string): Promise<LocalGroup> {
    const port = await freePortRange();
    const g = new LocalGroup(dir, port, log);
    const r = await run('pnpm', ['-s', 'meta:local', 'start', '--dir', dir, '--port', String(port)], log, GROUP_START_TIMEOUT_MS);
    if (r.code !== 0) {
      g.killSync();
      throw new Error(`pnpm meta:local start failed (exit ${r.code ?? r.signal}); see ${log}:\n${tail(log)}`);
    }
    return g;
  }

  get clusterFile(): string {
    return join(this.dir, 'cluster.json');
  }

  get deepStorage(): string {
    const c = JSON.parse(readFileSync(this.clusterFile, 'utf8')) as { deepStorage: { path: string } };
    return join(this.dir, c.deepStorage.path);
  }

  get urls(): string[] {
    const c = JSON.parse(readFileSync(this.clusterFile, 'utf8')) as { meta: { url: string }[] };
    return c.meta.map((m) => m.url);
  }

  pids(): number[] {
    const f = join(this.dir, 'pids.json');
    return existsSync(f) ? Object.values(JSON.parse(readFileSync(f, 'utf8')) as Record<string, number>) : [];
  }

  /** `pnpm meta:local stop` (SIGTERM by pid, SIGKILL after 10 s); then SIGKILL by pid whatever is left. */
  async stop(): Promise<void> {
    const pids = this.pids();
    await run('pnpm', ['-s', 'meta:local', 'stop', '--dir', this.dir], this.log, GROUP_STOP_TIMEOUT_MS).catch(() => undefined);
    for (const pid of pids) killPid(pid);
  }

  /** Last resort (process exit handlers): SIGKILL every member by its pid. */
  killSync(): void {
    for (const pid of this.pids()) killPid(pid);
  }
}

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

export function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export interface IngestResult {
  /** Wall time of the CLI process, spawn to exit. */
  readonly wallMs: number;
  /** CPU time (user, system) of the CLI process and its children, from bash's `times`. */
  readonly userMs: number;
  readonly sysMs: number;
  /** The CLI's own report (`--json`). */
  readonly report: { rowsRead: number; rowsStored: number; segments: number; bytes: number; elapsedMs: number; published: number; version: string };
}

const seconds = (text: string) => {
  const m = /^(\d+)m([\d.]+)s$/.exec(text);
  return m ? (Number(m[1]) * 60 + Number(m[2])) * 1000 : Number.NaN;
};

/**
 * Builds the CLI's bundle if it is stale (the launcher rebuilds it when any package source is
 * newer, which other work in the tree causes), so the timed run measures ingestion, not esbuild.
 */
export async function warmCli(log: string): Promise<number> {
  const r = await run(process.execPath, [CLI, '--help'], log, 120_000);
  return r.ms;
}

/** `cairn ingest --config CLUSTER SPEC --json`, timed; the spec is written next to the cluster file. */
export async function ingest(group: LocalGroup, spec: object, log: string): Promise<IngestResult> {
  const specFile = join(group.dir, 'ingest-spec.json');
  writeFileSync(specFile, `${JSON.stringify(spec, null, 2)}\n`);
  const out = join(group.dir, 'ingest-report.json');
  const times = join(group.dir, 'ingest-times.txt');
  // bash's `times` prints the shell's and then its children's user and system time.
  const script = `"$0" "$1" ingest --config "$2" "$3" --json > "$4"; rc=$?; times > "$5"; exit $rc`;
  const r = await run('bash', ['-c', script, process.execPath, CLI, group.clusterFile, specFile, out, times], log, INGEST_TIMEOUT_MS);
  if (r.code !== 0) throw new Error(`cairn ingest failed (exit ${r.code ?? r.signal}); see ${log}:\n${tail(log)}`);
  const report = JSON.parse(readFileSync(out, 'utf8').trim().split('\n').pop()!) as IngestResult['report'];
  const children = (readFileSync(times, 'utf8').trim().split('\n')[1] ?? '').split(/\s+/);
  return { wallMs: r.ms, userMs: seconds(children[0] ?? ''), sysMs: seconds(children[1] ?? ''), report };
}

interface CatalogSegment {
  readonly id: string;
  readonly start: number | string;
  readonly rows: number;
  readonly checksum: string;
  readonly location: string;
}

/** The used, visible segments of `dataSource` as the catalog lists them (first member that answers). */
export async function listSegments(group: LocalGroup, dataSource: string): Promise<CatalogSegment[]> {
  let last: unknown;
  for (const url of group.urls) {
    try {
      const res = await fetch(`${url}/v1/segments?dataSource=${encodeURIComponent(dataSource)}`, { signal: AbortSignal.timeout(10_000) });
      if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`);
      const body = (await res.json()) as { segments: CatalogSegment[]; total: number };
      if (body.total !== body.segments.length) throw new Error(`${url}: listed ${body.segments.length} of ${body.total} segments`);
      return body.segments;
    } catch (err) {
      last = err;
    }
  }
  throw new Error(`no member listed the segments: ${(last as Error).message}`);
}

/** Reads each listed segment file from deep storage with `readSegment`, its checksum verified. */
export function readListed(deepStorage: string, listed: readonly CatalogSegment[]): LoadedSegment[] {
  return listed
    .map((s) => readSegment(new Uint8Array(readFileSync(join(deepStorage, s.location))), s.checksum))
    .sort((a, b) => a.meta.start - b.meta.start);
}

/** Every `.arrow` file of a folder (a kept deep-storage folder); the file name is its checksum. */
export function readFolder(dir: string): LoadedSegment[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.arrow'))
    .map((f) => readSegment(new Uint8Array(readFileSync(join(dir, f))), f.slice(0, -'.arrow'.length)))
    .sort((a, b) => a.meta.start - b.meta.start);
}
