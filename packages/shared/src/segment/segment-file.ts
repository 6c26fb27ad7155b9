import { createHash } from 'node:crypto';
import {
  Dictionary, Field, Float64, Int32, Int64, makeData, makeVector, RecordBatch, Schema, Struct, Table, tableFromIPC,
  tableToIPC, TimestampMillisecond, Utf8, vectorFromArray,
} from 'apache-arrow';
import type { Data, DataType } from 'apache-arrow';
import { segmentId } from '../catalog-types.js';
import { SEGMENT_FORMAT_VERSION, TIME_COLUMN } from './types.js';
import type { ColumnStats, DimensionColumn, LoadedSegment, MetricColumn, MetricSpec, MetricType, SegmentMeta } from './types.js';

/**
 * The segment file: one Arrow IPC file (with footer) holding `__time` (timestamp, ms, sorted),
 * the dimensions dictionary-encoded with sorted dictionaries (so code order is value order and a
 * range filter is a code range), and the metrics as int64 or float64. The schema's metadata key
 * `cairn.segment` holds the segment's own description (datasource, interval, version, partition,
 * rows, time bounds, per-column statistics, the schema) and `cairn.format` its format version.
 */
export const META_KEY = 'cairn.segment';
export const FORMAT_KEY = 'cairn.format';
/** 2^63: long metrics must lie in [-2^63, 2^63), the range of the int64 column they are written to. */
const LONG_LIMIT = 2 ** 63;
/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A segment to write, column by column; rows already sorted by time (and rolled up if asked). */
export interface SegmentColumns {
  readonly dataSource: string;
  readonly start: number;
  readonly end: number;
  readonly version: string;
  readonly partition: number;
  readonly partitions: number;
  readonly rollup: boolean;
  readonly queryGranularity: string;
  readonly time: Float64Array;
  /** Per dimension: codes into a sorted dictionary (-1 for null). */
  readonly dimensions: readonly DimensionColumn[];
  readonly metrics: readonly (MetricColumn & { readonly spec: MetricSpec })[];
}

export interface WrittenSegment {
  readonly id: string;
  readonly bytes: Uint8Array;
  /** SHA-256 of the bytes, hex: recorded in the catalog, verified by every reader. */
  readonly checksum: string;
  readonly meta: SegmentMeta;
}

