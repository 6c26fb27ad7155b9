/**
 * The query engine and the ingestion against DuckDB (single-threaded), side by side in one run:
 *   pnpm exec tsx bench/engine.ts
 * 1. Ingestion: a local three-node metadata group in a temporary folder, `cairn ingest` of
 *    vega-datasets' flights-3m.parquet (3,000,000 rows) through the real CLI, timed.
 * 2. The five canonical query shapes over the flights segments as published (read back from deep
 *    storage) and over a generated 10,000,000-row table: the segments folded into one
 *    SegmentsAccumulator as a worker answers a merged request, + mergePartials + finalizeResult
 *    as the client does, against DuckDB with `SET threads=1` and ENUM string
 *    columns over the same rows; best of N after a warm-up; both answers compared.
 * 3. An extra section (BENCH_MONTHLY=0 skips it): flights ingested again with segmentGranularity
 *    month (7 segments of ~430k rows instead of 182 of ~16k) and the same shapes over them,
 *    printed after the table; the daily figures stay the table's.
 * Prints rows/s, the ratios and the issue's targets. Speed is measured here, never asserted in
 * tests. See bench/README.md for the knobs and the caveats.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { DuckDBConnection } from '@duckdb/node-api';
import { finalizeResult, mergePartials, parseQuery } from '@cairn/shared';
import type { LoadedSegment, PartialResult } from '@cairn/shared';
import { runOnSegment, SegmentsAccumulator } from '@cairn/worker';
import { compareAnswers } from './lib/engine-compare.js';
import { DIMENSIONS, duckdbOrderCheck, duckdbStatements, generateSegments, stepMs, valueLabel } from './lib/engine-generated.js';
import type { GeneratedConfig } from './lib/engine-generated.js';
import { ingest, listSegments, LocalGroup, readFolder, readListed, warmCli } from './lib/engine-ingest.js';
import type { IngestResult } from './lib/engine-ingest.js';
import { shapesFor } from './lib/engine-shapes.js';
import type { DatasetShape, Shape } from './lib/engine-shapes.js';

// ------------------------------------------------------------------ configuration
const env = process.env;
const num = (name: string, dflt: number) => {
  const v = Number(env[name] ?? dflt);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a non-negative number`);
  return v;
};
const CFG = {
  /** Timed runs per shape and system, after the warm-up runs (the best is reported). */
  runs: Math.max(1, num('BENCH_RUNS', 10)),
  /**
   * Untimed runs per shape and system first (at least one), within `warmupSeconds`: V8 reaches
   * the engine's optimized code after 15-20 runs of a shape (see bench/README.md, "Warm-up").
   */
  warmupRuns: Math.max(1, num('BENCH_WARMUP_RUNS', 20)),
  warmupSeconds: num('BENCH_WARMUP_SECONDS', 5),
  /** A shape stops repeating once one system has spent this long on it (at least one timed run). */
  shapeSeconds: num('BENCH_SHAPE_SECONDS', 20),
  genRows: num('BENCH_GEN_ROWS', 10_000_000),
  genDays: num('BENCH_GEN_DAYS', 100),
  seed: num('BENCH_SEED', 1),
  /** Shape keys to run (comma-separated: timeseries, filtered, topN, groupBy2, groupByHigh); all by default. */
  shapes: (env['BENCH_SHAPES'] ?? '').split(',').filter((s) => s !== ''),
  skipFlights: env['BENCH_SKIP_FLIGHTS'] === '1',
  skipGenerated: env['BENCH_SKIP_GENERATED'] === '1',
  /** A folder of flights segment files (e.g. a kept run's deep/segments/flights): no group, no ingestion. */
  flightsDir: env['BENCH_FLIGHTS_DIR'] ?? '',
  keep: env['BENCH_KEEP'] === '1',
  /**
   * Also ingest flights with segmentGranularity month (7 segments of ~430k rows) and run the
   * shapes over them: an extra section, the daily figures stay the table's. Off with 0.
   */
  monthly: env['BENCH_MONTHLY'] !== '0',
  /** With BENCH_FLIGHTS_DIR: a folder of monthly flights segment files for the extra section (none: skipped). */
  flightsMonthDir: env['BENCH_FLIGHTS_MONTH_DIR'] ?? '',
};
const PARQUET = new URL('../node_modules/vega-datasets/data/flights-3m.parquet', import.meta.url).pathname;
const INGEST_TARGET_MS = 10_000;
const DAY_MS = 86_400_000;
/** The generated table's filter picks the country whose share of rows is closest to this (flights' ORD is 5.5%). */
const FILTER_SHARE = 0.05;

