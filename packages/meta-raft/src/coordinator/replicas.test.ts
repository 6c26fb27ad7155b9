import t from 'tap';
import { DEFAULT_TIER, firstMatchingRule, parseInterval, type Rule, type RuleInput } from '@cairn/shared';
import { Prng } from '../core/prng.js';
import { DAY_MS, HOUR_MS, NOW, allLoaded, loadForever, makeInput, makeSegments, makeWorkers, rule } from './fixtures.js';
import { plan } from './planner.js';
import { desiredReplicas, RuleBook } from './replicas.js';

const seg = (interval: string, dataSource = 'events') => ({ dataSource, ...parseInterval(interval) });
const want = (rules: RuleInput[], interval: string, defaults: RuleInput[] = []) =>
  desiredReplicas({ events: rules.map(rule) }, defaults.map(rule), seg(interval), NOW);

// NOW is 2020-06-15T00:00Z.
t.test('loadForever: replicas per tier, two on the default tier when omitted', async (t) => {
  t.same(want([{ type: 'loadForever', tieredReplicants: { hot: 2, cold: 1 } }], '1990-01-01/1990-01-02'), { hot: 2, cold: 1 });
  t.same(want([{ type: 'loadForever' }], '2020-01-01/2020-01-02'), { [DEFAULT_TIER]: 2 });
});

t.test('loadByPeriod with includeFuture (the default) matches recent and future segments', async (t) => {
  const r: RuleInput[] = [{ type: 'loadByPeriod', period: 'P1M', tieredReplicants: { hot: 3 } }];
  t.same(want(r, '2020-06-01/2020-06-02'), { hot: 3 }, 'within the last month');
  t.same(want(r, '2020-07-01/2020-07-02'), { hot: 3 }, 'in the future');
  t.same(want(r, '2020-05-14/2020-05-15'), {}, 'older than a month: no rule left, so dropped');
});

t.test('loadByPeriod without includeFuture falls through for future segments', async (t) => {
  const r: RuleInput[] = [
    { type: 'loadByPeriod', period: 'P1M', includeFuture: false, tieredReplicants: { hot: 3 } },
    { type: 'loadForever', tieredReplicants: { cold: 1 } },
  ];
  t.same(want(r, '2020-06-01/2020-06-02'), { hot: 3 });
  t.same(want(r, '2020-07-01/2020-07-02'), { cold: 1 }, 'the future goes to the next rule');
});

t.test('loadByInterval matches overlapping segments only', async (t) => {
  const r: RuleInput[] = [{ type: 'loadByInterval', interval: '2019-01-01/2020-01-01', tieredReplicants: { archive: 1 } }];
  t.same(want(r, '2019-12-31/2020-01-02'), { archive: 1 });
  t.same(want(r, '2020-01-01/2020-01-02'), {});
});

t.test('drop rules: dropForever, dropByPeriod (with and without includeFuture), dropBeforeByPeriod', async (t) => {
  const keep: RuleInput = { type: 'loadForever', tieredReplicants: { hot: 1 } };
  t.same(want([{ type: 'dropForever' }, keep], '2020-06-01/2020-06-02'), {});
  t.same(want([{ type: 'dropByPeriod', period: 'P1D' }, keep], '2020-06-14/2020-06-15'), {}, 'dropByPeriod: within the day');
  t.same(want([{ type: 'dropByPeriod', period: 'P1D' }, keep], '2020-07-01/2020-07-02'), {}, 'dropByPeriod includeFuture: the future too');
  t.same(want([{ type: 'dropByPeriod', period: 'P1D', includeFuture: false }, keep], '2020-07-01/2020-07-02'), { hot: 1 }, 'not the future without includeFuture');
  t.same(want([{ type: 'dropByPeriod', period: 'P1D' }, keep], '2020-06-13/2020-06-14'), { hot: 1 }, 'older than the period: not matched');
  t.same(want([{ type: 'dropBeforeByPeriod', period: 'P7D' }, keep], '2020-06-01/2020-06-02'), {}, 'ends before now - 7 days');
  t.same(want([{ type: 'dropBeforeByPeriod', period: 'P7D' }, keep], '2020-06-10/2020-06-11'), { hot: 1 });
});

t.test('datasource rules first, then the defaults; no match means drop', async (t) => {
  const defaults: RuleInput[] = [{ type: 'loadByPeriod', period: 'P1Y', tieredReplicants: { cold: 1 } }];
  const own: RuleInput[] = [{ type: 'loadByPeriod', period: 'P7D', tieredReplicants: { hot: 2 } }];
  t.same(want(own, '2020-06-14/2020-06-15', defaults), { hot: 2 }, 'its own rule');
  t.same(want(own, '2020-01-01/2020-01-02', defaults), { cold: 1 }, 'falls through to the defaults');
  t.same(want(own, '2010-01-01/2010-01-02', defaults), {}, 'nothing matches');
  t.same(desiredReplicas({}, defaults.map(rule), seg('2020-06-01/2020-06-02', 'other'), NOW), { cold: 1 }, 'a datasource without rules');
});

