import t from 'tap';
import { parseInstant, type SegmentInput } from '@cairn/shared';
import { Catalog } from './catalog.js';
import type { CatalogCommand } from './commands.js';

/** A catalog and the records its writes would leave in storage. */
function harness(options = {}) {
  const catalog = new Catalog(options);
  let index = 0;
  const stored = new Map<string, string>();
  const apply = (cmd: CatalogCommand | Record<string, unknown>) => {
    const { result, writes } = catalog.apply(cmd, { index: ++index, term: 1 });
    for (const w of writes) w.value === null ? stored.delete(w.key) : stored.set(w.key, w.value);
    return { result: result as any, writes };
  };
  const reloaded = () => Catalog.fromRecords([...stored], options);
  return { catalog, apply, stored, reloaded };
}

const day = (d: string) => parseInstant(d);
function seg(over: Partial<SegmentInput> & { day?: string } = {}): SegmentInput {
  const { day: d = '2020-01-01', ...rest } = over;
  const start = day(d);
  return {
    dataSource: 'events',
    start,
    end: start + 86_400_000,
    version: 'v1',
    partition: 0,
    partitions: 1,
    size: 100,
    rows: 10,
    schema: { columns: ['ts', 'user'], metrics: { n: 'count' } },
    checksum: 'a'.repeat(64),
    location: `events/${d}`,
    ...rest,
  };
}
const publish = (ingestionId: string, segments: SegmentInput[], at = 1000) => ({ type: 'publishSegments' as const, at, ingestionId, segments });
const ids = (segments: { id: string }[]) => segments.map((s) => s.id);

t.test('publish creates the datasource, computes ids, stamps the command time', async (t) => {
  const { catalog, apply } = harness();
  const r = apply(publish('ing-1', [seg(), seg({ partition: 1, partitions: 2, version: 'v0' }), seg({ partition: 0, partitions: 2, version: 'v0' })], 5000));
  t.same(r.result, { ok: true, replayed: false, published: 3, unchanged: 0 });
  t.same(
    r.writes.map((w) => w.key),
    [
      'ds/events',
      'sch/0',
      'seg/events_2020-01-01T00:00:00.000Z_2020-01-02T00:00:00.000Z_v1',
      'seg/events_2020-01-01T00:00:00.000Z_2020-01-02T00:00:00.000Z_v0_1',
      'seg/events_2020-01-01T00:00:00.000Z_2020-01-02T00:00:00.000Z_v0',
      'ing/ing-1',
    ],
    'one schema record for three segments',
  );
  const s = catalog.segment('events_2020-01-01T00:00:00.000Z_2020-01-02T00:00:00.000Z_v0_1')!;
  t.equal(s.publishedAt, 5000);
  t.equal(s.ingestionId, 'ing-1');
  t.equal(s.used, true);
  t.equal(catalog.datasources()[0]!.createdAt, 5000);
  const all = catalog.segments({ includeOvershadowed: true });
  t.equal(all[0]!.schema, all[2]!.schema, 'equal schemas are one shared object');
  t.ok(Object.isFrozen(all[0]!.schema), 'and frozen');
});

t.test('publish is idempotent per ingestion id', async (t) => {
  const { apply } = harness();
  const first = apply(publish('ing-1', [seg()])).result;
  const again = apply(publish('ing-1', [seg({ day: '2021-01-01' })]));
  t.same(again.result, { ...first, replayed: true }, 'the original result, whatever the retry carries');
  t.same(again.writes, []);
  const sameContent = apply(publish('ing-2', [seg(), seg({ day: '2020-01-02' })]));
  t.same(sameContent.result, { ok: true, replayed: false, published: 1, unchanged: 1 }, 'an identical existing segment is left as it is');
});

