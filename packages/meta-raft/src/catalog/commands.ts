/**
 * The catalog's commands: a discriminated union on `type`, validated with zod before anything
 * is applied. Every command carries `at`, the epoch ms the proposer stamped it with: the state
 * machine has no clock of its own, so every replica records the same time.
 */
import { z } from 'zod';
import { coordinatorConfigSchema } from './coordinator-config.js';
import {
  DEFAULT_RULES_KEY,
  datasourceNameSchema,
  ingestionIdSchema,
  intervalSchema,
  rulesSchema,
  segmentInputSchema,
  workerIdSchema,
  workerInputSchema,
  workerStateSchema,
} from '@cairn/shared';

/** Named bounds: a command past one is refused as INVALID; state past one as LIMIT_EXCEEDED. */
export const catalogLimits = {
  /** Segments in one publish (ingestions publish about 1,000 at a time). */
  publishSegmentsMax: 10_000,
  /** Segments in the catalog: about 300 bytes of memory each. */
  segmentsMax: 5_000_000,
  datasourcesMax: 10_000,
  /** Canonical JSON characters of one segment schema. */
  schemaCharsMax: 65_536,
  /** Segment ids in one markSegments. */
  markSegmentIdsMax: 100_000,
  /** Changes in one setAssignments, and workers named per change. */
  assignmentChangesMax: 100_000,
  assignmentWorkersPerChangeMax: 100,
  workersMax: 10_000,
  /** Ingestion ids remembered for idempotent publishes; older ones are forgotten in publish order. */
  ingestionsRememberedMax: 100_000,
  /** Operations (and compares) per kvTxn: etcd's default --max-txn-ops. */
  txnOpsMax: 128,
  kvKeyBytesMax: 4096,
  /** etcd's default --max-request-bytes. */
  kvValueBytesMax: 1_572_864,
  /** Bytes of all keys and values together (etcd's space quota, scaled to an in-memory store). */
  kvBytesMax: 256 * 1024 * 1024,
} as const;

const at = z.number().int().min(0);

/** A byte string carried as a latin1 string (each character U+0000-U+00FF is one byte). */
const bytes = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[\x00-\xff]*$/, 'must be a byte string (characters U+0000-U+00FF)');
export const kvKeySchema = bytes(catalogLimits.kvKeyBytesMax).min(1, 'key is not provided');
const kvValueSchema = bytes(catalogLimits.kvValueBytesMax);
const rangeEnd = bytes(catalogLimits.kvKeyBytesMax).optional();

/** etcd's range: no `rangeEnd` means the one key; `"\0"` means every key >= key; else [key, rangeEnd). */
export const kvRangeRequestSchema = z.strictObject({
  key: kvKeySchema,
  rangeEnd,
  limit: z.number().int().min(0).optional(),
  countOnly: z.boolean().optional(),
  keysOnly: z.boolean().optional(),
});
export type KvRangeRequest = z.input<typeof kvRangeRequestSchema>;

const putRequest = z.strictObject({ key: kvKeySchema, value: kvValueSchema, prevKv: z.boolean().optional() });
const deleteRangeRequest = z.strictObject({ key: kvKeySchema, rangeEnd, prevKv: z.boolean().optional() });

/** A txn compare; a missing comparand means 0 (or the empty value), as in etcd's proto3 JSON. */
const compareSchema = z.strictObject({
  key: kvKeySchema,
  target: z.enum(['VERSION', 'CREATE', 'MOD', 'VALUE']),
  result: z.enum(['EQUAL', 'NOT_EQUAL', 'GREATER', 'LESS']),
  version: z.number().int().min(0).optional(),
  createRevision: z.number().int().min(0).optional(),
  modRevision: z.number().int().min(0).optional(),
  value: kvValueSchema.optional(),
});
export type KvCompare = z.output<typeof compareSchema>;

