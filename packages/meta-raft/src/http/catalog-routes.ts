import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { canonicalJson, DEFAULT_RULES_KEY, formatInstant, formatZodError, jsonDepthMax, rulesSchema, workerInputSchema, workerStateSchema } from '@cairn/shared';
import type { SegmentRecord } from '@cairn/shared';
import { catalogLimits } from '../catalog/index.js';
import type { DatasourceSummary } from '../catalog/index.js';
import { checked, readCatalog, writeCatalog } from './context.js';
import type { ServerDeps } from './context.js';
import { ApiError } from './errors.js';

/**
 * The catalog's admin endpoints: datasources, segments, rules, workers and assignments. Reads
 * are linearizable unless `?consistency=stale`; writes need the bearer token (checked before
 * these routes) and are relayed to the leader by followers.
 */

const errorSchema = z.object({ error: z.object({ code: z.string(), message: z.string(), leader: z.string().optional() }) }).openapi('Error');
const errors = {
  400: { description: 'Malformed request; the message names the field', content: { 'application/json': { schema: errorSchema } } },
  401: { description: 'Missing or wrong bearer token (writes)', content: { 'application/json': { schema: errorSchema } } },
  503: { description: 'No leader right now, or leadership moved; retry', content: { 'application/json': { schema: errorSchema } } },
  504: { description: 'Not confirmed in time; a write\'s outcome is unknown', content: { 'application/json': { schema: errorSchema } } },
};
const json = <T extends z.ZodType>(schema: T, description: string) => ({ 200: { description, content: { 'application/json': { schema } } }, ...errors });
const body = <T extends z.ZodType>(schema: T) => ({ body: { content: { 'application/json': { schema } }, required: true } });
const consistencyQuery = z.object({ consistency: z.enum(['linearizable', 'stale']).optional() });

const segmentSchema = z.object({
  id: z.string(),
  dataSource: z.string(),
  interval: z.string().openapi({ example: '2024-01-01T00:00:00.000Z/2024-01-02T00:00:00.000Z' }),
  version: z.string(),
  partition: z.number(),
  partitions: z.number(),
  size: z.number(),
  rows: z.number(),
  checksum: z.string(),
  location: z.string(),
  used: z.boolean(),
  ingestionId: z.string(),
  publishedAt: z.string(),
  schema: z.record(z.string(), z.unknown()),
}).openapi('Segment');

const datasourceSchema = z.object({
  name: z.string(),
  createdAt: z.string(),
  usedSegments: z.number(),
  unusedSegments: z.number(),
  usedBytes: z.number(),
  usedRows: z.number(),
  minTime: z.string().nullable(),
  maxTime: z.string().nullable(),
}).openapi('Datasource');

const workerSchema = z.object({
  id: z.string(), url: z.string(), tier: z.string(), dc: z.string(), capacityBytes: z.number(),
  version: z.string(), state: z.string(), registeredAt: z.string(),
}).openapi('Worker');

/**
 * The state machine refuses a segment schema nested deeper than `jsonDepthMax` or longer than
 * `schemaCharsMax` as canonical JSON, but only at apply, after the publish has taken a log entry;
 * and a schema nested some thousands deep overflowed the stack (JSON.stringify, proposing) before
 * it got there: a 500. The same checks here, before proposing. The depth is checked first and
 * without recursion, so that checking cannot overflow either; canonicalJson then recurses at most
 * `jsonDepthMax` levels.
 */
function checkSchemas(segments: readonly Record<string, unknown>[]): void {
  segments.forEach((segment, i) => {
    const where = `segments[${i}].schema`;
    if (deeperThan(segment['schema'], jsonDepthMax)) throw new ApiError('INVALID', `${where}: nested deeper than ${jsonDepthMax}`);
    let chars: number;
    try {
      chars = canonicalJson(segment['schema'], where).length;
    } catch (err) {
      // A number JSON cannot carry: JSON.parse reads 1e999 as Infinity.
      throw new ApiError('INVALID', (err as Error).message);
    }
    if (chars > catalogLimits.schemaCharsMax) throw new ApiError('INVALID', `${where} is ${chars} characters of JSON, more than ${catalogLimits.schemaCharsMax}`);
  });
}