t.test('publish is atomic: one bad segment fails all, with nothing written', async (t) => {
  const { catalog, apply } = harness();
  apply(publish('ing-1', [seg()]));
  const cases: [SegmentInput[], string, RegExp][] = [
    [[seg({ day: '2020-02-01' }), seg({ checksum: 'b'.repeat(64) })], 'CONFLICT', /segment events_2020-01-01T00:00:00\.000Z_2020-01-02T00:00:00\.000Z_v1 already exists with checksum a+, not b+/],
    [[seg({ day: '2020-02-01' }), seg({ day: '2020-02-01', checksum: 'c'.repeat(64) })], 'CONFLICT', /appears twice in the publish, with checksum a+, not c+/],
    [[seg({ day: '2020-02-01' }), seg({ day: '2020-02-01', rows: 11 })], 'CONFLICT', /appears twice in the publish, with rows 10, not 11/],
    [[seg({ day: '2020-02-01' }), seg({ id: 'events_nope' })], 'INVALID', /segments\[1\]\.id "events_nope" does not match its fields/],
    [[seg({ partition: 2, partitions: 2 })], 'INVALID', /segments\[0\]: partition 2 must be below partitions 2/],
    [[{ ...seg(), end: day('2019-01-01') }], 'INVALID', /segments\[0\]: end must be after start/],
    [[seg({ day: '2020-03-01', partitions: 3 }), seg({ day: '2020-03-01', partition: 1, partitions: 2 })], 'CONFLICT', /says 2 partitions, but its interval and version have 3/],
    [[seg({ location: 'elsewhere' })], 'CONFLICT', /already exists with location "events\/2020-01-01", not "elsewhere"/],
    [[seg({ size: 101 })], 'CONFLICT', /already exists with size 100, not 101/],
    [[seg({ partitions: 2 })], 'CONFLICT', /already exists with partitions 1, not 2/],
    [[seg({ schema: { other: 1 } })], 'CONFLICT', /already exists with another schema/],
    [[seg({ day: '2020-04-01', size: -1 })], 'INVALID', /^segments\[0\]\.size: /],
    [[seg({ day: '2020-04-01', checksum: 'xyz' })], 'INVALID', /segments\[0\]\.checksum: must be a sha-256 digest/],
    [[seg({ day: '2020-04-01', dataSource: 'bad name' })], 'INVALID', /segments\[0\]\.dataSource/],
    [[seg({ day: '2020-04-01', schema: { x: Number.NaN } })], 'INVALID', /segments\[0\]\.schema\.x: NaN is not a JSON number/],
  ];
  for (const [segments, code, message] of cases) {
    const before = catalog.stats();
    const r = apply(publish(`ing-${code}-${message.source.length}`, segments));
    t.equal(r.result.ok, false);
    t.equal(r.result.error?.code, code, message.source);
    t.match(r.result.error?.message, message);
    t.same(r.writes, []);
    t.same(catalog.stats(), before, 'no change');
  }
  const retry = apply(publish('ing-CONFLICT-1', [seg({ day: '2020-05-01' })]));
  t.equal(retry.result.published, 1, 'a failed ingestion id is not remembered: a corrected retry goes through');
});

t.test('segment ids accept a matching id and ISO instants', async (t) => {
  const { catalog, apply } = harness();
  const id = 'events_2020-01-01T00:00:00.000Z_2020-01-02T00:00:00.000Z_v1_3';
  const r = apply(publish('i', [{ ...seg({ partition: 3, partitions: 4 }), id, start: '2020-01-01T01:00+01:00', end: '2020-01-02' }]));
  t.equal(r.result.ok, true);
  t.ok(catalog.segment(id));
});

t.test('the timeline: visible by default, overshadowed and unused on request', async (t) => {
  const { catalog, apply, reloaded } = harness();
  apply(publish('v1', [seg({ day: '2020-01-01' }), seg({ day: '2020-01-02' }), seg({ day: '2020-01-03' })]));
  apply(publish('v2-part', [seg({ day: '2020-01-02', version: 'v2', partitions: 2 })]));
  t.equal(catalog.segments().length, 4, 'an incomplete v2 hides nothing');
  apply(publish('v2-rest', [seg({ day: '2020-01-02', version: 'v2', partition: 1, partitions: 2 })]));
  t.same(
    ids(catalog.segments()).map((id) => id.slice(7, 17) + id.slice(56)),
    ['2020-01-01_v1', '2020-01-02_v2', '2020-01-02_v2_1', '2020-01-03_v1'],
    'timeline order; v1 of Jan 2 is overshadowed',
  );
  t.equal(catalog.segments({ includeOvershadowed: true }).length, 5);
  t.same(ids(catalog.segments({ interval: '2020-01-02/2020-01-03' })).length, 2, 'interval filter: overlapping only');
  t.same(ids(catalog.segments({ interval: '2020-01-01T12:00/2020-01-02T00:00:00.001' })).length, 3, 'partial overlaps count');
  t.same(catalog.segments({ dataSource: 'other' }), []);
  t.same(reloaded().segments({ includeOvershadowed: true }), catalog.segments({ includeOvershadowed: true }));

  // Marking one v2 partition unused makes v2 incomplete: v1 reappears.
  const r = apply({ type: 'markSegments', at: 2, dataSource: 'events', used: false, segmentIds: ['events_2020-01-02T00:00:00.000Z_2020-01-03T00:00:00.000Z_v2_1'] });
  t.same(r.result, { ok: true, changed: 1 });
  t.equal(catalog.segments().length, 4);
  t.equal(catalog.segments({ includeUnused: true }).length, 5);
});

