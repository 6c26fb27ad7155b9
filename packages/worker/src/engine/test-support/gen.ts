/**
 * Random Druid query pieces for the differential tests, each with its SQL meaning for DuckDB:
 * filters (under SQL three-valued logic, as Druid evaluates them), aggregators, post-
 * aggregators, intervals and granularities (with a time-bucket oracle written independently of
 * the engine's, from `Date.UTC` and `Intl`).
 */
import type { Rng } from './rng.js';
import { A_VALUES, B_EXTRA, N_VALUES, type Table } from './table.js';

type Json = Record<string, unknown>;

export const STRING_COLUMNS = ['a', 'b', 'c', 'n'];
const NUMERIC_COLUMNS = ['l', 'd', 'k'];

export function lit(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}
export function col(name: string): string {
  return `"${name}"`;
}

function existing(rng: Rng, table: Table, column: string): string | null {
  const r = rng.pick(table.rows);
  return r[column] as string | null;
}

function someString(rng: Rng, table: Table, column: string): string {
  for (let i = 0; i < 5; i++) {
    const v = existing(rng, table, column);
    if (v !== null && !rng.chance(0.1)) return v;
  }
  return rng.pick(['nope', 'b1', 'u1', 'x', '', ...B_EXTRA, ...A_VALUES]);
}

function numberLit(rng: Rng): number {
  return rng.pick([-3, 0, 1, 2, 2.5, 7, 10, 50, 99, 100, 250, -250]);
}

/** A random filter (Druid JSON) and its SQL. */
export function randomFilter(rng: Rng, table: Table, depth = 0): { json: Json; sql: string } {
  const r = rng.next();
  if (depth < 2 && r < 0.25) {
    const type = rng.pick(['and', 'or', 'not'] as const);
    if (type === 'not') {
      const f = randomFilter(rng, table, depth + 1);
      return { json: { type: 'not', field: f.json }, sql: `(NOT ${f.sql})` };
    }
    const parts = Array.from({ length: rng.int(1, 4) }, () => randomFilter(rng, table, depth + 1));
    return {
      json: { type, fields: parts.map((p) => p.json) },
      sql: `(${parts.map((p) => p.sql).join(type === 'and' ? ' AND ' : ' OR ')})`,
    };
  }
  return randomLeaf(rng, table);
}

function numericCase(column: string, castExpr: string, cond: (x: string) => string, whenNull: string, whenNotNumber: string): string {
  return `(CASE WHEN ${col(column)} IS NULL THEN ${whenNull} WHEN ${castExpr} IS NULL THEN ${whenNotNumber} ELSE ${cond(castExpr)} END)`;
}

function bounds(x: string, lower: string | number | null, lowerOpen: boolean, upper: string | number | null, upperOpen: boolean, render: (v: string | number) => string): string {
  const parts: string[] = [];
  if (lower !== null) parts.push(`${x} ${lowerOpen ? '>' : '>='} ${render(lower)}`);
  if (upper !== null) parts.push(`${x} ${upperOpen ? '<' : '<='} ${render(upper)}`);
  return `(${parts.join(' AND ')})`;
}

