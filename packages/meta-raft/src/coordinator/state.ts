/**
 * The cluster as one cycle sees it: workers sorted, indexed by id and classified (live, in
 * their grace period, gone), tiers numbered, rules compiled against `now`, hot segments found,
 * then the one pass over the used segments (scan.ts) that sets aside the few needing attention.
 * Everything after the pass is proportional to that work list, not to the segment count.
 *
 * Liveness: a worker is live when its last heartbeat is at most heartbeatTimeoutMs old and
 * `downSince` does not name it. Otherwise it went down at `downSince` (or its last heartbeat
 * plus the timeout) and is in grace for gracePeriodMs after that, then gone. A worker never
 * heard from, with no `downSince`, stays in grace: only the driver knows since when.
 */
import { overshadowedIds } from '@cairn/shared';
import { assert } from '../core/assert.js';
import type { PlannerConfig } from './config.js';
import { hotness, type Hotness } from './hot.js';
import { RuleBook, tiersNamedBy } from './replicas.js';
import { joinAssignments } from './join.js';
import { scanSegments, type ScanResult } from './scan.js';
import type { JoinedPlannerInput, PlannerInput, PlannerSegment, PlannerWorker, WorkerHealth } from './types.js';

/** A worker with this cycle's bookkeeping. Mutable fields are updated as decisions are made. */
export interface WorkerView {
  readonly index: number;
  readonly id: string;
  readonly tier: number;
  readonly dc: string;
  readonly capacityBytes: number;
  readonly decommissioning: boolean;
  readonly health: WorkerHealth;
  readonly source: PlannerWorker;
  /** Live, active and with some capacity: may receive new replicas. */
  readonly eligible: boolean;
  /** Bytes of used segments assigned before this cycle. */
  committedBytes: number;
  /** Segments (used or not) assigned before this cycle. */
  committedSegments: number;
  /** committedBytes plus this cycle's assignments: what capacity is checked against. */
  bytes: number;
  /** Load queue: reported queue + assigned and not loaded + this cycle's assignments. */
  queued: number;
  /** This cycle's assignments and removals. */
  loads: number;
  drops: number;
  dropBytes: number;
  /** Not-yet-loaded assignments removed this cycle: they leave the load queue. */
  dropsQueued: number;
  /** Bytes of balancing moves away from this worker: dropped in a later cycle, once the new replica is loaded. */
  movingOutBytes: number;
}

export interface ClusterState extends ScanResult {
  readonly config: PlannerConfig;
  readonly now: number;
  readonly segments: readonly PlannerSegment[];
  /** Per segment: the committed holders, coded as `JoinedAssignments.holders` (decode with `holderAt`). */
  readonly holders: readonly (readonly number[] | undefined)[];
  /** A holder code's worker number (its position in the input's workers) -> index into `workers`. */
  readonly workerAt: Int32Array;
  /** Committed holders of the assigned ids that name no used segment. */
  readonly unusedHolders: ReadonlyMap<string, readonly string[]>;
  readonly overshadowed: ReadonlySet<string>;
  /** Sorted by id. */
  readonly workers: readonly WorkerView[];
  readonly workerIndex: ReadonlyMap<string, number>;
  /** Tier names, sorted; workers and rules refer to them by index. */
  readonly tiers: readonly string[];
  /** Workers of each tier, sorted by id. */
  readonly tierWorkers: readonly (readonly WorkerView[])[];
  /** Per tier, active workers that are live or in grace: the most replicas a tier can hold. */
  readonly members: Int32Array;
  readonly rules: RuleBook;
  readonly hot: Hotness;
  /** Assignment keys that name no used segment, sorted. */
  readonly unusedAssigned: readonly string[];
}

export { DROP, OVERSHADOWED } from './scan.js';

function healthOf(w: PlannerWorker, now: number, downSince: ReadonlyMap<string, number> | undefined, config: PlannerConfig): WorkerHealth {
  const since = downSince?.get(w.id);
  const beating = w.lastHeartbeatAt !== null && now - w.lastHeartbeatAt <= config.heartbeatTimeoutMs;
  if (since === undefined && beating) return 'live';
  const downAt = since ?? (w.lastHeartbeatAt === null ? null : w.lastHeartbeatAt + config.heartbeatTimeoutMs);
  if (downAt === null) return 'grace'; // never heard from and no record of when: see PlannerInput.downSince
  return now - downAt < config.gracePeriodMs ? 'grace' : 'gone';
}

