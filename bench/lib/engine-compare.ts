/**
 * Compares the engine's Druid response with DuckDB's rows for one shape: both are normalized to
 * ordered rows of (dimension values, aggregate values) and compared row by row, integers exactly
 * and doubles within a relative tolerance (the two sum in different orders).
 */
import type { AnswerKind } from './engine-shapes.js';

type Cell = string | number | null;
interface Row {
  readonly dims: readonly Cell[];
  readonly vals: readonly (number | null)[];
}

export interface Verdict {
  readonly ok: boolean;
  /** One line: rows compared, and the first difference if any. */
  readonly detail: string;
}

/** Relative tolerance for sums of doubles (different summation orders). */
const RELATIVE_TOLERANCE = 1e-9;
const DAY_MS = 86_400_000;

function num(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number') return v;
  throw new Error(`not a number: ${String(v)}`);
}

/** Epoch ms of a DuckDB DATE value (its text is YYYY-MM-DD), or of an ISO timestamp string. */
function dayMs(v: unknown): number {
  const s = String(v);
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(s) ? Date.parse(`${s}T00:00:00Z`) : Date.parse(s);
  if (Number.isNaN(ms) || ms % DAY_MS !== 0) throw new Error(`not a UTC day: ${s}`);
  return ms;
}

/** The engine's response as rows; zero-filled timeseries buckets (count 0) are counted and left out. */
function engineRows(kind: AnswerKind, dims: readonly string[], aggs: readonly string[], response: unknown): { rows: Row[]; zeroFilled: number } {
  const list = response as Record<string, unknown>[];
  let zeroFilled = 0;
  switch (kind) {
    case 'timeseries': {
      const rows: Row[] = [];
      for (const r of list) {
        const result = r['result'] as Record<string, unknown>;
        if (result['c'] === 0) {
          zeroFilled++;
          continue;
        }
        rows.push({ dims: [dayMs(r['timestamp'])], vals: aggs.map((a) => num(result[a])) });
      }
      return { rows, zeroFilled };
    }
    case 'topN': {
      if (list.length > 1) throw new Error(`topN with granularity all answered ${list.length} buckets`);
      const entries = (list[0]?.['result'] ?? []) as Record<string, unknown>[];
      return { rows: entries.map((e) => ({ dims: dims.map((d) => e[d] as Cell), vals: aggs.map((a) => num(e[a])) })), zeroFilled };
    }
    case 'groupBy':
    case 'groupByOrdered':
      return {
        rows: list.map((r) => {
          const e = r['event'] as Record<string, unknown>;
          return { dims: dims.map((d) => e[d] as Cell), vals: aggs.map((a) => num(e[a])) };
        }),
        zeroFilled,
      };
  }
}

/** DuckDB's rows (dimension columns first, then aggregates, as the shapes' SQL selects them). */
function duckRows(kind: AnswerKind, dimCount: number, rows: readonly (readonly unknown[])[]): Row[] {
  return rows.map((r) => ({
    dims: r.slice(0, dimCount).map((v) => (kind === 'timeseries' ? dayMs(v) : v === null ? null : String(v))),
    vals: r.slice(dimCount).map(num),
  }));
}

function close(a: number | null, b: number | null): boolean {
  if (a === null || b === null) return a === b;
  if (Number.isInteger(a) && Number.isInteger(b) && Math.abs(a) < 2 ** 53) return a === b;
  return Math.abs(a - b) <= RELATIVE_TOLERANCE * Math.max(1, Math.abs(a), Math.abs(b));
}

const show = (r: Row | undefined) => (r ? `${JSON.stringify(r.dims)} -> ${JSON.stringify(r.vals)}` : 'nothing');

/** Whether the two answers are the same ordered list of rows. */
export function compareAnswers(kind: AnswerKind, dims: readonly string[], aggs: readonly string[], engine: unknown, duck: readonly (readonly unknown[])[]): Verdict {
  const { rows: e, zeroFilled } = engineRows(kind, dims, aggs, engine);
  const d = duckRows(kind, dims.length, duck);
  const note = zeroFilled > 0 ? ` (+${zeroFilled} zero-filled empty bucket(s) DuckDB has no row for)` : '';
  const n = Math.max(e.length, d.length);
  for (let i = 0; i < n; i++) {
    const a = e[i];
    const b = d[i];
    const same = a !== undefined && b !== undefined && a.dims.length === b.dims.length &&
      a.dims.every((v, k) => v === b.dims[k]) && a.vals.every((v, k) => close(v, b.vals[k] ?? null));
    if (!same) {
      return { ok: false, detail: `row ${i} of ${e.length} (engine) / ${d.length} (DuckDB) differs: engine ${show(a)}, DuckDB ${show(b)}` };
    }
  }
  return { ok: true, detail: `same ${e.length} row(s)${note}` };
}