export function randomLeaf(rng: Rng, table: Table): { json: Json; sql: string } {
  const kind = rng.int(0, 17);
  const sc = rng.pick(STRING_COLUMNS.slice(0, 3));
  switch (kind) {
    case 0: {
      const v = rng.chance(0.15) ? null : someString(rng, table, sc);
      return { json: { type: 'selector', dimension: sc, value: v }, sql: v === null ? `(${col(sc)} IS NULL)` : `(${col(sc)} = ${lit(v)})` };
    }
    case 1: {
      const values: (string | null)[] = rng.some([0, 1, 2, 3], 1).flatMap((k) => Array.from({ length: k }, () => someString(rng, table, sc)));
      const withNull = rng.chance(0.3);
      if (withNull) values.push(null);
      const nonNull = values.filter((v): v is string => v !== null);
      const base = nonNull.length > 0 ? `${col(sc)} IN (${nonNull.map(lit).join(', ')})` : `CASE WHEN ${col(sc)} IS NULL THEN NULL ELSE FALSE END`;
      return { json: { type: 'in', dimension: sc, values }, sql: withNull ? `(${col(sc)} IS NULL OR ${base})` : `(${base})` };
    }
    case 2: {
      const lower = rng.chance(0.7) ? someString(rng, table, sc) : null;
      const upper = lower === null || rng.chance(0.6) ? someString(rng, table, sc) : null;
      const lowerStrict = rng.chance(0.5);
      const upperStrict = rng.chance(0.5);
      const cond = bounds(col(sc), lower, lowerStrict, upper, upperStrict, (v) => lit(String(v)));
      return {
        json: { type: 'bound', dimension: sc, lower, upper, lowerStrict, upperStrict, ordering: rng.pick(['lexicographic', undefined]) },
        sql: lower === null ? `(${col(sc)} IS NULL OR ${cond})` : cond,
      };
    }
    case 3: {
      // Numeric bound on numbers written as text: non-numbers sort before every number.
      const lower = rng.chance(0.7) ? numberLit(rng) : null;
      const upper = lower === null || rng.chance(0.6) ? numberLit(rng) : null;
      const lowerStrict = rng.chance(0.5);
      const upperStrict = rng.chance(0.5);
      const cast = `TRY_CAST(${col('n')} AS DOUBLE)`;
      return {
        json: { type: 'bound', dimension: 'n', lower: lower === null ? null : String(lower), upper: upper === null ? null : String(upper), lowerStrict, upperStrict, ordering: 'numeric' },
        sql: numericCase('n', cast, (x) => bounds(x, lower, lowerStrict, upper, upperStrict, String), lower === null ? 'TRUE' : 'NULL', lower === null ? 'TRUE' : 'FALSE'),
      };
    }
    case 4: {
      const m = rng.pick(NUMERIC_COLUMNS);
      const lower = rng.chance(0.7) ? numberLit(rng) : null;
      const upper = lower === null || rng.chance(0.6) ? numberLit(rng) : null;
      const lowerStrict = rng.chance(0.5);
      const upperStrict = rng.chance(0.5);
      const cond = bounds(col(m), lower, lowerStrict, upper, upperStrict, String);
      return {
        json: { type: 'bound', dimension: m, lower, upper, lowerStrict, upperStrict, ordering: 'numeric' },
        sql: lower === null ? `(${col(m)} IS NULL OR ${cond})` : cond,
      };
    }
    case 5: {
      const lower = rng.chance(0.7) ? someString(rng, table, sc) : null;
      const upper = lower === null || rng.chance(0.6) ? someString(rng, table, sc) : null;
      const lowerOpen = rng.chance(0.5);
      const upperOpen = rng.chance(0.5);
      return {
        json: { type: 'range', column: sc, matchValueType: 'STRING', lower, upper, lowerOpen, upperOpen },
        sql: bounds(col(sc), lower, lowerOpen, upper, upperOpen, (v) => lit(String(v))),
      };
    }
    case 6: {
      const target = rng.pick(['n', 'l', 'd']);
      const type = rng.pick(['LONG', 'DOUBLE']);
      const lower = rng.chance(0.7) ? numberLit(rng) : null;
      const upper = lower === null || rng.chance(0.6) ? numberLit(rng) : null;
      const lowerOpen = rng.chance(0.5);
      const upperOpen = rng.chance(0.5);
      const json = { type: 'range', column: target, matchValueType: type, lower, upper, lowerOpen, upperOpen };
      if (target === 'n') {
        const cast = `TRY_CAST(${col('n')} AS DOUBLE)`;
        return { json, sql: numericCase('n', cast, (x) => bounds(x, lower, lowerOpen, upper, upperOpen, String), 'NULL', 'FALSE') };
      }
      return { json, sql: bounds(col(target), lower, lowerOpen, upper, upperOpen, String) };
    }
    case 7: {
      if (rng.chance(0.5)) {
        const v = someString(rng, table, sc);
        return { json: { type: 'equals', column: sc, matchValueType: 'STRING', matchValue: v }, sql: `(${col(sc)} = ${lit(v)})` };
      }
      const v = rng.pick([1, 2, 10, 7, 100, -3]);
      if (rng.chance(0.5)) {
        return {
          json: { type: 'equals', column: 'n', matchValueType: 'LONG', matchValue: v },
          sql: numericCase('n', `TRY_CAST(${col('n')} AS DOUBLE)`, (x) => `(${x} = ${v})`, 'NULL', 'FALSE'),
        };
      }
      return { json: { type: 'equals', column: 'l', matchValueType: 'LONG', matchValue: v }, sql: `(${col('l')} = ${v})` };
    }
    case 8: {
      const c = rng.pick([...STRING_COLUMNS, 'l', 'd']);
      return { json: { type: 'null', column: c }, sql: `(${col(c)} IS NULL)` };
    }
    case 9: {
      const [c, p] = rng.pick([
        ['b', '^b1'],
        ['b', '5$'],
        ['b', 'b.2'],
        ['b', 'é'],
        ['c', '^u1'],
        ['c', '7'],
        ['a', '^[xy]$'],
      ] as const);
      return { json: { type: 'regex', dimension: c, pattern: p }, sql: `regexp_matches(${col(c)}, ${lit(p)})` };
    }
    case 10: {
      const [c, p] = rng.pick([
        ['b', 'b1%'],
        ['b', '%5'],
        ['c', 'u_2%'],
        ['b', '%é%'],
        ['a', '_'],
        ['a', ''],
        ['b', "o'%"],
      ] as const);
      return { json: { type: 'like', dimension: c, pattern: p }, sql: `(${col(c)} LIKE ${lit(p)})` };
    }
    case 11: {
      const needle = rng.pick(['B1', 'b2', 'U3', 'x']);
      const c = rng.pick(['a', 'b', 'c']);
      return {
        json: { type: 'search', dimension: c, query: { type: 'insensitive_contains', value: needle } },
        sql: `contains(lower(${col(c)}), ${lit(needle.toLowerCase())})`,
      };
    }
    case 12: {
      const spans = Array.from({ length: rng.int(1, 3) }, () => {
        const s = table.start + rng.int(0, table.end - table.start);
        return [s, s + rng.int(1, 40 * 3_600_000)] as const;
      });
      return {
        json: { type: 'interval', dimension: '__time', intervals: spans.map(([s, e]) => `${new Date(s).toISOString()}/${new Date(e).toISOString()}`) },
        sql: `(${spans.map(([s, e]) => `(${col('__time')} >= ${s} AND ${col('__time')} < ${e})`).join(' OR ')})`,
      };
    }
    case 13: {
      const lower = table.start + rng.int(0, table.end - table.start);
      const upper = lower + rng.int(0, 3 * 86_400_000);
      const lowerStrict = rng.chance(0.5);
      const upperStrict = rng.chance(0.5);
      return {
        json: { type: 'bound', dimension: '__time', lower: String(lower), upper: String(upper), lowerStrict, upperStrict, ordering: 'numeric' },
        sql: bounds(col('__time'), lower, lowerStrict, upper, upperStrict, String),
      };
    }
    case 14: {
      const v = String(rng.pick([1, 7, 100, -3, 0]));
      return { json: { type: 'selector', dimension: 'l', value: v }, sql: `(${col('l')} = ${v})` };
    }
    case 15:
      return rng.chance(0.5) ? { json: { type: 'true' }, sql: 'TRUE' } : { json: { type: 'false' }, sql: 'FALSE' };
    default: {
      const v = rng.pick(N_VALUES);
      return { json: { type: 'selector', dimension: 'n', value: v }, sql: `(${col('n')} = ${lit(v)})` };
    }
  }
}

