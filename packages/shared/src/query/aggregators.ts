/**
 * Aggregator function tables in DuckDB's shape: `init`, `update` (one row of a segment),
 * `combine` (two partial states), `finalize` (the output value), plus `toJSON`/`fromJSON` for
 * the partial state's wire form. A worker's partial result holds the JSON forms; the client
 * decodes, combines and finalizes with these same tables, so merged results equal what one
 * pass over all the rows would give.
 *
 * Null handling is SQL's (Druid's default since 28.0): sums, mins and maxes of no non-null
 * value are null; count counts rows; sketches ignore nulls.
 */
import type { JsonValue } from '../json.js';
import type { LoadedSegment } from '../segment/types.js';
import { segmentCell, segmentNumber } from './cells.js';
import { compileFilter, TRUE } from './filter-eval.js';
import { combineHash, hllApply, hllEstimate, hllFromJSON, hllMergeInto, hllNew, hllPack, hllPackString, hllToJSON, valueHashes } from './hll.js';
import { QuantileSketch } from './quantiles.js';
import type { Aggregator } from './types.js';

export interface AggregatorFunctions<S = unknown> {
  readonly spec: Aggregator;
  /** The state of no rows. */
  init(): S;
  /** The state after also aggregating `row` of `segment` (may update `state` in place). */
  update(state: S, segment: LoadedSegment, row: number): S;
  /** The state of both inputs' rows (may update `a` in place). */
  combine(a: S, b: S): S;
  /** The value Druid returns for this aggregator. */
  finalize(state: S): number | null;
  toJSON(state: S): JsonValue;
  /** @throws TypeError for a malformed wire state. */
  fromJSON(json: unknown): S;
}

const numberOrNull = (json: unknown): number | null => {
  if (json === null) return null;
  if (typeof json !== 'number') throw new TypeError(`invalid aggregator state ${JSON.stringify(json)}: expected a number or null`);
  return json;
};

function numeric(
  spec: Aggregator,
  fieldName: string,
  asLong: boolean,
  op: (a: number, b: number) => number,
): AggregatorFunctions<number | null> {
  return {
    spec,
    init: () => null,
    update(state, segment, row) {
      let v = segmentNumber(segment, fieldName, row);
      if (v === null) return state;
      if (asLong) v = Math.trunc(v);
      return state === null ? v : op(state, v);
    },
    combine: (a, b) => (a === null ? b : b === null ? a : op(a, b)),
    finalize: (s) => s,
    toJSON: (s) => s,
    fromJSON: numberOrNull,
  };
}

const add = (a: number, b: number) => a + b;

/**
 * Function tables are stateless, so one per spec object is built and reused: the engine asks for
 * them per segment, and building one creates a dozen closures (each named at creation when the
 * code is compiled with esbuild's keepNames, as tsx and the CLI bundle do).
 */
const tables = new WeakMap<Aggregator, AggregatorFunctions>();

/** The function table of an aggregator spec. */
export function aggregatorFunctions(spec: Aggregator): AggregatorFunctions {
  let t = tables.get(spec);
  if (!t) {
    t = buildAggregatorFunctions(spec);
    tables.set(spec, t);
  }
  return t;
}

function buildAggregatorFunctions(spec: Aggregator): AggregatorFunctions {
  switch (spec.type) {
    case 'count':
      return {
        spec,
        init: () => 0,
        update: (s: number) => s + 1,
        combine: (a: number, b: number) => a + b,
        finalize: (s: number) => s,
        toJSON: (s: number) => s,
        fromJSON: (j) => {
          if (typeof j !== 'number') throw new TypeError('invalid count state: expected a number');
          return j;
        },
      } as AggregatorFunctions<number> as AggregatorFunctions;
    case 'longSum':
      return numeric(spec, spec.fieldName, true, add) as AggregatorFunctions;
    case 'doubleSum':
      return numeric(spec, spec.fieldName, false, add) as AggregatorFunctions;
    case 'longMin':
      return numeric(spec, spec.fieldName, true, Math.min) as AggregatorFunctions;
    case 'doubleMin':
      return numeric(spec, spec.fieldName, false, Math.min) as AggregatorFunctions;
    case 'longMax':
      return numeric(spec, spec.fieldName, true, Math.max) as AggregatorFunctions;
    case 'doubleMax':
      return numeric(spec, spec.fieldName, false, Math.max) as AggregatorFunctions;
    case 'filtered': {
      const inner = aggregatorFunctions(spec.aggregator);
      const filter = compileFilter(spec.filter);
      return {
        ...inner,
        spec,
        update: (state, segment, row) => (filter((c) => segmentCell(segment, c, row)) === TRUE ? inner.update(state, segment, row) : state),
      };
    }
    case 'cardinality':
    case 'hyperUnique': {
      const fields = spec.type === 'cardinality' ? spec.fields : [spec.fieldName];
      const byRow = spec.type === 'cardinality' && spec.byRow && fields.length > 1;
      const round = spec.round;
      return {
        spec,
        init: hllNew,
        update(regs: Uint8Array, segment, row) {
          if (byRow) {
            const values = fields.map((f) => stringCell(segment, f, row));
            if (values.every((v) => v === null)) return regs;
            let h1 = 0;
            let h2 = 0;
            for (const v of values) {
              const [a, b] = valueHashes(v);
              h1 = combineHash(h1, a);
              h2 = combineHash(h2, b);
            }
            hllApply(regs, hllPack(h1, h2));
          } else {
            for (const f of fields) {
              const v = stringCell(segment, f, row);
              if (v !== null) hllApply(regs, hllPackString(v));
            }
          }
          return regs;
        },
        combine(a: Uint8Array, b: Uint8Array) {
          hllMergeInto(a, b);
          return a;
        },
        finalize: (regs: Uint8Array) => (round ? Math.round(hllEstimate(regs)) : hllEstimate(regs)),
        toJSON: hllToJSON,
        fromJSON: hllFromJSON,
      } as AggregatorFunctions<Uint8Array> as AggregatorFunctions;
    }
    case 'quantilesDoublesSketch': {
      const { k, fieldName } = spec;
      return {
        spec,
        init: () => new QuantileSketch(k),
        update(s: QuantileSketch, segment, row) {
          const v = segmentNumber(segment, fieldName, row);
          if (v !== null) s.update(v);
          return s;
        },
        combine(a: QuantileSketch, b: QuantileSketch) {
          a.merge(b);
          return a;
        },
        finalize: (s: QuantileSketch) => s.n,
        toJSON: (s: QuantileSketch) => s.toJSON() as unknown as JsonValue,
        fromJSON: (j) => QuantileSketch.fromJSON(j),
      } as AggregatorFunctions<QuantileSketch> as AggregatorFunctions;
    }
  }
}

/** A cell as the string a sketch hashes (numbers by their decimal text). */
function stringCell(segment: LoadedSegment, column: string, row: number): string | null {
  const v = segmentCell(segment, column, row);
  return v === null ? null : typeof v === 'string' ? v : String(v);
}

/** The aggregator after unwrapping `filtered` layers. */
export function innerAggregator(spec: Aggregator): Exclude<Aggregator, { type: 'filtered' }> {
  return spec.type === 'filtered' ? innerAggregator(spec.aggregator) : spec;
}
