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
  attachPooledIds,
  currentValuePool,
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
import { codeHistogram, Columns, type CodeColumn } from './columns.js';
import { chunkRows, type Guard } from './execution.js';
import { compileRowFilter, selectsAll, selectsNone, splitTimeFilter } from './filter-program.js';
import { FusedLoop, splitFusable } from './fused.js';
import { DirectGrouper, makeGrouper, type Grouper } from './grouping.js';
import { makeKernel, type Kernel } from './kernels.js';
import { planBuckets } from './plan.js';
import { scratch } from './scratch.js';

/** Placeholders until a writer's columns are allocated (never part of a partial). */
const noNumbers = new Float64Array(0);
const noCodes = new Int32Array(0);

/**
 * Partial rows being written, column-wise into typed arrays (`WireNumbers`, `WireCodes`: no
 * boxing, nothing for the garbage collector to copy, plain arrays in JSON), dimension values
 * dictionary-encoded (see `AggregatePartial`): each dimension's dictionary holds the values this
 * partial uses, in first-use order, so a value crosses the wire and is interned by the merge
 * once, not once per row.
 */
class PartialWriter {
  private n = 0;
  private time: Float64Array = noNumbers;
  private counts: Float64Array = noNumbers;
  private readonly codes: Int32Array[];
  /** Per dimension: the code + 1 (0 for null) of each entry of this partial's dictionary, in first-use order. */
  private readonly used: Int32Array[];
  /** Entries of each dimension's dictionary so far (`used[d][0..usedN[d])`). */
  private readonly usedN: number[];
  /** Per aggregator: numbers (NaN for null) when its kernel writes them, else JSON states. */
  private readonly aggs: (Float64Array | JsonValue[])[];
  /** Codes of the groups being written (reused between buckets). */
  private slots = new Int32Array(0);
  /** Per dimension: partial index of segment code c at [c + 1], or -1. */
  private readonly local: Int32Array[];
  constructor(
    private readonly query: AggregatingQuery,
    private readonly allTime: number | null,
    private readonly kernels: readonly Kernel[],
    private readonly dims: readonly CodeColumn[],
    /** Rows to make room for at once (timeseries: its buckets). */
    private readonly rowsHint = 0,
  ) {
    // Columns are allocated at the first reserve, at their final size when it is known
    // (constructing a typed-array subclass is slow: one per column, not two or three).
    this.codes = dims.map(() => noCodes);
    this.used = dims.map((d) => scratch(Int32Array, d.dictionary.length + 1, 0, true));
    this.usedN = dims.map(() => 0);
    this.aggs = kernels.map((k) => (k.numbers ? noNumbers : []));
    this.local = dims.map((d) => scratch(Int32Array, d.dictionary.length + 1, -1));
  }

