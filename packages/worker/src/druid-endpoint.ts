import type { Context, Hono } from 'hono';
import { declaredBodyLimit } from '@cairn/shared/http';
import { QueryError } from '@cairn/shared';
import type { CairnClient, ResponseContext } from '@cairn/client';
import { QUERY_TIMEOUT_DEFAULT_MS } from './query-executor.js';
import { QUERY_BODY_BYTES_MAX } from './worker-app.js';

/** Bytes of the response-context header at most: Druid truncates it too. */
const RESPONSE_CONTEXT_BYTES_MAX = 7 * 1024;
/** Druid's default `uncoveredIntervalsLimit`: uncovered intervals listed at most, unless the context says otherwise. */
const UNCOVERED_INTERVALS_LIMIT_DEFAULT = 10;
/** Characters of a query id echoed in `X-Druid-Query-Id` at most: a longer one would make the response's headers too large for clients (Node's parser stops at 16 KiB). */
const QUERY_ID_HEADER_CHARS_MAX = 1024;

/**
 * Druid's native query endpoint on every worker: `POST /druid/v2` (and `/druid/v2/`, the URL
 * Druid documents) runs the client's fan-out from here (the worker acts as the broker), so curl
 * and existing Druid clients can query Cairn through any worker and get the same answer through
 * each. `?pretty` indents the JSON; errors come in Druid's shape and status codes (400 bad query,
 * 429 over capacity, 504 timeout); a query without `timeout` gets Druid's default (300 s); a
 * partial answer the caller allowed lists the missing segments and uncovered intervals in the
 * `X-Druid-Response-Context` header; `DELETE /druid/v2/{queryId}` cancels, and so does the
 * caller closing its connection before the answer.
 */
export function druidEndpoint(app: Hono, client: CairnClient, host: string): void {
  const fail = (err: unknown) => {
    const e = err instanceof QueryError ? err : new QueryError('INTERNAL', err instanceof Error ? err.message : String(err));
    return new Response(JSON.stringify(e.toDruid(host)), { status: e.status, headers: { 'content-type': 'application/json' } });
  };
  // As on /v1: the unread rest of an oversized body cannot carry another request, so close it.
  const tooLarge = () => {
    const r = fail(new QueryError('INVALID_QUERY', `the body is larger than ${QUERY_BODY_BYTES_MAX} bytes`));
    r.headers.set('connection', 'close');
    return r;
  };

  const query = async (c: Context) => {
    let raw: unknown;
    try {
      raw = await c.req.json();
    } catch (err) {
      return fail(new QueryError('INVALID_QUERY', `the body is not JSON: ${(err as Error).message}`));
    }
    try {
      // A caller that goes away (closes the connection) cancels the query on every worker.
      const answer = await client.queryWithContext(withDefaultTimeout(raw), { caller: c.req.raw.signal });
      const pretty = c.req.query('pretty') !== undefined;
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      const queryId = headerSafe(answer.queryId);
      if (queryId.length <= QUERY_ID_HEADER_CHARS_MAX) headers['x-druid-query-id'] = queryId;
      if (answer.context.missingSegments.length > 0) headers['x-druid-response-context'] = responseContextHeader(answer.context, uncoveredIntervalsLimit(raw));
      return new Response(pretty ? `${JSON.stringify(answer.results, null, 2)}\n` : JSON.stringify(answer.results), { status: 200, headers });
    } catch (err) {
      return fail(err);
    }
  };
  const limit = declaredBodyLimit(QUERY_BODY_BYTES_MAX, () => tooLarge());
  app.post('/druid/v2', limit, query);
  app.post('/druid/v2/', limit, query);

  app.delete('/druid/v2/:queryId', (c) => {
    const cancelled = client.cancel(c.req.param('queryId'));
    return c.body(null, cancelled ? 202 : 404);
  });
}

/**
 * Druid applies its default timeout to a query whose context has none; so does this endpoint, so a
 * query nobody bounded cannot fan out forever. (0 still means none, as in Druid.) Anything not a
 * query object is passed on untouched, for the parser to refuse.
 */
function withDefaultTimeout(raw: unknown): unknown {
  if (!isObject(raw)) return raw;
  const context = raw['context'];
  if (context === undefined) return { ...raw, context: { timeout: QUERY_TIMEOUT_DEFAULT_MS } };
  if (!isObject(context) || context['timeout'] !== undefined) return raw;
  return { ...raw, context: { ...context, timeout: QUERY_TIMEOUT_DEFAULT_MS } };
}

function uncoveredIntervalsLimit(raw: unknown): number {
  const limit = isObject(raw) && isObject(raw['context']) ? raw['context']['uncoveredIntervalsLimit'] : undefined;
  return typeof limit === 'number' && Number.isInteger(limit) && limit >= 0 ? limit : UNCOVERED_INTERVALS_LIMIT_DEFAULT;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * Druid accepts any string as a queryId and echoes it in `X-Druid-Query-Id`, its HTTP server
 * (Jetty) writing CR, LF, other control characters and characters past Latin-1 as spaces. The
 * same here, instead of a 500 from the Headers check after the query ran.
 */
function headerSafe(id: string): string {
  return id.replace(/[^\t\x20-\x7e\x80-\xff]/g, ' ');
}

/**
 * The response context as the header carries it: at most `limit` uncovered intervals
 * (`uncoveredIntervalsOverflowed` when there were more, as in Druid), non-ASCII escaped (a header
 * is Latin-1), and within RESPONSE_CONTEXT_BYTES_MAX: past it, the missing segments and then the
 * intervals listed are halved until it fits, and `truncated` says so.
 */
export function responseContextHeader(context: ResponseContext, limit: number): string {
  let segments = context.missingSegments;
  let intervals = context.uncoveredIntervals.slice(0, limit);
  let overflowed = context.uncoveredIntervalsOverflowed || context.uncoveredIntervals.length > limit;
  let truncated = false;
  for (;;) {
    const text = asciiJson({ ...context, missingSegments: segments, uncoveredIntervals: intervals, uncoveredIntervalsOverflowed: overflowed, ...(truncated ? { truncated } : {}) });
    // Ends: with both lists empty the rest is a few dozen bytes.
    if (text.length <= RESPONSE_CONTEXT_BYTES_MAX || (segments.length === 0 && intervals.length === 0)) return text;
    truncated = true;
    if (segments.length > 0) segments = segments.slice(0, Math.floor(segments.length / 2));
    else {
      intervals = intervals.slice(0, Math.floor(intervals.length / 2));
      overflowed = true;
    }
  }
}

/** JSON with every character past ASCII escaped: still the same JSON, and one byte per character. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
