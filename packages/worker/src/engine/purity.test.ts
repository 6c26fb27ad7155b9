import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The per-segment engine is pure and synchronous: a function of the query, the segment and
 * its options. The only clock it may read is the default of `ExecutionOptions.now`, in
 * execution.ts, and only when a deadline is given. (`speed.ts`, a measuring script, and the
 * test helpers are not part of it.)
 */
const FORBIDDEN: readonly [RegExp, string][] = [
  [/from\s+['"]node:/, 'a node:* import'],
  [/require\(/, 'require()'],
  [/\bimport\s*\(/, 'a dynamic import'],
  [/\bperformance\./, 'performance.*'],
  [/Math\.random/, 'Math.random'],
  [/\b(setTimeout|setInterval|setImmediate|queueMicrotask)\b/, 'a timer'],
  [/\basync\b/, 'async'],
  [/\bawait\b/, 'await'],
  [/\bPromise\b/, 'a Promise'],
  [/\bprocess\./, 'process.*'],
  [/\bfetch\(/, 'fetch()'],
];

const here = dirname(fileURLToPath(import.meta.url));

t.test('the engine folder has no I/O, timers, randomness or async, and one clock', async (t) => {
  const files = readdirSync(here).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'speed.ts');
  t.ok(files.length >= 12, `scanned ${files.length} files: ${files.join(', ')}`);
  for (const file of files) {
    const lines = readFileSync(join(here, file), 'utf8').split('\n');
    lines.forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, '').replace(/^\s*\*.*$/, '').replace(/\/\*.*?\*\//g, '');
      for (const [pattern, what] of FORBIDDEN) {
        if (pattern.test(code)) t.fail(`${file}:${i + 1} uses ${what}: ${line.trim()}`);
      }
      if (/\bDate\b/.test(code) && !(file === 'execution.ts' && /Date\.now/.test(code))) t.fail(`${file}:${i + 1} uses Date: ${line.trim()}`);
    });
  }
  t.pass('clean');
});
