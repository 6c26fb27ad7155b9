/**
 * The coordinator's dynamic configuration: every bound is named with its unit last and has a
 * default. Operators change it at run time (it travels through the catalog like rules do), so
 * the planner resolves a partial object on every cycle.
 */
import { assert } from '../core/assert.js';

export interface PlannerConfig {
  /** Replicas beyond the first created per cycle, over all tiers (Druid's replicationThrottleLimit). */
  readonly replicationThrottleLimit: number;
  /** Balancing moves started per cycle (Druid's maxSegmentsToMove). */
  readonly maxSegmentsToMove: number;
  /**
   * Segments queued to load on one worker at most: its reported load queue, plus the segments
   * assigned to it that it has not loaded yet, plus this cycle's new assignments.
   */
  readonly loadQueueMax: number;
  /** A down worker keeps its assignments this long before they are removed (`worker-gone`). */
  readonly gracePeriodMs: number;
  /** A worker whose last heartbeat is older than this is down. */
  readonly heartbeatTimeoutMs: number;
  /** A segment is hot when its query count is at least this many times the median non-zero count. */
  readonly hotFactor: number;
  /** ... and at least this many queries in the window. */
  readonly hotMinQueries: number;
  /** Extra replicas a hot segment gets per tier, at most. */
  readonly hotExtraReplicasMax: number;
  /**
   * Hysteresis: a segment that holds extra replicas keeps them while its count stays at or above
   * this fraction of the hot threshold, so a segment near the threshold does not flap.
   */
  readonly hotCoolRatio: number;
  /** Whether balancing moves run at all. */
  readonly balance: boolean;
  /**
   * A tier is balanced while (fullest - emptiest) used ratio <= this fraction of the tier's mean
   * used ratio; beyond it segments move from the fullest to the emptiest worker.
   */
  readonly balanceThresholdRatio: number;
  /** Half-life of the interval affinity in the placement cost (Druid's cost balancer uses a day). */
  readonly costHalfLifeMs: number;
  /** Weight of a worker's used ratio (0..1) in the placement cost, in units of one adjacent segment. */
  readonly costFullnessWeight: number;
  /** (segment, worker) decisions per cycle, assignments and removals together; the rest waits. */
  readonly changesMax: number;
}

export const DEFAULT_PLANNER_CONFIG: PlannerConfig = Object.freeze({
  replicationThrottleLimit: 500,
  maxSegmentsToMove: 100,
  loadQueueMax: 100,
  gracePeriodMs: 60_000,
  heartbeatTimeoutMs: 5_000,
  hotFactor: 10,
  hotMinQueries: 100,
  hotExtraReplicasMax: 2,
  hotCoolRatio: 0.5,
  balance: true,
  balanceThresholdRatio: 0.1,
  costHalfLifeMs: 86_400_000,
  costFullnessWeight: 4,
  // Half the catalog's assignmentChangesMax: one setAssignments command always fits.
  changesMax: 50_000,
});

const nonNegativeIntegers = [
  'replicationThrottleLimit',
  'maxSegmentsToMove',
  'loadQueueMax',
  'gracePeriodMs',
  'heartbeatTimeoutMs',
  'hotMinQueries',
  'hotExtraReplicasMax',
  'changesMax',
] as const;

/**
 * The defaults overlaid with `partial`. Throws on a value out of range: the driver validates
 * operator input before it reaches the planner, so a bad value here is a bug.
 * @example resolveConfig({ loadQueueMax: 10 }).loadQueueMax === 10
 */
export function resolveConfig(partial: Partial<PlannerConfig> = {}): PlannerConfig {
  const c: PlannerConfig = { ...DEFAULT_PLANNER_CONFIG, ...partial };
  for (const k of nonNegativeIntegers) assert(Number.isSafeInteger(c[k]) && c[k] >= 0, `config.${k}: must be a non-negative integer, got ${c[k]}`);
  assert(Number.isFinite(c.hotFactor) && c.hotFactor > 1, `config.hotFactor: must be above 1, got ${c.hotFactor}`);
  assert(c.hotCoolRatio > 0 && c.hotCoolRatio <= 1, `config.hotCoolRatio: must be in (0, 1], got ${c.hotCoolRatio}`);
  assert(c.balanceThresholdRatio >= 0 && Number.isFinite(c.balanceThresholdRatio), `config.balanceThresholdRatio: must be >= 0, got ${c.balanceThresholdRatio}`);
  assert(c.costHalfLifeMs > 0 && Number.isFinite(c.costHalfLifeMs), `config.costHalfLifeMs: must be > 0, got ${c.costHalfLifeMs}`);
  assert(c.costFullnessWeight >= 0 && Number.isFinite(c.costFullnessWeight), `config.costFullnessWeight: must be >= 0, got ${c.costFullnessWeight}`);
  assert(typeof c.balance === 'boolean', `config.balance: must be a boolean`);
  return c;
}
