/**
 * Zod schemas for Druid's native query JSON. Each schema validates the shape Druid accepts and
 * transforms it into the normalized model of `types.ts`. Unknown properties are ignored, as
 * Druid's Jackson mapper ignores them; `null` counts as absent, as it does in Druid.
 *
 * Features Druid has and this engine does not (extraction functions, virtual columns, other
 * data source types...) fail with a custom issue flagged `unsupported`, so `parseQuery` can
 * answer 501 rather than 400.
 */
import { z } from 'zod';
import { parseInstant, parseInterval, parsePeriod, type Interval } from '../time.js';
import { likeToRegExp } from './like.js';
import type {
  Aggregator,
  DimensionSpec,
  Filter,
  Granularity,
  HavingSpec,
  LimitSpec,
  MatchValueType,
  OrderByColumn,
  PostAggregator,
  SearchQuerySpec,
  StringOrdering,
  TopNMetricSpec,
} from './types.js';

/** Bounds on the size of a query: a typo or an attack must not make the engine allocate without end. */
export const intervalsMax = 10_000;
export const aggregationsMax = 1_000;
export const postAggregationsMax = 1_000;
export const dimensionsMax = 64;
export const filterFieldsMax = 10_000;
export const inValuesMax = 1_000_000;
export const topNThresholdMax = 1_000_000;
export const quantilesKMax = 32_768;

/** Marks an issue as "Druid has this, we do not" (answered with 501). */
export const UNSUPPORTED_PARAM = 'cairnUnsupported';

const absentIfNull = (v: unknown): unknown => (v === null ? undefined : v);

/** An optional field: absent or null gives `fallback`. */
function opt<T extends z.ZodType, D>(schema: T, fallback: D) {
  return z.preprocess(absentIfNull, schema.optional()).transform((v) => (v === undefined ? fallback : v) as Exclude<z.output<T>, undefined> | D);
}

const str = z.string();
const nonEmpty = z.string().min(1, 'must not be empty');
/** Druid (Jackson) accepts "true"/"false" strings for booleans; the docs' own timeseries example does. */
const bool = z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean());
/** Jackson also accepts integers written as strings. */
const int = (min: number, max: number) =>
  z.preprocess((v) => (typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v), z.number().int().min(min).max(max));
const num = z.preprocess((v) => (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : v), z.number());

/** A field Druid accepts but this engine does not implement: only absent or null passes. */
function unsupported(what: string) {
  return z
    .unknown()
    .optional()
    .superRefine((v, ctx) => {
      if (v !== undefined && v !== null) ctx.addIssue({ code: 'custom', message: `${what} is not supported`, params: { [UNSUPPORTED_PARAM]: true } });
  });
}

/** A discriminated union whose failure names the unknown type and lists the known ones. */
function tagged<const T extends readonly [z.core.$ZodTypeDiscriminable, ...z.core.$ZodTypeDiscriminable[]]>(
  what: string,
  options: T,
  notSupported: readonly string[] = [],
) {
  const known = options.flatMap((o) => [...(o._zod.propValues?.['type'] ?? [])].map(String));
  return z.discriminatedUnion('type', options, {
    error: (iss) => {
      const input = iss.input as Record<string, unknown> | undefined;
      if ((iss.code as string) === 'invalid_type') return `expected ${what} object`;
      const t = input?.['type'];
      if (t === undefined || t === null) return 'required';
      if (typeof t === 'string' && notSupported.includes(t)) return { message: `${what} type "${t}" is not supported`, params: { [UNSUPPORTED_PARAM]: true } } as never;
      return `unknown ${what} type ${JSON.stringify(t)}; expected one of ${known.join(', ')}`;
    },
  });
}


/**
 * A value that may be written as a string, a number or an object, each validated by its own
 * schema, so the errors are those of the form the user chose rather than a vague "no union
 * member matched".
 */
