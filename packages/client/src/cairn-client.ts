import { randomUUID } from 'node:crypto';
import { formatInstant, finalizeResult, mergePartials, parseQuery, QueryError } from '@cairn/shared';
import type { Rule, RuleInput } from '@cairn/shared';
import { loadClusterConfig } from '@cairn/shared/config';
import { MetaClient } from './meta-client.js';
import type { MetaMemberRef } from './meta-client.js';
import { DEFAULT_FANOUT, FanOut } from './query/fanout.js';
import type { FanOutOptions, FanOutStats } from './query/fanout.js';
import { DEFAULT_LATENCY, LatencyTracker } from './query/latency.js';
import type { LatencyOptions } from './query/latency.js';
import { TimelineView } from './query/timeline-view.js';
import type { ServedSegment } from './query/timeline-view.js';
import { GatherBudget, SCATTER_GATHER_BYTES_DEFAULT } from './query/worker-http.js';

export interface CairnClientOptions {
  /** The metadata group: member URLs (ids are derived), or members as the cluster file lists them. */
  readonly metaUrls?: readonly string[];
  readonly members?: readonly MetaMemberRef[];
  readonly token: string;
  /** This client's datacenter: replicas there are preferred. */
  readonly dc?: string;
  readonly timelineRefreshMs?: number;
  readonly fanout?: Partial<FanOutOptions>;
  readonly latency?: Partial<LatencyOptions>;
}

/** Druid's response context: what a partial answer left out (the caller allowed it). */
export interface ResponseContext {
  missingSegments: string[];
  uncoveredIntervals: string[];
  uncoveredIntervalsOverflowed: boolean;
}

export interface QueryAnswer {
  readonly results: unknown[];
  readonly context: ResponseContext;
  readonly queryId: string;
}

/** Context key letting a query answer without the segments no replica could serve. */
export const ALLOW_PARTIAL_KEY = 'allowPartialResults';

/**
 * Cairn's TypeScript client. It keeps a cached view of the timeline, fans native Druid queries out
 * to the workers serving each segment (same datacenter first, then the lowest recent latency,
 * skipping workers on probation), hedges slow requests within a budget, retries what fails on other
 * replicas, and merges the partial results exactly as the engine would. It never answers
 * silently partially: segments no replica could serve fail the query, naming them, unless the
 * query's context sets `allowPartialResults`, in which case the response context lists them.
 *
 * @example
 * const client = CairnClient.fromClusterFile('cluster.json');
 * const rows = await client.query({ queryType: 'timeseries', dataSource: 'events', intervals: ['2024-01-01/2024-02-01'], granularity: 'day', aggregations: [{ type: 'count', name: 'rows' }] });
 */
export class CairnClient {
  readonly meta: MetaClient;
  readonly timeline: TimelineView;
  readonly latency: LatencyTracker;
  readonly fanout: FanOut;
  private readonly running = new Map<string, AbortController>();

  constructor(o: CairnClientOptions) {
    const members = o.members ?? (o.metaUrls ?? []).map((url, i) => ({ id: `meta${i}`, url: url.replace(/\/$/, '') }));
    this.meta = new MetaClient(members, o.token);
    this.timeline = new TimelineView(this.meta, o.timelineRefreshMs ?? 1000);
    this.latency = new LatencyTracker({ ...DEFAULT_LATENCY, ...o.latency });
    this.fanout = new FanOut(this.timeline, this.latency, { ...DEFAULT_FANOUT, dc: o.dc ?? null, ...o.fanout });
  }

  /** A client for the deployment a cluster file describes (its token, or CAIRN_TOKEN). */
  static fromClusterFile(path: string, extra: Partial<CairnClientOptions> = {}): CairnClient {
    const config = loadClusterConfig(path);
    return new CairnClient({ members: config.meta, token: config.auth.token, ...extra });
  }

  get stats(): FanOutStats {
    return this.fanout.stats;
  }

  /** Runs a native Druid query and returns Druid's response (the array of results). */
  async query(raw: unknown): Promise<unknown[]> {
    return (await this.queryWithContext(raw)).results;
  }

