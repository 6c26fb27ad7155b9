/**
 * Deep storage: where segment files live, the source of truth for data. Objects are immutable
 * and content-addressed (see segmentKey): a key names exactly one content, forever.
 */
export interface DeepStorage {
  readonly kind: 'local' | 's3';
  /**
   * Stores `bytes` under `key` durably; `sha256` is their SHA-256 (hex), checked before anything
   * is stored (INVALID if it does not match). If the key already holds the same content (size and
   * checksum verified), nothing is written and `written` is false; if it holds different content,
   * put throws CONFLICT and leaves the stored object as it was. Never overwrites. A put that
   * fails or is aborted may or may not have stored the object, never part of it: running the
   * same put again settles it.
   */
  put(key: string, bytes: Uint8Array, sha256: string, opts?: { signal?: AbortSignal }): Promise<{ written: boolean }>;
  /** The whole object; NOT_FOUND if there is none. An aborted call rejects with the signal's reason. */
  get(key: string, opts?: { signal?: AbortSignal }): Promise<Uint8Array>;
  /**
   * Writes the object to `path`, a new file (EEXIST if anything is there), without holding it in
   * memory, and answers its size and the SHA-256 (hex) of the bytes as they were written, so the
   * caller can verify them against the checksum it expects before it trusts the file. The file is
   * not fsynced. NOT_FOUND if there is no object. On any failure, and on an abort (which rejects
   * with the signal's reason), nothing is left at `path`. A failure of the file itself (no space,
   * no such folder) is a plain Error with the errno `code`, not a DeepStorageError.
   */
  download(key: string, path: string, opts?: { signal?: AbortSignal }): Promise<{ size: number; sha256: string }>;
  /** The object's size, or null if there is none. */
  stat(key: string): Promise<{ size: number } | null>;
  /** Removes the object; removing a missing one is not an error. */
  delete(key: string): Promise<void>;
  /**
   * Every key starting with `prefix` (a plain string prefix, not a folder), fetched page by page.
   * No order is promised: the local store yields in directory order, S3 in UTF-8 byte order.
   */
  list(prefix: string): AsyncIterable<string>;
}

/** `deepStorage` of the cluster file, type `local`. A relative path is relative to the process. */
export interface LocalConfig {
  readonly type: 'local';
  readonly path: string;
  /**
   * Downloads read the object and write the destination with O_DIRECT where the file systems
   * take it, so neither passes through the page cache (see CopyThreads). Default: off.
   */
  readonly directIo?: boolean | undefined;
}

/**
 * `deepStorage` of the cluster file, type `s3`. Defaults as in the cluster file's schema. Without
 * `accessKeyId`/`secretAccessKey` the SDK's default chain applies (environment, profile, IMDS).
 */
export interface S3Config {
  readonly type: 's3';
  readonly bucket: string;
  /** Prepended to every key, joined with `/` (`"cairn"` and `"cairn/"` are the same). */
  readonly prefix?: string;
  /** e.g. `http://127.0.0.1:9000` for an S3-compatible server; AWS's own endpoint if absent. */
  readonly endpoint?: string | undefined;
  readonly region?: string;
  /** `http://host/bucket/key` rather than `http://bucket.host/key`; most non-AWS servers need it. */
  readonly forcePathStyle?: boolean;
  readonly accessKeyId?: string | undefined;
  readonly secretAccessKey?: string | undefined;
}

export interface LocalLimits {
  /** Largest object put or get accepts (the whole object is held in memory), or download copies. */
  readonly objectBytesMax: number;
  /** Threads that run downloads (a copy that hashes as it goes), hence downloads at once. */
  readonly copyThreadsMax: number;
  /** Bytes a download reads, hashes and writes at a time (one buffer per thread). */
  readonly copyChunkBytes: number;
}

export interface S3Limits {
  /** Largest object put or get accepts (the whole object is held in memory). */
  readonly objectBytesMax: number;
  /** Attempts per request, the first included; the SDK retries transient failures with backoff. */
  readonly attemptsMax: number;
  /** An attempt fails (and is retried) if its response has not started this long after it did. */
  readonly requestTimeoutMs: number;
  /** An attempt fails (and is retried) after this long without a byte either way. */
  readonly idleTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /** Objects larger than this go up as a multipart upload. */
  readonly multipartThresholdBytes: number;
  /** Part size of a multipart upload (S3: at least 5 MiB, at most 10,000 parts). */
  readonly partBytes: number;
  /** Parts of one multipart upload in flight at once. */
  readonly uploadConcurrencyMax: number;
  /** Sockets open to the endpoint at once, over all requests of this store. */
  readonly socketsMax: number;
  /** Keys per ListObjectsV2 page (S3 answers at most 1,000). */
  readonly listPageKeysMax: number;
}

export const MiB = 1024 * 1024;

export const DEFAULT_LOCAL_LIMITS: LocalLimits = {
  objectBytesMax: 2048 * MiB,
  copyThreadsMax: 2,
  copyChunkBytes: 1 * MiB,
};

export const DEFAULT_S3_LIMITS: S3Limits = {
  objectBytesMax: 2048 * MiB,
  attemptsMax: 3,
  requestTimeoutMs: 120_000,
  idleTimeoutMs: 30_000,
  connectTimeoutMs: 5_000,
  multipartThresholdBytes: 64 * MiB,
  partBytes: 16 * MiB,
  uploadConcurrencyMax: 4,
  socketsMax: 32,
  listPageKeysMax: 1000,
};
