import { QueryError, toQueryError } from '@cairn/shared';
import type { LoadedSegment, PartialResult, Query } from '@cairn/shared';
import { runOnSegment, SegmentsAccumulator } from './engine/index.js';

/** Per-segment units waiting to run on this worker, in all queries together. */
export const QUEUED_UNITS_MAX = 100_000;

export interface SegmentSource {
  get(id: string): Promise<LoadedSegment | null>;
}

export interface SegmentsAnswer {
  readonly queryId: string;
  /** One partial result per listed segment this worker had and answered alone. */
  readonly partials: { readonly segmentId: string; readonly partial: PartialResult }[];
  /** With `merge`: one partial for the segments folded together (see `SegmentsAccumulator`). */
  readonly folded?: { readonly segmentIds: string[]; readonly partial: PartialResult };
  /** Listed segments this worker does not have: the caller retries them elsewhere. */
  readonly missing: string[];
}

interface RunningQuery {
  readonly id: string;
  readonly query: Query;
  readonly priority: number;
  readonly lane: string;
  readonly deadline: number;
  readonly units: string[];
  readonly partials: { segmentId: string; partial: PartialResult }[];
  readonly missing: string[];
  /** With `merge`, for the queries it covers: the segments folded so far and their states. */
  readonly acc: SegmentsAccumulator | null;
  readonly folded: string[];
  cancelled: boolean;
  resolve(a: SegmentsAnswer): void;
  reject(e: Error): void;
}

/**
 * Runs per-segment units of work on a bounded priority queue: higher `priority` first, and
 * round-robin among the queries of one priority (each lane taking turns before its queries do), so
 * a query over ten thousand segments cannot starve a small one that arrives after it. Units run
 * one at a time on the event loop, yielding between units, so heartbeats and new requests are
 * never blocked for longer than one segment's work. `timeout` bounds a query (checked inside the
 * engine's loops too); `cancel(queryId)` drops its remaining units at once.
 */
export class QueryExecutor {
  private readonly byPriority = new Map<number, Map<string, RunningQuery[]>>();
  private readonly queries = new Map<string, RunningQuery>();
  private queued = 0;
  private running = false;
  unitsRun = 0;
  readonly latenciesMs: number[] = [];
  readonly segmentQueries = new Map<string, number>();

  constructor(
    private readonly segments: SegmentSource,
    private readonly now: () => number = Date.now,
    /** Fault injection for tests: a pause after each unit, making queries slow on purpose. */
    private readonly unitDelayMs = 0,
  ) {}

  get queuedUnits(): number {
    return this.queued;
  }

  /**
   * Answers `query` over `segmentIds`; rejects with a QueryError (timeout, cancel, overload).
   * With `merge` (the caller takes one partial for all), segments of a query the accumulator
   * covers are folded into one set of states instead of a partial each.
   */
  run(queryId: string, query: Query, segmentIds: readonly string[], options: { merge?: boolean } = {}): Promise<SegmentsAnswer> {
    if (this.queued + segmentIds.length > QUEUED_UNITS_MAX) {
      return Promise.reject(new QueryError('QUERY_CAPACITY_EXCEEDED', `this worker has ${this.queued} segment units queued (at most ${QUEUED_UNITS_MAX}); retry later or on another replica`));
    }
    if (this.queries.has(queryId)) return Promise.reject(new QueryError('INVALID_QUERY', `queryId ${queryId} is already running on this worker`));
    const started = this.now();
    const timeout = query.context.timeout ?? 0;
    return new Promise<SegmentsAnswer>((resolve, reject) => {
      const q: RunningQuery = {
        id: queryId,
        query,
        priority: query.context.priority ?? 0,
        lane: query.context.lane ?? '',
        deadline: timeout > 0 ? started + timeout : Infinity,
        units: [...new Set(segmentIds)],
        partials: [],
        missing: [],
        acc: options.merge === true ? SegmentsAccumulator.for(query) : null,
        folded: [],
        cancelled: false,
        resolve: (a) => {
          this.latenciesMs.push(this.now() - started);
          if (this.latenciesMs.length > 1000) this.latenciesMs.splice(0, 500);
          resolve(a);
        },
        reject,
      };
      if (q.units.length === 0) return q.resolve({ queryId, partials: [], missing: [] });
      this.queries.set(queryId, q);
      this.queued += q.units.length;
      let lanes = this.byPriority.get(q.priority);
      if (!lanes) this.byPriority.set(q.priority, (lanes = new Map()));
      let list = lanes.get(q.lane);
      if (!list) lanes.set(q.lane, (list = []));
      list.push(q);
      this.kick();
    });
  }

