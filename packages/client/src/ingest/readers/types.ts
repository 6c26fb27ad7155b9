/** A batch of input rows, with where each came from so bad rows can be reported by line. */
export interface RowBatch {
  readonly rows: readonly Record<string, unknown>[];
  /** Columnar inputs (Parquet) give columns instead of row objects: `columns[name][i]` is row i. */
  readonly columns?: { readonly length: number; readonly data: ReadonlyMap<string, ArrayLike<unknown>> };
  /** 1-based line (NDJSON, CSV), element (JSON array) or record (Parquet) number of each row. */
  readonly lines: readonly number[];
  /** Rows that could not even be decoded (malformed JSON line, bad CSV record). */
  readonly errors: readonly { readonly line: number; readonly message: string }[];
  /** Input bytes consumed so far, for progress. */
  readonly bytesRead: number;
}

/** An opened input: its size if known, and its rows in batches. */
export interface RowSource {
  readonly name: string;
  readonly bytesTotal: number | null;
  batches(): AsyncGenerator<RowBatch>;
}

export const ROWS_PER_BATCH = 8192;
