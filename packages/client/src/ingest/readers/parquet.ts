import { asyncBufferFromFile, parquetMetadataAsync, parquetRead } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import type { RowBatch, RowSource } from './types.js';

/**
 * Parquet through hyparquet, one row group at a time (bounded memory); ZSTD, Snappy, Gzip and
 * Brotli pages decode through hyparquet-compressors. Timestamps arrive as epoch milliseconds.
 */
export function parquetSource(name: string, path: string, bytesTotal: number | null, rowLimit: number | null = null): RowSource {
  return {
    name,
    bytesTotal,
    async *batches(): AsyncGenerator<RowBatch> {
      const file = await asyncBufferFromFile(path);
      const metadata = await parquetMetadataAsync(file);
      const total = Math.min(Number(metadata.num_rows), rowLimit ?? Infinity);
      let rowStart = 0;
      for (const group of metadata.row_groups) {
        // A row limit ends the read inside a row group: nothing past it is decoded.
        const count = Math.min(Number(group.num_rows), total - rowStart);
        if (count <= 0) break;
        // Column chunks, decoded without assembling row objects (the costly part of row reads).
        const chunks = new Map<string, { rowStart: number; rowEnd: number; data: ArrayLike<unknown> }[]>();
        await parquetRead({
          file,
          metadata,
          compressors,
          rowStart,
          rowEnd: rowStart + count,
          // Numbers instead of Date objects: cheaper, and the timestamp parser takes either.
          parsers: {
            timestampFromMilliseconds: (ms: bigint) => Number(ms),
            timestampFromMicroseconds: (us: bigint) => Number(us / 1000n),
            timestampFromNanoseconds: (ns: bigint) => Number(ns / 1_000_000n),
            dateFromDays: (days: number) => days * 86_400_000,
          },
          onChunk: (c: { columnName: string; columnData: ArrayLike<unknown>; rowStart: number; rowEnd: number }) => {
            let list = chunks.get(c.columnName);
            if (!list) chunks.set(c.columnName, (list = []));
            list.push({ rowStart: c.rowStart, rowEnd: c.rowEnd, data: c.columnData });
          },
        } as Parameters<typeof parquetRead>[0]);
        const data = new Map<string, ArrayLike<unknown>>();
        for (const [name, list] of chunks) data.set(name, slice(list, rowStart, rowStart + count));
        const lines = new Array<number>(count);
        for (let i = 0; i < count; i++) lines[i] = rowStart + i + 1;
        rowStart += count;
        yield { rows: [], columns: { length: count, data }, lines, errors: [], bytesRead: bytesTotal === null ? 0 : Math.round((bytesTotal * rowStart) / Math.max(1, total)) };
      }
    },
  };
}

/** The rows [from, to) of a column given as chunks that may start before or end after them. */
function slice(chunks: readonly { rowStart: number; rowEnd: number; data: ArrayLike<unknown> }[], from: number, to: number): ArrayLike<unknown> {
  const sorted = [...chunks].sort((a, b) => a.rowStart - b.rowStart);
  if (sorted.length === 1 && sorted[0]!.rowStart === from && sorted[0]!.rowEnd === to) return sorted[0]!.data;
  const out = new Array<unknown>(to - from);
  for (const c of sorted) {
    for (let r = Math.max(from, c.rowStart); r < Math.min(to, c.rowEnd); r++) out[r - from] = c.data[r - c.rowStart];
  }
  return out;
}
