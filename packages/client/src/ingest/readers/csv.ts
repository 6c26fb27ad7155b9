import type { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { ROWS_PER_BATCH } from './types.js';
import type { RowBatch, RowSource } from './types.js';

/** CSV with a header line naming the columns; quoted fields, embedded separators and CRLF are fine. */
export function csvSource(name: string, open: () => Readable, bytesTotal: number | null, delimiter: string): RowSource {
  return {
    name,
    bytesTotal,
    async *batches(): AsyncGenerator<RowBatch> {
      const stream = open();
      let bytesRead = 0;
      stream.on('data', (chunk: Buffer | string) => (bytesRead += chunk.length));
      const parser = stream.pipe(parse({
        columns: true,
        delimiter,
        info: true,
        bom: true,
        skip_empty_lines: true,
        // A bad record is reported with its line and skipped, not fatal.
        skip_records_with_error: true,
        relax_column_count: false,
      }));
      const errors: { line: number; message: string }[] = [];
      parser.on('skip', (err: Error & { lines?: number }) => errors.push({ line: err.lines ?? 0, message: err.message }));
      let rows: Record<string, unknown>[] = [];
      let lines: number[] = [];
      for await (const rec of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
        rows.push(rec.record);
        lines.push(rec.info.lines);
        if (rows.length >= ROWS_PER_BATCH) {
          yield { rows, lines, errors: errors.splice(0), bytesRead };
          rows = [];
          lines = [];
        }
      }
      yield { rows, lines, errors: errors.splice(0), bytesRead };
    },
  };
}
