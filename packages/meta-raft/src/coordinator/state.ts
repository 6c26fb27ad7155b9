/**
 * The cluster as one cycle sees it: workers indexed by id and classified (live, in grace, gone),
 * tiers numbered, rules compiled, and one pass over the used segments that counts what every
 * worker holds and sets aside the few segments that need attention (the work list).
 *
 * The pass is the only part that touches every segment, so it allocates nothing per segment:
 * counters live in typed arrays indexed by tier or segment, and a segment in the steady state
 * (every wanted replica assigned to a live active worker and loaded there) costs a few hash
 * lookups. Everything else in the cycle is proportional to the work list.
 */
import { overshadowedIds } from '@cairn/shared';
import { assert } from '../core/assert.js';
import type { PlannerConfig } from './config.js';
import { hotExtra, hotness, type Hotness } from './hot.js';
import { RuleBook, tiersNamedBy } from './replicas.js';
import type { PlannerInput, PlannerSegment, PlannerWorker, WorkerHealth } from './types.js';

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
}

export interface ClusterState {
  readonly config: PlannerConfig;
  readonly now: number;
  readonly segments: readonly PlannerSegment[];
  readonly assignments: ReadonlyMap<string, readonly string[]>;
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
  /** Per segment (input order): index into `rules.wants`, DROP, or OVERSHADOWED. */
  readonly want: Int32Array;
  /** Per segment: hot extra replicas per wanted tier. */
  readonly extra: Uint8Array;
  /** Per segment: the committed holders (the same arrays as in `assignments`). */
  readonly holdersOf: readonly (readonly string[] | undefined)[];
  /** Per segment: 1 when nothing is to be done for it (the steady state). */
  readonly settled: Uint8Array;
  /** Segments that are not settled, in input order (the planner sorts them). */
  readonly work: number[];
  /** Per tier: 1 when some segment holds more replicas there than wanted (a move or drop is pending). */
  readonly tierSurplus: Uint8Array;
  /** Assignment keys that name no used segment. */
  readonly unusedAssigned: readonly string[];
  readonly counts: { overshadowed: number; unavailable: number; underReplicated: number; hot: number };
}

export const DROP = -1;
export const OVERSHADOWED = -2;

function healthOf(w: PlannerWorker, now: number, downSince: ReadonlyMap<string, number> | undefined, config: PlannerConfig): WorkerHealth {
  const since = downSince?.get(w.id);
  const beating = w.lastHeartbeatAt !== null && now - w.lastHeartbeatAt <= config.heartbeatTimeoutMs;
  if (since === undefined && beating) return 'live';
  const downAt = since ?? (w.lastHeartbeatAt === null ? null : w.lastHeartbeatAt + config.heartbeatTimeoutMs);
  if (downAt === null) return 'grace'; // never heard from and no record of when: see PlannerInput.downSince
  return now - downAt < config.gracePeriodMs ? 'grace' : 'gone';
}

function indexWorkers(input: PlannerInput, config: PlannerConfig, tierOf: (name: string) => number): WorkerView[] {
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
    };
  });
}

