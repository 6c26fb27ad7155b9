/**
 * `mergePartials`: combines the partial results of any number of segments (or of earlier
 * merges) into one partial of the same shape. Aggregate rows meet by (bucket, group) and their
 * states combine with the aggregators' `combine`; topN keeps the best `max(threshold,
 * minTopNThreshold)` values per bucket, as Druid's brokers do; scan keeps the first
 * `offset + limit` rows (in time order when ordered); timeBoundary takes the extremes;
 * segmentMetadata concatenates, or folds when `merge` is set.
 */
import type { JsonValue } from '../json.js';
export { combineAggregates, dimValueAt, markDistinctRows, statesAt, type CombinedRows } from './combine.js';
import { formatInterval, parseInterval } from '../time.js';
import { QueryError } from './errors.js';
import { checkAggregatePartial, combineAggregates, dimValueAt, encodeCombined, statesAt, type CombinedRows } from './combine.js';
import type { AggregatePartial, ColumnAnalysis, PartialResult, ScanBatch, ScanPartial, SegmentAnalysis } from './partial.js';
import { RowEvaluator, topNDepth, topNOrdering, type TopNCandidate } from './rows.js';
import { condenseIntervals } from './schema.js';
import type { AggregatingQuery, Query, ScanQuery, SegmentMetadataQuery, TopNQuery } from './types.js';

/** Rows queued for a time-ordered scan merge; Druid's maxRowsQueuedForOrdering default. */
export const scanRowsQueuedForOrderingMax = 100_000;

function wrongShape(query: Query, p: PartialResult): QueryError {
  return new QueryError('INTERNAL', `a ${String((p as { queryType?: unknown }).queryType)} partial result cannot be merged into a ${query.queryType} query`);
}

/**
 * Merges partial results of one query.
 * @example finalizeResult(q, mergePartials(q, segments.map((s) => runOnSegment(q, s))))
 */
export function mergePartials(query: Query, partials: readonly PartialResult[]): PartialResult {
  for (const p of partials) if (p.queryType !== query.queryType) throw wrongShape(query, p);
  switch (query.queryType) {
    case 'timeseries':
    case 'topN':
    case 'groupBy':
      return mergeAggregates(query, partials as AggregatePartial[]);
    case 'scan':
      return mergeScans(query, partials as ScanPartial[]);
    case 'timeBoundary': {
      let minTime: number | null = null;
      let maxTime: number | null = null;
      for (const p of partials) {
        if (p.queryType !== 'timeBoundary') continue;
        if (p.minTime !== null && (minTime === null || p.minTime < minTime)) minTime = p.minTime;
        if (p.maxTime !== null && (maxTime === null || p.maxTime > maxTime)) maxTime = p.maxTime;
      }
      return { queryType: 'timeBoundary', minTime, maxTime };
    }
    case 'segmentMetadata': {
      const analyses = partials.flatMap((p) => (p.queryType === 'segmentMetadata' ? p.analyses : []));
      if (!query.merge || analyses.length <= 1) return { queryType: 'segmentMetadata', analyses };
      return { queryType: 'segmentMetadata', analyses: [analyses.reduce((a, b) => foldAnalyses(query, a, b))] };
    }
  }
}

function dimensionCount(query: AggregatingQuery): number {
  return query.queryType === 'groupBy' ? query.dimensions.length : query.queryType === 'topN' ? 1 : 0;
}

/** Row numbers of the best `depth` rows of each topN bucket (all rows of buckets with fewer). */
export function topNKeep(query: TopNQuery, rows: CombinedRows, evaluator: RowEvaluator, depth: number): number[] {
  const ordering = topNOrdering(query.metric);
  const byBucket = new Map<number, number[]>();
  for (let i = 0; i < rows.n; i++) {
    if (!ordering.keep(dimValueAt(rows, 0, i))) continue;
    let list = byBucket.get(rows.time[i]!);
    if (!list) byBucket.set(rows.time[i]!, (list = []));
    list.push(i);
  }
  const keep: number[] = [];
  const scratch: unknown[] = [];
  for (const t of [...byBucket.keys()].sort((a, b) => a - b)) {
    const list = byBucket.get(t)!;
    const candidates: (TopNCandidate & { row: number })[] = list.map((row) => ({
      row,
      value: dimValueAt(rows, 0, row),
      metric: ordering.metric === null ? null : evaluator.metric(statesAt(rows, row, scratch), ordering.metric),
    }));
    candidates.sort((a, b) => ordering.compare(a, b));
    for (let i = 0; i < Math.min(depth, candidates.length); i++) keep.push(candidates[i]!.row);
  }
  return keep;
}

function mergeAggregates(query: AggregatingQuery, partials: readonly AggregatePartial[]): AggregatePartial {
  if (partials.length === 1 && query.queryType !== 'topN') {
    checkAggregatePartial(partials[0]!, dimensionCount(query), query.aggregations.length);
    return partials[0]!;
  }
  const evaluator = new RowEvaluator(query.aggregations, query.postAggregations);
  const rows = combineAggregates(query, partials, evaluator);
  const keep = query.queryType === 'topN' ? topNKeep(query, rows, evaluator, topNDepth(query.threshold, query.context.minTopNThreshold)) : null;
  return encodeCombined(query, rows, keep);
}

/** Rows a scan needs from each segment and from a merge: offset + limit (or all). */
export function scanRowsNeeded(query: ScanQuery): number {
  return query.limit === null ? Infinity : query.offset + query.limit;
}

