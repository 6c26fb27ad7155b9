import { asyncBufferFromFile, parquetMetadataAsync, parquetRead } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import type { RowBatch, RowSource } from './types.js';

/**
 * Parquet through hyparquet, one row group at a time (bounded memory); ZSTD, Snappy, Gzip and
 * Brotli pages decode through hyparquet-compressors. Timestamps arrive as epoch milliseconds.
 */
export function parquetSource(name: string, path: string, bytesTotal: number | null): RowSource {
  return {
    name,
    bytesTotal,
    async *batches(): AsyncGenerator<RowBatch> {
      const file = await asyncBufferFromFile(path);
      const metadata = await parquetMetadataAsync(file);
      const total = Number(metadata.num_rows);
      let rowStart = 0;
      for (const group of metadata.row_groups) {
        const count = Number(group.num_rows);
        const rows: Record<string, unknown>[] = [];
        await parquetRead({
          file,
          metadata,
          compressors,
          rowStart,
          rowEnd: rowStart + count,
          rowFormat: 'object',
          // Numbers instead of Date objects: cheaper, and the timestamp parser takes either.
          parsers: {
            timestampFromMilliseconds: (ms: bigint) => Number(ms),
            timestampFromMicroseconds: (us: bigint) => Number(us / 1000n),
            timestampFromNanoseconds: (ns: bigint) => Number(ns / 1_000_000n),
            dateFromDays: (days: number) => days * 86_400_000,
          },
          onComplete: (data: Record<string, unknown>[]) => {
            for (const r of data) rows.push(r);
          },
        } as Parameters<typeof parquetRead>[0]);
        const lines = new Array<number>(rows.length);
        for (let i = 0; i < rows.length; i++) lines[i] = rowStart + i + 1;
        rowStart += count;
        yield { rows, lines, errors: [], bytesRead: bytesTotal === null ? 0 : Math.round((bytesTotal * rowStart) / Math.max(1, total)) };
      }
    },
  };
}
