import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';

/**
 * Child processes for the benchmark: each the leader of its own process group (a signal reaches
 * its children too), logging to a file of its own, and always stopped by pid. Every process ever
 * started is remembered in `ALL`, so the exit handlers can stop whatever is still running.
 */
export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly logFile: string;
  readonly exited: Promise<void>;
  /** undefined while running; the exit code, or the signal name. */
  exit: number | string | undefined;
}

export const ALL = new Set<Proc>();

export function startProcess(name: string, command: string, args: readonly string[], logFile: string, env: Record<string, string> = {}): Proc {
  const fd = openSync(logFile, 'a');
  const child = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
  const proc: Proc = {
    name,
    child,
    pid: child.pid,
    logFile,
    exit: undefined,
    exited: new Promise((resolve) => {
      child.once('exit', (code, sig) => {
        proc.exit = code ?? sig ?? 'unknown';
        ALL.delete(proc);
        resolve();
      });
    }),
  };
  ALL.add(proc);
  return proc;
}

export function isRunning(p: Proc): boolean {
  return p.exit === undefined;
}

/** Sends `sig` to the process group of `p` (by pid); a process that is gone is ignored. */
export function signal(p: Proc, sig: NodeJS.Signals): void {
  try {
    process.kill(-p.pid, sig);
  } catch {
    // already gone
  }
}

/** SIGCONT, SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
export async function stopProcess(p: Proc, graceMs = 5000): Promise<void> {
  if (!isRunning(p)) return;
  signal(p, 'SIGCONT');
  signal(p, 'SIGTERM');
  const late = await Promise.race([p.exited.then(() => false), sleep(graceMs).then(() => true)]);
  if (late) {
    signal(p, 'SIGKILL');
    await p.exited;
  }
}

/** Stops every process still running, each by its pid, in parallel. */
export async function stopAll(graceMs = 5000): Promise<void> {
  await Promise.all([...ALL].map((p) => stopProcess(p, graceMs)));
}

/** Synchronous last resort for `process.on('exit')`: SIGKILL every process group still known. */
export function killAllSync(): void {
  for (const p of ALL) signal(p, 'SIGKILL');
}

export function logText(p: Proc): string {
  try {
    return readFileSync(p.logFile, 'utf8');
  } catch {
    return '';
  }
}

export function logTail(p: Proc, lines = 30): string {
  return logText(p).split('\n').slice(-lines).join('\n');
}

/** Ports the OS says are free right now, all distinct (held open together while chosen). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<Server>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it returns a value (not undefined), or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined> | T | undefined, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    }
    await sleep(everyMs);
  }
}

/** Resident set size of a process in bytes, from /proc/<pid>/status (VmRSS), or null. */
export function vmRssBytes(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Peak resident set size (VmHWM) in bytes, or null. */
export function vmHwmBytes(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** CPU time (user + system) a process has used so far, in ms, from /proc/<pid>/stat; null if gone. */
export function cpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
    return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** USER_HZ: 100 on every Linux this runs on (getconf CLK_TCK). */
const CLOCK_TICKS_PER_SECOND = 100;
