import { createRoute, z } from '@hono/zod-openapi';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { formatZodError } from '@cairn/shared';
import { DEFAULT_PLANNER_CONFIG } from '../coordinator/index.js';
import { HEARTBEAT_HOLD_MS_MAX } from '../node/coordinator-driver.js';
import type { CoordinatorDriver } from '../node/coordinator-driver.js';
import type { ServerDeps } from './context.js';
import { readCatalog, writeCatalog } from './context.js';
import { ApiError } from './errors.js';
import { FORWARDED_HEADER } from './forward.js';

const heartbeatSchema = z.strictObject({
  loadedHash: z.string().max(100),
  loaded: z.array(z.string().max(1024)).max(10_000_000).optional(),
  loadQueue: z.number().int().min(0),
  cacheBytes: z.number().min(0),
  queuedUnits: z.number().int().min(0),
  queryCounts: z.record(z.string(), z.number().min(0)),
  latencyMs: z.object({ p50: z.number().min(0), p99: z.number().min(0) }),
  assignmentsHash: z.string().max(100),
});

const anyJson = { 'application/json': { schema: z.record(z.string(), z.unknown()) } };

/**
 * The coordinator's endpoints. Heartbeats and the status are answered by the leader (followers
 * relay them, like writes); the configuration is stored in the catalog like rules.
 */
export function coordinatorRoutes(app: OpenAPIHono, deps: ServerDeps, coordinator: CoordinatorDriver): void {
  app.openapi(createRoute({
    method: 'post', path: '/v1/workers/{id}/heartbeat', summary: 'A worker reports liveness, loaded segments, load queue and query counts; the answer carries its assignments when they changed. With ?waitMs, an answer without new assignments is held until they change or waitMs passes (a long poll)',
    // `applied` (the newest answer the worker applied, `term.seq`) rides in the query, not the
    // body: the body is strict, and a leader older than it must still take the beat of a newer worker.
    request: { params: z.object({ id: z.string() }), query: z.object({ waitMs: z.coerce.number().int().min(0).max(HEARTBEAT_HOLD_MS_MAX).optional(), applied: z.string().regex(/^\d{1,15}\.\d{1,15}$/, 'applied must be term.seq, two whole numbers').optional() }), body: { content: { 'application/json': { schema: heartbeatSchema } }, required: true } },
    responses: { 200: { description: 'Acknowledged, with assignments if they changed', content: anyJson } },
  }), async (c) => {
    const id = c.req.valid('param').id;
    const applied = c.req.valid('query').applied?.split('.').map(Number) as [number, number] | undefined;
    const report = { ...c.req.valid('json'), appliedVersion: applied ?? null };
    const answer = coordinator.onHeartbeat(id, report);
    if (!answer) throw new ApiError('NOT_FOUND', `worker ${id} is not registered; register it with PUT /v1/workers/{id}`);
    const waitMs = c.req.valid('query').waitMs ?? 0;
    // A closed connection tells of a dead worker only when it is the worker's own, not a relay's.
    const closed = c.req.header(FORWARDED_HEADER) === undefined ? c.req.raw.signal : undefined;
    return c.json((waitMs > 0 ? await coordinator.hold(id, answer, report.assignmentsHash, waitMs, closed) : answer) as never, 200);
  });

  app.openapi(createRoute({
    method: 'get', path: '/v1/coordinator/status', summary: 'Unavailable and under-replicated segments, load queues, the last cycle\'s loads, drops and moves, worker liveness',
    responses: { 200: { description: 'Status (from the leader)', content: anyJson } },
  }), (c) => c.json(coordinator.status() as never, 200));

  app.openapi(createRoute({
    method: 'get', path: '/v1/timeline', summary: 'The serving view for clients: visible segments with the live workers that have them loaded, and the workers\' addresses (ETag / If-None-Match)',
    request: { query: z.object({ dataSource: z.string().optional() }) },
    responses: { 200: { description: 'Timeline', content: anyJson }, 304: { description: 'Unchanged since the ETag given' } },
  }), (c) => {
    const t = coordinator.timeline(c.req.valid('query').dataSource);
    const etag = `"${t.etag}"`;
    if (c.req.header('if-none-match') === etag) return c.body(null, 304) as never;
    c.header('etag', etag);
    return c.json({ segments: t.segments, workers: t.workers } as never, 200);
  });

  app.openapi(createRoute({
    method: 'get', path: '/v1/coordinator/config', summary: 'The coordinator\'s settings: stored values over the defaults',
    responses: { 200: { description: 'Settings', content: anyJson } },
  }), async (c) => {
    const stored = (await readCatalog(deps, c)).coordinatorConfig();
    return c.json({ ...DEFAULT_PLANNER_CONFIG, periodMs: 1000, ...stored } as never, 200);
  });

  app.openapi(createRoute({
    method: 'post', path: '/v1/coordinator/config', summary: 'Change coordinator settings (a partial object; null restores a default)',
    request: { body: { content: { 'application/json': { schema: z.record(z.string(), z.union([z.number(), z.boolean(), z.null()])) } }, required: true } },
    responses: { 200: { description: 'Changed', content: anyJson } },
  }), async (c) => {
    const config = c.req.valid('json');
    const check = z.record(z.string(), z.unknown()).safeParse(config);
    if (!check.success) throw new ApiError('INVALID', formatZodError(check.error));
    return c.json((await writeCatalog(deps, { type: 'setCoordinatorConfig', config, at: Date.now() })) as never, 200);
  });
}
