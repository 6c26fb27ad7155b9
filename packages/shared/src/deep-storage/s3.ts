import { createHash } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, DeleteObjectCommand,
  GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, UploadPartCommand,
} from '@aws-sdk/client-s3';
import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { mapBounded } from './bounded.js';
import { md5, sha256Hex } from './checksum.js';
import { DeepStorageError } from './errors.js';
import { KEY_BYTES_MAX, isValidKey, validateKey, validatePrefix, validateSha256 } from './keys.js';
import { DEFAULT_S3_LIMITS, MiB } from './types.js';
import type { DeepStorage, S3Config, S3Limits } from './types.js';

/** User metadata holding the object's SHA-256 (header `x-amz-meta-sha256`), set by every put. */
const SHA_META = 'sha256';
const CONTENT_TYPE = 'application/octet-stream';
/** S3's bounds on multipart uploads. */
const PART_BYTES_MIN = 5 * MiB;
const PARTS_MAX = 10_000;

interface Head {
  readonly size: number;
  readonly sha256: string | undefined;
  readonly etag: string | undefined;
}

/**
 * Deep storage in an S3 bucket (AWS or a compatible server such as Swift's s3api), through
 * `@aws-sdk/client-s3`. Keys are stored under the configured prefix.
 *
 * S3 has no portable "create if absent" (Swift answers 501 to `If-None-Match: *`), so put checks
 * before writing (HEAD: size and the SHA-256 kept in the object's metadata) and after (HEAD
 * again: a concurrent writer of different content, which content addressing rules out short of a
 * bug, ends in CONFLICT rather than in silence). Every body goes up with Content-MD5, so the
 * server refuses one damaged in transit. Objects over `multipartThresholdBytes` go up in parts;
 * a failed multipart upload is aborted so no parts linger.
 */
export class S3DeepStorage implements DeepStorage {
  readonly kind = 's3' as const;
  readonly bucket: string;
  /** '' or ending in '/'. */
  readonly prefix: string;
  readonly limits: S3Limits;
  /** The SDK client, public for tests that inject faults into its middleware stack. */
  readonly client: S3Client;

