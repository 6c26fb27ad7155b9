// The whole test suite, as the README's second command runs it: a type check of every package,
// then every tap test file (unit, simulation, integration). It ends with the plain line
// "N passed, N failed" that CI reads; the type check counts as one test.
import { spawn } from 'node:child_process';

function run(cmd, args, { capture = false } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'] });
    let out = '';
    if (capture) {
      child.stdout.on('data', (chunk) => {
        process.stdout.write(chunk);
        out += chunk;
        if (out.length > 1 << 20) out = out.slice(-(1 << 16)); // keep the tail, where the summary is
      });
    }
    child.on('exit', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), out }));
  });
}

const bin = (name) => new URL(`../node_modules/.bin/${name}`, import.meta.url).pathname;

process.stdout.write('type check: tsc -p .\n');
const tsc = await run(bin('tsc'), ['-p', '.']);
const typecheckFailed = tsc.code === 0 ? 0 : 1;
process.stdout.write(typecheckFailed ? 'type check FAILED\n' : 'type check passed\n');

const tap = await run(bin('tap'), process.argv.slice(2), { capture: true });
// tap's last summary line, e.g. "# { total: 161, pass: 160, fail: 1 }".
const summary = [...tap.out.matchAll(/# \{ total: (\d+), pass: (\d+)(?:, fail: (\d+))?(?:, skip: (\d+))?[^}]*\}/g)].at(-1);
let passed = 1 - typecheckFailed;
let failed = typecheckFailed;
let skipped = 0;
if (summary) {
  passed += Number(summary[2]);
  failed += Number(summary[3] ?? 0);
  skipped = Number(summary[4] ?? 0);
  // A test file that crashed before reporting still fails the run.
  if (tap.code !== 0 && Number(summary[3] ?? 0) === 0) failed += 1;
} else if (tap.code !== 0) {
  failed += 1;
}
process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exitCode = failed === 0 ? 0 : 1;