t.test('markSegments: by interval (wholly contained) or ids; markUsed skips overshadowed ones', async (t) => {
  const { catalog, apply } = harness();
  apply(publish('a', [seg({ day: '2020-01-01' }), seg({ day: '2020-01-02' }), { ...seg({ day: '2020-01-03' }), end: day('2020-01-05') }]));
  const unmark = apply({ type: 'markSegments', at: 2, dataSource: 'events', used: false, interval: '2020-01-01/2020-01-04' });
  t.same(unmark.result, { ok: true, changed: 2 }, 'the segment reaching past the interval stays');
  t.equal(unmark.writes.length, 2);
  t.same(apply({ type: 'markSegments', at: 2, dataSource: 'events', used: false, interval: '2020-01-01/2020-01-04' }).result, { ok: true, changed: 0 });
  t.equal(catalog.datasources()[0]!.usedSegments, 1);

  apply(publish('b', [seg({ day: '2020-01-01', version: 'v2' })]));
  const remark = apply({ type: 'markSegments', at: 3, dataSource: 'events', used: true, interval: '2020-01-01/2020-01-03' });
  t.same(remark.result, { ok: true, changed: 1 }, 'v1 of Jan 1 is overshadowed by the used v2: not re-enabled, as in Druid');
  t.equal(catalog.segment('events_2020-01-01T00:00:00.000Z_2020-01-02T00:00:00.000Z_v1')!.used, false);
  const byId = apply({ type: 'markSegments', at: 3, dataSource: 'events', used: true, segmentIds: ['events_2020-01-01T00:00:00.000Z_2020-01-02T00:00:00.000Z_v1'] });
  t.same(byId.result, { ok: true, changed: 0 }, 'by id too');

  const errors: [Record<string, unknown>, string, RegExp][] = [
    [{ dataSource: 'nope', used: false, interval: '2020/2021' }, 'NOT_FOUND', /datasource nope does not exist/],
    [{ dataSource: 'events', used: false, segmentIds: ['events_x'] }, 'NOT_FOUND', /segment events_x does not exist in datasource events/],
    [{ dataSource: 'events', used: false }, 'INVALID', /interval: give exactly one of interval and segmentIds/],
    [{ dataSource: 'events', used: false, interval: '2020/2021', segmentIds: ['a'] }, 'INVALID', /exactly one/],
    [{ dataSource: 'events', used: false, interval: '2021/2020' }, 'INVALID', /interval: invalid ISO-8601 interval "2021\/2020"/],
  ];
  for (const [body, code, message] of errors) {
    const r = apply({ type: 'markSegments', at: 4, ...body });
    t.equal(r.result.error?.code, code);
    t.match(r.result.error?.message, message);
  }
});

t.test('deleteDatasource marks everything unused and keeps the datasource', async (t) => {
  const { catalog, apply, reloaded } = harness();
  apply({ type: 'createDatasource', at: 1, name: 'events' });
  t.same(apply({ type: 'createDatasource', at: 1, name: 'events' }).result.error.code, 'ALREADY_EXISTS');
  apply(publish('a', [seg({ day: '2020-01-01' }), seg({ day: '2020-01-02' })]));
  t.equal(catalog.datasources()[0]!.createdAt, 1, 'publishing into an existing datasource keeps its creation time');
  t.same(apply({ type: 'deleteDatasource', at: 2, name: 'events' }).result, { ok: true, changed: 2 });
  t.same(catalog.datasources(), [
    { name: 'events', createdAt: 1, usedSegments: 0, unusedSegments: 2, usedBytes: 0, usedRows: 0, minStart: null, maxEnd: null },
  ]);
  t.same(reloaded().datasources(), catalog.datasources());
  t.equal(apply({ type: 'deleteDatasource', at: 2, name: 'nope' }).result.error.code, 'NOT_FOUND');
  t.match(apply({ type: 'createDatasource', at: 1, name: '_default' }).result.error.message, /reserved/);
});

