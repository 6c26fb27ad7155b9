import { datasourceNameSchema, formatZodError, ingestionIdSchema, versionSchema } from '@cairn/shared';
import { z } from 'zod';
import { GRANULARITIES, nestsWithin } from './granularity.js';

/**
 * A batch ingestion job, in the spirit of Druid's ingestion spec but flat:
 * {"dataSource": "events", "input": {"files": ["events.ndjson"], "format": "ndjson"},
 *  "timestamp": {"column": "ts", "format": "iso"}, "dimensions": ["country", "device"],
 *  "metrics": [{"type": "doubleSum", "name": "value", "fieldName": "value"}],
 *  "segmentGranularity": "hour", "queryGranularity": "none", "rollup": false}
 * Unknown keys are errors that name them.
 */
export const INPUT_FORMATS = ['ndjson', 'json', 'csv', 'parquet'] as const;
export const TIMESTAMP_FORMATS = ['iso', 'millis', 'posix', 'micro', 'nano', 'auto'] as const;
export const METRIC_TYPES = ['count', 'longSum', 'doubleSum', 'longMin', 'longMax', 'doubleMin', 'doubleMax'] as const;

const granularity = z.enum(GRANULARITIES);
const columnName = z.string().min(1).max(255).refine((s) => s !== '__time', '__time is reserved for the timestamp');

const metricSchema = z.strictObject({
  type: z.enum(METRIC_TYPES),
  name: columnName,
  fieldName: z.string().min(1).max(255).optional(),
}).refine((m) => m.type === 'count' || m.fieldName !== undefined, { message: 'fieldName is required for this metric type', path: ['fieldName'] });

export const ingestionSpecSchema = z.strictObject({
  dataSource: datasourceNameSchema,
  input: z.strictObject({
    /** Files to read (relative to the spec file), or "-" for standard input. */
    files: z.array(z.string().min(1)).min(1, 'name at least one input file (or "-" for standard input)'),
    format: z.enum(INPUT_FORMATS),
    /** CSV only: the field separator. */
    delimiter: z.string().length(1).default(','),
    /** Read only the first this-many rows of the inputs (a sample; the quickstart's slice). */
    maxRows: z.int().min(1).optional(),
  }),
  timestamp: z.strictObject({
    column: z.string().min(1),
    format: z.enum(TIMESTAMP_FORMATS).default('auto'),
  }),
  dimensions: z.array(columnName).min(0).max(1000),
  metrics: z.array(metricSchema).max(1000).default([]),
  segmentGranularity: granularity.exclude(['none']).default('day'),
  queryGranularity: granularity.default('none'),
  /** Combine rows with equal truncated time and dimensions (Druid's default is true). */
  rollup: z.boolean().default(true),
  /** More rows than this in one interval make more partitions of it. */
  maxRowsPerSegment: z.int().min(1).max(50_000_000).default(5_000_000),
  /** Rows that fail to parse beyond this count fail the job; nothing is published. */
  maxParseExceptions: z.int().min(0).default(0),
  /** Identifies the job for exactly-once publication; by default a hash of the spec and the input. */
  ingestionId: ingestionIdSchema.optional(),
  /** The segments' version; by default the job's start time (newer versions overshadow older ones). */
  version: versionSchema.optional(),
}).superRefine((spec, ctx) => {
  const names = [...spec.dimensions, ...spec.metrics.map((m) => m.name)];
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) ctx.addIssue({ code: 'custom', path: ['dimensions'], message: `column ${JSON.stringify(n)} is named twice` });
    seen.add(n);
  }
  if (spec.input.files.includes('-') && spec.input.files.length > 1) {
    ctx.addIssue({ code: 'custom', path: ['input', 'files'], message: '"-" (standard input) cannot be combined with files' });
  }
  // A row goes into the segment of its truncated time: a query bucket straddling segments, or
  // coarser than them, would put rows into a segment that does not cover them (Druid refuses too).
  if (!nestsWithin(spec.queryGranularity, spec.segmentGranularity)) {
    ctx.addIssue({
      code: 'custom',
      path: ['queryGranularity'],
      message: `queryGranularity ${JSON.stringify(spec.queryGranularity)} does not fit segmentGranularity ${JSON.stringify(spec.segmentGranularity)}: ` +
        'queryGranularity must be no coarser than segmentGranularity and every queryGranularity bucket must lie within one segmentGranularity bucket',
    });
  }
  if (spec.input.files.includes('-') && spec.input.format === 'parquet') {
    ctx.addIssue({ code: 'custom', path: ['input', 'format'], message: 'parquet cannot be read from standard input' });
  }
});

export type IngestionSpec = z.output<typeof ingestionSpecSchema>;
export type MetricSpecInput = IngestionSpec['metrics'][number];

export class SpecError extends Error {
  override name = 'SpecError';
}

export function parseIngestionSpec(json: unknown): IngestionSpec {
  const r = ingestionSpecSchema.safeParse(json);
  if (!r.success) throw new SpecError(`invalid ingestion spec: ${formatZodError(r.error)}`);
  const spec = r.data;
  // A rolled-up datasource keeps a count of the rows each row stands for, as Druid does.
  if (spec.rollup && !spec.metrics.some((m) => m.type === 'count')) {
    return { ...spec, metrics: [{ type: 'count', name: 'count' }, ...spec.metrics] };
  }
  return spec;
}