/** An aggregator with its SQL; `approx` marks the ones checked within a tolerance. */
export interface AggGen {
  json: Json;
  sql: string;
  approx: 'hll' | 'sketch' | null;
}

export function randomExactAggregator(rng: Rng, table: Table, name: string, allowFiltered = true): AggGen {
  const r = rng.int(0, allowFiltered ? 11 : 9);
  const simple = (type: string, field: string, fn: string, expr = col(field)) => ({ json: { type, name, fieldName: field }, sql: `${fn}(${expr})`, approx: null });
  switch (r) {
    case 0:
      return { json: { type: 'count', name }, sql: 'count(*)', approx: null };
    case 1:
      return simple('longSum', 'l', 'sum');
    case 2:
      return simple('doubleSum', 'd', 'sum');
    case 3:
      return simple('longMin', 'l', 'min');
    case 4:
      return simple('longMax', rng.pick(['l', 'k']), 'max');
    case 5:
      return simple('doubleMin', 'd', 'min');
    case 6:
      return simple('doubleMax', 'd', 'max');
    case 7:
      return simple('longSum', 'd', 'sum', `trunc(${col('d')})`);
    case 8:
      return simple('doubleSum', rng.pick(['l', 'k']), 'sum');
    default: {
      const inner = randomExactAggregator(rng, table, `${name}_inner`, false);
      const f = randomFilter(rng, table, 1);
      return { json: { type: 'filtered', name, filter: f.json, aggregator: inner.json }, sql: `${inner.sql} FILTER (WHERE ${f.sql})`, approx: null };
    }
  }
}

