/**
 * Proves the checker on 102 recorded Jepsen etcd histories with known verdicts
 * (23 linearizable, 79 not): every verdict must match.
 */

import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import t from 'tap';
import { checkHistory } from './check-history.js';
import { parseJepsenLog } from './jepsen-log.js';

const dir = new URL('./jepsen-etcd/', import.meta.url);

const known = readFileSync(new URL('verdicts.tsv', dir), 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => {
    const [file, verdict] = line.trim().split(/\s+/);
    return { file: file!, linearizable: verdict === 'true' };
  });

t.equal(known.length, 102, 'verdicts.tsv lists 102 histories');

let elapsed = 0;
const tally = { linearizable: 0, violation: 0, unknown: 0 };
let steps = 0;
for (const { file, linearizable } of known) {
  const text = readFileSync(new URL(file, dir), 'utf8');
  const started = performance.now();
  const result = checkHistory(parseJepsenLog(text));
  elapsed += performance.now() - started;
  tally[result.verdict]++;
  steps += result.keys.reduce((sum, key) => sum + key.steps, 0);
  t.equal(result.verdict, linearizable ? 'linearizable' : 'violation', file);
}
t.comment(
  `checked ${known.length} histories in ${elapsed.toFixed(0)} ms (parse + check), ${steps} steps; ` +
    `${tally.linearizable} linearizable, ${tally.violation} violations, ${tally.unknown} unknown`,
);
