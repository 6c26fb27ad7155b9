import t from 'tap';
import {
  addPeriod,
  civilFromDays,
  daysFromCivil,
  formatInstant,
  formatInterval,
  formatPeriod,
  INSTANT_MAX,
  INSTANT_MIN,
  intervalContains,
  intervalsOverlap,
  parseInstant,
  parseInterval,
  parsePeriod,
  subtractPeriod,
} from './time.js';

t.test('parseInstant accepts the ISO forms Druid uses', async (t) => {
  const jan1 = Date.UTC(2020, 0, 1);
  t.equal(parseInstant('2020-01-01'), jan1);
  t.equal(parseInstant('2020-01'), jan1);
  t.equal(parseInstant('2020'), jan1);
  t.equal(parseInstant('2020-01-01T00:00Z'), jan1);
  t.equal(parseInstant('2020-01-01T00Z'), jan1);
  t.equal(parseInstant('2020-01-01T00:00:00.000Z'), jan1);
  t.equal(parseInstant('2020-01-01T00:00:00'), jan1, 'no zone means UTC');
  t.equal(parseInstant('2020-01-01T02:00:00+02:00'), jan1);
  t.equal(parseInstant('2020-01-01T02:00:00+0200'), jan1);
  t.equal(parseInstant('2019-12-31T22:30:00-01:30'), jan1);
  t.equal(parseInstant('2020-01-01T00:00:00.5Z'), jan1 + 500);
  t.equal(parseInstant('2020-01-01T00:00:00.123456789Z'), jan1 + 123, 'sub-millisecond digits are truncated');
  t.equal(parseInstant('2020-02-29T23:59:59.999Z'), Date.UTC(2020, 1, 29, 23, 59, 59, 999));
  t.equal(parseInstant('1969-12-31T23:59:59.999Z'), -1);
});

t.test('parseInstant rejects bad input with a TypeError naming it', async (t) => {
  for (const bad of ['', '20', '2020-1-1', '2020-01T00:00Z', '2020-13-01', '2019-02-29', '2020-01-32', '2020-01-01T24:00Z', '2020-01-01T00:60Z', '2020-01-01Z', '2020-01-01T00:00+24:00', 'yesterday', ' 2020-01-01']) {
    t.throws(() => parseInstant(bad), { name: 'TypeError', message: new RegExp(JSON.stringify(bad).replace(/[+.]/g, '\\$&')) }, bad);
  }
  t.throws(() => parseInstant(42 as unknown as string), TypeError);
});

t.test('formatInstant round-trips and matches Date#toISOString', async (t) => {
  t.equal(formatInstant(0), '1970-01-01T00:00:00.000Z');
  t.equal(formatInstant(-1), '1969-12-31T23:59:59.999Z');
  t.equal(formatInstant(INSTANT_MIN), '0000-01-01T00:00:00.000Z');
  t.equal(formatInstant(INSTANT_MAX), '9999-12-31T23:59:59.999Z');
  t.throws(() => formatInstant(INSTANT_MAX + 1), TypeError);
  t.throws(() => formatInstant(1.5), TypeError);
  let x = 12345;
  for (let i = 0; i < 5000; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    const ms = Math.floor((x / 2147483648) * (Date.UTC(9000, 0, 1) - Date.UTC(1000, 0, 1))) + Date.UTC(1000, 0, 1);
    const iso = formatInstant(ms);
    if (iso !== new Date(ms).toISOString() || parseInstant(iso) !== ms) t.fail(`${ms}: ${iso}`);
  }
  t.pass('5000 random instants');
});

t.test('civil date conversion agrees with Date.UTC on every day of four centuries', async (t) => {
  for (let d = daysFromCivil(1900, 1, 1); d < daysFromCivil(2300, 1, 1); d++) {
    const [y, m, day] = civilFromDays(d);
    if (Date.UTC(y, m - 1, day) !== d * 86_400_000 || daysFromCivil(y, m, day) !== d) t.fail(`day ${d}`);
  }
  t.pass('ok');
});

