import t from 'tap';
import { ruleSchema, type Rule, type RuleInput } from './catalog-types.js';
import { firstMatchingRule, ruleMatches } from './rules.js';
import { parseInstant, parseInterval } from './time.js';

const rule = (r: RuleInput): Rule => ruleSchema.parse(r);
const seg = (text: string) => parseInterval(text);
const now = parseInstant('2020-06-15T00:00:00Z');

t.test('forever rules always match', async (t) => {
  t.ok(ruleMatches(rule({ type: 'loadForever' }), seg('1000-01-01/1000-01-02'), now));
  t.ok(ruleMatches(rule({ type: 'dropForever' }), seg('3000-01-01/3000-01-02'), now));
});

t.test('loadByInterval matches when the intervals overlap (half-open)', async (t) => {
  const r = rule({ type: 'loadByInterval', interval: '2020-01-01/2020-02-01' });
  t.ok(ruleMatches(r, seg('2020-01-31/2020-02-02'), now));
  t.ok(ruleMatches(r, seg('2019-12-01/2020-03-01'), now), 'segment covering the rule');
  t.notOk(ruleMatches(r, seg('2020-02-01/2020-02-02'), now), 'starts at the rule end');
  t.notOk(ruleMatches(r, seg('2019-12-31/2020-01-01'), now), 'ends at the rule start');
});

t.test('loadByPeriod: window [now - period, now]', async (t) => {
  const future = rule({ type: 'loadByPeriod', period: 'P1M' });
  t.equal(future.type === 'loadByPeriod' && future.includeFuture, true, 'includeFuture defaults to true');
  // window start = 2020-05-15
  t.ok(ruleMatches(future, seg('2020-05-14/2020-05-16'), now), 'straddles the window start');
  t.ok(ruleMatches(future, seg('2020-07-01/2020-07-02'), now), 'the future, with includeFuture');
  t.notOk(ruleMatches(future, seg('2020-05-14/2020-05-15'), now), 'ends exactly at the window start');
  const past = rule({ type: 'loadByPeriod', period: 'P1M', includeFuture: false });
  t.ok(ruleMatches(past, seg('2020-06-14/2020-06-16'), now), 'straddles now');
  t.notOk(ruleMatches(past, seg('2020-07-01/2020-07-02'), now), 'the future, without includeFuture');
  t.notOk(ruleMatches(past, seg('2020-06-15/2020-06-16'), now), 'starts exactly at now: no overlap');
});

t.test('loadByPeriod uses calendar months: a month back from March 31 is February 29', async (t) => {
  const r = rule({ type: 'loadByPeriod', period: 'P1M' });
  const march31 = parseInstant('2020-03-31T12:00Z');
  t.ok(ruleMatches(r, seg('2020-02-29T12:00/2020-02-29T13:00'), march31));
  t.notOk(ruleMatches(r, seg('2020-02-29T11:00/2020-02-29T12:00'), march31));
});

t.test('dropByPeriod', async (t) => {
  const future = rule({ type: 'dropByPeriod', period: 'P1D' });
  // window start = 2020-06-14
  t.ok(ruleMatches(future, seg('2020-06-14/2020-06-15'), now), 'starts at the window start');
  t.ok(ruleMatches(future, seg('2020-07-01/2020-07-02'), now), 'the future');
  t.notOk(ruleMatches(future, seg('2020-06-13T23:00/2020-06-14T01:00'), now), 'starts before the window');
  const past = rule({ type: 'dropByPeriod', period: 'P1D', includeFuture: false });
  t.ok(ruleMatches(past, seg('2020-06-14/2020-06-15'), now), 'contained in the window');
  t.notOk(ruleMatches(past, seg('2020-06-14/2020-06-15T00:00:00.001'), now), 'reaches past now');
});

t.test('dropBeforeByPeriod matches segments that end by now - period', async (t) => {
  const r = rule({ type: 'dropBeforeByPeriod', period: 'P1D' });
  t.ok(ruleMatches(r, seg('2020-06-13/2020-06-14'), now));
  t.notOk(ruleMatches(r, seg('2020-06-13/2020-06-14T00:00:00.001'), now));
});

t.test('firstMatchingRule: datasource rules, then defaults, else drop', async (t) => {
  const keepMonth = rule({ type: 'loadByPeriod', period: 'P1M', tieredReplicants: { hot: 2 } });
  const dropAll = rule({ type: 'dropForever' });
  const defaults = [rule({ type: 'loadForever', tieredReplicants: { cold: 1 } })];
  const recent = seg('2020-06-01/2020-06-02');
  const old = seg('2019-01-01/2019-01-02');
  t.equal(firstMatchingRule([keepMonth, dropAll], defaults, recent, now), keepMonth);
  t.equal(firstMatchingRule([keepMonth, dropAll], defaults, old, now), dropAll);
  t.equal(firstMatchingRule([keepMonth], defaults, old, now), defaults[0], 'falls through to the defaults');
  t.equal(firstMatchingRule([keepMonth], [], old, now), null, 'no match means drop');
});
