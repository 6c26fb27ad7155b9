/**
 * Hot segments (selective replication): a segment queried far more than the typical one gets
 * extra replicas, so its queries spread over more workers, and loses them when it cools down.
 *
 * Hot: count >= max(hotFactor x median of the non-zero counts, hotMinQueries). Extra replicas
 * per tier grow with the ratio: one at hotFactor x the median, two at hotFactor^2 x, ... up to
 * hotExtraReplicasMax. A segment that already holds extras keeps them (never more than it has)
 * while its count stays at or above hotCoolRatio x the count that earned them: without that
 * hysteresis a segment near a threshold would gain and lose a replica every few cycles.
 */
import type { PlannerConfig } from './config.js';
import type { PlannerWorker } from './types.js';

export interface Hotness {
  /** Median of the non-zero per-segment counts; 0 when nothing was queried. */
  readonly median: number;
  /** The count at which a segment is hot (Infinity when nothing was queried). */
  readonly threshold: number;
  /** Counts of the segments at or above the cool-down threshold: the only ones that may hold extras. */
  readonly warm: ReadonlyMap<string, number>;
}

/** Sums the workers' query counts per segment and finds the median and the thresholds. */
export function hotness(workers: readonly PlannerWorker[], config: PlannerConfig): Hotness {
  const totals = new Map<string, number>();
  for (const w of workers) {
    for (const [id, n] of w.queryCounts) if (n > 0) totals.set(id, (totals.get(id) ?? 0) + n);
  }
  if (totals.size === 0 || config.hotExtraReplicasMax === 0) return { median: 0, threshold: Infinity, warm: new Map() };
  const counts = Float64Array.from(totals.values()).sort();
  const mid = counts.length >> 1;
  const median = counts.length % 2 === 1 ? counts[mid]! : (counts[mid - 1]! + counts[mid]!) / 2;
  const threshold = Math.max(config.hotFactor * median, config.hotMinQueries);
  const cool = threshold * config.hotCoolRatio;
  const warm = new Map<string, number>();
  for (const [id, n] of totals) if (n >= cool) warm.set(id, n);
  return { median, threshold, warm };
}

/** Extras earned by `count` alone. */
function level(count: number, h: Hotness, config: PlannerConfig): number {
  if (!(count >= h.threshold)) return 0;
  const steps = Math.floor(Math.log(count / h.median) / Math.log(config.hotFactor) + 1e-9);
  return Math.min(config.hotExtraReplicasMax, Math.max(1, steps));
}

/**
 * Extra replicas per tier for a segment with `count` queries that holds `currentExtra` extras
 * now: what the count earns, or what it holds if the count would earn that with 1/hotCoolRatio
 * more queries (the hysteresis applies at every level, not only at the hot threshold).
 * @example hotExtra(1000, { median: 10, threshold: 100, warm }, config, 0) === 2 // 100x the median, hotFactor 10
 */
export function hotExtra(count: number, h: Hotness, config: PlannerConfig, currentExtra: number): number {
  const earned = level(count, h, config);
  if (currentExtra <= earned) return earned;
  return Math.max(earned, Math.min(currentExtra, level(count / config.hotCoolRatio, h, config)));
}
