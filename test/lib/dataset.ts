/** Seeded event rows and the answers a correct cluster must give about them. */
export const HOUR = 3_600_000;
export const T0 = Date.parse('2024-05-01T00:00:00Z');

export interface EventRow {
  ts: string;
  country: string;
  device: string;
  value: number;
}

export function events(seed: number, hours: number, perHour: number, start = T0): EventRow[] {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const rows: EventRow[] = [];
  for (let h = 0; h < hours; h++) {
    for (let i = 0; i < perHour; i++) {
      rows.push({
        ts: new Date(start + h * HOUR + Math.floor(rand() * HOUR)).toISOString(),
        country: ['fr', 'de', 'us', 'jp', 'br'][Math.floor(rand() * 5)]!,
        device: rand() < 0.6 ? 'phone' : 'desktop',
        value: Math.round(rand() * 1000),
      });
    }
  }
  return rows;
}

export const EVENTS_SPEC = {
  dataSource: 'events',
  timestamp: { column: 'ts', format: 'iso' },
  dimensions: ['country', 'device'],
  metrics: [{ type: 'longSum', name: 'value', fieldName: 'value' }],
  segmentGranularity: 'hour',
  queryGranularity: 'none',
  rollup: false,
};

/** Rows and value sum per country, the truth a topN/groupBy must match. */
export function byCountry(rows: readonly EventRow[]): Map<string, { rows: number; value: number }> {
  const out = new Map<string, { rows: number; value: number }>();
  for (const r of rows) {
    const e = out.get(r.country) ?? { rows: 0, value: 0 };
    e.rows++;
    e.value += r.value;
    out.set(r.country, e);
  }
  return out;
}

export function totals(rows: readonly EventRow[]): { rows: number; value: number } {
  return { rows: rows.length, value: rows.reduce((a, r) => a + r.value, 0) };
}