export function randomApproxAggregator(rng: Rng, name: string, grouped: boolean): AggGen {
  const r = rng.int(0, grouped ? 3 : 6);
  switch (r) {
    case 0: {
      const c = rng.pick(['a', 'b', 'c', 'n']);
      return { json: { type: 'cardinality', name, fields: [c] }, sql: `count(DISTINCT ${col(c)})`, approx: 'hll' };
    }
    case 1:
      return { json: { type: 'hyperUnique', name, fieldName: 'c' }, sql: `count(DISTINCT ${col('c')})`, approx: 'hll' };
    case 2:
      return { json: { type: 'quantilesDoublesSketch', name, fieldName: 'd', k: 128 }, sql: `count(${col('d')})`, approx: 'sketch' };
    case 3:
      return {
        json: { type: 'cardinality', name, fields: ['b', 'c'], byRow: false },
        sql: `len(list_distinct(list_concat(list(${col('b')}), list(${col('c')}))))`,
        approx: 'hll',
      };
    case 4:
      return {
        json: { type: 'cardinality', name, fields: ['a', 'b'], byRow: true },
        sql: `count(DISTINCT row(${col('a')}, ${col('b')})) FILTER (WHERE ${col('a')} IS NOT NULL OR ${col('b')} IS NOT NULL)`,
        approx: 'hll',
      };
    default:
      return { json: { type: 'cardinality', name, fields: [rng.pick(['a', 'b'])], round: true }, sql: 'NULL', approx: null };
  }
}

/**
 * Druid's arithmetic: a null operand gives null, then `/` by zero gives 0 and `quotient` is
 * Java's division (x / 0 is NaN or an infinity). DuckDB's `/` gives NULL for a zero divisor,
 * which would then make every expression over it null, so the quotient spells IEEE out (isnan
 * first: DuckDB orders NaN above every number, so `NaN > 0` holds there).
 */
function arithmeticSql(fn: string, x: string, y: string): string {
  if (fn === '/') return `(CASE WHEN ${x} IS NULL OR ${y} IS NULL THEN NULL WHEN ${y} = 0 THEN 0 ELSE ${x} / ${y} END)`;
  if (fn === 'quotient') {
    const byZero = `(CASE WHEN isnan(${x}) OR ${x} = 0 THEN 'NaN'::DOUBLE WHEN ${x} > 0 THEN 'Infinity'::DOUBLE ELSE '-Infinity'::DOUBLE END)`;
    return `(CASE WHEN ${x} IS NULL OR ${y} IS NULL THEN NULL WHEN ${y} = 0 THEN ${byZero} ELSE ${x} / ${y} END)`;
  }
  return `(${x} ${fn} ${y})`;
}

