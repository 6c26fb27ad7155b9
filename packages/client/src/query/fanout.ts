import type { PartialResult, Query } from '@cairn/shared';
import type { LatencyTracker } from './latency.js';
import type { ServedSegment, TimelineView } from './timeline-view.js';
import { cancelOn, postJson, WorkerError } from './worker-http.js';
import type { SegmentsAnswer } from './worker-http.js';

export interface FanOutOptions {
  /** Requests to workers in flight at once for one query. */
  readonly concurrencyMax: number;
  /** Rounds of retries for segments a worker did not have or could not answer. */
  readonly attemptsMax: number;
  /** The hedge delay is this percentile of recent latencies, clamped to [floor, ceiling]. */
  readonly hedgePercentile: number;
  readonly hedgeDelayFloorMs: number;
  readonly hedgeDelayCeilingMs: number;
  /** Extra requests hedging may add, as a share of primary requests (0.05: at most 5% more). */
  readonly hedgeBudgetRatio: number;
  /** Hedges that may be spent in a burst before the budget refills. */
  readonly hedgeBudgetBurst: number;
  /** This client's datacenter: replicas there are preferred. */
  readonly dc: string | null;
}

export const DEFAULT_FANOUT: FanOutOptions = {
  concurrencyMax: 16,
  attemptsMax: 3,
  hedgePercentile: 0.95,
  hedgeDelayFloorMs: 10,
  hedgeDelayCeilingMs: 1000,
  hedgeBudgetRatio: 0.05,
  hedgeBudgetBurst: 5,
  dc: null,
};

export interface FanOutStats {
  requests: number;
  hedges: number;
  /** Hedged segments answered first by the hedge. */
  hedgeWins: number;
  retries: number;
  failures: number;
}

interface SegmentState {
  readonly seg: ServedSegment;
  readonly tried: Set<string>;
  done: boolean;
}

export interface CollectContext {
  readonly queryId: string;
  readonly signal: AbortSignal;
  /** Remaining time budget passed to workers (ms), or 0 for none. */
  readonly timeoutMs: () => number;
  /** Each sub-request registered here so `cancel(queryId)` can reach its worker. */
  readonly track: (workerUrl: string, subQueryId: string) => () => void;
}

/**
 * Fans a query out to the workers that serve its segments and gathers their partial results.
 * Per segment, the replica is chosen by datacenter (ours first), then by recent latency, skipping
 * workers on probation (which only get time-gated probes). Segments are grouped by worker into one
 * request each, sent with bounded concurrency. A request not answered within the hedge delay is
 * hedged: its segments go to other replicas too, within a budget of extra requests (a late request
 * to a worker on probation may borrow from it), and whichever answers first wins; the loser is
 * aborted and cancelled on its worker. Segments a worker lacks, and requests that fail, are
 * retried on other replicas for a bounded number of rounds.
 */
export class FanOut {
  private hedgeTokens: number;
  readonly stats: FanOutStats = { requests: 0, hedges: 0, hedgeWins: 0, retries: 0, failures: 0 };
  private seq = 0;

  constructor(
    private readonly timeline: TimelineView,
    private readonly latency: LatencyTracker,
    private readonly o: FanOutOptions = DEFAULT_FANOUT,
  ) {
    this.hedgeTokens = o.hedgeBudgetBurst;
  }

