import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { readSegment } from '@cairn/shared/segment';
import { api, MetaCluster } from '../lib/meta-cluster.js';

const CAIRN = fileURLToPath(new URL('../../packages/client/bin/cairn.mjs', import.meta.url));
const HOUR = 3_600_000;
const T0 = Date.parse('2024-03-01T00:00:00Z');

/** Runs the cairn CLI; resolves with its exit code and output (never throws on a failing exit). */
function cairn(args: string[], opts: { env?: Record<string, string>; stdin?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CAIRN, ...args], { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.stdin ?? '');
  });
}

/** Seeded rows: `hours` hours of events from `start`, `perHour` each. */
function rows(seed: number, start: number, hours: number, perHour: number): Record<string, unknown>[] {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const out: Record<string, unknown>[] = [];
  for (let h = 0; h < hours; h++) {
    for (let i = 0; i < perHour; i++) {
      out.push({
        ts: new Date(start + h * HOUR + Math.floor(rand() * HOUR)).toISOString(),
        country: ['fr', 'de', 'us', 'jp'][Math.floor(rand() * 4)],
        device: rand() < 0.5 ? 'phone' : 'desktop',
        value: Math.round(rand() * 1000) / 10,
      });
    }
  }
  return out;
}

const ndjson = (rs: Record<string, unknown>[]) => rs.map((r) => JSON.stringify(r)).join('\n') + '\n';

function spec(dir: string, name: string, input: object, extra: object = {}): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify({
    dataSource: 'events',
    input,
    timestamp: { column: 'ts', format: 'iso' },
    dimensions: ['country', 'device'],
    metrics: [{ type: 'doubleSum', name: 'value', fieldName: 'value' }],
    segmentGranularity: 'hour',
    queryGranularity: 'none',
    rollup: false,
    ...extra,
  }));
  return path;
}

interface Seg { id: string; interval: string; version: string; rows: number; checksum: string; location: string }