/** Indexes the input and runs the pass over every segment. */
export function buildState(input: PlannerInput, config: PlannerConfig): ClusterState {
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

  const rules = new RuleBook(input.rules, input.defaultRules, tiers, input.now);
  const hot = hotness(input.workers, config);
  const overshadowed =
    input.overshadowed ?? overshadowedIds(input.segments.map((s) => ({ id: s.id, dataSource: s.dataSource, start: s.start, end: s.end, version: s.version, partition: s.partition, partitions: s.partitions, used: true })));

  const segments = input.segments;
  const n = segments.length;
  const want = new Int32Array(n);
  const extra = new Uint8Array(n);
  const settled = new Uint8Array(n);
  const holdersOf = new Array<readonly string[] | undefined>(n);
  const tierSurplus = new Uint8Array(T);
  const work: number[] = [];
  const counts = { overshadowed: 0, unavailable: 0, underReplicated: 0, hot: 0 };
  const assignments = input.assignments;
  const checkOvershadowed = overshadowed.size > 0;
  const checkHot = hot.warm.size > 0;
  // Scratch counters per tier, zeroed after each segment (only the tiers it touched).
  const good = new Int32Array(T);
  const liveLoaded = new Int32Array(T);
  let matched = 0;

  for (let i = 0; i < n; i++) {
    const s = segments[i]!;
    const id = s.id;
    const holders = assignments.get(id);
    holdersOf[i] = holders;
    if (holders !== undefined) matched++;
    if (checkOvershadowed && overshadowed.has(id)) {
      want[i] = OVERSHADOWED;
      counts.overshadowed++;
      if (holders !== undefined && holders.length > 0) {
        for (const wid of holders) {
          const k = workerIndex.get(wid);
          if (k !== undefined) countHolder(workers[k]!, s, false);
        }
        work.push(i);
      } else settled[i] = 1;
      continue;
    }
    const wi = rules.wantIndex(s.dataSource, s.start, s.end);
    want[i] = wi;

    // Walk the replicas: ok stays true only for live, active, loaded replicas on known workers.
    let ok = true;
    let loadedAnywhere = 0;
    if (holders !== undefined) {
      for (let h = 0; h < holders.length; h++) {
        const k = workerIndex.get(holders[h]!);
        if (k === undefined) {
          ok = false;
          continue;
        }
        const w = workers[k]!;
        const loaded = w.health === 'live' && w.source.loaded.has(id);
        countHolder(w, s, loaded);
        if (w.health === 'gone') {
          ok = false;
          continue;
        }
        if (!loaded) ok = false;
        else {
          liveLoaded[w.tier]!++;
          loadedAnywhere++;
        }
        if (w.decommissioning) ok = false;
        else good[w.tier]!++;
      }
    }

    if (wi === DROP) {
      if (holders !== undefined && holders.length > 0) work.push(i);
      else settled[i] = 1;
      clear(holders);
      continue;
    }
    const per = rules.wants[wi]!.perTier;

    let x = 0;
    if (checkHot) {
      const c = hot.warm.get(id);
      if (c !== undefined) {
        let current = 0;
        for (let t = 0; t < T; t++) if (per[t]! > 0 && good[t]! - per[t]! > current) current = good[t]! - per[t]!;
        x = hotExtra(c, hot, config, current);
        extra[i] = x;
        if (x > 0) counts.hot++;
      }
    }

    if (loadedAnywhere === 0) counts.unavailable++;
    else {
      for (let t = 0; t < T; t++) {
        if (liveLoaded[t]! < per[t]!) {
          counts.underReplicated++;
          break;
        }
      }
    }
    for (let t = 0; t < T; t++) {
      const eff = per[t]! > 0 ? Math.min(per[t]! + x, members[t]!) : 0;
      if (good[t] !== eff) {
        ok = false;
        if (good[t]! > eff) tierSurplus[t] = 1;
      }
    }
    if (ok) settled[i] = 1;
    else work.push(i);
    clear(holders);
  }

  function countHolder(w: WorkerView, s: PlannerSegment, loaded: boolean): void {
    w.committedBytes += s.size;
    w.committedSegments++;
    if (!loaded && w.health === 'live' && !w.source.loadQueue.has(s.id)) w.queued++;
  }
  function clear(holders: readonly string[] | undefined): void {
    if (holders === undefined) return;
    for (let h = 0; h < holders.length; h++) {
      const k = workerIndex.get(holders[h]!);
      if (k === undefined) continue;
      const t = workers[k]!.tier;
      good[t] = 0;
      liveLoaded[t] = 0;
    }
  }

  const unusedAssigned = matched < assignments.size ? findUnused(segments, assignments, workers, workerIndex) : [];
  for (const w of workers) w.bytes = w.committedBytes;
  return {
    config,
    now: input.now,
    segments,
    assignments,
    overshadowed,
    workers,
    workerIndex,
    tiers,
    tierWorkers,
    members,
    rules,
    hot,
    want,
    extra,
    holdersOf,
    settled,
    work,
    tierSurplus,
    unusedAssigned,
    counts,
  };
}

/**
 * Assignment keys that name no used segment, sorted. Costs a set of every used id, so it runs
 * only when the pass found fewer assigned segments than the assignments have keys.
 */
function findUnused(
  segments: readonly PlannerSegment[],
  assignments: ReadonlyMap<string, readonly string[]>,
  workers: readonly WorkerView[],
  workerIndex: ReadonlyMap<string, number>,
): string[] {
  const used = new Set<string>();
  for (const s of segments) used.add(s.id);
  assert(used.size === segments.length, `segments: ${segments.length - used.size} duplicate ids`);
  const out: string[] = [];
  for (const [id, holders] of assignments) {
    if (used.has(id) || holders.length === 0) continue;
    out.push(id);
    for (const wid of holders) {
      const k = workerIndex.get(wid);
      if (k !== undefined) workers[k]!.committedSegments++;
    }
  }
  return out.sort();
}
