/**
 * What the client knows about each worker's speed: a moving average of its latency, a short
 * window for percentiles, and latency-induced probation. A worker whose average is far above its
 * peers' (and above a floor) goes on probation: it gets no primary traffic, only an occasional
 * probe, and leaves probation once a probe comes back fast.
 */
export interface LatencyOptions {
  /** Weight of a new sample in the moving average. */
  readonly ewmaAlpha: number;
  /** Probation when the average exceeds this multiple of the median of the others' averages... */
  readonly probationFactor: number;
  /** ...and this many milliseconds (small absolute differences are noise). */
  readonly probationFloorMs: number;
  /** How often a worker on probation is probed with real traffic. */
  readonly probeEveryMs: number;
  /** Samples kept for percentiles (the hedge delay). */
  readonly windowSamples: number;
  /** Probation after this many requests in a row abandoned to a hedge, or late with no hedge possible. */
  readonly abandonedForProbation: number;
}

export const DEFAULT_LATENCY: LatencyOptions = {
  ewmaAlpha: 0.2,
  probationFactor: 4,
  probationFloorMs: 50,
  probeEveryMs: 1000,
  windowSamples: 512,
  abandonedForProbation: 3,
};

interface WorkerStats {
  ewma: number | null;
  probation: boolean;
  lastProbeAt: number;
  failures: number;
  abandoned: number;
}

export class LatencyTracker {
  private readonly workers = new Map<string, WorkerStats>();
  private readonly window: number[] = [];
  private windowAt = 0;

  constructor(private readonly o: LatencyOptions = DEFAULT_LATENCY, private readonly now: () => number = Date.now) {}

  private stats(id: string): WorkerStats {
    let s = this.workers.get(id);
    if (!s) this.workers.set(id, (s = { ewma: null, probation: false, lastProbeAt: 0, failures: 0, abandoned: 0 }));
    return s;
  }

  record(id: string, ms: number): void {
    const s = this.stats(id);
    s.ewma = s.ewma === null ? ms : s.ewma + this.o.ewmaAlpha * (ms - s.ewma);
    s.failures = 0;
    s.abandoned = 0;
    if (this.window.length < this.o.windowSamples) this.window.push(ms);
    else this.window[this.windowAt++ % this.o.windowSamples] = ms;
    // A probe (or any answer) while on probation that is back to normal ends the probation.
    if (s.probation && ms <= this.threshold(id)) s.probation = false;
    else if (!s.probation && s.ewma > this.threshold(id)) s.probation = true;
  }

  /** A failed request counts as very slow; repeated failures mean probation. */
  recordFailure(id: string): void {
    const s = this.stats(id);
    s.failures++;
    if (s.failures >= 2) s.probation = true;
  }

  /**
   * A request given up on because a hedge answered first. A paused or overloaded worker never
   * answers, so without this it would never collect a slow sample: its elapsed time is a lower
   * bound on its latency (it may only raise the average), and a run of such losses is itself the
   * sign of a worker far slower than its peers. It never ends a probation.
   */
  recordAbandoned(id: string, elapsedMs: number): void {
    const s = this.stats(id);
    if (s.ewma === null || elapsedMs > s.ewma) s.ewma = s.ewma === null ? elapsedMs : s.ewma + this.o.ewmaAlpha * (elapsedMs - s.ewma);
    s.abandoned++;
    if (!s.probation && (s.abandoned >= this.o.abandonedForProbation || s.ewma > this.threshold(id))) s.probation = true;
  }

  /**
   * A request still unanswered after the hedge delay that could not be hedged (the budget was
   * spent), `elapsedMs` after it was sent. Once that alone is above the probation threshold it
   * counts toward probation like an abandoned request, and this returns true: with no hedge to
   * race it, a paused worker gives no other sign, and every client stuck on it stops the traffic
   * that refills the budget. Below the threshold it is not counted (a busy worker's big requests
   * are often late). The average is left alone; the answer, if one comes, is recorded then.
   */
  recordLate(id: string, elapsedMs: number): boolean {
    if (elapsedMs <= this.threshold(id)) return false;
    const s = this.stats(id);
    s.abandoned++;
    if (!s.probation && s.abandoned >= this.o.abandonedForProbation) s.probation = true;
    return true;
  }

  /** The latency above which `id` counts as far slower than its peers. */
  private threshold(id: string): number {
    const others: number[] = [];
    for (const [w, s] of this.workers) if (w !== id && s.ewma !== null && !s.probation) others.push(s.ewma);
    if (others.length === 0) return Infinity;
    others.sort((a, b) => a - b);
    const median = others[others.length >> 1]!;
    return Math.max(this.o.probationFloorMs, median * this.o.probationFactor);
  }

  onProbation(id: string): boolean {
    return this.workers.get(id)?.probation === true;
  }

  /** Whether a worker on probation is due a probe now (and records that it got one). */
  takeProbe(id: string): boolean {
    const s = this.stats(id);
    if (!s.probation) return false;
    const t = this.now();
    if (t - s.lastProbeAt < this.o.probeEveryMs) return false;
    s.lastProbeAt = t;
    return true;
  }

  average(id: string): number {
    return this.workers.get(id)?.ewma ?? 0;
  }

  /** The p-th percentile (0..1) of recent latencies over all workers, or null with no samples. */
  percentile(p: number): number | null {
    if (this.window.length === 0) return null;
    const sorted = [...this.window].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  }

  probationList(): string[] {
    return [...this.workers].filter(([, s]) => s.probation).map(([id]) => id);
  }
}
