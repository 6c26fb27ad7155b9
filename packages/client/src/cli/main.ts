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

/**
 * Exit statuses of the metadata group's error codes. INVALID means the request, made from the
 * user's flags, arguments or files, was malformed or broke a rule of the catalog (an interval that
 * is not one, rules of an unknown type): bad input, exit 2. UNAUTHORIZED means the token of the
 * user's cluster config (or CAIRN_TOKEN) is wrong, which only the user can fix, as a bad config
 * file is (ConfigError): exit 2. Every other code stays exit 1: NOT_FOUND can also mean a route an
 * older server lacks, PAYLOAD_TOO_LARGE also stands for a catalog that is full (LIMIT_EXCEEDED),
 * CONFLICT and ALREADY_EXISTS are about the cluster's state, and UNSUPPORTED_MEDIA_TYPE and
 * PROTOCOL_VERSION would be this client's fault; none is a mistake the user can correct by
 * changing the command line.
 */
const META_INPUT_CODES = new Set(['INVALID', 'UNAUTHORIZED']);

/** Set when writing to stdout failed: the output did not arrive complete. */
let outputFailed: Error | null = null;
// Without a listener, a failed write (EPIPE when the reader has gone, as with `| head`) would be
// thrown as an uncaught error with a stack trace. Nothing can be reported on stdout any more, and
// a failing stderr has nowhere to report to.
process.stdout.on('error', (err: Error) => (outputFailed ??= err));
process.stderr.on('error', () => {});

/**
 * Ends the process once everything written to stdout and stderr has been handed to the kernel.
 * Writes to a pipe are asynchronous on Linux: what the pipe's buffer cannot take is queued in the
 * process, and a process.exit() right after the last write dropped that queue (`cairn segments
 * --json | wc -c` counted 64-128 KiB of 1.16 MB, exit 0). The callback of a write runs after the
 * writes before it, so an empty write per stream is the point where both are flushed.
 * process.exit() still ends it rather than an emptied event loop: a command may leave requests
 * behind (`status` does not wait for the worker listing's retries once no member answered).
 */
function exitWhenFlushed(code: number): void {
  let pending = 2;
  const flushed = () => {
    if (--pending > 0) return;
    // Success means complete output: a successful command whose output could not be written fails.
    if (code === 0 && outputFailed) {
      if (!isBrokenPipe(outputFailed)) process.stderr.write(`cairn: cannot write the output: ${outputFailed.message}\n`);
      code = 1;
    }
    process.exit(code);
  };
  for (const stream of [process.stdout, process.stderr]) {
    // After a failure the stream is destroyed: the callback then gets an error, and runs anyway.
    stream.write('', (err) => {
      if (err && stream === process.stdout) outputFailed ??= err;
      flushed();
    });
  }
}

/** The reader went away: as for a tool killed by SIGPIPE, nothing worth a message. */
function isBrokenPipe(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED';
}

main(process.argv.slice(2)).then(
  (code) => exitWhenFlushed(code),
  (err: unknown) => {
    const usageError = err instanceof CliError || err instanceof ConfigError || err instanceof SpecError || (err instanceof QueryError && err.code === 'INVALID_QUERY') ||
      (err instanceof MetaError && META_INPUT_CODES.has(err.code));
    const message = err instanceof MetaError ? `the metadata group refused: ${err.code}: ${err.message}` : err instanceof QueryError ? `query failed (${err.code}): ${err.message}` : err instanceof Error ? err.message : String(err);
    // One line, whatever the message holds (a server's or a library's text may span lines).
    process.stderr.write(`cairn: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    exitWhenFlushed(usageError ? 2 : 1);
  },
);
