/**
 * timeseries, topN and groupBy over one segment. For each bucket of the plan, rows go through
 * in chunks of at most `chunkRows`: the filter writes the selected rows, the grouper (if any)
 * their group ids, then every aggregator kernel updates its states. At the end of a bucket the
 * groups are written out as partial rows and the states reset.
 *
 * TopN keeps, per bucket, the best `max(threshold, minTopNThreshold)` values of this segment by
 * the query's metric (all of them when there are fewer: then the merged result is exact). This
 * is Druid's approximation: a value that ranks low in every segment but high in total can be
 * missed.
 */
import {
  aggregatorFunctions,
  RowEvaluator,
  topNDepth,
  topNOrdering,
  WireCodes,
  WireNumbers,
  type AggregatePartial,
  type AggregatorFunctions,
  type AggregatingQuery,
  type JsonValue,
  type LoadedSegment,
  type TopNCandidate,
} from '@cairn/shared';
import { Columns, type CodeColumn } from './columns.js';
import { chunkRows, type Guard } from './execution.js';
import { compileRowFilter, selectsAll, selectsNone, splitTimeFilter } from './filter-program.js';
import { FusedLoop, splitFusable } from './fused.js';
import { DirectGrouper, makeGrouper, type Grouper } from './grouping.js';
import { makeKernel, type Kernel } from './kernels.js';
import { planBuckets } from './plan.js';
import { scratch } from './scratch.js';

/**
 * Partial rows being written, column-wise into typed arrays (`WireNumbers`, `WireCodes`: no
 * boxing, nothing for the garbage collector to copy, plain arrays in JSON), dimension values
 * dictionary-encoded (see `AggregatePartial`): each dimension's dictionary holds the values this
 * partial uses, in first-use order, so a value crosses the wire and is interned by the merge
 * once, not once per row.
 */
class PartialWriter {
  private n = 0;
  private time: Float64Array = new WireNumbers(0);
  private counts: Float64Array = new WireNumbers(0);
  private readonly codes: Int32Array[];
  private readonly dicts: (string | null)[][];
  /** Per aggregator: numbers (NaN for null) when its kernel writes them, else JSON states. */
  private readonly aggs: (Float64Array | JsonValue[])[];
  /** Per dimension: partial index of segment code c at [c + 1], or -1. */
  private readonly local: Int32Array[];
  constructor(
    private readonly query: AggregatingQuery,
    private readonly allTime: number | null,
    dims: readonly CodeColumn[],
    private readonly kernels: readonly Kernel[],
  ) {
    this.codes = dims.map(() => new WireCodes(0));
    this.dicts = dims.map(() => []);
    this.aggs = kernels.map((k) => (k.numbers ? new WireNumbers(0) : []));
    this.local = dims.map((d) => scratch(Int32Array, d.dictionary.length + 1, -1));
  }

