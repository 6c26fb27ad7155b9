import t from 'tap';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { SegmentInput } from '@cairn/shared';
import { Catalog } from './catalog.js';

/**
 * 100,000 segments published through `apply` in batches of 1,000 (as ingestion does), then the
 * state rebuilt with `fromRecords`. Times and memory are printed, never asserted (speed belongs
 * in bench/); only correctness is asserted.
 */

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapMb = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 1e6;
};

/** A tiny seeded generator for checksums (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return (x ^ (x >>> 14)) >>> 0;
  };
}

const SEGMENTS = 100_000;
const BATCH = 1_000;
const PARTITIONS = 10;
const HOUR = 3_600_000;
const BASE = Date.UTC(2020, 0, 1);
const schema = { dimensions: ['country', 'device', 'page'], metrics: [{ name: 'views', type: 'longSum' }], timestamp: '__time' };

function batch(b: number, rnd: () => number): SegmentInput[] {
  const out: SegmentInput[] = [];
  for (let i = 0; i < BATCH; i++) {
    const n = b * BATCH + i;
    const hour = Math.floor(n / PARTITIONS);
    const start = BASE + hour * HOUR;
    let checksum = '';
    for (let w = 0; w < 8; w++) checksum += rnd().toString(16).padStart(8, '0');
    out.push({
      dataSource: n % 2 === 0 ? 'pageviews' : 'clicks',
      start,
      end: start + HOUR,
      version: '2024-05-01T00:00:00.000Z',
      partition: n % PARTITIONS,
      partitions: PARTITIONS,
      size: 50_000_000 + (n % 1000),
      rows: 1_000_000,
      schema: JSON.parse(JSON.stringify(schema)) as Record<string, unknown>, // a fresh object each, as decoded commands are
      checksum,
      location: `s3://cairn-deep/pageviews/${hour}/${n % PARTITIONS}.arrow`,
    });
  }
  return out;
}

/**
 * Passes over large collections live in their own functions: a temporary in the test's own
 * frame (an interpreter register) would stay reachable and spoil the heap figures.
 */
function storedMegabytes(stored: Map<string, string>): number {
  let n = 0;
  for (const [k, v] of stored) n += k.length + v.length;
  return n / 1e6;
}

/** Reads every record once: how many, whether sorted, and the time it took. */
function scanRecords(catalog: Catalog): { count: number; sorted: boolean; ms: number } {
  const t0 = performance.now();
  let count = 0;
  let sorted = true;
  let previous = '';
  for (const [key] of catalog.records()) {
    if (count++ > 0 && !(previous < key)) sorted = false;
    previous = key;
  }
  return { count, sorted, ms: performance.now() - t0 };
}

t.test(`${SEGMENTS} segments: apply in batches of ${BATCH}, records, fromRecords`, async (t) => {
  const rnd = prng(42);
  const heap0 = heapMb();
  const rss0 = process.memoryUsage().rss / 1e6;
  const live = new Catalog();
  const stored = new Map<string, string>();
  let applyMs = 0;
  let slowestMs = 0;
  let writeCount = 0;
  for (let b = 0; b < SEGMENTS / BATCH; b++) {
    const command = { type: 'publishSegments', at: BASE + b, ingestionId: `ingest-${b}`, segments: batch(b, rnd) };
    const t0 = performance.now();
    const { result, writes } = live.apply(command, { index: b + 1, term: 1 });
    const ms = performance.now() - t0;
    applyMs += ms;
    slowestMs = Math.max(slowestMs, ms);
    if (!result.ok) t.fail(`batch ${b}: ${JSON.stringify(result)}`);
    writeCount += writes.length;
    for (const w of writes) stored.set(w.key, w.value!);
  }
  const storedMb = storedMegabytes(stored);
  stored.clear(); // measure the catalog alone; records() gives the same records back
  const heapLive = heapMb();
  t.comment(
    `apply: ${applyMs.toFixed(0)} ms for ${SEGMENTS / BATCH} publishes (${(applyMs / (SEGMENTS / BATCH)).toFixed(1)} ms each, slowest ${slowestMs.toFixed(1)} ms); ` +
      `${writeCount} writes, ${storedMb.toFixed(1)} MB of keys and values`,
  );
  t.comment(`live catalog: heap +${(heapLive - heap0).toFixed(1)} MB (${(((heapLive - heap0) * 1e6) / SEGMENTS).toFixed(0)} bytes per segment), rss ${(process.memoryUsage().rss / 1e6 - rss0).toFixed(0)} MB above start`);

  const scan = scanRecords(live);
  t.equal(scan.count, SEGMENTS + 2 + 1 + SEGMENTS / BATCH, 'segments, two datasources, one schema, the ingestion ids');
  t.ok(scan.sorted, 'records() is sorted by key');

  // Streamed, as a restart reads LevelDB: no array of all records is ever held.
  const t0 = performance.now();
  const reloaded = Catalog.fromRecords(live.records());
  const loadMs = performance.now() - t0;
  const heapReloaded = heapMb();
  t.comment(
    `records(): ${scan.ms.toFixed(0)} ms; records() streamed into fromRecords: ${loadMs.toFixed(0)} ms; ` +
      `reloaded catalog heap +${(heapReloaded - heapLive).toFixed(1)} MB (${(((heapReloaded - heapLive) * 1e6) / SEGMENTS).toFixed(0)} bytes per segment)`,
  );

  t.same(reloaded.stats(), live.stats());
  t.same(reloaded.datasources(), live.datasources());
  let q0 = performance.now();
  const visible = live.segments();
  const queryMs = performance.now() - q0;
  t.equal(visible.length, SEGMENTS);
  t.comment(`segments() of everything (timeline computed, ${SEGMENTS} records built): ${queryMs.toFixed(0)} ms`);
  const day = '2020-03-01/2020-03-02';
  q0 = performance.now();
  const oneDay = reloaded.segments({ dataSource: 'pageviews', interval: day });
  t.comment(`one day of one datasource by interval: ${(performance.now() - q0).toFixed(1)} ms`);
  t.equal(oneDay.length, 24 * PARTITIONS / 2);
  t.same(oneDay, live.segments({ dataSource: 'pageviews', interval: day }));
  t.equal(visible[0]!.schema, visible[SEGMENTS - 1]!.schema, 'one schema object shared by all segments');
  t.same(reloaded.segment(visible[777]!.id), visible[777]);
});
