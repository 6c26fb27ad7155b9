import type { Test } from 'tap';
import { replayCommand, runSeed } from './run.js';

/**
 * Runs seeds [from, from + count) as one tap test: one assertion per failing seed (with its
 * trace tail and replay command) and a summary, so a red CI run says exactly what to replay.
 */
export function swarmTest(t: Test, from: number, count: number): void {
  let passed = 0;
  let committed = 0;
  let opsOk = 0;
  for (let seed = from; seed < from + count; seed++) {
    const r = runSeed(seed);
    committed += r.stats.maxCommitted;
    opsOk += r.stats.opsOk;
    if (r.ok) {
      passed++;
      continue;
    }
    t.fail(`seed ${seed}: ${r.failure!.kind}: ${r.failure!.message}\n${r.failure!.trace.join('\n')}\nreplay: ${replayCommand(seed)}`);
  }
  t.comment(`seeds ${from}..${from + count - 1}: ${passed} passed; ${committed} entries committed, ${opsOk} client operations acknowledged`);
  t.equal(passed, count, `all ${count} seeds pass every safety, liveness and linearizability check`);
}
