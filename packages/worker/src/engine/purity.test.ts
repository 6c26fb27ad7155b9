import t from 'tap';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IMPURE, scanPurity } from '@cairn/shared/testing';

/**
 * The per-segment engine is pure and synchronous: a function of the query, the segment and
 * its options. The only clock it may read is the default of `ExecutionOptions.now`, in
 * execution.ts, and only when a deadline is given. (`speed.ts`, a measuring script, and the
 * test helpers are not part of it.)
 */
t.test('the engine folder has no I/O, timers, randomness or async, and one clock', async (t) => {
  const { files, findings } = scanPurity(dirname(fileURLToPath(import.meta.url)), IMPURE, { skip: ['speed.ts'], allow: (file, code, what) => what === 'Date' && file === 'execution.ts' && /Date\.now/.test(code) });
  t.ok(files.length >= 12, `scanned ${files.length} files: ${files.join(', ')}`);
  for (const finding of findings) t.fail(finding);
  t.pass('clean');
});
