import { formatInterval, intersectIntervals, QueryError } from '@cairn/shared';
import type { PartialResult, Query } from '@cairn/shared';
import type { LatencyTracker } from './latency.js';
import type { ServedSegment, TimelineView } from './timeline-view.js';
import { cancelOn, postJson, refusalError, WorkerError } from './worker-http.js';
import type { GatherBudget, SegmentsAnswer } from './worker-http.js';

/**
 * Segments asked of one worker in one request at most: workers queue at most 20,000 units per
 * query (queryUnitsMax) so that one query cannot fill their queue; a worker holding more of a
 * query's segments gets several requests, which its queue serves in turn with other queries'.
 */
export const SEGMENTS_PER_REQUEST_MAX = 10_000;

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
  /**
   * The intervals this segment is asked for when newer versions cover part of it: the query's
   * intervals clipped to its visible stretches (workers read only rows within a request's
   * intervals). Null: the query's own. Requests group segments of equal `intervals` only.
   */
  readonly intervals: readonly string[] | null;
  readonly tried: Set<string>;
  done: boolean;
  /** A worker refused it (4xx): the query's error if no other replica answers. */
  refusal: QueryError | null;
}

export interface CollectContext {
  readonly queryId: string;
  /** Aborted when the query times out or is cancelled: requests in flight are aborted and cancelled on their workers. */
  readonly signal: AbortSignal;
  /** Remaining time budget passed to workers (ms), or 0 for none. */
  readonly timeoutMs: () => number;
  /** The bytes of answers the query may still gather. */
  readonly budget: GatherBudget;
}

/** A request to a worker, from launch until it settles. */
interface Request {
  readonly worker: string;
  readonly url: string;
  readonly subId: string;
  readonly ac: AbortController;
  readonly started: number;
  settled: boolean;
  /** Never rejects: failures are recorded on the segments. */
  readonly promise: Promise<void>;
}

/** One collect: what its requests share. */
interface Run {
  readonly ctx: CollectContext;
  /** Aborted when the query is over: the caller aborted it, or it failed. */
  readonly stop: AbortSignal;
  /** Resolves once `stop` is aborted (one listener for the whole collect). */
  readonly stopped: Promise<void>;
  /** Requests in flight: aborted and cancelled on their workers when the query stops. */
  readonly inflight: Set<Request>;
  /** Fails the query with `err` (the first failure wins) and stops it. */
  readonly fail: (err: QueryError) => void;
  readonly accept: (from: string, answer: SegmentsAnswer, hedge: boolean) => void;
}