t.test('parsePeriod and formatPeriod', async (t) => {
  t.same(parsePeriod('P1Y2M3DT4H5M6S'), { years: 1, months: 2, weeks: 0, days: 3, hours: 4, minutes: 5, seconds: 6, millis: 0 });
  t.same(parsePeriod('PT0.5S'), { years: 0, months: 0, weeks: 0, days: 0, hours: 0, minutes: 0, seconds: 0, millis: 500 });
  t.equal(parsePeriod('P2W').weeks, 2);
  t.equal(parsePeriod('PT1H').hours, 1);
  t.equal(parsePeriod('P1M').months, 1);
  t.equal(parsePeriod('PT1M').minutes, 1);
  for (const p of ['P1D', 'PT1H', 'P1M', 'P1Y', 'P2W', 'P1Y2M3DT4H5M6S', 'PT0.5S', 'PT1.25S']) t.equal(formatPeriod(parsePeriod(p)), p);
  for (const bad of ['', 'P', 'PT', 'P1DT', '1D', 'P-1D', 'P1.5D', 'PT0.0001S', 'P1H', 'PT1D', 'P1D1Y', 'p1d']) {
    t.throws(() => parsePeriod(bad), { name: 'TypeError', message: new RegExp(`"${bad.replace(/[.]/g, '\\.')}"`) }, bad);
  }
});

t.test('period arithmetic is calendar-correct in UTC', async (t) => {
  const at = (s: string): number => parseInstant(s);
  const p = parsePeriod;
  t.equal(formatInstant(subtractPeriod(at('2021-03-31'), p('P1M'))), '2021-02-28T00:00:00.000Z', 'a month back from March 31');
  t.equal(formatInstant(subtractPeriod(at('2020-03-31'), p('P1M'))), '2020-02-29T00:00:00.000Z', 'leap year');
  t.equal(formatInstant(addPeriod(at('2020-01-31T10:00'), p('P1M'))), '2020-02-29T10:00:00.000Z');
  t.equal(formatInstant(addPeriod(at('2020-02-29'), p('P1Y'))), '2021-02-28T00:00:00.000Z');
  t.equal(formatInstant(addPeriod(at('2020-02-29'), p('P1Y1M'))), '2021-03-28T00:00:00.000Z', 'years then months, as Joda');
  t.equal(formatInstant(addPeriod(at('2020-12-15'), p('P1M'))), '2021-01-15T00:00:00.000Z');
  t.equal(formatInstant(subtractPeriod(at('2020-01-15'), p('P1M'))), '2019-12-15T00:00:00.000Z');
  t.equal(formatInstant(addPeriod(at('2020-01-01'), p('P2W'))), '2020-01-15T00:00:00.000Z');
  t.equal(formatInstant(addPeriod(at('2020-01-01'), p('P1Y2M3DT4H5M6.5S'))), '2021-03-04T04:05:06.500Z');
  t.equal(addPeriod(1000, p('PT0.5S'), 2), 2000);
});

t.test('parseInterval', async (t) => {
  const day = { start: Date.UTC(2020, 0, 1), end: Date.UTC(2020, 0, 2) };
  t.same(parseInterval('2020-01-01/2020-01-02'), day);
  t.same(parseInterval('2020-01-01T00:00:00.000Z_2020-01-02T00:00:00.000Z'), day, 'underscore as in Druid paths');
  t.same(parseInterval('2020-01-01/P1D'), day);
  t.same(parseInterval('P1D/2020-01-02'), day);
  t.same(parseInterval('2020-01-01T01:00+01:00/2020-01-02'), day);
  t.same(parseInterval('2020/2021'), { start: day.start, end: Date.UTC(2021, 0, 1) });
  t.same(parseInterval('2020-01-01/2020-01-01'), { start: day.start, end: day.start }, 'empty is allowed');
  t.equal(formatInterval(day), '2020-01-01T00:00:00.000Z/2020-01-02T00:00:00.000Z');
  for (const bad of ['2020-01-02/2020-01-01', '2020-01-01', '2020-01-01/', 'P1D/P1D', '2020-1/2021', 'a/b', '2020-01-01/2020-01-02/2020-01-03']) {
    t.throws(() => parseInterval(bad), { name: 'TypeError', message: new RegExp(`"${bad}"`) }, bad);
  }
});

t.test('overlap and containment are half-open', async (t) => {
  const i = (start: number, end: number) => ({ start, end });
  t.ok(intervalsOverlap(i(0, 10), i(9, 20)));
  t.notOk(intervalsOverlap(i(0, 10), i(10, 20)), 'touching is not overlapping');
  t.ok(intervalContains(i(0, 10), i(0, 10)));
  t.ok(intervalContains(i(0, 10), i(2, 3)));
  t.notOk(intervalContains(i(0, 10), i(5, 11)));
});
