/**
 * A fixed, seeded mix of native Druid queries over the flights datasource (see
 * packages/client/src/quickstart/flights.ts): timeseries, topN and groupBy over random
 * sub-intervals of the data. The same seed gives the same list, so every phase of a run (and
 * every run with that seed) asks the same questions in the same order.
 */
import { avgDelay, flightsAndDelay } from '../../packages/client/src/quickstart/flights.js';
import { prng } from './run.js';

const HOUR_MS = 3_600_000;

/** Busy airports, for groupBy filters (a filter matching nothing in a short interval is fine: an empty answer). */
const AIRPORTS = ['ORD', 'ATL', 'DFW', 'LAX', 'PHX', 'STL', 'DTW', 'MSP', 'LAS', 'IAH', 'DEN', 'SFO'];

export interface MixOptions {
  readonly seed: number;
  readonly count: number;
  /** The data's extent (epoch ms): every interval lies inside it. */
  readonly start: number;
  readonly end: number;
  /** Sub-intervals last 1 hour to this many days (uniform in hours). */
  readonly maxDays: number;
  /** Put into every query's context (e.g. a timeout). */
  readonly context: Record<string, unknown>;
}

export interface MixQuery {
  readonly kind: 'timeseries' | 'topN' | 'groupBy';
  readonly query: Record<string, unknown>;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** `count` queries: 40% timeseries, 30% topN, 30% groupBy, each over a random sub-interval. */
export function queryMix(o: MixOptions): MixQuery[] {
  const rnd = prng(o.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const totalHours = Math.floor((o.end - o.start) / HOUR_MS);
  const out: MixQuery[] = [];
  for (let i = 0; i < o.count; i++) {
    const hours = Math.min(totalHours, 1 + Math.floor(rnd() * o.maxDays * 24));
    const from = o.start + Math.floor(rnd() * (totalHours - hours + 1)) * HOUR_MS;
    const intervals = [`${iso(from)}/${iso(from + hours * HOUR_MS)}`];
    const base = { dataSource: 'flights', intervals, context: { ...o.context } };
    const r = rnd();
    if (r < 0.4) {
      out.push({
        kind: 'timeseries',
        query: { ...base, queryType: 'timeseries', granularity: hours > 3 * 24 ? 'day' : 'hour', aggregations: flightsAndDelay, postAggregations: [avgDelay] },
      });
    } else if (r < 0.7) {
      const dimension = pick(['origin', 'destination']);
      out.push({
        kind: 'topN',
        query: {
          ...base, queryType: 'topN', granularity: 'all', dimension, metric: pick(['flights', 'delay']), threshold: 10,
          aggregations: [...flightsAndDelay, { type: 'longSum', name: 'distance', fieldName: 'distance' }], postAggregations: [avgDelay],
        },
      });
    } else {
      const origins = [pick(AIRPORTS), pick(AIRPORTS)];
      out.push({
        kind: 'groupBy',
        query: {
          ...base, queryType: 'groupBy', granularity: 'all', dimensions: ['origin', 'destination'],
          filter: { type: 'in', dimension: 'origin', values: [...new Set(origins)] },
          aggregations: flightsAndDelay, postAggregations: [avgDelay],
          limitSpec: { type: 'default', limit: 10, columns: [{ dimension: 'avgDelay', direction: 'descending', dimensionOrder: 'numeric' }] },
        },
      });
    }
  }
  return out;
}
