import { checkKvWorkload } from '../lincheck/index.js';
import { InvariantError } from '../core/index.js';
import { configFromSeed } from './config.js';
import type { SimConfig } from './config.js';
import { FaultInjector } from './faults.js';
import { SafetyViolation } from './monitor.js';
import { LivenessFailure, Simulation } from './simulation.js';
import { KvWorkload } from './workload.js';

export interface RunOptions {
  /** Print every trace line as it happens. */
  readonly onTrace?: (line: string) => void;
  /** Replace the seed's derived configuration (scenario runs, the demo). */
  readonly config?: SimConfig;
}

export interface RunResult {
  readonly seed: number;
  readonly ok: boolean;
  /** What failed, with the last trace lines; absent when ok. */
  readonly failure?: { readonly kind: string; readonly message: string; readonly trace: readonly string[] };
  readonly stats: RunStats;
}

export interface RunStats {
  readonly nodes: number;
  readonly virtualMs: number;
  readonly events: number;
  readonly messages: number;
  readonly dropped: number;
  readonly duplicated: number;
  readonly opsOk: number;
  readonly opsFailed: number;
  readonly opsUnknown: number;
  readonly maxCommitted: number;
  readonly safetyChecks: number;
  readonly faults: Readonly<Record<string, number>>;
  readonly elections: number;
  /** Terms that had a leader, and how often each safety property was checked. */
  readonly leaderTerms: number;
  readonly checked: Readonly<Record<string, number>>;
  /** Virtual ms from healing to a leader that serves, and to every client served again. */
  readonly leaderAfterHealMs: number;
  readonly clientsServedAfterHealMs: number;
  readonly linearizableOps: number;
  readonly linearizableKeys: number;
}

/** How often the durability of the newest commit is checked, in virtual ms. */
const DURABILITY_CHECK_MS = 100;
const PROGRESS_REPORT_MS = 500;

/**
 * One simulator run: a safety phase under the seed's faults, with every safety property checked
 * as it goes; then a liveness phase that heals everything and requires a leader to serve every
 * client again within a bound; then convergence and a linearizability check of the client history.
 */
