import { Agent, request } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import type { MetaMember } from '../node/cluster-config.js';
import { RaftError } from '../node/raft-node.js';
import { errorBody } from './errors.js';

export const FORWARDED_HEADER = 'x-cairn-forwarded-by';
const FORWARD_TIMEOUT_MS = 10_000;

/**
 * Writes go to the leader. A follower relays a write it receives to the leader it knows and
 * returns the leader's answer; a request that was already relayed once is never relayed again
 * (leadership moved meanwhile): it gets 503 NOT_LEADER with the new leader, and the client retries.
 * A relay that fails after the request may have reached the leader answers 504: outcome unknown.
 *
 * A write (`proposes`) that arrives while no leader is known, or while this leader hands over,
 * is held by the node until a leader is elected (see `RaftNode`): this node then either takes it,
 * or names the new leader, and the write is relayed there as if it had arrived after the election.
 * Only a refusal of the proposal itself (NOT_LEADER: it never entered the log) is relayed so.
 * Likewise, a relayed write that the target refused because leadership moved on is taken here,
 * if this node now leads, or relayed once more to the leader the target names.
 */
export function forwardWritesToLeader(
  self: MetaMember,
  members: readonly MetaMember[],
  state: () => { role: string; leader: string },
  goesToLeader: (method: string, path: string) => boolean,
  proposes: (method: string, path: string) => boolean,
): MiddlewareHandler {
  return async (c, next) => {
    if (!goesToLeader(c.req.method, c.req.path)) return next();
    const forwarded = c.req.header(FORWARDED_HEADER) !== undefined;
    // A leader takes the write; so does a node while no leader is known, holding it until one is.
    const takesHere = (s: { role: string; leader: string }) => s.role === 'leader' || (!s.leader && proposes(c.req.method, c.req.path));
    // Relays to `target`; a refusal naming a third node (leadership moved on meanwhile) goes
    // there once more. `pointsHere`: the refusal named this node, and stands as the answer.
    const relayOn = async (target: MetaMember): Promise<{ res: Response; pointsHere: boolean }> => {
      const res = await relay(c, target, self.id);
      const moved = res.status === 503 ? await movedTo(res, target.id) : '';
      if (moved === self.id) return { res, pointsHere: true };
      const again = members.find((m) => m.id === moved);
      return { res: again ? await relay(c, again, self.id) : res, pointsHere: false };
    };
    // Takes the write here. A refusal naming another node (the write never entered the log: a
    // leader or candidate elsewhere) goes there; and if that node names a third one (the
    // candidate it was sent to lost the election meanwhile), there once more. A relayed request
    // is never relayed again by the node it reaches, so this ends after two hops.
    const takeHere = async (): Promise<void> => {
      await next();
      const moved = c.error instanceof RaftError && c.error.code === 'NOT_LEADER' ? c.error.leader : '';
      const target = members.find((m) => m.id === moved);
      if (!target || target.id === self.id || forwarded) return;
      c.res = (await relayOn(target)).res;
    };
    const now = state();
    const { leader } = now;
    if (takesHere(now)) {
      await takeHere();
      return;
    }
    if (!leader) return c.json(errorBody('NO_LEADER', 'no leader is known right now (an election is under way); retry shortly'), 503);
    const target = members.find((m) => m.id === leader);
    if (!target || forwarded) {
      return c.json(errorBody('NOT_LEADER', `this node is not the leader; ${leader} is`, leader), 503);
    }
    // The leader it went to handed over meanwhile: go where it points, once. When it points
    // here (this node is the transferee, elected or still campaigning), the write is taken or
    // held here like one that arrived during the election.
    const { res, pointsHere } = await relayOn(target);
    if (pointsHere && takesHere(state())) {
      await takeHere();
      return;
    }
    return res;
  };
}

/** The leader a 503 NOT_LEADER answer from `from` names, if it names another node; '' otherwise. */
async function movedTo(res: Response, from: string): Promise<string> {
  try {
    const body = (await res.clone().json()) as { error?: { code?: string; leader?: string } };
    return body.error?.code === 'NOT_LEADER' && body.error.leader && body.error.leader !== from ? body.error.leader : '';
  } catch {
    return '';
  }
}

/** Keep-alive connections for relays: one request per write must not cost a TCP handshake. */
const relayAgent = new Agent({ keepAlive: true, maxSockets: 64 });

async function relay(c: Context, target: MetaMember, selfId: string): Promise<Response> {
  const url = new URL(c.req.url);
  const dest = new URL(`${url.pathname}${url.search}`, target.url);
  const headers: Record<string, string> = { [FORWARDED_HEADER]: selfId };
  for (const h of ['authorization', 'content-type', 'if-none-match']) {
    const v = c.req.header(h);
    if (v) headers[h] = v;
  }
  const body = c.req.method === 'GET' || c.req.method === 'HEAD' ? undefined : Buffer.from(await c.req.arrayBuffer());
  try {
    const res = await new Promise<{ status: number; type: string | undefined; etag: string | undefined; body: Buffer }>((resolve, reject) => {
      const req = request(dest, { method: c.req.method, headers, agent: relayAgent, timeout: FORWARD_TIMEOUT_MS }, (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (d: Buffer) => chunks.push(d));
        r.on('end', () => resolve({ status: r.statusCode ?? 502, type: r.headers['content-type'], etag: r.headers['etag'], body: Buffer.concat(chunks) }));
        r.on('error', reject);
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      req.end(body);
    });
    const out = new Headers();
    if (res.type) out.set('content-type', res.type);
    if (res.etag) out.set('etag', res.etag);
    out.set(FORWARDED_HEADER, target.id);
    return new Response(res.status === 304 ? null : res.body, { status: res.status, headers: out });
  } catch (err) {
    // Only a refused connection proves the leader never saw the request: then the write had no
    // effect and 503 NOT_LEADER (retry) is the truth. Any other failure (a timeout, a reset or a
    // close while waiting for the answer) can come after the leader applied the write, so its
    // outcome is unknown: 504 TIMEOUT, like a write that was not confirmed in time.
    const why = describeFetchError(err);
    if (connectionRefused(err)) return c.json(errorBody('NOT_LEADER', `could not reach the leader ${target.id}: ${why}; retry`, target.id), 503);
    return c.json(errorBody('TIMEOUT', `the leader ${target.id} did not answer the relayed write (${why}); its outcome is unknown`, target.id), 504);
  }
}

/** Whether a relay failed because the TCP connection was refused (nothing was sent). */
function connectionRefused(err: unknown): boolean {
  if ((err as { code?: string } | null)?.code === 'ECONNREFUSED') return true;
  const cause = (err as { cause?: { code?: string; errors?: { code?: string }[] } } | null)?.cause;
  if (!cause) return false;
  if (cause.code === 'ECONNREFUSED') return true;
  return Array.isArray(cause.errors) && cause.errors.length > 0 && cause.errors.every((e) => e.code === 'ECONNREFUSED');
}

function describeFetchError(err: unknown): string {
  const e = err as { message?: string; code?: string; cause?: { code?: string; message?: string } };
  if (e.code) return `${e.message ?? String(err)} (${e.code})`;
  const cause = e.cause?.code ?? e.cause?.message;
  return cause ? `${e.message ?? String(err)} (${cause})` : (e.message ?? String(err));
}