/** Random exact post-aggregators over numeric aggregators, with their SQL over the aggregate aliases. */
export function randomPostAggregators(rng: Rng, numeric: string[], count: number): { json: Json; sql: string; name: string }[] {
  const out: { json: Json; sql: string; name: string }[] = [];
  const term = (depth: number): { json: Json; sql: string } => {
    const r = rng.next();
    if (depth < 2 && r < 0.3) {
      const fn = rng.pick(['+', '-', '*', '/', 'quotient']);
      const parts = Array.from({ length: rng.int(2, 4) }, () => term(depth + 1));
      let sql = `(${parts[0]!.sql})::DOUBLE`;
      for (const p of parts.slice(1)) {
        const rhs = `(${p.sql})::DOUBLE`;
        sql = arithmeticSql(fn, sql, rhs);
      }
      return { json: { type: 'arithmetic', name: 'x', fn, fields: parts.map((p) => p.json) }, sql };
    }
    if (r < 0.45) {
      const v = rng.pick([0, 1, 2.5, -4, 1000]);
      return { json: { type: 'constant', name: 'c', value: v }, sql: `${v}::DOUBLE` };
    }
    const f = rng.pick([...numeric, ...out.map((o) => o.name)]);
    // An earlier post-aggregator is read raw (`name__raw`, see the differential test's
    // postSelect): Druid passes its NaN on, only the response shows it as null.
    const sql = out.some((o) => o.name === f) ? col(`${f}__raw`) : col(f);
    return { json: { type: rng.pick(['fieldAccess', 'finalizingFieldAccess']), name: 'f', fieldName: f }, sql };
  };
  for (let i = 0; i < count && numeric.length > 0; i++) {
    const fn = rng.pick(['+', '-', '*', '/', 'quotient']);
    const a = term(1);
    const b = term(1);
    const name = `p${i}`;
    const x = `(${a.sql})::DOUBLE`;
    const y = `(${b.sql})::DOUBLE`;
    const sql = arithmeticSql(fn, x, y);
    out.push({ json: { type: 'arithmetic', name, fn, fields: [a.json, b.json] }, sql, name });
  }
  return out;
}

/** Query intervals: usually one covering part or all of the table, sometimes two, sometimes beyond it. */
export function randomIntervals(rng: Rng, table: Table): { json: string[]; ranges: [number, number][] } {
  const span = table.end - table.start;
  const one = (): [number, number] => {
    if (rng.chance(0.3)) return [table.start - 86_400_000, table.end + 86_400_000];
    const s = table.start + rng.int(-3_600_000, span);
    return [s, s + rng.int(1, span)];
  };
  const ranges = rng.chance(0.25) ? [one(), one()] : [one()];
  return { json: ranges.map(([s, e]) => `${new Date(s).toISOString()}/${new Date(e).toISOString()}`), ranges };
}

// --- granularity oracle ---------------------------------------------------------------------------

const dtfs = new Map<string, Intl.DateTimeFormat>();
function localParts(t: number, tz: string): number[] {
  let f = dtfs.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    dtfs.set(tz, f);
  }
  const p = Object.fromEntries(f.formatToParts(t).map((x) => [x.type, x.value]));
  return [Number(p['year']), Number(p['month']), Number(p['day']), Number(p['hour']), Number(p['minute']), Number(p['second'])];
}

/** The earliest instant whose wall-clock time in tz is the given one (by trying every quarter-hour offset). */
function wallToInstant(y: number, mo: number, d: number, h: number, tz: string): number {
  const naive = Date.UTC(y, mo - 1, d, h);
  let best = Infinity;
  for (let off = -14 * 4; off <= 14 * 4; off++) {
    const t = naive - off * 900_000;
    const p = localParts(t, tz);
    if (p[0] === y && p[1] === mo && p[2] === d && p[3] === h && p[4] === 0 && p[5] === 0 && t < best) best = t;
  }
  if (best === Infinity) throw new Error(`no instant for ${y}-${mo}-${d} ${h}:00 in ${tz}`);
  return best;
}

