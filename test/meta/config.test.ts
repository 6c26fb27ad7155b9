// cairn-meta refuses a cluster file with a key it does not know: it exits non-zero with one
// line on stderr naming the key, so a typo never silently falls back to a default.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { META_BIN, TEST_TOKEN } from '../lib/meta-cluster.js';
import { freePorts, type Proc, startProcess, stopProcess, waitExit } from '../lib/processes.js';

async function runWithConfig(t: Test, config: unknown): Promise<{ code: number | null; stderr: string; stdout: string }> {
  // The teardown before t.testdir(): tap removes the folder after the teardowns registered first.
  let started: Proc | null = null;
  t.teardown(() => (started ? stopProcess(started) : undefined));
  const dir = t.testdir();
  const path = join(dir, 'cluster.json');
  writeFileSync(path, JSON.stringify(config, null, 2));
  const stdoutFile = join(dir, 'stdout.log');
  const stderrFile = join(dir, 'stderr.log');
  const proc = startProcess('cairn-meta', [META_BIN, '--config', path, '--id', 'm1', '--data', join(dir, 'm1')], stdoutFile, { stderrFile });
  started = proc;
  const exited = await waitExit(proc, 30_000);
  const stderr = readFileSync(stderrFile, 'utf8');
  const stdout = readFileSync(stdoutFile, 'utf8');
  if (!exited) t.comment(`still running after 30 s; stdout:\n${stdout}\nstderr:\n${stderr}`);
  return { code: proc.exitCode ?? null, stderr, stdout };
}

const base = async () => {
  const [port] = await freePorts(1);
  return {
    meta: [{ id: 'm1', url: `http://127.0.0.1:${port}`, dc: 'dc1' }],
    deepStorage: { type: 'local', path: 'deep' },
    auth: { token: TEST_TOKEN },
  };
};

t.test('an unknown top-level key', async (t) => {
  const r = await runWithConfig(t, { ...(await base()), metaa: [] });
  t.not(r.code, 0, `exits non-zero (${r.code})`);
  t.not(r.code, null, 'by itself, not killed');
  const lines = r.stderr.trimEnd().split('\n');
  t.equal(lines.length, 1, 'one line on stderr', { stderr: r.stderr });
  t.match(lines[0], /unknown key "metaa"/, `naming the key: ${lines[0]}`);
  t.equal(r.stdout, '', 'nothing on stdout: it never started');
});

t.test('an unknown key in the raft section', async (t) => {
  const r = await runWithConfig(t, { ...(await base()), raft: { tickMs: 50, electionTick: 10 } });
  t.not(r.code, 0, `exits non-zero (${r.code})`);
  t.not(r.code, null, 'by itself, not killed');
  const lines = r.stderr.trimEnd().split('\n');
  t.equal(lines.length, 1, 'one line on stderr', { stderr: r.stderr });
  t.match(lines[0], /unknown key "electionTick" in raft/, `naming the key and where it is: ${lines[0]}`);
});
