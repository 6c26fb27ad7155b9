import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { freePorts, waitFor } from './processes.js';

/** The Debian packages that make a one-node Swift with the s3api middleware. */
export const SWIFT_PACKAGES = ['swift-proxy', 'swift-object', 'swift-container', 'swift-account'] as const;
export const SWIFT_BINARIES = [
  '/usr/bin/swift-proxy-server', '/usr/bin/swift-object-server', '/usr/bin/swift-container-server',
  '/usr/bin/swift-account-server', '/usr/bin/swift-ring-builder',
] as const;
/** apt-get update + install took about two minutes here (Debian 12, 2 cores); allow for a slow mirror. */
export const SWIFT_INSTALL_TIMEOUT_MS = 15 * 60_000;
/** Serializes installs by test files running in parallel (apt holds its own lock and fails fast). */
const INSTALL_LOCK_FILE = '/tmp/cairn-swift-install.lock';

/** Whether every Swift binary the harness runs is there. */
export function swiftInstalled(): boolean {
  return SWIFT_BINARIES.every((b) => existsSync(b));
}

/**
 * Installs Swift from Debian's packages if its binaries are missing (as root, unattended).
 * Resolves with the milliseconds spent installing (0 when already there).
 */
export async function ensureSwiftInstalled(): Promise<number> {
  if (swiftInstalled()) return 0;
  if (process.getuid?.() !== 0) {
    throw new Error(`Swift is not installed and this is not root: run apt-get install -y --no-install-recommends ${SWIFT_PACKAGES.join(' ')}`);
  }
  const started = Date.now();
  const binaries = SWIFT_BINARIES.map((b) => `[ -x ${b} ]`).join(' && ');
  const pkgs = SWIFT_PACKAGES.join(' ');
  // flock: a second test file waits for the first one's install, then finds the binaries there.
  // DPkg::Lock::Timeout: wait for a dpkg lock held by something else (unattended-upgrades on a
  // fresh machine) instead of failing at once.
  const apt = 'apt-get -q -o DPkg::Lock::Timeout=300';
  const script = `${binaries} || { ${apt} update && ${apt} install -y --no-install-recommends ${pkgs}; }`;
  const out: string[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn('flock', [INSTALL_LOCK_FILE, 'sh', '-c', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      timeout: SWIFT_INSTALL_TIMEOUT_MS,
      killSignal: 'SIGKILL',
    });
    const keep = (chunk: Buffer): void => {
      out.push(chunk.toString());
      if (out.length > 400) out.splice(0, out.length - 200);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0 || !swiftInstalled()) {
    throw new Error(`installing ${pkgs} failed (exit ${code}):\n${out.join('').split('\n').slice(-30).join('\n')}`);
  }
  return Date.now() - started;
}

/** What a test needs to talk S3 to the server. */
export interface SwiftServer {
  /** `http://127.0.0.1:PORT`, the proxy with s3api. */
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: string;
  /** The folder holding the rings, configs, devices and one log file per server. */
  readonly dir: string;
  /** The last lines of every server's log, for a failing assertion's diagnostics. */
  logTail(lines?: number): string;
  /** Stops every server (SIGTERM, then SIGKILL after a grace period); idempotent. */
  stop(): Promise<void>;
}

/** tempauth's user `test:tester` with key `testing`, an admin of account AUTH_test. */
const ACCOUNT = 'test';
const USER = 'tester';
const KEY = 'testing';
/**
 * Readiness: rings built and all four servers answering /healthcheck took 10 s here on two idle
 * cores, up to 50 s with the machine's load at 14.
 */
export const SWIFT_READY_TIMEOUT_MS = 120_000;
/** Grace between SIGTERM and SIGKILL at stop. */
const STOP_GRACE_MS = 5_000;
/** Fresh ports and a fresh folder if a server dies at start (another process took its port). */
const START_ATTEMPTS_MAX = 3;
const SERVERS = ['account', 'container', 'object', 'proxy'] as const;
/** Folders of the servers started by this process, numbered: several may share a test's folder. */
let instances = 0;
type ServerName = (typeof SERVERS)[number];

/**
 * Swift servers call setsid() at start (clean_up_daemon_hygiene) and so leave the process group
 * of whoever spawned them: a group kill of a wrapper misses them. So each server is spawned
 * directly as the leader of its own group (setsid() then fails, harmlessly, and it stays), and
 * started through this bootstrap, which asks the kernel to SIGKILL it when the test process dies
 * (PR_SET_PDEATHSIG): a tap timeout ends in SIGKILL, which runs no teardown and no exit hook.
 */
const BOOTSTRAP = `
import ctypes, os, runpy, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):
    os._exit(70)  # the test process died before prctl
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name='__main__')
`;

interface Running {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  exited: boolean;
  readonly exit: Promise<void>;
}

const live = new Set<Running>();
let exitHookInstalled = false;

/** Last resort: a test process that exits without its teardown takes the servers along. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const r of live) killGroup(r, 'SIGKILL');
  });
}

function killGroup(r: Running, sig: NodeJS.Signals): void {
  try {
    process.kill(-r.pid, sig);
  } catch {
    // the group is gone already
  }
}

function startServer(name: ServerName, conf: string, logFile: string): Running {
  installExitHook();
  const fd = openSync(logFile, 'a');
  let child;
  try {
    child = spawn('/usr/bin/python3', ['-c', BOOTSTRAP, String(process.pid), `/usr/bin/swift-${name}-server`, conf, '-v'], {
      detached: true,
      stdio: ['ignore', fd, fd],
    });
  } finally {
    closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`could not start swift-${name}-server`);
  const r: Running = {
    name: `swift-${name}-server`,
    pid: child.pid,
    logFile,
    exited: false,
    exit: new Promise((resolve) => child.once('exit', () => {
      r.exited = true;
      live.delete(r);
      resolve();
    })),
  };
  live.add(r);
  return r;
}

/** SIGCONT, SIGTERM to the server's group, SIGKILL after the grace period; resolves once it exited. */
async function stopServer(r: Running): Promise<void> {
  if (r.exited) return;
  killGroup(r, 'SIGCONT');
  killGroup(r, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), STOP_GRACE_MS);
  });
  const outcome = await Promise.race([r.exit.then(() => 'done' as const), late]);
  clearTimeout(timer);
  if (outcome === 'late') killGroup(r, 'SIGKILL');
  await r.exit;
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function ringBuilder(dir: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/swift-ring-builder', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.once('error', reject);
    // swift-ring-builder exits 1 for warnings (EXIT_WARNING): only 2+ is an error.
    child.once('exit', (code) => ((code ?? 2) <= 1 ? resolve() : reject(new Error(`swift-ring-builder ${args.join(' ')} exited ${code}: ${out}`))));
  });
}

