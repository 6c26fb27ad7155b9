import { rmSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

/** What a finished copy wrote: its size and the SHA-256 (hex) of the bytes as they passed. */
export interface CopyResult {
  readonly size: number;
  readonly sha256: string;
}

/**
 * A failed copy: `side` says which file the system call failed on (the source is the object,
 * the destination the caller's file); `code` is Node's errno code when there is one.
 */
export class CopyError extends Error {
  override name = 'CopyError';

  constructor(readonly side: 'src' | 'dst', readonly code: string | undefined, message: string, readonly tooLarge = false) {
    super(message);
  }
}

interface Job {
  readonly src: string;
  readonly dst: string;
  readonly sizeMax: number;
  /**
   * Shared with the thread. Slot 0: the thread polls it between chunks; non-zero means stop (see
   * `copy`'s signal). Slot 1: the thread sets it once it has created the destination, so that a
   * thread that dies removes only a file it made.
   */
  readonly stop: Int32Array;
  readonly resolve: (r: CopyResult) => void;
  readonly reject: (err: unknown) => void;
}

type Reply = { ok: true; size: number; sha256: string } | { ok: false; side: 'src' | 'dst'; code?: string; message: string; stopped?: boolean; tooLarge?: boolean };

/**
 * The thread's program, plain CommonJS over node:* only, so it runs the same from source (tsx),
 * from the esbuild bundle the programs start from, and in tests. One job at a time: open the
 * source, check it is a file within the size bound, create the destination exclusively, then
 * read a chunk into the thread's one buffer, hash it, write it, until the end. On any failure the
 * destination it created is removed before it answers, so nothing partial is left behind.
 *
 * With `direct`, the source is read and the destination written through second descriptors
 * opened with O_DIRECT where the file systems take it: the bytes go between the disk and the
 * thread's buffer without passing through the page cache. Direct I/O needs a buffer address,
 * offsets and lengths aligned to the device's block. JavaScript cannot see an address, so the
 * thread finds the aligned offset in its buffer by trying whole-block reads at 16-byte steps
 * until one is accepted. The last chunk of a file is written padded to a whole block (zeros) and
 * the file is then truncated to its size. The destination is created the ordinary way first (a
 * file system without O_DIRECT refuses it only after O_CREAT has made the file), and any EINVAL
 * or short transfer on a direct descriptor moves the rest of that file to the ordinary one, so
 * direct I/O never makes a copy fail, or come out different, where an ordinary copy would not.
 */
const THREAD_PROGRAM = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const BLOCK = 4096;
let raw = null;
let buf = null;
// Offset in raw at which buf starts aligned for direct I/O: -1 not known yet, -2 none exists.
let aligned = -1;
// Only a whole block read proves the alignment: a read at the end of a file is not checked.
function probe(fd) {
  for (let o = 0; o < BLOCK; o += 16) {
    try {
      return fs.readSync(fd, raw, o, BLOCK, 0) === BLOCK ? o : -1;
    } catch (e) {
      if (e.code !== 'EINVAL') return -1;
    }
  }
  return -2;
}
function openDirect(path, flags) {
  if (fs.constants.O_DIRECT === undefined) return -1;
  try { return fs.openSync(path, flags | fs.constants.O_DIRECT); } catch { return -1; }
}
function closeQuietly(fd) {
  if (fd >= 0) {
    try { fs.closeSync(fd); } catch {}
  }
}
parentPort.on('message', (job) => {
  if (buf === null || buf.length !== job.chunkBytes) {
    raw = Buffer.allocUnsafeSlow(job.chunkBytes + BLOCK);
    buf = raw.subarray(0, job.chunkBytes);
    aligned = -1;
  }
  const direct = job.direct && job.chunkBytes % BLOCK === 0 && aligned !== -2;
  let side = 'src';
  let r = -1;
  let rDirect = -1;
  let w = -1;
  let wDirect = -1;
  let created = false;
  try {
    r = fs.openSync(job.src, 'r');
    const st = fs.fstatSync(r);
    if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
    if (st.size > job.sizeMax) throw Object.assign(new Error(st.size + ' bytes is over the bound of ' + job.sizeMax), { tooLarge: true });
    // The probe needs a block to read: a source smaller than one is copied the ordinary way.
    if (direct && st.size >= BLOCK) {
      rDirect = openDirect(job.src, fs.constants.O_RDONLY);
      if (rDirect >= 0 && aligned === -1) {
        aligned = probe(rDirect);
        if (aligned >= 0) buf = raw.subarray(aligned, aligned + job.chunkBytes);
      }
      if (aligned < 0) {
        closeQuietly(rDirect);
        rDirect = -1;
      }
    }
    side = 'dst';
    w = fs.openSync(job.dst, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
    created = true;
    Atomics.store(job.stop, 1, 1);
    if (rDirect >= 0) wDirect = openDirect(job.dst, fs.constants.O_WRONLY);
    const hash = createHash('sha256');
    let size = 0;
    for (;;) {
      if (Atomics.load(job.stop, 0) !== 0) throw Object.assign(new Error('stopped'), { stopped: true });
      side = 'src';
      let n = -1;
      if (rDirect >= 0) {
        try {
          n = fs.readSync(rDirect, buf, 0, buf.length, size);
        } catch (e) {
          if (e.code !== 'EINVAL') throw e;
        }
        // A short read before the end would leave the next offset unaligned: go on without.
        if (n < 0 || (n < buf.length && size + n < st.size)) {
          closeQuietly(rDirect);
          rDirect = -1;
        }
      }
      if (n < 0) n = fs.readSync(r, buf, 0, buf.length, size);
      if (n === 0) break;
      if (size + n > job.sizeMax) throw Object.assign(new Error('the file grew over the bound of ' + job.sizeMax), { tooLarge: true });
      hash.update(buf.subarray(0, n));
      side = 'dst';
      let done = 0;
      if (wDirect >= 0) {
        const padded = Math.ceil(n / BLOCK) * BLOCK;
        if (padded > n) buf.fill(0, n, padded);
        try {
          done = Math.min(n, fs.writeSync(wDirect, buf, 0, padded, size));
        } catch (e) {
          if (e.code !== 'EINVAL') throw e;
        }
        // Whatever the direct descriptor did not take (refused, or a short write) goes the
        // ordinary way, and so does the rest of the file.
        if (done < n) {
          closeQuietly(wDirect);
          wDirect = -1;
        }
      }
      while (done < n) done += fs.writeSync(w, buf, done, n - done, size + done);
      size += n;
    }
    side = 'dst';
    // Drops a direct write's padding; a no-op otherwise.
    fs.ftruncateSync(w, size);
    closeQuietly(wDirect);
    wDirect = -1;
    const fd = w;
    w = -1;
    fs.closeSync(fd);
    parentPort.postMessage({ ok: true, size, sha256: hash.digest('hex') });
  } catch (e) {
    closeQuietly(wDirect);
    closeQuietly(w);
    if (created) {
      try { fs.unlinkSync(job.dst); } catch {}
    }
    parentPort.postMessage({ ok: false, side, code: typeof e.code === 'string' ? e.code : undefined, message: String(e && e.message), stopped: !!e.stopped, tooLarge: !!e.tooLarge });
  } finally {
    closeQuietly(r);
    closeQuietly(rDirect);
  }
});
`;

interface Thread {
  readonly worker: Worker;
  job: Job | null;
}

/**
 * Copies files on a few worker threads, hashing the bytes with SHA-256 as they pass: one read of
 * each chunk serves both the hash and the write. The event loop that asks takes part only twice
 * per file (the request and the answer), so a copy proceeds at the disk's pace even while that
 * loop is busy (a worker's queries), and the hashing runs on another core. At most `threadsMax`
 * copies run at once; more wait in order. Threads start on first use and do not keep the process
 * alive while idle. If the source turns out to be missing or unreadable, nothing is left at the
 * destination; the destination must not exist (it is created exclusively).
 *
 * @example const { size, sha256 } = await new CopyThreads(2, 1 << 20).copy(src, dst, 1 << 31);
 */
export class CopyThreads {
  private readonly threads: Thread[] = [];
  private readonly waiting: Job[] = [];
  private closed = false;

  /** `direct`: bypass the page cache where the file systems allow it (see THREAD_PROGRAM). */
  constructor(readonly threadsMax: number, readonly chunkBytes: number, readonly direct = false) {
    if (!Number.isInteger(threadsMax) || threadsMax < 1) throw new RangeError(`threadsMax must be a positive integer, got ${threadsMax}`);
    if (!Number.isInteger(chunkBytes) || chunkBytes < 4096) throw new RangeError(`chunkBytes must be an integer of at least 4096, got ${chunkBytes}`);
  }

  /** Copies `src` to the new file `dst`; rejects with `signal`'s reason once it has stopped and removed `dst`. */
  copy(src: string, dst: string, sizeMax: number, signal?: AbortSignal): Promise<CopyResult> {
    signal?.throwIfAborted();
    if (this.closed) return Promise.reject(new Error('CopyThreads: closed'));
    return new Promise<CopyResult>((resolve, reject) => {
      const stop = new Int32Array(new SharedArrayBuffer(8));
      const onAbort = (): void => {
        Atomics.store(stop, 0, 1);
        const i = this.waiting.indexOf(job);
        if (i >= 0) {
          this.waiting.splice(i, 1);
          reject(signal!.reason);
        }
      };
      const job: Job = {
        src, dst, sizeMax, stop,
        resolve: (r) => {
          signal?.removeEventListener('abort', onAbort);
          if (!signal?.aborted) return resolve(r);
          // Finished before it saw the abort: the caller asked not to have it, so it does not.
          rmSync(dst, { force: true });
          reject(signal.reason);
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(signal?.aborted ? signal.reason : err);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(job);
      this.dispatch();
    });
  }

  /** Threads running or idle (for tests). */
  get threadCount(): number {
    return this.threads.length;
  }

  /** Stops every thread; copies in flight fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.waiting.splice(0)) job.reject(new Error('CopyThreads: closed'));
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }

  private dispatch(): void {
    while (this.waiting.length > 0) {
      let thread = this.threads.find((t) => t.job === null);
      if (!thread && this.threads.length < this.threadsMax) thread = this.spawn();
      if (!thread) return;
      const job = this.waiting.shift()!;
      thread.job = job;
      thread.worker.ref();
      thread.worker.postMessage({ src: job.src, dst: job.dst, sizeMax: job.sizeMax, stop: job.stop, chunkBytes: this.chunkBytes, direct: this.direct });
    }
  }

  private spawn(): Thread {
    const thread: Thread = { worker: new Worker(THREAD_PROGRAM, { eval: true }), job: null };
    thread.worker.unref();
    thread.worker.on('message', (reply: Reply) => {
      const job = thread.job;
      thread.job = null;
      thread.worker.unref();
      this.dispatch();
      if (!job) return;
      if (reply.ok) job.resolve({ size: reply.size, sha256: reply.sha256 });
      else job.reject(new CopyError(reply.side, reply.code, reply.message, reply.tooLarge ?? false));
    });
    const gone = (err: unknown): void => {
      const i = this.threads.indexOf(thread);
      if (i < 0) return;
      this.threads.splice(i, 1);
      const job = thread.job;
      thread.job = null;
      if (job) {
        // The thread died mid-copy (terminated, out of memory): whatever it wrote goes, but only
        // if it made the file. A thread that died before (waiting on the source, or before it took
        // the job) leaves the path alone: a file there is someone else's, which it would have
        // answered EEXIST for.
        if (Atomics.load(job.stop, 1) !== 0) rmSync(job.dst, { force: true });
        job.reject(new CopyError('dst', undefined, `the copy thread stopped: ${err instanceof Error ? err.message : String(err)}`));
      }
      if (!this.closed) this.dispatch();
    };
    thread.worker.on('error', gone);
    thread.worker.on('exit', (code) => gone(new Error(`exit code ${code}`)));
    this.threads.push(thread);
    return thread;
  }
}