  /**
   * Like `query`, with Druid's response context (missing segments of an allowed partial answer).
   * `caller` aborting (a broker's client went away) cancels the query as `cancel` does.
   */
  async queryWithContext(raw: unknown, options: { caller?: AbortSignal } = {}): Promise<QueryAnswer> {
    const q = parseQuery(raw);
    const queryId = q.context.queryId ?? randomUUID();
    const rawObj = { ...(raw as Record<string, unknown>) };
    const ac = new AbortController();
    if (this.running.has(queryId)) throw new QueryError('INVALID_QUERY', `queryId ${queryId} is already running`);
    this.running.set(queryId, ac);
    const { caller } = options;
    const onCallerGone = () => ac.abort(new QueryError('QUERY_CANCELLED', `query ${queryId} was cancelled: its caller went away`));
    if (caller?.aborted) onCallerGone();
    else caller?.addEventListener('abort', onCallerGone, { once: true });
    const timeout = q.context.timeout ?? 0;
    const started = Date.now();
    const timer = timeout > 0 ? setTimeout(() => ac.abort(new QueryError('QUERY_TIMEOUT', `query ${queryId} timed out after ${timeout} ms`)), timeout) : null;
    try {
      // The fan-out aborts its requests and cancels them on their workers when `ac` aborts.
      const ctx = {
        queryId,
        signal: ac.signal,
        timeoutMs: () => (timeout > 0 ? Math.max(1, timeout - (Date.now() - started)) : 0),
        budget: new GatherBudget(q.context.maxScatterGatherBytes ?? SCATTER_GATHER_BYTES_DEFAULT, queryId),
      };
      let segments = await untilAborted(this.timeline.segments(q.dataSource, q.intervals), ac.signal);
      let { partials, unresolved } = await this.fanout.collect(q, rawObj, segments, ctx);
      if (unresolved.length > 0 && !ac.signal.aborted) {
        // Assignments may have moved: look again, once, before giving up on them.
        this.timeline.invalidate(q.dataSource);
        const ids = new Set(unresolved.map((s) => s.id));
        segments = (await untilAborted(this.timeline.segments(q.dataSource, q.intervals), ac.signal)).filter((s) => ids.has(s.id));
        const again = await this.fanout.collect(q, rawObj, segments, ctx);
        partials = [...partials, ...again.partials];
        unresolved = [...unresolved.filter((s) => !segments.some((x) => x.id === s.id)), ...again.unresolved];
      }
      if (ac.signal.aborted) throw ac.signal.reason instanceof Error ? ac.signal.reason : new QueryError('QUERY_CANCELLED', `query ${queryId} was cancelled`);
      const context: ResponseContext = { missingSegments: unresolved.map((s) => s.id).sort(), uncoveredIntervals: uncovered(unresolved), uncoveredIntervalsOverflowed: false };
      if (unresolved.length > 0 && q.context[ALLOW_PARTIAL_KEY] !== true) {
        throw new QueryError('SEGMENTS_UNAVAILABLE', `no replica could answer ${unresolved.length} segment(s): ${context.missingSegments.slice(0, 10).join(', ')}${unresolved.length > 10 ? ', ...' : ''} (set context.${ALLOW_PARTIAL_KEY} to accept a partial answer)`);
      }
      const results = finalizeResult(q, mergePartials(q, partials)) as unknown[];
      return { results, context, queryId };
    } catch (err) {
      if (ac.signal.aborted && ac.signal.reason instanceof QueryError) throw ac.signal.reason;
      throw err;
    } finally {
      if (timer) clearTimeout(timer);
      caller?.removeEventListener('abort', onCallerGone);
      this.running.delete(queryId);
    }
  }

  /** Cancels a running query: its requests are aborted and every worker told to drop its work. */
  cancel(queryId: string): boolean {
    const ac = this.running.get(queryId);
    if (!ac) return false;
    ac.abort(new QueryError('QUERY_CANCELLED', `query ${queryId} was cancelled`));
    return true;
  }

  // ---------------------------------------------------------------- admin

  datasources(): Promise<{ datasources: unknown[] }> {
    return this.meta.get('/v1/datasources');
  }

  segments(params: { dataSource?: string; interval?: string; includeUnused?: boolean; includeOvershadowed?: boolean } = {}): Promise<{ segments: unknown[]; total: number }> {
    const qs = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)] as [string, string]));
    return this.meta.get(`/v1/segments${qs.size > 0 ? `?${qs}` : ''}`);
  }

  rules(dataSource: string): Promise<Rule[]> {
    return this.meta.get(`/v1/rules/${encodeURIComponent(dataSource)}`);
  }

  setRules(dataSource: string, rules: readonly RuleInput[]): Promise<{ ok: boolean; changed: boolean }> {
    return this.meta.request('PUT', `/v1/rules/${encodeURIComponent(dataSource)}`, rules, { idempotent: true });
  }

  workers(): Promise<{ workers: unknown[] }> {
    return this.meta.get('/v1/workers');
  }

  setWorkerState(id: string, state: 'active' | 'decommissioning'): Promise<{ ok: boolean }> {
    return this.meta.request('POST', `/v1/workers/${encodeURIComponent(id)}/state`, { state }, { idempotent: true });
  }

  coordinatorStatus(): Promise<Record<string, unknown>> {
    return this.meta.get('/v1/coordinator/status');
  }

  coordinatorConfig(): Promise<Record<string, unknown>> {
    return this.meta.get('/v1/coordinator/config');
  }

  setCoordinatorConfig(config: Record<string, number | boolean | null>): Promise<{ ok: boolean; changed: boolean }> {
    return this.meta.request('POST', '/v1/coordinator/config', config, { idempotent: true });
  }

  /** Every meta member's own status (unreachable members are reported as such). */
  async metaStatus(): Promise<{ id: string; url: string; status: Record<string, unknown> | null; error?: string }[]> {
    return Promise.all(this.meta.members.map(async (m) => {
      try {
        const res = await fetch(`${m.url}/v1/status`, { signal: AbortSignal.timeout(2000) });
        return { id: m.id, url: m.url, status: (await res.json()) as Record<string, unknown> };
      } catch (err) {
        return { id: m.id, url: m.url, status: null, error: (err as Error).message };
      }
    }));
  }
}

/** The intervals of the segments left out (their visible stretches), merged where they touch (ISO `start/end`). */
function uncovered(segments: readonly ServedSegment[]): string[] {
  const spans = segments.flatMap((s) => (s.visible ?? [s]).map((v) => [v.start, v.end] as const)).sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [s, e] of spans) {
    const last = out[out.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out.map(([s, e]) => `${formatInstant(s)}/${formatInstant(e)}`);
}

/**
 * `p`, or `signal`'s reason as soon as it aborts. The work behind `p` goes on (a timeline fetch
 * serves other queries too); only this caller stops waiting for it.
 */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      p.catch(() => {}); // its failure is no longer this caller's
      reject(signal.reason as Error);
      return;
    }
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
