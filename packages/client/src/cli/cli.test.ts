import t from 'tap';
import type { Test } from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { api, MetaCluster, TEST_TOKEN } from '../../../../test/lib/meta-cluster.js';
import { freePorts } from '../../../../test/lib/processes.js';

// The `cairn` CLI's contract, checked on the real program: bad input is one line on stderr and
// exit 2; the cluster failing is one line and exit 1; success is exit 0 with the complete output.
const CAIRN = fileURLToPath(new URL('../../bin/cairn.mjs', import.meta.url));
/**
 * What the kernel takes from a writer before the reader drains it: 64 KiB for a shell's pipe, about
 * 208 KiB for the socket pair Node's spawn() gives a child as its stdout. Output past that is
 * queued in the writing process, and an exit that does not wait for it drops it.
 */
const PIPE_BUFFER = 64 * 1024;
const SPAWN_SOCKET_BUFFER = 208 * 1024;
const CHECKSUM = 'a'.repeat(64);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The environment of a CLI run as a user runs it: tap puts its process tracking into every node
 * child (NODE_OPTIONS=--import=@tapjs/processinfo, with _TAPJS_* settings), and that hooks the
 * exit enough that the old CLI's lost output came through whole under tap.
 */
function userEnv(): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS' && !k.startsWith('_TAPJS_')));
}

/**
 * Runs the CLI with stdout and stderr captured through pipes. Resolves on 'close', when both
 * pipes have reached their end, so what is captured is all the child wrote. A child still running
 * when the test ends (a hang, a failed assertion) is killed by its pid in the teardown, and it
 * dies with this test process (CAIRN_PARENT_PID, see die-with-parent.mjs) if that is killed.
 */
function cairn(t: Test, args: readonly string[], opts: { stdin?: string; throughSlowPipe?: boolean } = {}): Promise<Run> {
  // throughSlowPipe: stdout and stderr each through a shell pipe to a slow reader, `dd bs=1`, one
  // byte per read: with a reader as fast as `cat` on another core the kernel took a whole 120 KB
  // write at once about half the time, so the old CLI passed by luck; with dd it never did. In a
  // process group of its own (the teardown reaches cairn too); the exit status is cairn's own
  // (pipefail; dd exits 0). cairn's parent is bash there, so bash's pid is the one to die with.
  const slow = 'dd bs=1 status=none';
  const child = opts.throughSlowPipe
    ? spawn('bash', ['-o', 'pipefail', '-c', `CAIRN_PARENT_PID=$$ "$0" "$@" 2> >(${slow} >&2) | ${slow}`, process.execPath, CAIRN, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
      env: userEnv(),
    })
    : spawn(process.execPath, [CAIRN, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...userEnv(), CAIRN_PARENT_PID: String(process.pid) },
    });
  t.teardown(() => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    try {
      process.kill(opts.throughSlowPipe ? -child.pid : child.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  });
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.stdin ?? '');
  });
}

/** One line on stderr, starting `cairn: `, and no stack trace. */
function oneLine(t: Test, r: Run, what: string): void {
  t.match(r.stderr, /^cairn: [^\n]*\n$/, `${what}: one line on stderr (${r.stderr.slice(0, 300).trim()})`);
  t.notMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
}

// The first run after a source change bundles the CLI (launch.mjs) before running it, starting
// esbuild's service process along the way; such a run once let the old CLI's cut-off output come
// through whole. Building first makes every run below the steady state users see.
t.before(async () => {
  const warm = await cairn(t, ['--help']);
  if (warm.code !== 0) throw new Error(`cairn --help exited ${warm.code}: ${warm.stderr}`);
});

