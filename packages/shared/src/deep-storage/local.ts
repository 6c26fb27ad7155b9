import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, lstat, mkdir, open, opendir, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { sha256Hex } from './checksum.js';
import { CopyError, CopyThreads } from './copy-threads.js';
import { DeepStorageError, errnoCode } from './errors.js';
import { TEMP_PREFIX, isValidKey, validateKey, validatePrefix, validateSha256 } from './keys.js';
import { DEFAULT_LOCAL_LIMITS } from './types.js';
import type { DeepStorage, LocalConfig, LocalLimits } from './types.js';

/** File systems without hard links answer these to link(2); there we publish with rename(2). */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'ENOSYS']);

/**
 * Deep storage in a local directory, one file per object at `root/<key>`.
 *
 * A put writes a temporary file (TEMP_PREFIX...) in the object's own directory, fsyncs it,
 * publishes it with link(2) and fsyncs the directories up to the root. link, unlike rename, fails
 * if the key exists, so two writers racing on a key can never replace one object with another;
 * a crash leaves either nothing or the complete object under the key, plus at worst a temporary
 * file that get, stat and list never see (sweepTemporaries removes old ones).
 */
export class LocalDeepStorage implements DeepStorage {
  readonly kind = 'local' as const;
  readonly root: string;
  readonly limits: LocalLimits;
  readonly directIo: boolean;
  private tempSeq = 0;
  private copier: CopyThreads | null = null;

  constructor(config: LocalConfig, limits: Partial<LocalLimits> = {}) {
    if (!config.path) throw new DeepStorageError('INVALID', 'local deep storage: empty path');
    this.root = resolve(config.path);
    this.directIo = config.directIo ?? false;
    this.limits = { ...DEFAULT_LOCAL_LIMITS, ...limits };
  }

  async put(key: string, bytes: Uint8Array, sha256: string, opts: { signal?: AbortSignal } = {}): Promise<{ written: boolean }> {
    const path = this.pathOf(key);
    validateSha256(sha256);
    if (bytes.byteLength > this.limits.objectBytesMax) {
      throw new DeepStorageError('INVALID', `put ${key}: ${bytes.byteLength} bytes is over objectBytesMax ${this.limits.objectBytesMax}`);
    }
    if (sha256Hex(bytes) !== sha256) throw new DeepStorageError('INVALID', `put ${key}: the bytes do not match sha256 ${sha256}`);
    opts.signal?.throwIfAborted();
    try {
      if (await this.holdsSame(path, key, bytes.byteLength, sha256)) return { written: false };
      const dir = dirname(path);
      const created = await mkdir(dir, { recursive: true });
      const tmp = join(dir, `${TEMP_PREFIX}${process.pid}-${++this.tempSeq}-${randomBytes(4).toString('hex')}`);
      try {
        const fh = await open(tmp, 'wx', 0o644);
        try {
          await fh.writeFile(bytes, opts.signal ? { signal: opts.signal } : {});
          await fh.sync();
        } finally {
          await fh.close();
        }
        // The commit point: before it an abort leaves nothing; after it the object is stored.
        opts.signal?.throwIfAborted();
        if (!(await this.publish(tmp, path, key, bytes.byteLength, sha256))) return { written: false };
      } finally {
        await unlink(tmp).catch(() => undefined);
      }
      // The new name (and the temporary file's removal), and any directory made on the way.
      const top = created !== undefined && !isInside(created, this.root) ? dirname(created) : this.root;
      for (let d = dir; ; d = dirname(d)) {
        await fsyncDir(d);
        if (d === top || d === dirname(d)) break;
      }
      return { written: true };
    } catch (err) {
      throw this.failure(err, 'put', key, opts.signal);
    }
  }

