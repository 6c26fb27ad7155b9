import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The query model is pure: a worker, the client and tests all run it, so it must not do I/O,
 * read a clock, draw unseeded random numbers, start timers or go asynchronous.
 */
const FORBIDDEN: readonly [RegExp, string][] = [
  [/from\s+['"]node:/, 'a node:* import'],
  [/require\(/, 'require()'],
  [/\bimport\s*\(/, 'a dynamic import'],
  [/\bDate\b/, 'Date'],
  [/\bperformance\./, 'performance.*'],
  [/Math\.random/, 'Math.random'],
  [/\b(setTimeout|setInterval|setImmediate|queueMicrotask)\b/, 'a timer'],
  [/\basync\b/, 'async'],
  [/\bawait\b/, 'await'],
  [/\bPromise\b/, 'a Promise'],
  [/\bprocess\./, 'process.*'],
  [/\bfetch\(/, 'fetch()'],
  [/\bBuffer\b/, 'Buffer'],
];

const here = dirname(fileURLToPath(import.meta.url));

t.test('the query folder has no I/O, clock, timers, randomness or async', async (t) => {
  const files = readdirSync(here).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  t.ok(files.length >= 15, `scanned ${files.length} files: ${files.join(', ')}`);
  for (const file of files) {
    const lines = readFileSync(join(here, file), 'utf8').split('\n');
    lines.forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, '').replace(/^\s*\*.*$/, '').replace(/\/\*.*?\*\//g, '');
      for (const [pattern, what] of FORBIDDEN) {
        if (pattern.test(code)) t.fail(`${file}:${i + 1} uses ${what}: ${line.trim()}`);
      }
    });
  }
  t.pass('clean');
});
