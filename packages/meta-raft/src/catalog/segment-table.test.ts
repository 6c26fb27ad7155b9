import t from 'tap';
import { createHash } from 'node:crypto';
import { segmentId } from '@cairn/shared';
import { segmentKey } from '@cairn/shared/deep-storage';
import { SegmentTable, type SegmentFields } from './segment-table.js';

const HOUR = 3_600_000;
const BASE = Date.UTC(2024, 0, 1);
const sha = (n: number | string) => createHash('sha256').update(String(n)).digest('hex');

/** Segment `n` of `dataSource`: one hour each, four partitions per hour. */
function fields(n: number, over: Partial<SegmentFields> = {}): SegmentFields {
  const dataSource = over.dataSource ?? 'web logs';
  const base = { dataSource, start: BASE + Math.floor(n / 4) * HOUR, end: BASE + Math.floor(n / 4 + 1) * HOUR, version: `v${n % 3}`, partition: n % 4 };
  const checksum = over.checksum ?? sha(n);
  return {
    id: segmentId(base),
    ...base,
    partitions: 4,
    size: 1000 + n,
    rows: 10 * n,
    schema: 0,
    checksum,
    location: over.location ?? segmentKey(dataSource, checksum),
    used: true,
    ingestionId: `ingest-${n % 7}`,
    publishedAt: BASE + n,
    ...over,
  };
}

t.test('every field reads back as given, over several chunks and id-shard growths', async (t) => {
  const table = new SegmentTable();
  const N = 70_000; // past the first chunk of 65,536 rows
  let misplaced = 0;
  for (let n = 0; n < N; n++) if (table.add(fields(n)) !== n) misplaced++;
  t.equal(misplaced, 0, 'slots are given in order');
  t.equal(table.count, N);
  let wrong = 0;
  for (let n = 0; n < N; n += 997) {
    const f = fields(n);
    const r = table.record(n, () => ({}) as never);
    const { schema: _, ...got } = r;
    const { schema: __, ...want } = f;
    if (JSON.stringify(got) !== JSON.stringify(want)) wrong++;
    if (table.slotOf(f.id) !== n) wrong++;
  }
  t.equal(wrong, 0, 'records and id lookups of every 997th segment');
  let missing = 0;
  for (let n = N; n < N + 2000; n++) if (table.slotOf(fields(n).id) !== undefined) missing++;
  t.equal(missing, 0, 'ids never added are not found');
});

t.test('a location is kept exactly, whether or not it is the content-addressed key', async (t) => {
  const table = new SegmentTable();
  const c = sha('x');
  const cases: [string, string][] = [
    ['content key', segmentKey('web logs', c)],
    ['another datasource', segmentKey('weblogs', c)],
    ['another checksum', segmentKey('web logs', sha('y'))],
    ['longer suffix', `${segmentKey('web logs', c)}x`],
    ['other prefix', `s3://bucket/${segmentKey('web logs', c)}`],
    ['druid path', 'web logs/2024-01-01T00:00:00.000Z_2024-01-01T01:00:00.000Z/v0/0/index.zip'],
  ];
  cases.forEach(([, location], n) => table.add(fields(n, { checksum: c, location })));
  cases.forEach(([what, location], n) => t.equal(table.location(n), location, what));
  t.equal(table.location(0), segmentKey('web logs', c));
  t.equal(table.encode(0), table.encode(0), 'encoded deterministically');
  t.match(table.encode(0), `"l":"${segmentKey('web logs', c)}"`, 'the record on disk names the full location');
});

t.test('a refused add leaves no row behind', async (t) => {
  const table = new SegmentTable();
  table.add(fields(0));
  t.throws(() => table.add(fields(0)), /added twice/);
  t.throws(() => table.add(fields(1, { checksum: sha(1).toUpperCase(), location: 'x' })), /not 64 lowercase hex/);
  t.throws(() => table.add(fields(1, { checksum: 'abc', location: 'x' })), /not 64 lowercase hex/);
  t.equal(table.count, 1);
  t.equal(table.slotOf(fields(1).id), undefined);
  t.equal(table.add(fields(1)), 1, 'the next add takes the free slot');
  t.equal(table.checksum(1), sha(1));
  t.same(table.allIds(), [fields(0).id, fields(1).id]);
});

t.test('timeline order compares versions as strings', async (t) => {
  const table = new SegmentTable();
  const a = table.add(fields(0, { version: 'v10' }));
  const b = table.add(fields(4, { version: 'v9', start: BASE, end: BASE + HOUR, id: 'b' }));
  const c = table.add(fields(8, { version: 'v10', start: BASE, end: BASE + HOUR, partition: 1, id: 'c' }));
  t.ok(table.compare(a, b) < 0, "'v10' sorts before 'v9'");
  t.ok(table.compare(b, a) > 0);
  t.ok(table.compare(a, c) < 0, 'same version: by partition');
  t.equal(table.compare(a, a), 0);
});