function backendConf(dir: string, name: Exclude<ServerName, 'proxy'>, port: number): string {
  return `[DEFAULT]
devices = ${join(dir, 'devices')}
mount_check = false
bind_ip = 127.0.0.1
bind_port = ${port}
workers = 0
user = root
swift_dir = ${dir}
log_name = ${name}-server
log_level = INFO

[pipeline:main]
pipeline = healthcheck ${name}-server

[app:${name}-server]
use = egg:swift#${name}

[filter:healthcheck]
use = egg:swift#healthcheck
`;
}

function proxyConf(dir: string, port: number, memcachePort: number): string {
  return `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${port}
workers = 0
user = root
swift_dir = ${dir}
log_name = proxy-server
log_level = INFO

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:tempauth]
use = egg:swift#tempauth
user_${ACCOUNT}_${USER} = ${KEY} .admin

[filter:s3api]
use = egg:swift#s3api

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:cache]
use = egg:swift#memcache
# Nothing listens here: no memcached shared with another Swift on this machine (it would mix
# their account and container caches); the proxy works without one.
memcache_servers = 127.0.0.1:${memcachePort}

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo
`;
}

async function healthy(port: number): Promise<true | undefined> {
  const res = await fetch(`http://127.0.0.1:${port}/healthcheck`, { signal: AbortSignal.timeout(2_000) });
  const body = await res.text();
  return res.status === 200 && body.trim() === 'OK' ? true : undefined;
}

