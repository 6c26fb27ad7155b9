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
import { combineAggregates, dimValueAt, statesAt, type CombinedRows, type StateColumn } from './combine.js';
import type { AggregatorFunctions } from './aggregators.js';
import { scanRowsNeeded, topNKeep } from './merge.js';
import { compareLexicographic, compareNullableNumbers, compareNullableStrings, stringComparator } from './ordering.js';
import { outputValue, rowNumber, type RowValue } from './post-aggregators.js';
import type { AggregatePartial, PartialResult, ScanPartial, SegmentAnalysis } from './partial.js';
import { compileHaving, rawToJSON, RowEvaluator, type GroupRow } from './rows.js';
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
  // Finalized values per row, computed when first needed (having, a post-aggregator in the
  // limitSpec, the output rows), not for every group up front.
  const fins: (RowValue[] | undefined)[] = new Array(n);
  const finOf = (i: number): RowValue[] => (fins[i] ??= evaluator.evaluate(statesAt(rows, i, scratch)).fin);
  const row = (i: number): GroupRow => ({ time: rows.time[i]!, dims: rows.codes.map((_, d) => dimValueAt(rows, d, i)), fin: finOf(i) });
  // Natural order (time, then each dimension's value, null first) by integer ranks: each
  // dictionary is sorted once, rows then compare numbers. Computed on first use: an ordered
  // limit needs them only to break ties.
  let ranksMemo: Int32Array[] | null = null;
  let rowRanks: Int32Array[] = [];
  const ranks = (): Int32Array[] => {
    if (ranksMemo) return ranksMemo;
    ranksMemo = rows.dicts.map((dict) => {
      const byValue = Array.from({ length: dict.length }, (_, k) => k).sort((a, b) => compareNullableStrings(dict[a]!, dict[b]!, compareLexicographic));
      const rank = new Int32Array(dict.length);
      byValue.forEach((k, r) => (rank[k] = r));
      return rank;
    });
    rowRanks = rows.codes.map((codes, d) => {
      const rank = ranksMemo![d]!;
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = rank[codes[i]!]!;
      return out;
    });
    return ranksMemo;
  };
  const natural = (a: number, b: number): number => {
    if (rows.time[a] !== rows.time[b]) return rows.time[a]! - rows.time[b]!;
    if (dimCount > 0 && ranksMemo === null) ranks();
    for (let d = 0; d < dimCount; d++) {
      const c = rowRanks[d]![a]! - rowRanks[d]![b]!;
      if (c !== 0) return c;
    }
    return 0;
  };
  // Natural order by one number per row when time rank and dimension ranks pack into one with
  // the row index (a native sort of a Float64Array: ~10x faster than a comparator's sort of
  // 100k rows); else by the comparator.
  const naturalOrder = (items: number[]): number[] => {
    if (items.length < 64) return items.sort(natural);
    if (dimCount > 0) ranks();
    let oneTime = true;
    for (let k = 1; k < items.length && oneTime; k++) oneTime = rows.time[items[k]!] === rows.time[items[0]!];
    const times = oneTime ? [rows.time[items[0]!]!] : [...new Set(items.map((i) => rows.time[i]!))].sort((a, b) => a - b);
    const timeRank = new Map(times.map((t, r) => [t, r]));
    let range = times.length;
    for (const d of rows.dicts) range *= d.length;
    if (range * n >= 2 ** 53) return items.sort(natural);
    const keys = new Float64Array(items.length);
    const sizes = rows.dicts.map((d) => d.length);
    for (let k = 0; k < items.length; k++) {
      const i = items[k]!;
      let key = oneTime ? 0 : timeRank.get(rows.time[i]!)!;
      for (let d = 0; d < dimCount; d++) key = key * sizes[d]! + rowRanks[d]![i]!;
      keys[k] = key;
    }
    // Distinct groups have distinct keys (ranks are distinct per dictionary entry): when the key
    // range is not much larger than the rows, each row goes to its key's place and the places
    // are read back in order, with no sort (a 94k-row groupBy: ~1 ms instead of ~8).
    if (range <= placedKeysMax && range <= 4 * items.length + 1024) {
      const at = new Int32Array(range).fill(-1);
      let clash = false;
      for (let k = 0; k < items.length; k++) {
        const key = keys[k]!;
        if (at[key]! >= 0) clash = true;
        at[key] = items[k]!;
      }
      if (!clash) {
        const out: number[] = new Array(items.length);
        let m = 0;
        for (let key = 0; key < range; key++) if (at[key]! >= 0) out[m++] = at[key]!;
        return out;
      }
    }
    for (let k = 0; k < items.length; k++) keys[k] = keys[k]! * n + items[k]!;
    keys.sort();
    const out: number[] = new Array(keys.length);
    for (let k = 0; k < keys.length; k++) out[k] = keys[k]! % n;
    return out;
  };
  let order: number[] = new Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (query.having) {
    const having = compileHaving(query.having, query.dimensions, evaluator);
    order = order.filter((i) => having(row(i)));
  }
  if (limitSpec) {
    const end = limitSpec.limit === null ? order.length : Math.min(order.length, limitSpec.offset + limitSpec.limit);
    if (reorder) {
      // A stable sort of the naturally ordered rows by the limitSpec is a sort by the limitSpec,
      // then natural order (distinct groups always differ in it): so a small limit can take the
      // best `offset + limit` rows with a heap instead of sorting them all. Rows compare by
      // index over per-column arrays (metric values as numbers, lexicographic dimensions by
      // rank): no row object per group.
      const { cmp, primary } = limitSpecIndexComparator(query, rows, evaluator, finOf, ranks, byTime);
      const total = (a: number, b: number) => cmp(a, b) || natural(a, b);
      order = end * 4 < order.length ? smallest(order, end, total, primary) : order.sort(total);
    } else {
      order = naturalOrder(order);
    }
    order = order.slice(limitSpec.offset, end);
  } else {
    order = naturalOrder(order);
  }
  const out: DruidResponse = new Array(order.length);
  const names = evaluator.names;
  const fns = evaluator.fns;
  const direct = query.postAggregations.length === 0;
  // Without post-aggregators a row's values are its states finalized, computed column by column
  // (one loop per aggregator stays monomorphic; per row, a call through each aggregator's state
  // column and function table cost ~100 ns) and with no arrays per row.
  const columns = direct ? fns.map((f, j) => finalizedColumn(f, rows.states[j]!, order)) : null;
  const dimNames = query.dimensions.map((d) => d.outputName);
  const make = columns ? eventMaker(dimNames, names) : null;
  let lastTime = NaN;
  let lastStamp = '';
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    const t = rows.time[i]!;
    if (t !== lastTime) {
      lastTime = t;
      lastStamp = format(t);
    }
    if (make) {
      out[k] = { version: 'v1', timestamp: lastStamp, event: make(rows, i, k, columns!) };
      continue;
    }
    // With post-aggregators: field by field (`setField`, so that "__proto__" is a field too).
    const event: Record<string, JsonValue> = {};
    for (let d = 0; d < dimCount; d++) setField(event, dimNames[d]!, dimValueAt(rows, d, i));
    const values = fins[i] ?? finOf(i);
    for (let j = 0; j < names.length; j++) setField(event, names[j]!, outputValue(values[j]!, rawToJSON));
    out[k] = { version: 'v1', timestamp: lastStamp, event };
  }
  return out;
}

