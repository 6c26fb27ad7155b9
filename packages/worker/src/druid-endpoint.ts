import type { Hono } from 'hono';
import { QueryError } from '@cairn/shared';
import type { CairnClient } from '@cairn/client';

/** Bytes of the response-context header at most: Druid truncates it too. */
const RESPONSE_CONTEXT_BYTES_MAX = 7 * 1024;

/**
 * Druid's native query endpoint on every worker: `POST /druid/v2` runs the client's fan-out from
 * here (the worker acts as the broker), so curl and existing Druid clients can query Cairn through
 * any worker and get the same answer through each. `?pretty` indents the JSON; errors come in
 * Druid's shape and status codes (400 bad query, 429 over capacity, 504 timeout); a partial answer
 * the caller allowed lists the missing segments and uncovered intervals in the
 * `X-Druid-Response-Context` header; `DELETE /druid/v2/{queryId}` cancels.
 */
export function druidEndpoint(app: Hono, client: CairnClient, host: string): void {
  const fail = (err: unknown) => {
    const e = err instanceof QueryError ? err : new QueryError('INTERNAL', err instanceof Error ? err.message : String(err));
    return new Response(JSON.stringify(e.toDruid(host)), { status: e.status, headers: { 'content-type': 'application/json' } });
  };

  app.post('/druid/v2', async (c) => {
    let raw: unknown;
    try {
      raw = await c.req.json();
    } catch (err) {
      return fail(new QueryError('INVALID_QUERY', `the body is not JSON: ${(err as Error).message}`));
    }
    try {
      const answer = await client.queryWithContext(raw);
      const pretty = c.req.query('pretty') !== undefined;
      const headers: Record<string, string> = { 'content-type': 'application/json', 'x-druid-query-id': answer.queryId };
      if (answer.context.missingSegments.length > 0) {
        let context = JSON.stringify(answer.context);
        if (context.length > RESPONSE_CONTEXT_BYTES_MAX) {
          context = JSON.stringify({ ...answer.context, missingSegments: answer.context.missingSegments.slice(0, 50), truncated: true });
        }
        headers['x-druid-response-context'] = context;
      }
      return new Response(pretty ? `${JSON.stringify(answer.results, null, 2)}\n` : JSON.stringify(answer.results), { status: 200, headers });
    } catch (err) {
      return fail(err);
    }
  });

  app.delete('/druid/v2/:queryId', (c) => {
    const cancelled = client.cancel(c.req.param('queryId'));
    return c.body(null, cancelled ? 202 : 404);
  });
}
