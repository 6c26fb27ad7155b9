/**
 * `finalizeResult`: a combined partial result in, Druid's response out. Aggregator states are
 * finalized, post-aggregators computed, and each query type gets Druid's shape:
 * timeseries `[{timestamp, result}]`, topN `[{timestamp, result: [...]}]`, groupBy
 * `[{version: 'v1', timestamp, event}]`, scan `[{segmentId, columns, events}]`, timeBoundary
 * `[{timestamp, result: {minTime, maxTime}}]`, segmentMetadata a list of analyses.
 */
import type { JsonValue } from '../json.js';
import { formatInstant } from '../time.js';
import { QueryError } from './errors.js';
import { timestampFormatter } from './granularity.js';
import { combineAggregates, scanRowsNeeded, statesAt, topNKeep } from './merge.js';
import { compareLexicographic, compareNullableStrings } from './ordering.js';
import { outputValue, type RowValue } from './post-aggregators.js';
import type { AggregatePartial, PartialResult, ScanPartial, SegmentAnalysis } from './partial.js';
import { compileHaving, limitSpecComparator, rawToJSON, RowEvaluator, type GroupRow } from './rows.js';
import type { GroupByQuery, Query, ScanQuery, TimeseriesQuery, TopNQuery } from './types.js';

export type DruidResponse = JsonValue[];

/**
 * Turns the merged partial of a query into Druid's response.
 * @example finalizeResult(q, mergePartials(q, partials)) // [{timestamp: '2020-01-01T00:00:00.000Z', result: {...}}]
 */
export function finalizeResult(query: Query, combined: PartialResult): DruidResponse {
  if (combined.queryType !== query.queryType) {
    throw new QueryError('INTERNAL', `a ${combined.queryType} partial result cannot finalize a ${query.queryType} query`);
  }
  switch (query.queryType) {
    case 'timeseries':
      return finalizeTimeseries(query, combined as AggregatePartial);
    case 'topN':
      return finalizeTopN(query, combined as AggregatePartial);
    case 'groupBy':
      return finalizeGroupBy(query, combined as AggregatePartial);
    case 'scan':
      return finalizeScan(query, combined as ScanPartial);
    case 'timeBoundary': {
      if (combined.queryType !== 'timeBoundary' || combined.minTime === null || combined.maxTime === null) return [];
      const result: Record<string, JsonValue> = {};
      if (query.bound !== 'maxTime') result['minTime'] = formatInstant(combined.minTime);
      if (query.bound !== 'minTime') result['maxTime'] = formatInstant(combined.maxTime);
      return [{ timestamp: formatInstant(query.bound === 'maxTime' ? combined.maxTime : combined.minTime), result }];
    }
    case 'segmentMetadata':
      return combined.queryType === 'segmentMetadata' ? (combined.analyses as SegmentAnalysis[] as unknown as JsonValue[]) : [];
  }
}

function finalizeTimeseries(query: TimeseriesQuery, partial: AggregatePartial): DruidResponse {
  const evaluator = new RowEvaluator(query.aggregations, query.postAggregations);
  const rows = combineAggregates(query, [partial], evaluator);
  const format = timestampFormatter(query.granularity);
  let order = rows.time.map((_, i) => i).sort((a, b) => rows.time[a]! - rows.time[b]!);
  if (query.context.skipEmptyBuckets === true) order = order.filter((i) => rows.counts[i]! > 0);
  if (query.descending) order.reverse();
  if (query.limit !== null) order = order.slice(0, query.limit);
  const scratch: unknown[] = [];
  const out: DruidResponse = order.map((i) => ({ timestamp: format(rows.time[i]!), result: evaluator.output(statesAt(rows, i, scratch), {}) }));
  if (query.context.grandTotal === true && rows.time.length > 0) {
    const fns = evaluator.fns;
    const total = fns.map((f, a) => rows.states[a]!.reduce((acc, s) => f.combine(acc, s), f.init()));
    out.push({ timestamp: null, result: evaluator.output(total, {}) });
  }
  return out;
}

function finalizeTopN(query: TopNQuery, partial: AggregatePartial): DruidResponse {
  const evaluator = new RowEvaluator(query.aggregations, query.postAggregations);
  const rows = combineAggregates(query, [partial], evaluator);
  const format = timestampFormatter(query.granularity);
  const keep = topNKeep(query, rows, evaluator, query.threshold);
  const buckets = new Map<number, JsonValue[]>();
  const scratch: unknown[] = [];
  for (const i of keep) {
    const t = rows.time[i]!;
    let list = buckets.get(t);
    if (!list) buckets.set(t, (list = []));
    list.push(evaluator.output(statesAt(rows, i, scratch), { [query.dimension.outputName]: rows.dims[0]![i]! }));
  }
  return [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([t, result]) => ({ timestamp: format(t), result }));
}