/**
 * Ordered scans may ask for at most `maxRowsQueuedForOrdering` rows (offset + limit; Druid's
 * default 100,000), since every segment's rows must be held to order them.
 * @throws QueryError RESOURCE_LIMIT
 */
export function checkScanOrdering(query: ScanQuery): void {
  if (query.order === 'none') return;
  const max = query.context.maxRowsQueuedForOrdering ?? scanRowsQueuedForOrderingMax;
  if (scanRowsNeeded(query) > max) {
    throw new QueryError('RESOURCE_LIMIT', `a time-ordered scan may return at most ${max} rows (offset + limit; context.maxRowsQueuedForOrdering); set a limit`);
  }
}

function mergeScans(query: ScanQuery, partials: readonly ScanPartial[]): ScanPartial {
  checkScanOrdering(query);
  const needed = scanRowsNeeded(query);
  const batches = partials.flatMap((p) => p.batches);
  if (query.order === 'none') {
    const out: ScanBatch[] = [];
    let total = 0;
    for (const b of batches) {
      if (total >= needed) break;
      const take = Math.min(b.time.length, needed - total);
      if (take === 0) continue;
      out.push(take === b.time.length ? b : { ...b, time: b.time.slice(0, take), values: b.values.map((v) => v.slice(0, take)) });
      total += take;
    }
    return { queryType: 'scan', batches: out };
  }
  // Time-ordered: one batch, columns the union in first-seen order, rows merged by time
  // (ascending ties keep the order of the partials, and within one the order of its rows).
  const columns: string[] = [];
  const seen = new Set<string>();
  for (const b of batches) for (const c of b.columns) if (!seen.has(c)) (seen.add(c), columns.push(c));
  const entries: { t: number; b: number; r: number }[] = [];
  batches.forEach((b, bi) => b.time.forEach((t, r) => entries.push({ t, b: bi, r })));
  const sign = query.order === 'descending' ? -1 : 1;
  // Descending is the exact reverse of ascending: later partials first on ties; each batch of a
  // descending scan already lists its rows last first.
  entries.sort((x, y) => sign * (x.t - y.t) || sign * (x.b - y.b) || x.r - y.r);
  const take = entries.slice(0, Math.min(entries.length, needed));
  const maps = batches.map((b) => columns.map((c) => b.columns.indexOf(c)));
  return {
    queryType: 'scan',
    batches: take.length === 0 ? [] : [
      {
        segmentId: null,
        columns,
        time: take.map((e) => e.t),
        values: columns.map((_, c) => take.map((e) => {
          const ci = maps[e.b]![c]!;
          return ci < 0 ? null : (batches[e.b]!.values[ci]![e.r] as JsonValue);
        })),
      },
    ],
  };
}

function choose<T extends string | number | null>(a: T, b: T, max: boolean): T {
  if (a === null) return b;
  if (b === null) return a;
  return (max ? a >= b : a <= b) ? a : b;
}

function foldColumn(a: ColumnAnalysis, b: ColumnAnalysis): ColumnAnalysis {
  if (a.errorMessage !== null) return a;
  if (b.errorMessage !== null) return b;
  if (a.typeSignature !== b.typeSignature) {
    return { ...a, errorMessage: `error:cannot_merge_diff_types: [${a.typeSignature}] and [${b.typeSignature}]` };
  }
  return {
    type: a.type,
    typeSignature: a.typeSignature,
    hasMultipleValues: a.hasMultipleValues || b.hasMultipleValues,
    hasNulls: a.hasNulls || b.hasNulls,
    size: a.size + b.size,
    cardinality: a.cardinality === null ? b.cardinality : b.cardinality === null ? a.cardinality : Math.max(a.cardinality, b.cardinality),
    minValue: choose(a.minValue, b.minValue, false),
    maxValue: choose(a.maxValue, b.maxValue, true),
    errorMessage: null,
  };
}

/** Druid's merge of two segment analyses: columns folded (cardinality the max), sizes and rows summed. */
function foldAnalyses(query: SegmentMetadataQuery, a: SegmentAnalysis, b: SegmentAnalysis): SegmentAnalysis {
  const columns: Record<string, ColumnAnalysis> = { ...a.columns };
  for (const [name, col] of Object.entries(b.columns)) columns[name] = columns[name] ? foldColumn(columns[name]!, col) : col;
  const sorted: Record<string, ColumnAnalysis> = {};
  for (const name of Object.keys(columns).sort()) sorted[name] = columns[name]!;
  let aggregators: SegmentAnalysis['aggregators'] = null;
  if (a.aggregators !== null && b.aggregators !== null) {
    aggregators = { ...a.aggregators };
    for (const [name, agg] of Object.entries(b.aggregators)) {
      const prev = aggregators[name];
      if (prev && (prev.type !== agg.type || prev.fieldName !== agg.fieldName)) delete aggregators[name];
      else aggregators[name] = agg;
    }
  }
  return {
    id: 'merged',
    intervals: query.analysisTypes.includes('interval')
      ? condenseIntervals([...(a.intervals ?? []), ...(b.intervals ?? [])].map(parseInterval)).map(formatInterval)
      : null,
    columns: sorted,
    size: a.size + b.size,
    numRows: a.numRows + b.numRows,
    aggregators,
    timestampSpec: a.timestampSpec ?? b.timestampSpec,
    queryGranularity: a.queryGranularity && b.queryGranularity && a.queryGranularity.type === b.queryGranularity.type ? a.queryGranularity : null,
    rollup: a.rollup !== null && a.rollup === b.rollup ? a.rollup : null,
  };
}