/**
 * Fans a query out to the workers that serve its segments and gathers their partial results.
 * Per segment, the replica is chosen by datacenter (ours first), then by recent latency, skipping
 * workers on probation (which only get time-gated probes). Segments are grouped by worker into one
 * request each, sent with bounded concurrency. A request not answered within the hedge delay is
 * hedged: its segments go to other replicas too, within a budget of extra requests (a late request
 * to a worker on probation may borrow from it), and whichever answers first wins; the loser is
 * aborted and cancelled on its worker. Segments a worker lacks, and requests that fail, are
 * retried on other replicas for a bounded number of rounds. A segment that newer versions partly
 * cover is asked for its visible stretches only, in a request of its own kind (see `intervals`).
 * Once the query is aborted or has failed, nothing more is sent, and every request in flight is
 * aborted and cancelled on its worker.
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

  /**
   * Partial results for every segment some replica answered; `unresolved` lists the rest. Throws
   * the query's abort reason when `ctx.signal` aborts, and a worker's error when every replica of
   * a segment that could be tried refused it (a 4xx: the query is at fault, not the replicas).
   */
  async collect(q: Query, raw: Record<string, unknown>, segments: readonly ServedSegment[], ctx: CollectContext): Promise<{ partials: PartialResult[]; unresolved: ServedSegment[] }> {
    const states = new Map<string, SegmentState>();
    for (const seg of segments) {
      let intervals: string[] | null = null;
      if (seg.visible !== undefined) {
        const clipped = intersectIntervals(q.intervals, seg.visible);
        // Its visible part is outside the query: nothing of it is read.
        if (clipped.length === 0) continue;
        intervals = clipped.map(formatInterval);
      }
      states.set(seg.id, { seg, intervals, tried: new Set(), done: false, refusal: null });
    }
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

    const stop = new AbortController();
    const onAbort = () => stop.abort(ctx.signal.reason);
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener('abort', onAbort, { once: true });
    const inflight = new Set<Request>();
    const stopped = new Promise<void>((resolve) => {
      const onStop = () => {
        for (const r of inflight) {
          r.ac.abort();
          cancelOn(r.url, r.subId);
        }
        inflight.clear();
        resolve();
      };
      if (stop.signal.aborted) onStop();
      else stop.signal.addEventListener('abort', onStop, { once: true });
    });
    let failure: QueryError | null = null;
    const run: Run = {
      ctx, stop: stop.signal, stopped, inflight, accept,
      fail: (err) => {
        if (failure !== null || stop.signal.aborted) return;
        failure = err;
        stop.abort(err);
      },
    };
    try {
      for (let attempt = 0; attempt < this.o.attemptsMax; attempt++) {
        if (stop.signal.aborted) break;
        type Group = { worker: string; intervals: readonly string[] | null; states: SegmentState[] };
        // The group being filled per worker and clip; full ones stay in `all`.
        const open = new Map<string, Group>();
        const all: Group[] = [];
        for (const s of states.values()) {
          if (s.done) continue;
          const w = this.choose(s.seg, s.tried);
          if (w === null) continue;
          const key = `${w}\u0000${s.intervals?.join(',') ?? ''}`;
          let g = open.get(key);
          if (!g || g.states.length >= SEGMENTS_PER_REQUEST_MAX) {
            open.set(key, (g = { worker: w, intervals: s.intervals, states: [] }));
            all.push(g);
          }
          g.states.push(s);
        }
        if (all.length === 0) break;
        if (attempt > 0) this.stats.retries += all.length;
        await bounded(all, this.o.concurrencyMax, stop.signal, (g) => this.sendGroup(raw, g.worker, g.intervals, g.states, run));
      }
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
      // Nothing of this collect outlives it (should a request still be out, it is cancelled).
      if (!stop.signal.aborted) stop.abort();
    }
    if (failure !== null) throw failure;
    if (ctx.signal.aborted) throw ctx.signal.reason instanceof Error ? ctx.signal.reason : new QueryError('QUERY_CANCELLED', `query ${ctx.queryId} was cancelled`);
    const unresolved = [...states.values()].filter((s) => !s.done);
    // Refused by every replica the rounds could try: the worker's answer is the query's.
    const refused = unresolved.find((s) => s.refusal !== null);
    if (refused) throw refused.refusal!;
    return { partials: accepted.map((a) => a.partial), unresolved: unresolved.map((s) => s.seg) };
  }

  /** The replicas of `seg` that may be asked: not tried, not `exclude`, known and not known to be down. */
  private candidates(seg: ServedSegment, tried: ReadonlySet<string>, exclude?: string): string[] {
    const live = (ids: readonly string[]) => ids.filter((w) => !tried.has(w) && w !== exclude && this.timeline.worker(w) !== undefined && this.timeline.worker(w)!.live !== false);
    const loaded = live(seg.loadedOn);
    return loaded.length > 0 ? loaded : live(seg.assignedTo);
  }

  /** The best replica of `seg` not yet tried, or null. */
  private choose(seg: ServedSegment, tried: ReadonlySet<string>, exclude?: string): string | null {
    const candidates = this.candidates(seg, tried, exclude);
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

  private async sendGroup(raw: Record<string, unknown>, worker: string, intervals: readonly string[] | null, group: SegmentState[], run: Run): Promise<void> {
    if (run.stop.aborted) return;
    this.stats.requests++;
    this.hedgeTokens = Math.min(this.o.hedgeBudgetBurst, this.hedgeTokens + this.o.hedgeBudgetRatio);
    const pending = () => group.filter((s) => !s.done);
    const requests: Request[] = [];

    const launch = (target: string, segs: SegmentState[], hedge: boolean) => {
      if (run.stop.aborted) return;
      const url = this.timeline.worker(target)?.url;
      if (!url) {
        for (const s of segs) s.tried.add(target);
        return;
      }
      const subId = `${run.ctx.queryId}-${++this.seq}`;
      const ac = new AbortController();
      const started = performance.now();
      const timeout = run.ctx.timeoutMs();
      const body = {
        query: {
          ...raw,
          ...(intervals === null ? {} : { intervals }),
          context: { ...(raw['context'] as object | undefined), queryId: subId, ...(timeout > 0 ? { timeout } : {}) },
        },
        segmentIds: segs.map((s) => s.seg.id),
        // One merged partial per request, with dictionary-encoded dimensions (workers of the
        // previous version ignore both and answer per segment with values: merged the same).
        merge: true,
        dicts: true,
      };
      const failed = (err: unknown) => {
        if (ac.signal.aborted) return;
        if (err instanceof QueryError) {
          // The query's own limit (the bytes it gathered): no other replica can help.
          run.fail(err);
          return;
        }
        this.stats.failures++;
        for (const s of segs) s.tried.add(target);
        if (!(err instanceof WorkerError) || err.retryable) {
          this.latency.recordFailure(target);
          return;
        }
        // Refused (4xx): this request, not the worker, is at fault, but another replica (one
        // that has the segment, or runs another version) may still answer. Once a segment has
        // none left to try, the query fails with the refusal now: waiting for the rest is moot.
        // A replica still working on it (the primary, when a hedge is refused) is not tried yet.
        const refusal = refusalError(target, err);
        for (const s of segs) {
          if (s.done) continue;
          s.refusal = refusal;
          if (this.candidates(s.seg, s.tried).length === 0) run.fail(refusal);
        }
      };
      const request: Request = {
        worker: target, url, subId, ac, started, settled: false,
        promise: postJson<SegmentsAnswer>(`${url}/v1/segments/query`, body, ac.signal, run.ctx.budget)
          .then((answer) => {
            if (ac.signal.aborted) return;
            this.latency.record(target, performance.now() - started);
            run.accept(target, answer, hedge);
          })
          .catch(failed)
          .finally(() => {
            request.settled = true;
            run.inflight.delete(request);
          }),
      };
      requests.push(request);
      run.inflight.add(request);
    };

    launch(worker, group, false);
    const primary = requests[0];
    if (primary === undefined) return;
    const primaryDone = primary.promise.then(() => 'done' as const);
    const stopped = run.stopped.then(() => 'done' as const);
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
      const first = await Promise.race([primaryDone, stopped, hedgeDue]);
      clearTimeout(timer);
      if (first === 'done' || run.stop.aborted) break;
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
      if (!late) late = this.latency.recordLate(worker, performance.now() - primary.started);
    }
    // Done when every segment of the group is answered, every request has settled, or the query stopped.
    await new Promise<void>((resolve) => {
      const check = () => {
        if (run.stop.aborted || pending().length === 0 || requests.every((r) => r.settled)) resolve();
      };
      for (const r of requests) void r.promise.then(check);
      void run.stopped.then(check);
      check();
    });
    if (run.stop.aborted) return; // the stop aborted and cancelled every request in flight
    // The losers: abort the requests and tell their workers to drop the work.
    for (const r of requests) {
      if (r.settled) continue;
      this.latency.recordAbandoned(r.worker, performance.now() - r.started);
      run.inflight.delete(r);
      r.ac.abort();
      cancelOn(r.url, r.subId);
    }
  }
}

/** Runs `fn` over `items` with at most `limit` at once, starting none once `signal` is aborted. */
async function bounded<T>(items: readonly T[], limit: number, signal: AbortSignal, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length && !signal.aborted) await fn(items[next++]!);
  });
  await Promise.all(runners);
}
