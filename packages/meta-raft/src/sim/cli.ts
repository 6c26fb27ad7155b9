import { fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { replayCommand, runSeed } from './run.js';
import type { RunResult } from './run.js';

/**
 * `pnpm sim`: runs simulator seeds and reports how many passed, spread over the machine's cores.
 *   pnpm sim --seed 42 --trace           replay one seed with its full trace
 *   pnpm sim --seeds 20000 --from 100000 a swarm of fresh seeds
 *   pnpm sim --seeds 500 --jobs 1        on one core
 */
interface Args {
  readonly seeds: number;
  readonly from: number;
  readonly trace: boolean;
  readonly jobs: number;
}

interface WorkerReport {
  readonly passed: number;
  readonly failed: number;
}

const JOBS_MAX = 64;

function parseArgs(argv: readonly string[]): Args {
  let seeds = 100;
  let from = 1;
  let trace = false;
  let jobs = availableParallelism();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): number => {
      const v = argv[++i];
      if (v === undefined || !/^\d+$/.test(v)) fail(`${arg} needs a non-negative integer`);
      return Number(v);
    };
    if (arg === '--seeds') seeds = value();
    else if (arg === '--from') from = value();
    else if (arg === '--seed') {
      from = value();
      seeds = 1;
    } else if (arg === '--trace') trace = true;
    else if (arg === '--jobs') jobs = Math.min(JOBS_MAX, Math.max(1, value()));
    else if (arg === '--') continue;
    else fail(`unknown argument ${arg} (use --seed N, --seeds N, --from S, --jobs N, --trace)`);
  }
  return { seeds, from, trace, jobs };
}

function fail(message: string): never {
  process.stderr.write(`sim: ${message}\n`);
  process.exit(2);
}

function report(r: RunResult): void {
  if (r.ok || !r.failure) return;
  process.stdout.write(`\nseed ${r.seed} FAILED (${r.failure.kind}): ${r.failure.message}\n`);
  for (const line of r.failure.trace) process.stdout.write(`  ${line}\n`);
  process.stdout.write(`replay: ${replayCommand(r.seed)}\n`);
}

/** Runs a contiguous range in this process. */
function runRange(from: number, count: number, trace: boolean): WorkerReport {
  let passed = 0;
  let failed = 0;
  for (let seed = from; seed < from + count; seed++) {
    const r = runSeed(seed, trace ? { onTrace: (l) => process.stdout.write(`${l}\n`) } : {});
    if (r.ok) passed++;
    else {
      failed++;
      report(r);
    }
    if (count === 1) process.stdout.write(`${JSON.stringify(r.stats)}\n`);
  }
  return { passed, failed };
}

/** Splits the range over `jobs` child processes running this same file. */
async function runParallel(args: Args): Promise<WorkerReport> {
  const jobs = Math.min(args.jobs, args.seeds);
  const chunk = Math.ceil(args.seeds / jobs);
  const runs: Promise<WorkerReport>[] = [];
  for (let j = 0; j < jobs; j++) {
    const from = args.from + j * chunk;
    const count = Math.min(chunk, args.from + args.seeds - from);
    if (count <= 0) break;
    runs.push(new Promise((resolve, reject) => {
      const child = fork(process.argv[1]!, ['--seeds', String(count), '--from', String(from), '--jobs', '1', '--worker'], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      let result: WorkerReport | null = null;
      child.on('message', (m) => (result = m as WorkerReport));
      child.on('error', reject);
      child.on('exit', (code) => (result ? resolve(result) : reject(new Error(`worker for seeds ${from}.. exited with ${code}`))));
    }));
  }
  const reports = await Promise.all(runs);
  return reports.reduce((a, b) => ({ passed: a.passed + b.passed, failed: a.failed + b.failed }), { passed: 0, failed: 0 });
}

async function main(): Promise<void> {
  const workerMode = process.argv.includes('--worker');
  const args = parseArgs(process.argv.slice(2).filter((a) => a !== '--worker'));
  if (workerMode) {
    process.send!(runRange(args.from, args.seeds, false));
    return;
  }
  const started = performance.now();
  const jobs = args.trace || args.seeds === 1 ? 1 : Math.min(args.jobs, args.seeds);
  const result = jobs === 1 ? runRange(args.from, args.seeds, args.trace) : await runParallel(args);
  const secs = ((performance.now() - started) / 1000).toFixed(1);
  const last = args.from + args.seeds - 1;
  process.stdout.write(`seeds ${args.from}..${last}: ${result.passed} passed, ${result.failed} failed in ${secs} s on ${jobs} process${jobs === 1 ? '' : 'es'}\n`);
  process.exitCode = result.failed === 0 ? 0 : 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`sim: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
