import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import type { Readable } from 'node:stream';
import { canonicalJson, formatInstant } from '@cairn/shared';
import { segmentKey } from '@cairn/shared/deep-storage';
import type { DeepStorage } from '@cairn/shared/deep-storage';
import { writeSegment } from '@cairn/shared/segment';
import type { MetaClient } from '../meta-client.js';
import type { Progress, ProgressState } from './progress.js';
import { openInputs } from './readers/index.js';
import type { RowBatch } from './readers/index.js';
import { SegmentBuilder } from './segment-builder.js';
import type { IngestionSpec } from './spec.js';

/** Uploads in flight at once: enough to hide latency to S3 without piling segments in memory. */
const UPLOAD_CONCURRENCY_MAX = 4;
/** Parse errors listed in the report; all are counted. */
const ERRORS_LISTED_MAX = 20;

export interface IngestOptions {
  readonly spec: IngestionSpec;
  /** Input paths are relative to this (the spec file's folder). */
  readonly baseDir: string;
  readonly stdin: Readable;
  readonly deepStorage: DeepStorage;
  readonly meta: MetaClient;
  readonly progress: Progress;
  /** Overrides the spec's (or the derived) ingestion id. */
  readonly ingestionId?: string;
  readonly now?: () => number;
  /** Called after each upload (tests use it to crash a job midway). */
  readonly onUploaded?: (count: number) => void;
}

export interface ParseError {
  readonly file: string;
  readonly line: number;
  readonly message: string;
}

export interface IngestReport {
  readonly ingestionId: string;
  /** The version of the segments published under the ingestion id: on a replay, the earlier run's. */
  readonly version: string;
  readonly rowsRead: number;
  readonly rowsRejected: number;
  /** Rows stored after rollup. */
  readonly rowsStored: number;
  readonly parseErrors: readonly ParseError[];
  readonly segments: number;
  readonly intervals: number;
  readonly bytes: number;
  readonly published: number;
  /** True when this ingestion id had been published before: nothing changed. */
  readonly replayed: boolean;
  readonly elapsedMs: number;
}

export class IngestError extends Error {
  override name = 'IngestError';
  constructor(message: string, readonly report?: Partial<IngestReport>) {
    super(message);
  }
}

/**
 * Runs a batch ingestion: read and parse every input (rejecting bad rows, with their lines),
 * build segments, upload them to deep storage (content-addressed, so a retry never overwrites
 * another segment), then publish them all in one atomic, idempotent publish keyed by the
 * ingestion id. Past `maxParseExceptions` bad rows, nothing is uploaded or published.
 */
export async function runIngestion(o: IngestOptions): Promise<IngestReport> {
  const now = o.now ?? Date.now;
  const started = now();
  const spec = o.spec;
  const builder = new SegmentBuilder(spec);
  const errors: ParseError[] = [];
  let rejected = 0;
  const state: ProgressState = { phase: 'reading', rows: 0, rejected: 0, bytesRead: 0, bytesTotal: null, segments: 0, segmentsTotal: null, bytesUploaded: 0 };

  // The input's own bytes feed the default ingestion id, so rerunning a job on the same input is a no-op.
  const inputHash = createHash('sha256');
  const stdin = spec.input.files.includes('-') ? hashing(o.stdin, inputHash) : o.stdin;
  const sources = openInputs(spec, o.baseDir, stdin);
  state.bytesTotal = sources.every((s) => s.bytesTotal !== null) ? sources.reduce((a, s) => a + s.bytesTotal!, 0) : null;
  let bytesDone = 0;
  // input.maxRows: rows left to read, over all the inputs in order.
  let rowsLeft = spec.input.maxRows ?? Infinity;
  for (const source of sources) {
    if (rowsLeft <= 0) break;
    if (source.name !== 'stdin') await hashFile(resolve(o.baseDir, source.name), inputHash);
    let sourceBytes = 0;
    for await (const whole of source.batches()) {
      const batch = limitBatch(whole, rowsLeft);
      rowsLeft -= batch.rows.length + (batch.columns?.length ?? 0) + batch.errors.length;
      for (const e of batch.errors) {
        rejected++;
        if (errors.length < ERRORS_LISTED_MAX) errors.push({ file: source.name, line: e.line, message: e.message });
      }
      const reject = (i: number, why: string | null) => {
        if (why === null) return;
        rejected++;
        if (errors.length < ERRORS_LISTED_MAX) errors.push({ file: source.name, line: batch.lines[i]!, message: why });
      };
      for (let i = 0; i < batch.rows.length; i++) reject(i, builder.add(batch.rows[i]!));
      if (batch.columns) {
        const { length, data } = batch.columns;
        let row = 0;
        const get = (name: string) => data.get(name)?.[row];
        for (; row < length; row++) reject(row, builder.addFrom(get));
      }
      if (rejected > spec.maxParseExceptions) {
        throw new IngestError(
          `${rejected} row(s) could not be parsed, more than maxParseExceptions (${spec.maxParseExceptions}); nothing was published`,
          { rowsRead: builder.stats.rowsRead, rowsRejected: rejected, parseErrors: errors },
        );
      }
      sourceBytes = batch.bytesRead;
      state.rows = builder.stats.rowsRead + (rejected - builder.stats.rowsRejected);
      state.rejected = rejected;
      state.bytesRead = bytesDone + sourceBytes;
      o.progress.update(state);
      if (rowsLeft <= 0) break;
    }
    bytesDone += source.bytesTotal ?? sourceBytes;
  }
  if (builder.stats.rowsStored === 0) {
    throw new IngestError(`no rows to ingest (${builder.stats.rowsRead} read, ${rejected} rejected)`, { rowsRejected: rejected, parseErrors: errors });
  }

  const version = spec.version ?? formatInstant(started);
  const ingestionId = o.ingestionId ?? spec.ingestionId ?? defaultIngestionId(spec, inputHash.digest('hex'));
  state.phase = 'writing';
  const published: Record<string, unknown>[] = [];
  let bytes = 0;
  let uploads = 0;
  const inFlight = new Set<Promise<void>>();
  for (const columns of builder.segments(version)) {
    const w = writeSegment(columns);
    const key = segmentKey(spec.dataSource, w.checksum);
    const upload = o.deepStorage.put(key, w.bytes, w.checksum).then(() => {
      state.segments++;
      state.bytesUploaded += w.bytes.length;
      o.progress.update(state);
      o.onUploaded?.(++uploads);
    });
    bytes += w.bytes.length;
    published.push({
      id: w.id,
      dataSource: w.meta.dataSource,
      start: w.meta.start,
      end: w.meta.end,
      version: w.meta.version,
      partition: w.meta.partition,
      partitions: w.meta.partitions,
      size: w.bytes.length,
      rows: w.meta.rowCount,
      schema: {
        dimensions: w.meta.dimensions,
        metrics: w.meta.metrics,
        rollup: w.meta.rollup,
        queryGranularity: w.meta.queryGranularity,
        formatVersion: w.meta.formatVersion,
      },
      checksum: w.checksum,
      location: key,
    });
    const tracked = upload.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
    if (inFlight.size >= UPLOAD_CONCURRENCY_MAX) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);

  state.phase = 'publishing';
  state.segmentsTotal = published.length;
  o.progress.update(state);
  const result = await o.meta.request<{ ok: true; replayed: boolean; published: number }>(
    'POST', '/v1/segments/publish', { ingestionId, segments: published }, { idempotent: true },
  );
  // A replay published nothing: what stands is the earlier run's segments, of its version.
  const publishedVersion = result.replayed ? await versionPublishedBy(o.meta, spec.dataSource, ingestionId, published) : version;
  state.phase = 'done';
  o.progress.finish(state);
  return {
    ingestionId,
    version: publishedVersion,
    rowsRead: state.rows,
    rowsRejected: rejected,
    rowsStored: builder.stats.rowsStored,
    parseErrors: errors,
    segments: published.length,
    intervals: builder.intervalCount,
    bytes,
    published: result.published,
    replayed: result.replayed,
    elapsedMs: now() - started,
  };
}