  /** Makes room for `extra` more rows. */
  private reserve(extra: number): void {
    const need = this.n + extra;
    if (need <= this.time.length && this.time !== noNumbers) return;
    const cap = this.time.length === 0 ? Math.max(need, this.rowsHint) : Math.max(need, this.time.length * 2);
    const grow = <T extends Float64Array | Int32Array>(a: T): T => {
      const b = (a instanceof Float64Array ? new WireNumbers(cap) : new WireCodes(cap)) as unknown as T;
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
  groups(time: number, groups: Int32Array, grouper: Grouper, dims: readonly CodeColumn[], fns: readonly AggregatorFunctions[]): void {
    const m = groups.length;
    this.reserve(m);
    const at = this.n;
    this.time.fill(time, at, at + m);
    grouper.writeCounts(groups, this.counts, at);
    if (this.slots.length < m) this.slots = scratch(Int32Array, Math.max(m, 2 * this.slots.length), 0, true);
    const slots = this.slots;
    for (let d = 0; d < dims.length; d++) {
      grouper.writeCodes(groups, d, slots);
      const local = this.local[d]!;
      const used = this.used[d]!;
      let usedN = this.usedN[d]!;
      const col = this.codes[d]!;
      for (let k = 0; k < m; k++) {
        const c = slots[k]!;
        let l = local[c]!;
        if (l < 0) {
          l = local[c] = usedN;
          used[usedN++] = c;
        }
        col[at + k] = l;
      }
      this.usedN[d] = usedN;
    }
    for (let a = 0; a < this.kernels.length; a++) {
      const k = this.kernels[a]!;
      const col = this.aggs[a]!;
      if (!Array.isArray(col)) k.numbers!(groups, col, at);
      else if (k.json) k.json(groups, col);
      else for (let j = 0; j < m; j++) col.push(fns[a]!.toJSON(k.state(groups[j]!)));
    }
    this.n += m;
  }

  /**
   * The partial, with the process's pool ids of its dictionary values attached (see
   * `ValuePool`): the segment's dictionaries map to pool ids once per process, so merging
   * partials of this process combines them without hashing strings.
   */
  finish(): AggregatePartial {
    const n = this.n;
    if (this.time.length === 0) this.reserve(0);
    const cut = <T extends Float64Array | Int32Array>(a: T): T => (a.length === n ? a : (a.slice(0, n) as T));
    const dicts = this.used.map((used, d) => {
      const dictionary = this.dims[d]!.dictionary;
      const out: (string | null)[] = [];
      for (let l = 0, m = this.usedN[d]!; l < m; l++) out.push(used[l] === 0 ? null : dictionary[used[l]! - 1]!);
      return out;
    });
    const partial: AggregatePartial = {
      queryType: this.query.queryType,
      allTime: this.allTime,
      time: cut(this.time),
      dims: this.codes.map(cut),
      dicts,
      counts: cut(this.counts),
      aggs: this.aggs.map((c) => (Array.isArray(c) ? c : cut(c))),
    };
    if (this.dims.length > 0 && n > 0) {
      const pool = currentValuePool(this.dims.reduce((a, d) => a + d.dictionary.length, 0));
      const byCode = this.dims.map((d) => pool.idsOf(d.dictionary));
      if (byCode.every((b) => b !== null)) {
        const ids = this.used.map((used, d) => {
          const b = byCode[d]!;
          const out = new Int32Array(this.usedN[d]!);
          for (let l = 0; l < out.length; l++) out[l] = b[used[l]!]!;
          return out;
        });
        attachPooledIds(partial, { pool, ids });
      }
    }
    return partial;
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
  const writer = new PartialWriter(query, plan.clipped.length > 0 ? plan.clipped[0]!.start : null, kernels, dims, grouped ? 0 : plan.times.length);
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
  const grouper = makeGrouper(dims, plan.totalRows / plan.times.length, plan.totalRows);
  const gids = scratch(Int32Array, chunkRows);
  const emit = query.queryType === 'topN' ? topNEmitter(query, kernels) : null;
  // Direct addressing with only simple aggregators: one fused loop computes keys, counts and states.
  const direct = grouper instanceof DirectGrouper && others.length === 0 ? grouper : null;
  // One dimension, no filter, one bucket holding every row of the segment: the rows per key are
  // the column's histogram (kept per segment), so the loop does not count.
  const counted =
    direct !== null && !direct.track && dims.length === 1 && all && plan.times.length === 1 && plan.rows.length === 2 && plan.rows[0] === 0 && plan.rows[1] === segment.rowCount;
  if (counted) direct.counts.set(codeHistogram(dims[0]!.codes, dims[0]!.dictionary.length));
  const loop =
    fused.length === 0 && !direct
      ? null
      : new FusedLoop(
          fused,
          direct
            ? { type: 'direct', codes: dims.map((d) => d.codes), strides: direct.space.strides, counts: () => direct.counts, counted, track: direct.track, list: () => direct.list, seen: () => direct.seen }
            : { type: 'gids' },
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
    if (direct) loop!.finishDirect(groups);
    const keep = emit ? emit(groups, grouper, dims[0]!.dictionary) : groups;
    writer.groups(plan.times[b]!, keep, grouper, dims, fns);
    if (b + 1 < plan.times.length) {
      // Direct addressing: only the groups that had rows are reset (the key space can be much
      // larger). After the last bucket nothing is reset: the states are scratch, refilled when lent.
      for (const k of kernels) {
        if (direct && direct.track && k.clear) k.clear(groups);
        else k.reset(grouper.capacity);
      }
      grouper.reset();
    }
  }
  return writer.finish();
}

/** sel = lo, lo + 1, ..., end - 1. */
function identity(sel: Int32Array, lo: number, end: number): void {
  for (let i = lo; i < end; i++) sel[i - lo] = i;
}

/**
 * Chooses the groups of a topN bucket to send: the best `depth` by the query's ordering. When
 * the ordering is by an aggregator whose states are numbers (count, sum, min, max), the metric
 * comes from the kernel's typed states and the best are found by selection on (metric, code),
 * without an object per group: dictionaries are sorted, so code order is the value order that
 * breaks ties (null, code -1, first).
 */
function topNEmitter(query: AggregatingQuery & { queryType: 'topN' }, kernels: readonly Kernel[]) {
  const ordering = topNOrdering(query.metric);
  const depth = topNDepth(query.threshold, query.context.minTopNThreshold);
  const evaluator = new RowEvaluator(query.aggregations, query.postAggregations);
  const numeric = numericTopN(query, kernels);
  return (groups: Int32Array, grouper: Grouper, dictionary: readonly string[]): Int32Array => {
    const valueOf = (g: number) => {
      const c = grouper.code(g, 0);
      return c < 0 ? null : dictionary[c]!;
    };
    if (numeric) {
      // Numeric orderings keep every value (no previousStop).
      if (groups.length <= depth) return groups;
      return numeric(groups, grouper, depth);
    }
    const kept = Array.from(groups).filter((g) => ordering.keep(valueOf(g)));
    if (kept.length <= depth) return Int32Array.from(kept);
    const candidates: (TopNCandidate & { g: number })[] = kept.map((g) => ({
      g,
      value: valueOf(g),
      metric: ordering.metric === null ? null : evaluator.metric(kernels.map((k) => k.state(g)), ordering.metric),
    }));
    candidates.sort((a, b) => ordering.compare(a, b));
    return Int32Array.from(candidates.slice(0, depth), (c) => c.g);
  };
}

/**
 * The typed topN selection, when the metric is an aggregator whose kernel writes number states;
 * else null. Better is: a larger metric (a smaller one when inverted), null last (first when
 * inverted, as `topNOrdering` orders them), then the smaller code.
 */
function numericTopN(query: AggregatingQuery & { queryType: 'topN' }, kernels: readonly Kernel[]) {
  let spec = query.metric;
  let sign = 1;
  while (spec.type === 'inverted') {
    sign = -sign;
    spec = spec.metric;
  }
  if (spec.type !== 'numeric') return null;
  const name = spec.metric;
  const a = query.aggregations.findIndex((x) => x.name === name);
  if (a < 0 || query.postAggregations.some((p) => p.name === name)) return null;
  const kernel = kernels[a]!;
  if (!kernel.numbers) return null;
  return (groups: Int32Array, grouper: Grouper, depth: number): Int32Array => {
    const m = groups.length;
    const metric = scratch(Float64Array, m);
    kernel.numbers!(groups, metric, 0);
    const codes = scratch(Int32Array, m);
    grouper.writeCodes(groups, 0, codes);
    // Score: larger is better; null (NaN) is worst unless inverted, where it is best.
    const score = scratch(Float64Array, m);
    const nullRank = scratch(Uint8Array, m);
    for (let k = 0; k < m; k++) {
      const v = metric[k]!;
      if (v !== v) {
        nullRank[k] = sign > 0 ? 0 : 2;
        score[k] = 0;
      } else {
        nullRank[k] = 1;
        score[k] = sign * v;
      }
    }
    const order = scratch(Int32Array, m);
    for (let k = 0; k < m; k++) order[k] = k;
    selectBest(order, depth, (x, y) => nullRank[x]! - nullRank[y]! || (score[x]! > score[y]! ? 1 : score[x]! < score[y]! ? -1 : 0) || codes[y]! - codes[x]!);
    const out = new Int32Array(depth);
    for (let k = 0; k < depth; k++) out[k] = groups[order[k]!]!;
    return out;
  };
}

/**
 * Moves the `k` best items of `a` (by `better(x, y) > 0` when x is better; a total order) to
 * its front, in no particular order: quickselect, linear on average.
 */
export function selectBest(a: Int32Array, k: number, better: (x: number, y: number) => number): void {
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo && k > lo && k <= hi) {
    // Median of three as the pivot.
    const mid = (lo + hi) >>> 1;
    const x = a[lo]!;
    const y = a[mid]!;
    const z = a[hi]!;
    const pivot = better(x, y) > 0 ? (better(y, z) > 0 ? y : better(x, z) > 0 ? z : x) : better(x, z) > 0 ? x : better(y, z) > 0 ? z : y;
    // Hoare-style partition: better than the pivot to the left.
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (better(a[i]!, pivot) > 0) i++;
      while (better(pivot, a[j]!) > 0) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    // Now [lo, j] are at least as good as the pivot, [i, hi] at most as good (and i > j).
    if (k <= j + 1) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
}
