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
