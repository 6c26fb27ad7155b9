/**
 * Rules to replicas: how many replicas of a segment each tier should hold, with Druid's
 * semantics (`firstMatchingRule` in @cairn/shared: the datasource's rules, then the default
 * rules, first match wins; a drop rule or no match means none).
 *
 * A cycle evaluates the rules for every used segment, so each rule is compiled once per cycle
 * against `now` into a comparison of the segment's bounds with one or two numbers: no period
 * arithmetic and no allocation per segment. `replicas.test.ts` checks the compiled matcher
 * against `ruleMatches` on random rules and segments.
 */
import { DEFAULT_RULES_KEY, isLoadRule, parseInterval, parsePeriod, subtractPeriod, type Interval, type Rule } from '@cairn/shared';

/** How a compiled rule compares a segment [start, end) with its bounds `lo`, `hi`. */
const Match = {
  Always: 0,
  /** The segment overlaps [lo, hi). */
  Overlaps: 1,
  /** lo < segment end. */
  EndsAfter: 2,
  /** lo <= segment start. */
  StartsFrom: 3,
  /** [lo, hi] contains the (non-empty) segment. */
  Within: 4,
  /** segment end <= lo. */
  EndsBy: 5,
} as const;
type Match = (typeof Match)[keyof typeof Match];

interface Compiled {
  readonly match: Match;
  readonly lo: number;
  readonly hi: number;
  /** Index into `RuleBook.wants`: -1 for a drop rule. */
  readonly want: number;
}

/** Replicas per tier index of a load rule that wants at least one. */
export interface TierWants {
  readonly perTier: Int32Array;
  readonly total: number;
  readonly rule: Rule;
}

function compile(rule: Rule, now: number): Omit<Compiled, 'want'> {
  switch (rule.type) {
    case 'loadForever':
    case 'dropForever':
      return { match: Match.Always, lo: 0, hi: 0 };
    case 'loadByInterval': {
      const i = parseInterval(rule.interval);
      return { match: Match.Overlaps, lo: i.start, hi: i.end };
    }
    case 'loadByPeriod': {
      const lo = subtractPeriod(now, parsePeriod(rule.period));
      return rule.includeFuture ? { match: Match.EndsAfter, lo, hi: 0 } : { match: Match.Overlaps, lo, hi: now };
    }
    case 'dropByPeriod': {
      const lo = subtractPeriod(now, parsePeriod(rule.period));
      return rule.includeFuture ? { match: Match.StartsFrom, lo, hi: 0 } : { match: Match.Within, lo, hi: now };
    }
    case 'dropBeforeByPeriod':
      return { match: Match.EndsBy, lo: subtractPeriod(now, parsePeriod(rule.period)), hi: 0 };
  }
}

function matches(c: Compiled, start: number, end: number): boolean {
  switch (c.match) {
    case Match.Always:
      return true;
    case Match.Overlaps:
      return c.lo < end && start < c.hi;
    case Match.EndsAfter:
      return c.lo < end;
    case Match.StartsFrom:
      return c.lo <= start;
    case Match.Within:
      return c.lo <= start && end <= c.hi && start < c.hi;
    case Match.EndsBy:
      return end <= c.lo;
  }
}

/** Every tier a rule list names. */
export function tiersNamedBy(rules: readonly Rule[]): string[] {
  const out: string[] = [];
  for (const r of rules) if (isLoadRule(r)) out.push(...Object.keys(r.tieredReplicants));
  return out;
}

/**
 * The rules of every datasource compiled against one `now` and one tier numbering.
 * @example new RuleBook({}, [{ type: 'loadForever', tieredReplicants: { hot: 2 } }], ['hot'], now).wantsFor(segment)?.total === 2
 */
export class RuleBook {
  /** Distinct load rules' wants; a segment refers to one by index. */
  readonly wants: TierWants[] = [];
  private readonly byDatasource = new Map<string, readonly Compiled[]>();
  private readonly defaults: readonly Compiled[];
  private readonly wantOfRule = new Map<Rule, number>();

  constructor(
    rules: Readonly<Record<string, readonly Rule[]>>,
    defaultRules: readonly Rule[],
    private readonly tiers: readonly string[],
    private readonly now: number,
  ) {
    this.defaults = defaultRules.map((r) => this.compileOne(r));
    for (const ds of Object.keys(rules).sort()) {
      if (ds === DEFAULT_RULES_KEY) continue;
      this.byDatasource.set(ds, [...rules[ds]!.map((r) => this.compileOne(r)), ...this.defaults]);
    }
  }

  private compileOne(rule: Rule): Compiled {
    let want = -1;
    // A load rule naming no replicas (allowEmptyTieredReplicants) keeps nothing loaded: a drop.
    if (isLoadRule(rule) && Object.values(rule.tieredReplicants).some((n) => n > 0)) {
      const known = this.wantOfRule.get(rule);
      if (known !== undefined) want = known;
      else {
        const perTier = new Int32Array(this.tiers.length);
        let total = 0;
        for (const [tier, n] of Object.entries(rule.tieredReplicants)) {
          const t = this.tiers.indexOf(tier);
          if (t < 0) throw new RangeError(`tier ${tier} of a rule is missing from the tier list`);
          perTier[t] = n;
          total += n;
        }
        want = this.wants.length;
        this.wants.push({ perTier, total, rule });
        this.wantOfRule.set(rule, want);
      }
    }
    return { ...compile(rule, this.now), want };
  }

  /** The index into `wants` of the rule deciding this segment, or -1 when it is to be dropped. */
  wantIndex(dataSource: string, start: number, end: number): number {
    const list = this.byDatasource.get(dataSource) ?? this.defaults;
    for (let i = 0; i < list.length; i++) {
      const c = list[i]!;
      if (matches(c, start, end)) return c.want;
    }
    return -1;
  }

  /** The wants of the rule deciding `segment`, or null when it is to be dropped (no rule, or a drop rule). */
  wantsFor(segment: Interval & { dataSource: string }): TierWants | null {
    const w = this.wantIndex(segment.dataSource, segment.start, segment.end);
    return w < 0 ? null : this.wants[w]!;
  }
}

/**
 * Replicas per tier that the rules want for one segment at `now`; `{}` means drop it.
 * A convenience over `RuleBook` for callers that look at one segment.
 * @example desiredReplicas({}, [{ type: 'loadForever', tieredReplicants: { _default_tier: 2 } }], seg, now) // { _default_tier: 2 }
 */
export function desiredReplicas(
  rules: Readonly<Record<string, readonly Rule[]>>,
  defaultRules: readonly Rule[],
  segment: Interval & { dataSource: string },
  now: number,
): Record<string, number> {
  const tiers = [...new Set([...tiersNamedBy(defaultRules), ...Object.values(rules).flatMap(tiersNamedBy)])].sort();
  const wants = new RuleBook(rules, defaultRules, tiers, now).wantsFor(segment);
  const out: Record<string, number> = {};
  if (wants !== null) tiers.forEach((t, i) => wants.perTier[i]! > 0 && (out[t] = wants.perTier[i]!));
  return out;
}
