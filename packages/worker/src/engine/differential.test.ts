/**
 * The differential test, the engine's main proof (DuckDB's verification idea). For seeded random
 * tables cut into random segments (some empty), every query is answered three ways:
 *   (a) runOnSegment per segment (or most segments folded by a SegmentsAccumulator), partials
 *       through JSON, merged in a random tree, finalized;
 *   (b) runOnSegment over one segment holding the whole table;
 *   (c) the same question in SQL to DuckDB.
 * (a) must equal (b) (floating point within 1e-9 relative; quantile values, which depend on the
 * sketch's compaction order, only against (c)), and both must equal (c): exactly for the exact
 * aggregators, within 4 standard errors (9.2%) for HyperLogLog, and within the sketch's rank
 * error for quantiles (the value must lie between DuckDB's quantile_cont at f - 2.5% and f + 2.5%).
 *
 * Replay one seed: CAIRN_SEED=7 npx tap packages/worker/src/engine/differential.test.ts
 */
import { finalizeResult, mergePartials, parseQuery, type LoadedSegment, type PartialResult } from '@cairn/shared';
import t, { type Test } from 'tap';
import { SegmentsAccumulator } from './accumulate.js';
import { runOnSegment } from './run.js';
import { Duck } from './test-support/duck.js';
import {
  bucketsOver,
  col,
  lit,
  randomApproxAggregator,
  randomExactAggregator,
  randomFilter,
  randomGranularity,
  randomIntervals,
  randomPostAggregators,
  type AggGen,
  type GranularityGen,
} from './test-support/gen.js';
import { Rng } from './test-support/rng.js';
import { randomSplit, randomTable, type Split, type Table } from './test-support/table.js';

const seeds = process.env['CAIRN_SEED'] ? [Number(process.env['CAIRN_SEED'])] : [101, 202, 303];
const queriesPerType = Number(process.env['CAIRN_QUERIES'] ?? 12);
const HLL_TOLERANCE = 0.092;
const QUANTILE_RANK_TOLERANCE = 0.025;

type Json = unknown;
interface Approx {
  __approx: 'hll' | 'quantile';
  exact?: number;
  /** Quantiles: the fraction, the group's sorted values, and DuckDB's quantile_cont at fraction -/+ tolerance. */
  fraction?: number;
  values?: number[];
  lo?: number | null;
  hi?: number | null;
}

/** Groups with at least this many values also check the value against quantile_cont (smaller ones interpolate too coarsely). */
const QUANTILE_CONT_MIN_VALUES = 500;

function isApprox(x: unknown): x is Approx {
  return typeof x === 'object' && x !== null && '__approx' in x;
}

function numbersClose(a: number, b: number): boolean {
  return a === b || Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

/** The first difference between actual and expected (which may hold Approx markers), or null. */
function difference(actual: Json, expected: Json, path = '$', skip: (key: string) => boolean = () => false): string | null {
  if (isApprox(expected)) {
    if (expected.__approx === 'hll') {
      const exact = expected.exact!;
      if (typeof actual !== 'number' || Math.abs(actual - exact) > HLL_TOLERANCE * exact + 1) return `${path}: HLL estimate ${actual} vs exact ${exact}`;
      return null;
    }
    const values = expected.values ?? [];
    if (values.length === 0) return actual === null ? null : `${path}: expected null quantile, got ${actual}`;
    if (typeof actual !== 'number') return `${path}: expected a quantile, got ${JSON.stringify(actual)}`;
    // The rank of the returned value among the exact values must be within the tolerance of the fraction.
    const n = values.length;
    const below = values.filter((v) => v < actual).length;
    const atMost = values.filter((v) => v <= actual).length;
    const f = expected.fraction!;
    if (below / n > f + QUANTILE_RANK_TOLERANCE || atMost / n < f - QUANTILE_RANK_TOLERANCE) {
      return `${path}: quantile ${actual} has rank [${below / n}, ${atMost / n}] among ${n} values, asked ${f}`;
    }
    if (n >= QUANTILE_CONT_MIN_VALUES && (actual < expected.lo! - 1e-9 || actual > expected.hi! + 1e-9)) {
      return `${path}: quantile ${actual} outside DuckDB's quantile_cont [${expected.lo}, ${expected.hi}] among ${n} values`;
    }
    return null;
  }
  if (typeof expected === 'number' && typeof actual === 'number') return numbersClose(actual, expected) ? null : `${path}: ${actual} vs ${expected}`;
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return `${path}: expected an array, got ${JSON.stringify(actual)?.slice(0, 200)}`;
    if (actual.length !== expected.length) return `${path}: length ${actual.length} vs ${expected.length}`;
    for (let i = 0; i < expected.length; i++) {
      const d = difference(actual[i], expected[i], `${path}[${i}]`, skip);
      if (d) return d;
    }
    return null;
  }
  if (typeof expected === 'object' && expected !== null) {
    if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return `${path}: expected an object, got ${JSON.stringify(actual)}`;
    const keys = new Set([...Object.keys(expected), ...Object.keys(actual)]);
    for (const k of keys) {
      if (skip(k)) continue;
      if (!(k in actual)) return `${path}.${k}: missing`;
      if (!(k in expected)) return `${path}.${k}: unexpected`;
      const d = difference((actual as Record<string, Json>)[k], (expected as Record<string, Json>)[k], `${path}.${k}`, skip);
      if (d) return d;
    }
    return null;
  }
  return actual === expected ? null : `${path}: ${JSON.stringify(actual)} vs ${JSON.stringify(expected)}`;
}