const started = performance.now();
const say = (line: string) => process.stdout.write(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`);
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const fmtMs = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));
const fmtRate = (perSec: number) => (perSec >= 1e6 ? `${(perSec / 1e6).toFixed(perSec >= 1e8 ? 0 : 1)}M` : `${(perSec / 1e3).toFixed(0)}k`);

// ------------------------------------------------------------------ lifecycle
const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-engine-'));
let group: LocalGroup | null = null;
let failed = false;
process.on('exit', () => group?.killSync());
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    process.stdout.write(`\n${sig}: stopping the metadata group by pid and removing ${dir}\n`);
    void (group?.stop() ?? Promise.resolve()).finally(() => {
      if (!CFG.keep) rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

// ------------------------------------------------------------------ measuring
interface Outcome {
  readonly dataset: string;
  readonly rows: number;
  readonly shape: Shape;
  /** Best wall time and its phases, ms; NaN when the engine failed. */
  readonly engineMs: number;
  readonly phases: { readonly segments: number; readonly merge: number; readonly finalize: number };
  readonly duckMs: number;
  /** Least process CPU time (user + system, all threads) of a run, ms: steadier than wall time on a shared machine. */
  readonly engineCpuMs: number;
  readonly duckCpuMs: number;
  /** Partial rows the segments sent to the merge (groups per segment, summed). */
  readonly partialRows: number;
  readonly runs: { readonly engine: number; readonly duck: number };
  readonly answers: string;
  readonly answersOk: boolean;
}

const cpuSince = (c0: NodeJS.CpuUsage) => {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
};

function engineOnce(q: ReturnType<typeof parseQuery>, segments: readonly LoadedSegment[]) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  // As a worker answers a merged request: segments folded into one accumulator where the query
  // allows it, any other segment answered alone, then one merge.
  const acc = SegmentsAccumulator.for(q);
  const partials: PartialResult[] = [];
  for (const s of segments) if (!acc?.add(s)) partials.push(runOnSegment(q, s));
  if (acc) partials.push(acc.partial());
  const t1 = performance.now();
  const merged = mergePartials(q, partials);
  const t2 = performance.now();
  const result = finalizeResult(q, merged);
  const t3 = performance.now();
  const cpu = cpuSince(c0);
  let partialRows = 0;
  for (const p of partials) if ('time' in p) partialRows += p.time.length;
  return { result, total: t3 - t0, cpu, segments: t1 - t0, merge: t2 - t1, finalize: t3 - t2, partialRows };
}

/**
 * Untimed warm-up runs (`warmupRuns`, or fewer once they have taken `warmupSeconds`; at least
 * one), then up to `runs` timed runs within the shape's time budget; the best by wall time, and
 * the least CPU time.
 */
async function best<R extends { total: number; cpu: number }>(once: () => R | Promise<R>): Promise<{ best: R; cpu: number; runs: number }> {
  const warmupEnd = performance.now() + CFG.warmupSeconds * 1000;
  for (let w = 0; w < CFG.warmupRuns && (w === 0 || performance.now() < warmupEnd); w++) await once();
  let b: R | null = null;
  let cpu = Infinity;
  let spent = 0;
  let runs = 0;
  while (runs < CFG.runs && (runs === 0 || spent < CFG.shapeSeconds * 1000)) {
    const r = await once();
    spent += r.total;
    runs++;
    if (b === null || r.total < b.total) b = r;
    cpu = Math.min(cpu, r.cpu);
  }
  return { best: b!, cpu, runs };
}

async function measure(dataset: string, rows: number, shape: Shape, segments: readonly LoadedSegment[], duck: DuckDBConnection): Promise<Outcome> {
  const q = parseQuery(shape.druid);
  let engine: { best: ReturnType<typeof engineOnce>; cpu: number; runs: number } | null = null;
  let engineError = '';
  try {
    engine = await best(() => engineOnce(q, segments));
  } catch (err) {
    engineError = `engine failed: ${(err as Error).message}`;
  }
  // Timed: the query run to a fully materialized result inside DuckDB. Converting the result to
  // JS values through @duckdb/node-api is not timed (it costs ~1.5 us per value: 150 ms for a
  // 100k-group answer), while the engine's time includes building its Druid response.
  const d = await best(async () => {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await duck.run(shape.sql);
    return { total: performance.now() - t0, cpu: cpuSince(c0) };
  });
  const duckAnswer = (await duck.runAndReadAll(shape.sql)).getRows();
  const verdict = engine
    ? compareAnswers(shape.kind, shape.dimensions, shape.aggregates, engine.best.result, duckAnswer)
    : { ok: false, detail: engineError };
  const e = engine?.best;
  const o: Outcome = {
    dataset,
    rows,
    shape,
    engineMs: e?.total ?? Number.NaN,
    phases: { segments: e?.segments ?? Number.NaN, merge: e?.merge ?? Number.NaN, finalize: e?.finalize ?? Number.NaN },
    duckMs: d.best.total,
    engineCpuMs: engine?.cpu ?? Number.NaN,
    duckCpuMs: d.cpu,
    partialRows: e?.partialRows ?? 0,
    runs: { engine: engine?.runs ?? 0, duck: d.runs },
    answers: verdict.detail,
    answersOk: verdict.ok,
  };
  const ratio = o.duckMs / o.engineMs;
  say(
    `${dataset} ${shape.key}: ${shape.title}\n` +
      `         engine ${fmtMs(o.engineMs)} ms (segments ${fmtMs(o.phases.segments)} + merge ${fmtMs(o.phases.merge)} + finalize ${fmtMs(o.phases.finalize)}; ` +
      `${o.partialRows.toLocaleString('en-US')} partial rows) = ${fmtRate((rows / o.engineMs) * 1000)} rows/s | DuckDB ${fmtMs(o.duckMs)} ms = ${fmtRate((rows / o.duckMs) * 1000)} rows/s | ` +
      `${ratio.toFixed(2)}x (target ${shape.target.toFixed(1)}x: ${ratio >= shape.target ? 'met' : 'MISSED'})\n` +
      `         CPU time: engine ${fmtMs(o.engineCpuMs)} ms, DuckDB ${fmtMs(o.duckCpuMs)} ms = ${(o.duckCpuMs / o.engineCpuMs).toFixed(2)}x; ` +
      `best of ${o.runs.engine} and ${o.runs.duck} runs; answers: ${verdict.ok ? '' : 'DIFFER: '}${verdict.detail}`,
  );
  if (!verdict.ok) failed = true;
  return o;
}

async function runShapes(dataset: string, d: DatasetShape, segments: readonly LoadedSegment[], duck: DuckDBConnection): Promise<Outcome[]> {
  const rows = segments.reduce((a, s) => a + s.rowCount, 0);
  const out: Outcome[] = [];
  for (const shape of shapesFor(d)) {
    if (CFG.shapes.length > 0 && !CFG.shapes.includes(shape.key)) continue;
    out.push(await measure(dataset, rows, shape, segments, duck));
  }
  return out;
}

async function scalar(duck: DuckDBConnection, sql: string): Promise<unknown> {
  return (await duck.runAndReadAll(sql)).getRows()[0]?.[0];
}

const iso = (ms: number) => new Date(ms).toISOString();

// ------------------------------------------------------------------ phases
async function ingestFlights(): Promise<{ segments: LoadedSegment[]; monthly: LoadedSegment[] | null; ingest: IngestResult | null }> {
  if (CFG.flightsDir !== '') {
    const t0 = performance.now();
    const segments = readFolder(CFG.flightsDir);
    say(`BENCH_FLIGHTS_DIR: read ${segments.length} segment files from ${CFG.flightsDir} in ${fmtMs(performance.now() - t0)} ms (no ingestion)`);
    const monthly = CFG.monthly && CFG.flightsMonthDir !== '' ? readFolder(CFG.flightsMonthDir) : null;
    return { segments, monthly, ingest: null };
  }
  const log = join(dir, 'group.log');
  let t0 = performance.now();
  group = await LocalGroup.start(join(dir, 'group'), log);
  say(`metadata group up in ${fmtMs(performance.now() - t0)} ms on 127.0.0.1:${group.port}-${group.port + 2} (pids ${group.pids().join(', ')}), folder ${group.dir}`);
  try {
    const cliMs = await warmCli(join(dir, 'cli.log'));
    say(`cairn CLI bundle checked/built in ${fmtMs(cliMs)} ms (not part of the ingestion time)`);
    const spec = {
      dataSource: 'flights',
      input: { files: [PARQUET], format: 'parquet' },
      timestamp: { column: 'date', format: 'auto' },
      dimensions: ['origin', 'destination'],
      metrics: [
        { type: 'longSum', name: 'delay', fieldName: 'delay' },
        { type: 'longSum', name: 'distance', fieldName: 'distance' },
      ],
      segmentGranularity: 'day',
      queryGranularity: 'none',
      rollup: false,
    };
    say(`cairn ingest of ${PARQUET} (segmentGranularity day, queryGranularity none, rollup false; dimensions origin, destination; longSum delay, distance)...`);
    const r = await ingest(group, spec, join(dir, 'ingest.log'));
    const rep = r.report;
    say(
      `ingested ${rep.rowsRead.toLocaleString('en-US')} rows into ${rep.segments} published segments (${(rep.bytes / 2 ** 20).toFixed(1)} MiB): ` +
        `wall ${(r.wallMs / 1000).toFixed(2)} s = ${fmtRate((rep.rowsRead / r.wallMs) * 1000)} rows/s; the CLI reports ${(rep.elapsedMs / 1000).toFixed(2)} s; ` +
        `CPU user ${(r.userMs / 1000).toFixed(2)} s + sys ${(r.sysMs / 1000).toFixed(2)} s; target < 10 s: ${r.wallMs < INGEST_TARGET_MS ? 'met' : 'MISSED'}`,
    );
    t0 = performance.now();
    const listed = await listSegments(group, 'flights');
    const segments = readListed(group.deepStorage, listed);
    say(`read back ${segments.length} segments (${segments.reduce((a, s) => a + s.rowCount, 0).toLocaleString('en-US')} rows) listed by the catalog from deep storage with readSegment in ${fmtMs(performance.now() - t0)} ms`);
    let monthly: LoadedSegment[] | null = null;
    if (CFG.monthly) {
      const m = await ingest(group, { ...spec, dataSource: 'flights_month', segmentGranularity: 'month' }, join(dir, 'ingest-month.log'));
      monthly = readListed(group.deepStorage, await listSegments(group, 'flights_month'));
      say(`extra section: the same file ingested as flights_month (segmentGranularity month) into ${m.report.segments} segments in ${(m.wallMs / 1000).toFixed(2)} s (not the benchmark's ingestion figure)`);
    }
    return { segments, monthly, ingest: r };
  } finally {
    t0 = performance.now();
    await group.stop();
    group = null;
    say(`metadata group stopped by pid in ${fmtMs(performance.now() - t0)} ms`);
  }
}

