/**
 * What a filter means, one value at a time, in SQL three-valued logic (Druid's default since
 * 28.0): a leaf answers TRUE, FALSE or UNKNOWN (a comparison with null), `and`/`or`/`not` are
 * Kleene's, and a row is selected only when the whole filter is TRUE. So `not(d = 'a')` does
 * not select rows where `d` is null, exactly as `NOT (d = 'a')` in SQL.
 *
 * The engine evaluates these same leaf predicates once per dictionary entry; the having clause
 * and the tests evaluate them per row. One definition, so the two cannot disagree.
 */
import { likeToRegExp } from './like.js';
import { parseNumber, stringComparator } from './ordering.js';
import type { Filter } from './types.js';

export const FALSE = 0;
export const UNKNOWN = 1;
export const TRUE = 2;
/** Ordered so that AND is min, OR is max and NOT is `2 - x`. */
export type Truth = 0 | 1 | 2;

/** A cell as filters see it: a string (dimension), a number (metric or `__time`) or null. */
export type CellValue = string | number | null;

export type LeafFilter = Exclude<Filter, { type: 'and' | 'or' | 'not' | 'true' | 'false' }>;

/** The column a leaf filter reads. */
export function leafColumn(leaf: LeafFilter): string {
  return 'dimension' in leaf ? leaf.dimension : leaf.column;
}

function asNumber(v: string | number): number | null {
  return typeof v === 'number' ? v : parseNumber(v);
}

function asString(v: string | number): string {
  return typeof v === 'string' ? v : String(v);
}

/**
 * Compiles a leaf into a predicate over one cell (regexes, sets and parsed bounds built once).
 * @example compileLeaf({type: 'selector', dimension: 'd', value: 'a'})(null) === UNKNOWN
 */
