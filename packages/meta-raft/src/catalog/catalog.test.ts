import t from 'tap';
import { INITIAL_DEFAULT_RULES, type SegmentInput, type WorkerInput } from '@cairn/shared';
import { InvariantError } from '../core/assert.js';
import { Catalog } from './catalog.js';
import type { CatalogCommand } from './commands.js';

/** A catalog and the records its writes would leave in storage. */
function harness() {
  const catalog = new Catalog();
  let index = 0;
  const stored = new Map<string, string>();
  const apply = (cmd: CatalogCommand | Record<string, unknown>) => {
    const { result, writes } = catalog.apply(cmd, { index: ++index, term: 1 });
    for (const w of writes) w.value === null ? stored.delete(w.key) : stored.set(w.key, w.value);
    return { result: result as any, writes };
  };
  const reloaded = () => Catalog.fromRecords([...stored]);
  return { catalog, apply, stored, reloaded };
}

function seg(d: number, over: Partial<SegmentInput> = {}): SegmentInput {
  const start = Date.UTC(2020, 0, d);
  return {
    dataSource: 'events',
    start,
    end: start + 86_400_000,
    version: 'v1',
    partition: 0,
    partitions: 1,
    size: 1,
    rows: 1,
    schema: {},
    checksum: '0'.repeat(64),
    location: `events/${d}`,
    ...over,
  };
}
const worker = (id: string, over: Partial<WorkerInput> = {}): WorkerInput => ({
  id,
  url: `http://${id}:8080`,
  dc: 'dc1',
  capacityBytes: 1e12,
  version: '0.1.0',
  ...over,
});
const segId = (d: number) => `events_2020-01-${String(d).padStart(2, '0')}T00:00:00.000Z_2020-01-${String(d + 1).padStart(2, '0')}T00:00:00.000Z_v1`;

t.test('apply never throws on a bad command: INVALID with the field named, no writes', async (t) => {
  const { apply } = harness();
  const cases: [unknown, RegExp][] = [
    [null, /^\(root\): /],
    ['publish', /^\(root\): /],
    [{ type: 'dropEverything', at: 1 }, /^type: Invalid discriminator value/],
    [{ type: 'createDatasource', name: 'x' }, /^at: /],
    [{ type: 'createDatasource', at: 1, name: 'x', extra: true }, /Unrecognized key: "extra"/],
    [{ type: 'setRules', at: 1, dataSource: 'x', rules: [{ type: 'loadForever', tieredReplicants: { hot: -1 } }] }, /^rules\[0\]\.tieredReplicants\.hot: replicant count must not be negative/],
    [{ type: 'publishSegments', at: 1, ingestionId: 'i', segments: [] }, /^segments: must contain at least one segment/],
    [{ type: 'registerWorker', at: 1, worker: { id: 'w' } }, /^worker\.url: /],
  ];
  for (const [cmd, message] of cases) {
    const { result, writes } = apply(cmd as Record<string, unknown>);
    t.equal(result.ok, false);
    t.equal(result.error.code, 'INVALID');
    t.match(result.error.message, message, JSON.stringify(cmd));
    t.same(writes, []);
  }
});

t.test('entries must be applied in log order', async (t) => {
  const catalog = new Catalog();
  catalog.apply({ type: 'createDatasource', at: 1, name: 'a' }, { index: 5, term: 1 });
  t.throws(() => catalog.apply({ type: 'createDatasource', at: 1, name: 'b' }, { index: 5, term: 1 }), InvariantError);
});