  /** Makes room for `extra` more rows. */
  private reserve(extra: number): void {
    const need = this.n + extra;
    if (need <= this.time.length) return;
    const cap = Math.max(need, this.time.length * 2, 16);
    const grow = <T extends Float64Array | Int32Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(cap);
      b.set(a);
      return b;
    };
    this.time = grow(this.time);
    this.counts = grow(this.counts);
    for (let d = 0; d < this.codes.length; d++) this.codes[d] = grow(this.codes[d]!);
    for (let a = 0; a < this.aggs.length; a++) {
      const col = this.aggs[a]!;
      if (!Array.isArray(col)) this.aggs[a] = grow(col);
    }
  }

  /** One row without dimensions (timeseries), its states as JSON. */
  row(time: number, count: number, states: JsonValue[]): void {
    this.reserve(1);
    const i = this.n++;
    this.time[i] = time;
    this.counts[i] = count;
    for (let a = 0; a < states.length; a++) {
      const col = this.aggs[a]!;
      const v = states[a]!;
      if (Array.isArray(col)) col.push(v);
      else col[i] = v === null ? NaN : (v as number);
    }
  }

  /** The rows of some groups of one bucket. */
  groups(time: number, groups: readonly number[], grouper: Grouper, dims: readonly CodeColumn[], fns: readonly AggregatorFunctions[]): void {
    const m = groups.length;
    this.reserve(m);
    const at = this.n;
    this.time.fill(time, at, at + m);
    const counts = this.counts;
    for (let k = 0; k < m; k++) counts[at + k] = grouper.count(groups[k]!);
    for (let d = 0; d < dims.length; d++) {
      const local = this.local[d]!;
      const dict = this.dicts[d]!;
      const dictionary = dims[d]!.dictionary;
      const col = this.codes[d]!;
      for (let k = 0; k < m; k++) {
        const c = grouper.code(groups[k]!, d) + 1;
        let l = local[c]!;
        if (l < 0) {
          l = local[c] = dict.length;
          dict.push(c === 0 ? null : dictionary[c - 1]!);
        }
        col[at + k] = l;
      }
    }
    for (let a = 0; a < this.kernels.length; a++) {
      const k = this.kernels[a]!;
      const col = this.aggs[a]!;
      if (!Array.isArray(col)) k.numbers!(groups, col, at);
      else if (k.json) k.json(groups, col);
      else for (const g of groups) col.push(fns[a]!.toJSON(k.state(g)));
    }
    this.n += m;
  }

  finish(): AggregatePartial {
    const n = this.n;
    const cut = <T extends Float64Array | Int32Array>(a: T): T => (a.length === n ? a : (a.slice(0, n) as T));
    return {
      queryType: this.query.queryType,
      allTime: this.allTime,
      time: cut(this.time),
      dims: this.codes.map(cut),
      dicts: this.dicts,
      counts: cut(this.counts),
      aggs: this.aggs.map((c) => (Array.isArray(c) ? c : cut(c))),
    };
  }
}

