import { QueryError } from '@cairn/shared';
import { ConfigError } from '@cairn/shared/config';
import { SpecError } from '../ingest/spec.js';
import { MetaError } from '../meta-client.js';
import { CliError } from './flags.js';
import {
  DATASOURCES_USAGE, datasourcesCommand, QUERY_USAGE, queryCommand, RULES_USAGE, rulesCommand, SEGMENTS_USAGE, segmentsCommand,
  STATUS_USAGE, statusCommand, WORKERS_USAGE, workersCommand,
} from './admin-commands.js';
import { INGEST_USAGE, ingestCommand } from './ingest-command.js';
import { QUICKSTART_USAGE, quickstartCommand } from '../quickstart/quickstart.js';

/**
 * `cairn`: the command line. Every failure is one line on stderr and a non-zero exit
 * (2 for usage and input errors, 1 when the cluster could not do it).
 */
const COMMANDS: Record<string, { usage: string; run: (argv: readonly string[]) => Promise<number> }> = {
  status: { usage: STATUS_USAGE, run: statusCommand },
  datasources: { usage: DATASOURCES_USAGE, run: datasourcesCommand },
  segments: { usage: SEGMENTS_USAGE, run: segmentsCommand },
  rules: { usage: RULES_USAGE, run: rulesCommand },
  workers: { usage: WORKERS_USAGE, run: workersCommand },
  ingest: { usage: INGEST_USAGE, run: ingestCommand },
  query: { usage: QUERY_USAGE, run: queryCommand },
  quickstart: { usage: QUICKSTART_USAGE, run: quickstartCommand },
};

function usage(): string {
  return `usage:\n${Object.values(COMMANDS).map((c) => `  ${c.usage}`).join('\n')}\n`;
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) throw new CliError(`unknown command ${JSON.stringify(name)}; commands: ${Object.keys(COMMANDS).join(', ')}`);
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const usageError = err instanceof CliError || err instanceof ConfigError || err instanceof SpecError || (err instanceof QueryError && err.code === 'INVALID_QUERY');
    const message = err instanceof MetaError ? `the metadata group refused: ${err.code}: ${err.message}` : err instanceof QueryError ? `query failed (${err.code}): ${err.message}` : err instanceof Error ? err.message : String(err);
    process.stderr.write(`cairn: ${message}\n`);
    process.exit(usageError ? 2 : 1);
  },
);
