import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Real processes for integration tests: spawned as leaders of their own process group (so a
 * signal reaches their children too), logging to a file of their own, and always stopped by pid,
 * also when a test fails. Three layers make sure none outlives its test: `t.teardown` stops them
 * (SIGCONT, SIGTERM, then SIGKILL), an `exit` hook SIGKILLs any group still alive when the test
 * process exits, and a preloaded watchdog in each child kills its group if the test process
 * itself is killed (a tap timeout ends in SIGKILL, which runs no hook). A child that is paused
 * (SIGSTOP) when the test process dies cannot run its watchdog, so a fourth layer, one small
 * reaper process per test process, SIGKILLs the groups still listed once the test process is gone.
 */
export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves with the exit code (null when a signal ended it). */
  readonly exited: Promise<number | null>;
  /** undefined while running; then the exit code, or null if a signal ended it. */
  exitCode: number | null | undefined;
  exitSignal: NodeJS.Signals | null;
}

const WATCHDOG = fileURLToPath(new URL('../../packages/shared/src/launch/die-with-parent.mjs', import.meta.url));
const live = new Set<Proc>();
let exitHook = false;

/** The reaper's list of live process groups, one pid per line, rewritten on every change. */
const REAPER_LIST = join(tmpdir(), `cairn-test-reaper-${process.pid}.txt`);
/** How often the reaper checks that the test process is alive. */
const REAPER_CHECK_MS = 500;
/**
 * Runs in its own process group and outlives the test process by at most one check: then it
 * SIGKILLs every group on the list (SIGKILL reaches a stopped process too), removes the list and
 * exits. Only groups that are still live are listed, so a reused pid is never a target.
 */
const REAPER = `
const fs = require('node:fs');
const [parent, list] = [Number(process.argv[1]), process.argv[2]];
setInterval(() => {
  try { process.kill(parent, 0); return; } catch {}
  let pids = [];
  try { pids = fs.readFileSync(list, 'utf8').split('\\n').filter(Boolean).map(Number); } catch {}
  for (const pid of pids) { try { process.kill(-pid, 'SIGKILL'); } catch {} }
  try { fs.rmSync(list, { force: true }); } catch {}
  process.exit(0);
}, ${REAPER_CHECK_MS});
`;

function writeReaperList(): void {
  writeFileSync(REAPER_LIST, [...live].map((p) => `${p.pid}\n`).join(''));
}

/** Last resort: a test process that exits (normally or on an uncaught error) takes its groups along. */
function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  writeReaperList();
  const reaper = spawn(process.execPath, ['-e', REAPER, String(process.pid), REAPER_LIST], { detached: true, stdio: 'ignore' });
  reaper.unref();
  process.on('exit', () => {
    for (const p of live) {
      try {
        process.kill(-p.pid, 'SIGCONT');
        process.kill(-p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

export interface StartOptions {
  readonly env?: Record<string, string>;
  /** Where stderr goes, when it should not share the log file with stdout. */
  readonly stderrFile?: string;
}

/** Starts `node <args>` in a process group of its own, stdout (and stderr) appended to `logFile`. */
export function startProcess(name: string, args: readonly string[], logFile: string, opts: StartOptions = {}): Proc {
  installExitHook();
  const out = openSync(logFile, 'a');
  const err = opts.stderrFile ? openSync(opts.stderrFile, 'a') : out;
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [`--import=${pathToImport(WATCHDOG)}`, ...args], {
      detached: true,
      stdio: ['ignore', out, err],
      env: { ...process.env, CAIRN_LOG_LEVEL: 'info', ...opts.env, CAIRN_PARENT_PID: String(process.pid) },
    });
  } finally {
    closeSync(out);
    if (err !== out) closeSync(err);
  }
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  const proc: Proc = {
    name,
    child,
    pid: child.pid,
    logFile,
    exitCode: undefined,
    exitSignal: null,
    exited: new Promise((resolve) => child.once('exit', (code, sig) => {
      proc.exitCode = code ?? (sig ? null : 0);
      proc.exitSignal = sig;
      live.delete(proc);
      writeReaperList();
      resolve(proc.exitCode);
    })),
  };
  live.add(proc);
  writeReaperList();
  return proc;
}

function pathToImport(path: string): string {
  return pathToFileURL(path).href;
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

/** Waits for `p` to exit; false if it is still running after `timeoutMs`. */
export async function waitExit(p: Proc, timeoutMs: number): Promise<boolean> {
  if (!isRunning(p)) return true;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((r) => {
    timer = setTimeout(() => r(false), timeoutMs);
  });
  try {
    return await Promise.race([p.exited.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** SIGCONT (a paused process ignores SIGTERM), SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProcess(p: Proc, graceMs = 5000): Promise<void> {
  if (!isRunning(p)) return;
  signal(p, 'SIGCONT');
  signal(p, 'SIGTERM');
  if (!(await waitExit(p, graceMs))) {
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
    return readFileSync(p.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// Ports the OS says are free right now: the quickstart's helper, shared with the tests.
export { freePorts } from '../../packages/client/src/quickstart/local-cluster.js';

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
