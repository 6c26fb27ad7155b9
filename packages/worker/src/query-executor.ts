import { QueryError, toQueryError } from '@cairn/shared';
import type { LoadedSegment, PartialResult, Query } from '@cairn/shared';
import { runOnSegment, SegmentsAccumulator } from './engine/index.js';

/** Per-segment units waiting to run on this worker, in all queries together. */
export const QUEUED_UNITS_MAX = 100_000;
/**
 * Units one query may queue here: a fifth of the global bound, so five queries of the largest size
 * fit at once and one request cannot fill the queue and turn every other query away with 429s.
 * The client sends all of a query's segments on a worker in one request (it does not split them),
 * and a query over 10,000 segments on one worker is a case we serve (bench/worker-restart.ts):
 * twice that leaves room.
 */
export const QUERY_UNITS_MAX = 20_000;
/** Druid's default query timeout (`druid.server.http.defaultQueryTimeout`), for a context that gives none. */
export const QUERY_TIMEOUT_DEFAULT_MS = 300_000;
/**
 * Bytes of JSON a query's answer may come to here, like Druid's `maxScatterGatherBytes`: past it the
 * query fails at once instead of holding its partials until memory or V8's string length runs out.
 */
export const RESPONSE_BYTES_MAX = 128 << 20;
/** The longest delay setTimeout takes; a longer one fires after 1 ms. */
const TIMER_MS_MAX = 2 ** 31 - 1;

export interface ExecutorLimits {
  readonly queryUnitsMax: number;
  readonly responseBytesMax: number;
}

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
  readonly timeoutMs: number;
  readonly units: string[];
  readonly partials: { segmentId: string; partial: PartialResult }[];
  readonly missing: string[];
  /** With `merge`, for the queries it covers: the segments folded so far and their states. */
  readonly acc: SegmentsAccumulator | null;
  readonly folded: string[];
  /** JSON bytes of `partials` so far, against `responseBytesMax`. */
  bytes: number;
  /** Fails the query at its deadline even while other queries' units hold the loop. */
  timer: NodeJS.Timeout | null;
  /** Stops listening to the caller's abort signal. */
  detach: (() => void) | null;
  cancelled: boolean;
  resolve(a: SegmentsAnswer): void;
  reject(e: Error): void;
}

/**
 * Runs per-segment units of work on a bounded priority queue: higher `priority` first, and
 * round-robin among the queries of one priority (each lane taking turns before its queries do), so
 * a query over ten thousand segments cannot starve a small one that arrives after it. Units run
 * one at a time on the event loop, yielding between units, so heartbeats and new requests are
 * never blocked for longer than one segment's work. `timeout` (Druid's 300 s when the context has
 * none) bounds a query: a timer fails it at its deadline, and the engine's loops check it too;
 * `cancel(queryId)` and the caller's abort signal drop its remaining units at once. A query may
 * queue at most `queryUnitsMax` units, and its partials may come to at most `responseBytesMax`.
 */
export class QueryExecutor {
  private readonly byPriority = new Map<number, Map<string, RunningQuery[]>>();
  private readonly queries = new Map<string, RunningQuery>();
  private queued = 0;
  private running = false;
  unitsRun = 0;
  readonly latenciesMs: number[] = [];
  readonly segmentQueries = new Map<string, number>();
  readonly queryUnitsMax: number;
  readonly responseBytesMax: number;

  constructor(
    private readonly segments: SegmentSource,
    private readonly now: () => number = Date.now,
    /** Fault injection for tests: a pause after each unit, making queries slow on purpose. */
    private readonly unitDelayMs = 0,
    limits: Partial<ExecutorLimits> = {},
  ) {
    this.queryUnitsMax = limits.queryUnitsMax ?? QUERY_UNITS_MAX;
    this.responseBytesMax = limits.responseBytesMax ?? RESPONSE_BYTES_MAX;
  }

  get queuedUnits(): number {
    return this.queued;
  }

