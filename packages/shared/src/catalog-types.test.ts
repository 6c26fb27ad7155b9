import t from 'tap';
import { formatZodError } from './zod-error.js';
import {
  datasourceNameSchema,
  INITIAL_DEFAULT_RULES,
  ruleSchema,
  rulesSchema,
  segmentId,
  segmentInputSchema,
  workerInputSchema,
} from './catalog-types.js';

t.test('segmentId matches Druid', async (t) => {
  const base = { dataSource: 'events', start: Date.UTC(2020, 0, 1), end: Date.UTC(2020, 0, 2), version: 'v1' };
  t.equal(segmentId({ ...base, partition: 3 }), 'events_2020-01-01T00:00:00.000Z_2020-01-02T00:00:00.000Z_v1_3');
  t.equal(segmentId({ ...base, partition: 0 }), 'events_2020-01-01T00:00:00.000Z_2020-01-02T00:00:00.000Z_v1', 'partition 0 has no suffix');
});

t.test('rule schema: Druid shapes with defaults', async (t) => {
  t.same(ruleSchema.parse({ type: 'loadByPeriod', period: 'P1M', tieredReplicants: { hot: 1 } }), {
    type: 'loadByPeriod',
    period: 'P1M',
    includeFuture: true,
    tieredReplicants: { hot: 1 },
  });
  t.same(ruleSchema.parse({ type: 'dropByPeriod', period: 'P1D', includeFuture: false }), { type: 'dropByPeriod', period: 'P1D', includeFuture: false });
  t.same(ruleSchema.parse({ type: 'loadForever' }), INITIAL_DEFAULT_RULES[0], 'an omitted replica map means two on the default tier, as in Druid');
  t.same(ruleSchema.parse({ type: 'loadForever', tieredReplicants: {}, allowEmptyTieredReplicants: true }).type, 'loadForever');
});

t.test('rule schema rejects bad rules with messages that name the field', async (t) => {
  const cases: [unknown, RegExp][] = [
    [{ type: 'loadSometimes' }, /^type: /],
    [{ type: 'dropForever', period: 'P1D' }, /Unrecognized key: "period"/],
    [{ type: 'loadForever', tieredReplicants: { hot: -1 } }, /tieredReplicants\.hot: .*negative/],
    [{ type: 'loadForever', tieredReplicants: { hot: 1.5 } }, /tieredReplicants\.hot: .*integer/],
    [{ type: 'loadForever', tieredReplicants: { hot: '2' } }, /tieredReplicants\.hot/],
    [{ type: 'loadForever', tieredReplicants: {} }, /tieredReplicants: must name at least one tier/],
    [{ type: 'loadByPeriod', period: '1 month' }, /period: invalid ISO-8601 period "1 month"/],
    [{ type: 'dropBeforeByPeriod' }, /period: /],
    [{ type: 'loadByInterval', interval: '2020-02-01/2020-01-01' }, /interval: .*ends before it starts/],
    [{ type: 'loadByPeriod', period: 'P1D', includeFuture: 'yes' }, /includeFuture/],
  ];
  for (const [input, message] of cases) {
    const r = ruleSchema.safeParse(input);
    t.notOk(r.success, JSON.stringify(input));
    if (!r.success) t.match(formatZodError(r.error), message);
  }
  const list = rulesSchema.safeParse([{ type: 'dropForever' }, { type: 'loadForever', tieredReplicants: { hot: -2 } }]);
  t.match(list.success ? '' : formatZodError(list.error), /^\[1\]\.tieredReplicants\.hot/);
});

t.test('segment input: ISO or epoch instants, lowercase checksum, strict keys', async (t) => {
  const input = {
    dataSource: 'events',
    start: '2020-01-01',
    end: Date.UTC(2020, 0, 2),
    version: 'v1',
    partition: 0,
    partitions: 1,
    size: 10,
    rows: 2,
    schema: { columns: ['a'] },
    checksum: 'A'.repeat(64),
    location: 'events/1.arrow',
  };
  const parsed = segmentInputSchema.parse(input);
  t.equal(parsed.start, Date.UTC(2020, 0, 1));
  t.equal(parsed.checksum, 'a'.repeat(64));
  const bad = segmentInputSchema.safeParse({ ...input, used: true, size: -1, checksum: 'xyz' });
  t.notOk(bad.success);
  if (!bad.success) t.match(formatZodError(bad.error), /size: .*checksum: must be a sha-256/s);
});

t.test('names', async (t) => {
  t.ok(datasourceNameSchema.safeParse('web.events-2_x').success);
  for (const bad of ['', 'a b', 'a/b', '_default', 'x'.repeat(256), 'é']) t.notOk(datasourceNameSchema.safeParse(bad).success, bad);
});

t.test('worker input defaults the tier', async (t) => {
  const w = workerInputSchema.parse({ id: 'w1:8080', url: 'http://w1:8080', dc: 'dc1', capacityBytes: 1e9, version: '0.1.0' });
  t.equal(w.tier, '_default_tier');
  t.equal(w.state, undefined);
});
