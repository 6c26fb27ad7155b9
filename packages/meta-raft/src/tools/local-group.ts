import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Starts a local three-node metadata group on loopback, and stops it by pid.
 *   pnpm meta:local start [--dir var/local] [--port 7101]
 *   pnpm meta:local status | stop
 * Each node's data and log live under the folder; its pid is recorded there.
 */
const BIN = fileURLToPath(new URL('../../bin/cairn-meta.mjs', import.meta.url));
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

interface Args { cmd: string; dir: string; port: number }

function parse(argv: string[]): Args {
  const cmd = argv[0] ?? 'help';
  let dir = 'var/local';
  let port = 7101;
  for (let i = 1; i < argv.length; i++) {
    if (argv[i] === '--dir') dir = argv[++i] ?? fail('--dir needs a path');
    else if (argv[i] === '--port') port = Number(argv[++i] ?? fail('--port needs a number'));
    else fail(`unknown argument ${argv[i]}`);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65533) fail('--port must be between 1 and 65533');
  return { cmd, dir: resolve(dir), port };
}

function fail(message: string): never {
  process.stderr.write(`meta:local: ${message}\n`);
  process.exit(2);
}

const pidFile = (dir: string) => join(dir, 'pids.json');

function readPids(dir: string): Record<string, number> {
  return existsSync(pidFile(dir)) ? (JSON.parse(readFileSync(pidFile(dir), 'utf8')) as Record<string, number>) : {};
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function status(url: string): Promise<Record<string, unknown> | null> {
  try {
    const res = await fetch(`${url}/v1/status`, { signal: AbortSignal.timeout(1000) });
    return res.ok ? ((await res.json()) as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

async function start(a: Args): Promise<void> {
  const running = Object.entries(readPids(a.dir)).filter(([, pid]) => alive(pid));
  if (running.length > 0) fail(`already running in ${a.dir} (${running.map(([id, pid]) => `${id}=${pid}`).join(', ')}); stop it first`);
  mkdirSync(a.dir, { recursive: true });
  const ids = ['m1', 'm2', 'm3'];
  const configPath = join(a.dir, 'cluster.json');
  if (!existsSync(configPath)) {
    const config = {
      meta: ids.map((id, i) => ({ id, url: `http://127.0.0.1:${a.port + i}`, dc: 'dc1' })),
      deepStorage: { type: 'local', path: 'deep' },
      auth: { token: process.env['CAIRN_TOKEN'] ?? 'local-dev-token' },
    };
    writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`);
  }
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as { meta: { id: string; url: string }[] };
  const pids: Record<string, number> = {};
  for (const m of config.meta) {
    const log = openSync(join(a.dir, `${m.id}.log`), 'a');
    const child = spawn(process.execPath, [BIN, '--config', configPath, '--id', m.id, '--data', join(a.dir, m.id)], {
      detached: true,
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    child.unref();
    pids[m.id] = child.pid!;
  }
  writeFileSync(pidFile(a.dir), JSON.stringify(pids));
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const statuses = await Promise.all(config.meta.map((m) => status(m.url)));
    const leader = statuses.find((s) => s && s['role'] === 'leader');
    if (leader && statuses.every((s) => s !== null)) {
      process.stdout.write(`metadata group up in ${a.dir}, leader ${leader['id']}:\n`);
      for (const m of config.meta) process.stdout.write(`  ${m.id}  ${m.url}  pid ${pids[m.id]}  log ${join(a.dir, `${m.id}.log`)}\n`);
      process.stdout.write(`cluster file: ${configPath}\nstop it with: pnpm meta:local stop${a.dir === resolve('var/local') ? '' : ` --dir ${a.dir}`}\n`);
      return;
    }
    if (Date.now() > deadline) {
      await stop(a);
      fail(`no leader within ${START_TIMEOUT_MS / 1000} s; see the logs in ${a.dir}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stop(a: Args): Promise<void> {
  const pids = readPids(a.dir);
  for (const pid of Object.values(pids)) if (alive(pid)) process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (Object.values(pids).some(alive)) {
    if (Date.now() > deadline) {
      for (const pid of Object.values(pids)) if (alive(pid)) process.kill(pid, 'SIGKILL');
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  rmSync(pidFile(a.dir), { force: true });
  process.stdout.write(`stopped ${Object.keys(pids).length} node(s) in ${a.dir}\n`);
}

async function show(a: Args): Promise<void> {
  const configPath = join(a.dir, 'cluster.json');
  if (!existsSync(configPath)) fail(`no group in ${a.dir}`);
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as { meta: { id: string; url: string }[] };
  const pids = readPids(a.dir);
  for (const m of config.meta) {
    const s = await status(m.url);
    const pid = pids[m.id];
    process.stdout.write(`${m.id}  ${m.url}  pid ${pid ?? '-'} ${pid && alive(pid) ? 'running' : 'stopped'}  ${s ? `${s['role']} term ${s['term']} leader ${s['leader'] || '-'} applied ${s['appliedIndex']}` : 'not answering'}\n`);
  }
}

const args = parse(process.argv.slice(2));
const commands: Record<string, (a: Args) => Promise<void>> = { start, stop, status: show };
const run = commands[args.cmd];
if (!run) fail(`usage: pnpm meta:local start|status|stop [--dir DIR] [--port FIRST_PORT]`);
await run(args);
