import { createReadStream, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { IngestionSpec } from '../spec.js';
import { csvSource } from './csv.js';
import { jsonArraySource, readText } from './json-array.js';
import { ndjsonSource } from './ndjson.js';
import { parquetSource } from './parquet.js';
import type { RowSource } from './types.js';

export type { RowBatch, RowSource } from './types.js';

/** Opens the job's inputs (paths relative to `baseDir`; "-" is `stdin`). */
export function openInputs(spec: IngestionSpec, baseDir: string, stdin: Readable): RowSource[] {
  return spec.input.files.map((file) => {
    if (file === '-') {
      switch (spec.input.format) {
        case 'ndjson':
          return ndjsonSource('stdin', () => stdin, null);
        case 'csv':
          return csvSource('stdin', () => stdin, null, spec.input.delimiter);
        case 'json':
          return jsonArraySource('stdin', () => streamText(stdin), null);
        case 'parquet':
          throw new Error('parquet cannot be read from standard input');
      }
    }
    const path = resolve(baseDir, file);
    let size: number;
    try {
      size = statSync(path).size;
    } catch (err) {
      throw new InputError(`cannot read input ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
    switch (spec.input.format) {
      case 'ndjson':
        return ndjsonSource(file, () => createReadStream(path), size);
      case 'csv':
        return csvSource(file, () => createReadStream(path), size, spec.input.delimiter);
      case 'json':
        return jsonArraySource(file, readText(path), size);
      case 'parquet':
        return parquetSource(file, path, size, spec.input.maxRows ?? null);
    }
  });
}

export class InputError extends Error {
  override name = 'InputError';
}

async function streamText(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}
