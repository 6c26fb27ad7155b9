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
  t.equal(table.wholeLocations, cases.length - 2, 'all but the content key and the path naming the interval stored whole');
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

t.test('a location naming the segment fields is kept as a shared template, and given back exactly', async (t) => {
  const table = new SegmentTable();
  const druid = (n: number, f = fields(n)) =>
    `s3://deep/druid/segments/${f.dataSource}/${new Date(f.start).toISOString()}_${new Date(f.end).toISOString()}/${f.version}/${f.partition}/index.zip`;
  const N = 5000;
  for (let n = 0; n < N; n++) table.add(fields(n, { location: druid(n) }));
  let wrong = 0;
  for (let n = 0; n < N; n++) if (table.location(n) !== druid(n)) wrong++;
  t.equal(wrong, 0, `all ${N} Druid-style paths given back`);
  t.equal(table.wholeLocations, 0, 'none stored whole');
  t.match(table.encode(7), `"l":"${druid(7)}"`, 'and written to the record whole');

  // Edge cases: repeated fields (only the first occurrence is cut), fields absent, marks in the
  // path, a partition that is not a path segment of its own, a version found inside another word.
  const f = fields(N, { version: 'v1', partition: 1 });
  const start = new Date(f.start).toISOString();
  const odd: [location: string, whole: boolean][] = [
    [`a/${start}/${start}/v1/v1/1/1/x`, false],
    ['no fields of its own', true],
    [`mark\u0000${start}/1/`, true],
    [`${start}-1-v1`, false],
    [`web v1 logs/${start}/v1/1/`, false],
    ['/1/', false],
    ['', true],
  ];
  odd.forEach(([location, whole], i) => {
    const before = table.wholeLocations;
    const slot = table.add({ ...f, id: `odd-${i}`, location });
    t.equal(table.location(slot), location, JSON.stringify(location));
    t.equal(table.wholeLocations - before, whole ? 1 : 0, whole ? 'stored whole' : 'kept as a template');
  });
});

t.test('seeded random locations built from the segment fields round-trip', async (t) => {
  let a = 20261206 >>> 0;
  const rnd = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  t.comment('seed 20261206');
  const table = new SegmentTable();
  const want: string[] = [];
  for (let n = 0; n < 3000; n++) {
    const f = fields(n);
    const pieces = [new Date(f.start).toISOString(), new Date(f.end).toISOString(), f.version, `/${f.partition}/`, '/', '_', 'x', '\u0001', String(n)];
    let location = '';
    const k = 1 + Math.floor(rnd() * 8);
    for (let i = 0; i < k; i++) location += pieces[Math.floor(rnd() * pieces.length)];
    want.push(location);
    table.add(fields(n, { location }));
  }
  let wrong = 0;
  want.forEach((location, n) => {
    if (table.location(n) !== location) wrong++;
  });
  t.equal(wrong, 0, 'every location given back exactly');
});