/** Merges partials as a random tree (merging is associative) after a trip through JSON. */
function mergeTree(rng: Rng, query: ReturnType<typeof parseQuery>, partials: PartialResult[]): PartialResult {
  if (partials.length <= 2 || rng.chance(0.5)) return mergePartials(query, partials);
  const cut = rng.int(1, partials.length);
  return mergePartials(query, [mergeTree(rng, query, partials.slice(0, cut)), mergeTree(rng, query, partials.slice(cut))]);
}

/**
 * Per segment, or (two times in three) with most segments folded into a `SegmentsAccumulator`
 * and the rest answered alone, as a worker answers a merged request; the accumulator's partial
 * goes through JSON or, half the time, straight to the merge (with its pool ids).
 */
function engine(rng: Rng, raw: Json, segments: LoadedSegment[]): Json {
  const query = parseQuery(raw);
  const acc = rng.chance(2 / 3) ? SegmentsAccumulator.for(query) : null;
  const partials: PartialResult[] = [];
  for (const s of segments) {
    if (acc && rng.chance(0.85) && acc.add(s)) continue;
    partials.push(JSON.parse(JSON.stringify(runOnSegment(query, s))) as PartialResult);
  }
  if (acc) {
    const p = acc.partial();
    partials.splice(rng.int(0, partials.length + 1), 0, rng.chance(0.5) ? p : (JSON.parse(JSON.stringify(p)) as PartialResult));
  }
  return finalizeResult(query, mergeTree(rng, query, partials));
}

