import t from 'tap';
import { QueryError } from './errors.js';
import { bucketingOf, durationBucketing, periodBucketing, timestampFormatter } from './granularity.js';
import { parseQuery } from './parse.js';
import type { Granularity, TimeseriesQuery } from './types.js';
import { ZoneOffsets } from './zone.js';

const H = 3_600_000;
const D = 86_400_000;
const granularity = (g: unknown): Granularity =>
  (parseQuery({ queryType: 'timeseries', dataSource: 'x', intervals: ['2020/2021'], granularity: g }) as TimeseriesQuery).granularity;

t.test('fixed granularities are integer arithmetic from an origin', async (t) => {
  const hour = bucketingOf(granularity('hour'))!;
  const t0 = Date.UTC(2024, 2, 10, 7, 30);
  t.equal(hour.bucketStart(t0), Date.UTC(2024, 2, 10, 7));
  t.same(hour.boundaries(t0, t0 + 2 * H), [Date.UTC(2024, 2, 10, 7), Date.UTC(2024, 2, 10, 8), Date.UTC(2024, 2, 10, 9), Date.UTC(2024, 2, 10, 10)]);
  t.same(hour.boundaries(Date.UTC(2024, 2, 10, 7), Date.UTC(2024, 2, 10, 8)), [Date.UTC(2024, 2, 10, 7), Date.UTC(2024, 2, 10, 8)], 'exact bounds');
  t.same(hour.boundaries(5, 5), []);
  const fifteen = bucketingOf(granularity('fifteen_minute'))!;
  t.equal(fifteen.bucketStart(Date.UTC(2024, 0, 1, 0, 44, 59)), Date.UTC(2024, 0, 1, 0, 30));
  const before1970 = durationBucketing(D, 0);
  t.equal(before1970.bucketStart(-1), -D, 'floors below the origin too');
  const shifted = bucketingOf(granularity({ type: 'duration', duration: 2 * H, origin: '2024-01-01T00:30:00Z' }))!;
  t.equal(shifted.bucketStart(Date.UTC(2024, 5, 1, 0, 29)), Date.UTC(2024, 4, 31, 22, 30));
});

t.test('weeks start on Monday; months, quarters and years on the calendar', async (t) => {
  const week = bucketingOf(granularity('week'))!;
  for (let d = 0; d < 30; d++) {
    const b = week.bucketStart(Date.UTC(2024, 2, 1 + d, 13));
    if (new Date(b).getUTCDay() !== 1 || b > Date.UTC(2024, 2, 1 + d, 13) || Date.UTC(2024, 2, 1 + d, 13) - b >= 7 * D) t.fail(`day ${d}: ${new Date(b).toISOString()}`);
  }
  t.equal(new Date(bucketingOf(granularity({ type: 'period', period: 'P1W', timeZone: 'Europe/Paris' }))!.bucketStart(Date.UTC(2024, 2, 7))).getUTCDay(), 0, 'Monday 00:00 in Paris is Sunday 23:00 UTC');
  const month = bucketingOf(granularity('month'))!;
  t.same(month.boundaries(Date.UTC(2024, 0, 31), Date.UTC(2024, 2, 2)), [Date.UTC(2024, 0, 1), Date.UTC(2024, 1, 1), Date.UTC(2024, 2, 1), Date.UTC(2024, 3, 1)]);
  const quarter = bucketingOf(granularity('quarter'))!;
  t.equal(quarter.bucketStart(Date.UTC(2024, 7, 15)), Date.UTC(2024, 6, 1));
  t.equal(quarter.bucketStart(Date.UTC(1969, 11, 31)), Date.UTC(1969, 9, 1));
  const year = bucketingOf(granularity('year'))!;
  t.equal(year.bucketStart(Date.UTC(2024, 11, 31, 23, 59)), Date.UTC(2024, 0, 1));
  const monthEnds = periodBucketing('P1M', 'UTC', Date.UTC(2024, 0, 31));
  t.same(monthEnds.boundaries(Date.UTC(2024, 1, 10), Date.UTC(2024, 2, 1)), [Date.UTC(2024, 0, 31), Date.UTC(2024, 1, 29), Date.UTC(2024, 2, 31)], 'Jan 31 + 1 month is Feb 29; + 2 months is Mar 31');
});

