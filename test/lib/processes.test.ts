/**
 * The harness's last layer: a child that is paused (SIGSTOP) when its test process is SIGKILLed
 * cannot run its own watchdog, and must still die (the reaper). Without it a timed-out test left
 * a stopped worker behind for good.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { waitFor } from './processes.js';

/** Alive and not a zombie (an exited child of a dead parent may linger as one until reaped). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

t.test('a paused child dies with its SIGKILLed test process', async (t) => {
  const dir = t.testdir();
  const script = join(dir, 'fake-test.ts');
  const lib = pathToFileURL(new URL('./processes.ts', import.meta.url).pathname).href;
  writeFileSync(
    script,
    `import { signal, startProcess } from ${JSON.stringify(lib)};
const p = startProcess('sleeper', ['-e', 'setInterval(() => {}, 1 << 30)'], ${JSON.stringify(join(dir, 'sleeper.log'))});
signal(p, 'SIGSTOP');
process.stdout.write(String(p.pid) + '\\n', () => process.kill(process.pid, 'SIGKILL'));
`,
  );
  const fake = spawn(process.execPath, ['--import=tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  fake.stdout.on('data', (d) => (out += d));
  const [, sig] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => fake.once('exit', (code, s) => r([code, s])));
  t.equal(sig, 'SIGKILL', 'the fake test process was SIGKILLed (no exit hook ran)');
  const pid = Number(out.trim());
  t.ok(Number.isSafeInteger(pid) && pid > 0, `it had started a child (pid ${out.trim()})`);
  t.teardown(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone, as it should be
    }
  });
  await waitFor('the paused child to be killed by the reaper', 10_000, async () => (alive(pid) ? undefined : true), 50);
  t.pass('the paused child is gone');
});
