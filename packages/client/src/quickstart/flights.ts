/**
 * The quickstart's data and questions: vega-datasets' flights-3m.parquet (3 million US domestic
 * flights of the first half of 2001: departure time, delay in minutes, distance in miles, origin
 * and destination airports) and three queries a person would ask of it.
 */
/** The first half of 2001 (the file also holds a handful of flights departing at midnight on July 1). */
export const FLIGHTS_INTERVAL = '2001-01-01T00:00:00.000Z/2001-07-01T00:00:00.000Z';

export function flightsSpec(parquetPath: string, maxRows: number | null): Record<string, unknown> {
  return {
    dataSource: 'flights',
    input: { files: [parquetPath], format: 'parquet', ...(maxRows === null ? {} : { maxRows }) },
    timestamp: { column: 'date', format: 'auto' },
    dimensions: ['origin', 'destination'],
    metrics: [
      { type: 'longSum', name: 'delay', fieldName: 'delay' },
      { type: 'longSum', name: 'distance', fieldName: 'distance' },
    ],
    // One segment per day: about 180 segments, small units of work spread over the workers.
    segmentGranularity: 'day',
    queryGranularity: 'none',
    rollup: false,
  };
}

/** Flights counted and their delay summed; with avgDelay, the quickstart's and the tail-latency bench's measures. */
export const flightsAndDelay = [
  { type: 'count', name: 'flights' },
  { type: 'longSum', name: 'delay', fieldName: 'delay' },
];
export const avgDelay = {
  type: 'arithmetic', name: 'avgDelay', fn: '/',
  fields: [{ type: 'fieldAccess', fieldName: 'delay' }, { type: 'fieldAccess', fieldName: 'flights' }],
};

export interface QuickstartQuery {
  readonly title: string;
  readonly query: Record<string, unknown>;
  /** The answer as a table for people: a header and at most a screenful of rows. */
  render(results: unknown[]): { note: string; header: string[]; rows: string[][] };
}

const n0 = (v: unknown) => Math.round(Number(v)).toLocaleString('en-US');
const n1 = (v: unknown) => Number(v).toFixed(1);

/** The three queries; routes count when they have more than `minRouteFlights` flights. */
export function flightsQueries(minRouteFlights: number): readonly QuickstartQuery[] {
  return [
    {
      title: 'Delays by day (timeseries, day granularity)',
      query: {
        queryType: 'timeseries', dataSource: 'flights', intervals: [FLIGHTS_INTERVAL], granularity: 'day',
        aggregations: flightsAndDelay, postAggregations: [avgDelay],
      },
      render(results) {
        const days = results as { timestamp: string; result: { flights: number; avgDelay: number } }[];
        const worst = [...days].sort((a, b) => b.result.avgDelay - a.result.avgDelay).slice(0, 5);
        return {
          note: `${days.length} days; the five with the worst average delay:`,
          header: ['day', 'flights', 'avg delay (min)'],
          rows: worst.map((d) => [d.timestamp.slice(0, 10), n0(d.result.flights), n1(d.result.avgDelay)]),
        };
      },
    },
    {
      title: 'The busiest airports (topN over origin)',
      query: {
        queryType: 'topN', dataSource: 'flights', intervals: [FLIGHTS_INTERVAL], granularity: 'all',
        dimension: 'origin', metric: 'flights', threshold: 10,
        aggregations: [...flightsAndDelay, { type: 'longSum', name: 'distance', fieldName: 'distance' }],
        postAggregations: [avgDelay],
      },
      render(results) {
        const top = (results as { result: { origin: string; flights: number; avgDelay: number; distance: number }[] }[])[0]?.result ?? [];
        return {
          note: 'departures, average delay and miles flown:',
          header: ['airport', 'departures', 'avg delay (min)', 'miles'],
          rows: top.map((r) => [r.origin, n0(r.flights), n1(r.avgDelay), n0(r.distance)]),
        };
      },
    },
    {
      title: 'Delay by origin and destination (groupBy, having, ordered limit)',
      query: {
        queryType: 'groupBy', dataSource: 'flights', intervals: [FLIGHTS_INTERVAL], granularity: 'all',
        dimensions: ['origin', 'destination'],
        aggregations: flightsAndDelay, postAggregations: [avgDelay],
        having: { type: 'greaterThan', aggregation: 'flights', value: minRouteFlights },
        limitSpec: { type: 'default', limit: 10, columns: [{ dimension: 'avgDelay', direction: 'descending', dimensionOrder: 'numeric' }] },
      },
      render(results) {
        const rows = results as { event: { origin: string; destination: string; flights: number; avgDelay: number } }[];
        return {
          note: `the routes with the worst average delay, among those with more than ${minRouteFlights} flights:`,
          header: ['origin', 'destination', 'flights', 'avg delay (min)'],
          rows: rows.map((r) => [r.event.origin, r.event.destination, n0(r.event.flights), n1(r.event.avgDelay)]),
        };
      },
    },
  ];
}
