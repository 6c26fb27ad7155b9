import { Prng } from '../core/index.js';
import type { NetworkProfile } from './network.js';
import type { NodeTuning } from './node.js';

/** Which faults the safety phase injects, and how often. */
export interface FaultProfile {
  /** Virtual milliseconds between fault events. */
  readonly gapMsMin: number;
  readonly gapMsMax: number;
  /** Relative weights of each fault kind; 0 disables it. */
  readonly weights: Readonly<Record<FaultKind, number>>;
  /** How long a crashed node stays down, and a paused one stays paused. */
  readonly downMsMax: number;
  /** If set, faults follow this cycle instead of being drawn by weight (the demo shows each kind). */
  readonly sequence?: readonly FaultKind[];
}

export type FaultKind =
  | 'partition'
  | 'isolate-leader'
  | 'asymmetric'
  | 'clog'
  | 'heal'
  | 'crash'
  | 'crash-leader'
  | 'pause'
  | 'skew'
  | 'replace-node'
  | 'transfer-leader';

export interface SimConfig {
  readonly seed: number;
  readonly nodes: number;
  readonly tuning: NodeTuning;
  readonly network: NetworkProfile;
  readonly faults: FaultProfile;
  readonly clients: number;
  readonly keys: number;
  readonly clientTimeoutMs: number;
  /** Think time between a client's operations. */
  readonly clientGapMsMax: number;
  /** How long faults are injected. */
  readonly safetyMs: number;
  /** After healing, the bound within which a leader must serve every client again. */
  readonly livenessMs: number;
}

export const NO_FAULTS: FaultProfile = {
  gapMsMin: 1000,
  gapMsMax: 1000,
  weights: {
    partition: 0, 'isolate-leader': 0, asymmetric: 0, clog: 0, heal: 0,
    crash: 0, 'crash-leader': 0, pause: 0, skew: 0, 'replace-node': 0, 'transfer-leader': 0,
  },
  downMsMax: 1000,
};

/**
 * Everything about a run, derived from its seed alone: cluster size, timings, batch limits,
 * network quality and fault mix. Different seeds explore different corners (tiny inflight
 * windows, aggressive compaction, lossy links, slow disks).
 */
export function configFromSeed(seed: number): SimConfig {
  const r = new Prng(seed ^ 0x5eed);
  const nodes = r.chance(0.5) ? 3 : 5;
  const electionTicks = r.between(8, 16);
  const tuning: NodeTuning = {
    raft: {
      electionTicks,
      heartbeatTicks: r.between(1, 3),
      preVote: true,
      checkQuorum: true,
      inflightAppendsMax: r.pick([1, 2, 8, 64]),
      appendEntriesMax: r.pick([1, 4, 64, 512]),
      appendBytesMax: r.pick([200, 4096, 1 << 20]),
      uncommittedBytesMax: r.pick([1 << 26, 4096]),
      readyCommittedMax: r.pick([1, 16, 4096]),
      pendingReadsMax: r.pick([4, 4096]),
      promoteLagMax: r.pick([0, 16]),
    },
    tickMs: 10,
    fsyncMs: r.between(0, 4),
    inboxMax: r.pick([64, 1024]),
    snapshotEvery: r.pick([10, 40, 150, 1000]),
    compactKeep: r.pick([0, 3, 40]),
    snapshotFromSource: r.chance(0.5),
  };
  const network: NetworkProfile = {
    delayMsMin: 1,
    delayMsMax: r.between(2, 25),
    dropRate: r.pick([0, 0.01, 0.05, 0.15]),
    dupRate: r.pick([0, 0.02, 0.08]),
    spikeRate: r.pick([0, 0.01, 0.05]),
    spikeMsMax: r.between(20, 400),
  };
  const weight = () => r.pick([0, 1, 2, 3]);
  const gapMsMax = r.between(100, 700);
  const weights = {
    partition: weight(),
    'isolate-leader': weight(),
    asymmetric: weight(),
    clog: weight(),
    heal: 2,
    crash: weight(),
    'crash-leader': weight(),
    pause: weight(),
    skew: weight(),
    'replace-node': r.pick([0, 0, 1]),
  };
  const downMsMax = r.between(100, 3000);
  // Drawn after the draws above (added later), so they kept their values for every seed.
  const faults: FaultProfile = { gapMsMin: 30, gapMsMax, weights: { ...weights, 'transfer-leader': weight() }, downMsMax };
  return {
    seed,
    nodes,
    tuning,
    network,
    faults,
    clients: r.between(2, 8),
    keys: r.between(1, 4),
    clientTimeoutMs: r.between(300, 1500),
    clientGapMsMax: r.between(0, 30),
    safetyMs: r.between(3000, 10000),
    livenessMs: 20_000,
  };
}

/** A calm configuration for scenario tests, which script their own faults. */
export function calmConfig(seed: number, nodes: number): SimConfig {
  return {
    seed,
    nodes,
    tuning: {
      raft: { electionTicks: 10, heartbeatTicks: 1, preVote: true, checkQuorum: true },
      tickMs: 10,
      fsyncMs: 1,
      inboxMax: 1024,
      snapshotEvery: 1_000_000,
      compactKeep: 0,
    },
    network: { delayMsMin: 1, delayMsMax: 5, dropRate: 0, dupRate: 0, spikeRate: 0, spikeMsMax: 0 },
    faults: NO_FAULTS,
    clients: 0,
    keys: 1,
    clientTimeoutMs: 1000,
    clientGapMsMax: 10,
    safetyMs: 0,
    livenessMs: 20_000,
  };
}