  /** Cancels a query's remaining work; true if it was running here. */
  cancel(queryId: string): boolean {
    const q = this.queries.get(queryId);
    if (!q) return false;
    this.finish(q, new QueryError('QUERY_CANCELLED', `query ${queryId} was cancelled`));
    return true;
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    setImmediate(() => void this.loop());
  }

  private async loop(): Promise<void> {
    try {
      for (;;) {
        const q = this.next();
        if (!q) return;
        const segmentId = q.units.shift()!;
        this.queued--;
        await this.runUnit(q, segmentId);
        if (q.units.length === 0 && this.queries.get(q.id) === q) this.finish(q, null);
        // Yield: other requests and heartbeats get their turn between units.
        if (this.unitDelayMs > 0) await new Promise((r) => setTimeout(r, this.unitDelayMs));
        else await new Promise((r) => setImmediate(r));
      }
    } finally {
      this.running = false;
      if (this.queued > 0) this.kick();
    }
  }

  /** The next query to advance: highest priority, then lanes in turn, then queries in turn. */
  private next(): RunningQuery | null {
    const priorities = [...this.byPriority.keys()].sort((a, b) => b - a);
    for (const p of priorities) {
      const lanes = this.byPriority.get(p)!;
      for (const [lane, list] of lanes) {
        const q = list.shift();
        if (!q) {
          lanes.delete(lane);
          continue;
        }
        // Rotate: the lane goes to the back, and so does the query if it has more work.
        lanes.delete(lane);
        if (q.units.length > 1) list.push(q);
        if (list.length > 0) lanes.set(lane, list);
        if (lanes.size === 0) this.byPriority.delete(p);
        if (q.cancelled || q.units.length === 0) return this.next();
        if (this.now() > q.deadline) {
          this.finish(q, new QueryError('QUERY_TIMEOUT', `query ${q.id} timed out after ${q.query.context.timeout} ms`));
          return this.next();
        }
        return q;
      }
      this.byPriority.delete(p);
    }
    return null;
  }

  private async runUnit(q: RunningQuery, segmentId: string): Promise<void> {
    let segment: LoadedSegment | null;
    try {
      segment = await this.segments.get(segmentId);
    } catch (err) {
      // The store failed in a way it does not handle itself: this query fails, the loop goes on.
      return this.finish(q, toQueryError(err));
    }
    if (q.cancelled) return;
    if (!segment) {
      q.missing.push(segmentId);
      return;
    }
    this.segmentQueries.set(segmentId, (this.segmentQueries.get(segmentId) ?? 0) + 1);
    try {
      const options = { isCancelled: () => q.cancelled, deadlineMs: q.deadline === Infinity ? undefined : q.deadline, now: this.now };
      // A segment the accumulator declines (its key space or memory budget is full) is answered alone.
      if (q.acc?.add(segment, options)) q.folded.push(segmentId);
      else q.partials.push({ segmentId, partial: runOnSegment(q.query, segment, options) });
      this.unitsRun++;
    } catch (err) {
      this.finish(q, err as Error);
    }
  }

  private finish(q: RunningQuery, err: Error | null): void {
    if (this.queries.get(q.id) !== q) return;
    this.queries.delete(q.id);
    q.cancelled = true;
    this.queued -= q.units.length;
    q.units.length = 0;
    if (err) {
      q.acc?.dispose();
      return q.reject(err);
    }
    if (!q.acc) return q.resolve({ queryId: q.id, partials: q.partials, missing: q.missing });
    // partial() gives the accumulator's memory back; with nothing folded, dispose() does.
    if (q.folded.length === 0) {
      q.acc.dispose();
      return q.resolve({ queryId: q.id, partials: q.partials, missing: q.missing });
    }
    let partial: PartialResult;
    try {
      partial = q.acc.partial();
    } catch (e) {
      q.acc.dispose();
      return q.reject(toQueryError(e));
    }
    q.resolve({ queryId: q.id, partials: q.partials, folded: { segmentIds: q.folded, partial }, missing: q.missing });
  }
}