/**
 * The version of the segments an earlier run published under `ingestionId`: looked up where this
 * run's segments lie (a rerun of the same job builds the same intervals), else over the whole
 * datasource (the id was reused for other data). Unused and overshadowed segments count: they
 * are still what that run published.
 */
async function versionPublishedBy(meta: MetaClient, dataSource: string, ingestionId: string, built: readonly Record<string, unknown>[]): Promise<string> {
  const start = Math.min(...built.map((s) => s['start'] as number));
  const end = Math.max(...built.map((s) => s['end'] as number));
  const base = `/v1/segments?dataSource=${encodeURIComponent(dataSource)}&includeUnused=true&includeOvershadowed=true`;
  for (const path of [`${base}&interval=${encodeURIComponent(`${formatInstant(start)}/${formatInstant(end)}`)}`, base]) {
    const { segments } = await meta.get<{ segments: { version: string; ingestionId: string }[] }>(path);
    const mine = segments.find((s) => s.ingestionId === ingestionId);
    if (mine) return mine.version;
  }
  throw new IngestError(`ingestion ${ingestionId} was published before (nothing changed), but no segment of it was found in datasource ${dataSource}: it was published to another datasource`);
}

/** The first `limit` records of a batch (rows, columns and undecodable lines in line order). */
function limitBatch(b: RowBatch, limit: number): RowBatch {
  const records = b.rows.length + (b.columns?.length ?? 0) + b.errors.length;
  if (records <= limit) return b;
  if (b.columns) return { ...b, rows: [], errors: [], columns: { length: limit, data: b.columns.data }, lines: b.lines.slice(0, limit) };
  // Row inputs: keep the records whose line comes first, counting decode errors as records.
  const lines = [...b.lines.map((line, i) => ({ line, i, error: false })), ...b.errors.map((e, i) => ({ line: e.line, i, error: true }))]
    .sort((x, y) => x.line - y.line)
    .slice(0, limit);
  const keepRows = lines.filter((r) => !r.error).map((r) => r.i).sort((x, y) => x - y);
  const keepErrors = new Set(lines.filter((r) => r.error).map((r) => r.i));
  return {
    ...b,
    rows: keepRows.map((i) => b.rows[i]!),
    lines: keepRows.map((i) => b.lines[i]!),
    errors: b.errors.filter((_, i) => keepErrors.has(i)),
  };
}

/** The same spec over the same input bytes gets the same id: a rerun publishes nothing new. */
function defaultIngestionId(spec: IngestionSpec, inputSha256: string): string {
  const { ingestionId: _id, version: _v, ...rest } = spec;
  const digest = createHash('sha256').update(canonicalJson(rest)).update(inputSha256).digest('hex');
  return `ingest-${spec.dataSource}-${digest.slice(0, 32)}`;
}

async function hashFile(path: string, into: ReturnType<typeof createHash>): Promise<void> {
  for await (const chunk of createReadStream(path)) into.update(chunk as Buffer);
}

function hashing(input: Readable, into: ReturnType<typeof createHash>): Readable {
  const through = new PassThrough();
  input.on('data', (chunk: Buffer) => into.update(chunk));
  input.pipe(through);
  return through;
}
