import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { formatZodError } from '@cairn/shared';
import { declaredBodyLimit } from '@cairn/shared/http';
import { tokenMatches } from './auth.js';
import { catalogRoutes } from './catalog-routes.js';
import { coordinatorRoutes } from './coordinator-routes.js';
import type { ServerDeps } from './context.js';
import { errorBody, normalizeError, sendError } from './errors.js';
import { etcdRoutes } from './etcd-routes.js';
import { forwardWritesToLeader } from './forward.js';
import { peerRoutes } from './peer-routes.js';

/** Bodies above these are refused with 413 before they are read. */
const ADMIN_BODY_BYTES_MAX = 32 << 20;
/** etcd's default --max-request-bytes (1.5 MiB), plus base64 and JSON overhead. */
const ETCD_BODY_BYTES_MAX = 2_200_000;

const ETCD_WRITES = new Set(['/v3/kv/put', '/v3/kv/deleterange', '/v3/kv/txn']);

/** Which requests change state: they need the token and go to the leader. */
export function isWrite(method: string, path: string): boolean {
  if (path.startsWith('/v1/')) return method === 'POST' || method === 'PUT' || method === 'DELETE' || method === 'PATCH';
  return ETCD_WRITES.has(path);
}

/** Requests only the leader can answer: writes, and the coordinator's in-memory status. */
export function goesToLeader(method: string, path: string): boolean {
  return isWrite(method, path) || (method === 'GET' && (path === '/v1/coordinator/status' || path === '/v1/timeline'));
}

/**
 * The HTTP face of a meta node: peer traffic under /raft, the admin API under /v1, the etcd
 * gateway under /v3, /metrics, /health and /openapi.json. A `fetch(Request) -> Response`
 * that tests call with `app.request(...)`; only main.ts binds a port.
 */
export function buildApp(deps: ServerDeps): OpenAPIHono {
  const app = new OpenAPIHono({
    defaultHook: (result, c) => {
      if (!result.success) return c.json(errorBody('INVALID', formatZodError(result.error)), 400);
      return undefined;
    },
  });
  app.onError((err, c) => {
    const e = normalizeError(err);
    if (e.code === 'INTERNAL') deps.log.error({ err, path: c.req.path }, 'request failed');
    return sendError(c, e);
  });
  app.notFound((c) => c.json(errorBody('NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`), 404));

  app.route('/', peerRoutes(deps.config.auth.peerToken, deps.node));

  // The rest of an oversized body is never read, so the connection cannot carry another request:
  // close it, or a keep-alive client reuses it and its next request fails with "other side closed".
  const tooLarge = (max: number) => declaredBodyLimit(max, (c) => c.json(errorBody('PAYLOAD_TOO_LARGE', `the body is larger than ${max} bytes`), 413, { connection: 'close' }));
  app.use('/v1/*', tooLarge(ADMIN_BODY_BYTES_MAX));
  app.use('/v3/*', tooLarge(ETCD_BODY_BYTES_MAX));
  app.use('*', async (c, next) => {
    if (!isWrite(c.req.method, c.req.path)) return next();
    const auth = c.req.header('authorization');
    // "Bearer <token>", or the bare token as etcd clients send it.
    if (tokenMatches(auth, deps.config.auth.token) || (auth !== undefined && tokenMatches(`Bearer ${auth}`, deps.config.auth.token))) return next();
    return c.json(errorBody('UNAUTHORIZED', 'writes need "Authorization: Bearer <token>" with the cluster token'), 401);
  });
  app.use('*', forwardWritesToLeader(deps.self, deps.config.meta, () => ({ role: deps.node.core.role, leader: deps.node.core.lead }), goesToLeader, isWrite));

  app.openapi(createRoute({
    method: 'get', path: '/v1/status', summary: 'This node\'s view of the group',
    responses: {
      200: {
        description: 'Status',
        content: {
          'application/json': {
            schema: z.object({
              id: z.string(), role: z.string(), term: z.number(), leader: z.string(),
              commitIndex: z.number(), appliedIndex: z.number(), version: z.string(),
            }).openapi('Status'),
          },
        },
      },
    },
  }), (c) => {
    const s = deps.node.status();
    return c.json({ id: s.id, role: s.role, term: s.term, leader: s.leader, commitIndex: s.commitIndex, appliedIndex: s.appliedIndex, version: deps.version }, 200);
  });

  app.get('/health', (c) => (deps.node.failure ? c.json(errorBody('INTERNAL', deps.node.failure.message), 500) : c.json({ ok: true })));
  app.get('/metrics', async (c) => {
    const text = await deps.metrics.registry.metrics();
    return c.body(text, 200, { 'content-type': deps.metrics.registry.contentType });
  });

  catalogRoutes(app, deps);
  etcdRoutes(app, deps);
  coordinatorRoutes(app, deps, deps.coordinator);

  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Cairn metadata service',
      version: deps.version,
      description: 'Admin API of a cairn-meta node. Writes need "Authorization: Bearer <token>" and are relayed to the leader; reads are linearizable unless ?consistency=stale.',
    },
  });
  return app;
}
