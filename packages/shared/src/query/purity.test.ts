import t from 'tap';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IMPURE, type ImpurePattern, scanPurity } from '@cairn/shared/testing';

/**
 * The query model is pure: a worker, the client and tests all run it, so it must not do I/O,
 * read a clock, draw unseeded random numbers, start timers or go asynchronous.
 */
const FORBIDDEN: readonly ImpurePattern[] = [...IMPURE, [/\bBuffer\b/, 'Buffer']];

t.test('the query folder has no I/O, clock, timers, randomness or async', async (t) => {
  const { files, findings } = scanPurity(dirname(fileURLToPath(import.meta.url)), FORBIDDEN);
  t.ok(files.length >= 15, `scanned ${files.length} files: ${files.join(', ')}`);
  for (const finding of findings) t.fail(finding);
  t.pass('clean');
});