t.test('a stderr message larger than the pipe buffer arrives whole before the exit', async (t) => {
  // An unknown command is echoed in the error: a 120,000-character name (an argument may hold
  // up to 128 KiB on Linux) makes a message of more than a shell pipe's buffer, with no cluster at
  // all. Through a real pipe and a slow reader: spawn()'s socket pair (about 208 KiB) would take
  // the whole message at once.
  const name = 'x'.repeat(120_000);
  const r = await cairn(t, [name], { throughSlowPipe: true });
  t.equal(r.code, 2, 'an unknown command is a usage error');
  t.ok(r.stderr.length > PIPE_BUFFER, `the whole message arrived: ${r.stderr.length} characters`);
  t.ok(r.stderr.includes(`"${name}"`), 'with the whole name');
  t.ok(r.stderr.endsWith('; commands: status, datasources, segments, rules, workers, ingest, query, quickstart\n'), 'to its last line end');
});

t.test('cairn status: a metadata group nobody answers for is an error, not an empty cluster', async (t) => {
  const dir = t.testdir();
  // Ports that were free a moment ago: nothing listens there, so every member refuses.
  const ports = await freePorts(3);
  const config = join(dir, 'cluster.json');
  writeFileSync(config, JSON.stringify({
    meta: ports.map((p, i) => ({ id: `m${i + 1}`, url: `http://127.0.0.1:${p}`, dc: 'dc1' })),
    deepStorage: { type: 'local', path: join(dir, 'deep') },
    auth: { token: TEST_TOKEN },
  }));
  for (const json of [false, true]) {
    const what = json ? 'status --json' : 'status';
    const r = await cairn(t, ['status', '--config', config, ...(json ? ['--json'] : [])]);
    t.equal(r.code, 1, `${what}: exit 1`);
    oneLine(t, r, what);
    t.match(r.stderr, /no member of the metadata group answered/, `${what}: says why`);
    t.equal(r.stdout, '', `${what}: no table of unreachable members and no workers`);
  }
});

