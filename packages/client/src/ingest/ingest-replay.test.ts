import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import t from 'tap';
import type { DeepStorage } from '@cairn/shared/deep-storage';
import type { MetaClient } from '../meta-client.js';
import { runIngestion } from './ingest.js';
import { parseIngestionSpec } from './spec.js';

t.test('a replayed publish reports the version the earlier run published', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-replay-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'x.ndjson'), '{"ts":"2024-03-01T00:10:00Z"}\n{"ts":"2024-03-01T01:10:00Z"}\n');
  const spec = parseIngestionSpec({ dataSource: 'events', input: { files: ['x.ndjson'], format: 'ndjson' }, timestamp: { column: 'ts', format: 'iso' }, dimensions: [], segmentGranularity: 'hour' });
  const asked: string[] = [];
  const meta = {
    request: async (method: string, path: string) => {
      asked.push(`${method} ${path}`);
      return { ok: true, replayed: true, published: 2 };
    },
    get: async (path: string) => {
      asked.push(`GET ${path}`);
      return { segments: [{ version: 'v-other', ingestionId: 'someone-else' }, { version: '2024-02-01T00:00:00.000Z', ingestionId: 'job-1' }] };
    },
  } as unknown as MetaClient;
  const deepStorage = { kind: 'local', put: async () => ({ written: false }) } as unknown as DeepStorage;
  const report = await runIngestion({
    spec, baseDir: dir, stdin: Readable.from([]), deepStorage, meta, ingestionId: 'job-1',
    progress: { update: () => {}, finish: () => {} }, now: () => Date.parse('2024-05-01T00:00:00Z'),
  });
  t.equal(report.replayed, true);
  t.equal(report.version, '2024-02-01T00:00:00.000Z', 'the earlier run\'s version, not this run\'s start time');
  t.match(asked[1], /^GET \/v1\/segments\?dataSource=events&includeUnused=true&includeOvershadowed=true&interval=2024-03-01T00%3A00%3A00.000Z%2F2024-03-01T02%3A00%3A00.000Z$/);
});