/** Sets an own, enumerable field, "__proto__" included (a plain assignment of it would set the prototype). */
function setField(o: Record<string, JsonValue>, name: string, value: JsonValue): void {
  if (name === '__proto__') Object.defineProperty(o, name, { value, enumerable: true, writable: true, configurable: true });
  else o[name] = value;
}

type EventMaker = (rows: CombinedRows, i: number, k: number, columns: readonly JsonValue[][]) => Record<string, JsonValue>;
/** Makers by their field names; bounded (cleared when full) because the names come from queries. */
const eventMakers = new Map<string, EventMaker>();
const eventMakersMax = 256;

/**
 * A function that builds a groupBy row's event (the dimensions' values, then the aggregators')
 * with its fields in one object literal. Filled field by field through computed names, as it was,
 * the store sites met a new object shape with every query's names and V8 deoptimized
 * `finalizeGroupBy` over and over ("wrong map", 15 times in 40 queries). The names are bound
 * values of the generated function's closure, never part of its source, and computed keys make
 * even "__proto__" an own field, as a plain assignment of it would not.
 */
function eventMaker(dimNames: readonly string[], names: readonly string[]): EventMaker {
  const all = [...dimNames, ...names];
  // Where the dimensions end is part of the function: [a, b] + [c] and [a] + [b, c] differ.
  const key = `${dimNames.length}|${JSON.stringify(all)}`;
  let make = eventMakers.get(key);
  if (make) return make;
  if (eventMakers.size >= eventMakersMax) eventMakers.clear();
  const fields = [
    ...dimNames.map((_, d) => `[K[${d}]]: dimValueAt(rows, ${d}, i)`),
    ...names.map((_, j) => `[K[${dimNames.length + j}]]: columns[${j}][k]`),
  ];
  make = new Function('K', 'dimValueAt', `return function groupByEvent(rows, i, k, columns) { return { ${fields.join(', ')} }; };`)(all, dimValueAt) as EventMaker;
  eventMakers.set(key, make);
  return make;
}