  /** Partial results for every segment some replica answered; `unresolved` lists the rest. */
  async collect(q: Query, raw: Record<string, unknown>, segments: readonly ServedSegment[], ctx: CollectContext): Promise<{ partials: PartialResult[]; unresolved: ServedSegment[] }> {
    const states = new Map<string, SegmentState>(segments.map((seg) => [seg.id, { seg, tried: new Set(), done: false }]));
    const accepted: { readonly ids: ReadonlySet<string>; readonly partial: PartialResult; readonly hedge: boolean }[] = [];
    const accept = (from: string, answer: SegmentsAnswer, hedge: boolean) => {
      for (const p of answer.partials) {
        const ids = new Set('segmentIds' in p ? p.segmentIds : [p.segmentId]);
        const covered = [...ids].map((id) => states.get(id));
        if (covered.some((s) => s === undefined)) continue;
        if (covered.some((s) => s!.done)) {
          // A merged partial cannot be split. One that covers every earlier answer it overlaps
          // (a primary's answer after a hedge answered part of its segments) replaces them;
          // otherwise it is dropped, and whatever it alone covered is asked again. Dropping the
          // superset instead would leave its other segments to the hedges still out, which may
          // be waiting on a paused worker.
          const overlapping = accepted.filter((a) => [...a.ids].some((id) => ids.has(id)));
          if (!overlapping.every((a) => [...a.ids].every((id) => ids.has(id)))) continue;
          for (const a of overlapping) {
            accepted.splice(accepted.indexOf(a), 1);
            if (a.hedge) this.stats.hedgeWins -= a.ids.size;
          }
        }
        for (const s of covered) s!.done = true;
        accepted.push({ ids, partial: p.partial, hedge });
        if (hedge) this.stats.hedgeWins += ids.size;
      }
      for (const id of answer.missing) states.get(id)?.tried.add(from);
    };
    for (let attempt = 0; attempt < this.o.attemptsMax; attempt++) {
      if (ctx.signal.aborted) break;
      const groups = new Map<string, SegmentState[]>();
      for (const s of states.values()) {
        if (s.done) continue;
        const w = this.choose(s.seg, s.tried);
        if (w === null) continue;
        let g = groups.get(w);
        if (!g) groups.set(w, (g = []));
        g.push(s);
      }
      if (groups.size === 0) break;
      if (attempt > 0) this.stats.retries += groups.size;
      await bounded([...groups], this.o.concurrencyMax, ([worker, group]) => this.sendGroup(raw, worker, group, accept, ctx));
    }
    return { partials: accepted.map((a) => a.partial), unresolved: [...states.values()].filter((s) => !s.done).map((s) => s.seg) };
  }

  /** The best replica of `seg` not yet tried, or null. */
  private choose(seg: ServedSegment, tried: ReadonlySet<string>, exclude?: string): string | null {
    const live = (ids: readonly string[]) => ids.filter((w) => !tried.has(w) && w !== exclude && this.timeline.worker(w)?.live !== false && this.timeline.worker(w) !== undefined);
    let candidates = live(seg.loadedOn);
    if (candidates.length === 0) candidates = live(seg.assignedTo);
    if (candidates.length === 0) return null;
    const onProbation = candidates.filter((w) => this.latency.onProbation(w));
    for (const w of onProbation) if (this.latency.takeProbe(w)) return w;
    const healthy = candidates.filter((w) => !this.latency.onProbation(w));
    const pool = healthy.length > 0 ? healthy : onProbation;
    const dc = this.o.dc;
    const score = (w: string) => (dc !== null && this.timeline.worker(w)?.dc !== dc ? 1e9 : 0) + this.latency.average(w);
    return pool.reduce((best, w) => (score(w) < score(best) || (score(w) === score(best) && w < best) ? w : best));
  }

  private hedgeDelayMs(): number {
    const p = this.latency.percentile(this.o.hedgePercentile);
    if (p === null) return this.o.hedgeDelayCeilingMs;
    return Math.min(this.o.hedgeDelayCeilingMs, Math.max(this.o.hedgeDelayFloorMs, p));
  }