function byKind<Out>(
  forms: { string?: z.ZodType<Out>; number?: z.ZodType<Out>; object?: z.ZodType<Out>; array?: z.ZodType<Out> },
  expected: string,
) {
  return z.unknown().transform((v, ctx): Out => {
    const schema = typeof v === 'string' ? forms.string : typeof v === 'number' ? forms.number : Array.isArray(v) ? forms.array : typeof v === 'object' && v !== null ? forms.object : undefined;
    if (!schema) {
      ctx.addIssue({ code: 'custom', message: v === undefined ? 'required' : `expected ${expected}` });
      return z.NEVER;
    }
    const r = schema.safeParse(v);
    if (r.success) return r.data as Out;
    for (const issue of r.error.issues) ctx.addIssue({ ...(issue as z.core.$ZodIssueCustom), code: 'custom', path: issue.path });
    return z.NEVER;
  });
}

/** Strings, numbers and null as Druid's string values: numbers become their decimal text. */
const stringValue = z.union([z.string(), z.number().transform((n) => String(n))]);
const nullableStringValue = z.preprocess(absentIfNull, stringValue.optional()).transform((v) => v ?? null);

const intervalText = z.string().transform((s, ctx) => {
  try {
    return parseInterval(s);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

/** Druid accepts a list of intervals, one interval string, or `{type: "intervals", intervals}`. */
export const intervalsSchema = byKind<Interval[]>(
  {
    array: z.array(intervalText).max(intervalsMax),
    string: intervalText.transform((i) => [i]),
    object: z.discriminatedUnion('type', [
      z.object({ type: z.literal('intervals'), intervals: z.array(intervalText).max(intervalsMax) }).transform((o) => o.intervals),
      z
        .object({ type: z.literal('segments') })
        .superRefine((_, ctx) => {
          ctx.addIssue({ code: 'custom', message: 'segment specs are not supported', params: { [UNSUPPORTED_PARAM]: true } });
        })
        .transform(() => [] as Interval[]),
    ]),
  },
  'a list of ISO-8601 intervals ("start/end")',
).transform(condenseIntervals);

/** Sorts intervals and merges the ones that overlap or touch, dropping empty ones (Druid's condenseIntervals). */
export function condenseIntervals(intervals: readonly Interval[]): Interval[] {
  const sorted = intervals.filter((i) => i.end > i.start).sort((a, b) => a.start - b.start || a.end - b.end);
  const out: Interval[] = [];
  for (const i of sorted) {
    const last = out.at(-1);
    if (last && i.start <= last.end) out[out.length - 1] = { start: last.start, end: Math.max(last.end, i.end) };
    else out.push({ start: i.start, end: i.end });
  }
  return out;
}

/** The intersection of two sorted lists of disjoint half-open intervals. */
export function intersectIntervals(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const start = Math.max(a[i]!.start, b[j]!.start);
    const end = Math.min(a[i]!.end, b[j]!.end);
    if (end > start) out.push({ start, end });
    if (a[i]!.end < b[j]!.end) i++;
    else j++;
  }
  return out;
}

const ORDERINGS: Record<string, StringOrdering> = {
  lexicographic: 'lexicographic',
  alphanumeric: 'alphanumeric',
  numeric: 'numeric',
  strlen: 'strlen',
};
/** A StringComparator: a name or `{type: name}`, case-insensitive; `version` is Druid's and not ours. */
const orderingSchema = z
  .union([z.string(), z.object({ type: z.string() }).transform((o) => o.type)])
  .transform((s, ctx) => {
    const o = ORDERINGS[s.toLowerCase()];
    if (o) return o;
    if (s.toLowerCase() === 'version') {
      ctx.addIssue({ code: 'custom', message: 'the "version" ordering is not supported', params: { [UNSUPPORTED_PARAM]: true } });
    } else {
      ctx.addIssue({ code: 'custom', message: `unknown ordering ${JSON.stringify(s)}; expected lexicographic, alphanumeric, numeric or strlen` });
    }
    return z.NEVER;
  });

const matchValueTypeSchema = z.string().transform((s, ctx): MatchValueType => {
  const u = s.toUpperCase();
  if (u === 'STRING' || u === 'LONG' || u === 'DOUBLE') return u;
  if (u === 'FLOAT') return 'DOUBLE';
  ctx.addIssue({
    code: 'custom',
    message: `unsupported matchValueType ${JSON.stringify(s)}; expected STRING, LONG, DOUBLE or FLOAT`,
    params: u.startsWith('ARRAY') || u.startsWith('COMPLEX') ? { [UNSUPPORTED_PARAM]: true } : undefined,
  });
  return z.NEVER;
});

const regexSource = z.string().superRefine((p, ctx) => {
  try {
    new RegExp(p);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `invalid regular expression: ${(err as Error).message}` });
  }
});

