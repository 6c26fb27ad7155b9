import t from 'tap';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { flags, IMPURE, type ImpurePattern, scanPurity } from '@cairn/shared/testing';

/**
 * The planner is a pure function: the same input must give the same plan on every leader. So no
 * I/O, no clock (the input carries `now`), no randomness, no timers and no asynchrony may appear
 * in the coordinator's code (tests excepted).
 */
const FORBIDDEN: readonly ImpurePattern[] = [...IMPURE, [/\bcrypto\b/, 'crypto']];

t.test('the coordinator folder has no I/O, clock, timers, randomness or async', async (t) => {
  const { files, findings } = scanPurity(dirname(fileURLToPath(import.meta.url)), FORBIDDEN);
  t.ok(files.length >= 12, `scanned ${files.length} files: ${files.join(', ')}`);
  for (const finding of findings) t.fail(finding);
  t.pass('clean');
});

t.test('the scan itself catches a forbidden line', async (t) => {
  const bad = ["import { x } from 'node:fs';", 'const now = Date.now();', 'Math.random()', 'setTimeout(f, 1);', 'performance.now()'];
  for (const line of bad) t.ok(flags(FORBIDDEN, line), `flags: ${line}`);
});
