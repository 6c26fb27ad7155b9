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
import { combineAggregates, dimValueAt, statesAt, type CombinedRows } from './combine.js';
import { scanRowsNeeded, topNKeep } from './merge.js';
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
  let order = Array.from({ length: rows.n }, (_, i) => i).sort((a, b) => rows.time[a]! - rows.time[b]!);
  if (query.context.skipEmptyBuckets === true) order = order.filter((i) => rows.counts[i]! > 0);
  if (query.descending) order.reverse();
  if (query.limit !== null) order = order.slice(0, query.limit);
  const scratch: unknown[] = [];
  const out: DruidResponse = order.map((i) => ({ timestamp: format(rows.time[i]!), result: evaluator.output(statesAt(rows, i, scratch), {}) }));
  if (query.context.grandTotal === true && rows.n > 0) {
    const fns = evaluator.fns;
    const total = fns.map((f, a) => {
      let acc = f.init();
      for (let i = 0; i < rows.n; i++) acc = f.combine(acc, rows.states[a]!.get(i));
      return acc;
    });
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
    list.push(evaluator.output(statesAt(rows, i, scratch), { [query.dimension.outputName]: dimValueAt(rows, 0, i) }));
  }
  return [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([t, result]) => ({ timestamp: format(t), result }));
}

function finalizeGroupBy(query: GroupByQuery, partial: AggregatePartial): DruidResponse {
  const evaluator = new RowEvaluator(query.aggregations, query.postAggregations);
  let rows = combineAggregates(query, [partial], evaluator);
  const format = timestampFormatter(query.granularity);
  const byTime = query.granularity.type !== 'all';
  // Druid answers a groupBy without dimensions over no rows with one row of initial values
  // (its "summary row"), as SQL does for an aggregate without GROUP BY.
  if (rows.n === 0 && query.dimensions.length === 0 && !byTime && partial.allTime !== null) {
    rows = summaryRow(query, evaluator, partial.allTime);
  }
  const n = rows.n;
  const dimCount = query.dimensions.length;
  const scratch: unknown[] = [];
  // Post-aggregator values are computed once per row, and only when having or ordering need them.
  const limitSpec = query.limitSpec;
  const reorder = limitSpec !== null && (limitSpec.columns.length > 0 || (byTime && query.context.sortByDimsFirst === true));
  const needFin = query.having !== null || reorder;
  const fins: RowValue[][] | null = needFin ? Array.from({ length: n }, (_, i) => evaluator.evaluate(statesAt(rows, i, scratch)).fin) : null;
  const row = (i: number): GroupRow => ({ time: rows.time[i]!, dims: rows.codes.map((_, d) => dimValueAt(rows, d, i)), fin: fins ? fins[i]! : [] });
  // Natural order (time, then each dimension's value, null first) by integer ranks: each
  // dictionary is sorted once, rows then compare numbers.
  const ranks = rows.dicts.map((dict) => {
    const byValue = Array.from({ length: dict.length }, (_, k) => k).sort((a, b) => compareNullableStrings(dict[a]!, dict[b]!, compareLexicographic));
    const rank = new Int32Array(dict.length);
    byValue.forEach((k, r) => (rank[k] = r));
    return rank;
  });
  const rowRanks = rows.codes.map((codes, d) => {
    const rank = ranks[d]!;
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = rank[codes[i]!]!;
    return out;
  });
  const natural = (a: number, b: number): number => {
    if (rows.time[a] !== rows.time[b]) return rows.time[a]! - rows.time[b]!;
    for (let d = 0; d < dimCount; d++) {
      const c = rowRanks[d]![a]! - rowRanks[d]![b]!;
      if (c !== 0) return c;
    }
    return 0;
  };
  let order = Array.from({ length: n }, (_, i) => i);
  if (query.having) {
    const having = compileHaving(query.having, query.dimensions, evaluator);
    order = order.filter((i) => having(row(i)));
  }
  if (limitSpec) {
    const end = limitSpec.limit === null ? order.length : Math.min(order.length, limitSpec.offset + limitSpec.limit);
    if (reorder) {
      // A stable sort of the naturally ordered rows by the limitSpec is a sort by the limitSpec,
      // then natural order (distinct groups always differ in it): so a small limit can take the
      // best `offset + limit` rows with a heap instead of sorting them all.
      const cmp = limitSpecComparator(limitSpec, query.dimensions, evaluator, byTime, query.context.sortByDimsFirst === true);
      const keyed = order.map((i) => ({ i, r: row(i) }));
      const total = (a: { i: number; r: GroupRow }, b: { i: number; r: GroupRow }) => cmp(a.r, b.r) || natural(a.i, b.i);
      order = (end * 4 < keyed.length ? smallest(keyed, end, total) : keyed.sort(total)).map((k) => k.i);
    } else {
      order.sort(natural);
    }
    order = order.slice(limitSpec.offset, end);
  } else {
    order.sort(natural);
  }
  const out: DruidResponse = new Array(order.length);
  const names = evaluator.names;
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    const event: Record<string, JsonValue> = {};
    for (let d = 0; d < dimCount; d++) event[query.dimensions[d]!.outputName] = dimValueAt(rows, d, i);
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

/** The one row of initial states Druid answers for a dimensionless groupBy over no rows. */
function summaryRow(query: GroupByQuery, evaluator: RowEvaluator, allTime: number): CombinedRows {
  const rows = combineAggregates(query, [], evaluator);
  const states = evaluator.fns.map((f) => ({ get: () => f.init(), json: () => f.toJSON(f.init()), grow: () => {}, combineJSON: () => {}, combineState: () => {}, encode: () => [f.toJSON(f.init())] }));
  return { ...rows, n: 1, time: Float64Array.of(allTime), counts: Float64Array.of(0), states };
}

/** The `k` smallest items under `cmp`, sorted (a bounded max-heap: one pass, no full sort). */
function smallest<T>(items: readonly T[], k: number, cmp: (a: T, b: T) => number): T[] {
  if (k <= 0) return [];
  const heap: T[] = [];
  const siftDown = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && cmp(heap[l]!, heap[m]!) > 0) m = l;
      if (r < heap.length && cmp(heap[r]!, heap[m]!) > 0) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  };
  for (const x of items) {
    if (heap.length < k) {
      heap.push(x);
      for (let i = heap.length - 1; i > 0; ) {
        const p = (i - 1) >> 1;
        if (cmp(heap[i]!, heap[p]!) <= 0) break;
        [heap[i], heap[p]] = [heap[p]!, heap[i]!];
        i = p;
      }
    } else if (cmp(x, heap[0]!) < 0) {
      heap[0] = x;
      siftDown(0);
    }
  }
  return heap.sort(cmp);
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