const noExtraction = { extractionFn: unsupported('extractionFn') };

export const filterSchema: z.ZodType<Filter> = z.lazy(() =>
  tagged(
    'filter',
    [
      z.object({ type: z.literal('true') }).transform((): Filter => ({ type: 'true' })),
      z.object({ type: z.literal('false') }).transform((): Filter => ({ type: 'false' })),
      z.object({ type: z.literal('and'), fields: z.array(filterSchema).max(filterFieldsMax) }).transform((f): Filter => ({ type: 'and', fields: f.fields })),
      z.object({ type: z.literal('or'), fields: z.array(filterSchema).max(filterFieldsMax) }).transform((f): Filter => ({ type: 'or', fields: f.fields })),
      z.object({ type: z.literal('not'), field: filterSchema }).transform((f): Filter => ({ type: 'not', field: f.field })),
      z
        .object({ type: z.literal('selector'), dimension: nonEmpty, value: nullableStringValue, ...noExtraction })
        .transform((f): Filter => ({ type: 'selector', dimension: f.dimension, value: f.value })),
      z
        .object({ type: z.literal('in'), dimension: nonEmpty, values: z.array(z.union([stringValue, z.null()])).max(inValuesMax), ...noExtraction })
        .transform((f): Filter => ({ type: 'in', dimension: f.dimension, values: f.values })),
      z
        .object({
          type: z.literal('bound'),
          dimension: nonEmpty,
          lower: nullableStringValue,
          upper: nullableStringValue,
          lowerStrict: opt(bool, false),
          upperStrict: opt(bool, false),
          ordering: opt(orderingSchema, null),
          alphaNumeric: opt(bool, false),
          ...noExtraction,
        })
        .superRefine((f, ctx) => {
          if (f.lower === null && f.upper === null) ctx.addIssue({ code: 'custom', path: ['lower'], message: 'at least one of lower and upper is required' });
        })
        .transform(
          (f): Filter => ({
            type: 'bound',
            dimension: f.dimension,
            lower: f.lower,
            upper: f.upper,
            lowerStrict: f.lowerStrict,
            upperStrict: f.upperStrict,
            ordering: f.ordering ?? (f.alphaNumeric ? 'alphanumeric' : 'lexicographic'),
          }),
        ),
      z
        .object({ type: z.literal('equals'), column: nonEmpty, matchValueType: matchValueTypeSchema, matchValue: z.union([z.string(), z.number()]) })
        .transform((f): Filter => ({ type: 'equals', column: f.column, matchValueType: f.matchValueType, matchValue: f.matchValue })),
      z
        .object({
          type: z.literal('range'),
          column: nonEmpty,
          matchValueType: matchValueTypeSchema,
          lower: opt(z.union([z.string(), z.number()]), null),
          upper: opt(z.union([z.string(), z.number()]), null),
          lowerOpen: opt(bool, false),
          upperOpen: opt(bool, false),
        })
        .superRefine((f, ctx) => {
          if (f.lower === null && f.upper === null) ctx.addIssue({ code: 'custom', path: ['lower'], message: 'at least one of lower and upper is required' });
          if (f.matchValueType !== 'STRING') {
            for (const k of ['lower', 'upper'] as const) {
              const v = f[k];
              if (v !== null && !Number.isFinite(Number(v))) ctx.addIssue({ code: 'custom', path: [k], message: `expected a number for matchValueType ${f.matchValueType}` });
            }
          }
        })
        .transform(
          (f): Filter => ({
            type: 'range',
            column: f.column,
            matchValueType: f.matchValueType,
            lower: f.lower,
            upper: f.upper,
            lowerOpen: f.lowerOpen,
            upperOpen: f.upperOpen,
          }),
        ),
      z.object({ type: z.literal('null'), column: nonEmpty }).transform((f): Filter => ({ type: 'null', column: f.column })),
      z
        .object({ type: z.literal('regex'), dimension: nonEmpty, pattern: regexSource, ...noExtraction })
        .transform((f): Filter => ({ type: 'regex', dimension: f.dimension, pattern: f.pattern })),
      z
        .object({
          type: z.literal('like'),
          dimension: nonEmpty,
          pattern: str,
          escape: opt(z.string().length(1, 'must be a single character'), null),
          ...noExtraction,
        })
        .superRefine((f, ctx) => {
          try {
            likeToRegExp(f.pattern, f.escape);
          } catch (err) {
            ctx.addIssue({ code: 'custom', path: ['pattern'], message: (err as Error).message });
          }
        })
        .transform((f): Filter => ({ type: 'like', dimension: f.dimension, pattern: f.pattern, escape: f.escape })),
      z
        .object({ type: z.literal('search'), dimension: nonEmpty, query: searchQuerySchema, ...noExtraction })
        .transform((f): Filter => ({ type: 'search', dimension: f.dimension, query: f.query })),
      z
        .object({ type: z.literal('interval'), dimension: nonEmpty, intervals: z.array(intervalText).min(1).max(intervalsMax), ...noExtraction })
        .transform((f): Filter => ({ type: 'interval', dimension: f.dimension, intervals: condenseIntervals(f.intervals) })),
    ],
    ['columnComparison', 'extraction', 'javascript', 'spatial', 'expression', 'arrayContainsElement', 'istrue', 'isfalse'],
  ),
);