function offsetOf(t: number, tz: string): number {
  const p = localParts(t, tz);
  return Date.UTC(p[0]!, p[1]! - 1, p[2]!, p[3]!, p[4]!, p[5]!) - (t - (((t % 1000) + 1000) % 1000));
}

/** ISO-8601 in a zone, computed from Intl alone. */
export function isoInZone(t: number, tz: string): string {
  const off = offsetOf(t, tz);
  const s = new Date(t + off).toISOString();
  if (off === 0) return s;
  const abs = Math.abs(off);
  return `${s.slice(0, -1)}${off < 0 ? '-' : '+'}${String(Math.floor(abs / 3_600_000)).padStart(2, '0')}:${String(Math.floor((abs % 3_600_000) / 60_000)).padStart(2, '0')}`;
}

export interface GranularityGen {
  json: unknown;
  kind: 'all' | 'none' | 'buckets';
  /** The start of the bucket holding t. */
  bucket: (t: number) => number;
  /** A step that never skips a bucket. */
  step: number;
  format: (t: number) => string;
}

const utcIso = (t: number) => new Date(t).toISOString();

export function randomGranularity(rng: Rng): GranularityGen {
  const fixed = (json: unknown, size: number, origin = 0): GranularityGen => ({
    json,
    kind: 'buckets',
    bucket: (t) => origin + Math.floor((t - origin) / size) * size,
    step: size,
    format: utcIso,
  });
  const local = (json: unknown, hours: number, tz: string): GranularityGen => {
    const byMinute = new Map<number, number>();
    const byWall = new Map<string, number>();
    return {
      json,
      kind: 'buckets',
      bucket: (t) => {
        const key = Math.floor(t / 60_000);
        let b = byMinute.get(key);
        if (b === undefined) {
          const [y, mo, d, h] = localParts(t, tz);
          const wall = `${y}-${mo}-${d}-${h! - (h! % hours)}`;
          b = byWall.get(wall);
          if (b === undefined) {
            b = wallToInstant(y!, mo!, d!, h! - (h! % hours), tz);
            byWall.set(wall, b);
          }
          byMinute.set(key, b);
        }
        return b;
      },
      step: 900_000,
      format: (t) => isoInZone(t, tz),
    };
  };
  switch (rng.int(0, 12)) {
    case 0:
      return { json: 'all', kind: 'all', bucket: () => 0, step: 0, format: utcIso };
    case 1:
      return { json: 'none', kind: 'none', bucket: (t) => t, step: 1, format: utcIso };
    case 2:
      return fixed('hour', 3_600_000);
    case 3:
      return fixed('six_hour', 21_600_000);
    case 4:
      return fixed('day', 86_400_000);
    case 5:
      return fixed('week', 7 * 86_400_000, 4 * 86_400_000);
    case 6:
      return {
        json: 'month',
        kind: 'buckets',
        bucket: (t) => {
          const d = new Date(t);
          return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
        },
        step: 86_400_000,
        format: utcIso,
      };
    case 7:
      return fixed({ type: 'duration', duration: 7_200_000, origin: '2024-03-08T00:30:00Z' }, 7_200_000, Date.UTC(2024, 2, 8, 0, 30));
    case 8:
      return local({ type: 'period', period: 'P1D', timeZone: 'America/New_York' }, 24, 'America/New_York');
    case 9:
      return local({ type: 'period', period: 'PT6H', timeZone: 'America/New_York' }, 6, 'America/New_York');
    case 10:
      return local({ type: 'period', period: 'PT1H', timeZone: 'Asia/Kolkata' }, 1, 'Asia/Kolkata');
    default:
      return fixed({ type: 'period', period: 'PT30M' }, 1_800_000);
  }
}

/** Bucket starts overlapping [lo, hi), by the oracle. */
export function bucketsOver(g: GranularityGen, lo: number, hi: number): number[] {
  const out: number[] = [];
  let b = g.bucket(lo);
  while (b < hi) {
    out.push(b);
    let t = Math.max(b, lo);
    while (g.bucket(t) === b) t += g.step;
    b = g.bucket(t);
  }
  return out;
}
