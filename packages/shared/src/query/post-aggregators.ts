/**
 * Post-aggregators, computed on each result row after partial states are combined. `fieldAccess`
 * yields an aggregator's raw state (a sketch stays a sketch, for the sketch post-aggregators);
 * `finalizingFieldAccess` its finalized value. Arithmetic is floating point, with Druid's rules:
 * `/` by zero is 0, `quotient` is plain division, and any null operand makes the result null.
 * Where Druid would fail on arithmetic over a raw sketch, a sketch operand counts as its
 * finalized value.
 */
import type { JsonValue } from '../json.js';
import { hllEstimate } from './hll.js';
import { QuantileSketch } from './quantiles.js';
import type { PostAggregator } from './types.js';

/** A value on a result row while post-aggregators run: numbers, nulls, raw sketch states or quantile lists. */
export type RowValue = number | null | Uint8Array | QuantileSketch | number[];

/** What post-aggregators can read: raw states and finalized values by name. */
export interface PostAggregatorEnv {
  raw(name: string): RowValue;
  finalized(name: string): RowValue;
}

/** A row value as a number for arithmetic (sketches by their finalized value). */
export function rowNumber(v: RowValue): number | null {
  if (v === null || typeof v === 'number') return v;
  if (v instanceof Uint8Array) return hllEstimate(v);
  if (v instanceof QuantileSketch) return v.n;
  return null;
}

function arithmetic(fn: string, a: number, b: number): number {
  switch (fn) {
    case '+':
      return a + b;
    case '-':
      return a - b;
    case '*':
      return a * b;
    case '/':
      return b === 0 ? 0 : a / b;
    default:
      return a / b;
  }
}

/** Evaluates one post-aggregator against a row. */
export function evalPostAggregator(p: PostAggregator, env: PostAggregatorEnv): RowValue {
  switch (p.type) {
    case 'constant':
      return p.value;
    case 'fieldAccess':
      return env.raw(p.fieldName);
    case 'finalizingFieldAccess':
      return env.finalized(p.fieldName);
    case 'hyperUniqueCardinality':
      return rowNumber(env.raw(p.fieldName));
    case 'arithmetic': {
      let acc: number | null = null;
      for (let i = 0; i < p.fields.length; i++) {
        const v = rowNumber(evalPostAggregator(p.fields[i]!, env));
        if (v === null) return null;
        acc = i === 0 ? v : arithmetic(p.fn, acc!, v);
      }
      return acc;
    }
    case 'doubleGreatest':
    case 'longGreatest':
    case 'doubleLeast':
    case 'longLeast': {
      const greatest = p.type.endsWith('Greatest');
      let out: number | null = null;
      for (const f of p.fields) {
        let v = rowNumber(evalPostAggregator(f, env));
        if (v === null) continue;
        if (p.type.startsWith('long')) v = Math.trunc(v);
        if (out === null || (greatest ? v > out : v < out)) out = v;
      }
      return out;
    }
    case 'quantilesDoublesSketchToQuantile':
    case 'quantilesDoublesSketchToQuantiles': {
      const s = evalPostAggregator(p.field, env);
      const fractions = p.type === 'quantilesDoublesSketchToQuantile' ? [p.fraction] : p.fractions;
      const values = s instanceof QuantileSketch ? s.quantiles(fractions) : fractions.map(() => NaN);
      return p.type === 'quantilesDoublesSketchToQuantile' ? values[0]! : values;
    }
  }
}

/** A row value as it appears in a response: NaN and infinities (not JSON) become null. */
export function outputValue(v: RowValue, toJSON?: (state: unknown) => JsonValue): JsonValue {
  if (v === null) return null;
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (Array.isArray(v)) return v.map((x) => (Number.isFinite(x) ? x : null));
  return toJSON ? toJSON(v) : null;
}
