import t from 'tap';
import { readFileSync } from 'node:fs';
import { encodeDimension } from './dimension-encoding.js';
import { RecordBatch, Schema, Table, tableFromIPC, tableToIPC } from 'apache-arrow';
import { FORMAT_KEY, readSegment, readSegmentMeta, SegmentFormatError, sha256Hex, writeSegment } from './segment-file.js';
import type { SegmentColumns } from './segment-file.js';

const DAY = 86_400_000;

function sample(): SegmentColumns {
  return {
    dataSource: 'events',
    start: 0,
    end: DAY,
    version: '2024-01-01T00:00:00.000Z',
    partition: 1,
    partitions: 2,
    rollup: true,
    queryGranularity: 'hour',
    time: new Float64Array([0, 3_600_000, 3_600_000, 7_200_000]),
    dimensions: [encodeDimension('country', ['fr', null, 'de', 'fr']), encodeDimension('device', ['phone', 'tv', 'phone', 'phone'])],
    metrics: [
      { name: 'count', type: 'long', values: new Float64Array([1, 2, 1, 5]), hasNulls: false, spec: { name: 'count', type: 'count' } },
      { name: 'value', type: 'double', values: new Float64Array([0.5, NaN, 2.25, -1]), hasNulls: true, spec: { name: 'value', type: 'doubleSum', fieldName: 'value' } },
    ],
  };
}

t.test('a segment round-trips through its Arrow IPC file', async (t) => {
  const w = writeSegment(sample());
  t.equal(w.id, 'events_1970-01-01T00:00:00.000Z_1970-01-02T00:00:00.000Z_2024-01-01T00:00:00.000Z_1');
  t.equal(w.checksum, sha256Hex(w.bytes));
  const s = readSegment(w.bytes, w.checksum);
  t.equal(s.rowCount, 4);
  t.same([...s.time], [0, 3_600_000, 3_600_000, 7_200_000]);
  const country = s.dimensions.get('country')!;
  t.same(country.dictionary, ['de', 'fr'], 'sorted dictionary');
  t.same([...country.codes], [1, -1, 0, 1], 'null is -1');
  t.equal(country.hasNulls, true);
  t.same([...s.metrics.get('count')!.values], [1, 2, 1, 5]);
  const value = s.metrics.get('value')!;
  t.ok(Number.isNaN(value.values[1]!), 'a null metric reads as NaN');
  t.equal(value.values[2], 2.25);
  t.same(s.meta.columns.find((c) => c.name === 'value'), { name: 'value', role: 'metric', type: 'double', nullCount: 1, min: -1, max: 2.25 });
  t.same(readSegmentMeta(w.bytes), s.meta, 'the metadata alone, without decoding columns');
  t.equal(s.meta.minTime, 0);
  t.equal(s.meta.maxTime, 7_200_000);
});

t.test('a corrupt, truncated or foreign file is refused', async (t) => {
  const w = writeSegment(sample());
  const flipped = w.bytes.slice();
  flipped[flipped.length >> 1] ^= 0xff;
  t.throws(() => readSegment(flipped, w.checksum), SegmentFormatError, 'one flipped byte');
  t.throws(() => readSegment(w.bytes.subarray(0, w.bytes.length - 10), w.checksum), /checksum mismatch/, 'truncated');
  t.throws(() => readSegment(w.bytes.subarray(0, 100)), SegmentFormatError, 'truncated, without a checksum to compare');
  t.throws(() => writeSegment({ ...sample(), time: new Float64Array([5, 1, 2, 3]) }), /not sorted/);
});

t.test('format versions: the stored version-1 file still reads; a newer one is refused clearly', async (t) => {
  // Written by the first release of the format and kept as is: readers must always accept it.
  const v1 = new Uint8Array(readFileSync(new URL('./fixtures/format-v1.arrow', import.meta.url)));
  const s = readSegment(v1, readFileSync(new URL('./fixtures/format-v1.sha256', import.meta.url), 'utf8').trim());
  t.equal(s.meta.formatVersion, 1);
  t.equal(s.rowCount, 4);
  t.same(s.dimensions.get('country')!.dictionary, ['de', 'fr']);
  // A file from a future format: same content, a higher version number in its metadata.
  const table = tableFromIPC(v1);
  const future = new Map(table.schema.metadata);
  future.set(FORMAT_KEY, '99');
  const schema = new Schema(table.schema.fields, future);
  const bytes = tableToIPC(new Table(schema, table.batches.map((b) => new RecordBatch(schema, b.data))), 'file');
  t.throws(() => readSegment(bytes), /segment format 99 is newer than this build reads \(up to 1\)/);
});

