/**
 * The one pass over every used segment. It is the only part of a cycle that touches every
 * segment, so it is written for speed: no allocation per segment, worker fields copied into
 * typed arrays first, counters per tier in scratch arrays zeroed after each segment, and the
 * datasource's compiled rules looked up only when the datasource changes. The holders come
 * joined with the loaded sets (`JoinedAssignments`): a segment's id is hashed only for the
 * overshadowed set and the warm counts when they are not empty, and for a replica still loading.
 *
 * It counts what every worker holds (bytes, segments, load queue), decides each segment's rule
 * and hot extras, counts unavailable and under-replicated segments, and sets aside the segments
 * that need attention (the work list).
 */
import type { PlannerConfig } from './config.js';
import { hotExtra, type Hotness } from './hot.js';
import type { RuleBook } from './replicas.js';
import type { WorkerView } from './state.js';
import type { PlannerSegment } from './types.js';

/** `want` of a segment that a drop rule (or no rule) decides. */
export const DROP = -1;
/** `want` of an overshadowed segment. */
export const OVERSHADOWED = -2;

const LIVE = 0;
const GRACE = 1;
const GONE = 2;

export interface ScanResult {
  /** Per segment (input order): index into `rules.wants`, DROP, or OVERSHADOWED. */
  readonly want: Int32Array;
  /** Per segment: hot extra replicas per wanted tier. */
  readonly extra: Uint8Array;
  /** Per segment: 1 when nothing is to be done for it. */
  readonly settled: Uint8Array;
  /** Segments that are not settled, in input order. */
  readonly work: number[];
  /** Per tier: 1 when some segment holds more replicas there than wanted. */
  readonly tierSurplus: Uint8Array;
  /**
   * `unplaceable`: unavailable segments settled because no tier they want has a member and no
   * worker holds them (no workers yet, or a rule naming an empty tier): no phase could do anything
   * for them, so they stay off the work list (which a cycle sorts) and count as unplaced.
   */
  readonly counts: { overshadowed: number; unavailable: number; underReplicated: number; hot: number; unplaceable: number };
}

export function scanSegments(
  segments: readonly PlannerSegment[],
  holders: readonly (readonly number[] | undefined)[],
  workerAt: Int32Array,
  overshadowed: ReadonlySet<string>,
  workers: readonly WorkerView[],
  members: Int32Array,
  rules: RuleBook,
  hot: Hotness,
  config: PlannerConfig,
): ScanResult {
  const n = segments.length;
  const T = members.length;
  const W = workers.length;
  const want = new Int32Array(n);
  const extra = new Uint8Array(n);
  const settled = new Uint8Array(n);
  const tierSurplus = new Uint8Array(T);
  const work: number[] = [];
  const counts = { overshadowed: 0, unavailable: 0, underReplicated: 0, hot: 0, unplaceable: 0 };

  const health = new Uint8Array(W);
  const decom = new Uint8Array(W);
  const tierOf = new Int32Array(W);
  const queueSets: ReadonlySet<string>[] = [];
  const bytes = new Float64Array(W);
  const held = new Int32Array(W);
  const queued = new Int32Array(W);
  for (const w of workers) {
    health[w.index] = w.health === 'live' ? LIVE : w.health === 'grace' ? GRACE : GONE;
    decom[w.index] = w.decommissioning ? 1 : 0;
    tierOf[w.index] = w.tier;
    queueSets.push(w.source.loadQueue);
  }
  const good = new Int32Array(T);
  const liveLoaded = new Int32Array(T);
  const checkOvershadowed = overshadowed.size > 0;
  const checkHot = hot.warm.size > 0;

  for (let i = 0; i < n; i++) {
    const s = segments[i]!;
    const id = s.id;
    const hs = holders[i];
    const h = hs === undefined ? 0 : hs.length;
    const isOvershadowed = checkOvershadowed && overshadowed.has(id);
    const wi = isOvershadowed ? OVERSHADOWED : rules.wantIndex(s.dataSource, s.start, s.end);
    want[i] = wi;

    // Walk the replicas; ok stays true only for live, active, loaded replicas on known workers.
    let ok = true;
    let loadedAnywhere = 0;
    for (let j = 0; j < h; j++) {
      const code = hs![j]!;
      if (code < 0) {
        ok = false; // UNKNOWN_HOLDER
        continue;
      }
      const k = workerAt[code >> 1]!;
      bytes[k]! += s.size;
      held[k]!++;
      const hk = health[k]!;
      if (hk === GONE) {
        ok = false;
        continue;
      }
      const t = tierOf[k]!;
      if (hk === LIVE && (code & 1) === 1) {
        liveLoaded[t]!++;
        loadedAnywhere++;
      } else {
        ok = false;
        if (hk === LIVE && !queueSets[k]!.has(id)) queued[k]!++;
      }
      if (decom[k]) ok = false;
      else good[t]!++;
    }

    if (wi < 0) {
      if (isOvershadowed) counts.overshadowed++;
      if (h > 0) work.push(i);
      else settled[i] = 1;
    } else {
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
      if (loadedAnywhere === 0) {
        counts.unavailable++;
        ok = false;
      } else {
        for (let t = 0; t < T; t++) {
          if (liveLoaded[t]! < per[t]!) {
            counts.underReplicated++;
            break;
          }
        }
      }
      let wanted = 0;
      for (let t = 0; t < T; t++) {
        const p = per[t]!;
        const eff = p > 0 ? Math.min(p + x, members[t]!) : 0;
        wanted += eff;
        const g = good[t]!;
        if (g !== eff) {
          ok = false;
          if (g > eff) tierSurplus[t] = 1;
        }
      }
      if (ok) settled[i] = 1;
      else if (h === 0 && wanted === 0) {
        // Unavailable, held nowhere, and no tier it wants has a member: nothing to decide.
        counts.unplaceable++;
        settled[i] = 1;
      } else work.push(i);
    }
    for (let t = 0; t < T; t++) {
      good[t] = 0;
      liveLoaded[t] = 0;
    }
  }

  for (const w of workers) {
    w.committedBytes = bytes[w.index]!;
    w.committedSegments = held[w.index]!;
    w.queued += queued[w.index]!;
  }
  return { want, extra, settled, work, tierSurplus, counts };
}