/** Whether something in `value` lies more than `max` levels below it (canonicalJson's rule), found with a stack of our own. */
function deeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (depth > max) return true;
    if (typeof v === 'object' && v !== null) for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

export function segmentJson(s: SegmentRecord): z.infer<typeof segmentSchema> {
  return {
    id: s.id,
    dataSource: s.dataSource,
    interval: `${formatInstant(s.start)}/${formatInstant(s.end)}`,
    version: s.version,
    partition: s.partition,
    partitions: s.partitions,
    size: s.size,
    rows: s.rows,
    checksum: s.checksum,
    location: s.location,
    used: s.used,
    ingestionId: s.ingestionId,
    publishedAt: formatInstant(s.publishedAt),
    schema: s.schema as Record<string, unknown>,
  };
}

function datasourceJson(d: DatasourceSummary): z.infer<typeof datasourceSchema> {
  return {
    name: d.name,
    createdAt: formatInstant(d.createdAt),
    usedSegments: d.usedSegments,
    unusedSegments: d.unusedSegments,
    usedBytes: d.usedBytes,
    usedRows: d.usedRows,
    minTime: d.minStart === null ? null : formatInstant(d.minStart),
    maxTime: d.maxEnd === null ? null : formatInstant(d.maxEnd),
  };
}

const bool = z.enum(['true', 'false']).transform((v) => v === 'true');