async function flightsPhase(segments: LoadedSegment[], monthly: LoadedSegment[] | null, duck: DuckDBConnection): Promise<{ daily: Outcome[]; monthly: Outcome[] }> {
  const t0 = performance.now();
  say(`flights queries; load average ${load()}`);
  await duck.run('SET threads = 2');
  const src = `read_parquet('${PARQUET.replace(/'/g, "''")}')`;
  await duck.run(`CREATE TYPE origin_t AS ENUM (SELECT DISTINCT origin FROM ${src} WHERE origin IS NOT NULL ORDER BY 1)`);
  await duck.run(`CREATE TYPE destination_t AS ENUM (SELECT DISTINCT destination FROM ${src} WHERE destination IS NOT NULL ORDER BY 1)`);
  await duck.run(`CREATE TABLE flights AS SELECT date AS t, delay, distance, origin::origin_t AS origin, destination::destination_t AS destination FROM ${src}`);
  await duck.run('SET threads = 1');
  const duckRows = Number(await scalar(duck, 'SELECT count(*) FROM flights'));
  const rows = segments.reduce((a, s) => a + s.rowCount, 0);
  const shareOrd = Number(await scalar(duck, `SELECT avg((origin = 'ORD'::origin_t)::INT) FROM flights`));
  say(
    `flights: ${segments.length} daily segments, ${rows.toLocaleString('en-US')} rows (${fmtRate(rows / segments.length)} per segment on average); ` +
      `DuckDB table from the same parquet: ${duckRows.toLocaleString('en-US')} rows, loaded in ${fmtMs(performance.now() - t0)} ms; origin = 'ORD' selects ${(shareOrd * 100).toFixed(1)}% of rows; ` +
      `origin and destination have ${segments.reduce((a, s) => Math.max(a, s.dimensions.get('origin')!.dictionary.length), 0)} and ` +
      `${segments.reduce((a, s) => Math.max(a, s.dimensions.get('destination')!.dictionary.length), 0)} values per segment at most ` +
      `(there is no high-cardinality dimension in this file: shape 5 runs over origin; the generated table has one)`,
  );
  const first = segments[0]!.meta.start;
  const last = segments[segments.length - 1]!.meta.end;
  const shapeOf = (from: number, to: number): DatasetShape => ({
    name: 'flights',
    intervals: [`${iso(from)}/${iso(to)}`],
    timeColumn: 't',
    metric: 'delay',
    metric2: { name: 'distance', type: 'longSum' },
    filter: { dimension: 'origin', value: 'ORD', enumType: 'origin_t' },
    topNDimension: 'destination',
    topNThreshold: 10,
    twoDimensions: ['origin', 'destination'],
    highCardinality: { dimension: 'origin', limit: 100 },
  });
  const daily = await runShapes('flights', shapeOf(first, last), segments, duck);
  if (!monthly || monthly.length === 0) return { daily, monthly: [] };
  const monthRows = monthly.reduce((a, s) => a + s.rowCount, 0);
  say(
    `extra section, flights in monthly segments: ${monthly.length} segments, ${monthRows.toLocaleString('en-US')} rows (${fmtRate(monthRows / monthly.length)} per segment on average; ` +
      `Druid's guideline is ~5M rows per segment); same shapes and DuckDB table`,
  );
  // The query interval covers the months' whole intervals (the daily one would clip them to the same rows).
  const months = await runShapes('flights-monthly', shapeOf(monthly[0]!.meta.start, monthly[monthly.length - 1]!.meta.end), monthly, duck);
  return { daily, monthly: months };
}

