import { DeepStorageError } from './errors.js';

/** Longest key, in UTF-8 bytes (S3's limit for a whole object key, and Swift's). */
export const KEY_BYTES_MAX = 1024;
/** Longest path segment of a key, in UTF-8 bytes (a file name on Linux file systems). */
export const KEY_SEGMENT_BYTES_MAX = 255;
/**
 * Names starting with this are the local store's temporary files. No key may have a segment
 * starting with it, so a temporary file can never be mistaken for an object.
 */
export const TEMP_PREFIX = '.cairn-tmp-';

const SHA256_HEX = /^[0-9a-f]{64}$/;
// Control characters (C0, DEL, C1): unprintable in logs, invalid in XML listings.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export function isSha256Hex(s: string): boolean {
  return SHA256_HEX.test(s);
}

/**
 * Throws INVALID unless `key` is a key both stores accept the same way: 1-1024 UTF-8 bytes of
 * well-formed Unicode, `/`-separated segments of at most 255 bytes that are neither empty, `.`
 * nor `..` (so no absolute path, no traversal, no `a//b`), no backslash, no control character,
 * and no segment starting with the temporary-file prefix.
 */
export function validateKey(key: string): void {
  const bad = keyProblem(key);
  if (bad) throw new DeepStorageError('INVALID', `invalid deep storage key ${JSON.stringify(key)}: ${bad}`);
}

/** Whether validateKey accepts `key`. */
export function isValidKey(key: string): boolean {
  return keyProblem(key) === undefined;
}

function keyProblem(key: string): string | undefined {
  if (typeof key !== 'string' || key.length === 0) return 'empty';
  // A lone surrogate does not survive UTF-8: it would name a different object than asked.
  if (Buffer.from(key, 'utf8').toString('utf8') !== key) return 'not well-formed Unicode';
  if (Buffer.byteLength(key) > KEY_BYTES_MAX) return `longer than ${KEY_BYTES_MAX} bytes`;
  if (CONTROL.test(key)) return 'contains a control character';
  if (key.includes('\\')) return 'contains a backslash';
  for (const segment of key.split('/')) {
    if (segment === '') return 'has an empty path segment (leading, trailing or double "/")';
    if (segment === '.' || segment === '..') return `has a "${segment}" path segment`;
    if (segment.startsWith(TEMP_PREFIX)) return `a segment starts with the reserved "${TEMP_PREFIX}"`;
    if (Buffer.byteLength(segment) > KEY_SEGMENT_BYTES_MAX) return `a segment is longer than ${KEY_SEGMENT_BYTES_MAX} bytes`;
  }
  return undefined;
}

/**
 * Throws INVALID unless `prefix` can start keys: empty, or anything without control characters
 * whose complete segments (those before the last `/`) are valid.
 */
export function validatePrefix(prefix: string): void {
  if (prefix === '') return;
  const slash = prefix.lastIndexOf('/');
  const bad = CONTROL.test(prefix)
    ? 'contains a control character'
    : Buffer.byteLength(prefix) > KEY_BYTES_MAX
      ? `longer than ${KEY_BYTES_MAX} bytes`
      : slash >= 0
        ? keyProblem(prefix.slice(0, slash))
        : prefix.includes('\\') ? 'contains a backslash' : undefined;
  if (bad) throw new DeepStorageError('INVALID', `invalid deep storage prefix ${JSON.stringify(prefix)}: ${bad}`);
}

/** Throws INVALID unless `sha256` is 64 lowercase hex digits. */
export function validateSha256(sha256: string): void {
  if (typeof sha256 !== 'string' || !isSha256Hex(sha256)) {
    throw new DeepStorageError('INVALID', `invalid sha256 ${JSON.stringify(sha256)}: expected 64 lowercase hex digits`);
  }
}

/**
 * The content-addressed key of a segment file: the same bytes always land under the same key,
 * so an upload retried after a crash is a no-op rather than a second copy.
 *
 * @example segmentKey('web logs', 'ab…') === 'segments/web%20logs/ab….arrow'
 * A leading `.` of the datasource is encoded too (`%2E`), so no name ever makes a `.`/`..`
 * segment or a hidden file.
 */
export function segmentKey(dataSource: string, sha256: string): string {
  if (typeof dataSource !== 'string' || dataSource.length === 0) throw new DeepStorageError('INVALID', 'segmentKey: empty dataSource');
  validateSha256(sha256);
  const key = `${segmentKeyPrefix(dataSource)}${sha256}${SEGMENT_KEY_SUFFIX}`;
  validateKey(key);
  return key;
}

/**
 * What every `segmentKey` of a datasource starts with; the checksum and `SEGMENT_KEY_SUFFIX`
 * follow. Unvalidated: the catalog uses it to recognise (and not store) locations it can rebuild.
 */
export function segmentKeyPrefix(dataSource: string): string {
  return `segments/${encodeURIComponent(dataSource).replace(/^\./, '%2E')}/`;
}

export const SEGMENT_KEY_SUFFIX = '.arrow';
