import t from 'tap';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { flags, IMPURE, scanPurity } from '@cairn/shared/testing';

/**
 * The consensus core must stay a pure, synchronous state machine: no I/O, no clock, no
 * unseeded randomness, no timers, no asynchrony. Anything of that kind belongs in a driver.
 */
t.test('the core folder has no I/O, clock, timers, randomness or async', async (t) => {
  const { files, findings } = scanPurity(dirname(fileURLToPath(import.meta.url)), IMPURE);
  t.ok(files.length >= 8, `scanned ${files.length} files: ${files.join(', ')}`);
  for (const finding of findings) t.fail(finding);
  t.pass('clean');
});

t.test('the scan itself catches a forbidden line', async (t) => {
  const bad = ["import { x } from 'node:fs';", 'const now = Date.now();', 'async function f() {}', 'setTimeout(f, 1);'];
  for (const line of bad) t.ok(flags(IMPURE, line), `flags: ${line}`);
});