function finalizeGroupBy(query: GroupByQuery, partial: AggregatePartial): DruidResponse {
  const evaluator = new RowEvaluator(query.aggregations, query.postAggregations);
  const rows = combineAggregates(query, [partial], evaluator);
  const format = timestampFormatter(query.granularity);
  const byTime = query.granularity.type !== 'all';
  // Druid answers a groupBy without dimensions over no rows with one row of initial values
  // (its "summary row"), as SQL does for an aggregate without GROUP BY.
  if (rows.time.length === 0 && query.dimensions.length === 0 && !byTime && partial.allTime !== null) {
    rows.time.push(partial.allTime);
    rows.counts.push(0);
    evaluator.fns.forEach((f, a) => rows.states[a]!.push(f.init()));
  }
  const n = rows.time.length;
  const dimCount = query.dimensions.length;
  const scratch: unknown[] = [];
  // Post-aggregator values are computed once per row, and only when having or ordering need them.
  const limitSpec = query.limitSpec;
  const reorder = limitSpec !== null && (limitSpec.columns.length > 0 || (byTime && query.context.sortByDimsFirst === true));
  const needFin = query.having !== null || reorder;
  const fins: RowValue[][] | null = needFin ? Array.from({ length: n }, (_, i) => evaluator.evaluate(statesAt(rows, i, scratch)).fin) : null;
  const row = (i: number): GroupRow => ({ time: rows.time[i]!, dims: rows.dims.map((col) => col[i]!), fin: fins ? fins[i]! : [] });
  let order = Array.from({ length: n }, (_, i) => i);
  // Workers emit groups in natural order already (codes sort like values); sort only if needed.
  const natural = (a: number, b: number): number => {
    if (rows.time[a] !== rows.time[b]) return rows.time[a]! - rows.time[b]!;
    for (let d = 0; d < dimCount; d++) {
      const c = compareNullableStrings(rows.dims[d]![a]!, rows.dims[d]![b]!, compareLexicographic);
      if (c !== 0) return c;
    }
    return 0;
  };
  for (let k = 1; k < n; k++) {
    if (natural(order[k - 1]!, order[k]!) > 0) {
      order.sort(natural);
      break;
    }
  }
  if (query.having) {
    const having = compileHaving(query.having, query.dimensions, evaluator);
    order = order.filter((i) => having(row(i)));
  }
  if (limitSpec) {
    if (reorder) {
      const cmp = limitSpecComparator(limitSpec, query.dimensions, evaluator, byTime, query.context.sortByDimsFirst === true);
      const keyed = order.map((i) => ({ i, r: row(i) }));
      keyed.sort((a, b) => cmp(a.r, b.r));
      order = keyed.map((k) => k.i);
    }
    order = order.slice(limitSpec.offset, limitSpec.limit === null ? undefined : limitSpec.offset + limitSpec.limit);
  }
  const out: DruidResponse = new Array(order.length);
  const names = evaluator.names;
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    const event: Record<string, JsonValue> = {};
    for (let d = 0; d < dimCount; d++) event[query.dimensions[d]!.outputName] = rows.dims[d]![i]!;
    if (fins) {
      const fin = fins[i]!;
      for (let j = 0; j < names.length; j++) event[names[j]!] = outputValue(fin[j]!, rawToJSON);
    } else {
      evaluator.output(statesAt(rows, i, scratch), event);
    }
    out[k] = { version: 'v1', timestamp: format(rows.time[i]!), event };
  }
  return out;
}

function finalizeScan(query: ScanQuery, partial: ScanPartial): DruidResponse {
  const out: DruidResponse = [];
  let skip = query.offset;
  let left = scanRowsNeeded(query) - query.offset;
  for (const batch of partial.batches) {
    if (left <= 0) break;
    const count = batch.time.length;
    const from = Math.min(skip, count);
    skip -= from;
    const to = Math.min(count, from + left);
    left -= to - from;
    for (let start = from; start < to; start += query.batchSize) {
      const end = Math.min(to, start + query.batchSize);
      const events: JsonValue[] = [];
      for (let r = start; r < end; r++) {
        if (query.resultFormat === 'compactedList') {
          events.push(batch.values.map((col) => col[r]!));
        } else {
          const e: Record<string, JsonValue> = {};
          batch.columns.forEach((c, k) => {
            e[c] = batch.values[k]![r]!;
          });
          events.push(e);
        }
      }
      out.push({ segmentId: batch.segmentId, columns: batch.columns, events });
    }
  }
  return out;
}
