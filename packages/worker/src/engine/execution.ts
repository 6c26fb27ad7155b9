/**
 * How a worker bounds one per-segment execution: an `isCancelled()` callback (an AbortSignal's
 * `() => signal.aborted` fits) and a deadline, both checked between chunks of rows, so a
 * cancelled or late query stops within one chunk (`chunkRows` rows).
 */
import { QueryError } from '@cairn/shared';

export interface ExecutionOptions {
  /** Polled every chunk; returning true stops the query with QUERY_CANCELLED. */
  isCancelled?: () => boolean;
  /** An instant on `now()`'s clock after which the query stops with QUERY_TIMEOUT. */
  deadlineMs?: number;
  /** The clock for the deadline; `Date.now` by default (the only clock the engine reads, and only with a deadline). */
  now?: () => number;
}

/** Rows the engine processes between checks of cancellation and deadline (and the size of its scratch buffers). */
export const chunkRows = 16_384;

/** Checks cancellation and deadline; `check()` is cheap enough to call per chunk. */
export class Guard {
  private readonly isCancelled: (() => boolean) | undefined;
  private readonly deadlineMs: number | undefined;
  private readonly now: () => number;
  private calls = 0;

  constructor(options: ExecutionOptions = {}) {
    this.isCancelled = options.isCancelled;
    this.deadlineMs = options.deadlineMs;
    this.now = options.now ?? Date.now;
  }

  /** @throws QueryError QUERY_CANCELLED or QUERY_TIMEOUT. */
  check(): void {
    if (this.isCancelled?.()) throw new QueryError('QUERY_CANCELLED', 'the query was cancelled');
    if (this.deadlineMs !== undefined && this.now() > this.deadlineMs) throw new QueryError('QUERY_TIMEOUT', 'the query ran past its deadline');
  }

  /** For loops whose iterations are cheap: checks one call in 1024. */
  tick(): void {
    if ((++this.calls & 1023) === 0) this.check();
  }
}
