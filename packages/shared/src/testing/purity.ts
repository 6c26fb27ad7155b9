/**
 * The scan behind every purity test: the folders that must stay pure (the Raft core, the catalog,
 * the coordinator, the query model, the engine) are read line by line, comments stripped, for
 * anything that does I/O, reads a clock, draws random numbers, starts timers or goes asynchronous.
 * One list, so a pattern learned in one folder protects them all.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type ImpurePattern = readonly [pattern: RegExp, what: string];

export const IMPURE: readonly ImpurePattern[] = [
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
];

/** Whether some pattern flags this line of code. */
export function flags(patterns: readonly ImpurePattern[], line: string): boolean {
  return patterns.some(([p]) => p.test(line));
}

export interface PurityScan {
  /** The files read (every `.ts` of the folder but tests and `skip`). */
  readonly files: readonly string[];
  /** One line per finding: `file:line uses what: code`. */
  readonly findings: readonly string[];
}

/**
 * Scans `dir`'s own `.ts` files (tests excepted). `allow` lets a folder keep one sanctioned use
 * (the engine's deadline clock), named by file and line.
 */
export function scanPurity(
  dir: string,
  patterns: readonly ImpurePattern[],
  opts: { readonly skip?: readonly string[]; readonly allow?: (file: string, code: string, what: string) => boolean } = {},
): PurityScan {
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !opts.skip?.includes(f));
  const findings: string[] = [];
  for (const file of files) {
    readFileSync(join(dir, file), 'utf8').split('\n').forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, '').replace(/^\s*\*.*$/, '').replace(/\/\*.*?\*\//g, '');
      for (const [pattern, what] of patterns) {
        if (pattern.test(code) && !opts.allow?.(file, code, what)) findings.push(`${file}:${i + 1} uses ${what}: ${line.trim()}`);
      }
    });
  }
  return { files, findings };
}
