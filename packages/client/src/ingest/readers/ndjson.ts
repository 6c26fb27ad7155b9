import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { ROWS_PER_BATCH } from './types.js';
import type { RowBatch, RowSource } from './types.js';

/** Newline-delimited JSON: one object per line; blank lines are skipped. */
export function ndjsonSource(name: string, open: () => Readable, bytesTotal: number | null): RowSource {
  return {
    name,
    bytesTotal,
    async *batches(): AsyncGenerator<RowBatch> {
      const stream = open();
      let bytesRead = 0;
      stream.on('data', (chunk: Buffer | string) => (bytesRead += chunk.length));
      const lines = createInterface({ input: stream, crlfDelay: Infinity });
      let rows: Record<string, unknown>[] = [];
      let numbers: number[] = [];
      let errors: { line: number; message: string }[] = [];
      let n = 0;
      for await (const line of lines) {
        n++;
        if (line.trim() === '') continue;
        try {
          const v = JSON.parse(line) as unknown;
          if (typeof v !== 'object' || v === null || Array.isArray(v)) errors.push({ line: n, message: 'not a JSON object' });
          else {
            rows.push(v as Record<string, unknown>);
            numbers.push(n);
          }
        } catch (err) {
          errors.push({ line: n, message: `malformed JSON: ${(err as Error).message}` });
        }
        if (rows.length + errors.length >= ROWS_PER_BATCH) {
          yield { rows, lines: numbers, errors, bytesRead };
          rows = [];
          numbers = [];
          errors = [];
        }
      }
      yield { rows, lines: numbers, errors, bytesRead };
    },
  };
}
