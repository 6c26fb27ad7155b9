/**
 * The metadata catalog's public vocabulary: segments, their ids, retention rules and workers,
 * with zod schemas for everything that crosses a process boundary. The catalog (meta-raft),
 * the coordinator, the workers and the client all speak these shapes.
 */
import { z } from 'zod';
import type { JsonObject } from './json.js';
import { formatInstant, INSTANT_MAX, INSTANT_MIN, parseInstant, parseInterval, parsePeriod } from './time.js';

/** The tier a worker or a load rule names when it names none, as in Druid. */
export const DEFAULT_TIER = '_default_tier';
/** The pseudo-datasource under which the cluster-wide default rules are kept, as in Druid. */
export const DEFAULT_RULES_KEY = '_default';
/** Replicas per tier above this are refused: a typo must not ask for a thousand copies. */
export const replicantsMax = 100;
/** Partitions of one (interval, version) above this are refused. */
export const partitionsMax = 1 << 20;
/** Bounds on free-form strings carried by segments and workers. */
export const locationCharsMax = 1024;
export const urlCharsMax = 2048;

/** 1-255 letters, digits, `_`, `-` or `.`; `_default` is reserved for the default rules. */
export const datasourceNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,255}$/, 'must be 1-255 letters, digits, "_", "-" or "."')
  .refine((s) => s !== DEFAULT_RULES_KEY, `"${DEFAULT_RULES_KEY}" is reserved for the default rules`);

/** Printable ASCII without spaces: keeps segment ids (and so record keys) in byte order. */
const printable = (what: string) => z.string().regex(/^[\x21-\x7e]{1,255}$/, `${what} must be 1-255 printable ASCII characters without spaces`);

/** A segment version; versions compare as strings, as in Druid (usually an ISO timestamp). */
export const versionSchema = printable('version');
export const ingestionIdSchema = printable('ingestion id');
export const workerIdSchema = z.string().regex(/^[A-Za-z0-9_.:-]{1,255}$/, 'must be 1-255 letters, digits, "_", "-", "." or ":"');
export const tierNameSchema = z.string().regex(/^[A-Za-z0-9_.-]{1,255}$/, 'must be 1-255 letters, digits, "_", "-" or "."');
export const checksumSchema = z
  .string()
  .regex(/^[0-9a-fA-F]{64}$/, 'must be a sha-256 digest: 64 hex characters')
  .transform((s) => s.toLowerCase());