  /**
   * Answers `query` over `segmentIds`; rejects with a QueryError (timeout, cancel, overload).
   * With `merge` (the caller takes one partial for all), segments of a query the accumulator
   * covers are folded into one set of states instead of a partial each. `signal` (the request's)
   * cancels the query when the caller goes away.
   */
  run(queryId: string, query: Query, segmentIds: readonly string[], options: { merge?: boolean; signal?: AbortSignal } = {}): Promise<SegmentsAnswer> {
    if (segmentIds.length > this.queryUnitsMax) {
      return Promise.reject(new QueryError('RESOURCE_LIMIT', `segmentIds: ${segmentIds.length} segments in one query; a worker queues at most ${this.queryUnitsMax} per query (queryUnitsMax), so that other queries always fit: split the request`));
    }
    if (this.queued + segmentIds.length > QUEUED_UNITS_MAX) {
      return Promise.reject(new QueryError('QUERY_CAPACITY_EXCEEDED', `this worker has ${this.queued} segment units queued (at most ${QUEUED_UNITS_MAX}); retry later or on another replica`));
    }
    if (this.queries.has(queryId)) return Promise.reject(new QueryError('INVALID_QUERY', `queryId ${queryId} is already running on this worker`));
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(new QueryError('QUERY_CANCELLED', `query ${queryId} was cancelled: its request was aborted`));
    const started = this.now();
    // As in Druid, 0 means no timeout.
    const timeout = query.context.timeout ?? QUERY_TIMEOUT_DEFAULT_MS;
    return new Promise<SegmentsAnswer>((resolve, reject) => {
      const q: RunningQuery = {
        id: queryId,
        query,
        priority: query.context.priority ?? 0,
        lane: query.context.lane ?? '',
        deadline: timeout > 0 ? started + timeout : Infinity,
        timeoutMs: timeout,
        units: [...new Set(segmentIds)],
        partials: [],
        missing: [],
        acc: options.merge === true ? SegmentsAccumulator.for(query) : null,
        folded: [],
        bytes: 0,
        timer: null,
        detach: null,
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
      // A longer timeout than a timer can take is left to the checks in next() and the engine.
      if (timeout > 0 && timeout <= TIMER_MS_MAX) {
        q.timer = setTimeout(() => this.finish(q, new QueryError('QUERY_TIMEOUT', `query ${queryId} timed out after ${timeout} ms`)), timeout);
      }
      if (signal) {
        const onAbort = () => this.finish(q, new QueryError('QUERY_CANCELLED', `query ${queryId} was cancelled: its request was aborted`));
        signal.addEventListener('abort', onAbort, { once: true });
        q.detach = () => signal.removeEventListener('abort', onAbort);
      }
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
    // A loop that fails (a bug) must neither reject unhandled, which ends the process, nor leave
    // queries waiting forever: the queries queued here fail with its error instead.
    setImmediate(() => this.loop().catch((err: unknown) => this.failAll(err)));
  }

  private async loop(): Promise<void> {
    try {
      for (;;) {
        const q = this.next();
        if (!q) return;
        const segmentId = q.units.shift()!;
        this.queued--;
        try {
          await this.runUnit(q, segmentId);
          if (q.units.length === 0 && this.queries.get(q.id) === q) this.finish(q, null);
        } catch (err) {
          // Whatever escapes a unit fails its query only; the loop goes on with the others.
          this.finish(q, toQueryError(err));
        }
        // Yield: other requests and heartbeats get their turn between units.
        if (this.unitDelayMs > 0) await new Promise((r) => setTimeout(r, this.unitDelayMs));
        else await new Promise((r) => setImmediate(r));
      }
    } finally {
      this.running = false;
      if (this.queued > 0) this.kick();
    }
  }

  private failAll(err: unknown): void {
    const e = toQueryError(err);
    for (const q of [...this.queries.values()]) this.finish(q, e);
  }

  /**
   * The next query to advance: highest priority, then lanes in turn, then queries in turn. A loop,
   * not recursion: each turn takes a query or an empty lane off the queue, however many finished
   * queries it has to pass.
   */
  private next(): RunningQuery | null {
    for (;;) {
      let p = -Infinity;
      for (const k of this.byPriority.keys()) if (k > p) p = k;
      const lanes = this.byPriority.get(p);
      if (!lanes) return null;
      const first = lanes.entries().next();
      if (first.done) {
        this.byPriority.delete(p);
        continue;
      }
      const [lane, list] = first.value;
      const q = list.shift();
      // Rotate: the lane goes to the back, and so does the query if it has more work.
      lanes.delete(lane);
      if (q && q.units.length > 1) list.push(q);
      if (list.length > 0) lanes.set(lane, list);
      if (lanes.size === 0) this.byPriority.delete(p);
      if (!q || q.cancelled || q.units.length === 0) continue;
      if (this.now() > q.deadline) {
        this.finish(q, new QueryError('QUERY_TIMEOUT', `query ${q.id} timed out after ${q.timeoutMs} ms`));
        continue;
      }
      return q;
    }
  }

  /** Takes a finished query off its lane, so the queue holds neither it nor its partials. */
  private dequeue(q: RunningQuery): void {
    const lanes = this.byPriority.get(q.priority);
    const list = lanes?.get(q.lane);
    if (!lanes || !list) return;
    const i = list.indexOf(q);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) lanes.delete(q.lane);
    if (lanes.size === 0) this.byPriority.delete(q.priority);
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
      else {
        const partial = runOnSegment(q.query, segment, options);
        // Counted as each partial arrives, so an answer too large to send fails now, not after
        // every segment has run (the folded partial is checked when the response is built).
        q.bytes += jsonBytes(partial);
        if (q.bytes > this.responseBytesMax) {
          return this.finish(q, new QueryError('RESOURCE_LIMIT', `query ${q.id}: its partial results come to more than ${this.responseBytesMax} bytes (responseBytesMax, like Druid's maxScatterGatherBytes); narrow the intervals or the filter, or set a limit`));
        }
        q.partials.push({ segmentId, partial });
      }
      this.unitsRun++;
    } catch (err) {
      this.finish(q, toQueryError(err));
    }
  }

  private finish(q: RunningQuery, err: Error | null): void {
    if (this.queries.get(q.id) !== q) return;
    this.queries.delete(q.id);
    q.cancelled = true;
    this.queued -= q.units.length;
    q.units.length = 0;
    if (q.timer) clearTimeout(q.timer);
    q.detach?.();
    this.dequeue(q);
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

/** Bytes of `partial` as JSON; more than any bound when it is past V8's longest string. */
function jsonBytes(partial: PartialResult): number {
  try {
    return Buffer.byteLength(JSON.stringify(partial));
  } catch (err) {
    if (err instanceof RangeError) return Infinity;
    throw err;
  }
}