const searchQuerySchema: z.ZodType<SearchQuerySpec> = tagged('search query', [
  z
    .object({ type: z.literal('contains'), value: str, caseSensitive: opt(bool, false) })
    .transform((q): SearchQuerySpec => ({ type: 'contains', value: q.value, caseSensitive: q.caseSensitive })),
  z.object({ type: z.literal('insensitive_contains'), value: str }).transform((q): SearchQuerySpec => ({ type: 'insensitive_contains', value: q.value })),
  z
    .object({ type: z.literal('fragment'), values: z.array(str).min(1), caseSensitive: opt(bool, false) })
    .transform((q): SearchQuerySpec => ({ type: 'fragment', values: q.values, caseSensitive: q.caseSensitive })),
]);

const fieldName = { fieldName: nonEmpty, expression: unsupported('expression') };
const SIMPLE_TYPES = ['longSum', 'doubleSum', 'floatSum', 'longMin', 'longMax', 'doubleMin', 'doubleMax', 'floatMin', 'floatMax'] as const;

/** A DimensionSpec: a column name, or `{type: "default", dimension, outputName}`. */
export const dimensionSpecSchema = byKind<DimensionSpec>(
  {
    string: nonEmpty.transform((d): DimensionSpec => ({ dimension: d, outputName: d })),
    object: z
      .object({
        type: opt(z.string(), 'default'),
        dimension: nonEmpty,
        outputName: opt(nonEmpty, null),
        outputType: opt(z.string(), 'STRING'),
        extractionFn: unsupported('extractionFn'),
      })
      .superRefine((d, ctx) => {
        if (d.type !== 'default') ctx.addIssue({ code: 'custom', path: ['type'], message: `dimension spec type "${d.type}" is not supported`, params: { [UNSUPPORTED_PARAM]: true } });
        if (d.outputType.toUpperCase() !== 'STRING') {
          ctx.addIssue({ code: 'custom', path: ['outputType'], message: `outputType ${d.outputType} is not supported`, params: { [UNSUPPORTED_PARAM]: true } });
        }
      })
      .transform((d): DimensionSpec => ({ dimension: d.dimension, outputName: d.outputName ?? d.dimension })),
  },
  'a dimension name or {"type": "default", "dimension": ...}',
);