export function compileLeaf(leaf: LeafFilter): (v: CellValue) => Truth {
  switch (leaf.type) {
    case 'selector': {
      const s = leaf.value;
      if (s === null) return (v) => (v === null ? TRUE : FALSE);
      const n = parseNumber(s);
      return (v) => (v === null ? UNKNOWN : typeof v === 'string' ? (v === s ? TRUE : FALSE) : n !== null && v === n ? TRUE : FALSE);
    }
    case 'in': {
      const strings = new Set<string>();
      const numbers = new Set<number>();
      let hasNull = false;
      for (const s of leaf.values) {
        if (s === null) {
          hasNull = true;
          continue;
        }
        strings.add(s);
        const n = parseNumber(s);
        if (n !== null) numbers.add(n);
      }
      return (v) => (v === null ? (hasNull ? TRUE : UNKNOWN) : (typeof v === 'string' ? strings.has(v) : numbers.has(v)) ? TRUE : FALSE);
    }
    case 'bound': {
      const cmp = stringComparator(leaf.ordering);
      const { lower, upper, lowerStrict, upperStrict } = leaf;
      return (v) => {
        if (v === null) return lower === null ? TRUE : UNKNOWN;
        const s = asString(v);
        if (lower !== null) {
          const c = cmp(s, lower);
          if (lowerStrict ? c <= 0 : c < 0) return FALSE;
        }
        if (upper !== null) {
          const c = cmp(s, upper);
          if (upperStrict ? c >= 0 : c > 0) return FALSE;
        }
        return TRUE;
      };
    }
    case 'equals': {
      if (leaf.matchValueType === 'STRING') {
        const s = asString(leaf.matchValue);
        return (v) => (v === null ? UNKNOWN : asString(v) === s ? TRUE : FALSE);
      }
      const n = asNumber(leaf.matchValue);
      return (v) => (v === null ? UNKNOWN : n !== null && asNumber(v) === n ? TRUE : FALSE);
    }
    case 'range': {
      const { lowerOpen, upperOpen } = leaf;
      if (leaf.matchValueType === 'STRING') {
        const lo = leaf.lower === null ? null : asString(leaf.lower);
        const hi = leaf.upper === null ? null : asString(leaf.upper);
        return (v) => {
          if (v === null) return UNKNOWN;
          const s = asString(v);
          if (lo !== null && (lowerOpen ? s <= lo : s < lo)) return FALSE;
          if (hi !== null && (upperOpen ? s >= hi : s > hi)) return FALSE;
          return TRUE;
        };
      }
      const lo = leaf.lower === null ? null : asNumber(leaf.lower);
      const hi = leaf.upper === null ? null : asNumber(leaf.upper);
      return (v) => {
        if (v === null) return UNKNOWN;
        const x = asNumber(v);
        if (x === null) return FALSE;
        if (lo !== null && (lowerOpen ? x <= lo : x < lo)) return FALSE;
        if (hi !== null && (upperOpen ? x >= hi : x > hi)) return FALSE;
        return TRUE;
      };
    }
    case 'null':
      return (v) => (v === null ? TRUE : FALSE);
    case 'regex': {
      const re = new RegExp(leaf.pattern);
      return (v) => (v === null ? UNKNOWN : re.test(asString(v)) ? TRUE : FALSE);
    }
    case 'like': {
      const re = likeToRegExp(leaf.pattern, leaf.escape);
      return (v) => (v === null ? UNKNOWN : re.test(asString(v)) ? TRUE : FALSE);
    }
    case 'search': {
      const q = leaf.query;
      const sensitive = q.type !== 'insensitive_contains' && q.caseSensitive;
      const needles = (q.type === 'fragment' ? q.values : [q.value]).map((s) => (sensitive ? s : s.toLowerCase()));
      return (v) => {
        if (v === null) return UNKNOWN;
        const s = sensitive ? asString(v) : asString(v).toLowerCase();
        return needles.every((n) => s.includes(n)) ? TRUE : FALSE;
      };
    }
    case 'interval': {
      const intervals = leaf.intervals;
      return (v) => {
        if (v === null) return UNKNOWN;
        const x = asNumber(v);
        if (x === null) return FALSE;
        for (const i of intervals) if (x >= i.start && x < i.end) return TRUE;
        return FALSE;
      };
    }
  }
}

/** Reads a column of the row being filtered. */
export type CellGetter = (column: string) => CellValue;

/**
 * Compiles a whole filter into a three-valued predicate over rows.
 * @example compileFilter({type: 'not', field: {type: 'null', column: 'd'}})(() => 'x') === TRUE
 */
export function compileFilter(filter: Filter): (get: CellGetter) => Truth {
  switch (filter.type) {
    case 'true':
      return () => TRUE;
    case 'false':
      return () => FALSE;
    case 'and': {
      const parts = filter.fields.map(compileFilter);
      return (get) => {
        let out: Truth = TRUE;
        for (const p of parts) {
          const t = p(get);
          if (t === FALSE) return FALSE;
          if (t < out) out = t;
        }
        return out;
      };
    }
    case 'or': {
      const parts = filter.fields.map(compileFilter);
      return (get) => {
        let out: Truth = FALSE;
        for (const p of parts) {
          const t = p(get);
          if (t === TRUE) return TRUE;
          if (t > out) out = t;
        }
        return out;
      };
    }
    case 'not': {
      const inner = compileFilter(filter.field);
      return (get) => (2 - inner(get)) as Truth;
    }
    default: {
      const column = leafColumn(filter);
      const leaf = compileLeaf(filter);
      return (get) => leaf(get(column));
    }
  }
}

/** The columns a filter reads. */
export function filterColumns(filter: Filter, out: Set<string> = new Set()): Set<string> {
  switch (filter.type) {
    case 'true':
    case 'false':
      break;
    case 'and':
    case 'or':
      for (const f of filter.fields) filterColumns(f, out);
      break;
    case 'not':
      filterColumns(filter.field, out);
      break;
    default:
      out.add(leafColumn(filter));
  }
  return out;
}