t.test('the CLI against a running metadata group', async (t) => {
  const cluster = await MetaCluster.start(t);
  const config = cluster.configPath;
  const leader = cluster.url(await cluster.waitLeader());

  // Enough segments that `segments --json` prints about 1 MB, as in the report of the bug: one
  // hour, 2000 partitions.
  const partitions = 2000;
  const segments = Array.from({ length: partitions }, (_, partition) => ({
    dataSource: 'wide', start: '2024-01-01T00:00:00Z', end: '2024-01-01T01:00:00Z', version: 'v1', partition, partitions,
    size: 1000, rows: 10, schema: { columns: ['ts', 'v'] }, checksum: CHECKSUM, location: `wide/v1/${partition}.seg`,
  }));
  const published = await api(leader, '/v1/segments/publish', { body: { ingestionId: 'wide-1', segments }, timeoutMs: 60_000 });
  t.equal(published.status, 200, `published: ${JSON.stringify(published.body).slice(0, 300)}`);

  await t.test('segments --json through a pipe: the whole output, then exit 0', async (t) => {
    // Captured by this process through spawn()'s socket pair, and as in the report of the bug
    // (`cairn segments --json | wc -c`), through a shell pipe to a slow reader.
    for (const throughSlowPipe of [false, true]) {
      const what = throughSlowPipe ? 'through a shell pipe' : 'through a socket pair';
      const r = await cairn(t, ['segments', '--json', '--config', config], { throughSlowPipe });
      t.equal(r.code, 0, `${what}: exit 0 ${r.stderr}`);
      t.ok(r.stdout.length > 4 * SPAWN_SOCKET_BUFFER, `${what}: more than four buffers' worth arrived: ${r.stdout.length} characters`);
      let parsed: { segments: unknown[]; total: number } | null = null;
      try {
        parsed = JSON.parse(r.stdout) as { segments: unknown[]; total: number };
      } catch (err) {
        t.fail(`${what}: the output is not whole JSON (${(err as Error).message}); it ends with ${JSON.stringify(r.stdout.slice(-80))}`);
      }
      t.equal(parsed?.total, partitions, `${what}: every segment is counted`);
      t.equal(parsed?.segments.length, partitions, `${what}: and listed`);
    }
  });

  await t.test('input the metadata group refuses as INVALID is bad input: exit 2', async (t) => {
    const cases: [string, string[], RegExp][] = [
      ['an interval that is not one', ['segments', '--interval', 'nonsense'], /INVALID/],
      ['rules of an unknown type', ['rules', 'set', 'wide', '[{"type": "keepForeverPlease"}]'], /INVALID/],
    ];
    for (const [what, args, message] of cases) {
      const r = await cairn(t, [...args, '--config', config]);
      t.equal(r.code, 2, `${what}: exit 2`);
      oneLine(t, r, what);
      t.match(r.stderr, message, `${what}: names the code`);
    }
  });

  await t.test('a bad --ingestion-id is refused before anything is read or uploaded', async (t) => {
    const dir = cluster.dir;
    writeFileSync(join(dir, 'rows.ndjson'), '{"ts": "2024-02-01T00:00:00Z", "v": 1}\n{"ts": "2024-02-01T05:00:00Z", "v": 2}\n');
    const spec = join(dir, 'spec.json');
    writeFileSync(spec, JSON.stringify({
      dataSource: 'idcheck', input: { files: ['rows.ndjson'], format: 'ndjson' }, timestamp: { column: 'ts', format: 'iso' },
      dimensions: [], metrics: [{ type: 'longSum', name: 'v', fieldName: 'v' }], segmentGranularity: 'hour', rollup: false,
    }));
    const deep = join(dir, 'deep');
    const stored = () => (existsSync(deep) ? readdirSync(deep, { recursive: true }).length : 0);
    const before = stored();
    for (const id of ['bad id with spaces', '']) {
      const what = `--ingestion-id ${JSON.stringify(id)}`;
      const r = await cairn(t, ['ingest', '--config', config, '--ingestion-id', id, spec]);
      t.equal(r.code, 2, `${what}: exit 2`);
      oneLine(t, r, what);
      t.match(r.stderr, /--ingestion-id.*printable ASCII characters without spaces/, `${what}: says what an id may be`);
      t.equal(r.stdout, '', `${what}: no report`);
      t.equal(stored(), before, `${what}: no segment file left in deep storage`);
    }
    const catalog = await api<{ total: number }>(leader, '/v1/segments?dataSource=idcheck');
    t.equal(catalog.body.total, 0, 'nothing published');
  });

  // Last: it takes the group down to one member, which cannot serve linearizable reads alone.
  await t.test('status when members answer but the workers cannot be listed: says so, exit 1', async (t) => {
    const [survivor, ...others] = cluster.ids;
    for (const id of others) await cluster.kill(id);
    for (const json of [false, true]) {
      const what = json ? 'status --json' : 'status';
      const r = await cairn(t, ['status', '--config', config, ...(json ? ['--json'] : [])]);
      t.equal(r.code, 1, `${what}: exit 1`);
      oneLine(t, r, what);
      t.match(r.stderr, /cannot list the workers/, `${what}: says the workers could not be listed`);
      if (json) {
        const body = JSON.parse(r.stdout) as { meta: { id: string; status: unknown }[]; workers: unknown };
        t.ok(body.meta.find((m) => m.id === survivor)?.status, `${what}: ${survivor} answered`);
        t.match(body.workers, { error: /./ }, `${what}: the workers' error instead of an empty list`);
      } else {
        t.match(r.stdout, new RegExp(`^\\s*${survivor}\\s+\\S+\\s+(leader|follower|candidate|pre-?candidate)`, 'm'), `${what}: the member that answered is listed`);
        t.match(r.stdout, /^workers\n\s*cannot list the workers: /m, `${what}: says so where the table would be`);
        t.notMatch(r.stdout, /^worker\s+tier/m, `${what}: no empty workers table`);
      }
    }
  });
});
