/**
 * Result rows of the aggregating queries: the values of every aggregator and post-aggregator on
 * one row of combined states, and the orderings Druid applies to such rows (topN's metric spec,
 * groupBy's natural order and limitSpec, having).
 */
import type { JsonValue } from '../json.js';
import { aggregatorFunctions, type AggregatorFunctions } from './aggregators.js';
import { compileFilter, TRUE } from './filter-eval.js';
import { hllToJSON } from './hll.js';
import { compareLexicographic, compareNullableNumbers, compareNullableStrings, stringComparator } from './ordering.js';
import { evalPostAggregator, outputValue, rowNumber, type RowValue } from './post-aggregators.js';
import { QuantileSketch } from './quantiles.js';
import type { Aggregator, DimensionSpec, HavingSpec, LimitSpec, PostAggregator, TopNMetricSpec } from './types.js';

/** The wire form of a raw row value (a sketch reached through fieldAccess is output as its state). */
export function rawToJSON(v: unknown): JsonValue {
  if (v instanceof Uint8Array) return hllToJSON(v);
  if (v instanceof QuantileSketch) return v.toJSON() as unknown as JsonValue;
  return null;
}

/** Computes aggregator and post-aggregator values of rows of states. */
export class RowEvaluator {
  readonly fns: AggregatorFunctions[];
  /** Aggregator names, then post-aggregator names. */
  readonly names: string[];
  private readonly index = new Map<string, number>();

  constructor(
    readonly aggregations: readonly Aggregator[],
    readonly postAggregations: readonly PostAggregator[],
  ) {
    this.fns = aggregations.map(aggregatorFunctions);
    this.names = [...aggregations.map((a) => a.name), ...postAggregations.map((p) => p.name)];
    this.names.forEach((n, i) => this.index.set(n, i));
  }

  indexOf(name: string): number | undefined {
    return this.index.get(name);
  }

  /**
   * Raw and finalized values, aggregators first then post-aggregators, computing post-aggregators
   * only up to `upTo` (an index into `names`; all by default).
   */
  evaluate(states: readonly unknown[], upTo = this.names.length - 1): { raw: RowValue[]; fin: RowValue[] } {
    const raw: RowValue[] = [];
    const fin: RowValue[] = [];
    const n = this.aggregations.length;
    for (let j = 0; j < n; j++) {
      raw.push(states[j] as RowValue);
      fin.push(this.fns[j]!.finalize(states[j]));
    }
    if (this.postAggregations.length > 0 && upTo >= n) {
      // One environment object per evaluator, pointed at the current row (no closures per row).
      this.rawRow = raw;
      this.finRow = fin;
      for (let j = 0; j < this.postAggregations.length && n + j <= upTo; j++) {
        const v = evalPostAggregator(this.postAggregations[j]!, this.env);
        raw.push(v);
        fin.push(v);
      }
    }
    return { raw, fin };
  }

  private rawRow: RowValue[] = [];
  private finRow: RowValue[] = [];
  private readonly env = {
    raw: (name: string): RowValue => this.rawRow[this.index.get(name)!] ?? null,
    finalized: (name: string): RowValue => this.finRow[this.index.get(name)!] ?? null,
  };

  /** The number a metric name has on a row (for ordering), null when it is not a number. */
  metric(states: readonly unknown[], name: string): number | null {
    const i = this.index.get(name);
    if (i === undefined) return null;
    if (i < this.aggregations.length) return rowNumber(this.fns[i]!.finalize(states[i]));
    return rowNumber(this.evaluate(states, i).fin[i]!);
  }

  /** The output fields of a row: `{name: value}` for every aggregator and post-aggregator. */
  output(states: readonly unknown[], into: Record<string, JsonValue>): Record<string, JsonValue> {
    const { fin } = this.evaluate(states);
    this.names.forEach((name, i) => {
      into[name] = outputValue(fin[i]!, rawToJSON);
    });
    return into;
  }
}

/** One value of a topN bucket being ranked. */
export interface TopNCandidate {
  value: string | null;
  metric: number | null;
}

/**
 * TopN's ordering: `numeric` is by the metric descending (nulls last), `dimension` by the value
 * in its StringComparator (after `previousStop`, exclusive), `inverted` reverses either. Ties are
 * broken by the dimension value ascending (null first), so every segment and the merge agree.
 */
export interface TopNOrdering {
  /** The metric to compute per candidate, or null for dimension orderings. */
  metric: string | null;
  compare(a: TopNCandidate, b: TopNCandidate): number;
  /** Whether a value may appear at all (previousStop). */
  keep(value: string | null): boolean;
}