/** One attempt: rings, configs and four servers in `dir`, healthy within the deadline. */
async function startOnce(dir: string): Promise<{ running: Running[]; proxyPort: number }> {
  mkdirSync(join(dir, 'devices', 'd1'), { recursive: true });
  const [accountPort, containerPort, objectPort, proxyPort, memcachePort] = await freePorts(5) as [number, number, number, number, number];
  const ports = { account: accountPort, container: containerPort, object: objectPort } as const;
  // One device, one replica, 2^10 partitions per ring; the three rings are built side by side.
  await Promise.all((['account', 'container', 'object'] as const).map(async (ring) => {
    await ringBuilder(dir, [`${ring}.builder`, 'create', '10', '1', '1']);
    await ringBuilder(dir, [`${ring}.builder`, 'add', `r1z1-127.0.0.1:${ports[ring]}/d1`, '100']);
    await ringBuilder(dir, [`${ring}.builder`, 'rebalance']);
    writeFileSync(join(dir, `${ring}-server.conf`), backendConf(dir, ring, ports[ring]));
  }));
  writeFileSync(join(dir, 'proxy-server.conf'), proxyConf(dir, proxyPort, memcachePort));
  const running = SERVERS.map((name) => startServer(name, join(dir, `${name}-server.conf`), join(dir, `${name}.log`)));
  try {
    const all = [...Object.values(ports), proxyPort];
    await waitFor('Swift /healthcheck on every server', SWIFT_READY_TIMEOUT_MS, async () => {
      const dead = running.find((r) => r.exited);
      if (dead) throw new DiedAtStart(dead);
      for (const port of all) if (!(await healthy(port))) return undefined;
      return true;
    }, 100);
  } catch (err) {
    await Promise.all(running.map(stopServer));
    throw err;
  }
  return { running, proxyPort };
}

class DiedAtStart extends Error {
  constructor(readonly server: Running) {
    super(`${server.name} exited at start:\n${tail(server.logFile, 20)}`);
  }
}

/**
 * Starts a one-node Swift with s3api on loopback for this test: rings and configs in
 * `t.testdir()`, OS-chosen free ports, every server stopped by pid in `t.teardown` (also when
 * the test fails). Installs Swift first if it is missing (see ensureSwiftInstalled).
 *
 * Servers read the hash prefix and storage policies from /etc/swift/swift.conf (installed by the
 * package; Swift servers do not honour swift_dir for it), everything else from the test folder.
 */
export async function startSwift(t: Test): Promise<SwiftServer> {
  await ensureSwiftInstalled();
  if (!existsSync('/etc/swift/swift.conf')) throw new Error('/etc/swift/swift.conf is missing (it comes with the swift package)');
  let running: Running[] = [];
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopped ??= Promise.all(running.map(stopServer)).then(() => undefined));
  // Before t.testdir(): tap removes the folder after the teardowns registered before its first
  // testdir() call, so the servers stop before their folders go (see MetaCluster.start).
  t.teardown(stop);
  const root = t.testdir();
  let lastError: unknown;
  for (let attempt = 1; attempt <= START_ATTEMPTS_MAX; attempt++) {
    const dir = join(root, `swift-${++instances}`);
    try {
      const started = await startOnce(dir);
      running = started.running;
      return {
        endpoint: `http://127.0.0.1:${started.proxyPort}`,
        accessKeyId: `${ACCOUNT}:${USER}`,
        secretAccessKey: KEY,
        region: 'us-east-1',
        dir,
        logTail: (lines = 30) => running.map((r) => `--- ${r.name}\n${tail(r.logFile, lines)}`).join('\n'),
        stop,
      };
    } catch (err) {
      lastError = err;
      // Only a server that died at start (a port taken between choosing and binding) is retried.
      if (!(err instanceof DiedAtStart)) break;
    }
  }
  throw lastError;
}

/**
 * Creates a bucket (a container of account AUTH_test) with one S3 request signed with AWS
 * signature version 2, so a test needs no S3 client for it. (Swift's own API is no shortcut:
 * tempauth keeps its tokens in memcached, which is not running.) Idempotent.
 */
export async function createBucket(server: SwiftServer, bucket: string): Promise<void> {
  const date = new Date().toUTCString();
  const resource = `/${encodeURIComponent(bucket)}`;
  const signature = createHmac('sha1', server.secretAccessKey).update(`PUT\n\n\n${date}\n${resource}`).digest('base64');
  const res = await fetch(`${server.endpoint}${resource}`, {
    method: 'PUT',
    headers: { date, authorization: `AWS ${server.accessKeyId}:${signature}` },
    signal: AbortSignal.timeout(10_000),
  });
  const body = await res.text();
  // 409 BucketAlreadyOwnedByYou/BucketAlreadyExists: created before, by us (one account here).
  if (res.status !== 200 && res.status !== 409) {
    throw new Error(`creating bucket ${bucket} answered HTTP ${res.status}: ${body}\n${server.logTail(10)}`);
  }
}