export function runAggregate(query: AggregatingQuery, segment: LoadedSegment, guard: Guard): AggregatePartial {
  const columns = new Columns(segment);
  const { time: timeRestriction, rest } = splitTimeFilter(query.filter);
  const grouped = query.queryType !== 'timeseries';
  const fill = !grouped && query.granularity.type !== 'none' && query.context.skipEmptyBuckets !== true;
  const plan = planBuckets(segment, query.intervals, query.granularity, timeRestriction, fill, guard);
  const dimSpecs = query.queryType === 'groupBy' ? query.dimensions : query.queryType === 'topN' ? [query.dimension] : [];
  const dims = dimSpecs.map((d) => columns.codes(d.dimension));
  const kernels = query.aggregations.map((a) => makeKernel(a, columns));
  const writer = new PartialWriter(query, plan.clipped.length > 0 ? plan.clipped[0]!.start : null, dims, kernels);
  if (plan.times.length === 0) return writer.finish();

  const filter = compileRowFilter(rest, columns);
  const none = selectsNone(filter);
  const fns = query.aggregations.map(aggregatorFunctions);
  const sel = scratch(Int32Array, chunkRows);

  const all = selectsAll(filter);
  const { fused, rest: others } = splitFusable(kernels);

  if (!grouped) {
    for (const k of kernels) k.ensure(1);
    const loop = fused.length > 0 ? new FusedLoop(fused, { type: 'one' }, plan.totalRows) : null;
    for (let b = 0; b < plan.times.length; b++) {
      let count = 0;
      if (!none) {
        for (let j = plan.first[b]!; j < plan.first[b + 1]!; j++) {
          for (let lo = plan.rows[2 * j]!, hi = plan.rows[2 * j + 1]!; lo < hi; lo += chunkRows) {
            guard.check();
            const end = Math.min(hi, lo + chunkRows);
            let n: number;
            if (all) {
              n = end - lo;
              loop?.run(lo, end, null, n, null);
              if (others.length > 0) identity(sel, lo, end);
            } else {
              n = filter.select(lo, end, sel);
              if (n === 0) continue;
              loop?.run(lo, end, sel, n, null);
            }
            count += n;
            for (const k of others) k.updateOne(sel, n);
          }
        }
      } else {
        guard.tick();
      }
      // Buckets are zero-filled only when filling; with `none` or skipEmptyBuckets only buckets with rows appear.
      if (count === 0 && !fill) {
        for (const k of kernels) k.reset(1);
        continue;
      }
      writer.row(
        plan.times[b]!,
        count,
        kernels.map((k, a) => fns[a]!.toJSON(k.state(0))),
      );
      for (const k of kernels) k.reset(1);
    }
    return writer.finish();
  }

  if (none) return writer.finish();
  const grouper = makeGrouper(dims, plan.totalRows / plan.times.length);
  const gids = scratch(Int32Array, chunkRows);
  const emit = query.queryType === 'topN' ? topNEmitter(query) : null;
  // Direct addressing with only simple aggregators: one fused loop computes keys, counts and states.
  const direct = grouper instanceof DirectGrouper && others.length === 0 ? grouper : null;
  const loop =
    fused.length === 0 && !direct
      ? null
      : new FusedLoop(
          fused,
          direct ? { type: 'direct', codes: dims.map((d) => d.codes), strides: direct.space.strides, counts: () => direct.counts } : { type: 'gids' },
          plan.totalRows,
        );
  if (direct) for (const k of kernels) k.ensure(direct.capacity);
  for (let b = 0; b < plan.times.length; b++) {
    let any = false;
    for (let j = plan.first[b]!; j < plan.first[b + 1]!; j++) {
      for (let lo = plan.rows[2 * j]!, hi = plan.rows[2 * j + 1]!; lo < hi; lo += chunkRows) {
        guard.check();
        const end = Math.min(hi, lo + chunkRows);
        let n: number;
        if (all) {
          n = end - lo;
          if (!direct) identity(sel, lo, end);
        } else {
          n = filter.select(lo, end, sel);
          if (n === 0) continue;
        }
        any = true;
        if (direct) {
          loop!.run(lo, end, all ? null : sel, n, null);
          continue;
        }
        grouper.assign(sel, n, gids);
        const capacity = grouper.capacity;
        for (const k of kernels) k.ensure(capacity);
        loop?.run(lo, end, sel, n, gids);
        for (const k of others) k.updateMany(sel, gids, n);
      }
    }
    if (!any) continue;
    const groups = grouper.present();
    const keep = emit ? emit(groups, grouper, kernels, dims[0]!.dictionary) : groups;
    writer.groups(plan.times[b]!, keep, grouper, dims, fns);
    for (const k of kernels) k.reset(grouper.capacity);
    grouper.reset();
  }
  return writer.finish();
}

/** sel = lo, lo + 1, ..., end - 1. */
function identity(sel: Int32Array, lo: number, end: number): void {
  for (let i = lo; i < end; i++) sel[i - lo] = i;
}

/** Chooses the groups of a topN bucket to send: the best `depth` by the query's ordering. */
function topNEmitter(query: AggregatingQuery & { queryType: 'topN' }) {
  const ordering = topNOrdering(query.metric);
  const depth = topNDepth(query.threshold, query.context.minTopNThreshold);
  const evaluator = new RowEvaluator(query.aggregations, query.postAggregations);
  return (groups: number[], grouper: Grouper, kernels: Kernel[], dictionary: readonly string[]): number[] => {
    const valueOf = (g: number) => {
      const c = grouper.code(g, 0);
      return c < 0 ? null : dictionary[c]!;
    };
    const kept = groups.filter((g) => ordering.keep(valueOf(g)));
    if (kept.length <= depth) return kept;
    const candidates: (TopNCandidate & { g: number })[] = kept.map((g) => ({
      g,
      value: valueOf(g),
      metric: ordering.metric === null ? null : evaluator.metric(kernels.map((k) => k.state(g)), ordering.metric),
    }));
    candidates.sort((a, b) => ordering.compare(a, b));
    return candidates.slice(0, depth).map((c) => c.g);
  };
}