export const aggregatorSchema: z.ZodType<Aggregator> = z.lazy(() =>
  tagged(
    'aggregator',
    [
      z.object({ type: z.literal('count'), name: nonEmpty }).transform((a): Aggregator => ({ type: 'count', name: a.name })),
      z.object({ type: z.enum(SIMPLE_TYPES), name: nonEmpty, ...fieldName }).transform(
        (a): Aggregator => ({ type: a.type.replace('float', 'double') as Exclude<(typeof SIMPLE_TYPES)[number], `float${string}`>, name: a.name, fieldName: a.fieldName }),
      ),
      z
        .object({ type: z.literal('filtered'), name: opt(nonEmpty, null), filter: filterSchema, aggregator: aggregatorSchema })
        .transform((a): Aggregator => ({ type: 'filtered', name: a.name ?? a.aggregator.name, filter: a.filter, aggregator: a.aggregator })),
      z
        .object({
          type: z.literal('cardinality'),
          name: nonEmpty,
          fields: z.array(dimensionSpecSchema).min(1).max(dimensionsMax),
          byRow: opt(bool, false),
          round: opt(bool, false),
        })
        .transform((a): Aggregator => ({ type: 'cardinality', name: a.name, fields: a.fields.map((f) => f.dimension), byRow: a.byRow, round: a.round })),
      z
        .object({ type: z.literal('hyperUnique'), name: nonEmpty, fieldName: nonEmpty, round: opt(bool, false), isInputHyperUnique: opt(bool, false) })
        .superRefine((a, ctx) => {
          if (a.isInputHyperUnique) {
            ctx.addIssue({ code: 'custom', path: ['isInputHyperUnique'], message: 'pre-aggregated HLL columns are not supported', params: { [UNSUPPORTED_PARAM]: true } });
          }
        })
        .transform((a): Aggregator => ({ type: 'hyperUnique', name: a.name, fieldName: a.fieldName, round: a.round })),
      z
        .object({
          type: z.literal('quantilesDoublesSketch'),
          name: nonEmpty,
          fieldName: nonEmpty,
          k: opt(
            int(2, quantilesKMax).refine((k) => (k & (k - 1)) === 0, 'must be a power of 2 from 2 to 32768'),
            128,
          ),
        })
        .transform((a): Aggregator => ({ type: 'quantilesDoublesSketch', name: a.name, fieldName: a.fieldName, k: a.k })),
    ],
    [
      'doubleMean',
      'longFirst',
      'longLast',
      'doubleFirst',
      'doubleLast',
      'floatFirst',
      'floatLast',
      'stringFirst',
      'stringLast',
      'longAny',
      'doubleAny',
      'floatAny',
      'stringAny',
      'thetaSketch',
      'HLLSketchBuild',
      'HLLSketchMerge',
      'grouping',
      'expression',
      'javascript',
      'approxHistogram',
      'approxHistogramFold',
    ],
  ),
);