  private async sendGroup(
    raw: Record<string, unknown>,
    worker: string,
    group: SegmentState[],
    accept: (from: string, answer: SegmentsAnswer, hedge: boolean) => void,
    ctx: CollectContext,
  ): Promise<void> {
    this.stats.requests++;
    this.hedgeTokens = Math.min(this.o.hedgeBudgetBurst, this.hedgeTokens + this.o.hedgeBudgetRatio);
    const pending = () => group.filter((s) => !s.done);
    const inflight: { worker: string; url: string; subId: string; ac: AbortController; untrack: () => void; started: number; settled: boolean; promise: Promise<void> }[] = [];

    const launch = (target: string, segs: SegmentState[], hedge: boolean) => {
      const url = this.timeline.worker(target)?.url;
      if (!url) {
        for (const s of segs) s.tried.add(target);
        return;
      }
      const subId = `${ctx.queryId}-${++this.seq}`;
      const ac = new AbortController();
      const onAbort = () => ac.abort();
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      const untrack = ctx.track(url, subId);
      const started = performance.now();
      const timeout = ctx.timeoutMs();
      const body = {
        query: { ...raw, context: { ...(raw['context'] as object | undefined), queryId: subId, ...(timeout > 0 ? { timeout } : {}) } },
        segmentIds: segs.map((s) => s.seg.id),
        // One merged partial per request, with dictionary-encoded dimensions (workers of the
        // previous version ignore both and answer per segment with values: merged the same).
        merge: true,
        dicts: true,
      };
      const entry = {
        worker: target, url, subId, ac, untrack, started, settled: false,
        promise: postJson<SegmentsAnswer>(`${url}/v1/segments/query`, body, ac.signal).then(
          (answer) => {
            this.latency.record(target, performance.now() - started);
            accept(target, answer, hedge);
          },
          (err: unknown) => {
            if (ac.signal.aborted) return;
            if (err instanceof WorkerError && !err.retryable) throw err;
            this.stats.failures++;
            this.latency.recordFailure(target);
            for (const s of segs) s.tried.add(target);
          },
        ).finally(() => {
          entry.settled = true;
          untrack();
          ctx.signal.removeEventListener('abort', onAbort);
        }),
      };
      inflight.push(entry);
    };

    launch(worker, group, false);
    const primaryDone = inflight[0]!.promise.then(() => 'done' as const, () => 'done' as const);
    // Hedge once the primary is late, each segment at most once, within the budget. Segments the
    // budget could not cover yet wait another hedge delay and try again (other requests refill
    // it), and once the request is very late it counts toward the worker's probation: giving up
    // on them would leave the query waiting on a paused worker until its timeout. A late request
    // to a worker on probation (a probe, or one sent before the probation began) may borrow: its
    // hedge takes the budget down to minus the burst, so it is not held up and later hedges pay
    // it back.
    const hedged = new Set<SegmentState>();
    let late = false;
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const hedgeDue = new Promise<'hedge'>((res) => (timer = setTimeout(() => res('hedge'), this.hedgeDelayMs())));
      const first = await Promise.race([primaryDone, hedgeDue]);
      clearTimeout(timer);
      if (first === 'done' || ctx.signal.aborted) break;
      // Hedge: the same segments to other replicas, one request per replica.
      const alternatives = new Map<string, SegmentState[]>();
      for (const s of pending()) {
        if (hedged.has(s)) continue;
        const alt = this.choose(s.seg, s.tried, worker);
        if (alt === null) continue;
        let g = alternatives.get(alt);
        if (!g) alternatives.set(alt, (g = []));
        g.push(s);
      }
      const floor = this.latency.onProbation(worker) ? 1 - this.o.hedgeBudgetBurst : 1;
      let starved = false;
      for (const [alt, segs] of alternatives) {
        if (this.hedgeTokens < floor) {
          starved = true;
          break;
        }
        this.hedgeTokens -= 1;
        this.stats.hedges++;
        for (const s of segs) hedged.add(s);
        launch(alt, segs, true);
      }
      if (!starved) break;
      if (!late) late = this.latency.recordLate(worker, performance.now() - inflight[0]!.started);
    }
    // Done when every segment of the group is answered, or every request has settled.
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (pending().length === 0 || inflight.every((e) => e.settled)) resolve();
      };
      for (const e of inflight) e.promise.then(check, reject);
      check();
    });
    // The losers: abort the requests and tell their workers to drop the work.
    for (const e of inflight) {
      if (e.settled) continue;
      if (!ctx.signal.aborted) this.latency.recordAbandoned(e.worker, performance.now() - e.started);
      e.ac.abort();
      cancelOn(e.url, e.subId);
    }
  }
}

/** Runs `fn` over `items` with at most `limit` at once. */
async function bounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(runners);
}
