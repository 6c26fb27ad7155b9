/**
 * The five canonical query shapes of the engine benchmark, each as a Druid native query for
 * Cairn and the SQL that asks DuckDB the same question (same rows, same answer, same order).
 */

/** What a dataset offers the shapes: its columns and the values the filters pick. */
export interface DatasetShape {
  /** The Druid datasource and the DuckDB table. */
  readonly name: string;
  /** ISO intervals covering every row. */
  readonly intervals: readonly string[];
  /** The DuckDB timestamp column (TIMESTAMP, UTC wall time). */
  readonly timeColumn: string;
  /** A long metric (summed by every shape) and a second metric (summed by the timeseries). */
  readonly metric: string;
  readonly metric2: { readonly name: string; readonly type: 'longSum' | 'doubleSum' };
  /** The filtered timeseries' `dimension = value` (value cast to the column's ENUM type in SQL). */
  readonly filter: { readonly dimension: string; readonly value: string; readonly enumType: string };
  readonly topNDimension: string;
  readonly topNThreshold: number;
  readonly twoDimensions: readonly [string, string];
  readonly highCardinality: { readonly dimension: string; readonly limit: number };
}

/** How the two answers are compared. */
export type AnswerKind = 'timeseries' | 'topN' | 'groupBy' | 'groupByOrdered';

export interface Shape {
  /** Short key (also what BENCH_SHAPES selects on). */
  readonly key: string;
  readonly title: string;
  /** Engine rows/s over DuckDB rows/s needed (from the issue). */
  readonly target: number;
  readonly druid: Record<string, unknown>;
  readonly sql: string;
  readonly kind: AnswerKind;
  /** Output names, in the order both answers are compared: dimensions first, then aggregates. */
  readonly dimensions: readonly string[];
  readonly aggregates: readonly string[];
}

/** SQL identifiers are ours (no quoting needed); string literals get their quotes doubled. */
const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;

/**
 * The shapes, exactly as the issue names them: (1) timeseries of the whole table by day, (2) the
 * same with a filter on a dimension, (3) topN of a dimension by a metric sum, (4) groupBy on two
 * dimensions, (5) groupBy on a high-cardinality dimension with a limit.
 *
 * DuckDB gets its fastest equivalent formulation, measured on this machine: the day bucket is
 * `t::DATE` (3x faster than `date_trunc('day', t)`), and the filter literal is cast to the
 * column's ENUM type (a plain string literal makes DuckDB cast the column to VARCHAR, 1.5x
 * slower). Every query orders its result as Druid does (time; dimension values for groupBy;
 * metric then value for topN and the limited groupBy), so both answers are the same list.
 */
export function shapesFor(d: DatasetShape): Shape[] {
  const base = { dataSource: d.name, intervals: [...d.intervals] };
  const t = d.timeColumn;
  const aggs = [
    { type: 'count', name: 'c' },
    { type: 'longSum', name: 's', fieldName: d.metric },
    { type: d.metric2.type, name: 's2', fieldName: d.metric2.name },
  ];
  const tsSql = (where: string) =>
    `SELECT ${t}::DATE AS day, count(*) AS c, sum(${d.metric}) AS s, sum(${d.metric2.name}) AS s2 FROM ${d.name}${where} GROUP BY 1 ORDER BY 1`;
  const [a, b] = d.twoDimensions;
  const hc = d.highCardinality;
  return [
    {
      key: 'timeseries',
      title: 'timeseries by day (count, 2 sums)',
      target: 1.0,
      druid: { ...base, queryType: 'timeseries', granularity: 'day', aggregations: aggs },
      sql: tsSql(''),
      kind: 'timeseries',
      dimensions: ['day'],
      aggregates: ['c', 's', 's2'],
    },
    {
      key: 'filtered',
      title: `timeseries by day, ${d.filter.dimension} = '${d.filter.value}'`,
      target: 1.5,
      druid: {
        ...base,
        queryType: 'timeseries',
        granularity: 'day',
        filter: { type: 'selector', dimension: d.filter.dimension, value: d.filter.value },
        aggregations: aggs,
      },
      sql: tsSql(` WHERE ${d.filter.dimension} = ${lit(d.filter.value)}::${d.filter.enumType}`),
      kind: 'timeseries',
      dimensions: ['day'],
      aggregates: ['c', 's', 's2'],
    },
    {
      key: 'topN',
      title: `topN ${d.topNThreshold} ${d.topNDimension} by sum(${d.metric})`,
      target: 1.5,
      druid: {
        ...base,
        queryType: 'topN',
        granularity: 'all',
        dimension: d.topNDimension,
        metric: 's',
        threshold: d.topNThreshold,
        aggregations: [{ type: 'longSum', name: 's', fieldName: d.metric }],
      },
      sql: `SELECT ${d.topNDimension}, sum(${d.metric}) AS s FROM ${d.name} GROUP BY 1 ORDER BY s DESC, 1 LIMIT ${d.topNThreshold}`,
      kind: 'topN',
      dimensions: [d.topNDimension],
      aggregates: ['s'],
    },
    {
      key: 'groupBy2',
      title: `groupBy ${a}, ${b} (count, sum)`,
      target: 1.5,
      druid: {
        ...base,
        queryType: 'groupBy',
        granularity: 'all',
        dimensions: [a, b],
        aggregations: [{ type: 'count', name: 'c' }, { type: 'longSum', name: 's', fieldName: d.metric }],
      },
      sql: `SELECT ${a}, ${b}, count(*) AS c, sum(${d.metric}) AS s FROM ${d.name} GROUP BY 1, 2 ORDER BY 1, 2`,
      kind: 'groupBy',
      dimensions: [a, b],
      aggregates: ['c', 's'],
    },
    {
      key: 'groupByHigh',
      title: `groupBy ${hc.dimension} top ${hc.limit} by sum`,
      target: 1.0,
      druid: {
        ...base,
        queryType: 'groupBy',
        granularity: 'all',
        dimensions: [hc.dimension],
        aggregations: [{ type: 'count', name: 'c' }, { type: 'longSum', name: 's', fieldName: d.metric }],
        limitSpec: { type: 'default', limit: hc.limit, columns: [{ dimension: 's', direction: 'descending', dimensionOrder: 'numeric' }] },
      },
      sql: `SELECT ${hc.dimension}, count(*) AS c, sum(${d.metric}) AS s FROM ${d.name} GROUP BY 1 ORDER BY s DESC, 1 LIMIT ${hc.limit}`,
      kind: 'groupByOrdered',
      dimensions: [hc.dimension],
      aggregates: ['c', 's'],
    },
  ];
}