export const postAggregatorSchema: z.ZodType<PostAggregator> = z.lazy(() =>
  tagged(
    'post-aggregator',
    [
      z
        .object({
          type: z.literal('arithmetic'),
          name: opt(z.string(), ''),
          fn: z.enum(['+', '-', '*', '/', 'quotient'], { error: () => 'expected one of +, -, *, /, quotient' }),
          fields: z.array(postAggregatorSchema).min(2, 'an arithmetic post-aggregator needs at least 2 fields').max(postAggregationsMax),
          ordering: opt(z.literal('numericFirst'), null),
        })
        .transform((p): PostAggregator => ({ type: 'arithmetic', name: p.name, fn: p.fn, fields: p.fields, ordering: p.ordering })),
      z
        .object({ type: z.literal('fieldAccess'), name: opt(z.string(), null), fieldName: nonEmpty })
        .transform((p): PostAggregator => ({ type: 'fieldAccess', name: p.name ?? p.fieldName, fieldName: p.fieldName })),
      z
        .object({ type: z.literal('finalizingFieldAccess'), name: opt(z.string(), null), fieldName: nonEmpty })
        .transform((p): PostAggregator => ({ type: 'finalizingFieldAccess', name: p.name ?? p.fieldName, fieldName: p.fieldName })),
      z.object({ type: z.literal('constant'), name: opt(z.string(), ''), value: num }).transform((p): PostAggregator => ({ type: 'constant', name: p.name, value: p.value })),
      z
        .object({ type: z.literal('hyperUniqueCardinality'), name: opt(z.string(), null), fieldName: nonEmpty })
        .transform((p): PostAggregator => ({ type: 'hyperUniqueCardinality', name: p.name ?? p.fieldName, fieldName: p.fieldName })),
      z
        .object({
          type: z.enum(['doubleGreatest', 'doubleLeast', 'longGreatest', 'longLeast']),
          name: opt(z.string(), ''),
          fields: z.array(postAggregatorSchema).min(1).max(postAggregationsMax),
        })
        .transform((p): PostAggregator => ({ type: p.type, name: p.name, fields: p.fields })),
      z
        .object({ type: z.literal('quantilesDoublesSketchToQuantile'), name: opt(z.string(), ''), field: postAggregatorSchema, fraction: num.pipe(z.number().min(0).max(1)) })
        .transform((p): PostAggregator => ({ type: 'quantilesDoublesSketchToQuantile', name: p.name, field: p.field, fraction: p.fraction })),
      z
        .object({
          type: z.literal('quantilesDoublesSketchToQuantiles'),
          name: opt(z.string(), ''),
          field: postAggregatorSchema,
          fractions: z.array(num.pipe(z.number().min(0).max(1))).min(1).max(10_000),
        })
        .transform((p): PostAggregator => ({ type: 'quantilesDoublesSketchToQuantiles', name: p.name, field: p.field, fractions: p.fractions })),
    ],
    [
      'expression',
      'javascript',
      'thetaSketchEstimate',
      'thetaSketchSetOp',
      'quantilesDoublesSketchToHistogram',
      'quantilesDoublesSketchToRank',
      'quantilesDoublesSketchToCDF',
      'quantilesDoublesSketchToString',
    ],
  ),
);

/** Druid's simple granularity names; `week` buckets are seven days from a Monday, as in Druid. */
const FIXED_GRANULARITIES: Record<string, number> = {
  second: 1_000,
  minute: 60_000,
  five_minute: 300_000,
  ten_minute: 600_000,
  fifteen_minute: 900_000,
  thirty_minute: 1_800_000,
  hour: 3_600_000,
  six_hour: 21_600_000,
  eight_hour: 28_800_000,
  day: 86_400_000,
  week: 604_800_000,
};
const CALENDAR_GRANULARITIES: Record<string, string> = { month: 'P1M', quarter: 'P3M', year: 'P1Y' };
/** Monday 1970-01-05T00:00Z: where Druid's weeks start when no origin is given. */
export const WEEK_ORIGIN_MS = 4 * 86_400_000;

function simpleGranularity(name: string): Granularity | null {
  const n = name.toLowerCase();
  if (n === 'all') return { type: 'all' };
  if (n === 'none') return { type: 'none' };
  const fixed = FIXED_GRANULARITIES[n];
  if (fixed !== undefined) return { type: 'duration', duration: fixed, origin: n === 'week' ? WEEK_ORIGIN_MS : 0 };
  const period = CALENDAR_GRANULARITIES[n];
  if (period !== undefined) return { type: 'period', period, timeZone: 'UTC', origin: null };
  return null;
}

