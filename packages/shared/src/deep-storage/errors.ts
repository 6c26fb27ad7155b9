/**
 * The one error deep storage throws for operational failures, with a code the caller can act on:
 * - NOT_FOUND: no object under that key;
 * - CONFLICT: an object with different content already holds the key (content-addressed keys make
 *   this a bug or corruption somewhere; the stored object is left as it was);
 * - UNAVAILABLE: the store could not be reached or refused us (network, timeouts, 5xx, denied
 *   credentials, a missing bucket); retrying later may help, the message says why;
 * - INVALID: the request itself is wrong (a key that escapes the root, bytes that do not match
 *   their checksum, an object over the size limit).
 * A caller's AbortSignal is not an error of the store: an aborted call rejects with the
 * signal's reason, like fetch.
 */
export type DeepStorageErrorCode = 'NOT_FOUND' | 'CONFLICT' | 'UNAVAILABLE' | 'INVALID';

export class DeepStorageError extends Error {
  override name = 'DeepStorageError';

  constructor(readonly code: DeepStorageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Node's error code of a failed system call (`ENOENT`, ...), if it is one. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
