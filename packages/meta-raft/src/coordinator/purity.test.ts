import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The planner is a pure function: the same input must give the same plan on every leader. So no
 * I/O, no clock (the input carries `now`), no randomness, no timers and no asynchrony may appear
 * in the coordinator's code (tests excepted).
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

t.test('the coordinator folder has no I/O, clock, timers, randomness or async', async (t) => {
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
  const bad = ["import { x } from 'node:fs';", 'const now = Date.now();', 'Math.random()', 'setTimeout(f, 1);', 'performance.now()'];
  for (const line of bad) t.ok(FORBIDDEN.some(([p]) => p.test(line)), `flags: ${line}`);
});