  constructor(config: S3Config, limits: Partial<S3Limits> = {}) {
    if (!config.bucket) throw new DeepStorageError('INVALID', 's3 deep storage: empty bucket');
    if ((config.accessKeyId === undefined) !== (config.secretAccessKey === undefined)) {
      throw new DeepStorageError('INVALID', `s3 deep storage (bucket ${config.bucket}): give both accessKeyId and secretAccessKey, or neither`);
    }
    this.bucket = config.bucket;
    const trimmed = (config.prefix ?? '').replace(/^\/+|\/+$/g, '');
    this.prefix = trimmed === '' ? '' : `${trimmed}/`;
    if (this.prefix !== '') validateKey(trimmed);
    this.limits = { ...DEFAULT_S3_LIMITS, ...limits };
    checkLimits(this.limits);
    const clientConfig: S3ClientConfig = {
      region: config.region ?? 'us-east-1',
      forcePathStyle: config.forcePathStyle ?? false,
      // The default (a CRC32 trailer in an aws-chunked body) is refused by Swift and others; the
      // body's integrity is covered by Content-MD5 instead.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: this.limits.attemptsMax,
      retryMode: 'standard',
      requestHandler: {
        connectionTimeout: this.limits.connectTimeoutMs,
        requestTimeout: this.limits.requestTimeoutMs,
        // Without this the SDK only logs a warning when requestTimeout passes.
        throwOnRequestTimeout: true,
        socketTimeout: this.limits.idleTimeoutMs,
        httpAgent: new HttpAgent({ keepAlive: true, maxSockets: this.limits.socketsMax }),
        httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: this.limits.socketsMax }),
      },
    };
    if (config.endpoint !== undefined) clientConfig.endpoint = config.endpoint;
    if (config.accessKeyId !== undefined && config.secretAccessKey !== undefined) {
      clientConfig.credentials = { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey };
    }
    this.client = new S3Client(clientConfig);
  }

  async put(key: string, bytes: Uint8Array, sha256: string, opts: { signal?: AbortSignal } = {}): Promise<{ written: boolean }> {
    const objectKey = this.objectKey(key);
    validateSha256(sha256);
    if (bytes.byteLength > this.limits.objectBytesMax) {
      throw this.error('INVALID', 'put', objectKey, `${bytes.byteLength} bytes is over objectBytesMax ${this.limits.objectBytesMax}`);
    }
    if (sha256Hex(bytes) !== sha256) throw this.error('INVALID', 'put', objectKey, `the bytes do not match sha256 ${sha256}`);
    const { signal } = opts;
    signal?.throwIfAborted();
    try {
      const before = await this.head(objectKey, signal);
      if (before) {
        this.checkSame(before, objectKey, bytes.byteLength, sha256, 'refusing to overwrite');
        if (before.sha256 === undefined) await this.checkContent(objectKey, sha256, signal);
        return { written: false };
      }
      if (bytes.byteLength > this.limits.multipartThresholdBytes) await this.putMultipart(objectKey, bytes, sha256, signal);
      else await this.putSingle(objectKey, bytes, sha256, md5(bytes).base64, signal);
      // Read back what the server says it stored: catches a server that mangles uploads, and
      // (in a narrow window) a concurrent writer of other content.
      const after = await this.head(objectKey, signal);
      if (!after) throw this.error('UNAVAILABLE', 'put', objectKey, 'the object is not there right after it was stored');
      this.checkSame(after, objectKey, bytes.byteLength, sha256, 'another writer replaced it meanwhile');
      // Our metadata stripped on the way (a proxy, a server that drops it): compare the content.
      if (after.sha256 === undefined) await this.checkContent(objectKey, sha256, signal);
      return { written: true };
    } catch (err) {
      throw this.failure(err, 'put', objectKey, signal);
    }
  }

  private async putSingle(objectKey: string, bytes: Uint8Array, sha256: string, md5Base64: string, signal?: AbortSignal): Promise<void> {
    await this.client.send(new PutObjectCommand({
      Bucket: this.bucket,
      Key: objectKey,
      Body: bytes,
      ContentLength: bytes.byteLength,
      ContentMD5: md5Base64,
      ContentType: CONTENT_TYPE,
      Metadata: { [SHA_META]: sha256 },
    }), { abortSignal: signal });
  }

  private async putMultipart(objectKey: string, bytes: Uint8Array, sha256: string, signal?: AbortSignal): Promise<void> {
    const created = await this.client.send(new CreateMultipartUploadCommand({
      Bucket: this.bucket,
      Key: objectKey,
      ContentType: CONTENT_TYPE,
      Metadata: { [SHA_META]: sha256 },
    }), { abortSignal: signal });
    const uploadId = created.UploadId;
    if (!uploadId) throw this.error('UNAVAILABLE', 'put', objectKey, 'CreateMultipartUpload answered no UploadId');
    // Parts run under their own controller: the first failing part cancels the others.
    const parts = new AbortController();
    const onAbort = (): void => parts.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const offsets = Array.from({ length: Math.ceil(bytes.byteLength / this.limits.partBytes) }, (_, i) => i * this.limits.partBytes);
      const etags = await mapBounded(offsets, this.limits.uploadConcurrencyMax, async (offset, i) => {
        const body = bytes.subarray(offset, Math.min(offset + this.limits.partBytes, bytes.byteLength));
        const res = await this.client.send(new UploadPartCommand({
          Bucket: this.bucket,
          Key: objectKey,
          UploadId: uploadId,
          PartNumber: i + 1,
          Body: body,
          ContentLength: body.byteLength,
          ContentMD5: md5(body).base64,
        }), { abortSignal: parts.signal });
        if (!res.ETag) throw this.error('UNAVAILABLE', 'put', objectKey, `UploadPart ${i + 1} answered no ETag`);
        return res.ETag;
      }, () => parts.abort());
      await this.client.send(new CompleteMultipartUploadCommand({
        Bucket: this.bucket,
        Key: objectKey,
        UploadId: uploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
      }), { abortSignal: signal });
    } catch (err) {
      // Every part has settled (mapBounded waits), so none lands after the abort. Not under the
      // caller's signal: an aborted put must still clean up. Best effort: the original failure
      // is what the caller needs; a bucket lifecycle rule is the backstop.
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: objectKey, UploadId: uploadId })).catch(() => undefined);
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Size, and SHA-256 if the object carries it: otherwise the caller must read and hash it. */
  private checkSame(head: Head, objectKey: string, size: number, sha256: string, what: string): void {
    if (head.size !== size) {
      throw this.error('CONFLICT', 'put', objectKey, `${what}: the stored object has ${head.size} bytes, the new one ${size}`);
    }
    if (head.sha256 !== undefined && head.sha256 !== sha256) {
      throw this.error('CONFLICT', 'put', objectKey, `${what}: the stored object has sha256 ${head.sha256}, the new one ${sha256}`);
    }
    // The ETag is not compared: with SSE-KMS, SSE-C or an encrypting MinIO a single-part ETag is
    // 32 hex digits yet not the MD5, and every put to such a bucket failed as a CONFLICT. The
    // upload itself carries Content-MD5, which the server checks against what it received.
  }

  /** For an object stored without our metadata (by another tool): read it and compare. */
  private async checkContent(objectKey: string, sha256: string, signal?: AbortSignal): Promise<void> {
    const stored = sha256Hex(await this.getObject(objectKey, signal));
    if (stored !== sha256) throw this.error('CONFLICT', 'put', objectKey, `refusing to overwrite: the stored object has sha256 ${stored}, the new one ${sha256}`);
  }

  async get(key: string, opts: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    const objectKey = this.objectKey(key);
    opts.signal?.throwIfAborted();
    try {
      return await this.getObject(objectKey, opts.signal);
    } catch (err) {
      throw this.failure(err, 'get', objectKey, opts.signal);
    }
  }

  private async getObject(objectKey: string, signal?: AbortSignal): Promise<Uint8Array> {
    const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: objectKey }), { abortSignal: signal });
    const body = res.Body as Readable | undefined;
    if (!body) throw this.error('UNAVAILABLE', 'get', objectKey, 'the response has no body');
    if (res.ContentLength !== undefined && res.ContentLength > this.limits.objectBytesMax) {
      body.destroy();
      throw this.error('INVALID', 'get', objectKey, `${res.ContentLength} bytes is over objectBytesMax ${this.limits.objectBytesMax}`);
    }
    // The SDK's signal covers the request; this covers the body, however far it got.
    const onAbort = (): void => {
      body.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    // Read chunk by chunk against the bound: a body without Content-Length (chunked) would
    // otherwise be read whole, however large.
    const chunks: Uint8Array[] = [];
    let total = 0;
    try {
      for await (const chunk of body as AsyncIterable<Uint8Array>) {
        total += chunk.byteLength;
        if (total > this.limits.objectBytesMax) {
          body.destroy();
          throw this.error('INVALID', 'get', objectKey, `the body is over objectBytesMax ${this.limits.objectBytesMax} bytes (${total} read)`);
        }
        chunks.push(chunk);
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    signal?.throwIfAborted();
    const joined = Buffer.concat(chunks, total);
    const bytes = new Uint8Array(joined.buffer, joined.byteOffset, joined.byteLength);
    if (res.ContentLength !== undefined && bytes.byteLength !== res.ContentLength) {
      throw this.error('UNAVAILABLE', 'get', objectKey, `the body ended after ${bytes.byteLength} of ${res.ContentLength} bytes`);
    }
    return bytes;
  }

  /** The body streamed into the file, hashed chunk by chunk on the way (never all in memory). */
  async download(key: string, path: string, opts: { signal?: AbortSignal } = {}): Promise<{ size: number; sha256: string }> {
    const objectKey = this.objectKey(key);
    const { signal } = opts;
    signal?.throwIfAborted();
    let created = false;
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: objectKey }), { abortSignal: signal });
      const body = res.Body as Readable | undefined;
      if (!body) throw this.error('UNAVAILABLE', 'get', objectKey, 'the response has no body');
      if (res.ContentLength !== undefined && res.ContentLength > this.limits.objectBytesMax) {
        body.destroy();
        throw this.error('INVALID', 'get', objectKey, `${res.ContentLength} bytes is over objectBytesMax ${this.limits.objectBytesMax}`);
      }
      let fh;
      try {
        fh = await open(path, 'wx', 0o644);
      } catch (err) {
        body.destroy();
        throw Object.assign(new Error(`download ${key} to ${path}: ${(err as Error).message}`), { code: (err as { code?: unknown }).code, local: true });
      }
      created = true;
      const hash = createHash('sha256');
      let size = 0;
      const max = this.limits.objectBytesMax;
      const tooLarge = () => this.error('INVALID', 'get', objectKey, `the body grew over objectBytesMax ${max}`);
      // The write stream closes the file handle when the pipeline ends, either way.
      await pipeline(body, async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          size += chunk.byteLength;
          if (size > max) throw tooLarge();
          hash.update(chunk);
          yield chunk;
        }
      }, fh.createWriteStream(), signal ? { signal } : {});
      signal?.throwIfAborted();
      if (res.ContentLength !== undefined && size !== res.ContentLength) {
        throw this.error('UNAVAILABLE', 'get', objectKey, `the body ended after ${size} of ${res.ContentLength} bytes`);
      }
      return { size, sha256: hash.digest('hex') };
    } catch (err) {
      if (created) await rm(path, { force: true });
      if ((err as { local?: boolean }).local && !signal?.aborted) throw err;
      throw this.failure(err, 'get', objectKey, signal);
    }
  }

  async stat(key: string): Promise<{ size: number } | null> {
    const objectKey = this.objectKey(key);
    try {
      const head = await this.head(objectKey);
      return head ? { size: head.size } : null;
    } catch (err) {
      throw this.failure(err, 'stat', objectKey);
    }
  }

  private async head(objectKey: string, signal?: AbortSignal): Promise<Head | null> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }), { abortSignal: signal });
      return { size: res.ContentLength ?? 0, sha256: res.Metadata?.[SHA_META], etag: res.ETag };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    const objectKey = this.objectKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey }));
    } catch (err) {
      if (isNotFound(err)) return;
      throw this.failure(err, 'delete', objectKey);
    }
  }

  async *list(prefix: string): AsyncIterable<string> {
    validatePrefix(prefix);
    const full = this.prefix + prefix;
    let token: string | undefined;
    do {
      let res;
      try {
        res = await this.client.send(new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: full,
          MaxKeys: this.limits.listPageKeysMax,
          ContinuationToken: token,
        }));
      } catch (err) {
        throw this.failure(err, 'list', full);
      }
      for (const object of res.Contents ?? []) {
        const key = object.Key?.slice(this.prefix.length);
        // Objects some other tool put there under names that are not keys are not ours to list.
        if (key !== undefined && object.Key!.startsWith(full) && isValidKey(key)) yield key;
      }
      const next = res.IsTruncated ? res.NextContinuationToken : undefined;
      if (res.IsTruncated && (next === undefined || next === token)) {
        throw this.error('UNAVAILABLE', 'list', full, 'the listing is truncated but gives no new continuation token');
      }
      token = next;
    } while (token !== undefined);
  }

  /** Closes the idle sockets of this store's client. */
  destroy(): void {
    this.client.destroy();
  }

  private objectKey(key: string): string {
    validateKey(key);
    const objectKey = this.prefix + key;
    if (Buffer.byteLength(objectKey) > KEY_BYTES_MAX) {
      throw this.error('INVALID', 'use', objectKey, `the key with its prefix is longer than ${KEY_BYTES_MAX} bytes`);
    }
    return objectKey;
  }

  private error(code: DeepStorageError['code'], op: string, objectKey: string, why: string, cause?: unknown): DeepStorageError {
    return new DeepStorageError(code, `s3 ${op} s3://${this.bucket}/${objectKey}: ${why}`, cause === undefined ? undefined : { cause });
  }

  /** Maps an SDK failure to a DeepStorageError naming bucket and key; an abort to its reason. */
  private failure(err: unknown, op: string, objectKey: string, signal?: AbortSignal): unknown {
    if (signal?.aborted) return signal.reason;
    if (err instanceof DeepStorageError) return err;
    const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    const name = e.name ?? 'Error';
    const status = e.$metadata?.httpStatusCode;
    const detail = `${name}${status ? ` (HTTP ${status})` : ''}: ${e.message ?? String(err)}`;
    if (name === 'NoSuchBucket') return this.error('UNAVAILABLE', op, objectKey, `the bucket does not exist: ${detail}`, err);
    if (isNotFound(err)) return this.error('NOT_FOUND', op, objectKey, 'no such object', err);
    if (status === 401 || status === 403 || ['AccessDenied', 'SignatureDoesNotMatch', 'InvalidAccessKeyId'].includes(name)) {
      return this.error('UNAVAILABLE', op, objectKey, `access denied, check the credentials: ${detail}`, err);
    }
    if (status === 409 || status === 412) return this.error('CONFLICT', op, objectKey, detail, err);
    // 400s that mean a damaged or slow transfer, not a wrong request: try again.
    if (status === 400 && !['BadDigest', 'InvalidDigest', 'RequestTimeout', 'IncompleteBody'].includes(name)) {
      return this.error('INVALID', op, objectKey, detail, err);
    }
    return this.error('UNAVAILABLE', op, objectKey, detail, err);
  }
}