function condense(ranges: [number, number][]): [number, number][] {
  const sorted = ranges.filter(([s, e]) => e > s).sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const [s, e] of sorted) {
    const last = out.at(-1);
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

function clip(table: Table, ranges: [number, number][]): [number, number][] {
  return condense(ranges)
    .map(([s, e]): [number, number] => [Math.max(s, table.start), Math.min(e, table.end)])
    .filter(([s, e]) => e > s);
}

function timeCondition(clipped: [number, number][]): string {
  if (clipped.length === 0) return 'FALSE';
  return `(${clipped.map(([s, e]) => `(${col('__time')} >= ${s} AND ${col('__time')} < ${e})`).join(' OR ')})`;
}

/** Creates the temp table m(__time, bucket) mapping each distinct time to its bucket by the oracle. */
async function loadBuckets(duck: Duck, table: Table, g: GranularityGen, allTime: number): Promise<void> {
  const times = [...new Set(table.rows.map((r) => r.__time))];
  const bucket = (time: number) => (g.kind === 'all' ? allTime : g.bucket(time));
  await duck.run('CREATE OR REPLACE TEMP TABLE m ("__time" BIGINT, bucket BIGINT)');
  for (let i = 0; i < times.length; i += 2000) {
    const chunk = times.slice(i, i + 2000);
    await duck.run(`INSERT INTO m VALUES ${chunk.map((time) => `(${time}, ${bucket(time)})`).join(', ')}`);
  }
}

interface AggSet {
  aggs: AggGen[];
  names: string[];
  posts: { json: Json; sql: string; name: string }[];
  quantiles: { name: string; of: string; fraction: number }[];
}

function randomAggSet(rng: Rng, table: Table, grouped: boolean): AggSet {
  const aggs: AggGen[] = [];
  const n = rng.int(1, 5);
  for (let i = 0; i < n; i++) aggs.push(randomExactAggregator(rng, table, `a${i}`));
  if (rng.chance(0.5)) aggs.push(randomApproxAggregator(rng, `h${aggs.length}`, grouped));
  const usable = aggs.filter((a) => a.sql !== 'NULL');
  const names = usable.map((a) => (a.json as { name: string }).name);
  const numeric = usable.filter((a) => a.approx === null).map((a) => (a.json as { name: string }).name);
  const posts = randomPostAggregators(rng, numeric, rng.int(0, 3));
  const quantiles: AggSet['quantiles'] = [];
  for (const a of usable) {
    if (a.approx === 'sketch') quantiles.push({ name: `q_${(a.json as { name: string }).name}`, of: (a.json as { name: string }).name, fraction: rng.pick([0.1, 0.5, 0.9, 0.99]) });
  }
  return { aggs: usable, names, posts, quantiles };
}

function aggJson(set: AggSet) {
  return {
    aggregations: set.aggs.map((a) => a.json),
    postAggregations: [
      ...set.posts.map((p) => p.json),
      ...set.quantiles.map((q) => ({ type: 'quantilesDoublesSketchToQuantile', name: q.name, field: { type: 'fieldAccess', fieldName: q.of }, fraction: q.fraction })),
    ],
  };
}

/** SELECT list of the aggregates (aliased), with the quantile bounds for each sketch. */
function aggSelect(set: AggSet): string {
  const parts = set.aggs.map((a) => `(${a.sql})::DOUBLE AS ${col((a.json as { name: string }).name)}`);
  for (const q of set.quantiles) {
    const lo = Math.max(0, q.fraction - QUANTILE_RANK_TOLERANCE);
    const hi = Math.min(1, q.fraction + QUANTILE_RANK_TOLERANCE);
    parts.push(
      `quantile_cont(${col('d')}, ${lo}) AS ${col(`${q.name}__lo`)}`,
      `quantile_cont(${col('d')}, ${hi}) AS ${col(`${q.name}__hi`)}`,
      `list(${col('d')} ORDER BY ${col('d')}) FILTER (WHERE ${col('d')} IS NOT NULL) AS ${col(`${q.name}__values`)}`,
    );
  }
  return parts.join(', ');
}

const isZeroWhenEmpty = (a: AggGen) => {
  const j = a.json as { type: string; aggregator?: { type: string } };
  return j.type === 'count' || (j.type === 'filtered' && j.aggregator?.type === 'count') || a.approx !== null;
};

/** The expected result object of one SQL row. */
function expectedResult(set: AggSet, row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const num = (v: unknown) => (v === null || v === undefined ? null : Number.isFinite(Number(v)) ? Number(v) : null);
  for (const a of set.aggs) {
    const name = (a.json as { name: string }).name;
    const v = num(row[name]);
    out[name] = a.approx === 'hll' ? ({ __approx: 'hll', exact: v ?? 0 } satisfies Approx) : v;
  }
  for (const p of set.posts) out[p.name] = num(row[p.name]);
  for (const q of set.quantiles) {
    out[q.name] = {
      __approx: 'quantile',
      fraction: q.fraction,
      values: ((row[`${q.name}__values`] as number[] | null) ?? []).map(Number),
      lo: num(row[`${q.name}__lo`]),
      hi: num(row[`${q.name}__hi`]),
    } satisfies Approx;
  }
  return out;
}

function postSelect(set: AggSet): string {
  // NaN (0/0) is null in a Druid response and orders as null; DuckDB orders it above everything.
  // Later post-aggregators read the raw value (`__raw`): Druid computes on with the NaN.
  return set.posts.map((p) => `, ${p.sql} AS ${col(`${p.name}__raw`)}, (CASE WHEN isnan(${col(`${p.name}__raw`)}) THEN NULL ELSE ${col(`${p.name}__raw`)} END) AS ${col(p.name)}`).join('');
}

interface Ctx {
  rng: Rng;
  table: Table;
  split: Split;
  duck: Duck;
}

async function checkTimeseries(t: Test, { rng, table, split, duck }: Ctx): Promise<void> {
  const g = randomGranularity(rng);
  const iv = randomIntervals(rng, table);
  const filter = rng.chance(0.7) ? randomFilter(rng, table) : null;
  const set = randomAggSet(rng, table, false);
  const descending = rng.chance(0.3);
  const limit = rng.chance(0.2) ? rng.int(1, 10) : null;
  const skipEmptyBuckets = rng.chance(0.2);
  const grandTotal = rng.chance(0.2);
  const raw = {
    queryType: 'timeseries',
    dataSource: 'diff',
    intervals: iv.json,
    granularity: g.json,
    ...(filter ? { filter: filter.json } : {}),
    ...aggJson(set),
    descending,
    ...(limit ? { limit } : {}),
    context: { skipEmptyBuckets, grandTotal },
  };
  const a = engine(rng, raw, split.segments);
  const b = engine(rng, raw, [split.whole]);
  const label = JSON.stringify(raw);
  const ab = difference(a, b, '$', (k) => k.startsWith('q_'));
  if (ab) return void t.fail(`timeseries split vs whole: ${ab}\n${label}`);

  const clipped = clip(table, iv.ranges);
  let expected: unknown[] = [];
  if (clipped.length > 0) {
    const allTime = clipped[0]![0];
    await loadBuckets(duck, table, g, allTime);
    const fill = g.kind === 'all' ? [allTime] : g.kind === 'none' || skipEmptyBuckets ? [] : [...new Set(clipped.flatMap(([s, e]) => bucketsOver(g, s, e)))];
    const where = `${timeCondition(clipped)}${filter ? ` AND ${filter.sql}` : ''}`;
    const agg = `SELECT m.bucket AS bucket, count(*)::DOUBLE AS __rows, ${aggSelect(set)} FROM t JOIN m USING ("__time") WHERE ${where} GROUP BY 1`;
    const fillCols = set.aggs.map((x) => {
      const name = col((x.json as { name: string }).name);
      return isZeroWhenEmpty(x) ? `coalesce(agg.${name}, 0) AS ${name}` : `agg.${name} AS ${name}`;
    });
    const quantCols = set.quantiles.flatMap((q) => [`agg.${col(`${q.name}__lo`)}`, `agg.${col(`${q.name}__hi`)}`, `agg.${col(`${q.name}__values`)}`]);
    const filled = fill.length
      ? `SELECT bl.bucket AS bucket, coalesce(agg.__rows, 0) AS __rows${[...fillCols, ...quantCols].map((c) => `, ${c}`).join('')} FROM (SELECT unnest([${fill.join(', ')}]::BIGINT[]) AS bucket) bl LEFT JOIN (${agg}) agg USING (bucket)`
      : agg;
    const sql = `SELECT *${postSelect(set)} FROM (${filled}) f ${skipEmptyBuckets || g.kind === 'none' ? 'WHERE __rows > 0' : ''} ORDER BY bucket ${descending ? 'DESC' : ''}`;
    const rows = await duck.rows(sql);
    const limited = limit ? rows.slice(0, limit) : rows;
    expected = limited.map((r) => ({ timestamp: g.format(Number(r['bucket'])), result: expectedResult(set, r) }));
    if (grandTotal && rows.length > 0) {
      const total = await duck.rows(`SELECT *${postSelect(set)} FROM (SELECT ${aggSelect(set)} FROM t WHERE ${where}) x`);
      expected.push({ timestamp: null, result: expectedResult(set, total[0]!) });
    }
  }
  const ac = difference(a, expected);
  if (ac) return void t.fail(`timeseries vs DuckDB: ${ac}\n${label}`);
  t.pass(`timeseries ${JSON.stringify(g.json)}`);
}

async function checkTopN(t: Test, { rng, table, split, duck }: Ctx): Promise<void> {
  const g = randomGranularity(rng);
  const iv = randomIntervals(rng, table);
  const filter = rng.chance(0.6) ? randomFilter(rng, table) : null;
  const set = randomAggSet(rng, table, true);
  const dim = rng.pick(['a', 'b', 'c', 'n']);
  const outputName = rng.chance(0.3) ? 'D' : dim;
  const threshold = rng.int(1, 12);
  const exactNames = set.aggs.filter((x) => x.approx === null).map((x) => (x.json as { name: string }).name);
  const metricChoice = rng.int(0, 5);
  const metricName = metricChoice < 3 || set.posts.length === 0 ? rng.pick(exactNames) : rng.pick(set.posts).name;
  const metric =
    metricChoice === 3
      ? { type: 'dimension', ordering: 'lexicographic', ...(rng.chance(0.5) ? { previousStop: 'b3' } : {}) }
      : metricChoice === 4
        ? { type: 'inverted', metric: { type: 'numeric', metric: metricName } }
        : metricName;
  const raw = {
    queryType: 'topN',
    dataSource: 'diff',
    intervals: iv.json,
    granularity: g.json,
    dimension: outputName === dim ? dim : { type: 'default', dimension: dim, outputName },
    metric,
    threshold,
    ...(filter ? { filter: filter.json } : {}),
    ...aggJson(set),
    context: { minTopNThreshold: 100_000 },
  };
  const a = engine(rng, raw, split.segments);
  const b = engine(rng, raw, [split.whole]);
  const label = JSON.stringify(raw);
  const ab = difference(a, b, '$', (k) => k.startsWith('q_'));
  if (ab) return void t.fail(`topN split vs whole: ${ab}\n${label}`);

  const clipped = clip(table, iv.ranges);
  let expected: unknown[] = [];
  if (clipped.length > 0) {
    await loadBuckets(duck, table, g, clipped[0]![0]);
    const where = `${timeCondition(clipped)}${filter ? ` AND ${filter.sql}` : ''}`;
    const rows = await duck.rows(
      `SELECT *${postSelect(set)} FROM (SELECT m.bucket AS bucket, ${col(dim)} AS __dim, ${aggSelect(set)} FROM t JOIN m USING ("__time") WHERE ${where} GROUP BY 1, 2) x`,
    );
    const byBucket = new Map<number, Record<string, unknown>[]>();
    for (const r of rows) {
      const k = Number(r['bucket']);
      if (!byBucket.has(k)) byBucket.set(k, []);
      byBucket.get(k)!.push(r);
    }
    const strCmp = (x: unknown, y: unknown) => (x === y ? 0 : x === null ? -1 : y === null ? 1 : (x as string) < (y as string) ? -1 : 1);
    const numCmp = (x: unknown, y: unknown) => (x === y ? 0 : x === null ? -1 : y === null ? 1 : (x as number) - (y as number));
    const val = (r: Record<string, unknown>) => (r[metricName] === null ? null : Number(r[metricName]));
    for (const k of [...byBucket.keys()].sort((x, y) => x - y)) {
      let list = byBucket.get(k)!;
      if (metricChoice === 3) {
        const stop = (metric as { previousStop?: string }).previousStop;
        if (stop !== undefined) list = list.filter((r) => r['__dim'] !== null && (r['__dim'] as string) > stop);
        list.sort((x, y) => strCmp(x['__dim'], y['__dim']));
      } else if (metricChoice === 4) {
        list.sort((x, y) => numCmp(val(x), val(y)) || strCmp(x['__dim'], y['__dim']));
      } else {
        list.sort((x, y) => numCmp(val(y), val(x)) || strCmp(x['__dim'], y['__dim']));
      }
      list = list.slice(0, threshold);
      if (list.length > 0) expected.push({ timestamp: g.format(k), result: list.map((r) => ({ [outputName]: r['__dim'], ...expectedResult(set, r) })) });
    }
  }
  const ac = difference(a, expected);
  if (ac) return void t.fail(`topN vs DuckDB: ${ac}\n${label}`);
  t.pass(`topN on ${dim} ${JSON.stringify(g.json)}`);
}

async function checkGroupBy(t: Test, { rng, table, split, duck }: Ctx): Promise<void> {
  const g = randomGranularity(rng);
  const iv = randomIntervals(rng, table);
  const filter = rng.chance(0.6) ? randomFilter(rng, table) : null;
  const set = randomAggSet(rng, table, true);
  const dims = rng.chance(0.1) ? [] : rng.some(['a', 'b', 'c', 'n'], rng.int(1, 4)).filter((d, i, xs) => xs.indexOf(d) === i);
  const specs = dims.map((d) => (rng.chance(0.3) ? { type: 'default', dimension: d, outputName: `${d.toUpperCase()}_` } : d));
  const outNames = specs.map((s) => (typeof s === 'string' ? s : s.outputName));
  const exactNames = [...set.aggs.filter((x) => x.approx === null).map((x) => (x.json as { name: string }).name), ...set.posts.map((p) => p.name)];
  // having
  let having: Json = undefined;
  let havingSql = 'TRUE';
  if (rng.chance(0.4) && exactNames.length > 0) {
    const leaf = (): { json: Json; sql: string } => {
      if (outNames.length > 0 && rng.chance(0.25)) {
        const d = rng.pick(outNames);
        const v = rng.chance(0.2) ? null : rng.pick(['x', 'y', 'b1', 'u1', '1']);
        return rng.chance(0.5)
          ? { json: { type: 'dimSelector', dimension: d, value: v }, sql: `(${col(d)} IS NOT DISTINCT FROM ${v === null ? 'NULL' : lit(v)})` }
          : { json: { type: 'filter', filter: { type: 'selector', dimension: d, value: v } }, sql: `coalesce(${v === null ? `${col(d)} IS NULL` : `${col(d)} = ${lit(v)}`}, FALSE)` };
      }
      const name = rng.pick(exactNames);
      const type = rng.pick(['greaterThan', 'lessThan', 'equalTo']);
      const v = rng.pick([0, 1, 2, 5, 10, 100]);
      const op = type === 'greaterThan' ? '>' : type === 'lessThan' ? '<' : '=';
      return { json: { type, aggregation: name, value: v }, sql: `coalesce(${col(name)} ${op} ${v}, FALSE)` };
    };
    const r = rng.int(0, 4);
    if (r === 0) {
      const x = leaf();
      having = { type: 'not', havingSpec: x.json };
      havingSql = `(NOT ${x.sql})`;
    } else if (r === 1) {
      const xs = [leaf(), leaf()];
      const type = rng.pick(['and', 'or']);
      having = { type, havingSpecs: xs.map((x) => x.json) };
      havingSql = `(${xs.map((x) => x.sql).join(type === 'and' ? ' AND ' : ' OR ')})`;
    } else {
      const x = leaf();
      having = x.json;
      havingSql = x.sql;
    }
  }
  // limitSpec
  let limitSpec: Json = undefined;
  let orderSql = '';
  let limitSql = '';
  const natural = [...(g.kind === 'all' ? [] : ['bucket']), ...outNames.map((d) => `${col(d)} ASC NULLS FIRST`)];
  if (rng.chance(0.6)) {
    const columns = rng.some([...outNames, ...exactNames], rng.int(0, 3)).map((c) => ({ dimension: c, direction: rng.pick(['ascending', 'descending']) }));
    const limit = rng.chance(0.8) ? rng.int(1, 30) : null;
    const offset = rng.chance(0.3) ? rng.int(0, 10) : 0;
    limitSpec = { type: 'default', columns, ...(limit !== null ? { limit } : {}), ...(offset ? { offset } : {}) };
    const colsSql = columns.map((c) => `${col(c.dimension)} ${c.direction === 'ascending' ? 'ASC NULLS FIRST' : 'DESC NULLS LAST'}`);
    orderSql = [...(g.kind === 'all' ? [] : ['bucket']), ...colsSql, ...natural].join(', ');
    limitSql = `${limit !== null ? `LIMIT ${limit}` : ''} OFFSET ${offset}`;
  } else {
    orderSql = natural.join(', ');
  }
  const raw = {
    queryType: 'groupBy',
    dataSource: 'diff',
    intervals: iv.json,
    granularity: g.json,
    dimensions: specs,
    ...(filter ? { filter: filter.json } : {}),
    ...aggJson(set),
    ...(having ? { having } : {}),
    ...(limitSpec ? { limitSpec } : {}),
  };
  const a = engine(rng, raw, split.segments);
  const b = engine(rng, raw, [split.whole]);
  const label = JSON.stringify(raw);
  const ab = difference(a, b, '$', (k) => k.startsWith('q_'));
  if (ab) return void t.fail(`groupBy split vs whole: ${ab}\n${label}`);

  const clipped = clip(table, iv.ranges);
  let expected: unknown[] = [];
  if (clipped.length > 0) {
    await loadBuckets(duck, table, g, clipped[0]![0]);
    const where = `${timeCondition(clipped)}${filter ? ` AND ${filter.sql}` : ''}`;
    const dimSel = dims.map((d, i) => `, ${col(d)} AS ${col(outNames[i]!)}`).join('');
    const groupCols = ['m.bucket', ...dims.map((d) => col(d))].join(', ');
    const inner =
      dims.length === 0 && g.kind === 'all'
        ? `SELECT ${clipped[0]![0]}::BIGINT AS bucket, ${aggSelect(set)} FROM t WHERE ${where}`
        : `SELECT m.bucket AS bucket${dimSel}, ${aggSelect(set)} FROM t JOIN m USING ("__time") WHERE ${where} GROUP BY ${groupCols}`;
    const sql = `SELECT * FROM (SELECT *${postSelect(set)} FROM (${inner}) x) y WHERE ${havingSql} ${orderSql ? `ORDER BY ${orderSql}` : ''} ${limitSql}`;
    const rows = await duck.rows(sql);
    expected = rows.map((r) => {
      const event: Record<string, unknown> = {};
      for (const d of outNames) event[d] = r[d] ?? null;
      return { version: 'v1', timestamp: g.format(Number(r['bucket'])), event: { ...event, ...expectedResult(set, r) } };
    });
  }
  const ac = difference(a, expected);
  if (ac) return void t.fail(`groupBy vs DuckDB: ${ac}\n${label}`);
  t.pass(`groupBy on [${dims.join(', ')}] ${JSON.stringify(g.json)}`);
}

function flatEvents(result: Json): unknown[] {
  return (result as { events: unknown[] }[]).flatMap((b) => b.events);
}

async function checkScan(t: Test, { rng, table, split, duck }: Ctx): Promise<void> {
  const iv = randomIntervals(rng, table);
  const filter = rng.chance(0.7) ? randomFilter(rng, table) : null;
  const order = rng.pick(['none', 'ascending', 'descending']);
  const columns = rng.chance(0.3) ? [] : rng.some(['__time', 'a', 'b', 'c', 'n', 'l', 'd', 'k', 'missing'], rng.int(1, 6)).filter((c, i, xs) => xs.indexOf(c) === i);
  const limit = order === 'none' && rng.chance(0.3) ? null : rng.int(0, 200);
  const offset = rng.chance(0.3) ? rng.int(0, 50) : 0;
  const resultFormat = rng.pick(['list', 'compactedList']);
  const raw = {
    queryType: 'scan',
    dataSource: 'diff',
    intervals: iv.json,
    columns,
    order,
    resultFormat,
    batchSize: rng.int(5, 100),
    offset,
    ...(limit !== null ? { limit } : {}),
    ...(filter ? { filter: filter.json } : {}),
  };
  const a = engine(rng, raw, split.segments);
  const b = engine(rng, raw, [split.whole]);
  const label = JSON.stringify(raw);
  const ab = difference(flatEvents(a), flatEvents(b));
  if (ab) return void t.fail(`scan split vs whole: ${ab}\n${label}`);
  const clipped = clip(table, iv.ranges);
  const names = columns.length > 0 ? columns : ['__time', ...table.dimensions, ...table.metrics.map((m) => m.name)];
  const select = names.map((c) => (c === 'missing' ? `NULL AS ${col(c)}` : table.dimensions.includes(c) ? col(c) : `${col(c)}::DOUBLE AS ${col(c)}`)).join(', ');
  const dir = order === 'descending' ? 'DESC' : 'ASC';
  const rows = await duck.rows(
    `SELECT ${select} FROM t WHERE ${timeCondition(clipped)}${filter ? ` AND ${filter.sql}` : ''} ORDER BY "__time" ${dir}, rid ${dir} ${limit !== null ? `LIMIT ${limit}` : ''} OFFSET ${offset}`,
  );
  const expected = rows.map((r) => (resultFormat === 'list' ? Object.fromEntries(names.map((c) => [c, r[c] ?? null])) : names.map((c) => r[c] ?? null)));
  const ac = difference(flatEvents(a), expected);
  if (ac) return void t.fail(`scan vs DuckDB: ${ac}\n${label}`);
  for (const batch of a as { columns: string[]; segmentId: string | null }[]) {
    if (difference(batch.columns, names)) return void t.fail(`scan columns ${batch.columns} vs ${names}\n${label}`);
    if ((order === 'none') !== (batch.segmentId !== null)) return void t.fail(`scan segmentId ${batch.segmentId} with order ${order}\n${label}`);
  }
  t.pass(`scan ${order} ${resultFormat}`);
}

async function checkTimeBoundary(t: Test, { rng, table, split, duck }: Ctx): Promise<void> {
  const iv = rng.chance(0.5) ? randomIntervals(rng, table) : null;
  const filter = rng.chance(0.7) ? randomFilter(rng, table) : null;
  const bound = rng.pick([undefined, 'minTime', 'maxTime']);
  const raw = { queryType: 'timeBoundary', dataSource: 'diff', ...(iv ? { intervals: iv.json } : {}), ...(filter ? { filter: filter.json } : {}), ...(bound ? { bound } : {}) };
  const a = engine(rng, raw, split.segments);
  const b = engine(rng, raw, [split.whole]);
  const label = JSON.stringify(raw);
  const ab = difference(a, b);
  if (ab) return void t.fail(`timeBoundary split vs whole: ${ab}\n${label}`);
  const clipped = iv ? clip(table, iv.ranges) : [[table.start, table.end] as [number, number]];
  const [r] = await duck.rows(`SELECT min("__time")::DOUBLE AS lo, max("__time")::DOUBLE AS hi FROM t WHERE ${timeCondition(clipped)}${filter ? ` AND ${filter.sql}` : ''}`);
  const iso = (x: unknown) => new Date(Number(x)).toISOString();
  const expected =
    r!['lo'] === null
      ? []
      : [
          {
            timestamp: iso(bound === 'maxTime' ? r!['hi'] : r!['lo']),
            result: { ...(bound !== 'maxTime' ? { minTime: iso(r!['lo']) } : {}), ...(bound !== 'minTime' ? { maxTime: iso(r!['hi']) } : {}) },
          },
        ];
  const ac = difference(a, expected);
  if (ac) return void t.fail(`timeBoundary vs DuckDB: ${ac}\n${label}`);
  t.pass(`timeBoundary ${bound ?? 'both'}`);
}

async function checkSegmentMetadata(t: Test, { rng, table, split, duck }: Ctx): Promise<void> {
  const raw = { queryType: 'segmentMetadata', dataSource: 'diff', merge: true, analysisTypes: ['cardinality', 'minmax', 'size', 'interval'] };
  const label = JSON.stringify(raw);
  const [a] = engine(rng, raw, split.segments) as { numRows: number; columns: Record<string, { cardinality: number | null; hasNulls: boolean; minValue: unknown; maxValue: unknown }>; intervals: string[] }[];
  const [b] = engine(rng, raw, [split.whole]) as (typeof a)[];
  const [counts] = await duck.rows('SELECT count(*)::DOUBLE AS n FROM t');
  if (a!.numRows !== Number(counts!['n']) || b!.numRows !== a!.numRows) return void t.fail(`segmentMetadata numRows ${a!.numRows} ${b!.numRows}\n${label}`);
  if (difference(a!.intervals, [`${new Date(table.start).toISOString()}/${new Date(table.end).toISOString()}`])) return void t.fail(`segmentMetadata intervals ${a!.intervals}`);
  for (const c of table.dimensions) {
    const [r] = await duck.rows(
      `SELECT (SELECT max(n) FROM (SELECT count(DISTINCT ${col(c)})::DOUBLE AS n FROM t GROUP BY seg)) AS seg_card, count(DISTINCT ${col(c)})::DOUBLE AS card, bool_or(${col(c)} IS NULL) AS nulls, min(${col(c)}) AS lo, max(${col(c)}) AS hi FROM t`,
    );
    const want = { cardinality: Number(r!['card']), hasNulls: r!['nulls'], minValue: r!['lo'], maxValue: r!['hi'] };
    const got = b!.columns[c]!;
    const d1 = difference({ cardinality: got.cardinality, hasNulls: got.hasNulls, minValue: got.minValue, maxValue: got.maxValue }, want);
    if (d1) return void t.fail(`segmentMetadata whole ${c}: ${d1}`);
    const merged = a!.columns[c]!;
    const d2 = difference({ cardinality: merged.cardinality, hasNulls: merged.hasNulls, minValue: merged.minValue, maxValue: merged.maxValue }, { ...want, cardinality: Number(r!['seg_card']) });
    if (d2) return void t.fail(`segmentMetadata merged ${c}: ${d2}`);
  }
  for (const m of table.metrics) {
    const [r] = await duck.rows(`SELECT min(${col(m.name)})::DOUBLE AS lo, max(${col(m.name)})::DOUBLE AS hi, bool_or(${col(m.name)} IS NULL) AS nulls FROM t`);
    const d = difference({ minValue: a!.columns[m.name]!.minValue, maxValue: a!.columns[m.name]!.maxValue, hasNulls: a!.columns[m.name]!.hasNulls }, { minValue: r!['lo'], maxValue: r!['hi'], hasNulls: r!['nulls'] });
    if (d) return void t.fail(`segmentMetadata ${m.name}: ${d}`);
  }
  t.pass('segmentMetadata');
}

for (const seed of seeds) {
  t.test(`differential, seed ${seed}`, async (t) => {
    t.comment(`seed ${seed}; replay: CAIRN_SEED=${seed} npx tap packages/worker/src/engine/differential.test.ts`);
    const rng = new Rng(seed);
    const table = randomTable(rng, rng.int(1500, 4000));
    const split = randomSplit(rng, table);
    t.comment(`${table.rows.length} rows in ${split.segments.length} segments (${split.segments.filter((s) => s.rowCount === 0).length} empty)`);
    const duck = await Duck.open();
    try {
      await duck.load(table, (time) => {
        let i = 0;
        while (i + 2 < split.cuts.length && time >= split.cuts[i + 1]!) i++;
        return i;
      });
      const ctx: Ctx = { rng, table, split, duck };
      const timing: Record<string, number> = {};
      const timed = async (name: string, f: () => Promise<void>) => {
        const t0 = performance.now();
        await f();
        timing[name] = (timing[name] ?? 0) + performance.now() - t0;
      };
      for (let q = 0; q < queriesPerType; q++) {
        await timed('timeseries', () => checkTimeseries(t, ctx));
        await timed('topN', () => checkTopN(t, ctx));
        await timed('groupBy', () => checkGroupBy(t, ctx));
        await timed('scan', () => checkScan(t, ctx));
        await timed('timeBoundary', () => checkTimeBoundary(t, ctx));
      }
      t.comment(`ms per query type: ${JSON.stringify(Object.fromEntries(Object.entries(timing).map(([k, v]) => [k, Math.round(v)])))}`);
      await checkSegmentMetadata(t, ctx);
    } finally {
      duck.close();
    }
  });
}
