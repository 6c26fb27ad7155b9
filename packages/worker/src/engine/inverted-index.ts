/**
 * Per-segment inverted indexes of dictionary-encoded columns (Druid's bitmap indexes, as sorted
 * row lists): the rows of code c are `rows[offsets[c + 1] .. offsets[c + 2])`, ascending, with
 * slot 0 for null (the histogram's `[code + 1]` layout). A filter that matches few rows reads
 * its selection from them instead of testing every row's code.
 *
 * An index is built lazily, by one counting-sort pass over the codes (the column's histogram
 * gives the offsets), the first time a filter wants it, and kept with the codes array it was
 * built from. It costs as much as that array again (4 bytes a row, plus 4 a dictionary entry),
 * so the indexes held at once are bounded by `invertedIndexBytesMax`: past it the least recently
 * used are released (a released index is rebuilt on its next use), and an index that alone
 * would not fit is not built (the filter scans instead). Pure and synchronous, like the engine:
 * which index is released depends only on the order of calls.
 */
import { codeHistogram } from './columns.js';

/** Bytes of inverted indexes held at once (process-wide), at most. */
export const invertedIndexBytesMax = 256 << 20;

export interface InvertedIndex {
  /** `offsets[c + 1]`: the first position in `rows` of code c (slot 0: null); `offsets[card + 1]` is the row count. */
  readonly offsets: Int32Array;
  /** Row numbers grouped by code, ascending within each code. */
  readonly rows: Int32Array;
}

/** What an index of `rows` rows over `dictionarySize` entries costs. */
export function invertedIndexBytes(rows: number, dictionarySize: number): number {
  return 4 * (rows + dictionarySize + 2);
}

interface Held {
  index: InvertedIndex | null;
  readonly bytes: number;
}

/**
 * Indexes by codes array, so an index lives no longer than its segment's column. The LRU below
 * holds the same entries strongly, by the entry and not by the codes (a dropped segment's codes
 * are not kept alive by it), so releasing one frees its arrays even while the segment lives.
 */
const byCodes = new WeakMap<Int32Array, Held>();
const recent = new Set<Held>();
let heldBytes = 0;

/** Bytes of the inverted indexes held now (for tests and reports). */
export function invertedIndexBytesHeld(): number {
  return heldBytes;
}

/**
 * Releases the index of a codes array now, if it has one. Without this a dropped segment's
 * indexes keep their share of `invertedIndexBytesMax` until newer indexes push them out; a
 * segment store can call it for each dimension of a segment it drops.
 */
export function releaseInvertedIndex(codes: Int32Array): void {
  const h = byCodes.get(codes);
  if (h) release(h);
}

/** Releases every index (tests use it to start from a known state). */
export function releaseInvertedIndexes(): void {
  for (const h of recent) h.index = null;
  recent.clear();
  heldBytes = 0;
}

/**
 * The inverted index of a codes array (codes in [-1, dictionarySize)), built on first use, or
 * null when it cannot fit within `invertedIndexBytesMax` (`bytesMax` in tests).
 */
export function invertedIndex(codes: Int32Array, dictionarySize: number, bytesMax = invertedIndexBytesMax): InvertedIndex | null {
  const had = byCodes.get(codes);
  if (had && had.index && had.index.offsets.length === dictionarySize + 2) {
    // Most recently used last.
    recent.delete(had);
    recent.add(had);
    return had.index;
  }
  const bytes = invertedIndexBytes(codes.length, dictionarySize);
  if (bytes > bytesMax) return null;
  if (had) release(had);
  for (const old of recent) {
    if (heldBytes + bytes <= bytesMax) break;
    release(old);
  }
  const held: Held = { index: buildInvertedIndex(codes, dictionarySize), bytes };
  byCodes.set(codes, held);
  recent.add(held);
  heldBytes += bytes;
  return held.index;
}

function release(h: Held): void {
  if (!recent.delete(h)) return;
  h.index = null;
  heldBytes -= h.bytes;
}

/** One counting-sort pass: offsets from the column's histogram, then every row placed at its code's cursor. */
export function buildInvertedIndex(codes: Int32Array, dictionarySize: number): InvertedIndex {
  const h = codeHistogram(codes, dictionarySize);
  const offsets = new Int32Array(dictionarySize + 2);
  for (let c = 0; c <= dictionarySize; c++) offsets[c + 1] = offsets[c]! + h[c]!;
  const cursor = offsets.slice(0, dictionarySize + 1);
  const rows = new Int32Array(codes.length);
  for (let i = 0; i < codes.length; i++) rows[cursor[codes[i]! + 1]!++] = i;
  return { offsets, rows };
}

/** The first position in `rows[from, to)` whose row is >= x (`to` if none). */
export function lowerBoundRows(rows: Int32Array, x: number, from: number, to: number): number {
  let lo = from;
  let hi = to;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (rows[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