const instantText = z.union([z.string(), z.number()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  try {
    return parseInstant(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

/** Whether the runtime knows this IANA time zone (or fixed offset such as `+05:30`). */
export function isKnownTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const granularitySchema = byKind<Granularity>(
  {
    string: z.string().transform((s, ctx): Granularity => {
      const g = simpleGranularity(s);
      if (g) return g;
      ctx.addIssue({
        code: 'custom',
        message: `unknown granularity ${JSON.stringify(s)}; expected all, none, second, minute, five_minute, ten_minute, fifteen_minute, thirty_minute, hour, six_hour, eight_hour, day, week, month, quarter or year`,
      });
      return z.NEVER;
    }),
    object: tagged('granularity', [
    z.object({ type: z.enum(['all', 'none']) }).transform((g): Granularity => ({ type: g.type })),
    z
      .object({ type: z.literal('duration'), duration: int(1, Number.MAX_SAFE_INTEGER), origin: opt(instantText, 0) })
      .transform((g): Granularity => ({ type: 'duration', duration: g.duration, origin: g.origin })),
    z
      .object({
        type: z.literal('period'),
        period: z.string().superRefine((p, ctx) => {
          try {
            const parsed = parsePeriod(p);
            if (Object.values(parsed).every((v) => v === 0)) ctx.addIssue({ code: 'custom', message: 'the period must not be zero' });
          } catch (err) {
            ctx.addIssue({ code: 'custom', message: (err as Error).message });
          }
        }),
        timeZone: opt(
          z.string().refine(isKnownTimeZone, { message: 'unknown time zone' }),
          'UTC',
        ),
        origin: opt(instantText, null),
      })
      .transform((g): Granularity => periodGranularity(g.period, g.timeZone, g.origin)),
    ]),
  },
  'a granularity name or {"type": "period" | "duration", ...}',
);

/** A period granularity, simplified to a fixed duration when the time zone cannot change its length. */
function periodGranularity(period: string, timeZone: string, origin: number | null): Granularity {
  const p = parsePeriod(period);
  const utc = timeZone === 'UTC' || timeZone === 'Etc/UTC' || timeZone === 'Z';
  if (utc && p.years === 0 && p.months === 0) {
    const duration = (p.weeks * 7 + p.days) * 86_400_000 + p.hours * 3_600_000 + p.minutes * 60_000 + p.seconds * 1_000 + p.millis;
    // Weeks without an origin start on Monday in Druid (and Joda).
    return { type: 'duration', duration, origin: origin ?? (p.weeks > 0 ? WEEK_ORIGIN_MS : 0) };
  }
  return { type: 'period', period, timeZone: utc ? 'UTC' : timeZone, origin };
}

export const havingSchema: z.ZodType<HavingSpec> = z.lazy(() =>
  tagged('having', [
    z
      .object({ type: z.enum(['greaterThan', 'lessThan', 'equalTo']), aggregation: nonEmpty, value: num })
      .transform((h): HavingSpec => ({ type: h.type, aggregation: h.aggregation, value: h.value })),
    z
      .object({ type: z.literal('dimSelector'), dimension: nonEmpty, value: nullableStringValue, ...noExtraction })
      .transform((h): HavingSpec => ({ type: 'dimSelector', dimension: h.dimension, value: h.value })),
    z.object({ type: z.literal('filter'), filter: filterSchema }).transform((h): HavingSpec => ({ type: 'filter', filter: h.filter })),
    z.object({ type: z.enum(['and', 'or']), havingSpecs: z.array(havingSchema).max(filterFieldsMax) }).transform((h): HavingSpec => ({ type: h.type, havingSpecs: h.havingSpecs })),
    z.object({ type: z.literal('not'), havingSpec: havingSchema }).transform((h): HavingSpec => ({ type: 'not', havingSpec: h.havingSpec })),
    z.object({ type: z.enum(['always', 'never']) }).transform((h): HavingSpec => ({ type: h.type })),
  ]),
);

const directionSchema = z.string().transform((s, ctx): OrderByColumn['direction'] => {
  const d = s.toLowerCase();
  if (d === 'ascending' || d === 'asc') return 'ascending';
  if (d === 'descending' || d === 'desc') return 'descending';
  ctx.addIssue({ code: 'custom', message: `expected "ascending" or "descending", got ${JSON.stringify(s)}` });
  return z.NEVER;
});

const orderByColumnSchema = byKind<OrderByColumn>(
  {
    string: nonEmpty.transform((d): OrderByColumn => ({ dimension: d, direction: 'ascending', dimensionOrder: 'lexicographic' })),
    object: z
      .object({ dimension: nonEmpty, direction: opt(directionSchema, 'ascending' as const), dimensionOrder: opt(orderingSchema, 'lexicographic' as const) })
      .transform((c): OrderByColumn => ({ dimension: c.dimension, direction: c.direction, dimensionOrder: c.dimensionOrder })),
  },
  'a column name or {"dimension", "direction", "dimensionOrder"}',
);

export const limitSpecSchema = z
  .object({
    type: opt(z.literal('default', { error: () => 'only the "default" limitSpec is supported' }), 'default' as const),
    limit: opt(int(0, Number.MAX_SAFE_INTEGER), null),
    offset: opt(int(0, Number.MAX_SAFE_INTEGER), 0),
    columns: opt(z.array(orderByColumnSchema).max(dimensionsMax + aggregationsMax + postAggregationsMax), []),
  })
  .transform((l): LimitSpec => ({ type: 'default', limit: l.limit, offset: l.offset, columns: l.columns }));

export const topNMetricSchema: z.ZodType<TopNMetricSpec> = z.lazy(() =>
  byKind<TopNMetricSpec>(
    {
      string: nonEmpty.transform((m): TopNMetricSpec => ({ type: 'numeric', metric: m })),
      object: tagged('topN metric', [
        z.object({ type: z.literal('numeric'), metric: nonEmpty }).transform((m): TopNMetricSpec => ({ type: 'numeric', metric: m.metric })),
        z
          .object({ type: z.literal('dimension'), ordering: opt(orderingSchema, 'lexicographic' as const), previousStop: opt(z.string(), null) })
          .transform((m): TopNMetricSpec => ({ type: 'dimension', ordering: m.ordering, previousStop: m.previousStop })),
        z
          .object({ type: z.enum(['lexicographic', 'alphaNumeric']), previousStop: opt(z.string(), null) })
          .transform((m): TopNMetricSpec => ({ type: 'dimension', ordering: m.type === 'lexicographic' ? 'lexicographic' : 'alphanumeric', previousStop: m.previousStop })),
        z.object({ type: z.literal('inverted'), metric: topNMetricSchema }).transform((m): TopNMetricSpec => ({ type: 'inverted', metric: m.metric })),
      ]),
    },
    'a metric name or a TopNMetricSpec object',
  ),
);

export const contextSchema = z
  .looseObject({
    timeout: opt(int(0, Number.MAX_SAFE_INTEGER), undefined),
    priority: opt(int(-1_000_000_000, 1_000_000_000), undefined),
    queryId: opt(z.string(), undefined),
    lane: opt(z.string(), undefined),
    minTopNThreshold: opt(int(1, topNThresholdMax), undefined),
    skipEmptyBuckets: opt(bool, undefined),
    grandTotal: opt(bool, undefined),
    sortByDimsFirst: opt(bool, undefined),
    maxRowsQueuedForOrdering: opt(int(1, 100_000_000), undefined),
    maxScatterGatherBytes: opt(int(1, Number.MAX_SAFE_INTEGER), undefined),
  })
  .transform((c) => {
    // Drop the keys that were absent rather than carrying `undefined`s around.
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(c)) if (v !== undefined) out[k] = v;
    return out;
  });

export const dataSourceSchema = byKind<string>(
  {
    string: nonEmpty,
    object: z
      .object({ type: z.string(), name: z.unknown().optional() })
      .superRefine((d, ctx) => {
        if (d.type !== 'table') ctx.addIssue({ code: 'custom', path: ['type'], message: `data source type "${d.type}" is not supported`, params: { [UNSUPPORTED_PARAM]: true } });
      })
      .pipe(z.object({ type: z.literal('table'), name: nonEmpty }))
      .transform((d) => d.name),
  },
  'a data source name or {"type": "table", "name": ...}',
);

export { str as stringSchema, nonEmpty as nonEmptyStringSchema, bool as booleanSchema, int as intSchema, opt as optionalSchema, unsupported as unsupportedSchema };