t.test('a day in New York across daylight-saving changes is 23 or 25 hours', async (t) => {
  const day = bucketingOf(granularity({ type: 'period', period: 'P1D', timeZone: 'America/New_York' }))!;
  const spring = day.boundaries(Date.UTC(2024, 2, 9, 12), Date.UTC(2024, 2, 11, 12));
  t.same(spring, [Date.UTC(2024, 2, 9, 5), Date.UTC(2024, 2, 10, 5), Date.UTC(2024, 2, 11, 4), Date.UTC(2024, 2, 12, 4)], 'midnight is 05:00Z in EST, 04:00Z in EDT');
  t.equal(spring[2]! - spring[1]!, 23 * H);
  const fall = day.boundaries(Date.UTC(2024, 10, 3, 12), Date.UTC(2024, 10, 3, 13));
  t.same(fall, [Date.UTC(2024, 10, 3, 4), Date.UTC(2024, 10, 4, 5)]);
  t.equal(fall[1]! - fall[0]!, 25 * H);
  const sixHours = bucketingOf(granularity({ type: 'period', period: 'PT6H', timeZone: 'America/New_York' }))!;
  t.same(sixHours.boundaries(Date.UTC(2024, 2, 10, 5), Date.UTC(2024, 2, 10, 17)), [Date.UTC(2024, 2, 10, 5), Date.UTC(2024, 2, 10, 10), Date.UTC(2024, 2, 10, 16), Date.UTC(2024, 2, 10, 22)], 'local 00:00, 06:00, 12:00, 18:00: the first bucket has 5 hours');
  const fmt = timestampFormatter(granularity({ type: 'period', period: 'P1D', timeZone: 'America/New_York' }));
  t.equal(fmt(Date.UTC(2024, 2, 10, 5)), '2024-03-10T00:00:00.000-05:00');
  t.equal(fmt(Date.UTC(2024, 2, 11, 4)), '2024-03-11T00:00:00.000-04:00');
});

t.test('half-hour zones and origins', async (t) => {
  const kolkata = bucketingOf(granularity({ type: 'period', period: 'PT1H', timeZone: 'Asia/Kolkata' }))!;
  t.equal(kolkata.bucketStart(Date.UTC(2024, 0, 1, 10, 10)), Date.UTC(2024, 0, 1, 9, 30));
  t.equal(timestampFormatter(granularity({ type: 'period', period: 'PT1H', timeZone: 'Asia/Kolkata' }))(Date.UTC(2024, 0, 1, 9, 30)), '2024-01-01T15:00:00.000+05:30');
  const origin = bucketingOf(granularity({ type: 'period', period: 'P1D', timeZone: 'America/Los_Angeles', origin: '1970-01-01T20:30:00-08:00' }))!;
  t.equal(origin.bucketStart(Date.UTC(2024, 0, 10, 12)), Date.UTC(2024, 0, 10, 4, 30), 'days start at 20:30 local');
  const twoDays = bucketingOf(granularity({ type: 'period', period: 'P2D', timeZone: 'UTC' }))!;
  t.equal(twoDays.bucketStart(Date.UTC(1970, 0, 4, 5)), Date.UTC(1970, 0, 3), 'multiples from 1970-01-01');
});

t.test('a bucket that would start in a daylight-saving gap starts when the clocks jump', async (t) => {
  // São Paulo moved clocks from 00:00 to 01:00 on 2018-11-04: that midnight never happened.
  const day = periodBucketing('P1D', 'America/Sao_Paulo', null);
  const start = day.bucketStart(Date.UTC(2018, 10, 4, 12));
  t.equal(start, Date.UTC(2018, 10, 4, 3), '01:00 local (-02:00) is 03:00Z');
  t.equal(ZoneOffsets.of('America/Sao_Paulo').formatInstant(start), '2018-11-04T01:00:00.000-02:00');
  const zone = ZoneOffsets.of('America/New_York');
  t.equal(zone.localToInstant(Date.UTC(2024, 10, 3, 1, 30)), Date.UTC(2024, 10, 3, 5, 30), 'an ambiguous local time is its earlier instant');
  t.equal(zone.offsetAt(Date.UTC(2024, 2, 10, 6, 59, 59, 999)), -5 * H);
  t.equal(zone.offsetAt(Date.UTC(2024, 2, 10, 7)), -4 * H);
});

t.test('too many buckets is a resource limit, not a hang', async (t) => {
  const second = bucketingOf(granularity('second'))!;
  t.throws(() => second.boundaries(0, 10 * D, 1000), QueryError);
  try {
    periodBucketing('PT1S', 'America/New_York', null).boundaries(0, 10 * D, 1000);
    t.fail('no error');
  } catch (err) {
    t.equal((err as QueryError).code, 'RESOURCE_LIMIT');
  }
});
