/**
 * Druid's StringComparators, with null first as Druid orders nulls. Strings compare by UTF-16
 * code units (JavaScript's `<`), which agrees with Druid's UTF-8 byte order everywhere except
 * between characters above U+FFFF and those in U+E000-U+FFFF.
 */
import type { StringOrdering } from './types.js';

const NUMBER_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** A string as a number when the whole of it is a decimal number, else null ("1e3" yes, " 1", "" and "0x1" no). */
export function parseNumber(s: string): number | null {
  if (!NUMBER_RE.test(s)) return null;
  const n = Number(s);
  return Number.isFinite(n) ? n : null;
}

export function compareLexicographic(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Numbers in numeric order; strings that are not numbers sort before all numbers, among themselves lexicographically. */
export function compareNumericStrings(a: string, b: string): number {
  const x = parseNumber(a);
  const y = parseNumber(b);
  if (x !== null && y !== null) return x < y ? -1 : x > y ? 1 : 0;
  if (x !== null) return 1;
  if (y !== null) return -1;
  return compareLexicographic(a, b);
}

export function compareStrlen(a: string, b: string): number {
  return a.length - b.length || compareLexicographic(a, b);
}

const CHUNK_RE = /(\d+|\D+)/g;

/** Natural order: runs of digits compare as numbers, other runs as text ("a2" < "a10"). */
export function compareAlphanumeric(a: string, b: string): number {
  const xs = a.match(CHUNK_RE) ?? [];
  const ys = b.match(CHUNK_RE) ?? [];
  for (let i = 0; i < Math.min(xs.length, ys.length); i++) {
    const x = xs[i]!;
    const y = ys[i]!;
    const xd = x.charCodeAt(0) >= 48 && x.charCodeAt(0) <= 57;
    const yd = y.charCodeAt(0) >= 48 && y.charCodeAt(0) <= 57;
    let c: number;
    if (xd && yd) {
      const xt = x.replace(/^0+(?=\d)/, '');
      const yt = y.replace(/^0+(?=\d)/, '');
      c = xt.length - yt.length || compareLexicographic(xt, yt) || x.length - y.length;
    } else {
      c = compareLexicographic(x, y);
    }
    if (c !== 0) return c;
  }
  return xs.length - ys.length;
}

/** The comparator of an ordering, for non-null strings. */
export function stringComparator(ordering: StringOrdering): (a: string, b: string) => number {
  switch (ordering) {
    case 'lexicographic':
      return compareLexicographic;
    case 'numeric':
      return compareNumericStrings;
    case 'strlen':
      return compareStrlen;
    case 'alphanumeric':
      return compareAlphanumeric;
  }
}

/** Compares two nullable strings under an ordering, null first. */
export function compareNullableStrings(a: string | null, b: string | null, cmp: (a: string, b: string) => number): number {
  if (a === null) return b === null ? 0 : -1;
  if (b === null) return 1;
  return cmp(a, b);
}

/**
 * Compares two nullable numbers, null first (Druid's SQL-compatible metric ordering). NaN (0/0
 * from a `quotient`, output as null) orders as null, which keeps the comparator consistent.
 */
export function compareNullableNumbers(a: number | null, b: number | null): number {
  const an = a === null || a !== a;
  const bn = b === null || b !== b;
  if (an) return bn ? 0 : -1;
  if (bn) return 1;
  return a! < b! ? -1 : a! > b! ? 1 : 0;
}
