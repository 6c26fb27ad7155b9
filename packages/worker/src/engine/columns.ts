/**
 * Column access for one query over one segment: dimension codes (a missing column reads as all
 * null), numeric values (metrics, `__time`, or a dimension's values parsed as numbers), each
 * materialized at most once per query.
 */
import { parseNumber, TIME_COLUMN, type LoadedSegment } from '@cairn/shared';

export interface CodeColumn {
  codes: Int32Array;
  dictionary: readonly string[];
}

export interface NumberColumn {
  /** NaN is null. */
  values: Float64Array;
  nullable: boolean;
}

export class Columns {
  private readonly codeCache = new Map<string, CodeColumn>();
  private readonly numberCache = new Map<string, NumberColumn | null>();

  constructor(readonly segment: LoadedSegment) {}

  isDimension(name: string): boolean {
    return this.segment.dimensions.has(name);
  }

  /** Whether the column holds numbers (a metric or `__time`). */
  isNumeric(name: string): boolean {
    return name === TIME_COLUMN || this.segment.metrics.has(name);
  }

  /** Dictionary codes of a string column; a column the segment lacks is all null. */
  codes(name: string): CodeColumn {
    let c = this.codeCache.get(name);
    if (c) return c;
    const dim = this.segment.dimensions.get(name);
    c = dim ? { codes: dim.codes, dictionary: dim.dictionary } : { codes: new Int32Array(this.segment.rowCount).fill(-1), dictionary: [] };
    this.codeCache.set(name, c);
    return c;
  }

  /**
   * A column as numbers, truncated toward zero when `asLong` (Druid's long aggregators over a
   * double column), or null when the segment lacks it (all null).
   */
  numbers(name: string, asLong = false): NumberColumn | null {
    const key = `${asLong ? 'L' : 'D'}${name}`;
    if (this.numberCache.has(key)) return this.numberCache.get(key)!;
    let out: NumberColumn | null = null;
    if (name === TIME_COLUMN) {
      out = { values: this.segment.time, nullable: false };
    } else {
      const metric = this.segment.metrics.get(name);
      const dim = this.segment.dimensions.get(name);
      if (metric) {
        out = { values: metric.values, nullable: metric.hasNulls };
        if (asLong && metric.type === 'double') out = { values: truncated(metric.values), nullable: metric.hasNulls };
      } else if (dim) {
        const parsed = new Float64Array(dim.dictionary.length + 1);
        parsed[0] = NaN;
        dim.dictionary.forEach((s, i) => {
          const v = parseNumber(s);
          parsed[i + 1] = v === null ? NaN : asLong ? Math.trunc(v) : v;
        });
        const values = new Float64Array(this.segment.rowCount);
        const codes = dim.codes;
        for (let i = 0; i < values.length; i++) values[i] = parsed[codes[i]! + 1]!;
        out = { values, nullable: true };
      }
    }
    this.numberCache.set(key, out);
    return out;
  }
}

/**
 * A double column truncated toward zero (Druid's long aggregators over it), made once per column
 * and kept while the segment lives, like the narrow copies below: the same array each query, so
 * that `narrowValues` finds its copy too.
 */
const truncatedCache = new WeakMap<Float64Array, Float64Array>();
function truncated(values: Float64Array): Float64Array {
  let t = truncatedCache.get(values);
  if (!t) truncatedCache.set(values, (t = values.map(Math.trunc)));
  return t;
}

/** The first index whose value is >= x in a sorted array (`arr.length` if none). */
export function lowerBound(arr: Float64Array, x: number, lo = 0, hi = arr.length): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Rows per code of a dictionary-encoded column (`[code + 1]`, slot 0 for null), computed once per
 * codes array and kept while the segment lives. Filters use it to predict how many rows a code
 * table selects; a one-dimension grouping over a whole segment without a filter takes its row
 * counts from it instead of counting per row.
 */
