import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Real processes for integration tests: spawned as leaders of their own process group (so a
 * signal reaches their children too), logging to a file of their own, and always stopped by pid,
 * also when a test fails.
 */
export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly logFile: string;
  readonly exited: Promise<number | null>;
  exitCode: number | null | undefined;
}

export function startProcess(name: string, args: readonly string[], logFile: string, env: Record<string, string> = {}): Proc {
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, CAIRN_LOG_LEVEL: 'info', ...env },
  });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  const proc: Proc = {
    name,
    child,
    pid: child.pid,
    logFile,
    exitCode: undefined,
    exited: new Promise((resolve) => child.once('exit', (code, signal) => {
      proc.exitCode = code ?? (signal ? null : 0);
      resolve(code);
    })),
  };
  return proc;
}

export function isRunning(p: Proc): boolean {
  return p.exitCode === undefined;
}

/** Sends `signal` to the process group. */
export function signal(p: Proc, sig: NodeJS.Signals): void {
  try {
    process.kill(-p.pid, sig);
  } catch {
    // already gone
  }
}

/** SIGCONT (a paused process ignores SIGTERM), SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProcess(p: Proc, graceMs = 5000): Promise<void> {
  if (!isRunning(p)) return;
  signal(p, 'SIGCONT');
  signal(p, 'SIGTERM');
  const timer = new Promise<'late'>((r) => setTimeout(() => r('late'), graceMs).unref());
  if ((await Promise.race([p.exited.then(() => 'done' as const), timer])) === 'late') {
    signal(p, 'SIGKILL');
    await p.exited;
  }
}

export async function killProcess(p: Proc): Promise<void> {
  if (!isRunning(p)) return;
  signal(p, 'SIGKILL');
  await p.exited;
}

export function logTail(p: Proc, lines = 40): string {
  try {
    return readFileSync(p.logFile, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Ports the OS says are free right now, all distinct (held open together while chosen). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<import('node:net').Server>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as import('node:net').AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Polls `check` until it returns a value (not undefined), or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined> | T | undefined, everyMs = 25): Promise<T> {
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
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
