import type { Context, MiddlewareHandler } from 'hono';
import type { MetaMember } from '../node/cluster-config.js';
import { errorBody } from './errors.js';

export const FORWARDED_HEADER = 'x-cairn-forwarded-by';
const FORWARD_TIMEOUT_MS = 10_000;

/**
 * Writes go to the leader. A follower relays a write it receives to the leader it knows and
 * returns the leader's answer; a request that was already relayed once is never relayed again
 * (leadership moved meanwhile): it gets 503 NOT_LEADER with the new leader, and the client retries.
 * A relay that fails after the request may have reached the leader answers 504: outcome unknown.
 */
export function forwardWritesToLeader(
  self: MetaMember,
  members: readonly MetaMember[],
  state: () => { role: string; leader: string },
  isWrite: (method: string, path: string) => boolean,
): MiddlewareHandler {
  return async (c, next) => {
    if (!isWrite(c.req.method, c.req.path)) return next();
    const { role, leader } = state();
    if (role === 'leader') return next();
    if (!leader) return c.json(errorBody('NO_LEADER', 'no leader is known right now (an election is under way); retry shortly'), 503);
    const target = members.find((m) => m.id === leader);
    if (!target || c.req.header(FORWARDED_HEADER)) {
      return c.json(errorBody('NOT_LEADER', `this node is not the leader; ${leader} is`, leader), 503);
    }
    return relay(c, target, self.id);
  };
}

async function relay(c: Context, target: MetaMember, selfId: string): Promise<Response> {
  const url = new URL(c.req.url);
  const dest = `${target.url.replace(/\/$/, '')}${url.pathname}${url.search}`;
  const headers: Record<string, string> = { [FORWARDED_HEADER]: selfId };
  for (const h of ['authorization', 'content-type']) {
    const v = c.req.header(h);
    if (v) headers[h] = v;
  }
  const body = c.req.method === 'GET' || c.req.method === 'HEAD' ? undefined : await c.req.arrayBuffer();
  try {
    const res = await fetch(dest, { method: c.req.method, headers, body, signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS) });
    const out = new Headers();
    const type = res.headers.get('content-type');
    if (type) out.set('content-type', type);
    out.set(FORWARDED_HEADER, target.id);
    return new Response(await res.arrayBuffer(), { status: res.status, headers: out });
  } catch (err) {
    // Only a refused connection proves the leader never saw the request: then the write had no
    // effect and 503 NOT_LEADER (retry) is the truth. Any other failure (a timeout, a reset or a
    // close while waiting for the answer) can come after the leader applied the write, so its
    // outcome is unknown: 504 TIMEOUT, like a write that was not confirmed in time. (This used
    // to answer 503 NOT_LEADER for every failure, telling clients a write that may have been
    // applied certainly was not.)
    const why = describeFetchError(err);
    if (connectionRefused(err)) return c.json(errorBody('NOT_LEADER', `could not reach the leader ${target.id}: ${why}; retry`, target.id), 503);
    return c.json(errorBody('TIMEOUT', `the leader ${target.id} did not answer the relayed write (${why}); its outcome is unknown`, target.id), 504);
  }
}

/** Whether a fetch failed because the TCP connection was refused (nothing was sent). */
function connectionRefused(err: unknown): boolean {
  const cause = (err as { cause?: { code?: string; errors?: { code?: string }[] } } | null)?.cause;
  if (!cause) return false;
  if (cause.code === 'ECONNREFUSED') return true;
  return Array.isArray(cause.errors) && cause.errors.length > 0 && cause.errors.every((e) => e.code === 'ECONNREFUSED');
}

function describeFetchError(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return cause ? `${e.message ?? String(err)} (${cause})` : (e.message ?? String(err));
}