export function runSeed(seed: number, options: RunOptions = {}): RunResult {
  const config = options.config ?? configFromSeed(seed);
  const sim = new Simulation(config);
  if (options.onTrace) sim.traceSink = options.onTrace;
  const workload = new KvWorkload(sim);
  const faults = new FaultInjector(sim);
  let kind = 'ok';
  let message = '';
  let leaderAfterHealMs = -1;
  let clientsServedAfterHealMs = -1;
  let linearizableOps = 0;
  let linearizableKeys = 0;
  try {
    sim.trace(`seed ${seed}: ${config.nodes} nodes, ${config.clients} clients on ${config.keys} keys, ` +
      `drop ${config.network.dropRate}, dup ${config.network.dupRate}, delay ${config.network.delayMsMin}-${config.network.delayMsMax} ms`);
    sim.start();
    workload.start();
    const safetyEnd = sim.now() + config.safetyMs;
    faults.start(safetyEnd);
    scheduleDurabilityChecks(sim, safetyEnd + config.livenessMs);
    scheduleProgressReports(sim, workload, safetyEnd + config.livenessMs);
    sim.runUntilTime(safetyEnd);

    // Liveness: heal everything; a leader must serve every client again within the bound.
    faults.stop();
    sim.heal();
    sim.network.profile = { ...config.network, dropRate: 0, dupRate: 0, spikeRate: 0 };
    for (const n of sim.nodes.values()) {
      n.clockRate = 1;
      if (n.paused) sim.resume(n.id);
      if (n.crashed && !sim.retired.has(n.id)) sim.restart(n.id);
    }
    const healedAt = sim.now();
    sim.trace('liveness phase: network healed, every node up');
    sim.runUntil(() => sim.readyLeader() !== null, config.livenessMs, 'a leader after healing');
    leaderAfterHealMs = sim.now() - healedAt;
    sim.trace(`leader ${sim.readyLeader()!.id} serves after ${leaderAfterHealMs} ms`);
    sim.runUntil(
      () => [...Array(config.clients).keys()].every((c) => (workload.lastOkCall.get(c) ?? -1) >= healedAt),
      config.livenessMs - (sim.now() - healedAt),
      'every client completes an operation after healing',
    );
    clientsServedAfterHealMs = sim.now() - healedAt;
    workload.stop();
    sim.runUntil(() => workload.idle(), config.clientTimeoutMs + 100, 'pending client operations to finish');
    sim.runUntil(() => sim.converged(), config.livenessMs, 'all members to apply the same log');
    sim.trace(`converged: every member applied ${sim.readyLeader()?.core?.log.applied} entries`);

    const lin = checkKvWorkload(workload.history);
    if (!lin.ok) {
      kind = 'linearizability';
      message = lin.verdict === 'unknown'
        ? `linearizability check inconclusive on key ${lin.key}: ${lin.reason}`
        : `history not linearizable on key ${lin.key}: ${lin.reason}`;
    } else {
      linearizableOps = workload.history.length;
      linearizableKeys = lin.keys.length;
      sim.trace(`linearizable: ${workload.history.length} operations on ${lin.keys.length} keys`);
    }
  } catch (err) {
    if (err instanceof SafetyViolation) kind = 'safety';
    else if (err instanceof LivenessFailure) kind = 'liveness';
    else if (err instanceof InvariantError) kind = 'invariant';
    else kind = 'crash';
    message = err instanceof Error ? `${err.message}${kind === 'crash' ? `\n${err.stack}` : ''}` : String(err);
  }
  const stats: RunStats = {
    nodes: config.nodes,
    virtualMs: sim.now(),
    events: sim.eventCount,
    messages: sim.network.sent,
    dropped: sim.network.dropped,
    duplicated: sim.network.duplicated,
    opsOk: workload.ok,
    opsFailed: workload.failed,
    opsUnknown: workload.unknown,
    maxCommitted: sim.monitor.maxCommitted,
    safetyChecks: sim.monitor.checks,
    faults: Object.fromEntries(faults.counts),
    elections: sim.sentByType.get('vote') ?? 0,
    leaderTerms: sim.monitor.terms,
    checked: { ...sim.monitor.counts },
    leaderAfterHealMs,
    clientsServedAfterHealMs,
    linearizableOps,
    linearizableKeys,
  };
  if (kind === 'ok') return { seed, ok: true, stats };
  return { seed, ok: false, failure: { kind, message, trace: sim.traceTail() }, stats };
}

function scheduleDurabilityChecks(sim: Simulation, until: number): void {
  const check = () => {
    sim.checkDurability();
    if (sim.now() + DURABILITY_CHECK_MS < until) sim.schedule(sim.now() + DURABILITY_CHECK_MS, check);
  };
  sim.schedule(sim.now() + DURABILITY_CHECK_MS, check);
}

/** A trace line on commit progress every so often, so a run's trace shows it moving. */
function scheduleProgressReports(sim: Simulation, workload: KvWorkload, until: number): void {
  let last = 0;
  const report = () => {
    const leader = sim.leader();
    if (leader && sim.monitor.maxCommitted > last) {
      last = sim.monitor.maxCommitted;
      sim.trace(`commit index ${last} (leader ${leader.id}, term ${leader.core!.term}); ${workload.ok} client operations acknowledged`);
    }
    if (sim.now() + PROGRESS_REPORT_MS < until) sim.schedule(sim.now() + PROGRESS_REPORT_MS, report);
  };
  sim.schedule(sim.now() + PROGRESS_REPORT_MS, report);
}

/** The one-line command that replays a seed with its full trace. */
export function replayCommand(seed: number): string {
  return `pnpm sim --seed ${seed} --trace`;
}