export function topNOrdering(spec: TopNMetricSpec): TopNOrdering {
  const tie = (a: TopNCandidate, b: TopNCandidate) => compareNullableStrings(a.value, b.value, compareLexicographic);
  let inverted = false;
  let s = spec;
  while (s.type === 'inverted') {
    inverted = !inverted;
    s = s.metric;
  }
  const sign = inverted ? -1 : 1;
  if (s.type === 'numeric') {
    return {
      metric: s.metric,
      compare: (a, b) => sign * compareNullableNumbers(b.metric, a.metric) || tie(a, b),
      keep: () => true,
    };
  }
  const cmp = stringComparator(s.ordering);
  const stop = s.previousStop;
  return {
    metric: null,
    compare: (a, b) => sign * compareNullableStrings(a.value, b.value, cmp),
    keep: (v) => stop === null || (v !== null && sign * cmp(v, stop) > 0),
  };
}

/** The depth of topN per segment and per merge: max(threshold, minTopNThreshold), Druid's default 1000. */
export const topNMinThresholdDefault = 1000;
export function topNDepth(threshold: number, minTopNThreshold: number | undefined): number {
  return Math.max(threshold, minTopNThreshold ?? topNMinThresholdDefault);
}

/** A groupBy row as having and limitSpec see it. */
export interface GroupRow {
  time: number;
  dims: (string | null)[];
  /** Finalized values: aggregators then post-aggregators. */
  fin: RowValue[];
}

/** groupBy's natural order: by time, then each dimension ascending (null first). */
export function compareNatural(a: GroupRow, b: GroupRow): number {
  if (a.time !== b.time) return a.time - b.time;
  for (let d = 0; d < a.dims.length; d++) {
    const c = compareNullableStrings(a.dims[d]!, b.dims[d]!, compareLexicographic);
    if (c !== 0) return c;
  }
  return 0;
}

/**
 * The comparator of a limitSpec, as Druid's DefaultLimitSpec builds it: time first (unless
 * granularity is `all`, or last with `sortByDimsFirst`), then each column, dimensions by their
 * dimensionOrder and metrics numerically, nulls first, reversed when descending. Rows equal
 * under it keep the natural order (the sort is stable).
 */
export function limitSpecComparator(
  limitSpec: LimitSpec,
  dimensions: readonly DimensionSpec[],
  evaluator: RowEvaluator,
  byTime: boolean,
  sortByDimsFirst: boolean,
): (a: GroupRow, b: GroupRow) => number {
  const parts = limitSpec.columns.map((c) => {
    const sign = c.direction === 'descending' ? -1 : 1;
    const d = dimensions.findIndex((s) => s.outputName === c.dimension);
    if (d >= 0) {
      const cmp = stringComparator(c.dimensionOrder);
      return (a: GroupRow, b: GroupRow) => sign * compareNullableStrings(a.dims[d]!, b.dims[d]!, cmp);
    }
    const i = evaluator.indexOf(c.dimension)!;
    return (a: GroupRow, b: GroupRow) => sign * compareNullableNumbers(rowNumber(a.fin[i]!), rowNumber(b.fin[i]!));
  });
  const columns = (a: GroupRow, b: GroupRow) => {
    for (const p of parts) {
      const c = p(a, b);
      if (c !== 0) return c;
    }
    return 0;
  };
  if (!byTime) return columns;
  return sortByDimsFirst ? (a, b) => columns(a, b) || a.time - b.time : (a, b) => a.time - b.time || columns(a, b);
}

/** Compiles a having spec into a predicate over groupBy rows. */
export function compileHaving(h: HavingSpec, dimensions: readonly DimensionSpec[], evaluator: RowEvaluator): (row: GroupRow) => boolean {
  switch (h.type) {
    case 'always':
      return () => true;
    case 'never':
      return () => false;
    case 'greaterThan':
    case 'lessThan':
    case 'equalTo': {
      const i = evaluator.indexOf(h.aggregation)!;
      const v = h.value;
      return (row) => {
        const x = rowNumber(row.fin[i]!);
        if (x === null) return false;
        return h.type === 'greaterThan' ? x > v : h.type === 'lessThan' ? x < v : x === v;
      };
    }
    case 'dimSelector': {
      const d = dimensions.findIndex((s) => s.outputName === h.dimension);
      return (row) => (d < 0 ? null : row.dims[d]!) === h.value;
    }
    case 'filter': {
      const f = compileFilter(h.filter);
      const dimIndex = new Map(dimensions.map((s, i) => [s.outputName, i]));
      return (row) =>
        f((column) => {
          const d = dimIndex.get(column);
          if (d !== undefined) return row.dims[d]!;
          const i = evaluator.indexOf(column);
          return i === undefined ? null : rowNumber(row.fin[i]!);
        }) === TRUE;
    }
    case 'and': {
      const parts = h.havingSpecs.map((s) => compileHaving(s, dimensions, evaluator));
      return (row) => parts.every((p) => p(row));
    }
    case 'or': {
      const parts = h.havingSpecs.map((s) => compileHaving(s, dimensions, evaluator));
      return (row) => parts.some((p) => p(row));
    }
    case 'not': {
      const inner = compileHaving(h.havingSpec, dimensions, evaluator);
      return (row) => !inner(row);
    }
  }
}
