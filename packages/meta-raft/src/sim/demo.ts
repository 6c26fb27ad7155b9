import { configFromSeed } from './config.js';
import type { SimConfig } from './config.js';
import { runSeed } from './run.js';

/**
 * `pnpm start` (until the cluster exists): one visible simulator run of a five-node group under
 * every kind of fault, printing elections, partitions, crashes and commits as they happen, then
 * the safety checks it passed. `pnpm start -- --seed N` picks another run.
 */
const seedArg = process.argv.indexOf('--seed');
const seed = seedArg >= 0 ? Number(process.argv[seedArg + 1]) : 2026;
if (!Number.isSafeInteger(seed) || seed < 0) {
  process.stderr.write('demo: --seed needs a non-negative integer\n');
  process.exit(2);
}

const base = configFromSeed(seed);
const config: SimConfig = {
  ...base,
  nodes: 5,
  clients: 4,
  keys: 3,
  safetyMs: 8000,
  network: { ...base.network, dropRate: 0.03, dupRate: 0.02 },
  faults: {
    ...base.faults,
    gapMsMin: 200,
    gapMsMax: 500,
    downMsMax: 1200,
    sequence: [
      'isolate-leader', 'heal', 'crash-leader', 'partition', 'heal', 'pause', 'clog', 'asymmetric',
      'heal', 'crash', 'skew', 'replace-node', 'partition', 'heal', 'crash-leader', 'heal',
    ],
    weights: {
      partition: 2, 'isolate-leader': 2, asymmetric: 1, clog: 1, heal: 3,
      crash: 1, 'crash-leader': 2, pause: 1, skew: 1, 'replace-node': 1, 'transfer-leader': 1,
    },
  },
};

process.stdout.write(`Cairn metadata group, simulated: 5 Raft nodes under faults, in virtual time (seed ${seed}).\n\n`);
const started = performance.now();
const r = runSeed(seed, { config, onTrace: (line) => process.stdout.write(`${line}\n`) });
const ms = (performance.now() - started).toFixed(0);
const s = r.stats;
process.stdout.write('\n');
if (!r.ok) {
  process.stdout.write(`FAILED (${r.failure!.kind}): ${r.failure!.message}\nreplay: pnpm start --seed ${seed}\n`);
  process.exit(1);
}
const faults = Object.entries(s.faults).map(([k, v]) => `${v} ${k}`).join(', ');
const lines = [
  `Simulated ${(s.virtualMs / 1000).toFixed(1)} s in ${ms} ms of real time: ${s.messages} messages (${s.dropped} lost, ${s.duplicated} duplicated), faults: ${faults}.`,
  '',
  'Safety checks passed:',
  `  election safety       at most one leader in each of ${s.leaderTerms} terms`,
  `  log matching          ${s.checked['entries']} persisted entries agree by index and term`,
  `  leader completeness   ${s.checked['elections']} new leaders held every committed entry`,
  `  state machine safety  ${s.checked['commits']} commits and ${s.checked['snapshots']} snapshots agree across nodes`,
  `  durability            ${s.checked['durability']} checks that the newest commit is on a quorum's disks`,
  `  linearizability       ${s.linearizableOps} client operations on ${s.linearizableKeys} keys (${s.opsOk} ok, ${s.opsFailed} refused, ${s.opsUnknown} unknown)`,
  `  liveness              after healing: a leader in ${s.leaderAfterHealMs} ms, every client served in ${s.clientsServedAfterHealMs} ms`,
  '',
  `Run it again: pnpm start --seed ${seed}   Other runs: pnpm start --seed N   A swarm: pnpm sim --seeds 1000`,
];
process.stdout.write(`${lines.join('\n')}\n`);