  /** link(2) the complete temporary file to the key; false if an identical object got there first. */
  private async publish(tmp: string, path: string, key: string, size: number, sha256: string): Promise<boolean> {
    try {
      await link(tmp, path);
      return true;
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'EEXIST') {
        if (await this.holdsSame(path, key, size, sha256)) return false;
        throw new DeepStorageError('CONFLICT', `put ${key}: another writer stored it meanwhile`);
      }
      if (code === undefined || !NO_HARD_LINKS.has(code)) throw err;
      // No hard links here: rename(2) is still atomic, only not exclusive, so check just before.
      if (await this.holdsSame(path, key, size, sha256)) return false;
      await rename(tmp, path);
      return true;
    }
  }

  /**
   * Whether `path` already holds exactly this content: false if there is no object, true if its
   * size and SHA-256 match, CONFLICT if anything else is there.
   */
  private async holdsSame(path: string, key: string, size: number, sha256: string): Promise<boolean> {
    let st;
    try {
      st = await lstat(path);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT') return false;
      if (code === 'ENOTDIR') throw new DeepStorageError('CONFLICT', `put ${key}: a parent of this key is an object`, { cause: err });
      throw err;
    }
    if (!st.isFile()) throw new DeepStorageError('CONFLICT', `put ${key}: ${path} exists and is not a file`);
    if (st.size !== size) {
      throw new DeepStorageError('CONFLICT', `put ${key}: refusing to overwrite: the stored object has ${st.size} bytes, the new one ${size}`);
    }
    const stored = await sha256OfFile(path);
    if (stored !== sha256) {
      throw new DeepStorageError('CONFLICT', `put ${key}: refusing to overwrite: the stored object has sha256 ${stored}, the new one ${sha256}`);
    }
    return true;
  }

  async get(key: string, opts: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    const path = this.pathOf(key);
    opts.signal?.throwIfAborted();
    try {
      const fh = await open(path, 'r');
      try {
        const st = await fh.stat();
        if (!st.isFile()) throw notFound(key);
        if (st.size > this.limits.objectBytesMax) {
          throw new DeepStorageError('INVALID', `get ${key}: ${st.size} bytes is over objectBytesMax ${this.limits.objectBytesMax}`);
        }
        const buf = await fh.readFile(opts.signal ? { signal: opts.signal } : {});
        // Aborted after the last read: the caller asked not to have it, so it does not.
        opts.signal?.throwIfAborted();
        return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
      } finally {
        await fh.close();
      }
    } catch (err) {
      throw this.failure(err, 'get', key, opts.signal);
    }
  }

  /**
   * One pass on a copy thread (see CopyThreads): each chunk is read once, hashed and written, so
   * the caller's event loop only starts the copy and hears its result, and the bytes are never
   * all in memory at once.
   */
  async download(key: string, path: string, opts: { signal?: AbortSignal } = {}): Promise<{ size: number; sha256: string }> {
    const src = this.pathOf(key);
    opts.signal?.throwIfAborted();
    this.copier ??= new CopyThreads(this.limits.copyThreadsMax, this.limits.copyChunkBytes, this.directIo);
    try {
      return await this.copier.copy(src, path, this.limits.objectBytesMax, opts.signal);
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (!(err instanceof CopyError)) throw err;
      if (err.tooLarge) throw new DeepStorageError('INVALID', `download ${key}: ${err.message} (objectBytesMax)`);
      if (err.side === 'dst') throw Object.assign(new Error(`download ${key} to ${path}: ${err.message}`), { code: err.code });
      throw this.failure(Object.assign(new Error(err.message), { code: err.code }), 'get', key);
    }
  }

  async stat(key: string): Promise<{ size: number } | null> {
    const path = this.pathOf(key);
    try {
      const st = await stat(path);
      return st.isFile() ? { size: st.size } : null;
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw this.failure(err, 'stat', key);
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    try {
      await unlink(path);
    } catch (err) {
      const code = errnoCode(err);
      // Nothing there, or a directory (which is not an object): nothing to delete.
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return;
      throw this.failure(err, 'delete', key);
    }
    try {
      await fsyncDir(dirname(path));
    } catch (err) {
      throw this.failure(err, 'delete', key);
    }
  }

  async *list(prefix: string): AsyncIterable<string> {
    validatePrefix(prefix);
    // Start in the deepest directory the prefix names completely; filter names below it.
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash < 0 ? '' : prefix.slice(0, slash);
    yield* this.walk(dirKey === '' ? this.root : join(this.root, ...dirKey.split('/')), dirKey, prefix);
  }

  private async *walk(dir: string, dirKey: string, prefix: string): AsyncGenerator<string> {
    let handle;
    try {
      handle = await opendir(dir);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return;
      throw this.failure(err, 'list', prefix);
    }
    // The async iterator of a Dir closes it when the loop ends, also on break or throw.
    for await (const entry of handle) {
      if (entry.name.startsWith(TEMP_PREFIX)) continue;
      const key = dirKey === '' ? entry.name : `${dirKey}/${entry.name}`;
      if (entry.isDirectory()) {
        if (`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`)) yield* this.walk(join(dir, entry.name), key, prefix);
      } else if (entry.isFile() && key.startsWith(prefix) && isValidKey(key)) {
        yield key;
      }
    }
  }

  /**
   * Removes temporary files left by writers that crashed, if older than `olderThanMs` (a live
   * writer's file is young: keep the bound well above the longest write). Returns how many.
   */
  async sweepTemporaries(olderThanMs: number, now = Date.now()): Promise<number> {
    let removed = 0;
    const visit = async (dir: string): Promise<void> => {
      let handle;
      try {
        handle = await opendir(dir);
      } catch (err) {
        if (errnoCode(err) === 'ENOENT') return;
        throw err;
      }
      for await (const entry of handle) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
          await visit(path);
        } else if (entry.isFile() && entry.name.startsWith(TEMP_PREFIX)) {
          const st = await stat(path).catch(() => undefined);
          if (st && now - st.mtimeMs >= olderThanMs) {
            await unlink(path).catch(() => undefined);
            removed++;
          }
        }
      }
    };
    await visit(this.root);
    return removed;
  }

  /** The file of `key`; INVALID for a key that is not one (which includes escaping the root). */
  private pathOf(key: string): string {
    validateKey(key);
    const path = join(this.root, ...key.split('/'));
    // validateKey already refuses "..", absolute keys and empty segments; this only asserts it.
    if (!isInside(path, this.root)) throw new Error(`invariant: key ${JSON.stringify(key)} resolved outside ${this.root}`);
    return path;
  }

  private failure(err: unknown, op: string, key: string, signal?: AbortSignal): unknown {
    if (signal?.aborted) return signal.reason;
    if (err instanceof DeepStorageError) return err;
    const code = errnoCode(err);
    if (op === 'get' && (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR')) return notFound(key);
    if (code === 'ENOTDIR' || code === 'EISDIR') {
      return new DeepStorageError('CONFLICT', `${op} ${key}: an object and a directory of keys collide at ${this.root}`, { cause: err });
    }
    return new DeepStorageError('UNAVAILABLE', `${op} ${key} in ${this.root}: ${(err as Error).message ?? String(err)}`, { cause: err });
  }
}

function notFound(key: string): DeepStorageError {
  return new DeepStorageError('NOT_FOUND', `get ${key}: no such object`);
}

function isInside(path: string, root: string): boolean {
  return path.startsWith(root.endsWith(sep) ? root : root + sep);
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Makes a directory's entries durable. Some file systems cannot fsync a directory: then no-op. */
async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch (err) {
    const code = errnoCode(err);
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
  } finally {
    await fh.close();
  }
}