function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || (e.$metadata?.httpStatusCode === 404 && e.name !== 'NoSuchBucket');
}

function checkLimits(l: S3Limits): void {
  const positive = ['objectBytesMax', 'attemptsMax', 'requestTimeoutMs', 'idleTimeoutMs', 'connectTimeoutMs', 'multipartThresholdBytes', 'partBytes', 'uploadConcurrencyMax', 'socketsMax', 'listPageKeysMax'] as const;
  for (const name of positive) {
    if (!Number.isInteger(l[name]) || l[name] < 1) throw new DeepStorageError('INVALID', `s3 deep storage: ${name} must be a positive integer, got ${l[name]}`);
  }
  if (l.partBytes < PART_BYTES_MIN) throw new DeepStorageError('INVALID', `s3 deep storage: partBytes ${l.partBytes} is under S3's minimum part of ${PART_BYTES_MIN}`);
  if (l.multipartThresholdBytes < l.partBytes) throw new DeepStorageError('INVALID', 's3 deep storage: multipartThresholdBytes must be at least partBytes');
  if (Math.ceil(l.objectBytesMax / l.partBytes) > PARTS_MAX) {
    throw new DeepStorageError('INVALID', `s3 deep storage: objectBytesMax ${l.objectBytesMax} would take more than ${PARTS_MAX} parts of ${l.partBytes} bytes`);
  }
  if (l.listPageKeysMax > 1000) throw new DeepStorageError('INVALID', 's3 deep storage: listPageKeysMax is at most 1000');
}