/**
 * The limitSpec's comparator over row indexes (`limitSpecComparator` without row objects):
 * time first unless `all` (last with sortByDimsFirst), then each column: a dimension by its
 * dimensionOrder (lexicographic by the precomputed ranks), a metric by its finalized number,
 * nulls first, reversed when descending.
 */
function limitSpecIndexComparator(
  query: GroupByQuery,
  rows: CombinedRows,
  evaluator: RowEvaluator,
  finOf: (r: number) => RowValue[],
  ranks: () => Int32Array[],
  byTime: boolean,
): { cmp: (a: number, b: number) => number; primary: Float64Array | null } {
  let primary: Float64Array | null = null;
  const parts = query.limitSpec!.columns.map((c, p): ((a: number, b: number) => number) => {
    const sign = c.direction === 'descending' ? -1 : 1;
    const d = query.dimensions.findIndex((s) => s.outputName === c.dimension);
    if (d >= 0) {
      const codes = rows.codes[d]!;
      if (c.dimensionOrder === 'lexicographic') {
        const rank = ranks()[d]!;
        return (a, b) => sign * (rank[codes[a]!]! - rank[codes[b]!]!);
      }
      const cmp = stringComparator(c.dimensionOrder);
      const dict = rows.dicts[d]!;
      return (a, b) => sign * compareNullableStrings(dict[codes[a]!]!, dict[codes[b]!]!, cmp);
    }
    const j = evaluator.indexOf(c.dimension)!;
    const values = new Float64Array(rows.n);
    const aggregator = j < evaluator.fns.length ? evaluator.fns[j]! : null;
    for (let r = 0; r < rows.n; r++) {
      // An aggregator's finalized value straight from its state; a post-aggregator's through the row.
      const v = rowNumber(aggregator ? (aggregator.finalize(rows.states[j]!.get(r)) as RowValue) : finOf(r)[j]!);
      values[r] = v === null ? NaN : v;
    }
    if (p === 0 && !byTime) {
      // The first column as one number per row, smaller first: null first when ascending, last
      // when descending, as compareNullableNumbers orders it.
      primary = new Float64Array(rows.n);
      for (let r = 0; r < rows.n; r++) primary[r] = values[r] !== values[r] ? -sign * Infinity : sign * values[r]!;
    }
    return (a, b) => sign * compareNullableNumbers(values[a]!, values[b]!);
  });
  const time = rows.time;
  const columns = (a: number, b: number) => {
    for (let p = 0; p < parts.length; p++) {
      const c = parts[p]!(a, b);
      if (c !== 0) return c;
    }
    return 0;
  };
  if (!byTime) return { cmp: columns, primary };
  return { cmp: query.context.sortByDimsFirst === true ? (a, b) => columns(a, b) || time[a]! - time[b]! : (a, b) => time[a]! - time[b]! || columns(a, b), primary: null };
}

/** Keys up to this many are ordered by placing each row at its key (4 bytes per key). */
const placedKeysMax = 1 << 24;

/** The output values of one aggregator on rows `order` (finalized, then as JSON). */
function finalizedColumn(f: AggregatorFunctions, states: StateColumn, order: readonly number[]): JsonValue[] {
  const out: JsonValue[] = new Array(order.length);
  for (let k = 0; k < order.length; k++) out[k] = outputValue(f.finalize(states.get(order[k]!)) as RowValue, rawToJSON);
  return out;
}

/** The one row of initial states Druid answers for a dimensionless groupBy over no rows. */
function summaryRow(query: GroupByQuery, evaluator: RowEvaluator, allTime: number): CombinedRows {
  const rows = combineAggregates(query, [], evaluator);
  const states = evaluator.fns.map((f) => ({ get: () => f.init(), json: () => f.toJSON(f.init()), grow: () => {}, combineJSON: () => {}, combineState: () => {}, encode: () => [f.toJSON(f.init())] }));
  return { ...rows, n: 1, time: Float64Array.of(allTime), counts: Float64Array.of(0), states };
}

/**
 * The `k` smallest row indexes under `cmp`, sorted (a bounded max-heap: one pass, no full sort).
 * With `primary` (a number per row that `cmp` orders by first), a row whose number is above the
 * heap's largest is passed over without calling `cmp`: most rows of a small limit over many.
 */
function smallest(items: readonly number[], k: number, cmp: (a: number, b: number) => number, primary: Float64Array | null = null): number[] {
  if (k <= 0) return [];
  const heap: number[] = [];
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
    } else if ((primary === null || !(primary[x]! > primary[heap[0]!]!)) && cmp(x, heap[0]!) < 0) {
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
