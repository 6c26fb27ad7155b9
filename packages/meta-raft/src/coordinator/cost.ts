/**
 * The placement cost: a simplified form of Druid's cost balancer. Among the workers that may
 * take a replica, the cheapest wins:
 *
 *   cost(s, w) = sum over segments s' of the same datasource on w, s' != s, of
 *                  2^(-|mid(s) - mid(s')| / costHalfLifeMs)
 *              + costFullnessWeight * bytes(w) / capacityBytes(w)
 *
 * where mid is the middle of a segment's interval. The first term (affinity) is 1 for a segment
 * of the same interval and halves with every half-life of distance, so segments of one
 * datasource and nearby intervals (which the same queries read) spread over the workers instead
 * of piling onto one. The second term prefers emptier workers; with the default weight of 4 a
 * worker 25 points fuller costs as much as one more segment of the same interval. Terms beyond
 * 16 half-lives (under 2^-16) are left out, so a cost is a binary search plus the handful of
 * neighbours within the window.
 *
 * The index is built only when a cycle places something (never in the steady state) from the
 * committed assignments, and grows as the cycle assigns.
 */
import { holderAt, type ClusterState, type WorkerView } from './state.js';

const WINDOW_HALF_LIVES = 16;

/** A sorted, growable list of interval midpoints. */
class Mids {
  data: Float64Array;
  length = 0;

  constructor(capacity: number) {
    this.data = new Float64Array(Math.max(capacity, 4));
  }

  /** The first position holding a value >= x. */
  lowerBound(x: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.data[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  insert(x: number): void {
    if (this.length === this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    const at = this.lowerBound(x);
    this.data.copyWithin(at + 1, at, this.length);
    this.data[at] = x;
    this.length++;
  }
}

export class CostIndex {
  /** Per worker index: datasource -> midpoints of its segments there. */
  private readonly mids: Map<string, Mids>[];
  private readonly window: number;

  private constructor(
    workers: number,
    private readonly halfLifeMs: number,
    private readonly fullnessWeight: number,
  ) {
    this.mids = Array.from({ length: workers }, () => new Map());
    this.window = halfLifeMs * WINDOW_HALF_LIVES;
  }

  /** Indexes every committed replica of a segment the rules want, on a worker that is not gone. */
  static build(state: ClusterState): CostIndex {
    const index = new CostIndex(state.workers.length, state.config.costHalfLifeMs, state.config.costFullnessWeight);
    const staging: Map<string, number[]>[] = state.workers.map(() => new Map());
    const { segments, holders: holdersOf, want, workers } = state;
    for (let i = 0; i < segments.length; i++) {
      const holders = holdersOf[i];
      if (holders === undefined || want[i]! < 0) continue;
      const s = segments[i]!;
      const mid = (s.start + s.end) / 2;
      for (let h = 0; h < holders.length; h++) {
        const k = holderAt(state, holders[h]!);
        if (k < 0 || workers[k]!.health === 'gone') continue;
        const byDs = staging[k]!;
        let list = byDs.get(s.dataSource);
        if (list === undefined) byDs.set(s.dataSource, (list = []));
        list.push(mid);
      }
    }
    staging.forEach((byDs, k) => {
      for (const [ds, list] of byDs) {
        const m = new Mids(list.length + 16);
        m.data.set(list);
        m.data.subarray(0, list.length).sort();
        m.length = list.length;
        index.mids[k]!.set(ds, m);
      }
    });
    return index;
  }

  /** Records a new replica of a segment with midpoint `mid` on worker `k`. */
  add(k: number, dataSource: string, mid: number): void {
    const byDs = this.mids[k]!;
    let m = byDs.get(dataSource);
    if (m === undefined) byDs.set(dataSource, (m = new Mids(16)));
    m.insert(mid);
  }

  /**
   * The affinity term for a segment with midpoint `mid` on worker `k`. With `holdsIt`, the
   * worker holds the segment itself, whose own term (exactly 1) is left out.
   */
  affinity(k: number, dataSource: string, mid: number, holdsIt = false): number {
    const m = this.mids[k]!.get(dataSource);
    if (m === undefined) return 0;
    let sum = 0;
    const end = mid + this.window;
    for (let i = m.lowerBound(mid - this.window); i < m.length; i++) {
      const x = m.data[i]!;
      if (x > end) break;
      sum += Math.pow(2, -Math.abs(x - mid) / this.halfLifeMs);
    }
    return holdsIt ? Math.max(0, sum - 1) : sum;
  }

  /** The whole cost of placing a segment on `worker` (see the module comment). */
  cost(worker: WorkerView, dataSource: string, mid: number): number {
    return this.affinity(worker.index, dataSource, mid) + this.fullnessWeight * (worker.bytes / worker.capacityBytes);
  }
}

/** The midpoint of a segment's interval. */
export function midpoint(s: { start: number; end: number }): number {
  return (s.start + s.end) / 2;
}