/** The index into `state.workers` of a holder code's worker; -1 for `UNKNOWN_HOLDER`. */
export function holderAt(state: Pick<ClusterState, 'workerAt'>, code: number): number {
  return code < 0 ? -1 : state.workerAt[code >> 1]!;
}

function indexWorkers(input: PlannerInput | JoinedPlannerInput, config: PlannerConfig, tierOf: (name: string) => number): WorkerView[] {
  const sorted = [...input.workers].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) assert(sorted[i - 1]!.id !== sorted[i]!.id, `worker ${sorted[i]!.id} is listed twice`);
  return sorted.map((w, index) => {
    const health = healthOf(w, input.now, input.downSince, config);
    const decommissioning = w.state === 'decommissioning';
    return {
      index,
      id: w.id,
      tier: tierOf(w.tier),
      dc: w.dc,
      capacityBytes: w.capacityBytes,
      decommissioning,
      health,
      source: w,
      eligible: health === 'live' && !decommissioning && w.capacityBytes > 0,
      committedBytes: 0,
      committedSegments: 0,
      bytes: 0,
      queued: health === 'live' ? w.loadQueue.size : 0,
      loads: 0,
      drops: 0,
      dropBytes: 0,
      dropsQueued: 0,
      movingOutBytes: 0,
    };
  });
}

/**
 * Indexes the input and runs the pass over every segment. A map-form input is joined here first
 * (`joinAssignments`); a joined one is checked to name the input's workers in the same order.
 */
export function buildState(input: PlannerInput | JoinedPlannerInput, config: PlannerConfig): ClusterState {
  const tierSet = new Set<string>(input.workers.map((w) => w.tier));
  for (const t of tiersNamedBy(input.defaultRules)) tierSet.add(t);
  for (const list of Object.values(input.rules)) for (const t of tiersNamedBy(list)) tierSet.add(t);
  const tiers = [...tierSet].sort();
  const tierIds = new Map(tiers.map((t, i) => [t, i]));
  const workers = indexWorkers(input, config, (name) => tierIds.get(name)!);
  const workerIndex = new Map(workers.map((w) => [w.id, w.index]));
  const T = tiers.length;
  const tierWorkers: WorkerView[][] = tiers.map(() => []);
  const members = new Int32Array(T);
  for (const w of workers) {
    tierWorkers[w.tier]!.push(w);
    if (!w.decommissioning && w.health !== 'gone') members[w.tier]!++;
  }

  const joined = 'joined' in input ? input.joined : joinAssignments(input);
  assert(joined.holders.length === input.segments.length, `joined: ${joined.holders.length} holder lists for ${input.segments.length} segments`);
  assert(
    joined.workerIds.length === input.workers.length && input.workers.every((w, k) => w.id === joined.workerIds[k]),
    'joined: its worker ids are not the input workers in the same order',
  );
  const workerAt = Int32Array.from(input.workers, (w) => workerIndex.get(w.id)!);

  const rules = new RuleBook(input.rules, input.defaultRules, tiers, input.now);
  const hot = hotness(input.workers, config);
  const overshadowed =
    input.overshadowed ?? overshadowedIds(input.segments.map((s) => ({ id: s.id, dataSource: s.dataSource, start: s.start, end: s.end, version: s.version, partition: s.partition, partitions: s.partitions, used: true })));

  const scan = scanSegments(input.segments, joined.holders, workerAt, overshadowed, workers, members, rules, hot, config);
  for (const holders of joined.unused.values()) {
    for (const wid of holders) {
      const k = workerIndex.get(wid);
      if (k !== undefined) workers[k]!.committedSegments++;
    }
  }
  const unusedAssigned = [...joined.unused.keys()].sort();
  for (const w of workers) w.bytes = w.committedBytes;
  return {
    config,
    now: input.now,
    segments: input.segments,
    holders: joined.holders,
    workerAt,
    unusedHolders: joined.unused,
    overshadowed,
    workers,
    workerIndex,
    tiers,
    tierWorkers,
    members,
    rules,
    hot,
    ...scan,
    unusedAssigned,
  };
}