/** An instant as epoch milliseconds or an ISO-8601 string; the output is epoch milliseconds. */
export const instantInputSchema = z.union([z.number(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= INSTANT_MIN && v <= INSTANT_MAX) return v;
    ctx.addIssue({ code: 'custom', message: `${v} is not integer epoch milliseconds within years 0000-9999` });
    return z.NEVER;
  }
  try {
    return parseInstant(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

/** Validates the text of an ISO-8601 period or interval and keeps the text. */
const parsedBy = (parse: (s: string) => unknown) =>
  z.string().superRefine((s, ctx) => {
    try {
      parse(s);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  });
export const periodSchema = parsedBy(parsePeriod);
export const intervalSchema = parsedBy(parseInterval);

/** An opaque JSON object describing a segment's columns; equal schemas are one shared, frozen object. */
export type SegmentSchema = Readonly<JsonObject>;

/** A segment as the catalog knows it. Records are immutable; a change produces a new record. */
export interface SegmentRecord {
  readonly id: string;
  readonly dataSource: string;
  /** Epoch ms, inclusive. */
  readonly start: number;
  /** Epoch ms, exclusive. */
  readonly end: number;
  /** Compared lexicographically: a higher version of the same interval overshadows a lower one. */
  readonly version: string;
  /** 0-based partition number within (interval, version). */
  readonly partition: number;
  /** How many partitions (interval, version) has; the group is complete when all are present and used. */
  readonly partitions: number;
  readonly size: number;
  readonly rows: number;
  readonly schema: SegmentSchema;
  /** sha-256 of the segment file, lowercase hex. */
  readonly checksum: string;
  /** Key of the segment file in deep storage. */
  readonly location: string;
  readonly used: boolean;
  readonly ingestionId: string;
  readonly publishedAt: number;
}

/**
 * A segment as an ingestion publishes it. `id` is optional: when given it must equal the id
 * computed from the fields. `start`/`end` are epoch ms or ISO-8601 strings.
 */
export const segmentInputSchema = z.strictObject({
  id: z.string().max(1024).optional(),
  dataSource: datasourceNameSchema,
  start: instantInputSchema,
  end: instantInputSchema,
  version: versionSchema,
  partition: z.number().int().min(0),
  partitions: z.number().int().min(1).max(partitionsMax),
  size: z.number().int().min(0),
  rows: z.number().int().min(0),
  schema: z.record(z.string(), z.unknown()),
  checksum: checksumSchema,
  location: z.string().min(1).max(locationCharsMax),
});
export type SegmentInput = z.input<typeof segmentInputSchema>;
export type ParsedSegmentInput = z.output<typeof segmentInputSchema>;

/**
 * A segment id exactly as Druid forms it: `{dataSource}_{start}_{end}_{version}`, with
 * `_{partition}` appended when the partition is not 0.
 * @example segmentId({ dataSource: 'events', start: 0, end: 86400000, version: 'v1', partition: 3 })
 *   === 'events_1970-01-01T00:00:00.000Z_1970-01-02T00:00:00.000Z_v1_3'
 */
export function segmentId(s: Pick<SegmentRecord, 'dataSource' | 'start' | 'end' | 'version' | 'partition'>): string {
  const base = `${s.dataSource}_${formatInstant(s.start)}_${formatInstant(s.end)}_${s.version}`;
  return s.partition === 0 ? base : `${base}_${s.partition}`;
}

// ---------------------------------------------------------------------------------------------
// Rules, in Druid's JSON shapes.

const tieredReplicantsSchema = z.record(
  tierNameSchema,
  z
    .number({ error: 'replicant count must be a number' })
    .int('replicant count must be an integer')
    .min(0, 'replicant count must not be negative')
    .max(replicantsMax, `replicant count must be at most ${replicantsMax}`),
);

/** Load rules carry replicas per tier; like Druid, an omitted map means two replicas on the default tier. */
const loadFields = {
  tieredReplicants: tieredReplicantsSchema.default(() => ({ [DEFAULT_TIER]: 2 })),
  allowEmptyTieredReplicants: z.boolean().optional(),
};

/** Druid refuses an empty replica map unless the rule says so explicitly. */
const nonEmptyReplicants = <T extends { tieredReplicants: Record<string, number>; allowEmptyTieredReplicants?: boolean | undefined }>(
  r: T,
) => r.allowEmptyTieredReplicants === true || Object.keys(r.tieredReplicants).length > 0;
const emptyReplicantsMessage = { path: ['tieredReplicants'], message: 'must name at least one tier unless allowEmptyTieredReplicants is true' };

export const loadForeverRuleSchema = z.strictObject({ type: z.literal('loadForever'), ...loadFields }).refine(nonEmptyReplicants, emptyReplicantsMessage);
export const loadByPeriodRuleSchema = z
  .strictObject({ type: z.literal('loadByPeriod'), period: periodSchema, includeFuture: z.boolean().default(true), ...loadFields })
  .refine(nonEmptyReplicants, emptyReplicantsMessage);
export const loadByIntervalRuleSchema = z
  .strictObject({ type: z.literal('loadByInterval'), interval: intervalSchema, ...loadFields })
  .refine(nonEmptyReplicants, emptyReplicantsMessage);
export const dropForeverRuleSchema = z.strictObject({ type: z.literal('dropForever') });
export const dropByPeriodRuleSchema = z.strictObject({ type: z.literal('dropByPeriod'), period: periodSchema, includeFuture: z.boolean().default(true) });
export const dropBeforeByPeriodRuleSchema = z.strictObject({ type: z.literal('dropBeforeByPeriod'), period: periodSchema });

/** One retention rule; unknown types and unknown keys are refused. */
export const ruleSchema = z.discriminatedUnion('type', [
  loadForeverRuleSchema,
  loadByPeriodRuleSchema,
  loadByIntervalRuleSchema,
  dropForeverRuleSchema,
  dropByPeriodRuleSchema,
  dropBeforeByPeriodRuleSchema,
]);
/** Rules above this count in one list are refused. */
export const rulesMax = 100;
/** An ordered rule list: the first rule that matches a segment decides. */
export const rulesSchema = z.array(ruleSchema).max(rulesMax);

export type Rule = z.output<typeof ruleSchema>;
export type RuleInput = z.input<typeof ruleSchema>;
export type LoadRule = Extract<Rule, { type: 'loadForever' | 'loadByPeriod' | 'loadByInterval' }>;
export type DropRule = Exclude<Rule, LoadRule>;

export function isLoadRule(rule: Rule): rule is LoadRule {
  return rule.type === 'loadForever' || rule.type === 'loadByPeriod' || rule.type === 'loadByInterval';
}

/** The cluster default rules of a new catalog: keep everything, two replicas on the default tier. */
export const INITIAL_DEFAULT_RULES: readonly Rule[] = Object.freeze([
  Object.freeze({ type: 'loadForever', tieredReplicants: Object.freeze({ [DEFAULT_TIER]: 2 }) }) as Rule,
]);

// ---------------------------------------------------------------------------------------------
// Workers.

export const workerStateSchema = z.enum(['active', 'decommissioning']);
export type WorkerState = z.output<typeof workerStateSchema>;

/**
 * What a worker says about itself when it registers. `state` is optional: a new worker starts
 * `active`, and a worker that re-registers (after a restart) keeps the state an operator gave it.
 */
export const workerInputSchema = z.strictObject({
  id: workerIdSchema,
  url: z.string().max(urlCharsMax).regex(/^https?:\/\/\S+$/, 'must be an http(s) URL'),
  tier: tierNameSchema.default(DEFAULT_TIER),
  dc: tierNameSchema,
  capacityBytes: z.number().int().min(0),
  version: z.string().min(1).max(255),
  state: workerStateSchema.optional(),
});
export type WorkerInput = z.input<typeof workerInputSchema>;

export interface WorkerRecord {
  readonly id: string;
  readonly url: string;
  readonly tier: string;
  /** Datacenter (availability zone) the worker runs in. */
  readonly dc: string;
  readonly capacityBytes: number;
  /** Software version the worker runs, for rolling upgrades. */
  readonly version: string;
  readonly state: WorkerState;
  readonly registeredAt: number;
}