export class SegmentFormatError extends Error {
  override name = 'SegmentFormatError';
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Writes a segment file. */
export function writeSegment(s: SegmentColumns): WrittenSegment {
  const n = s.time.length;
  for (let i = 1; i < n; i++) if (s.time[i]! < s.time[i - 1]!) throw new SegmentFormatError(`__time is not sorted at row ${i}`);
  const fields: Field[] = [];
  const children: Data[] = [];
  const stats: ColumnStats[] = [];

  const times = new BigInt64Array(n);
  for (let i = 0; i < n; i++) times[i] = BigInt(s.time[i]!);
  const timeType = new TimestampMillisecond();
  fields.push(new Field(TIME_COLUMN, timeType, false));
  children.push(makeData({ type: timeType, length: n, data: times }));
  stats.push({ name: TIME_COLUMN, role: 'time', type: 'long', nullCount: 0, min: n > 0 ? s.time[0]! : null, max: n > 0 ? s.time[n - 1]! : null });

  for (const d of s.dimensions) {
    if (d.codes.length !== n) throw new SegmentFormatError(`dimension ${d.name} has ${d.codes.length} rows, not ${n}`);
    for (let i = 1; i < d.dictionary.length; i++) {
      if (!(d.dictionary[i - 1]! < d.dictionary[i]!)) throw new SegmentFormatError(`dictionary of ${d.name} is not sorted and unique at ${i}`);
    }
    // UTF-8 has no lone surrogate: one would be written as U+FFFD, and two such values would read
    // back equal, leaving the dictionary neither unique nor sorted.
    for (let i = 0; i < d.dictionary.length; i++) {
      if (LONE_SURROGATE.test(d.dictionary[i]!)) throw new SegmentFormatError(`dictionary of ${d.name}: value ${i} holds a lone UTF-16 surrogate, which UTF-8 cannot carry`);
    }
    const type = new Dictionary(new Utf8(), new Int32(), fields.length, false);
    let nulls = 0;
    const codes = new Int32Array(n);
    const validity = new Uint8Array(Math.ceil(n / 8));
    for (let i = 0; i < n; i++) {
      const c = d.codes[i]!;
      if (c < 0) nulls++;
      else if (c >= d.dictionary.length) throw new SegmentFormatError(`dimension ${d.name}: row ${i} has code ${c}, past its ${d.dictionary.length} dictionary values`);
      else {
        codes[i] = c;
        validity[i >> 3]! |= 1 << (i & 7);
      }
    }
    fields.push(new Field(d.name, type, true));
    children.push(makeData({
      type, length: n, nullCount: nulls, data: codes, dictionary: vectorFromArray([...d.dictionary], new Utf8()),
      ...(nulls > 0 ? { nullBitmap: validity } : {}),
    }));
    stats.push({
      name: d.name, role: 'dimension', type: 'string', nullCount: nulls, cardinality: d.dictionary.length,
      min: d.dictionary[0] ?? null, max: d.dictionary[d.dictionary.length - 1] ?? null,
    });
  }

  for (const m of s.metrics) {
    if (m.values.length !== n) throw new SegmentFormatError(`metric ${m.name} has ${m.values.length} rows, not ${n}`);
    let nulls = 0;
    let min = Infinity;
    let max = -Infinity;
    const validity = new Uint8Array(Math.ceil(n / 8));
    for (let i = 0; i < n; i++) {
      const v = m.values[i]!;
      if (Number.isNaN(v)) nulls++;
      else {
        validity[i >> 3]! |= 1 << (i & 7);
        if (v < min) min = v;
        if (v > max) max = v;
      }
    }
    let type: DataType;
    let data: BigInt64Array | Float64Array;
    if (m.type === 'long') {
      type = new Int64();
      const longs = new BigInt64Array(n);
      for (let i = 0; i < n; i++) {
        const v = m.values[i]!;
        if (Number.isNaN(v)) continue;
        // Past the int64 range a value would wrap (2^63 became -2^63) or not convert (Infinity).
        if (!(v >= -LONG_LIMIT && v < LONG_LIMIT)) throw new SegmentFormatError(`long metric ${m.name}: row ${i} holds ${v}, outside the 64-bit range`);
        longs[i] = BigInt(Math.trunc(v));
      }
      data = longs;
    } else {
      type = new Float64();
      data = m.values;
    }
    fields.push(new Field(m.name, type, true));
    children.push(makeData({ type, length: n, nullCount: nulls, data, ...(nulls > 0 ? { nullBitmap: validity } : {}) } as Parameters<typeof makeData>[0]));
    stats.push({ name: m.name, role: 'metric', type: m.type, nullCount: nulls, min: nulls === n ? null : min, max: nulls === n ? null : max });
  }

  const meta: SegmentMeta = {
    formatVersion: SEGMENT_FORMAT_VERSION,
    dataSource: s.dataSource,
    start: s.start,
    end: s.end,
    version: s.version,
    partition: s.partition,
    partitions: s.partitions,
    rowCount: n,
    minTime: n > 0 ? s.time[0]! : 0,
    maxTime: n > 0 ? s.time[n - 1]! : 0,
    rollup: s.rollup,
    queryGranularity: s.queryGranularity,
    dimensions: s.dimensions.map((d) => d.name),
    metrics: s.metrics.map((m) => m.spec),
    columns: stats,
  };
  const schema = new Schema(fields, new Map([[META_KEY, JSON.stringify(meta)], [FORMAT_KEY, String(SEGMENT_FORMAT_VERSION)]]));
  const struct = makeData({ type: new Struct(fields), length: n, nullCount: 0, children });
  const table = new Table(schema, [new RecordBatch(schema, struct)]);
  const bytes = tableToIPC(table, 'file');
  return { id: segmentId(s), bytes, checksum: sha256Hex(bytes), meta };
}

/** Reads only the self-description of a segment file (cheap; no column is decoded). */
export function readSegmentMeta(bytes: Uint8Array): SegmentMeta {
  return parseMeta(tableFromIPC(bytes).schema.metadata);
}

/**
 * Decodes a segment file into typed arrays. With `expectedChecksum`, a file whose SHA-256 differs
 * (corrupt, truncated, or another segment's) is refused before anything is decoded.
 */
export function readSegment(bytes: Uint8Array, expectedChecksum?: string): LoadedSegment {
  if (expectedChecksum !== undefined) {
    const actual = sha256Hex(bytes);
    if (actual !== expectedChecksum.toLowerCase()) {
      throw new SegmentFormatError(`checksum mismatch: expected ${expectedChecksum}, the file has ${actual}`);
    }
  }
  let table: Table;
  try {
    table = tableFromIPC(bytes);
  } catch (err) {
    throw new SegmentFormatError(`not an Arrow IPC segment file: ${(err as Error).message}`);
  }
  const meta = parseMeta(table.schema.metadata);
  const n = table.numRows;
  if (n !== meta.rowCount) throw new SegmentFormatError(`the file has ${n} rows, its metadata says ${meta.rowCount}`);

  const timeCol = table.getChild(TIME_COLUMN);
  if (!timeCol) throw new SegmentFormatError(`no ${TIME_COLUMN} column`);
  const time = numbersOf(timeCol.data, n, true);

  const dimensions = new Map<string, DimensionColumn>();
  for (const name of meta.dimensions) {
    const col = table.getChild(name);
    if (!col) throw new SegmentFormatError(`dimension ${name} is missing`);
    if (col.data.length !== 1) throw new SegmentFormatError(`dimension ${name} has ${col.data.length} dictionary batches; one is expected`);
    const chunk = col.data[0]!;
    const src = chunk.values as Int32Array;
    const hasNulls = chunk.nullCount > 0;
    const validity = chunk.nullBitmap;
    let codes: Int32Array;
    if (!hasNulls && src instanceof Int32Array && src.length === n) {
      // The file's own codes (a view of its bytes): nothing to copy, and segments are immutable.
      codes = src;
    } else {
      codes = new Int32Array(n);
      for (let i = 0; i < n; i++) codes[i] = hasNulls && validity && ((validity[i >> 3]! >> (i & 7)) & 1) === 0 ? -1 : src[i]!;
    }
    dimensions.set(name, fileDimension(name, codes, hasNulls, dictionaryChunks(name, chunk)));
  }

  const metrics = new Map<string, MetricColumn>();
  for (const spec of meta.metrics) {
    const col = table.getChild(spec.name);
    if (!col) throw new SegmentFormatError(`metric ${spec.name} is missing`);
    const stat = meta.columns.find((c) => c.name === spec.name);
    const type: MetricType = stat?.type === 'long' ? 'long' : 'double';
    let hasNulls = false;
    for (const chunk of col.data) if (chunk.nullCount > 0) hasNulls = true;
    metrics.set(spec.name, { name: spec.name, type, values: numbersOf(col.data, n, false), hasNulls });
  }
  return { id: segmentId(meta), meta, rowCount: n, time, dimensions, metrics };
}

/**
 * A numeric column as doubles, null rows as NaN. A float64 column without nulls in one batch is
 * the file's own array (a view, no copy). int64 values are read as two 32-bit halves rather than
 * through BigInt: a BigInt per row made decoding a 118k-row segment cost ~9 ms plus its garbage.
 * hi * 2^32 is exact and adding lo rounds once, so the result is Number(bigint) exactly (exact
 * below 2^53, rounded to nearest beyond, as before).
 */
function numbersOf(chunks: readonly Data<DataType>[], n: number, required: boolean): Float64Array {
  const only = chunks.length === 1 ? chunks[0]! : null;
  if (only && only.nullCount === 0 && only.values instanceof Float64Array && only.values.length === n) return only.values;
  const out = new Float64Array(n);
  let at = 0;
  for (const chunk of chunks) {
    const src = chunk.values as BigInt64Array | Float64Array;
    const validity = chunk.nullCount > 0 ? chunk.nullBitmap : null;
    if (required && validity) throw new SegmentFormatError(`${TIME_COLUMN} has null rows`);
    if (src instanceof BigInt64Array) {
      const halves = new Int32Array(src.buffer, src.byteOffset, src.length * 2);
      for (let i = 0; i < chunk.length; i++, at++) out[at] = halves[2 * i + 1]! * 4294967296 + (halves[2 * i]! >>> 0);
    } else {
      out.set(src.subarray(0, chunk.length), at);
      at += chunk.length;
    }
    if (validity) for (let i = 0, base = at - chunk.length; i < chunk.length; i++) if (((validity[i >> 3]! >> (i & 7)) & 1) === 0) out[base + i] = NaN;
  }
  return out;
}

/**
 * A dimension read from a file, its dictionary decoded on first use: a query touches a few of a
 * segment's columns, and the strings of an unused high-cardinality one (70,000 user ids in a
 * 118k-row segment) cost ~3 ms and their garbage at every decode for nothing. The file was
 * checked (checksum, dictionary type) when it was read; a dictionary whose bytes are not UTF-8
 * would only fail here, at its first query, as a SegmentFormatError. `dictionary` is an own,
 * enumerable accessor, so that a copy made by spreading the column (`{ ...d }`) still has it.
 */
function fileDimension(name: string, codes: Int32Array, hasNulls: boolean, chunks: readonly Data<DataType>[]): DimensionColumn {
  let strings: string[] | null = null;
  let pending = chunks;
  const d = { name, codes, hasNulls } as DimensionColumn;
  Object.defineProperty(d, 'dictionary', {
    enumerable: true,
    get(): readonly string[] {
      if (strings === null) {
        strings = utf8Strings(name, pending);
        pending = [];
      }
      return strings;
    },
  });
  return d;
}

/** The dictionary batches of a dimension, checked to be UTF-8 strings with offsets before anything is decoded from them. */
function dictionaryChunks(name: string, chunk: Data<DataType>): readonly Data<DataType>[] {
  const chunks = chunk.dictionary?.data ?? [];
  for (const c of chunks) {
    if (c.length === 0) continue;
    if (!(c.valueOffsets instanceof Int32Array) || !(c.values instanceof Uint8Array) || c.valueOffsets.length < c.length + 1) {
      throw new SegmentFormatError(`dictionary of ${name} is not a UTF-8 string column`);
    }
  }
  return chunks;
}

// ignoreBOM: a value that starts with U+FEFF keeps it (stripping it would unsort the dictionary).
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The strings of a Utf8 vector, read from its offsets and bytes: Arrow's `toArray()` went
 * through a per-element getter and cost ~17 ms for a 70,000-value dictionary. An all-ASCII
 * dictionary (the common case: ids, codes, names) is decoded in one call and cut into
 * substrings; otherwise each value is decoded on its own.
 */
function utf8Strings(column: string, chunks: readonly Data<DataType>[]): string[] {
  const out: string[] = [];
  for (const chunk of chunks) {
    if (chunk.length === 0) continue;
    const offsets = chunk.valueOffsets as Int32Array;
    const bytes = chunk.values as Uint8Array;
    const first = offsets[0]!;
    const last = offsets[chunk.length]!;
    let ascii = true;
    for (let i = first; i < last; i++) {
      if (bytes[i]! > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      const all = utf8.decode(bytes.subarray(first, last));
      for (let i = 0; i < chunk.length; i++) out.push(all.slice(offsets[i]! - first, offsets[i + 1]! - first));
    } else {
      try {
        for (let i = 0; i < chunk.length; i++) out.push(utf8.decode(bytes.subarray(offsets[i]!, offsets[i + 1]!)));
      } catch {
        throw new SegmentFormatError(`dictionary of ${column} holds bytes that are not UTF-8`);
      }
    }
  }
  return out;
}

function parseMeta(metadata: Map<string, string>): SegmentMeta {
  const version = Number(metadata.get(FORMAT_KEY));
  if (!Number.isInteger(version) || version < 1) throw new SegmentFormatError('not a Cairn segment: no format version in the file');
  if (version > SEGMENT_FORMAT_VERSION) {
    throw new SegmentFormatError(`segment format ${version} is newer than this build reads (up to ${SEGMENT_FORMAT_VERSION}); upgrade the reader`);
  }
  const text = metadata.get(META_KEY);
  if (!text) throw new SegmentFormatError('not a Cairn segment: no segment metadata');
  let meta: unknown;
  try {
    meta = JSON.parse(text);
  } catch (err) {
    throw new SegmentFormatError(`the segment metadata is not JSON: ${(err as Error).message}`);
  }
  // The fields the reader walks; the rest is checked where it is used.
  const m = meta as Partial<SegmentMeta> | null;
  if (typeof m !== 'object' || m === null || !Array.isArray(m.columns)) throw new SegmentFormatError('the segment metadata has no column list');
  return m as SegmentMeta;
}
