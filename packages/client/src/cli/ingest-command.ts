import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ingestionIdSchema } from '@cairn/shared';
import { loadClusterConfig } from '@cairn/shared/config';
import { createDeepStorage } from '@cairn/shared/deep-storage';
import { IngestError, runIngestion } from '../ingest/ingest.js';
import type { IngestReport } from '../ingest/ingest.js';
import { createProgress } from '../ingest/progress.js';
import { parseIngestionSpec } from '../ingest/spec.js';
import { MetaClient } from '../meta-client.js';
import { CliError, parseFlags } from './flags.js';

export const INGEST_USAGE = 'cairn ingest --config cluster.json SPEC.json [--ingestion-id ID] [--json]';

/** `cairn ingest`: runs a batch ingestion job described by a spec file. */
export async function ingestCommand(argv: readonly string[]): Promise<number> {
  const { flags, positional } = parseFlags(argv, { config: 'string', 'ingestion-id': 'string', json: 'boolean' }, INGEST_USAGE);
  if (positional.length !== 1) throw new CliError(`expected one spec file; usage: ${INGEST_USAGE}`);
  // Checked here, with the schema the spec's own ingestionId and the catalog's publish use: the
  // catalog refusing it would come only after the input was read and its segment files uploaded
  // to deep storage, where nothing would ever reference them.
  const ingestionId = flags['ingestion-id'];
  if (typeof ingestionId === 'string') {
    const checked = ingestionIdSchema.safeParse(ingestionId);
    if (!checked.success) throw new CliError(`--ingestion-id ${JSON.stringify(ingestionId)}: ${checked.error.issues.map((i) => i.message).join('; ')}`);
  }
  const specPath = resolve(positional[0]!);
  const config = loadClusterConfig(requireFlag(flags.config, '--config', INGEST_USAGE));
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(specPath, 'utf8'));
  } catch (err) {
    throw new CliError(`cannot read spec ${positional[0]}: ${(err as Error).message}`);
  }
  const spec = parseIngestionSpec(json);
  const meta = new MetaClient(config.meta, config.auth.token);
  const crashAfter = Number(process.env['CAIRN_FAULT_INGEST_EXIT_AFTER_UPLOADS'] ?? 0);
  let report: IngestReport;
  try {
    report = await runIngestion({
      spec,
      baseDir: dirname(specPath),
      stdin: process.stdin,
      deepStorage: createDeepStorage(config.deepStorage),
      meta,
      progress: createProgress(process.stderr),
      ...(typeof ingestionId === 'string' ? { ingestionId } : {}),
      // Fault injection for tests: die like a killed process after N uploads, before publishing.
      ...(crashAfter > 0 ? { onUploaded: (n: number) => n >= crashAfter && process.exit(137) } : {}),
    });
  } catch (err) {
    if (err instanceof IngestError) {
      for (const e of err.report?.parseErrors ?? []) process.stderr.write(`  ${e.file}:${e.line}: ${e.message}\n`);
      throw new CliError(err.message);
    }
    throw err;
  }
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } else {
    for (const e of report.parseErrors) process.stderr.write(`  rejected ${e.file}:${e.line}: ${e.message}\n`);
    const mib = (report.bytes / 1024 / 1024).toFixed(1);
    const what = report.replayed
      ? `already published by an earlier run: nothing changed (ingestion id ${report.ingestionId})`
      : `published ${report.published} segment(s) as version ${report.version} (ingestion id ${report.ingestionId})`;
    process.stdout.write(
      `${report.rowsRead.toLocaleString('en-US')} rows read, ${report.rowsRejected} rejected, ${report.rowsStored.toLocaleString('en-US')} stored ` +
      `in ${report.segments} segment(s) over ${report.intervals} interval(s), ${mib} MiB, in ${(report.elapsedMs / 1000).toFixed(1)} s; ${what}\n`,
    );
  }
  return 0;
}

function requireFlag(v: string | boolean | undefined, name: string, usage: string): string {
  if (typeof v !== 'string') throw new CliError(`${name} is required; usage: ${usage}`);
  return v;
}