t.test('rules: per datasource, cluster defaults, Druid JSON', async (t) => {
  const { catalog, apply, stored, reloaded } = harness();
  t.same(catalog.defaultRules(), INITIAL_DEFAULT_RULES);
  t.same(catalog.rules('events'), []);
  t.same(catalog.allRules(), { _default: INITIAL_DEFAULT_RULES });
  t.equal(stored.size, 0, 'the initial defaults need no record');

  const rules = [{ type: 'loadByPeriod', period: 'P1M', tieredReplicants: { hot: 2 } }, { type: 'dropForever' }];
  const set = apply({ type: 'setRules', at: 1, dataSource: 'events', rules });
  t.same(set.result, { ok: true, changed: true });
  t.same(set.writes, [{ key: 'rule/events', value: '[{"includeFuture":true,"period":"P1M","tieredReplicants":{"hot":2},"type":"loadByPeriod"},{"type":"dropForever"}]' }]);
  t.same(catalog.rules('events'), [{ type: 'loadByPeriod', period: 'P1M', includeFuture: true, tieredReplicants: { hot: 2 } }, { type: 'dropForever' }]);
  t.same(apply({ type: 'setRules', at: 2, dataSource: 'events', rules }).writes, [], 'setting the same rules writes nothing');

  apply({ type: 'setRules', at: 3, dataSource: '_default', rules: [] });
  t.same(catalog.defaultRules(), [], 'no default rules: everything without its own rules is dropped');
  t.same(reloaded().allRules(), catalog.allRules());
  t.same(apply({ type: 'setRules', at: 4, dataSource: 'events', rules: [] }).writes, [{ key: 'rule/events', value: null }], 'an empty list removes own rules');
  t.same(catalog.allRules(), { _default: [] });
  t.ok(Object.isFrozen(catalog.defaultRules()), 'rule lists handed out are frozen');
});

t.test('workers: upsert, state, removal', async (t) => {
  const { catalog, apply, reloaded } = harness();
  t.same(apply({ type: 'registerWorker', at: 10, worker: worker('w1') }).result, { ok: true, created: true });
  t.same(catalog.worker('w1'), {
    id: 'w1',
    url: 'http://w1:8080',
    tier: '_default_tier',
    dc: 'dc1',
    capacityBytes: 1e12,
    version: '0.1.0',
    state: 'active',
    registeredAt: 10,
  });
  t.same(apply({ type: 'setWorkerState', at: 11, id: 'w1', state: 'decommissioning' }).result, { ok: true, changed: true });
  t.same(apply({ type: 'setWorkerState', at: 11, id: 'w1', state: 'decommissioning' }).writes, []);
  const again = apply({ type: 'registerWorker', at: 12, worker: worker('w1', { version: '0.2.0' }) });
  t.same(again.result, { ok: true, created: false });
  t.equal(catalog.worker('w1')!.state, 'decommissioning', 'a re-registering worker keeps its operator-set state');
  t.equal(catalog.worker('w1')!.version, '0.2.0');
  apply({ type: 'registerWorker', at: 13, worker: worker('w0', { tier: 'hot', state: 'decommissioning' }) });
  t.same(
    catalog.workers().map((w) => [w.id, w.tier, w.state]),
    [
      ['w0', 'hot', 'decommissioning'],
      ['w1', '_default_tier', 'decommissioning'],
    ],
  );
  t.same(reloaded().workers(), catalog.workers());
  t.equal(apply({ type: 'setWorkerState', at: 14, id: 'nope', state: 'active' }).result.error.code, 'NOT_FOUND');
  t.equal(apply({ type: 'removeWorker', at: 14, id: 'nope' }).result.error.code, 'NOT_FOUND');
  t.same(apply({ type: 'removeWorker', at: 14, id: 'w0' }).result, { ok: true, unassigned: 0 });
  t.equal(catalog.worker('w0'), null);
});