t.test('the compiled matcher agrees with firstMatchingRule on random rules and segments', async (t) => {
  const seed = 20240601;
  const rnd = new Prng(seed);
  t.comment(`seed ${seed}`);
  const periods = ['PT1H', 'P1D', 'P7D', 'P1M', 'P3M', 'P1Y', 'P1M15D', 'PT36H'];
  const randomRule = (): Rule => {
    const tieredReplicants = { [rnd.pick(['hot', 'cold', DEFAULT_TIER])]: rnd.between(0, 3) };
    const a = NOW + rnd.between(-800, 100) * DAY_MS;
    switch (rnd.int(6)) {
      case 0:
        return rule({ type: 'loadForever', tieredReplicants });
      case 1:
        return rule({ type: 'loadByPeriod', period: rnd.pick(periods), includeFuture: rnd.chance(0.5), tieredReplicants });
      case 2:
        return rule({ type: 'loadByInterval', interval: `${new Date(a).toISOString()}/P${rnd.between(1, 90)}D`, tieredReplicants });
      case 3:
        return rule({ type: 'dropForever' });
      case 4:
        return rule({ type: 'dropByPeriod', period: rnd.pick(periods), includeFuture: rnd.chance(0.5) });
      default:
        return rule({ type: 'dropBeforeByPeriod', period: rnd.pick(periods) });
    }
  };
  let mismatches = 0;
  for (let c = 0; c < 300; c++) {
    const rules = { events: Array.from({ length: rnd.between(0, 3) }, randomRule) };
    const defaults = Array.from({ length: rnd.between(0, 2) }, randomRule);
    const now = NOW + rnd.between(-1000, 1000) * HOUR_MS;
    const book = new RuleBook(rules, defaults, ['_default_tier', 'cold', 'hot'], now);
    for (let k = 0; k < 50; k++) {
      const start = NOW + rnd.between(-900 * 24, 200 * 24) * HOUR_MS + (rnd.chance(0.2) ? rnd.int(HOUR_MS) : 0);
      const s = { dataSource: rnd.chance(0.8) ? 'events' : 'other', start, end: start + rnd.pick([1, HOUR_MS, DAY_MS, 40 * DAY_MS]) };
      const expected = firstMatchingRule(rules[s.dataSource as 'events'] ?? [], defaults, s, now);
      const got = book.wantsFor(s);
      // A load rule naming no replicas keeps nothing, like a drop rule.
      const expectedRule = expected !== null && 'tieredReplicants' in expected && Object.values(expected.tieredReplicants).some((n) => n > 0) ? expected : null;
      if ((got?.rule ?? null) !== expectedRule) mismatches++;
    }
  }
  t.equal(mismatches, 0, '15,000 segments, no mismatch');
});

t.test('the planner follows the rules: recent data on hot, older on cold, the rest dropped', async (t) => {
  const rules = {
    events: [
      rule({ type: 'loadByPeriod', period: 'P1D', tieredReplicants: { hot: 2 } }),
      rule({ type: 'loadByPeriod', period: 'P7D', tieredReplicants: { cold: 1 } }),
      rule({ type: 'dropForever' }),
    ],
  };
  const segments = makeSegments({ count: 10, intervalMs: DAY_MS });
  const workers = [...makeWorkers(2, { tier: 'hot' }), ...makeWorkers(2, { tier: 'cold' }).map((w, i) => ({ ...w, id: `c${i + 1}` }))];
  // Everything currently sits on both hot workers.
  const assignments = new Map(segments.map((s) => [s.id, ['w1', 'w2']]));
  const p = plan(allLoaded(makeInput({ segments, workers, rules, assignments })));
  const adds = (id: string) => p.assign.filter((a) => a.segmentId === id).map((a) => a.workerId);
  const drops = (id: string) => p.unassign.filter((a) => a.segmentId === id).map((a) => `${a.workerId}:${a.reason}`);
  const newest = segments[9]!.id;
  const week = segments[5]!.id;
  const old = segments[0]!.id;
  t.same(adds(newest), [], 'the last day stays on the two hot workers');
  t.same(drops(newest), []);
  t.equal(adds(week).length, 1, 'a segment of the last week gets one cold replica');
  t.ok(adds(week)[0]!.startsWith('c'));
  t.same(drops(week), [], 'its hot copies stay until the cold one is loaded');
  t.same(drops(old).sort(), ['w1:drop-rule', 'w2:drop-rule'], 'older segments are dropped');
  t.same(p.stats.underReplicated, 6, 'six segments of the last week lack their cold replica');
});

t.test('a load rule with no replicas drops the segment', async (t) => {
  const segments = makeSegments({ count: 2 });
  const assignments = new Map(segments.map((s) => [s.id, ['w1']]));
  const defaultRules = [rule({ type: 'loadForever', tieredReplicants: {}, allowEmptyTieredReplicants: true })];
  const p = plan(allLoaded(makeInput({ segments, workers: makeWorkers(2), assignments, defaultRules })));
  t.same(p.unassign.map((u) => u.reason), ['drop-rule', 'drop-rule']);
  t.same(p.assign, []);
});

t.test('rules naming a tier without workers: nothing to place, nothing dropped', async (t) => {
  const segments = makeSegments({ count: 2 });
  const p = plan(makeInput({ segments, workers: makeWorkers(2), defaultRules: [loadForever(2, 'ghost')] }));
  t.same(p.assign, []);
  t.equal(p.stats.unavailable, 2);
  t.equal(p.stats.unavailableUnplaced, 2);
});
