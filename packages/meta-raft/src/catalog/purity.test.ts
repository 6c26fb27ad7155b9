import t from 'tap';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { flags, IMPURE, type ImpurePattern, scanPurity } from '@cairn/shared/testing';

/**
 * The catalog is a replicated state machine: every replica must reach the same state from the
 * same commands. So no I/O, no clock (timestamps come inside commands), no unseeded randomness,
 * no timers and no asynchrony may appear in it.
 */
const FORBIDDEN: readonly ImpurePattern[] = [...IMPURE, [/\bcrypto\b/, 'crypto']];

t.test('the catalog folder has no I/O, clock, timers, randomness or async', async (t) => {
  const { files, findings } = scanPurity(dirname(fileURLToPath(import.meta.url)), FORBIDDEN);
  t.ok(files.length >= 12, `scanned ${files.length} files: ${files.join(', ')}`);
  for (const finding of findings) t.fail(finding);
  t.pass('clean');
});

t.test('the scan itself catches a forbidden line', async (t) => {
  const bad = ["import { x } from 'node:fs';", 'const now = Date.now();', 'async function f() {}', 'setTimeout(f, 1);', 'crypto.randomUUID()'];
  for (const line of bad) t.ok(flags(FORBIDDEN, line), `flags: ${line}`);
});