async function generatedPhase(duck: DuckDBConnection): Promise<Outcome[]> {
  const cfg: GeneratedConfig = { rows: CFG.genRows, days: CFG.genDays, seed: CFG.seed, t0: Date.UTC(2024, 0, 1) };
  say(`generating ${cfg.rows.toLocaleString('en-US')} rows; load average ${load()}`);
  let t0 = performance.now();
  const gen = generateSegments(cfg);
  const buildMs = performance.now() - t0;
  t0 = performance.now();
  await duck.run('SET threads = 2');
  for (const sql of duckdbStatements(cfg, 'gen')) await duck.run(sql);
  await duck.run('SET threads = 1');
  const duckLoadMs = performance.now() - t0;
  if (await scalar(duck, duckdbOrderCheck(cfg, 'gen')) !== true) throw new Error('the DuckDB table is not stored in time order');
  const countries = gen.counts['country']!;
  let pick = 0;
  for (let k = 1; k < countries.length; k++) {
    if (Math.abs(countries[k]! / cfg.rows - FILTER_SHARE) < Math.abs(countries[pick]! / cfg.rows - FILTER_SHARE)) pick = k;
  }
  const filterValue = valueLabel('country', pick);
  say(
    `generated (seed ${cfg.seed}): ${cfg.rows.toLocaleString('en-US')} rows, one every ${stepMs(cfg)} ms from ${iso(cfg.t0)}, ` +
      `${gen.segments.length} daily segments of ~${fmtRate(cfg.rows / gen.segments.length)} rows; ` +
      DIMENSIONS.map((d) => `${d.name} ${d.cardinality.toLocaleString('en-US')} values (${gen.distinct[d.name]!.table.toLocaleString('en-US')} occur, at most ${gen.distinct[d.name]!.perSegmentMax.toLocaleString('en-US')} per segment)`).join(', ') +
      `, skewed (product of two uniforms); amount long 0..9999, score double 0..999.99; filter country = '${filterValue}' selects ${((countries[pick]! / cfg.rows) * 100).toFixed(1)}% of rows. ` +
      `Segments built (write + read back) in ${fmtMs(buildMs)} ms; DuckDB table generated by the same formulas in SQL (stored in time order, checked) in ${fmtMs(duckLoadMs)} ms`,
  );
  return runShapes('generated', {
    name: 'gen',
    intervals: [`${iso(cfg.t0)}/${iso(cfg.t0 + cfg.days * DAY_MS)}`],
    timeColumn: 't',
    metric: 'amount',
    metric2: { name: 'score', type: 'doubleSum' },
    filter: { dimension: 'country', value: filterValue, enumType: 'country_t' },
    topNDimension: 'product',
    topNThreshold: 10,
    twoDimensions: ['country', 'product'],
    highCardinality: { dimension: 'user', limit: 100 },
  }, gen.segments, duck);
}

