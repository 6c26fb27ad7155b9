/**
 * Which retention rule applies to a segment, with Druid's semantics. The coordinator walks a
 * datasource's rules, then the cluster default rules, and the first rule that matches decides:
 * a load rule says how many replicas per tier, a drop rule (or no match) says none.
 *
 * The matching conditions were checked against Druid's coordinator sources
 * (`server/.../coordinator/rules/Rules.java`, `PeriodLoadRule`, `PeriodDropRule`,
 * `PeriodDropBeforeRule`, `IntervalLoadRule`) and agree with the brief:
 * - `Rules.eligibleForLoad(period, interval, now, includeFuture)`: the window is
 *   `new Interval(period, now)` = [now - period, now]; with includeFuture it matches when
 *   `window.start < segment.end`, otherwise when the window overlaps the segment.
 * - `PeriodDropRule.appliesTo`: with includeFuture `window.start <= segment.start`, otherwise
 *   `window.contains(segment)`.
 * - `PeriodDropBeforeRule.appliesTo`: `segment.end <= now - period`.
 * - `IntervalLoadRule.appliesTo`: `rule.interval.overlaps(segment)`.
 * Druid's rule documentation words the includeFuture case loosely ("the period overlaps the
 * interval"); the code above is what we follow.
 */
import type { Rule } from './catalog-types.js';
import type { Interval, Period } from './time.js';
import { intervalContains, intervalsOverlap, parseInterval, parsePeriod, subtractPeriod } from './time.js';

/** Parsed periods and intervals per rule object, so that matching a million segments parses each rule once. */
const parsedPeriods = new WeakMap<object, Period>();
const parsedIntervals = new WeakMap<object, Interval>();

function periodOf(rule: Rule & { period: string }): Period {
  let p = parsedPeriods.get(rule);
  if (p === undefined) parsedPeriods.set(rule, (p = parsePeriod(rule.period)));
  return p;
}

function intervalOf(rule: Rule & { interval: string }): Interval {
  let i = parsedIntervals.get(rule);
  if (i === undefined) parsedIntervals.set(rule, (i = parseInterval(rule.interval)));
  return i;
}

/**
 * Whether `rule` applies to a segment covering `segment` (half-open, epoch ms) at time `now`.
 * @example ruleMatches({ type: 'dropBeforeByPeriod', period: 'P1D' }, { start: 0, end: 1 }, 86_400_001) === true
 */
export function ruleMatches(rule: Rule, segment: Interval, now: number): boolean {
  switch (rule.type) {
    case 'loadForever':
    case 'dropForever':
      return true;
    case 'loadByInterval':
      return intervalsOverlap(intervalOf(rule), segment);
    case 'loadByPeriod': {
      const window = { start: subtractPeriod(now, periodOf(rule)), end: now };
      return rule.includeFuture ? window.start < segment.end : intervalsOverlap(window, segment);
    }
    case 'dropByPeriod': {
      const window = { start: subtractPeriod(now, periodOf(rule)), end: now };
      return rule.includeFuture ? window.start <= segment.start : intervalContains(window, segment);
    }
    case 'dropBeforeByPeriod':
      return segment.end <= subtractPeriod(now, periodOf(rule));
  }
}

/**
 * The rule that decides a segment's fate: the datasource's own rules first, then the cluster
 * default rules; the first match wins. `null` means no rule matched, which means drop.
 */
export function firstMatchingRule(rules: readonly Rule[], defaultRules: readonly Rule[], segment: Interval, now: number): Rule | null {
  for (const rule of rules) if (ruleMatches(rule, segment, now)) return rule;
  for (const rule of defaultRules) if (ruleMatches(rule, segment, now)) return rule;
  return null;
}
