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
  type AggregatePartial,
  type AggregatingQuery,
  type JsonValue,
  type LoadedSegment,
  type TopNCandidate,
} from '@cairn/shared';
import { Columns } from './columns.js';
import { chunkRows, type Guard } from './execution.js';
import { compileRowFilter, selectsAll, selectsNone, splitTimeFilter } from './filter-program.js';
import { FusedLoop, splitFusable } from './fused.js';
import { DirectGrouper, makeGrouper, type Grouper } from './grouping.js';
import { makeKernel, type Kernel } from './kernels.js';
import { planBuckets } from './plan.js';

/** Partial rows being written, column-wise. */
class PartialWriter {
  readonly out: AggregatePartial;
  constructor(query: AggregatingQuery, allTime: number | null, dims: number) {
    this.out = {
      queryType: query.queryType,
      allTime,
      time: [],
      dims: Array.from({ length: dims }, () => []),
      counts: [],
      aggs: query.aggregations.map(() => []),
    };
  }
  row(time: number, dims: (string | null)[], count: number, states: JsonValue[]): void {
    this.out.time.push(time);
    for (let d = 0; d < dims.length; d++) this.out.dims[d]!.push(dims[d]!);
    this.out.counts.push(count);
    for (let a = 0; a < states.length; a++) this.out.aggs[a]!.push(states[a]!);
  }
}

export function runAggregate(query: AggregatingQuery, segment: LoadedSegment, guard: Guard): AggregatePartial {
  const columns = new Columns(segment);
  const { time: timeRestriction, rest } = splitTimeFilter(query.filter);
  const grouped = query.queryType !== 'timeseries';
  const fill = !grouped && query.granularity.type !== 'none' && query.context.skipEmptyBuckets !== true;
  const plan = planBuckets(segment, query.intervals, query.granularity, timeRestriction, fill, guard);
  const dimSpecs = query.queryType === 'groupBy' ? query.dimensions : query.queryType === 'topN' ? [query.dimension] : [];
  const writer = new PartialWriter(query, plan.clipped.length > 0 ? plan.clipped[0]!.start : null, dimSpecs.length);
  if (plan.times.length === 0) return writer.out;

  const filter = compileRowFilter(rest, columns);
  const none = selectsNone(filter);
  const kernels = query.aggregations.map((a) => makeKernel(a, columns));
  const fns = query.aggregations.map(aggregatorFunctions);
  const sel = new Int32Array(chunkRows);

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
        [],
        count,
        kernels.map((k, a) => fns[a]!.toJSON(k.state(0))),
      );
      for (const k of kernels) k.reset(1);
    }
    return writer.out;
  }

  if (none) return writer.out;
  const dims = dimSpecs.map((d) => columns.codes(d.dimension));
  const grouper = makeGrouper(dims, plan.totalRows / plan.times.length);
  const gids = new Int32Array(chunkRows);
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
    // Column-wise, without per-row temporaries: this loop runs once per group.
    const out = writer.out;
    const t = plan.times[b]!;
    for (const g of keep) {
      out.time.push(t);
      out.counts.push(grouper.count(g));
    }
    for (let i = 0; i < dims.length; i++) {
      const dict = dims[i]!.dictionary;
      const col = out.dims[i]!;
      for (const g of keep) {
        const c = grouper.code(g, i);
        col.push(c < 0 ? null : dict[c]!);
      }
    }
    for (let a = 0; a < kernels.length; a++) {
      const k = kernels[a]!;
      const f = fns[a]!;
      const col = out.aggs[a]!;
      if (k.json) k.json(keep, col);
      else for (const g of keep) col.push(f.toJSON(k.state(g)));
    }
    for (const k of kernels) k.reset(grouper.capacity);
    grouper.reset();
  }
  return writer.out;
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