t.test('assignments: sets per segment, validation, removal with the worker', async (t) => {
  const { catalog, apply, reloaded } = harness();
  apply({ type: 'publishSegments', at: 1, ingestionId: 'i', segments: [seg(1), seg(2), seg(3)] });
  apply({ type: 'registerWorker', at: 1, worker: worker('w1') });
  apply({ type: 'registerWorker', at: 1, worker: worker('w2') });

  const r = apply({
    type: 'setAssignments',
    at: 2,
    changes: [
      { segmentId: segId(1), add: ['w2', 'w1'] },
      { segmentId: segId(2), add: ['w1'] },
      { segmentId: segId(1), add: ['w1'] },
    ],
  });
  t.same(r.result, { ok: true, added: 3, removed: 0 }, 'adding an assigned worker is a no-op');
  t.same(r.writes, [
    { key: `asg/${segId(1)}`, value: '["w1","w2"]' },
    { key: `asg/${segId(2)}`, value: '["w1"]' },
  ]);
  t.same(catalog.assignments(), [
    { segmentId: segId(1), workerIds: ['w1', 'w2'] },
    { segmentId: segId(2), workerIds: ['w1'] },
  ]);
  t.same(catalog.assignments({ workerId: 'w2' }), [{ segmentId: segId(1), workerIds: ['w1', 'w2'] }]);
  t.same(catalog.assignments({ segmentId: segId(3) }), []);
  t.same(reloaded().assignments(), catalog.assignments());

  const noop = apply({ type: 'setAssignments', at: 3, changes: [{ segmentId: segId(3), add: ['w1'] }, { segmentId: segId(3), remove: ['w1'] }] });
  t.same(noop.result, { ok: true, added: 1, removed: 1 });
  t.same(noop.writes, [], 'a segment whose set ends where it began is not rewritten');

  const errors: [unknown[], string, RegExp][] = [
    [[{ segmentId: segId(1), add: ['w1'] }, { segmentId: 'nope', add: ['w1'] }], 'NOT_FOUND', /changes\[1\]\.segmentId: segment nope does not exist/],
    [[{ segmentId: segId(1), add: ['w9'] }], 'NOT_FOUND', /changes\[0\]: worker w9 is not registered/],
    [[{ segmentId: segId(1), add: ['w1'], remove: ['w1'] }], 'INVALID', /both added and removed/],
  ];
  for (const [changes, code, message] of errors) {
    const bad = apply({ type: 'setAssignments', at: 4, changes });
    t.equal(bad.result.error.code, code);
    t.match(bad.result.error.message, message);
    t.same(bad.writes, []);
  }
  t.equal(catalog.stats().assignments, 3, 'a failed command changed nothing');

  const removed = apply({ type: 'removeWorker', at: 5, id: 'w1' });
  t.same(removed.result, { ok: true, unassigned: 2 });
  t.same(
    removed.writes.map((w) => [w.key, w.value]),
    [
      [`asg/${segId(1)}`, '["w2"]'],
      [`asg/${segId(2)}`, null],
      ['wrk/w1', null],
    ],
  );
  t.same(catalog.assignments(), [{ segmentId: segId(1), workerIds: ['w2'] }]);
  t.same(catalog.stats().assignedSegments, 1);
  t.same(reloaded().stats(), catalog.stats());
});

t.test('fromRecords: any order, fed in batches; corrupt records stop the load', async (t) => {
  const { catalog, apply, stored } = harness();
  apply({ type: 'publishSegments', at: 1, ingestionId: 'i', segments: [seg(2), seg(1)] });
  apply({ type: 'registerWorker', at: 1, worker: worker('w1') });
  apply({ type: 'setAssignments', at: 2, changes: [{ segmentId: segId(1), add: ['w1'] }] });
  const records = [...stored].reverse();
  const loader = Catalog.loader();
  for (const [k, v] of records) loader.add(k, v);
  const loaded = loader.finish();
  t.same([...loaded.records()], [...catalog.records()]);
  t.same(loaded.segments(), catalog.segments());
  t.throws(() => loader.finish(), InvariantError);
  t.throws(() => Catalog.fromRecords([['zzz/1', '{}']]), /unknown catalog record zzz\/1/);
  t.throws(() => Catalog.fromRecords([['ds/a', '{']]), /not valid JSON/);
  t.throws(() => Catalog.fromRecords([...stored].filter(([k]) => !k.startsWith('wrk/'))), /missing worker w1/);
  t.throws(() => Catalog.fromRecords([...stored].filter(([k]) => !k.startsWith('ds/'))), /without its ds\/ record/);
});

t.test('two replicas applying the same commands agree exactly', async (t) => {
  const a = harness();
  const b = harness();
  const commands: Record<string, unknown>[] = [
    { type: 'publishSegments', at: 1, ingestionId: 'i', segments: [seg(1), seg(2, { version: 'v2' })] },
    { type: 'kvPut', at: 2, key: 'k', value: 'v' },
    { type: 'registerWorker', at: 3, worker: worker('w') },
    { type: 'setAssignments', at: 4, changes: [{ segmentId: segId(1), add: ['w'] }] },
    { type: 'markSegments', at: 5, dataSource: 'events', used: false, interval: '2020/2021' },
  ];
  for (const cmd of commands) t.same(a.apply(cmd), b.apply(cmd));
  t.same([...a.catalog.records()], [...b.catalog.records()]);
});