t.test('decoding: int64 values exactly as Number(BigInt) would read them, any dictionary text, dictionaries on first use', async (t) => {
  const longs = [0, -1, 1, 2 ** 31, -(2 ** 31) - 1, 2 ** 32 + 7, -(2 ** 40) + 3, 2 ** 53 - 1, -(2 ** 53) + 1, 4_294_967_295, -4_294_967_296];
  const n = longs.length;
  const time = Float64Array.from(longs.map((_, i) => 1_000 + i));
  const texts = ['', 'café', 'plain', 'Zürich', '日本', '😀 emoji'];
  const s = {
    ...sample(),
    time,
    dimensions: [encodeDimension('city', Array.from({ length: n }, (_, i) => (i % 7 === 6 ? null : texts[i % texts.length]!))), encodeDimension('ascii', Array.from({ length: n }, (_, i) => `k${i % 3}`))],
    metrics: [
      { name: 'big', type: 'long' as const, values: Float64Array.from(longs), hasNulls: false, spec: { name: 'big', type: 'longSum' as const, fieldName: 'big' } },
      { name: 'gaps', type: 'long' as const, values: Float64Array.from(longs, (v, i) => (i % 3 === 0 ? NaN : v)), hasNulls: true, spec: { name: 'gaps', type: 'longSum' as const, fieldName: 'gaps' } },
    ],
  };
  const w = writeSegment(s);
  const r = readSegment(w.bytes, w.checksum);
  t.same([...r.time], [...time]);
  t.same([...r.metrics.get('big')!.values], longs, 'negative, past 2^32 and up to 2^53: exact');
  const gaps = [...r.metrics.get('gaps')!.values];
  t.same(gaps.map((v) => (Number.isNaN(v) ? null : v)), longs.map((v, i) => (i % 3 === 0 ? null : v)), 'null rows read as NaN');
  t.equal(r.metrics.get('gaps')!.hasNulls, true);
  // The same numbers Arrow's own BigInt reading gives.
  const table = tableFromIPC(w.bytes);
  t.same([...r.metrics.get('big')!.values], [...(table.getChild('big')!.data[0]!.values as BigInt64Array)].map(Number));
  const city = r.dimensions.get('city')!;
  const dict = city.dictionary;
  t.equal(city.dictionary, dict, 'decoded once, then the same array');
  t.same(dict, [...new Set(texts)].sort(), 'UTF-8 beyond ASCII, and the empty string');
  t.same([...city.codes].map((c) => (c < 0 ? null : dict[c])), Array.from({ length: n }, (_, i) => (i % 7 === 6 ? null : texts[i % texts.length])));
  t.same(r.dimensions.get('ascii')!.dictionary, ['k0', 'k1', 'k2']);
});

