import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The catalog is a replicated state machine: every replica must reach the same state from the
 * same commands. So no I/O, no clock (timestamps come inside commands), no unseeded randomness,
 * no timers and no asynchrony may appear in it.
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
  [/\bcrypto\b/, 'crypto'],
];

const here = dirname(fileURLToPath(import.meta.url));

t.test('the catalog folder has no I/O, clock, timers, randomness or async', async (t) => {
  const files = readdirSync(here).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  t.ok(files.length >= 12, `scanned ${files.length} files: ${files.join(', ')}`);
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

t.test('the scan itself catches a forbidden line', async (t) => {
  const bad = ["import { x } from 'node:fs';", 'const now = Date.now();', 'async function f() {}', 'setTimeout(f, 1);', 'crypto.randomUUID()'];
  for (const line of bad) t.ok(FORBIDDEN.some(([p]) => p.test(line)), `flags: ${line}`);
});