t.test('batch ingestion end to end against a running metadata group', async (t) => {
  const seed = 42;
  t.comment(`seed ${seed}`);
  const cluster = await MetaCluster.start(t);
  const dir = cluster.dir;
  const deep = join(dir, 'deep');
  const url = cluster.url(cluster.ids[0]!);
  const segments = async (query = '') => (await api<{ segments: Seg[] }>(url, `/v1/segments?dataSource=events${query}`)).body.segments ?? [];

  // 1. Three hours of events: one segment per hour.
  writeFileSync(join(dir, 'day1.ndjson'), ndjson(rows(seed, T0, 3, 200)));
  const day1 = spec(dir, 'day1', { files: ['day1.ndjson'], format: 'ndjson' });
  const first = await cairn(['ingest', '--config', cluster.configPath, day1]);
  t.equal(first.code, 0, `first run succeeds: ${first.stderr.slice(-400)}`);
  t.match(first.stdout, /600 rows read, 0 rejected/);
  t.match(first.stdout, /published 3 segment\(s\)/);
  let segs = await segments();
  t.equal(segs.length, 3, 'three hourly segments are published');
  t.equal(segs.reduce((a, s) => a + s.rows, 0), 600, 'holding every row');
  for (const s of segs) {
    const file = join(deep, s.location);
    t.ok(existsSync(file), `${s.location} is in deep storage`);
    const loaded = readSegment(new Uint8Array(readFileSync(file)), s.checksum);
    t.equal(loaded.rowCount, s.rows, 'the stored file verifies against its catalog checksum');
  }

  // 2. Running the same job again publishes nothing new.
  const again = await cairn(['ingest', '--config', cluster.configPath, day1]);
  t.equal(again.code, 0);
  t.match(again.stdout, /already published by an earlier run: nothing changed/);
  t.same((await segments()).map((s) => s.id).sort(), segs.map((s) => s.id).sort(), 'same segments');

  // 3. A job that crashes mid-upload publishes nothing; its retry publishes each segment once.
  writeFileSync(join(dir, 'day2.ndjson'), ndjson(rows(seed + 1, T0 + 24 * HOUR, 4, 100)));
  const day2 = spec(dir, 'day2', { files: ['day2.ndjson'], format: 'ndjson' });
  const crashed = await cairn(['ingest', '--config', cluster.configPath, day2], { env: { CAIRN_FAULT_INGEST_EXIT_AFTER_UPLOADS: '2' } });
  t.equal(crashed.code, 137, 'the job died after two uploads');
  t.equal((await segments()).length, 3, 'nothing of it was published');
  const retried = await cairn(['ingest', '--config', cluster.configPath, day2]);
  t.equal(retried.code, 0, retried.stderr);
  t.match(retried.stdout, /published 4 segment\(s\)/);
  segs = await segments();
  t.equal(segs.length, 7, 'the four segments of the retry, once each');
  t.equal(new Set(segs.map((s) => s.interval)).size, 7, 'one segment per interval');

  // 4. Re-ingesting an hour makes a newer version that overshadows the old one.
  const hour1 = rows(seed + 2, T0, 1, 50);
  writeFileSync(join(dir, 'fix.ndjson'), ndjson(hour1));
  const fix = spec(dir, 'fix', { files: ['fix.ndjson'], format: 'ndjson' });
  const fixed = await cairn(['ingest', '--config', cluster.configPath, fix]);
  t.equal(fixed.code, 0, fixed.stderr);
  segs = await segments();
  t.equal(segs.length, 7, 'still one visible segment per interval');
  const hourSeg = segs.find((s) => s.interval.startsWith('2024-03-01T00:00:00.000Z'))!;
  t.equal(hourSeg.rows, 50, 'the newer version is the visible one');
  const all = await segments('&includeOvershadowed=true');
  t.equal(all.length, 8, 'the overshadowed version is still in the catalog');

  // 5. Bad rows are counted and reported with their lines; past the threshold nothing is published.
  const bad = ndjson(rows(seed + 3, T0 + 48 * HOUR, 1, 5)).split('\n');
  bad.splice(1, 0, '{"ts": "not a time", "value": 1}', 'not json at all', '{"ts": "2024-03-03T00:10:00Z", "value": "abc"}');
  writeFileSync(join(dir, 'bad.ndjson'), bad.join('\n'));
  const strict = spec(dir, 'strict', { files: ['bad.ndjson'], format: 'ndjson' }, { maxParseExceptions: 2 });
  const refused = await cairn(['ingest', '--config', cluster.configPath, strict]);
  t.not(refused.code, 0, 'three bad rows, threshold two: the job fails');
  t.match(refused.stderr, /bad\.ndjson:2: cannot parse timestamp "not a time"/);
  t.match(refused.stderr, /bad\.ndjson:3: malformed JSON/);
  t.match(refused.stderr, /bad\.ndjson:4: metric value: "value" is not a number/);
  t.match(refused.stderr, /more than maxParseExceptions \(2\); nothing was published/);
  t.equal((await segments()).length, 7, 'nothing published');
  const lenient = spec(dir, 'lenient', { files: ['bad.ndjson'], format: 'ndjson' }, { maxParseExceptions: 3 });
  const accepted = await cairn(['ingest', '--config', cluster.configPath, lenient]);
  t.equal(accepted.code, 0, accepted.stderr);
  t.match(accepted.stdout, /8 rows read, 3 rejected, 5 stored/);

  // 6. CSV from standard input, with quoted separators, and rollup.
  const csv = 'ts,country,device,value\n2024-03-04T00:00:01Z,"fr, paris",phone,1.5\n2024-03-04T00:00:02Z,"fr, paris",phone,2\n2024-03-04T00:30:00Z,de,desktop,3\n';
  const csvSpec = spec(dir, 'csv', { files: ['-'], format: 'csv' }, { rollup: true, queryGranularity: 'hour', dataSource: 'rolled' });
  const fromStdin = await cairn(['ingest', '--config', cluster.configPath, csvSpec], { stdin: csv });
  t.equal(fromStdin.code, 0, fromStdin.stderr);
  t.match(fromStdin.stdout, /3 rows read, 0 rejected, 2 stored/, 'two rows rolled into one');
  const rolled = (await api<{ segments: Seg[] }>(url, '/v1/segments?dataSource=rolled')).body.segments;
  const file = readSegment(new Uint8Array(readFileSync(join(deep, rolled[0]!.location))));
  t.same(file.dimensions.get('country')!.dictionary, ['de', 'fr, paris']);
  t.same([...file.metrics.get('count')!.values].sort(), [1, 2], 'the count metric says how many rows each stands for');

  // 7. Parquet, written by DuckDB.
  const parquet = join(dir, 'events.parquet');
  const duck = await (await DuckDBInstance.create(':memory:')).connect();
  await duck.run(`COPY (SELECT TIMESTAMP '2024-03-05 00:00:00' + INTERVAL (i) MINUTE AS ts, CASE WHEN i % 2 = 0 THEN 'fr' ELSE 'de' END AS country,
    'phone' AS device, i::DOUBLE AS value FROM range(120) t(i)) TO '${parquet}' (FORMAT parquet, COMPRESSION zstd)`);
  const pq = spec(dir, 'pq', { files: ['events.parquet'], format: 'parquet' }, { dataSource: 'fromparquet', timestamp: { column: 'ts', format: 'auto' } });
  const fromParquet = await cairn(['ingest', '--config', cluster.configPath, pq]);
  t.equal(fromParquet.code, 0, fromParquet.stderr);
  t.match(fromParquet.stdout, /120 rows read, 0 rejected, 120 stored in 2 segment/);
  // input.maxRows: a sample of the first rows, from a columnar and from a row input.
  const pqSample = spec(dir, 'pq-sample', { files: ['events.parquet'], format: 'parquet', maxRows: 50 }, { dataSource: 'pqsample', timestamp: { column: 'ts', format: 'auto' } });
  const sampled = await cairn(['ingest', '--config', cluster.configPath, pqSample]);
  t.equal(sampled.code, 0, sampled.stderr);
  t.match(sampled.stdout, /50 rows read, 0 rejected, 50 stored in 1 segment/, 'only the first 50 parquet rows');
  writeFileSync(join(dir, 'sample.ndjson'), `${ndjson(rows(7, T0, 1, 10).slice(0, 3))}{broken\n${ndjson(rows(8, T0, 1, 10))}`);
  const ndSample = spec(dir, 'nd-sample', { files: ['sample.ndjson'], format: 'ndjson', maxRows: 5 }, { dataSource: 'ndsample', maxParseExceptions: 1 });
  const ndSampled = await cairn(['ingest', '--config', cluster.configPath, ndSample]);
  t.equal(ndSampled.code, 0, ndSampled.stderr);
  t.match(ndSampled.stdout, /5 rows read, 1 rejected, 4 stored/, 'five records: three rows, the broken line, one more row');

  // 8. Errors are one line and a non-zero exit.
  const badSpec = join(dir, 'badspec.json');
  writeFileSync(badSpec, JSON.stringify({ dataSource: 'x', input: { files: ['a'], format: 'xml' } }));
  const usage = await cairn(['ingest', '--config', cluster.configPath, badSpec]);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /^cairn: invalid ingestion spec: input\.format: .*\n$/);
  t.equal(usage.stderr.split('\n').length, 2, 'one line');
  const missing = await cairn(['ingest', '--config', join(dir, 'nope.json'), day1]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /^cairn: cannot read cluster config .*nope\.json/);
});