export function catalogRoutes(app: OpenAPIHono, deps: ServerDeps): void {
  // ---------------------------------------------------------------- datasources
  app.openapi(createRoute({
    method: 'get', path: '/v1/datasources', summary: 'List datasources with segment counts, sizes and time bounds',
    request: { query: consistencyQuery }, responses: json(z.object({ datasources: z.array(datasourceSchema) }), 'Datasources'),
  }), async (c) => c.json({ datasources: (await readCatalog(deps, c)).datasources().map(datasourceJson) }, 200));

  app.openapi(createRoute({
    method: 'post', path: '/v1/datasources', summary: 'Create a datasource',
    request: body(z.object({ name: z.string() })), responses: json(z.object({ ok: z.boolean() }), 'Created'),
  }), async (c) => c.json((await writeCatalog(deps, checked('createDatasource', { name: c.req.valid('json').name }))) as never, 200));

  app.openapi(createRoute({
    method: 'delete', path: '/v1/datasources/{name}', summary: 'Mark every segment of a datasource unused',
    request: { params: z.object({ name: z.string() }) }, responses: json(z.object({ ok: z.boolean(), changed: z.number() }), 'Marked unused'),
  }), async (c) => c.json((await writeCatalog(deps, checked('deleteDatasource', { name: c.req.valid('param').name }))) as never, 200));

  // ---------------------------------------------------------------- segments
  app.openapi(createRoute({
    method: 'get', path: '/v1/segments', summary: 'List segments (visible, used ones unless told otherwise)',
    request: {
      query: consistencyQuery.extend({
        dataSource: z.string().optional(),
        interval: z.string().optional().openapi({ description: 'Only segments overlapping this ISO interval (start/end)' }),
        includeUnused: bool.optional(),
        includeOvershadowed: bool.optional(),
        limit: z.coerce.number().int().min(1).max(1_000_000).optional(),
      }),
    },
    responses: json(z.object({ segments: z.array(segmentSchema), total: z.number() }), 'Segments'),
  }), async (c) => {
    const q = c.req.valid('query');
    const catalog = await readCatalog(deps, c);
    let all: SegmentRecord[];
    try {
      all = catalog.segments({
        ...(q.dataSource !== undefined ? { dataSource: q.dataSource } : {}),
        ...(q.interval !== undefined ? { interval: q.interval } : {}),
        ...(q.includeUnused !== undefined ? { includeUnused: q.includeUnused } : {}),
        ...(q.includeOvershadowed !== undefined ? { includeOvershadowed: q.includeOvershadowed } : {}),
      });
    } catch (err) {
      throw new ApiError('INVALID', (err as Error).message);
    }
    const limited = q.limit !== undefined ? all.slice(0, q.limit) : all;
    return c.json({ segments: limited.map(segmentJson), total: all.length }, 200);
  });

  app.openapi(createRoute({
    method: 'get', path: '/v1/segments/{id}', summary: 'One segment',
    request: { params: z.object({ id: z.string() }), query: consistencyQuery },
    responses: { ...json(segmentSchema, 'The segment'), 404: { description: 'No such segment', content: { 'application/json': { schema: errorSchema } } } },
  }), async (c) => {
    const s = (await readCatalog(deps, c)).segment(c.req.valid('param').id);
    if (!s) throw new ApiError('NOT_FOUND', `no segment ${c.req.valid('param').id}`);
    return c.json(segmentJson(s), 200);
  });

  app.openapi(createRoute({
    method: 'post', path: '/v1/segments/publish', summary: 'Publish segments atomically; idempotent per ingestion id',
    request: body(z.object({ ingestionId: z.string(), segments: z.array(z.record(z.string(), z.unknown())) })),
    responses: json(z.object({ ok: z.boolean(), replayed: z.boolean(), published: z.number(), unchanged: z.number() }), 'Published (or replayed)'),
  }), async (c) => {
    const b = c.req.valid('json');
    const command = checked('publishSegments', { ingestionId: b.ingestionId, segments: b.segments });
    checkSchemas(b.segments);
    return c.json((await writeCatalog(deps, command)) as never, 200);
  });

  app.openapi(createRoute({
    method: 'post', path: '/v1/segments/mark', summary: 'Mark segments used or unused, by interval or by ids (Druid markUsed/markUnused)',
    // Strict: a misspelt field ("segmentIDs") was dropped here, and the request did something else.
    request: body(z.strictObject({ dataSource: z.string(), used: z.boolean(), interval: z.string().optional(), segmentIds: z.array(z.string()).optional() })),
    responses: json(z.object({ ok: z.boolean(), changed: z.number() }), 'How many segments changed'),
  }), async (c) => c.json((await writeCatalog(deps, checked('markSegments', c.req.valid('json')))) as never, 200));

  // ---------------------------------------------------------------- rules
  app.openapi(createRoute({
    method: 'get', path: '/v1/rules', summary: 'Every datasource\'s rules and the cluster default (_default)',
    request: { query: consistencyQuery }, responses: json(z.record(z.string(), z.array(z.record(z.string(), z.unknown()))), 'Rules by datasource'),
  }), async (c) => c.json((await readCatalog(deps, c)).allRules() as never, 200));

  app.openapi(createRoute({
    method: 'get', path: '/v1/rules/{dataSource}', summary: 'A datasource\'s rules, or _default for the cluster default',
    request: { params: z.object({ dataSource: z.string() }), query: consistencyQuery.extend({ full: bool.optional() }) },
    responses: json(z.array(z.record(z.string(), z.unknown())), 'Rules, first match wins'),
  }), async (c) => {
    const catalog = await readCatalog(deps, c);
    const ds = c.req.valid('param').dataSource;
    const own = catalog.rules(ds);
    // Like Druid's ?full: the datasource's rules followed by the defaults they fall through to.
    const rules = c.req.valid('query').full && ds !== DEFAULT_RULES_KEY ? [...own, ...catalog.defaultRules()] : own;
    return c.json(rules as never, 200);
  });

  app.openapi(createRoute({
    method: 'put', path: '/v1/rules/{dataSource}', summary: 'Replace a datasource\'s rules (or _default)',
    request: { params: z.object({ dataSource: z.string() }), ...body(z.array(z.record(z.string(), z.unknown()))) },
    responses: json(z.object({ ok: z.boolean(), changed: z.boolean() }), 'Replaced'),
  }), async (c) => {
    const rules = rulesSchema.safeParse(c.req.valid('json'));
    if (!rules.success) throw new ApiError('INVALID', formatZodError(rules.error));
    return c.json((await writeCatalog(deps, checked('setRules', { dataSource: c.req.valid('param').dataSource, rules: c.req.valid('json') }))) as never, 200);
  });

  // ---------------------------------------------------------------- workers
  app.openapi(createRoute({
    method: 'get', path: '/v1/workers', summary: 'Registered workers',
    request: { query: consistencyQuery }, responses: json(z.object({ workers: z.array(workerSchema) }), 'Workers'),
  }), async (c) => c.json({
    workers: (await readCatalog(deps, c)).workers().map((w) => ({ ...w, registeredAt: formatInstant(w.registeredAt) })),
  }, 200));

  app.openapi(createRoute({
    method: 'put', path: '/v1/workers/{id}', summary: 'Register (or update) a worker',
    request: { params: z.object({ id: z.string() }), ...body(z.record(z.string(), z.unknown())) },
    responses: json(z.object({ ok: z.boolean() }), 'Registered'),
  }), async (c) => {
    const worker = workerInputSchema.safeParse({ ...c.req.valid('json'), id: c.req.valid('param').id });
    if (!worker.success) throw new ApiError('INVALID', formatZodError(worker.error));
    return c.json((await writeCatalog(deps, checked('registerWorker', { worker: { ...c.req.valid('json'), id: c.req.valid('param').id } }))) as never, 200);
  });

  app.openapi(createRoute({
    method: 'post', path: '/v1/workers/{id}/state', summary: 'Set a worker active or decommissioning',
    request: { params: z.object({ id: z.string() }), ...body(z.object({ state: workerStateSchema })) },
    responses: json(z.object({ ok: z.boolean() }), 'Changed'),
  }), async (c) => c.json((await writeCatalog(deps, checked('setWorkerState', { id: c.req.valid('param').id, state: c.req.valid('json').state }))) as never, 200));

  app.openapi(createRoute({
    method: 'delete', path: '/v1/workers/{id}', summary: 'Remove a worker and its assignments',
    request: { params: z.object({ id: z.string() }) }, responses: json(z.object({ ok: z.boolean() }), 'Removed'),
  }), async (c) => c.json((await writeCatalog(deps, checked('removeWorker', { id: c.req.valid('param').id }))) as never, 200));

  // ---------------------------------------------------------------- assignments
  app.openapi(createRoute({
    method: 'get', path: '/v1/assignments', summary: 'Which workers serve which segments',
    request: { query: consistencyQuery.extend({ segmentId: z.string().optional(), workerId: z.string().optional() }) },
    responses: json(z.object({ assignments: z.array(z.object({ segmentId: z.string(), workerIds: z.array(z.string()) })) }), 'Assignments'),
  }), async (c) => {
    const q = c.req.valid('query');
    const catalog = await readCatalog(deps, c);
    const assignments = catalog.assignments({
      ...(q.segmentId !== undefined ? { segmentId: q.segmentId } : {}),
      ...(q.workerId !== undefined ? { workerId: q.workerId } : {}),
    });
    return c.json({ assignments: assignments.map((a) => ({ segmentId: a.segmentId, workerIds: [...a.workerIds] })) }, 200);
  });

  app.openapi(createRoute({
    method: 'post', path: '/v1/assignments', summary: 'Add and remove assignments atomically (the coordinator\'s decisions)',
    // Strict: a misspelt field ("adds") was dropped here, and the request returned 200 having done nothing.
    request: body(z.strictObject({ changes: z.array(z.strictObject({ segmentId: z.string(), add: z.array(z.string()).optional(), remove: z.array(z.string()).optional() })) })),
    responses: json(z.object({ ok: z.boolean(), added: z.number(), removed: z.number() }), 'Applied'),
  }), async (c) => c.json((await writeCatalog(deps, checked('setAssignments', c.req.valid('json')))) as never, 200));
}