const requestOp = z.union([
  z.strictObject({ requestPut: putRequest }),
  z.strictObject({ requestRange: kvRangeRequestSchema }),
  z.strictObject({ requestDeleteRange: deleteRangeRequest }),
]);
export type KvRequestOp = z.output<typeof requestOp>;
const ops = z.array(requestOp).max(catalogLimits.txnOpsMax);

const command = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) => z.strictObject({ type: z.literal(type), at, ...shape });

export const createDatasourceSchema = command('createDatasource', { name: datasourceNameSchema });
export const deleteDatasourceSchema = command('deleteDatasource', { name: datasourceNameSchema });
export const publishSegmentsSchema = command('publishSegments', {
  ingestionId: ingestionIdSchema,
  segments: z.array(segmentInputSchema).min(1, 'must contain at least one segment').max(catalogLimits.publishSegmentsMax),
});
export const markSegmentsSchema = command('markSegments', {
  dataSource: datasourceNameSchema,
  used: z.boolean(),
  interval: intervalSchema.optional(),
  segmentIds: z.array(z.string().min(1).max(1024)).min(1).max(catalogLimits.markSegmentIdsMax).optional(),
}).refine((c) => (c.interval === undefined) !== (c.segmentIds === undefined), {
  message: 'give exactly one of interval and segmentIds',
  path: ['interval'],
});
export const setRulesSchema = command('setRules', {
  dataSource: z.union([z.literal(DEFAULT_RULES_KEY), datasourceNameSchema]),
  rules: rulesSchema,
});
export const registerWorkerSchema = command('registerWorker', { worker: workerInputSchema });
export const removeWorkerSchema = command('removeWorker', { id: workerIdSchema });
export const setWorkerStateSchema = command('setWorkerState', { id: workerIdSchema, state: workerStateSchema });
const workerList = z.array(workerIdSchema).max(catalogLimits.assignmentWorkersPerChangeMax).optional();
export const setAssignmentsSchema = command('setAssignments', {
  changes: z
    .array(z.strictObject({ segmentId: z.string().min(1).max(1024), add: workerList, remove: workerList }))
    .min(1)
    .max(catalogLimits.assignmentChangesMax),
});
export const kvPutSchema = command('kvPut', putRequest.shape);
export const kvDeleteRangeSchema = command('kvDeleteRange', deleteRangeRequest.shape);
export const kvTxnSchema = command('kvTxn', {
  compare: z.array(compareSchema).max(catalogLimits.txnOpsMax),
  success: ops,
  failure: ops,
});

/** Partial coordinator settings; `null` unsets a key (back to the default). */
export const setCoordinatorConfigSchema = command('setCoordinatorConfig', {
  config: z.record(z.string(), z.union([z.number(), z.boolean(), z.null()])).superRefine((cfg, ctx) => {
    const merged = Object.fromEntries(Object.entries(cfg).filter(([, v]) => v !== null));
    const r = coordinatorConfigSchema.safeParse(merged);
    if (!r.success) for (const issue of r.error.issues) ctx.addIssue({ ...issue, path: issue.path } as never);
    for (const k of Object.keys(cfg)) if (!(k in coordinatorConfigSchema.shape)) ctx.addIssue({ code: 'custom', path: [k], message: 'unknown coordinator setting' });
  }),
});

export const catalogCommandSchema = z.discriminatedUnion('type', [
  createDatasourceSchema,
  deleteDatasourceSchema,
  publishSegmentsSchema,
  markSegmentsSchema,
  setRulesSchema,
  registerWorkerSchema,
  removeWorkerSchema,
  setWorkerStateSchema,
  setAssignmentsSchema,
  kvPutSchema,
  kvDeleteRangeSchema,
  kvTxnSchema,
  setCoordinatorConfigSchema,
]);

/** A command as proposers write it (ISO strings allowed for instants, defaults omitted). */
export type CatalogCommand = z.input<typeof catalogCommandSchema>;
/** A command after validation, as the handlers see it. */
export type ParsedCommand = z.output<typeof catalogCommandSchema>;
export type ParsedCommandOf<T extends ParsedCommand['type']> = Extract<ParsedCommand, { type: T }>;
