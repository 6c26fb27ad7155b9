import t from 'tap';
import { bucketEnd, GRANULARITIES, nestsWithin, truncate } from './granularity.js';
import { SegmentBuilder } from './segment-builder.js';
import { parseIngestionSpec, SpecError } from './spec.js';

const HOUR = 3_600_000;
const base = {
  dataSource: 'events',
  input: { files: ['x.ndjson'], format: 'ndjson' },
  timestamp: { column: 'ts', format: 'iso' },
  dimensions: ['country', 'device'],
  metrics: [{ type: 'doubleSum', name: 'value', fieldName: 'value' }, { type: 'longMax', name: 'peak', fieldName: 'n' }],
  segmentGranularity: 'hour',
};

t.test('rollup combines rows with equal truncated time and dimensions, counting them', async (t) => {
  const spec = parseIngestionSpec({ ...base, queryGranularity: 'minute', rollup: true });
  t.same(spec.metrics.map((m) => m.name), ['count', 'value', 'peak'], 'a count metric is added');
  const b = new SegmentBuilder(spec);
  t.equal(b.add({ ts: '2024-01-01T00:00:10Z', country: 'fr', device: 'tv', value: 1.5, n: 3 }), null);
  t.equal(b.add({ ts: '2024-01-01T00:00:50Z', country: 'fr', device: 'tv', value: 2, n: 7 }), null);
  t.equal(b.add({ ts: '2024-01-01T00:00:20Z', country: 'de', device: 'tv', value: 1, n: 1 }), null);
  t.equal(b.add({ ts: '2024-01-01T01:30:00Z', country: null, device: 'tv', value: null, n: '4' }), null);
  const segs = [...b.segments('v1')];
  t.equal(segs.length, 2, 'two hourly intervals');
  const first = segs[0]!;
  t.equal(first.start, Date.parse('2024-01-01T00:00:00Z'));
  t.equal(first.end - first.start, HOUR);
  t.same([...first.time], [Date.parse('2024-01-01T00:00:00Z'), Date.parse('2024-01-01T00:00:00Z')], 'truncated to the minute');
  const metric = (name: string) => [...first.metrics.find((m) => m.name === name)!.values];
  t.same(metric('count'), [2, 1], 'fr/tv stands for two rows');
  t.same(metric('value'), [3.5, 1]);
  t.same(metric('peak'), [7, 1]);
  const country = first.dimensions.find((d) => d.name === 'country')!;
  t.same(country.dictionary, ['de', 'fr'], 'sorted dictionary');
  t.same([...country.codes], [1, 0]);
  const second = segs[1]!;
  t.same([...second.dimensions.find((d) => d.name === 'country')!.codes], [-1], 'null dimension');
  t.ok(Number.isNaN(second.metrics.find((m) => m.name === 'value')!.values[0]!), 'null metric stays null');
  t.equal(second.metrics.find((m) => m.name === 'peak')!.values[0], 4, 'numeric text is a number');
});

t.test('without rollup every row is kept, sorted by time; maxRowsPerSegment makes partitions', async (t) => {
  const spec = parseIngestionSpec({ ...base, rollup: false, maxRowsPerSegment: 2 });
  const b = new SegmentBuilder(spec);
  for (const m of [50, 10, 30, 20, 40]) b.add({ ts: `2024-01-01T00:${m}:00Z`, country: 'fr', device: 'tv', value: m, n: 1 });
  const segs = [...b.segments('v2')];
  t.equal(segs.length, 3, 'five rows, at most two per segment');
  t.same(segs.map((s) => [s.partition, s.partitions]), [[0, 3], [1, 3], [2, 3]]);
  t.same(segs.flatMap((s) => [...s.metrics.find((m) => m.name === 'value')!.values]), [10, 20, 30, 40, 50], 'time order across partitions');
});

t.test('bad rows are rejected with a reason and change nothing', async (t) => {
  const b = new SegmentBuilder(parseIngestionSpec({ ...base, rollup: false }));
  t.match(b.add({ country: 'fr', value: 1, n: 1 }), /no timestamp in column "ts"/);
  t.match(b.add({ ts: 'yesterday', value: 1, n: 1 }), /cannot parse timestamp "yesterday" as iso/);
  t.match(b.add({ ts: '2024-01-01T00:00:00Z', value: 'abc', n: 1 }), /metric value: "value" is not a number/);
  t.equal(b.stats.rowsRejected, 3);
  t.equal(b.stats.rowsStored, 0);
  t.equal(b.intervalCount, 0, 'no interval was created by a rejected row');
});

t.test('specs are validated with messages naming the field', async (t) => {
  t.throws(() => parseIngestionSpec({ ...base, segmentGranularity: 'fortnight' }), SpecError);
  t.throws(() => parseIngestionSpec({ ...base, metrics: [{ type: 'doubleSum', name: 'v' }] }), /metrics\[0\]\.fieldName: fieldName is required/);
  t.throws(() => parseIngestionSpec({ ...base, colour: 'blue' }), /colour/);
  t.throws(() => parseIngestionSpec({ ...base, dimensions: ['a', 'a'] }), /named twice/);
});

t.test('a queryGranularity that does not nest within the segmentGranularity is refused, naming both', async (t) => {
  const both = /queryGranularity "(week|day)" does not fit segmentGranularity "(month|hour)": queryGranularity must be no coarser than segmentGranularity and every queryGranularity bucket must lie within one segmentGranularity bucket/;
  // Weeks straddle months: the week of 2024-12-30 would put January rows into a December segment.
  t.throws(() => parseIngestionSpec({ ...base, segmentGranularity: 'month', queryGranularity: 'week' }), both);
  // Coarser: a day's rows would all go into its 00:00 hour.
  t.throws(() => parseIngestionSpec({ ...base, segmentGranularity: 'hour', queryGranularity: 'day' }), both);
  t.throws(() => parseIngestionSpec({ ...base, segmentGranularity: 'day', queryGranularity: 'all' }), SpecError);
  for (const [segmentGranularity, queryGranularity] of [['hour', 'minute'], ['day', 'six_hour'], ['week', 'day'], ['month', 'day'], ['year', 'quarter'], ['week', 'week'], ['all', 'month'], ['hour', 'none']]) {
    t.doesNotThrow(() => parseIngestionSpec({ ...base, segmentGranularity, queryGranularity }), `${queryGranularity} within ${segmentGranularity}`);
  }
});

t.test('nestsWithin agrees with the buckets themselves', async (t) => {
  // Bucket by bucket: `inner` nests within `outer` iff no inner bucket starting in these years
  // (leap years, weeks across month and year ends) leaves the outer bucket it starts in.
  const DAY = 24 * HOUR;
  const from = Date.parse('2023-12-01T00:00:00Z');
  const to = Date.parse('2025-02-01T00:00:00Z');
  for (const inner of GRANULARITIES) {
    for (const outer of GRANULARITIES.filter((g) => g !== 'none')) {
      let nests = true;
      const step = inner === 'none' || inner === 'second' || inner === 'minute' ? 7 * 60_000 + 1 : 15 * 60_000;
      for (let ms = from; ms < to && nests; ms += inner === 'all' ? DAY : step) {
        const start = truncate(ms, inner);
        const end = bucketEnd(start, inner);
        const home = truncate(start, outer);
        if (end > bucketEnd(home, outer) || ms < home) nests = false;
      }
      t.equal(nestsWithin(inner, outer), nests, `${inner} within ${outer}`);
    }
  }
});