t.test('decoding: float64 columns and codes without nulls are the file own arrays; int64 beyond 2^53 rounds as Number(BigInt); U+FEFF kept; bad dictionaries refused', async (t) => {
  const big = [2 ** 60 + 2 ** 10 + 1, -(2 ** 62) - 3, 2 ** 53 + 1, -(2 ** 53) - 1, 9_007_199_254_740_993, 0];
  const n = big.length; // even: the int32 codes need no padding, so they can be a view
  const s = {
    ...sample(),
    time: Float64Array.from(big.map((_, i) => i)),
    dimensions: [encodeDimension('k', ['\uFEFFa', 'b', '\uFEFFa', 'c', 'b', 'c'])],
    metrics: [
      { name: 'huge', type: 'long' as const, values: Float64Array.from(big), hasNulls: false, spec: { name: 'huge', type: 'longSum' as const, fieldName: 'huge' } },
      { name: 'd', type: 'double' as const, values: Float64Array.from(big, (_, i) => i / 4), hasNulls: false, spec: { name: 'd', type: 'doubleSum' as const, fieldName: 'd' } },
    ],
  };
  const w = writeSegment(s);
  const r = readSegment(w.bytes, w.checksum);
  const table = tableFromIPC(w.bytes);
  const arrowHuge = [...(table.getChild('huge')!.data[0]!.values as BigInt64Array)];
  t.same([...r.metrics.get('huge')!.values], arrowHuge.map(Number), 'the same doubles as Number(BigInt) of what the file holds');
  t.equal(r.metrics.get('d')!.values.buffer, w.bytes.buffer, 'a float64 column without nulls is a view of the file');
  t.same([...r.metrics.get('d')!.values], big.map((_, i) => i / 4));
  const k = r.dimensions.get('k')!;
  t.equal(k.codes.buffer, w.bytes.buffer, 'codes without nulls are a view of the file');
  t.same(k.dictionary, ['b', 'c', '\uFEFFa'], 'a leading U+FEFF is part of the value (the sort order holds)');
  t.same({ ...k }.dictionary, k.dictionary, 'a spread copy of the column keeps its dictionary');

  // A dictionary whose bytes are not UTF-8 (the checksum is left out: the file is otherwise valid).
  const bad = w.bytes.slice();
  const at = Buffer.from(bad).indexOf(Buffer.from('\uFEFFa'));
  t.ok(at > 0);
  bad[at] = 0xff;
  const rb = readSegment(bad);
  t.throws(() => rb.dimensions.get('k')!.dictionary, SegmentFormatError, 'refused with a SegmentFormatError on first use');
});

t.test('the writer refuses what the file could not carry faithfully, naming it', async (t) => {
  const base = sample();
  const withDim = (codes: number[], dictionary: string[]) => ({ ...base, dimensions: [{ name: 'country', codes: Int32Array.from(codes), dictionary, hasNulls: codes.some((c) => c < 0) }], metrics: [] });
  t.throws(() => writeSegment(withDim([0, 1, 7, -1], ['de', 'fr'])), { name: 'SegmentFormatError', message: /country: row 2 has code 7, past its 2 dictionary values/ }, 'a code past the dictionary');
  t.throws(() => writeSegment(withDim([0, 1, 2, 0], ['\uD800', '\uD801', '\uE000'])), { name: 'SegmentFormatError', message: /lone UTF-16 surrogate/ }, 'a lone surrogate (UTF-8 would turn it into U+FFFD)');
  t.doesNotThrow(() => writeSegment(withDim([0, 1, 1, 0], ['a\uD83D\uDE00', 'b'])), 'a surrogate pair is fine');
  const withLong = (v: number) => ({ ...base, metrics: [{ name: 'count', type: 'long' as const, values: new Float64Array([1, v, 1, 1]), hasNulls: false, spec: { name: 'count', type: 'count' as const } }] });
  t.throws(() => writeSegment(withLong(2 ** 63)), { name: 'SegmentFormatError', message: /count: row 1 holds 9223372036854776000, outside the 64-bit range/ }, '2^63 (it wrapped to -2^63)');
  t.throws(() => writeSegment(withLong(Infinity)), { name: 'SegmentFormatError' }, 'Infinity (a RangeError before)');
  t.doesNotThrow(() => writeSegment(withLong(-(2 ** 63))), '-2^63 is in range');
});

t.test('metadata that is not JSON, or has no column list, is a SegmentFormatError', async (t) => {
  const w = writeSegment(sample());
  const table = tableFromIPC(w.bytes);
  for (const [what, text] of [['not JSON', '{"columns": ['], ['no column list', '{"dataSource": "events"}']] as const) {
    const md = new Map(table.schema.metadata);
    md.set('cairn.segment', text);
    const schema = new Schema(table.schema.fields, md);
    const bytes = tableToIPC(new Table(schema, table.batches.map((b) => new RecordBatch(schema, b.data))), 'file');
    t.throws(() => readSegment(bytes), { name: 'SegmentFormatError' }, what);
  }
});
