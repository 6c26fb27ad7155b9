import { Hono } from 'hono';
import { declaredBodyLimit } from '@cairn/shared/http';
import { mergePartials, parseQuery, QueryError, withoutDicts } from '@cairn/shared';
import type { PartialResult, Query } from '@cairn/shared';
import type { QueryExecutor } from './query-executor.js';
import type { WorkerMetrics } from './worker-metrics.js';

/** Bytes of a query's body at most, on /v1 and /druid/v2 alike. */
export const QUERY_BODY_BYTES_MAX = 16 << 20;

export interface WorkerAppDeps {
  readonly id: string;
  readonly executor: QueryExecutor;
  readonly metrics: WorkerMetrics;
  readonly status: () => Record<string, unknown>;
  /** Extra routes mounted by later layers (the Druid query endpoint). */
  readonly extend?: (app: Hono) => void;
}

let querySeq = 0;

/**
 * A worker's HTTP face: per-segment queries for the client's fan-out, cancellation, health,
 * status and Prometheus metrics. Errors come in Druid's shape (`{error, errorMessage,
 * errorClass, host}`) with Druid's status codes.
 */
export function workerApp(d: WorkerAppDeps): Hono {
  const app = new Hono();
  const fail = (err: unknown) => {
    const e = err instanceof QueryError ? err : new QueryError('INTERNAL', err instanceof Error ? err.message : String(err));
    return new Response(JSON.stringify(e.toDruid(d.id)), { status: e.status, headers: { 'content-type': 'application/json' } });
  };
  // The rest of an oversized body is never read, so its connection cannot carry another request:
  // close it, or a keep-alive client reuses it and its next request fails with "other side closed".
  const tooLarge = () => {
    const r = fail(new QueryError('INVALID_QUERY', `the body is larger than ${QUERY_BODY_BYTES_MAX} bytes`));
    r.headers.set('connection', 'close');
    return r;
  };
  // The executor bounds partials as they arrive; this bounds what they became (the folded partial,
  // values in place of dictionary codes) before it is sent.
  const respond = (body: unknown): Response => {
    const tooBig = () => new QueryError('RESOURCE_LIMIT', `the answer comes to more than ${d.executor.responseBytesMax} bytes (responseBytesMax, like Druid's maxScatterGatherBytes); narrow the intervals or the filter, or set a limit`);
    let text: string;
    try {
      text = JSON.stringify(body);
    } catch (err) {
      // Past V8's longest string.
      if (err instanceof RangeError) throw tooBig();
      throw err;
    }
    if (Buffer.byteLength(text) > d.executor.responseBytesMax) throw tooBig();
    return new Response(text, { status: 200, headers: { 'content-type': 'application/json' } });
  };
  app.onError((err) => fail(err));
  app.notFound((c) => c.json({ error: 'Not found', errorMessage: `no route for ${c.req.method} ${c.req.path}`, errorClass: 'NotFound', host: d.id }, 404));

  app.post('/v1/segments/query', declaredBodyLimit(QUERY_BODY_BYTES_MAX, () => tooLarge()), async (c) => {
    let json: unknown;
    try {
      json = await c.req.json();
    } catch (err) {
      throw new QueryError('INVALID_QUERY', `the body is not JSON: ${(err as Error).message}`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new QueryError('INVALID_QUERY', 'the body must be a JSON object {query, segmentIds}');
    const body = json as { query?: unknown; segmentIds?: unknown; merge?: unknown; dicts?: unknown };
    const ids = body.segmentIds;
    // Their number is bounded by the executor (queryUnitsMax), which refuses a request over it.
    if (!Array.isArray(ids) || !ids.every((x) => typeof x === 'string')) throw new QueryError('INVALID_QUERY', 'segmentIds: must be an array of segment ids');
    const query: Query = parseQuery(body.query);
    const queryId = query.context.queryId ?? `${d.id}-${++querySeq}`;
    const started = performance.now();
    try {
      const merge = body.merge === true;
      // A client that goes away (or a caller that aborts) cancels the query's remaining units.
      const answer = await d.executor.run(queryId, query, ids as string[], { merge, signal: c.req.raw.signal });
      // Partials answered alone (one segment each) and the folded one, if any.
      const pieces = [...answer.partials.map((p) => ({ segmentIds: [p.segmentId], partial: p.partial })), ...(answer.folded ? [answer.folded] : [])];
      const segmentIds = pieces.flatMap((p) => p.segmentIds);
      // Dictionary-encoded dimensions only for callers that read them; older ones get values.
      const encode = body.dicts === true ? (p: PartialResult) => p : withoutDicts;
      let response: Response;
      // Without `merge` (older clients; nothing is folded then) and for one segment: one partial per segment.
      if (!merge || segmentIds.length < 2) {
        response = respond({ queryId: answer.queryId, partials: pieces.map((p) => ({ segmentId: p.segmentIds[0]!, partial: encode(p.partial) })), missing: answer.missing });
      } else {
        // One partial for all the segments answered: per-segment partials of a groupBy over many
        // segments are megabytes of JSON that the caller would only merge anyway.
        const partial = pieces.length === 1 ? pieces[0]!.partial : mergePartials(query, pieces.map((p) => p.partial));
        response = respond({ queryId: answer.queryId, partials: [{ segmentIds, partial: encode(partial) }], missing: answer.missing });
      }
      d.metrics.observeQuery(query.queryType, 'ok', (performance.now() - started) / 1000, segmentIds.length, answer.missing.length);
      return response;
    } catch (err) {
      d.metrics.observeQuery(query.queryType, err instanceof QueryError ? err.code : 'INTERNAL', (performance.now() - started) / 1000, 0, 0);
      throw err;
    }
  });

  app.delete('/v1/queries/:queryId', (c) => {
    const cancelled = d.executor.cancel(c.req.param('queryId'));
    return c.json({ queryId: c.req.param('queryId'), cancelled }, cancelled ? 202 : 404);
  });

  app.get('/health', (c) => c.json({ ok: true }));
  app.get('/v1/status', (c) => c.json(d.status()));
  app.get('/metrics', async (c) => c.body(await d.metrics.registry.metrics(), 200, { 'content-type': d.metrics.registry.contentType }));
  d.extend?.(app);
  return app;
}
