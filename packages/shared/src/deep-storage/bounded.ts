/**
 * Runs `fn` over `items` with at most `concurrencyMax` calls in flight, results in input order.
 * On the first failure it starts no new call, waits for the calls in flight to settle (so nothing
 * runs behind the caller's back, e.g. a part upload after its multipart upload was aborted),
 * calls `onFirstFailure` at once (to cancel those calls early), then rejects with that failure.
 *
 * @example const sizes = await mapBounded(keys, 4, (k) => store.stat(k));
 */
export async function mapBounded<T, R>(
  items: readonly T[],
  concurrencyMax: number,
  fn: (item: T, index: number) => Promise<R>,
  onFirstFailure?: (err: unknown) => void,
): Promise<R[]> {
  if (!Number.isInteger(concurrencyMax) || concurrencyMax < 1) throw new RangeError(`concurrencyMax must be a positive integer, got ${concurrencyMax}`);
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (err) {
        if (!failed) {
          failed = true;
          failure = err;
          onFirstFailure?.(err);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrencyMax, items.length) }, worker));
  if (failed) throw failure;
  return results;
}
