import t from 'tap';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Bad arguments end the worker before it binds a port or reaches the metadata group: one line
// on stderr and exit code 2.
const BIN = new URL('../bin/cairn-worker.mjs', import.meta.url).pathname;

t.test('bad --memory and --capacity values are named in one line, exit code 2', async (t) => {
  const dir = t.testdir();
  const config = join(dir, 'cluster.json');
  writeFileSync(config, JSON.stringify({ meta: [{ id: 'm1', url: 'http://127.0.0.1:1', dc: 'dc1' }], auth: { token: 'cli-test-token' } }));
  const base = ['--config', config, '--id', 'w1', '--listen', '127.0.0.1:0', '--cache', join(dir, 'cache')];
  const cases: [string[], RegExp][] = [
    [['--memory', 'lots'], /^cairn-worker: --memory: cannot read "lots" as a size/],
    [['--memory', '1KB'], /^cairn-worker: --memory 1KB: at least 1MB/],
    [['--capacity', '-5'], /^cairn-worker: --capacity: cannot read "-5" as a size/],
    [['--memroy', '2GB'], /^cairn-worker: unknown argument --memroy/],
  ];
  for (const [args, want] of cases) {
    const r = spawnSync(process.execPath, [BIN, ...base, ...args], { encoding: 'utf8', timeout: 60_000 });
    t.equal(r.status, 2, `${args.join(' ')}: exit code 2`);
    t.match(r.stderr, want, `${args.join(' ')}: ${r.stderr.trim()}`);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  }
});