t.test('datasource summaries', async (t) => {
  const { catalog, apply } = harness();
  apply(publish('a', [seg({ day: '2020-01-03', size: 5, rows: 2 }), seg({ day: '2020-01-01', size: 7, rows: 3 }), seg({ dataSource: 'b.logs', day: '2019-06-01' })]));
  t.same(catalog.datasources(), [
    { name: 'b.logs', createdAt: 1000, usedSegments: 1, unusedSegments: 0, usedBytes: 100, usedRows: 10, minStart: day('2019-06-01'), maxEnd: day('2019-06-02') },
    { name: 'events', createdAt: 1000, usedSegments: 2, unusedSegments: 0, usedBytes: 12, usedRows: 5, minStart: day('2020-01-01'), maxEnd: day('2020-01-04') },
  ]);
});

t.test('remembered ingestion ids are bounded, oldest forgotten first', async (t) => {
  const { catalog, apply, reloaded } = harness({ ingestionsRememberedMax: 3 });
  for (let i = 1; i <= 5; i++) {
    const r = apply(publish(`ing-${i}`, [seg({ day: `2020-01-0${i}` })]));
    if (i > 3) t.same(r.writes.at(-1), { key: `ing/ing-${i - 3}`, value: null }, `publishing ing-${i} forgets ing-${i - 3}`);
  }
  t.equal(catalog.stats().ingestions, 3);
  t.equal(apply(publish('ing-5', [seg()])).result.replayed, true);
  const forgotten = apply(publish('ing-1', [seg({ day: '2020-01-01' })]));
  t.same(forgotten.result, { ok: true, replayed: false, published: 0, unchanged: 1 }, 'a forgotten id is applied again, harmlessly');
  const again = reloaded();
  t.equal(again.stats().ingestions, 3);
  // After a restart the same ids are remembered, and the same one is forgotten next.
  const live = apply(publish('ing-6', [seg({ day: '2020-01-06' })])).writes.at(-1);
  t.same(live, { key: 'ing/ing-4', value: null }, 'ing-1 was remembered again when it was re-applied');
  t.same(again.apply(publish('ing-6', [seg({ day: '2020-01-06' })]), { index: 1, term: 1 }).writes.at(-1), live);
});

t.test('completeOnly leaves out a version whose partitions are not all published (what queries read)', async (t) => {
  const { catalog, apply, reloaded } = harness();
  apply(publish('i1', [seg({ partition: 0, partitions: 2 }), seg({ partition: 1, partitions: 2 })]));
  apply(publish('i2', [seg({ version: 'v2', partition: 0, partitions: 2 })]));
  const v1 = ['events_2020-01-01T00:00:00.000Z_2020-01-02T00:00:00.000Z_v1', 'events_2020-01-01T00:00:00.000Z_2020-01-02T00:00:00.000Z_v1_1'];
  const v2 = ['events_2020-01-01T00:00:00.000Z_2020-01-02T00:00:00.000Z_v2', 'events_2020-01-01T00:00:00.000Z_2020-01-02T00:00:00.000Z_v2_1'];
  t.same(ids(catalog.segments({ completeOnly: true })), v1, 'v2 has one of its two partitions: v1 is read, v2 is not');
  t.same(ids(catalog.segments()), [...v1, v2[0]], 'without completeOnly: every used segment not overshadowed');
  apply(publish('i3', [seg({ version: 'v2', partition: 1, partitions: 2 })]));
  t.same(ids(catalog.segments({ completeOnly: true })), v2, 'complete: v2 replaces v1');
  t.same(ids(reloaded().segments({ completeOnly: true })), v2, 'the same after a reload');
  apply({ type: 'markSegments', at: 2, dataSource: 'events', used: false, segmentIds: [v2[1]] });
  t.same(ids(catalog.segments({ completeOnly: true })), v1, 'a partition marked unused: v1 again');
});
