/**
 * Random tables for differential tests: a few string dimensions (low, medium and high
 * cardinality, with nulls, empty strings, non-ASCII text and numbers written as text) and long
 * and double metrics with nulls, over five days that include a daylight-saving change in New
 * York; and random ways to cut them into time-partitioned segments (some empty).
 */
import type { LoadedSegment } from '@cairn/shared';
import { segmentFromRows } from '../segment-from-rows.js';
import type { Rng } from './rng.js';

export type Row = Record<string, string | number | null> & { __time: number; rid: number };

export interface Table {
  rows: Row[];
  start: number;
  end: number;
  dimensions: string[];
  metrics: { name: string; type: 'long' | 'double' }[];
}

export const DIMENSIONS = ['a', 'b', 'c', 'n'];
export const METRICS: { name: string; type: 'long' | 'double' }[] = [
  { name: 'l', type: 'long' },
  { name: 'd', type: 'double' },
  { name: 'k', type: 'long' },
];
export const A_VALUES = ['x', 'y', 'z', 'w', ''];
export const B_EXTRA = ['é', 'ü-1', '中文', "o'brien", 'B1'];
export const N_VALUES = ['1', '2', '10', '-3', '2.5', 'abc', '007', '1e2', '', '99'];

/** 2024-03-08T00:00Z: the table spans the New York spring-forward of 2024-03-10. */
export const TABLE_START = Date.UTC(2024, 2, 8);
export const TABLE_DAYS = 5;

export function randomTable(rng: Rng, rowCount: number): Table {
  const start = TABLE_START + rng.int(0, 3) * 3_600_000;
  const span = TABLE_DAYS * 86_400_000;
  const rows: Row[] = [];
  const cCard = Math.max(10, Math.floor(rowCount * rng.pick([0.05, 0.5, 0.9])));
  for (let rid = 0; rid < rowCount; rid++) {
    let time = start + rng.int(0, span);
    if (rng.chance(0.5)) time -= time % 1000;
    if (rng.chance(0.1) && rows.length > 0) time = rng.pick(rows).__time;
    rows.push({
      __time: time,
      rid,
      a: rng.chance(0.1) ? null : rng.pick(A_VALUES),
      b: rng.chance(0.15) ? null : rng.chance(0.1) ? rng.pick(B_EXTRA) : `b${rng.int(0, 60)}`,
      c: rng.chance(0.02) ? null : `u${rng.int(0, cCard)}`,
      n: rng.chance(0.1) ? null : rng.pick(N_VALUES),
      l: rng.chance(0.1) ? null : rng.int(-500, 501),
      d: rng.chance(0.1) ? null : Math.round((rng.next() * 120 - 20) * 1000) / 1000,
      k: rng.int(0, 1_000_000),
    });
  }
  return { rows, start, end: start + span, dimensions: DIMENSIONS, metrics: METRICS };
}

export interface Split {
  /** Segment boundaries: segment i is [cuts[i], cuts[i + 1]). */
  cuts: number[];
  segments: LoadedSegment[];
  whole: LoadedSegment;
}

export function segmentOf(table: Table, rows: Row[], start: number, end: number, partition = 0): LoadedSegment {
  return segmentFromRows({ dataSource: 'diff', start, end, partition, dimensions: table.dimensions, metrics: table.metrics, rows });
}

/** Cuts the table at random instants into 1 to 12 segments, some of them empty. */
export function randomSplit(rng: Rng, table: Table): Split {
  const cuts = new Set<number>([table.start, table.end]);
  const count = rng.int(0, 12);
  const times = table.rows.map((r) => r.__time).sort((x, y) => x - y);
  for (let i = 0; i < count; i++) {
    if (rng.chance(0.2) && times.length > 1) {
      // A segment that holds no rows: between two consecutive distinct times.
      const j = rng.int(0, times.length - 1);
      if (times[j + 1]! - times[j]! > 2) {
        cuts.add(times[j]! + 1);
        cuts.add(times[j + 1]! - 1);
      }
    } else {
      cuts.add(table.start + rng.int(1, table.end - table.start));
    }
  }
  const sorted = [...cuts].sort((x, y) => x - y);
  const segments: LoadedSegment[] = [];
  for (let i = 0; i + 1 < sorted.length; i++) {
    const lo = sorted[i]!;
    const hi = sorted[i + 1]!;
    segments.push(segmentOf(table, table.rows.filter((r) => r.__time >= lo && r.__time < hi), lo, hi, i));
  }
  return { cuts: sorted, segments, whole: segmentOf(table, table.rows, table.start, table.end) };
}
