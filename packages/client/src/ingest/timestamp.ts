import { parseInstant } from '@cairn/shared';

/**
 * Reads a row's timestamp as epoch milliseconds, or NaN if it cannot.
 * - iso: ISO-8601 text; millis / posix (seconds) / micro / nano: numbers or numeric text;
 * - auto: numbers are millis, numeric text too, anything else ISO-8601.
 * Parquet timestamps arrive as epoch-ms numbers already; Date objects are accepted too.
 */
export function parseTimestamp(value: unknown, format: 'iso' | 'millis' | 'posix' | 'micro' | 'nano' | 'auto'): number {
  if (value === null || value === undefined || value === '') return NaN;
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'bigint') value = Number(value);
  switch (format) {
    case 'iso':
      return typeof value === 'string' ? iso(value) : NaN;
    case 'millis':
      return numeric(value);
    case 'posix':
      return numeric(value) * 1000;
    case 'micro':
      return Math.floor(numeric(value) / 1000);
    case 'nano':
      return Math.floor(numeric(value) / 1_000_000);
    case 'auto': {
      if (typeof value === 'number') return Number.isFinite(value) ? value : NaN;
      if (typeof value === 'string' && /^-?\d+$/.test(value)) return Number(value);
      return typeof value === 'string' ? iso(value) : NaN;
    }
  }
}

function numeric(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : NaN;
}

function iso(s: string): number {
  try {
    return parseInstant(s);
  } catch {
    return NaN;
  }
}