function summary(outcomes: readonly Outcome[], ing: IngestResult | null): void {
  const lines = [
    '',
    '| dataset | shape | engine ms | engine rows/s | DuckDB ms | DuckDB rows/s | engine/DuckDB | target | | CPU ratio | answers |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |',
  ];
  for (const o of outcomes) {
    const ratio = o.duckMs / o.engineMs;
    lines.push(
      `| ${o.dataset} | ${o.shape.key} | ${fmtMs(o.engineMs)} | ${fmtRate((o.rows / o.engineMs) * 1000)} | ${fmtMs(o.duckMs)} | ` +
        `${fmtRate((o.rows / o.duckMs) * 1000)} | ${ratio.toFixed(2)}x | ${o.shape.target.toFixed(1)}x | ${ratio >= o.shape.target ? 'met' : 'MISSED'} | ` +
        `${(o.duckCpuMs / o.engineCpuMs).toFixed(2)}x | ${o.answersOk ? 'same' : 'DIFFER'} |`,
    );
  }
  if (ing) {
    lines.push(
      '',
      '| ingestion of flights-3m.parquet | wall (CLI process) | CLI-reported | CPU user + sys | rows/s (wall) | target | |',
      '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
      `| ${ing.report.rowsRead.toLocaleString('en-US')} rows, ${ing.report.segments} segments | ${(ing.wallMs / 1000).toFixed(2)} s | ${(ing.report.elapsedMs / 1000).toFixed(2)} s | ` +
        `${((ing.userMs + ing.sysMs) / 1000).toFixed(2)} s | ${fmtRate((ing.report.rowsRead / ing.wallMs) * 1000)} | < 10 s | ${ing.wallMs < INGEST_TARGET_MS ? 'met' : 'MISSED'} |`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main(): Promise<void> {
  say(`engine benchmark: node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), load average ${load()} ` +
    '(other work may share the machine: figures are noisy; compare engine and DuckDB within one run)');
  say(`best of ${CFG.runs} timed runs after ${CFG.warmupRuns} untimed warm-up runs (fewer once they take ${CFG.warmupSeconds} s; JIT warm-up, the same for both systems) (timed runs fewer once a shape has taken ${CFG.shapeSeconds} s of one system's time); ` +
    'rows/s = rows in the dataset / best wall time; targets are judged on wall time, the CPU-time ratio (process user + system, all threads) is printed beside it');
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const duck = await instance.connect();
  const outcomes: Outcome[] = [];
  /** The monthly-segment section: printed after the table, not part of it. */
  const extra: Outcome[] = [];
  let ing: IngestResult | null = null;
  try {
    say(`DuckDB ${String(await scalar(duck, 'SELECT version()'))} in memory`);
    if (!CFG.skipFlights) {
      const f = await ingestFlights();
      ing = f.ingest;
      const phase = await flightsPhase(f.segments, f.monthly, duck);
      outcomes.push(...phase.daily);
      extra.push(...phase.monthly);
      await duck.run('DROP TABLE flights');
    }
    if (!CFG.skipGenerated) outcomes.push(...(await generatedPhase(duck)));
    say(`DuckDB threads during the queries: ${String(await scalar(duck, "SELECT current_setting('threads')"))}`);
  } finally {
    duck.closeSync();
    instance.closeSync();
    if (group) await group.stop();
    if (CFG.keep) say(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
  summary(outcomes, ing);
  if (extra.length > 0) {
    process.stdout.write('\nExtra section (not the issue\'s table): flights ingested with segmentGranularity month\n');
    summary(extra, null);
  }
  say(`done; load average ${load()}`);
  if (failed) {
    process.stdout.write('some answers differ between the engine and DuckDB (see above)\n');
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`engine benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  group?.killSync();
  if (!CFG.keep) rmSync(dir, { recursive: true, force: true });
  process.exit(1);
});