const histograms = new WeakMap<Int32Array, Float64Array>();
export function codeHistogram(codes: Int32Array, dictionarySize: number): Float64Array {
  const h = histograms.get(codes);
  return h && h.length === dictionarySize + 1 ? h : countCodes(codes, dictionarySize);
}

/**
 * The counting half of `codeHistogram`, in a function of its own: once the lookup was optimized,
 * each first sight of a codes array deoptimized it for want of feedback on this rarely run part
 * (362 deoptimizations in one run of the bench's shapes).
 */
function countCodes(codes: Int32Array, dictionarySize: number): Float64Array {
  const h = new Float64Array(dictionarySize + 1);
  // Registered before the loop: V8 compiles the loop on stack (OSR) on the first call, and code
  // compiled before `set` had ever run deoptimized there on every call (once per segment).
  histograms.set(codes, h);
  const n = codes.length;
  for (let i = 0; i < n; i++) h[codes[i]! + 1]!++;
  return h;
}

/**
 * Narrow copies of columns for the one-dimension local loop, made on a column's first use there
 * and kept while the segment lives (about 16 KB per 16k-row column; the store's decoded-size
 * estimate, three times the file, counts them). That loop reads a code and a value per row
 * and does little else, so the bytes it streams bound it: over the flights segments it moved
 * about 6.8 GB/s with 4-byte codes and 8-byte values, and ran 25-35% faster with one- or
 * two-byte codes and two-byte values (1.54 -> 1.04-1.14 ns a row in a separate test).
 */
export type NarrowCodes = Uint8Array | Uint16Array;
export type NarrowValues = Int16Array | Int32Array | Float64Array;

const narrowCodeCache = new WeakMap<Int32Array, NarrowCodes>();
const narrowValueCache = new WeakMap<Float64Array, NarrowValues>();

/** The array type of a column as the generated loops' shapes name it. */
export function codeTypeOf(c: Int32Array | NarrowCodes): 'i32' | 'u8' | 'u16' {
  return c instanceof Uint8Array ? 'u8' : c instanceof Uint16Array ? 'u16' : 'i32';
}
export function valueTypeOf(v: NarrowValues): 'f64' | 'i16' | 'i32' {
  return v instanceof Int16Array ? 'i16' : v instanceof Int32Array ? 'i32' : 'f64';
}

/** Codes shifted by one (null is 0) in one byte when the dictionary has at most 255 values, else two; null past 65,535 values. */
export function narrowCodes(codes: Int32Array, dictionarySize: number): NarrowCodes | null {
  if (dictionarySize > 0xffff) return null;
  const hit = narrowCodeCache.get(codes);
  if (hit) return hit;
  const out = dictionarySize <= 0xff ? new Uint8Array(codes.length) : new Uint16Array(codes.length);
  fillShifted(codes, out);
  narrowCodeCache.set(codes, out);
  return out;
}

function fillShifted(codes: Int32Array, out: NarrowCodes): void {
  for (let i = 0; i < codes.length; i++) out[i] = codes[i]! + 1;
}

/** The values as 16- or 32-bit integers when every one is an integer in range (a long column, most often), else the array itself. */
export function narrowValues(values: Float64Array): NarrowValues {
  const hit = narrowValueCache.get(values);
  if (hit) return hit;
  const out = narrowed(values);
  narrowValueCache.set(values, out);
  return out;
}

function narrowed(values: Float64Array): NarrowValues {
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    // NaN (null) and fractions fail the first test; -0 would come back as 0 (same sums, not the same min).
    if (Math.trunc(v) !== v || (v === 0 && 1 / v < 0)) return values;
    if (v < lo) lo = v;
    else if (v > hi) hi = v;
  }
  if (lo >= -0x8000 && hi <= 0x7fff) return new Int16Array(values);
  if (lo >= -0x80000000 && hi <= 0x7fffffff) return new Int32Array(values);
  return values;
}
