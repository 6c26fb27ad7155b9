/**
 * What every cluster benchmark needs around its measurements: numbers from the environment with
 * a clear error, a seeded PRNG, timestamped output, and the guarantee that every process of its
 * LocalCluster is stopped by pid however the run ends (normal end, failure, SIGINT/SIGTERM/SIGHUP).
 */
import { rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import type { LocalCluster } from '../../packages/client/src/quickstart/local-cluster.js';

/** A number from the environment (or `dflt`), at least `min`; anything else stops the run with a line naming the variable. */
export function envNumber(name: string, dflt: number, min = 0): number {
  const raw = process.env[name];
  const v = Number(raw ?? dflt);
  if (!Number.isFinite(v) || v < min) throw new Error(`${name} must be a number >= ${min}, not ${JSON.stringify(raw)}`);
  return v;
}

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const started = performance.now();
/** One line of output, prefixed with the seconds since the run started. */
export const say = (line = ''): void => {
  process.stdout.write(line === '' ? '\n' : `[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
};
/** The machine's load averages, for the record: figures from a busy machine are not comparable. */
export const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ');
export const secs = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
export const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/**
 * Stops `cluster()`'s processes by pid whatever ends the run, and removes `dir` unless `keep`.
 * Returns the cleanup for the normal end of the run; a second call does nothing.
 */
export function guardCluster(dir: string, keep: boolean, cluster: () => LocalCluster | null): () => Promise<void> {
  let stopping: Promise<void> | null = null;
  const cleanup = () =>
    (stopping ??= (async () => {
      await cluster()?.stopAll();
      if (keep) say(`kept ${dir}`);
      else rmSync(dir, { recursive: true, force: true });
    })());
  process.on('exit', () => {
    // Last resort (an uncaught error, process.exit): SIGKILL whatever is still running, by pid.
    const c = cluster();
    if (!c) return;
    for (const id of [...c.metaIds, ...c.workerIds]) {
      const pid = c.pid(id);
      if (pid === null) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stdout.write(`\n${sig}: stopping every process by pid\n`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  return cleanup;
}

/** A table for the end of a run: every column padded to its widest cell but the last. */
export function sayTable(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  for (const r of all) say(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
}

/** A node's `/v1/status`, or null when it does not answer within 2 s. */
export async function statusOf<T>(url: string): Promise<T | null> {
  try {
    const r = await fetch(`${url}/v1/status`, { signal: AbortSignal.timeout(2000) });
    return r.ok ? ((await r.json()) as T) : null;
  } catch {
    return null;
  }
}

/** Runs the benchmark; on failure prints the error and every node's log tail. Either way stops everything and exits. */
export function runBench(main: () => Promise<void>, cleanup: () => Promise<void>, cluster: () => LocalCluster | null): void {
  main()
    .then(async () => {
      await cleanup();
      process.exit(0);
    })
    .catch(async (err: unknown) => {
      say(`FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      const c = cluster();
      if (c) for (const id of [...c.metaIds, ...c.workerIds]) say(`--- ${id} log tail:\n${c.logTail(id, 8)}`);
      await cleanup();
      process.exit(1);
    });
}
