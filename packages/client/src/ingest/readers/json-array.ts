import { readFile } from 'node:fs/promises';
import { ROWS_PER_BATCH } from './types.js';
import type { RowBatch, RowSource } from './types.js';

/** A JSON file holding one array of objects; rows are numbered by element (1-based). */
export function jsonArraySource(name: string, read: () => Promise<string>, bytesTotal: number | null): RowSource {
  return {
    name,
    bytesTotal,
    async *batches(): AsyncGenerator<RowBatch> {
      const text = await read();
      let all: unknown;
      try {
        all = JSON.parse(text);
      } catch (err) {
        yield { rows: [], lines: [], errors: [{ line: 1, message: `malformed JSON: ${(err as Error).message}` }], bytesRead: text.length };
        return;
      }
      if (!Array.isArray(all)) {
        yield { rows: [], lines: [], errors: [{ line: 1, message: 'expected a JSON array of objects' }], bytesRead: text.length };
        return;
      }
      for (let at = 0; at < all.length; at += ROWS_PER_BATCH) {
        const rows: Record<string, unknown>[] = [];
        const lines: number[] = [];
        const errors: { line: number; message: string }[] = [];
        for (let i = at; i < Math.min(all.length, at + ROWS_PER_BATCH); i++) {
          const v = all[i] as unknown;
          if (typeof v !== 'object' || v === null || Array.isArray(v)) errors.push({ line: i + 1, message: 'element is not a JSON object' });
          else {
            rows.push(v as Record<string, unknown>);
            lines.push(i + 1);
          }
        }
        yield { rows, lines, errors, bytesRead: Math.round((text.length * Math.min(all.length, at + ROWS_PER_BATCH)) / all.length) };
      }
    },
  };
}

export const readText = (path: string) => () => readFile(path, 'utf8');
